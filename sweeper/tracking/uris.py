"""Tracking URIs checked before a sweep writes anything (no MLflow import: this runs during validation).

``sqlite:///path/mlflow.db``: the folder must exist (MLflow would create the file, not the
folder). ``http(s)://``: the server must answer ``GET /health`` within a timeout; credentials in
the URL (``http://user:password@host``) are sent as HTTP Basic authentication and never shown.
``file:`` and bare paths: MLflow 3 refuses a plain file store for new runs, so they are refused
here with the sqlite alternative. Other schemes (``databricks``, ``postgresql://``...) are left
to MLflow.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from sweeper.errors import ConfigError, TrackingError
from sweeper.redaction import redact, strip_credentials

#: How long an ``http(s)://`` tracking server may take to answer before a sweep or report gives up.
REACH_TIMEOUT_S = 5.0
#: Tracking-URI environment variable of MLflow, the default of ``--tracking-uri``.
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_WHERE = (
    "tracking.tracking_uri in the sweep file, the override tracking.tracking_uri=URI, --tracking-uri or "
    f"${TRACKING_URI_ENV}; leave tracking.tracking_uri unset to track in an sqlite file in the output folder"
)


def _check_sqlite(tracking_uri: str) -> None:
    path = tracking_uri[len("sqlite:///") :] if tracking_uri.startswith("sqlite:///") else None
    if not path or path == ":memory:":
        raise ConfigError(f"tracking URI {redact(tracking_uri)!r}: write sqlite:///ABSOLUTE/PATH/mlflow.db ({_WHERE})")
    folder = Path(path).parent
    if not folder.is_dir():
        raise ConfigError(
            f"tracking URI {redact(tracking_uri)!r}: folder {folder} does not exist; create it or point the URI at an "
            f"existing folder ({_WHERE})"
        )


def _check_http(tracking_uri: str, timeout_s: float) -> None:
    parsed = urlparse(tracking_uri)
    if not parsed.hostname:
        raise ConfigError(f"tracking URI {redact(tracking_uri)!r} names no host; write e.g. http://127.0.0.1:5000 ({_WHERE})")
    try:
        parsed.port  # noqa: B018  (a non-numeric port raises here)
    except ValueError:
        raise ConfigError(f"tracking URI {redact(tracking_uri)!r}: the port is not a number ({_WHERE})") from None
    request = urllib.request.Request(strip_credentials(tracking_uri).rstrip("/") + "/health")
    if parsed.username is not None:
        token = base64.b64encode(f"{unquote(parsed.username)}:{unquote(parsed.password or '')}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        urllib.request.urlopen(request, timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return  # an answer: MLflow reports what it refuses
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = redact(str(getattr(error, "reason", None) or error))
        raise TrackingError(
            f"MLflow tracking server {redact(tracking_uri)} cannot be reached ({reason}; waited at most {timeout_s:g} s). "
            "Start it (e.g. `mlflow server --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///mlflow.db`), "
            f"or correct the URI ({_WHERE})."
        ) from None


def check_tracking_uri(tracking_uri: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Fail fast when ``tracking_uri`` cannot work (see the module docstring).

    Any HTTP answer counts as reachable, even an error status (a proxy or an authenticating
    server answers too); a refused connection, an unknown host, a TLS failure or no answer within
    ``timeout_s`` seconds does not. Without this check MLflow's client retries for minutes.

    Raises:
        ConfigError: a malformed URI, a missing sqlite folder, a file store.
        TrackingError: an ``http(s)://`` server that cannot be reached (URI shown redacted).
    """
    scheme = urlparse(tracking_uri).scheme
    if scheme == "sqlite":
        _check_sqlite(tracking_uri)
    elif scheme in ("http", "https"):
        _check_http(tracking_uri, timeout_s)
    elif scheme in ("", "file") or len(scheme) == 1:  # a path (C: on Windows)
        raise ConfigError(
            f"tracking URI {redact(tracking_uri)!r} is a file store, which MLflow 3 no longer creates runs in; write "
            f"sqlite:///ABSOLUTE/PATH/mlflow.db or an http(s):// server ({_WHERE})"
        )

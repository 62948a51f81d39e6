"""Credentials inside URIs: the one place that hides them (pure).

A URI may carry credentials in its user-info (``s3://KEY:SECRET@bucket``,
``http://user:password@mlflow:5000``) or in query parameters (pyarrow's ``access_key``,
``secret_key``, ``session_token``; ``token``, ``password``...). :func:`redact` replaces them
with ``***`` wherever a URI must be shown (error messages, ``sweeper plan``, logs, MLflow params
and tags); :func:`strip_credentials` removes them from what sweeper saves (``config.json``,
``sweep.json``), so a resumed sweep or a report reads them from the environment instead
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD``, ``MLFLOW_TRACKING_TOKEN``).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
#: Query parameter names whose values are secrets (lower case).
SECRET_PARAMETERS = ("access_key", "secret_key", "session_token", "token", "password", "secret", "key", "sig", "signature")
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s'\"]+)@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?:"
    + "|".join(SECRET_PARAMETERS)
    + r"|[A-Za-z_]*(?:secret|token|password)[A-Za-z_]*)=)(?P<value>[^&#\s'\"]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every URI's user-info and secret query values replaced by ``***``
    (``s3://KEY:SECRET@bucket/x?secret_key=S`` → ``s3://***@bucket/x?secret_key=***``)."""
    text = _USERINFO.sub(lambda match: f"{match['scheme']}{MASK}@", text)
    return _SECRET_QUERY.sub(lambda match: f"{match['name']}{MASK}", text)


def strip_credentials(uri: str) -> str:
    """``uri`` without user-info and without secret query parameters (what is saved to disk)."""
    uri = _USERINFO.sub(lambda match: match["scheme"], uri)
    uri = _SECRET_QUERY.sub("", uri)
    if "?" not in uri and "&" in uri:  # the first parameter was removed: the next one opens the query
        uri = uri.replace("&", "?", 1)
    return uri


def has_credentials(text: str) -> bool:
    """Whether ``text`` holds a URI user-info or a secret query value."""
    return redact(text) != text


def map_strings(value: Any, function) -> Any:
    """``value`` (nested dicts, lists, strings) with ``function`` applied to every string."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {key: map_strings(item, function) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_strings(item, function) for item in value]
    return value

"""``--ray-address`` / ``$RAY_ADDRESS`` probed before anything is written (no Ray import: a socket with a timeout).

Without the probe ``ray.init`` waits for a GCS that is not there (issue 16: it hung). ``auto``
and ``local`` are left to Ray; ``ray://host:port`` (Ray Client) and ``host:port`` (the GCS) must
accept a TCP connection within :data:`PROBE_TIMEOUT_S` seconds.
"""

from __future__ import annotations

import socket

from sweeper.errors import ConfigError
from sweeper.redaction import redact

#: How long the Ray address may take to accept a connection (seconds).
PROBE_TIMEOUT_S = 5.0
_DEFAULT_PORTS = {"ray": 10001, "": 6379}


def probe_ray_address(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail when ``address`` does not accept a connection within ``timeout_s`` seconds.

    Raises:
        ConfigError: malformed, or nothing answers there (names the address, what was tried and the fix).
    """
    if address in ("auto", "local"):
        return
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.split("/", 1)[0].rpartition(":")
    if not host:
        host, port = rest.split("/", 1)[0], str(_DEFAULT_PORTS.get(scheme, 6379))
    if scheme not in ("", "ray") or not port.isdigit() or not host:
        raise ConfigError(
            f"--ray-address {redact(address)!r}: write HOST:PORT (the head node's GCS, e.g. 127.0.0.1:6379) or "
            "ray://HOST:10001 (Ray Client)"
        )
    error = connection_error(host, int(port), timeout_s)
    if error is not None:
        raise ConfigError(
            f"--ray-address {redact(address)}: nothing answers at {host}:{port} ({error.strerror or type(error).__name__}; "
            f"waited at most {timeout_s:g} s). Start the cluster (`ray start --head --node-ip-address 127.0.0.1`) and "
            "pass the address it prints, or leave --ray-address and $RAY_ADDRESS unset for a local Ray"
        )


def connection_error(host: str, port: int, timeout_s: float) -> OSError | None:
    """Why ``host:port`` (an IPv6 host may be bracketed) accepts no TCP connection within
    ``timeout_s`` seconds, or ``None`` when it does."""
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout_s).close()
    except OSError as error:
        return error
    return None

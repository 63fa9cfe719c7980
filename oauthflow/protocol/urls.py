"""URL checks: which hosts are loopback, which endpoint URLs are safe, what an origin is.

Spec: RFC 6749 §3.1 / §3.2 ("The authorization server MUST require the use of TLS ...
when sending requests to the token endpoint"), RFC 8252 §7.3 / §8.3 (loopback), RFC 6454
§4 (origin of a URI).

Security: error messages never echo a URL as given, because a URL can carry credentials
(``https://user:pass@host/``) or tokens in its query; they name the scheme and host only.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import SplitResult, urlsplit

from oauthflow.errors import ConfigurationError

__all__ = ["is_loopback_host", "origin_of", "require_secure_url"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: ``127.0.0.0/8``, ``::1`` or ``localhost``.

    IPv6 literals are accepted with or without brackets (``[::1]`` / ``::1``), and so is an
    IPv4-mapped loopback address (``::ffff:127.0.0.1``). ``localhost`` is compared
    case-insensitively; names *under* it (``app.localhost``) are not loopback here, since
    RFC 8252 §8.3 warns that even ``localhost`` may resolve elsewhere.
    """
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _split(url: str, what: str) -> tuple[SplitResult, str, int | None]:
    """Split ``url`` and return (parts, lower-cased host, port), or raise without echoing it."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL") from None
    if not parts.scheme or not host:
        raise ConfigurationError(f"{what} must be an absolute URL with a scheme and a host")
    return parts, host.lower(), port


def require_secure_url(url: str, *, what: str, allow_insecure_http: bool = False) -> None:
    """Refuse ``url`` unless it is ``https://`` (or ``http://`` to a loopback host).

    RFC 6749 §3.2: "the authorization server MUST require the use of TLS as described in
    Section 1.6 when sending requests to the token endpoint". RFC 8252 §7.3 allows plain
    ``http`` for loopback, where the traffic never leaves the machine.

    Args:
        url: the endpoint URL to check.
        what: what the URL is for (``"token_endpoint"``), used in the error message.
        allow_insecure_http: accept ``http://`` to any host: an explicit, named opt-out
            for test rigs behind TLS-terminating proxies. Never the default.

    Raises:
        ConfigurationError: naming ``what``, the scheme and the host (never the userinfo,
            path or query of the URL).
    """
    parts, host, _ = _split(url, what)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    if scheme == "http" and (allow_insecure_http or is_loopback_host(host)):
        return
    if scheme == "http":
        raise ConfigurationError(
            f"{what} must use https: http is allowed only to a loopback host "
            f"(127.0.0.1, ::1, localhost), not to {host!r}"
        )
    raise ConfigurationError(f"{what} must be an https URL, not a {scheme!r} URL")


def origin_of(url: str) -> str:
    """The origin of ``url`` as ``scheme://host:port`` (RFC 6454 §4), for origin scoping.

    Scheme and host are lower-cased, a non-ASCII host is IDNA-encoded (as aiohttp/yarl
    sends it), an IPv6 host is bracketed, and the default port is made explicit, so
    ``HTTPS://API.Example.com/x`` and ``https://api.example.com:443`` have the same origin.

    Raises:
        ConfigurationError: the URL has no scheme or host, an invalid port, or a scheme
            without a known default port and no explicit one.
    """
    parts, host, port = _split(url, "URL")
    scheme = parts.scheme.lower()
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
        if port is None:
            raise ConfigurationError(f"no default port for a {scheme!r} URL; give one")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ConfigurationError("URL host is not a valid internationalized name") from None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"

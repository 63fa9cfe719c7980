"""Binding the loopback receiver's listening sockets: 127.0.0.1 (and ::1), never more.

Spec: RFC 8252 §7.3 (loopback IP literals, any port, IPv4 and IPv6), §8.3 ("Clients
should listen on the loopback network interface only").
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Final

from oauthflow.errors import ConfigurationError

__all__ = ["IPV6_LOOPBACK", "bind_loopback", "check_loopback_host"]

IPV6_LOOPBACK: Final = "::1"
_BIND_ATTEMPTS: Final = 8  # ephemeral ports tried for one free on both 127.0.0.1 and ::1


def check_loopback_host(host: str) -> str:
    """``host`` if it is a loopback IP literal (IPv4 127/8 or ``::1``)."""
    try:
        address = ipaddress.ip_address(host)
    except (TypeError, ValueError):
        raise ConfigurationError(
            "host must be a loopback IP literal such as 127.0.0.1 or ::1 (not a name: "
            "RFC 8252 §8.3)"
        ) from None
    if address.version == 6 and address != ipaddress.IPv6Address(IPV6_LOOPBACK):
        raise ConfigurationError("the only IPv6 loopback address is ::1")
    if not address.is_loopback:
        raise ConfigurationError(
            "host must be a loopback address: the receiver never listens on other interfaces"
        )
    return str(address)


def _listen(address: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(address, port)``, not yet listening."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no one else may bind the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        sock.bind((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


_NO_SUCH_ADDRESS: Final = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


def bind_loopback(host: str, port: int, *, also_ipv6: bool) -> list[socket.socket]:
    """The sockets to listen on: ``host``, and ``::1`` on the same port when asked.

    With an ephemeral port, a port taken on ``::1`` by someone else is retried with a new
    one a few times, then IPv4 alone is used. No ``SO_REUSEADDR``: on Windows it would let
    another process bind the same port.
    """
    if ":" in host:
        return [_listen(host, port)]
    for _ in range(1 if port else _BIND_ATTEMPTS):
        try:
            first = _listen(host, port)
        except OSError as exc:
            if also_ipv6 and exc.errno in _NO_SUCH_ADDRESS:  # no IPv4 loopback here
                return [_listen(IPV6_LOOPBACK, port)]
            raise
        if not also_ipv6 or not socket.has_ipv6:
            return [first]
        try:
            second = _listen(IPV6_LOOPBACK, first.getsockname()[1])
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and not port:
                first.close()
                continue
            return [first]  # no IPv6 loopback (or a fixed port taken there): IPv4 only
        return [first, second]
    return [_listen(host, 0)]

"""This machine's own IP addresses and listening sockets, without psutil.

Used to prove the loopback receiver is unreachable on every non-loopback address. Sources,
merged: ``ip -o addr`` (when installed), ``/proc/net/if_inet6`` (Linux IPv6), the
``SIOCGIFADDR`` ioctl per interface (Linux IPv4), and ``getaddrinfo(gethostname())``.
Link-local IPv6 addresses carry their ``%interface`` scope, as connecting to them needs it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

__all__ = ["listening_addresses", "non_loopback_addresses"]

_SIOCGIFADDR = 0x8915
_TCP_LISTEN = "0A"


def non_loopback_addresses() -> list[str]:
    """Every address of this machine that is not loopback (nor unspecified), sorted."""
    found = _from_ip_command() | _from_proc_if_inet6() | _from_ioctl() | _from_hostname()
    result = set()
    for text in found:
        address = ipaddress.ip_address(text.split("%")[0])
        if not (address.is_loopback or address.is_unspecified):
            result.add(text)
    return sorted(result)


def _scoped(address: ipaddress.IPv4Address | ipaddress.IPv6Address, interface: str) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.is_link_local:
        return f"{address}%{interface}"
    return str(address)


def _from_ip_command() -> set[str]:
    """``ip -o addr show``: ``2: eth0    inet 192.0.2.2/24 brd ... scope global eth0``."""
    tool = shutil.which("ip")
    if tool is None:
        return set()
    try:
        output = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [tool, "-o", "addr", "show"], capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    found = set()
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("inet", "inet6"):
            interface = fields[1].split("@")[0]
            found.add(_scoped(ipaddress.ip_address(fields[3].split("/")[0]), interface))
    return found


def _from_proc_if_inet6() -> set[str]:
    """``/proc/net/if_inet6``: ``fd000000000000000000000000000002 04 40 00 82 eth0``."""
    path = Path("/proc/net/if_inet6")
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 6:
            address = ipaddress.IPv6Address(int(fields[0], 16))
            found.add(_scoped(address, fields[5]))
    return found


def _from_ioctl() -> set[str]:
    """The primary IPv4 address of each interface (Linux ``SIOCGIFADDR``)."""
    if not sys.platform.startswith("linux"):
        return set()
    import fcntl

    found = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):  # an interface without IPv4
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                found.add(socket.inet_ntoa(answer[20:24]))
    return found


def _from_hostname() -> set[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
    except OSError:
        return set()
    return {str(info[4][0]) for info in infos}


def listening_addresses(port: int) -> list[str] | None:
    """The local addresses of the kernel's TCP LISTEN sockets on ``port``.

    Read from ``/proc/net/tcp`` and ``/proc/net/tcp6`` (``None`` where they don't exist):
    the kernel's own view, independent of what the listener reports about itself.
    """
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return None
    found = []
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address_hex, port_hex = local.split(":")
            if state == _TCP_LISTEN and int(port_hex, 16) == port:
                found.append(_proc_address(address_hex))
    return found


def _proc_address(text: str) -> str:
    """``0100007F`` -> ``127.0.0.1``: /proc prints each 32-bit word in host byte order."""
    raw = bytes.fromhex(text)
    words = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    host_order = b"".join(
        struct.pack(">I", struct.unpack("=I", word)[0]) for word in words
    )
    return str(ipaddress.ip_address(host_order))

"""Finding controllers on the network by UDP discovery (IO edge; PROTOCOL.md §5).

The request (``01`` and seven zero bytes, :data:`licelpush.commands.DISCOVERY_REQUEST`)
goes to UDP port 2000 of a broadcast address; every controller answers the
sender with one datagram: a 5-byte header, then its text. By default the
request goes to the broadcast address of each IPv4 interface, from a socket
bound to that interface's address (so it leaves through that interface). The
interfaces are listed with ``psutil`` when it is installed; without it the
request goes to the limited broadcast 255.255.255.255 (the interface of the
default route only). Waiting is bounded by the timeout.
"""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import time
from dataclasses import dataclass

from licelpush.commands import (
    DISCOVERY_PORT,
    DISCOVERY_REQUEST,
    MAX_DISCOVERY_REPLY,
    parse_discovery_reply,
)

log = logging.getLogger(__name__)

LIMITED_BROADCAST = "255.255.255.255"


@dataclass(frozen=True)
class Found:
    """A controller that answered: its address and its text."""

    address: str
    text: str


def broadcast_targets() -> list[tuple[str | None, str]]:
    """``(local address to bind, broadcast address)`` per IPv4 interface, loopback excluded."""
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        log.info("psutil is not installed: sending to %s only (the default route's "
                 "interface); use --to ADDR for another network", LIMITED_BROADCAST)
        return [(None, LIMITED_BROADCAST)]
    targets: list[tuple[str | None, str]] = []
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family != socket.AF_INET or not entry.address:
                continue
            if ipaddress.ip_address(entry.address).is_loopback:
                continue
            broadcast = entry.broadcast
            if not broadcast and entry.netmask:
                network = ipaddress.IPv4Network(f"{entry.address}/{entry.netmask}", strict=False)
                broadcast = str(network.broadcast_address)
            if broadcast:
                targets.append((entry.address, broadcast))
    return targets or [(None, LIMITED_BROADCAST)]


def _open(bind: str | None, target: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if bind is None and ipaddress.ip_address(target).is_loopback:
            bind = "127.0.0.1"
        sock.bind((bind or "", 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def discover(targets: list[tuple[str | None, str]], port: int = DISCOVERY_PORT,
             timeout: float = 2.0) -> list[Found]:
    """Send the request to each ``(bind, address)`` and collect answers for ``timeout`` s.

    Each distinct answer is listed once, in arrival order. A target that cannot
    be sent to is logged and skipped; ``OSError`` only when none could be.
    """
    selector = selectors.DefaultSelector()
    sockets = []
    problems = []
    try:
        for bind, address in targets:
            try:
                sock = _open(bind, address)
                sock.sendto(DISCOVERY_REQUEST, (address, port))
            except OSError as exc:
                problems.append(f"{address}:{port}: {exc.strerror or exc}")
                log.warning("discovery request to %s:%d not sent: %s", address, port,
                            exc.strerror or exc)
                continue
            sockets.append(sock)
            selector.register(sock, selectors.EVENT_READ)
        if not sockets:
            raise OSError("no discovery request could be sent: " + "; ".join(problems))
        return _collect(selector, time.monotonic() + timeout)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()


def _collect(selector: selectors.BaseSelector, deadline: float) -> list[Found]:
    found: dict[Found, None] = {}
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return list(found)
        for key, _ in selector.select(remaining):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            try:
                data, sender = sock.recvfrom(MAX_DISCOVERY_REPLY + 1)
            except OSError as exc:  # e.g. ICMP port unreachable reported on Windows
                log.debug("discovery: %s", exc)
                continue
            try:
                text = parse_discovery_reply(data)
            except ValueError as exc:
                log.warning("discovery: ignored an answer from %s: %s", sender[0], exc)
                continue
            found.setdefault(Found(sender[0], text), None)

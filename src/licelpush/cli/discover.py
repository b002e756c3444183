"""``licelpush discover``: list the controllers that answer the UDP discovery (PROTOCOL.md §5)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``discover`` subcommand."""
    p = subparsers.add_parser(
        "discover", parents=[common],
        help="find controllers on the network (UDP discovery)",
        description="Send the controller discovery datagram (UDP port 2000) to the broadcast "
        "address of each network interface, or to --to ADDR, and list every controller "
        "that answers: its address and its text. Exit 0 when at least one answered, 3 when "
        "none did within --timeout.",
    )
    p.add_argument("--to", metavar="ADDR",
                   help="send to this address only (a controller or a broadcast address)")
    p.add_argument("--port", type=int, default=2000, metavar="P",
                   help="UDP port of the discovery (default 2000)")
    p.add_argument("--timeout", type=float, default=2.0, metavar="S",
                   help="seconds to wait for answers (default 2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Discover and print ``ADDRESS  TEXT`` per controller."""
    import ipaddress

    from licelpush.discovery import broadcast_targets, discover
    from licelpush.errors import ControllerError, LicelpushError

    if not 0 < args.port <= 65535:
        raise LicelpushError(f"--port {args.port}: must be 1-65535")
    if not 0 < args.timeout <= 3600:
        raise LicelpushError(f"--timeout {args.timeout:g}: must be more than 0, at most 3600 s")
    if args.to:
        try:
            ipaddress.IPv4Address(args.to)
        except ValueError:
            raise LicelpushError(f"--to {args.to!r}: not an IPv4 address") from None
        targets: list[tuple[str | None, str]] = [(None, args.to)]
    else:
        targets = broadcast_targets()
    try:
        found = discover(targets, args.port, args.timeout)
    except OSError as exc:
        raise ControllerError(str(exc)) from None
    if not found:
        sent = ", ".join(address for _, address in targets)
        raise ControllerError(f"no controller answered within {args.timeout:g} s "
                              f"(discovery sent to {sent} port {args.port})")
    for controller in found:
        print(f"{controller.address}  {controller.text}")
    return 0

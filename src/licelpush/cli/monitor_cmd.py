"""``licelpush monitor DIR``: a live, read-only web page of a station's output directory.

See :mod:`licelpush.monitorserver` (following the directory, serving) and
:mod:`licelpush.monitorstate` (what is shown). It runs as its own process
beside ``acquire`` and only reads the directory, so nothing it does can
touch an acquisition.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import Any

NAME = "monitor"
log = logging.getLogger("licelpush.monitor")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``monitor`` subcommand."""
    p = subparsers.add_parser(
        NAME,
        parents=[common],
        help="serve a live web page of a station's output directory",
        description="Follow DIR (the output directory of 'licelpush acquire': its journal, "
        "status.json where the station writes one, and new data files, also in sub-folders) "
        "and serve a read-only page with the latest profile of each channel in physical "
        "units, a rolling time-range curtain and the run's health, updated twice a second. "
        "The same data as JSON: /api/live, /api/curtain, /api/health. Every asset is served "
        "locally (no internet needed).",
        epilog="Prints 'monitor serving DIR on http://HOST:PORT/' when ready. Runs until "
        "Ctrl-C or SIGTERM (or --duration). Exit status 2 for a bad argument or a missing "
        "directory, 5 when the address cannot be bound.",
    )
    p.add_argument("directory", metavar="DIR", help="output directory of the station")
    p.add_argument("--bind", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="address to serve on (default 127.0.0.1:8080; port 0 = any free "
                   "port; a warning for anything but loopback)")
    p.add_argument("--hours", type=float, default=3.0, metavar="H",
                   help="length of the rolling curtain (default 3 hours)")
    p.add_argument("--max-range", type=float, metavar="KM",
                   help="top of profiles and curtains in km (default: the channel's range)")
    p.add_argument("--background", default="tail:1000", metavar="SPEC",
                   help="background subtracted: tail:N (default tail:1000), "
                   "far:START-STOP (km), pretrigger:N or none")
    p.add_argument("--duration", type=float, metavar="S", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as (host, port); ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535 or not host:
        raise ValueError(f"--bind {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve until stopped (Ctrl-C, SIGTERM, Ctrl-Break); returns the exit status."""
    from pathlib import Path

    from licelpush.errors import LicelpushError, OutputError
    from licelpush.monitorserver import DirectoryFollower, Documents, follow, start_server
    from licelpush.monitorstate import SignalView
    from licelpush.physical import parse_background

    directory = Path(args.directory)
    if not directory.is_dir():
        raise LicelpushError(f"{directory}: not a directory")
    try:
        host, port = parse_bind(args.bind)
        background = parse_background(args.background)
    except ValueError as exc:
        raise LicelpushError(str(exc)) from None
    if not args.hours > 0 or (args.max_range is not None and not args.max_range > 0):
        raise LicelpushError("--hours and --max-range must be > 0")
    if not is_loopback(host):
        log.warning("serving on %s, not loopback: anyone who reaches this address sees the "
                    "station's data (the page is read-only)", host)
    view = SignalView(window_s=args.hours * 3600.0, background=background,
                      max_range_m=args.max_range * 1000.0 if args.max_range else None)
    docs = Documents()
    follower = DirectoryFollower(directory, view, docs)
    follower.backfill()
    follower.poll()
    try:
        server = start_server(host, port, docs)
    except OSError as exc:
        raise OutputError(f"cannot serve on {args.bind}: {exc.strerror or exc}") from None
    bound_host, bound_port = server.server_address[:2]
    print(f"monitor serving {directory} on http://{bound_host}:{bound_port}/", flush=True)
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    try:
        follow(follower, stop, duration_s=args.duration)
    finally:
        restore()
        server.shutdown()
        server.server_close()
    log.info("monitor stopped")
    return 0


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Ctrl-C, SIGTERM and (Windows) Ctrl-Break stop the monitor cleanly; returns the undo
    (nothing to undo off the main thread, where signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    from licelpush.platform import install_signal_handlers

    return install_signal_handlers(lambda signum, frame: stop.set())

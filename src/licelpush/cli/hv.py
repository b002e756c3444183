"""``licelpush hv``: read and set PMT high voltages (PROTOCOL.md §2 ``PMTG``, ``PMT?``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_IP = "10.49.234.234"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``hv`` subcommand."""
    p = subparsers.add_parser(
        "hv", parents=[common],
        help="read and set PMT high voltages",
        description="Set PMT high voltages (PMTG) and confirm each by reading it back "
        "(PMT?), or read them. --from-config takes the voltages of the enabled datasets of "
        "each active [TRn] of --config for PMT n (one PMT per recorder; 0 V = not given). "
        "Nothing is sent when a voltage is outside 0..--max-volts. Exit 0 when every tube "
        "was set (or read), 2 for bad arguments or configuration, 3 when a tube failed or "
        "the controller did not answer.",
    )
    p.add_argument("--ip", default=DEFAULT_IP, metavar="ADDR",
                   help=f"controller address (default {DEFAULT_IP})")
    p.add_argument("--port", type=int, default=2055, metavar="P",
                   help="controller command port (default 2055)")
    p.add_argument("--config", metavar="FILE",
                   help="Acquis.ini for --from-config (and the tubes --get reads)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--set", action="append", default=[], metavar="DEV=V",
                      help="set PMT DEV to V volts (repeatable), e.g. --set 0=700")
    what.add_argument("--from-config", action="store_true",
                      help="set the voltages the configuration gives")
    p.add_argument("--get", action="store_true",
                   help="print each tube's voltage (the tubes set, else those of --config, "
                   "else 0-15)")
    p.add_argument("--max-volts", type=int, default=2000, metavar="V",
                   help="highest voltage allowed at this station (default 2000)")
    p.add_argument("--tolerance", type=float, default=10.0, metavar="V",
                   help="largest difference of the read-back that confirms a setting "
                   "(default 10)")
    p.add_argument("--settle", type=float, default=5.0, metavar="S",
                   help="how long a tube may take to reach its voltage (default 5)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for the connection and each reply (default 5)")
    p.set_defaults(run=run)


def _targets(args: argparse.Namespace) -> dict[int, int]:
    from licelpush.config import load_config
    from licelpush.hv import HvUsageError, check_limits, parse_assignment, voltages_from_config

    if args.from_config:
        if not args.config:
            raise HvUsageError("--from-config needs --config FILE")
        targets = voltages_from_config(load_config(args.config))
        if not targets:
            raise HvUsageError(f"{args.config}: no enabled dataset gives a PMT voltage "
                               "(PM, PM2-PM4, PM1pc-PM4pc)")
    else:
        targets = {}
        for text in args.set:
            device, volts = parse_assignment(text)
            if device in targets:
                raise HvUsageError(f"--set: PMT {device} is given twice")
            targets[device] = volts
    check_limits(targets, args.max_volts)
    return targets


def _read_devices(args: argparse.Namespace, targets: dict[int, int]) -> list[int]:
    from licelpush.config import load_config
    from licelpush.hv import PMT_DEVICES

    if targets:
        return sorted(targets)
    if args.config:
        return [r.address for r in load_config(args.config).active_recorders]
    return list(PMT_DEVICES)


def run(args: argparse.Namespace) -> int:
    """Set and confirm, and/or read; one line per tube."""
    import time

    from licelpush.client import Controller
    from licelpush.errors import ControllerError
    from licelpush.hv import HvUsageError, apply_voltages, read_voltages
    from licelpush.limits import command_port_problem

    targets = _targets(args)
    if not targets and not args.get:
        raise HvUsageError("nothing to do: give --set DEV=V, --from-config or --get")
    if not (0 <= args.tolerance <= args.max_volts and 0 <= args.settle <= 3600
            and 0 < args.timeout <= 3600):
        raise HvUsageError("--tolerance must be 0..--max-volts, --settle 0-3600 s and "
                           "--timeout more than 0, at most 3600 s")
    port_problem = command_port_problem(args.port)
    if port_problem:
        raise HvUsageError(f"--port {args.port}: {port_problem}")
    controller = Controller(args.ip, args.port, timeout=args.timeout)
    controller.connect(push=False)
    try:
        results = apply_voltages(controller, targets, tolerance=args.tolerance,
                                 settle=args.settle, clock=time.monotonic, sleep=time.sleep,
                                 failure=ControllerError)
        if args.get:
            results += read_voltages(controller, _read_devices(args, targets), ControllerError)
    finally:
        controller.close()
    for result in results:
        print(result.describe(), file=sys.stdout if result.ok else sys.stderr)
    failed = [r for r in results if not r.ok]
    if failed:
        names = ", ".join(dict.fromkeys(f"PMT {r.device}" for r in failed))
        raise ControllerError(f"failed: {names} (see the line of each above)")
    return 0

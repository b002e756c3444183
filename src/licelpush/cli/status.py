"""``licelpush status DIR [--json]``: what the acquisition writing into DIR is doing.

Reads ``DIR/status.json`` (:mod:`licelpush.status`). Exit status 0 while the
run is alive, 1 once it has stopped (the reason is shown), 2 when the status
is stale (no update for 3 intervals: the process died) or missing.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``status`` subcommand."""
    p = subparsers.add_parser(
        "status", parents=[common],
        help="show the state of the acquisition writing into an output directory",
        description="Print the status.json of an acquisition's output directory for people "
        "(or as JSON). Exit status: 0 the run is alive, 1 it has stopped (reason shown), "
        "2 the status is stale (not updated for 3 intervals: the process died) or missing.",
    )
    p.add_argument("directory", metavar="DIR", help="output directory (or its status.json)")
    p.add_argument("--json", action="store_true",
                   help="print the status as JSON, with 'liveness' (alive, stopped, stale) "
                   "and 'age_s' added")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the status; returns its liveness as the exit status."""
    from datetime import datetime, timezone
    from pathlib import Path

    from licelpush.status import age_s, format_status, liveness
    from licelpush.statusfile import read_status

    status = read_status(Path(args.directory))
    now = datetime.now(timezone.utc)
    live = liveness(status, now)
    if args.json:
        out = dict(status, liveness=live.name.lower(), age_s=round(age_s(status, now), 1))
        print(json.dumps(out, indent=1, sort_keys=True))
    else:
        print("\n".join(format_status(status, now)))
    return int(live)

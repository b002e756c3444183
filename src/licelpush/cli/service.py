"""``licelpush service unit [ACQUIRE FLAGS...]``: a systemd unit file for a station.

The unit runs ``licelpush acquire`` with the given flags as a ``Type=notify``
service (``acquire`` speaks sd_notify: :mod:`licelpush.sdnotify`), restarted
always, watched by the systemd watchdog, as a dedicated user, stopped with
SIGTERM (``acquire`` then sets the controller to SLAVE and closes its files).
Without ``--acq`` (on the command line or in the ``--options`` profile) the
unit acquires until stopped (``--acq -1``); without ``--retries`` it waits
for the controller forever (``--retries -1``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

UNIT_FLAGS = {"--user": 1, "--watchdog-sec": 1, "--timeout-stop-sec": 1,
              "--working-directory": 1, "--executable": 1, "--description": 1}
"""Flags of the unit itself (with their value count); every other flag goes to acquire."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``service`` subcommand (``service unit``)."""
    from licelpush.cli.acquire import acquire_arguments

    p = subparsers.add_parser(
        "service", help="run licelpush as a station service (systemd unit file)",
        description="Tools for running an acquisition as a system service.")
    sub = p.add_subparsers(dest="service_command", metavar="ACTION")
    unit = sub.add_parser(
        "unit", parents=[common],
        help="print a systemd unit file running 'licelpush acquire' with the given flags",
        description="Print to standard output a systemd unit (Type=notify, Restart=always, "
        "WatchdogSec, a dedicated user, KillSignal=SIGTERM, TimeoutStopSec) whose ExecStart "
        "runs 'licelpush acquire' with every other flag given here. Without --acq the unit "
        "acquires until stopped (--acq -1), without --retries it waits for the controller "
        "forever (--retries -1). See README 'Running a station' for the install steps.")
    own = unit.add_argument_group("the unit")
    own.add_argument("--user", default="licelpush", help="system user of the service "
                     "(default licelpush; create it with useradd --system)")
    own.add_argument("--watchdog-sec", type=int, default=300, metavar="S",
                     help="systemd restarts the run when it is unhealthy this long (default 300)")
    own.add_argument("--timeout-stop-sec", type=int, default=60, metavar="S",
                     help="time allowed to stop cleanly after SIGTERM (default 60)")
    own.add_argument("--working-directory", metavar="DIR",
                     help="working directory of the service (default: the current directory)")
    own.add_argument("--executable", metavar="CMD",
                     help="how to start licelpush (default: this Python with -m licelpush)")
    own.add_argument("--description", default="licelpush lidar acquisition",
                     help="the unit's Description")
    acquire_arguments(unit)
    unit.set_defaults(run=run)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1], verbose=0, quiet=False,
                   log_file=None)


def acquire_tokens(argv: Sequence[str]) -> list[str]:
    """The flags after ``service unit`` without the unit's own flags."""
    tokens = list(argv)
    if "unit" in tokens:
        tokens = tokens[tokens.index("unit") + 1:]
    out: list[str] = []
    skip = 0
    for token in tokens:
        if skip:
            skip -= 1
            continue
        name = token.split("=", 1)[0]
        if name in UNIT_FLAGS:
            skip = UNIT_FLAGS[name] if "=" not in token else 0
            continue
        out.append(token)
    return out


def quote(word: str) -> str:
    """One word of an ExecStart= line (systemd.service(5) quoting and specifiers)."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in word for c in ' \t"\'\\;'):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(args: argparse.Namespace, flags: Sequence[str]) -> str:
    """The unit file."""
    flags = list(flags)
    given = {f.split("=", 1)[0] for f in flags}
    if getattr(args, "options", None):  # what the profile sets counts as given
        from pathlib import Path

        from licelpush.cli.optionsfile import load_toml

        given |= {"--" + key for key in load_toml(Path(args.options))}
    if "--acq" not in given:
        flags += ["--acq", "-1"]
    if "--retries" not in given:
        flags += ["--retries", "-1"]
    executable = args.executable or f"{quote(sys.executable)} -m licelpush"
    workdir = os.path.abspath(args.working_directory or os.getcwd())
    command = " ".join([executable, "acquire", *(quote(f) for f in flags)])
    return f"""\
[Unit]
Description={args.description}
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=main
User={args.user}
WorkingDirectory={quote(workdir)}
ExecStart={command}
Restart=always
RestartSec=10
TimeoutStartSec=infinity
WatchdogSec={args.watchdog_sec}
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec={args.timeout_stop_sec}

[Install]
WantedBy=multi-user.target
"""


def run(args: argparse.Namespace) -> int:
    """Print the unit file."""
    sys.stdout.write(unit_text(args, acquire_tokens(getattr(args, "argv", []))))
    return 0

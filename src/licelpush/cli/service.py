"""``licelpush service unit|task [ACQUIRE FLAGS...]``: a systemd unit or a Windows task.

The unit runs ``licelpush acquire`` with the given flags as a ``Type=notify``
service (``acquire`` speaks sd_notify: :mod:`licelpush.sdnotify`), restarted
always, watched by the systemd watchdog, as a dedicated user, stopped with
SIGTERM (``acquire`` then sets the controller to SLAVE and closes its files).
Without ``--acq`` (on the command line or in the ``--options`` profile) the
unit acquires until stopped (``--acq -1``); without ``--retries`` it waits
for the controller forever (``--retries -1``). ``service task`` writes the same
run as a Windows Task Scheduler task (:mod:`licelpush.cli.schtask`).
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
    """Add the ``service`` subcommand (``service unit``, ``service task``)."""
    from licelpush.cli.acquire import acquire_arguments
    from licelpush.cli.schtask import task_arguments

    p = subparsers.add_parser(
        "service", help="run licelpush as a station service (systemd unit, Windows task)",
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
    unit.set_defaults(run=run, forwards_flags=True)
    task = sub.add_parser(
        "task", parents=[common],
        help="print a Windows Task Scheduler task running 'licelpush acquire' with the "
        "given flags",
        description="Print (or write with --xml, in the UTF-16 schtasks reads) a Task "
        "Scheduler task that starts 'licelpush acquire' with every other flag given here at "
        "boot, whether a user is logged on or not, without a time limit, restarted after a "
        "failure. Without --acq the task acquires until stopped (--acq -1), without "
        "--retries it waits for the controller forever (--retries -1). Register it with "
        "'schtasks /Create /TN licelpush /XML FILE' (README, 'Running a station', 'Windows').")
    task_arguments(task)
    acquire_arguments(task)
    task.set_defaults(run=run_task, forwards_flags=True)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1], verbose=0, quiet=False,
                   log_file=None)


def acquire_tokens(argv: Sequence[str], action: str = "unit",
                   own: dict[str, int] | None = None) -> list[str]:
    """The flags after ``service ACTION`` without the action's own flags (``own``)."""
    own = UNIT_FLAGS if own is None else own
    tokens = list(argv)
    if action in tokens:
        tokens = tokens[tokens.index(action) + 1:]
    out: list[str] = []
    skip = 0
    for token in tokens:
        if skip:
            skip -= 1
            continue
        name = token.split("=", 1)[0]
        if name in own:
            skip = own[name] if "=" not in token else 0
            continue
        out.append(token)
    return out


def quote(word: str) -> str:
    """One word of an ExecStart= line (systemd.service(5) quoting and specifiers)."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in word for c in ' \t"\'\\;'):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


PATH_FLAGS = ("--config", "--options", "--output", "--log-file", "--emulator-ledger")
"""Acquire flags naming a file or directory: made absolute for the service."""


def absolute_paths(flags: Sequence[str], cwd: str) -> list[str]:
    """``flags`` with the relative paths of :data:`PATH_FLAGS` made absolute from ``cwd``,
    so that the service finds them whatever its working directory. A path absolute on
    either system (``/srv/lidar``, ``D:\\Licel``, ``\\\\server\\share``) stays."""
    from pathlib import PurePosixPath, PureWindowsPath

    def absolute(path: str) -> str:
        if not path or PurePosixPath(path).is_absolute() or PureWindowsPath(path).anchor:
            return path
        return os.path.join(cwd, path)

    out: list[str] = []
    pending = False
    for token in flags:
        name, equals, value = token.partition("=")
        if pending:
            out.append(absolute(token))
        elif equals and name in PATH_FLAGS:
            out.append(f"{name}={absolute(value)}")
        else:
            out.append(token)
        pending = not pending and not equals and token in PATH_FLAGS
    return out


def with_service_defaults(args: argparse.Namespace, flags: Sequence[str]) -> list[str]:
    """``flags`` (relative paths made absolute, :func:`absolute_paths`) plus ``--acq -1``
    and ``--retries -1`` unless given (here or in the profile)."""
    flags = absolute_paths(flags, os.getcwd())
    given = {f.split("=", 1)[0] for f in flags}
    if getattr(args, "options", None):  # what the profile sets counts as given
        from pathlib import Path

        from licelpush.cli.optionsfile import load_toml

        given |= {"--" + key for key in load_toml(Path(args.options))}
    if "--acq" not in given:
        flags += ["--acq", "-1"]
    if "--retries" not in given:
        flags += ["--retries", "-1"]
    return flags


def unit_text(args: argparse.Namespace, flags: Sequence[str]) -> str:
    """The unit file."""
    flags = with_service_defaults(args, flags)
    executable = args.executable or f"{quote(sys.executable)} -m licelpush"
    # WorkingDirectory= takes the path as written (no quotes), with specifiers expanded
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
WorkingDirectory={workdir.replace("%", "%%")}
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


def run_task(args: argparse.Namespace) -> int:
    """Print or write the Task Scheduler task."""
    from licelpush.cli.schtask import TASK_FLAGS, write_task

    flags = acquire_tokens(getattr(args, "argv", []), "task", TASK_FLAGS)
    return write_task(args, with_service_defaults(args, flags), sys.stdout)

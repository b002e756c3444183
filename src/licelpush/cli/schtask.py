"""``licelpush service task [ACQUIRE FLAGS...]``: a Windows Task Scheduler task for a station.

The task definition follows the Task Scheduler schema (namespace
:data:`TASK_NAMESPACE`, version 1.2, Windows Vista and later): it starts
``licelpush acquire`` with the given flags when the computer boots
(``BootTrigger`` with a short ``Delay``), whether a user is logged on or not
(``Principal``: the SYSTEM account, or a user whose password ``schtasks``
asks for with ``/RU NAME /RP *``), without a time limit
(``ExecutionTimeLimit`` ``PT0S``), at normal priority, and restarts it after a
failure (``RestartOnFailure``). The command line is quoted by the rules of
the Windows C runtime (:func:`subprocess.list2cmdline`).

``schtasks /Create /XML`` reads files in the UTF-16 that it exports itself:
``--xml FILE`` writes that (little-endian with a byte-order mark and an
``encoding="UTF-16"`` declaration); standard output carries the same text in
UTF-8, declared as such.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
TASK_SCHEMA_VERSION = "1.2"
SYSTEM_ACCOUNT_SID = "S-1-5-18"
"""The LocalSystem account (``schtasks /RU SYSTEM``)."""
NORMAL_PRIORITY = 5
"""Task priority 4-6 is the normal priority class (the default 7 is below normal)."""
MAX_RESTART_COUNT = 255
"""``RestartOnFailure/Count`` is an unsigned byte."""
TASK_FLAGS = {"--user": 1, "--working-directory": 1, "--executable": 1, "--description": 1,
              "--xml": 1, "--restart-count": 1, "--restart-minutes": 1, "--boot-delay-s": 1}
"""Flags of the task itself (with their value count); every other flag goes to acquire."""


def task_arguments(task: argparse.ArgumentParser) -> None:
    """The options of ``service task`` (the acquire flags are added by the caller)."""
    own = task.add_argument_group("the task")
    own.add_argument("--user", default="SYSTEM",
                     help="account the task runs as: SYSTEM (default; no password) or a "
                     "user name, whose password schtasks asks for (/RU NAME /RP *)")
    own.add_argument("--working-directory", metavar="DIR",
                     help="working directory of the task (default: the current directory)")
    own.add_argument("--executable", metavar="PATH",
                     help="program to start, e.g. the licelpush.exe of the installation "
                     "(default: this Python with -m licelpush)")
    own.add_argument("--description", default="licelpush lidar acquisition",
                     help="the task's description")
    own.add_argument("--xml", metavar="FILE",
                     help="write the task to FILE in UTF-16, the form schtasks /Create /XML "
                     "reads (default: print it in UTF-8)")
    own.add_argument("--restart-count", type=int, default=MAX_RESTART_COUNT, metavar="N",
                     help=f"restarts after failures, 1-{MAX_RESTART_COUNT} "
                     f"(default {MAX_RESTART_COUNT})")
    own.add_argument("--restart-minutes", type=int, default=1, metavar="M",
                     help="minutes between restarts, 1-44640 (default 1)")
    own.add_argument("--boot-delay-s", type=int, default=60, metavar="S",
                     help="seconds after boot before the task starts (default 60)")


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str
             ) -> ET.Element:
    node = ET.SubElement(parent, f"{{{TASK_NAMESPACE}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _principal(root: ET.Element, user: str) -> None:
    principal = _element(_element(root, "Principals"), "Principal", id="Author")
    if user.upper() in ("SYSTEM", "NT AUTHORITY\\SYSTEM", SYSTEM_ACCOUNT_SID):
        _element(principal, "UserId", SYSTEM_ACCOUNT_SID)
        _element(principal, "RunLevel", "HighestAvailable")
    else:  # run whether logged on or not: the password is stored at registration
        _element(principal, "UserId", user)
        _element(principal, "LogonType", "Password")
        _element(principal, "RunLevel", "LeastPrivilege")


def _settings(root: ET.Element, args: argparse.Namespace) -> None:
    settings = _element(root, "Settings")
    for tag, value in (("MultipleInstancesPolicy", "IgnoreNew"),
                       ("DisallowStartIfOnBatteries", "false"),
                       ("StopIfGoingOnBatteries", "false"), ("AllowHardTerminate", "true"),
                       ("StartWhenAvailable", "true"), ("RunOnlyIfNetworkAvailable", "false"),
                       ("AllowStartOnDemand", "true"), ("Enabled", "true"),
                       ("Hidden", "false"), ("RunOnlyIfIdle", "false"), ("WakeToRun", "false"),
                       ("ExecutionTimeLimit", "PT0S"), ("Priority", str(NORMAL_PRIORITY))):
        _element(settings, tag, value)
    restart = _element(settings, "RestartOnFailure")
    _element(restart, "Interval", f"PT{args.restart_minutes}M")
    _element(restart, "Count", str(args.restart_count))


def command_line(args: argparse.Namespace, flags: Sequence[str]) -> tuple[str, str]:
    """(Command, Arguments) of the task's ``Exec`` action."""
    if args.executable:
        return args.executable, subprocess.list2cmdline(["acquire", *flags])
    return sys.executable, subprocess.list2cmdline(["-m", "licelpush", "acquire", *flags])


def task_xml(args: argparse.Namespace, flags: Sequence[str]) -> ET.Element:
    """The task definition for ``licelpush acquire`` with ``flags``."""
    root = ET.Element(f"{{{TASK_NAMESPACE}}}Task", version=TASK_SCHEMA_VERSION)
    _element(_element(root, "RegistrationInfo"), "Description", args.description)
    boot = _element(_element(root, "Triggers"), "BootTrigger")
    _element(boot, "Enabled", "true")
    _element(boot, "Delay", f"PT{args.boot_delay_s}S")
    _principal(root, args.user)
    _settings(root, args)
    exec_action = _element(_element(root, "Actions", Context="Author"), "Exec")
    command, arguments = command_line(args, flags)
    _element(exec_action, "Command", command)
    _element(exec_action, "Arguments", arguments)
    _element(exec_action, "WorkingDirectory",
             os.path.abspath(args.working_directory or os.getcwd()))
    return root


def task_text(root: ET.Element, encoding: str) -> str:
    """The document with an XML declaration naming ``encoding``."""
    ET.register_namespace("", TASK_NAMESPACE)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{body}\n'


def check_task_options(args: argparse.Namespace) -> str | None:
    """What is wrong with the task's own options, or None."""
    if not 1 <= args.restart_count <= MAX_RESTART_COUNT:
        return f"--restart-count must be 1-{MAX_RESTART_COUNT}, got {args.restart_count}"
    if not 1 <= args.restart_minutes <= 31 * 24 * 60:
        return f"--restart-minutes must be 1-44640 (31 days), got {args.restart_minutes}"
    if args.boot_delay_s < 0:
        return f"--boot-delay-s must be 0 or more, got {args.boot_delay_s}"
    return None


def write_task(args: argparse.Namespace, flags: Sequence[str], stdout: Any) -> int:
    """Print the task (UTF-8) or write it to ``--xml`` (UTF-16 LE with BOM)."""
    from licelpush.errors import LicelpushError, OutputError

    problem = check_task_options(args)
    if problem:
        raise LicelpushError(problem)
    root = task_xml(args, flags)
    if not args.xml:
        stdout.write(task_text(root, "UTF-8"))
        return 0
    user = subprocess.list2cmdline([args.user])
    data = "\ufeff" + task_text(root, "UTF-16").replace("\n", "\r\n")
    try:
        Path(args.xml).write_bytes(data.encode("utf-16-le"))
    except OSError as exc:
        raise OutputError(f"--xml {args.xml}: cannot write: {exc.strerror or exc}") from None
    stdout.write(f"task written to {args.xml}; register it in an administrator prompt with\n"
                 f"  schtasks /Create /TN licelpush /XML {subprocess.list2cmdline([args.xml])}"
                 f"{'' if root_is_system(root) else ' /RU ' + user + ' /RP *'}\n")
    return 0


def root_is_system(root: ET.Element) -> bool:
    """Whether the task runs as the SYSTEM account."""
    user = root.find(f"{{{TASK_NAMESPACE}}}Principals/{{{TASK_NAMESPACE}}}Principal/"
                     f"{{{TASK_NAMESPACE}}}UserId")
    return user is not None and user.text == SYSTEM_ACCOUNT_SID

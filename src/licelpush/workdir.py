"""Which ``working_directory`` of an Acquis.ini can be used, on which system (pure).

The vendor's Windows software writes paths such as ``D:\\Licel\\data`` or UNC
shares ``\\\\server\\share\\lidar`` (docs/spec/ACQUIS_INI.md, ``[global_info]``).
On Windows they are used as written. A drive-relative path (``D:data``, or
``\\data`` without a drive) depends on the current directory of a drive, which
differs between a console and a scheduled task; it is refused on every
system. On other systems a Windows path cannot be used: the output
directory is then given with ``--output``. The system is a parameter
(:data:`WINDOWS` or :data:`POSIX`), so both rules are testable anywhere.
"""

from __future__ import annotations

import os
import re
from pathlib import PureWindowsPath

WINDOWS = "windows"
POSIX = "posix"
FLAVOURS = (WINDOWS, POSIX)

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:|\\\\)|\\")
"""A drive letter (also drive-relative, ``C:data``), a UNC path or any backslash."""


class WorkingDirectoryError(ValueError):
    """A ``working_directory`` that cannot be used here; the message says why."""


def native_flavour() -> str:
    """:data:`WINDOWS` on Windows, else :data:`POSIX`."""
    return WINDOWS if os.name == "nt" else POSIX


def is_windows_path(text: str) -> bool:
    """True for text written as a Windows path (drive letter, UNC share or a backslash)."""
    return _WINDOWS_PATH.search(text) is not None


def drive_relative_problem(text: str, flavour: str) -> str | None:
    """Why ``text`` is relative to a drive's current directory, or None when it is not."""
    win = PureWindowsPath(text)
    if win.drive and not win.root and not win.drive.startswith("\\\\"):
        return (f"is relative to the current directory of drive {win.drive} "
                f"(write it whole, e.g. {win.drive}\\Licel\\data)")
    if flavour == WINDOWS and win.root and not win.drive:
        if text.startswith(("\\\\", "//")):
            return "is not a complete UNC path (write \\\\server\\share\\folder)"
        return "is relative to the current drive (write it with its drive, e.g. D:\\Licel\\data)"
    return None


def usable_working_directory(text: str, flavour: str) -> str:
    """``text`` when it can be the output directory on a ``flavour`` system ("" = not set).

    Raises :class:`WorkingDirectoryError` for a drive-relative path (any system) and
    for a Windows path on a POSIX system.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown system flavour {flavour!r}")
    if not text:
        return ""
    problem = drive_relative_problem(text, flavour)
    if problem:
        raise WorkingDirectoryError(f"working_directory = {text!r} {problem}")
    if flavour == POSIX and is_windows_path(text):
        raise WorkingDirectoryError(
            f"working_directory = {text!r} is a Windows path, not usable on this system")
    return text

"""Output layout: the sub-folder of the output directory a data file goes into.

``--layout PATTERN`` is a strftime-style pattern of sub-folders, e.g.
``%Y/%m/%d``; :data:`FLAT` (the default) puts every file directly into the
output directory. The folder is chosen from the start time of a file's first
record, in the time zone of the file times (UTC unless ``--local-time``), so
a run that crosses midnight splits cleanly into two day folders. Dark
measurements (``--dark``) go below :data:`DARK_FOLDER` with the same layout.

The journal, the quarantine file and ``status.json`` always stay directly in
the output directory. The codes are formatted here (not with the C library's
``strftime``), so a pattern gives the same folders on every system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

FLAT = "flat"
"""The layout that puts every file directly into the output directory."""
DARK_FOLDER = "dark"
"""Sub-folder of the output directory for the data files of dark measurements."""

_CODES: dict[str, str] = {
    "Y": "year, 4 digits", "y": "year, 2 digits", "m": "month 01-12",
    "d": "day of month 01-31", "j": "day of year 001-366", "H": "hour 00-23",
    "M": "minute 00-59", "G": "ISO year", "V": "ISO week 01-53", "%": "a literal %",
}
_FORBIDDEN = set('<>:"\\|?*')
_CODE = re.compile(r"%(.?)")


def _code_value(code: str, when: datetime) -> str:
    iso = when.isocalendar()
    return {
        "Y": f"{when.year:04d}", "y": f"{when.year % 100:02d}", "m": f"{when.month:02d}",
        "d": f"{when.day:02d}", "j": f"{when.timetuple().tm_yday:03d}",
        "H": f"{when.hour:02d}", "M": f"{when.minute:02d}", "G": f"{iso[0]:04d}",
        "V": f"{iso[1]:02d}", "%": "%",
    }[code]


def layout_problem(pattern: str) -> str | None:
    """What is wrong with a ``--layout`` pattern (None when it is usable)."""
    if pattern == FLAT:
        return None
    where = f"--layout {pattern!r}"
    if not pattern or pattern.startswith("/") or pattern.endswith("/"):
        return f"{where}: give relative sub-folders like '%Y/%m/%d' (or 'flat')"
    for code in _CODE.findall(pattern):
        if code not in _CODES:
            return (f"{where}: unknown code %{code}; known: "
                    + ", ".join(f"%{c} ({text})" for c, text in _CODES.items()))
    for part in pattern.split("/"):
        if part in ("", ".", ".."):
            return f"{where}: empty, '.' or '..' folder names are not allowed"
    bad = sorted(_FORBIDDEN.intersection(pattern))
    if bad:
        return f"{where}: characters {''.join(bad)!r} are not allowed in folder names"
    return None


def subfolder(pattern: str, when: datetime) -> PurePosixPath:
    """The sub-folder (relative, possibly empty) for a file starting at ``when``."""
    if pattern == FLAT:
        return PurePosixPath()
    return PurePosixPath(_CODE.sub(lambda m: _code_value(m.group(1), when), pattern))


@dataclass(frozen=True)
class Layout:
    """Where data files go, below the output directory."""

    pattern: str = FLAT
    dark: bool = False

    def folder(self, when: datetime) -> PurePosixPath:
        """Relative folder (below the output directory) for a file starting at ``when``."""
        base = PurePosixPath(DARK_FOLDER) if self.dark else PurePosixPath()
        return base / subfolder(self.pattern, when)

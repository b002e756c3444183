"""Finding Licel raw data files in the output directory of a station (IO edge).

Data files may sit directly in the directory or in sub-folders (a day layout
such as ``2026/05/13``, a ``dark/`` folder): :func:`find_data_files` walks
the tree and keeps every file whose name is a Licel file name
(``<prefix>YYMDDhh.mmsscc``, see :func:`licelpush.licelfile.parse_file_name`).
The time in the name is the record's start time as written (UTC unless the
station writes local time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from licelpush.errors import DamagedFileError, LicelpushError
from licelpush.licelfile import Record, parse_file_name, scan_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFile:
    path: Path
    when: datetime | None
    """Time from the file name (naive, as written), None when the name is not a Licel name."""


def _walk(directory: Path) -> Iterator[DataFile]:
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            parsed = parse_file_name(name)
            if parsed is not None:
                yield DataFile(Path(root) / name, parsed[1])


def find_data_files(paths: Sequence[str | Path]) -> list[DataFile]:
    """Licel files named or found under ``paths``, ordered by the time in their name.

    A named file is taken whatever its name; a directory is walked. A path that
    does not exist raises :class:`LicelpushError` (exit status 2).
    """
    found: list[DataFile] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.extend(_walk(path))
        elif path.is_file():
            parsed = parse_file_name(path.name)
            found.append(DataFile(path, parsed[1] if parsed else None))
        else:
            raise LicelpushError(f"{path}: no such file or directory")
    found.sort(key=lambda f: (f.when or datetime.min, str(f.path)))
    return found


def within(files: Sequence[DataFile], start: datetime | None, stop: datetime | None,
           margin: timedelta = timedelta(hours=1)) -> list[DataFile]:
    """Files whose name time lies within [start - margin, stop] (names without a time
    are kept: their records decide)."""
    def keep(f: DataFile) -> bool:
        if f.when is None:
            return True
        if start is not None and f.when < start - margin:
            return False
        return stop is None or f.when <= stop
    return [f for f in files if keep(f)]


def read_intact(path: Path) -> tuple[list[Record], DamagedFileError | None]:
    """Every intact record of the file and the damage after them (or None).

    An unreadable file is reported as damage at byte 0.
    """
    try:
        buf = path.read_bytes()
    except OSError as exc:
        return [], DamagedFileError(str(path), 0, f"cannot read: {exc.strerror or exc}")
    return scan_records(buf, str(path))


def utc_seconds(when: datetime) -> float:
    """POSIX seconds of a file time; a naive time is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time (``2026-05-13T21:00``, ``2026-05-13 21:00:00Z``, a date) as a
    naive UTC datetime; raises LicelpushError naming the accepted form."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise LicelpushError(f"time {text!r} is not ISO 8601 (e.g. 2026-05-13T21:00Z)") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when

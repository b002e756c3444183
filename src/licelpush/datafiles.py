"""Finding and streaming the Licel files of a station's output for the data products.

PATH arguments may be files or directories. Directories are walked
recursively (day folders such as ``2026/11/30``); files whose names are Licel
file names (:func:`licelpush.licelfile.parse_file_name`) are taken, other
files (journals, quarantine, plots) are ignored, and ``dark/`` folders are
skipped unless asked for (dark runs are read with ``--dark``). A file named
explicitly is always taken. Files are ordered by the time in their names,
records by their position in the file; only one file is held in memory at a
time.

The acquisition journals (``journal-<run>.jsonl``, :mod:`licelpush.journal`)
found in the walked directories and their parents up to the PATH (or, for a
day folder or ``dark/`` folder given as PATH, in the output directory above
it) give each record its run id, connection number and frame CRC-32.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from licelpush.errors import EXIT_DAMAGED_FILE, DamagedFileError, LicelpushError
from licelpush.layout import DARK_FOLDER
from licelpush.licelfile import Record, RecordHeader, parse_file_name, scan_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trace:
    """Where an acquisition came from, by the journal (``None`` fields: no journal entry)."""

    run: str | None = None
    connection: int | None = None
    crc32: int | None = None
    clipped: tuple[int, ...] | None = None
    """Bins flagged as clipped per dataset (zeros when the journal names none)."""


@dataclass(frozen=True, eq=False)
class SourceRecord:
    """One record with its file, its index in the file and its journal trace."""

    path: Path
    index: int
    record: Record
    trace: Trace


def _sort_key(path: Path) -> tuple[datetime, str]:
    parsed = parse_file_name(path.name)
    return (parsed[1] if parsed else datetime.max, str(path))


def find_licel_files(paths: Sequence[str | Path], *, skip_dark: bool = True) -> list[Path]:
    """The Licel files named by ``paths`` (files or directories), in time order.

    Raises :class:`LicelpushError` (exit status 2) for a path that does not exist.
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not (skip_dark and d == DARK_FOLDER))
                found.extend(Path(root) / f for f in files if parse_file_name(f))
        else:
            raise LicelpushError(f"{path}: no such file or directory")
    unique = {p.resolve(): p for p in found}
    return sorted(unique.values(), key=_sort_key)


def below_dark(path: Path, root: Path) -> bool:
    """Whether ``path`` lies in a ``dark/`` folder below the directory ``root``."""
    try:
        return root.is_dir() and DARK_FOLDER in path.relative_to(root).parts[:-1]
    except ValueError:  # not below root
        return False


def find_dark_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files of the dark measurement named by ``paths`` (``--dark``), in time order: of
    a directory with ``dark/`` folders below it (a station's output directory), only the
    files in them, never the measurement's; of others every Licel file."""
    found: list[Path] = []
    for item in paths:
        files = find_licel_files([item], skip_dark=False)
        found.extend([f for f in files if below_dark(f, Path(item))] or files)
    unique = {p.resolve(): p for p in found}
    return sorted(unique.values(), key=_sort_key)


JOURNAL_GLOB = "journal-*.jsonl"
LEVELS_ABOVE = 6
"""Folders above a PATH searched for the journal when none is found below it: a day
folder (``2026/11/30``, ``dark/2026/11/30``) lies that deep below the output directory."""


def _journal_dirs(files: Iterable[Path], roots: Sequence[str | Path]) -> list[Path]:
    """The directories of ``files`` and their parents up to (and including) the roots;
    where none of them holds a journal, also the nearest directory above that does (the
    output directory of a day folder or a ``dark/`` folder given as PATH)."""
    stops = {Path(r).resolve() if Path(r).is_dir() else Path(r).resolve().parent for r in roots}
    dirs: dict[Path, None] = {}
    has_journal: dict[Path, bool] = {}

    def holds(directory: Path) -> bool:
        if directory not in has_journal:
            has_journal[directory] = any(directory.glob(JOURNAL_GLOB))
        return has_journal[directory]

    for directory in {f.resolve().parent for f in files}:
        current, found = directory, False
        while True:
            dirs[current] = None
            found = found or holds(current)
            if current in stops or current.parent == current:
                break
            current = current.parent
        for _ in range(LEVELS_ABOVE):
            if found or current.parent == current:
                break
            current = current.parent
            if holds(current):
                dirs[current], found = None, True
    return list(dirs)


def load_traces(files: Sequence[Path], roots: Sequence[str | Path]) -> dict[tuple[str, int], Trace]:
    """``(file name, record index) -> Trace`` from the journals beside the files."""
    traces: dict[tuple[str, int], Trace] = {}
    local_runs: set[str] = set()
    for directory in _journal_dirs(files, roots):
        for journal in sorted(directory.glob(JOURNAL_GLOB)):
            run = journal.stem[len("journal-"):]
            try:
                # a running acquisition's journal ends in zero bytes of its reserve
                lines = journal.read_text(encoding="utf-8").rstrip("\0").splitlines()
            except OSError as exc:
                log.warning("%s: cannot read the journal: %s", journal, exc.strerror or exc)
                continue
            for number, line in enumerate(lines, 1):
                try:
                    event = json.loads(line) if line.strip() else {}
                except json.JSONDecodeError:
                    log.warning("%s line %d: not JSON, skipped", journal, number)
                    continue
                if event.get("event") == "start" and event.get("time_zone", "UTC") != "UTC":
                    local_runs.add(run)
                if event.get("event") != "acquisition" or "file" not in event:
                    continue
                clipped = event.get("clipped")
                traces[(Path(str(event["file"])).name, int(event.get("record", 0)))] = Trace(
                    run=run, connection=event.get("connection"), crc32=event.get("crc32"),
                    clipped=tuple(clipped) if clipped is not None else None,
                )
    _warn_local_time(traces, files, local_runs)
    return traces


def _warn_local_time(traces: dict[tuple[str, int], Trace], files: Sequence[Path],
                     local_runs: set[str]) -> None:
    """Warn once per run whose files (among ``files``) hold the computer's local time
    (``acquire --local-time``): the products take header times as UTC."""
    names = {f.name for f in files}
    for run in sorted(local_runs):
        if any(name in names and trace.run == run for (name, _), trace in traces.items()):
            log.warning("run %s wrote its files in the computer's local time, which is "
                        "taken as UTC here; 'licelpush split --rewrite --time-zone ZONE' "
                        "converts them to UTC", run)


def _fingerprint(record: Record) -> int:
    crc = zlib.crc32(record.header.name.encode("latin-1", "replace"))
    for values in record.data:
        crc = zlib.crc32(values.tobytes(), crc)
    return crc


@dataclass
class SplitCopies:
    """Recognises the one-record files that ``licelpush split`` wrote beside a file of
    several records (byte copies of its records 1…, named by their line-1 names), so that
    no acquisition is read twice. Files must come in time order: the copies of a file's
    records come after it and before the next file of several records, so only the
    records 1… of the last such file are remembered (memory stays bounded)."""

    seen: dict[str, int] = field(default_factory=dict)
    copies: int = 0

    def new_records(self, records: Sequence[Record]) -> list[tuple[int, Record]]:
        """(index, record) of a file's records, none when the file is such a copy."""
        if len(records) == 1:
            name = records[0].header.name
            if name in self.seen and self.seen[name] == _fingerprint(records[0]):
                self.copies += 1
                return []
        if len(records) > 1:
            self.seen = {r.header.name: _fingerprint(r) for r in records[1:]}
        return list(enumerate(records))


@dataclass
class RecordStream:
    """Iterates over the records of ``files`` between ``first`` and ``last`` (start
    times, UTC, ``last`` excluded); damaged files are reported, their intact records
    kept, and :attr:`status` becomes EXIT_DAMAGED_FILE."""

    files: Sequence[Path]
    first: datetime | None = None
    last: datetime | None = None
    traces: dict[tuple[str, int], Trace] = field(default_factory=dict)
    status: int = 0
    damaged: list[str] = field(default_factory=list)
    split: SplitCopies = field(default_factory=SplitCopies)

    def __iter__(self) -> Iterator[SourceRecord]:
        for path in self.files:
            try:
                buf = path.read_bytes()
            except OSError as exc:
                raise LicelpushError(f"{path}: cannot read: {exc.strerror or exc}") from None
            records, error = scan_records(buf, str(path))
            if error is not None:
                log.warning("damaged: %s (its %d intact record(s) are used)", error.message,
                            len(records))
                self.damaged.append(error.message)
                self.status = EXIT_DAMAGED_FILE
            for index, record in self.split.new_records(records):
                start = record.header.start
                if (self.first is not None and start < self.first) or (
                        self.last is not None and start >= self.last):
                    continue
                trace = self.traces.get((path.name, index), Trace())
                yield SourceRecord(path, index, record, trace)


# ------------------------------------------------------------------ looking at the data


@dataclass(frozen=True)
class DataFile:
    """A Licel file and the time in its name (for quicklooks and the monitor)."""

    path: Path
    when: datetime | None
    """Time from the file name (naive, as written); None when the name is not a Licel name."""


def find_data_files(paths: Sequence[str | Path]) -> list[DataFile]:
    """:func:`find_licel_files` with the time of each file's name, in time order."""
    found = []
    for path in find_licel_files(paths):
        parsed = parse_file_name(path.name)
        found.append(DataFile(path, parsed[1] if parsed else None))
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
    """Every intact record of the file and the damage after them (or None); an
    unreadable file is reported as damage at byte 0."""
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


NAME_TIME_TOLERANCE_S = 1.0
"""Largest difference between the time of a record's name and its start for the name
to stand for the start (the header's start has whole seconds only)."""


def record_seconds(header: RecordHeader) -> float:
    """POSIX seconds of a record's start: the time of its name on line 1, which keeps the
    centiseconds, where that is the start; else the header's start (the vendor's
    software names a file by the end of its acquisition)."""
    start = utc_seconds(header.start)
    named = parse_file_name(header.name)
    if named is not None and abs(utc_seconds(named[1]) - start) < NAME_TIME_TOLERANCE_S:
        return utc_seconds(named[1])
    return start

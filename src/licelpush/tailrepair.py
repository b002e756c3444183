"""Licel data files already on disk (IO edge): read them mapped, repair a cut tail.

Spec: docs/ACQUIRE.md ("Durability"). :func:`map_file` gives the bytes of a
regular file without loading it, so memory stays bounded whatever its size.
:func:`repair_tails` runs when ``acquire`` starts in a directory: a run killed
while writing (SIGKILL, power cut) can leave its last data file ending in part
of a record; the part is cut off, kept in the new run's quarantine file and
journalled, so that every file under a data-file name is whole again before
anything new is acquired.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from licelpush.errors import OutputError
from licelpush.events import RepairEvent
from licelpush.journal import Journal, QuarantineFile
from licelpush.licelfile import parse_file_name, scan_records

log = logging.getLogger(__name__)

REPAIR_NEWEST = 8
"""Data files checked at a start: the most recently modified ones. Only the file
being written when a run was killed can end in a partial record."""
JOURNAL_TAIL_BYTES = 65536
"""Bytes read from the end of a previous journal to find the folders it wrote into."""


class NotARegularFileError(Exception):
    """A named file is a FIFO, a device, a directory or a socket."""


def map_file(path: Path) -> bytes | mmap.mmap:
    """The bytes of the regular file at ``path``, mapped read-only (``b""`` when empty).

    Anything but a regular file is refused before it is opened (a FIFO would
    block, ``/dev/zero`` never ends): :class:`NotARegularFileError`.
    """
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")
        raise NotARegularFileError(f"not a regular file ({kind}); Licel data files are "
                                   "regular files")
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            return b""
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


def _newest_data_files(folders: list[Path], count: int) -> list[Path]:
    found: list[tuple[int, str]] = []
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if parse_file_name(entry.name) and entry.is_file(follow_symlinks=False):
                        found.append((entry.stat().st_mtime_ns, entry.path))
        except OSError as exc:
            log.debug("%s: not checked for partial records: %s", folder, exc)
    return [Path(path) for _, path in sorted(found, reverse=True)[:count]]


def journalled_folders(directory: Path, journals: int = 2,
                       tail_bytes: int = JOURNAL_TAIL_BYTES) -> list[Path]:
    """The folders (below ``directory``) of the data files that the newest ``journals``
    journals in ``directory`` name last: where a run with ``--layout`` or ``--dark``
    wrote when it was killed."""
    folders: dict[Path, None] = {}
    for path in sorted(directory.glob("journal-*.jsonl"))[-journals:]:
        try:
            with path.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - tail_bytes))
                tail = f.read(tail_bytes)
        except OSError:
            continue
        for line in tail.split(b"\n"):
            name = _journalled_file(line)
            if name is not None:
                folders[(directory / name).parent] = None
    return list(folders)


def _journalled_file(line: bytes) -> str | None:
    """The relative data-file path of a journal line, when it names a safe one."""
    if b'"file"' not in line:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    name = event.get("file") if isinstance(event, dict) else None
    if event.get("event") not in ("acquisition", "repair") or not isinstance(name, str):
        return None
    parts = PurePosixPath(name).parts
    return None if PurePosixPath(name).is_absolute() or ".." in parts else name


def _whole_length(buf: bytes | mmap.mmap, source: str) -> tuple[int, str] | None:
    """(bytes of whole records, why the rest is not one) or None for an intact file.
    Nothing that views ``buf`` outlives this call."""
    records, error = scan_records(buf, source)
    if error is None:
        return None
    return (records[-1].offset + records[-1].length if records else 0), error.message


def _tail(path: Path) -> tuple[int, bytes, str] | None:
    """(bytes of whole records, the bytes after them, why) for a file whose end is not
    a whole record; None for an intact file."""
    buf = map_file(path)
    try:
        found = _whole_length(buf, str(path))
        return None if found is None else (found[0], bytes(buf[found[0]:]), found[1])
    finally:
        if isinstance(buf, mmap.mmap):
            try:
                buf.close()  # before the file is cut (Windows cannot cut a mapped file)
            except BufferError:  # pragma: no cover - a view still alive; freed with it
                log.debug("%s: mapping closed when its last view goes", path)


def repair_tails(directory: Path, journal: Journal, quarantine: QuarantineFile,
                 newest: int = REPAIR_NEWEST, folders: Iterable[Path] = ()) -> list[Path]:
    """Cut the partial record off the newest data files of ``directory`` and of
    ``folders`` (sub-folders of a layout, see :func:`journalled_folders`); returns the
    files repaired. Each cut goes to ``quarantine`` and gets a ``repair`` event
    (``file``, ``kept_bytes``, ``cut_bytes``, ``quarantine_offset``, ``reason``,
    ``removed`` when no whole record was left and the file was deleted)."""
    if not directory.is_dir():
        return []
    repaired = []
    candidates = list(dict.fromkeys([directory, *folders]))
    for path in _newest_data_files(candidates, newest):
        try:
            tail = _tail(path)
        except (OSError, NotARegularFileError, ValueError) as exc:
            log.warning("%s: not checked: %s", path, exc)
            continue
        if tail is None:
            continue
        keep, cut, reason = tail
        offset = quarantine.append(cut)
        journal.write(RepairEvent(file=path.relative_to(directory).as_posix(), kept_bytes=keep,
                                  cut_bytes=len(cut), quarantine=quarantine.path.name,
                                  quarantine_offset=offset, reason=reason, removed=keep == 0))
        _cut(path, keep)
        log.warning("%s: ended in %d bytes of a partial record (%s); cut off into %s",
                    path, len(cut), reason, quarantine.path.name)
        repaired.append(path)
    return repaired


def _cut(path: Path, keep: int) -> None:
    """Truncate ``path`` to ``keep`` bytes (delete it when 0), durably."""
    try:
        if keep == 0:
            path.unlink()
            return
        with path.open("r+b") as file:
            file.truncate(keep)
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        raise OutputError(f"{path}: cannot cut the partial record off: "
                          f"{exc.strerror or exc}") from exc

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

import logging
import mmap
import os
import stat
from pathlib import Path

from licelpush.errors import OutputError
from licelpush.events import RepairEvent
from licelpush.journal import Journal, QuarantineFile
from licelpush.licelfile import parse_file_name, scan_records

log = logging.getLogger(__name__)

REPAIR_NEWEST = 8
"""Data files checked at a start: the most recently modified ones. Only the file
being written when a run was killed can end in a partial record."""


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


def _newest_data_files(directory: Path, count: int) -> list[Path]:
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if parse_file_name(entry.name) and entry.is_file(follow_symlinks=False):
                found.append((entry.stat().st_mtime_ns, entry.name))
    return [directory / name for _, name in sorted(found, reverse=True)[:count]]


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
                 newest: int = REPAIR_NEWEST) -> list[Path]:
    """Cut the partial record off the newest data files of ``directory``; returns the
    files repaired. Each cut goes to ``quarantine`` and gets a ``repair`` event
    (``file``, ``kept_bytes``, ``cut_bytes``, ``quarantine_offset``, ``reason``,
    ``removed`` when no whole record was left and the file was deleted)."""
    if not directory.is_dir():
        return []
    repaired = []
    for path in _newest_data_files(directory, newest):
        try:
            tail = _tail(path)
        except (OSError, NotARegularFileError, ValueError) as exc:
            log.warning("%s: not checked: %s", path, exc)
            continue
        if tail is None:
            continue
        keep, cut, reason = tail
        offset = quarantine.append(cut)
        journal.write(RepairEvent(file=path.name, kept_bytes=keep, cut_bytes=len(cut),
                                  quarantine=quarantine.path.name, quarantine_offset=offset,
                                  reason=reason, removed=keep == 0))
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

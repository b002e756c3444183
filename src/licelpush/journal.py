"""The acquisition journal and the quarantine file (IO edge: append-only files).

The journal ``<output>/journal-<run>.jsonl`` is the station's record of what
an acquisition run received, saved, skipped and why (issue "MPUSH
acquisition", section "Decoding and saving"): one JSON object per line, each
with an ``event`` field and the UTC time ``utc`` it was written. The events
and their fields are the dataclasses of :mod:`licelpush.events` (``repair``,
``start``, ``connect``, ``acquisition``, ``quarantine``, ``abandon``,
``timestamp_order``, ``clock_drift``, ``reconnect``, ``disk``, ``schedule``,
``stop``); docs/ACQUIRE.md lists them for users. Data file names in it are
relative to the output directory (``/``-separated: a bare name unless
``--layout`` or ``--dark``).

The quarantine file ``<output>/quarantine-<run>.bin`` holds the quarantined
bytes back to back, exactly as received; it is created with the first
quarantine. Both files are written with one ``write`` per line/span and
fsynced at most ``sync_interval`` seconds after a write and on close, like
the data files.

A full disk never cuts the journal (docs/ACQUIRE.md, "Durability"): a line is
written whole or not at all, and the journal keeps :data:`JOURNAL_RESERVE`
bytes allocated beyond its last line (zero bytes, cut off on close). When the
disk is full the line goes into that reserve and the write raises
:class:`OutputError`, so the run stops, and the ``stop`` event still has room.
A journal left by a killed run may end in zero bytes of its reserve;
:func:`scan_journal` reads them as the unused reserve, and anything else that
is not a whole JSON line as damage with its byte offset.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from licelpush.errors import DamagedFileError, OutputError
from licelpush.events import Event
from licelpush.platform import CREATE_FLAGS

log = logging.getLogger(__name__)


def utc_now_text(now: datetime | None = None) -> str:
    """ISO 8601 UTC time with milliseconds and ``Z``."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return (f"{now.year:04d}-{now.month:02d}-{now.day:02d}T{now.hour:02d}:{now.minute:02d}:"
            f"{now.second:02d}.{now.microsecond // 1000:03d}Z")


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)


JOURNAL_RESERVE = 64 * 1024
"""Bytes the journal keeps allocated beyond its last line for the lines of a
stop on a full disk (the last acquisition, the abandon and the stop event)."""


def _write_at(fd: int, offset: int, data: bytes | memoryview) -> int:
    """Write ``data`` at ``offset``; returns the bytes written before an error (which
    is raised with ``written`` set on the exception)."""
    view = memoryview(data)
    written = 0
    os.lseek(fd, offset, os.SEEK_SET)
    try:
        while written < len(view):
            n = os.write(fd, view[written:])
            if n <= 0:
                raise OSError(errno.EIO, "write returned 0 bytes")
            written += n
    except OSError as exc:
        exc.written = written  # type: ignore[attr-defined]
        raise
    return written


class AppendFile:
    """An exclusive file written only at its end, one ``os.write`` per call where the
    system allows; a write that fails part-way is cut back (whole or not at all)."""

    def __init__(self, path: Path, sync_interval: float = 1.0) -> None:
        self.path = path
        self.sync_interval = sync_interval
        self._unsynced_since: float | None = None
        self.size = 0
        try:
            self._fd: int | None = os.open(path, CREATE_FLAGS, 0o644)
        except OSError as exc:
            raise OutputError(f"{path}: cannot create file: {_reason(exc)}") from exc

    def append(self, data: bytes | memoryview) -> int:
        """Append ``data``; returns the offset where it starts."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        offset = self.size
        view = memoryview(data)
        try:
            _write_at(self._fd, offset, view)
        except OSError as exc:
            written = getattr(exc, "written", 0)
            if written:  # whole or not at all
                try:
                    os.ftruncate(self._fd, offset)
                except OSError:
                    pass
            raise OutputError(
                f"{self.path}: writing {len(view)} bytes failed after {written}: {_reason(exc)}"
                + ("; cut back" if written else "")
            ) from exc
        self.size += len(view)
        if self._unsynced_since is None:
            self._unsynced_since = time.monotonic()
        return offset

    def sync_if_due(self, now: float | None = None) -> bool:
        """fsync when data written ``sync_interval`` seconds ago or earlier is unsynced."""
        if self._unsynced_since is None or self._fd is None:
            return False
        now = time.monotonic() if now is None else now
        if now - self._unsynced_since < self.sync_interval:
            return False
        self.sync()
        return True

    def sync(self) -> None:
        """fsync now (if anything is unsynced)."""
        if self._fd is None or self._unsynced_since is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(f"{self.path}: fsync failed: {_reason(exc)}") from exc
        self._unsynced_since = None

    def close(self) -> None:
        """Sync and close. Idempotent."""
        if self._fd is None:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None


class ReservedLineFile(AppendFile):
    """An :class:`AppendFile` of whole lines that keeps ``reserve`` bytes allocated
    (zeros) beyond its last line, for the lines written once the disk is full."""

    def __init__(self, path: Path, sync_interval: float = 1.0,
                 reserve: int = JOURNAL_RESERVE) -> None:
        super().__init__(path, sync_interval)
        self.reserve = reserve
        self.allocated = 0
        """Bytes of the file on disk: the lines, then zeros."""
        self.in_reserve = False
        """True once the disk was full: lines now go into the reserve."""
        self._allocate(reserve)

    def _allocate(self, wanted_end: int) -> None:
        """Extend the zeros up to ``wanted_end``; on a full disk keep what was allocated."""
        assert self._fd is not None
        if wanted_end <= self.allocated:
            return
        try:
            _write_at(self._fd, self.allocated, bytes(wanted_end - self.allocated))
            self.allocated = wanted_end
        except OSError as exc:
            self.allocated += getattr(exc, "written", 0)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise OutputError(f"{self.path}: cannot extend: {_reason(exc)}") from exc
            self.in_reserve = True

    def append(self, data: bytes | memoryview) -> int:
        """Append one line; when the disk is full, into the reserve (then raise
        :class:`OutputError` once, so that the run stops); a line that does not fit
        even there is not written at all."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        view = memoryview(data)
        end = self.size + len(view)
        entering = not self.in_reserve
        if not self.in_reserve and end + self.reserve > self.allocated:
            # grow in steps of the reserve, not per line
            self._allocate(max(end + self.reserve, self.allocated + self.reserve))
        if end > self.allocated:
            raise OutputError(f"{self.path}: disk full and the journal's reserve is used up; "
                              f"a line of {len(view)} bytes was not written")
        offset = super().append(view)
        if self.in_reserve and entering:
            raise OutputError(f"{self.path}: disk full; the journal now writes into its "
                              f"reserve ({self.allocated - self.size} bytes left)")
        return offset

    def close(self) -> None:
        """Cut the unused reserve, sync and close. Idempotent."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self.size)
        except OSError as exc:
            log.error("%s: cannot cut the unused reserve: %s", self.path, _reason(exc))
        super().close()


class Journal:
    """JSON Lines journal of one run (see the module docstring for the events)."""

    def __init__(self, path: Path, sync_interval: float = 1.0,
                 reserve: int = JOURNAL_RESERVE) -> None:
        self._file = ReservedLineFile(path, sync_interval, reserve)
        self.path = path

    def write(self, event: Event | str, utc: str | None = None, **fields: Any) -> None:
        """Append one event line (``utc``: the time to record, default now).

        ``event`` is a typed event of :mod:`licelpush.events`; a kind name with
        its ``fields`` as keywords is accepted for tools that write free-form lines.
        Raises :class:`OutputError` when the disk is full: the first time after
        writing the line into the reserve, later only for a line that does not fit.
        """
        if isinstance(event, Event):
            kind, fields = event.KIND, event.fields()
        else:
            kind = event
        record = {"event": kind, "utc": utc or utc_now_text()}
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        self._file.append(line.encode("utf-8"))

    def sync_if_due(self, now: float | None = None) -> bool:
        return self._file.sync_if_due(now)

    def sync(self) -> None:
        self._file.sync()

    def close(self) -> None:
        self._file.close()


class QuarantineFile:
    """``quarantine-<run>.bin``: quarantined bytes back to back, created on first use."""

    def __init__(self, path: Path, sync_interval: float = 1.0) -> None:
        self.path = path
        self.sync_interval = sync_interval
        self._file: AppendFile | None = None

    @property
    def size(self) -> int:
        return 0 if self._file is None else self._file.size

    def append(self, data: bytes | memoryview) -> int:
        """Append quarantined bytes; returns their offset in the file."""
        if self._file is None:
            self._file = AppendFile(self.path, self.sync_interval)
        return self._file.append(data)

    def sync_if_due(self, now: float | None = None) -> bool:
        return False if self._file is None else self._file.sync_if_due(now)

    def sync(self) -> None:
        if self._file is not None:
            self._file.sync()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


MAX_JOURNAL_LINE = 1 << 20
"""Longest journal line read (bytes); a longer one is damage."""


def scan_journal(path: str | Path) -> tuple[list[dict[str, Any]], DamagedFileError | None]:
    """Every whole event of a journal file, in order, and the damage that ends it (or None).

    Zero bytes after the last line are the unused reserve of a run that was
    killed (not damage). Anything else that is not a whole JSON object line —
    half a line, bytes that are not JSON — is damage at its byte offset.
    """
    events: list[dict[str, Any]] = []
    offset = 0
    with open(path, "rb") as f:
        while True:
            line = f.readline(MAX_JOURNAL_LINE + 1)
            if not line:
                return events, None
            if not line.strip(b"\0"):
                if not f.read().strip(b"\0"):
                    return events, None  # the unused reserve
                return events, DamagedFileError(str(path), offset, "zero bytes inside the "
                                                "journal")
            damage = _line_damage(line)
            if damage is not None:
                return events, DamagedFileError(str(path), offset, damage)
            if line.strip():
                events.append(json.loads(line))
            offset += len(line)


def _line_damage(line: bytes) -> str | None:
    """Why ``line`` is not one whole journal line (None when it is)."""
    if not line.endswith(b"\n"):
        if len(line) > MAX_JOURNAL_LINE:
            return f"a line longer than {MAX_JOURNAL_LINE} bytes"
        return f"the last line is cut off after {len(line)} bytes (no line end)"
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"not a JSON line: {exc}"
    return None if isinstance(value, dict) else "not a JSON object"


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every event of a journal file, in order; raises :class:`DamagedFileError`
    (exit 4, with the byte offset) when the journal is damaged (see :func:`scan_journal`)."""
    events, damage = scan_journal(path)
    if damage is not None:
        raise damage
    return events

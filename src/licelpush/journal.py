"""The acquisition journal and the quarantine file (IO edge: append-only files).

The journal ``<output>/journal-<run>.jsonl`` is the station's record of what
an acquisition run received, saved, skipped and why (issue "MPUSH
acquisition", section "Decoding and saving"): one JSON object per line, each
with an ``event`` field and the UTC time ``utc`` it was written. Events:

``start``
    run id, configuration path, controller address, shots, acquisitions
    requested, records per file, MPUSH command, frame length, controller IDN,
    timestamp byte order, recorders and their ``TRTYPE?`` description.
``connect``
    a push connection was (re)opened: ``connection`` number, local and
    remote addresses, IDN, MPUSH command, frame length.
``acquisition``
    one saved acquisition: ``n`` (1, 2, ...), ``file`` (path relative to the
    output directory, ``/``-separated: a bare name unless ``--layout`` or
    ``--dark``), ``record`` (index in the file), ``timestamp`` (controller ms),
    ``crc32`` (zlib CRC-32 of the frame from ``FF FF`` through its last data
    word), ``shots`` (true shots per dataset, in file order), ``received_utc``,
    ``connection``, ``stream_offset`` (byte offset of the frame in its
    connection's stream), ``clipped`` (bins flagged as clipped per dataset, only
    when a dataset clipped).
``quarantine``
    bytes that are not part of an accepted frame: ``offset`` and ``length`` in
    the quarantine file, ``reason``, ``connection``, ``stream_offset``;
    ``surplus`` is true for bytes received after the last wanted acquisition.
``abandon``
    a connection given up: ``connection``, ``reason``, ``received_bytes`` (all
    of which are accounted for in acquisitions and quarantines), ``frames``.
``reconnect``
    one reconnection attempt: ``attempt``, ``delay_s`` waited before it,
    ``outcome`` (``ok`` or ``failed``) and the ``error`` when it failed.
``disk``
    the disk guard: ``state`` (``low``: below twice ``--min-free``; ``stop``:
    below it, the run stops), ``free_bytes``, ``limit_bytes``, ``message``.
``schedule``
    ``outcome`` ``waiting`` (outside the ``--schedule``; the controller rests
    in SLAVE until ``next_window_utc``) or ``open`` (a window opened).
``stop``
    the end of the run: ``reason`` and the summary numbers.

The quarantine file ``<output>/quarantine-<run>.bin`` holds the quarantined
bytes back to back, exactly as received; it is created with the first
quarantine. Both files are written with one ``write`` per line/span and
fsynced at most ``sync_interval`` seconds after a write and on close, like
the data files.
"""

from __future__ import annotations

import errno
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from licelpush.errors import OutputError


def utc_now_text(now: datetime | None = None) -> str:
    """ISO 8601 UTC time with milliseconds and ``Z``."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return (f"{now.year:04d}-{now.month:02d}-{now.day:02d}T{now.hour:02d}:{now.minute:02d}:"
            f"{now.second:02d}.{now.microsecond // 1000:03d}Z")


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)


class AppendFile:
    """An exclusive, append-only file written with one ``os.write`` per call."""

    def __init__(self, path: Path, sync_interval: float = 1.0) -> None:
        self.path = path
        self.sync_interval = sync_interval
        self._unsynced_since: float | None = None
        self.size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd: int | None = os.open(path, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"{path}: cannot create file: {_reason(exc)}") from exc

    def append(self, data: bytes | memoryview) -> int:
        """Append ``data``; returns the offset where it starts."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        offset = self.size
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                n = os.write(self._fd, view[written:])
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0 bytes")
                written += n
        except OSError as exc:
            raise OutputError(
                f"{self.path}: writing {len(view)} bytes failed after {written}: {_reason(exc)}"
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


class Journal:
    """JSON Lines journal of one run (see the module docstring for the events)."""

    def __init__(self, path: Path, sync_interval: float = 1.0) -> None:
        self._file = AppendFile(path, sync_interval)
        self.path = path

    def write(self, event: str, utc: str | None = None, **fields: Any) -> None:
        """Append one event line (``utc``: the time to record, default now)."""
        record = {"event": event, "utc": utc or utc_now_text()}
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


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every event of a journal file, in order (for tests and tools)."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                events.append(json.loads(line))
    return events

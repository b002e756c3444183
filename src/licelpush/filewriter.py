"""Durable writer of Licel raw data files (the IO edge of :mod:`licelpush.licelfile`).

Guarantees (``docs/spec/LICEL_FILE_FORMAT.md``, "Several records in one file"):

- each record reaches the OS as one complete ``writev`` of its header and
  data buffers (no copy of the data; partial writes are continued); if
  writing fails (disk full, I/O error) the file is truncated back to its size
  before the record, so no half record is ever left, and
  :class:`~licelpush.errors.OutputError` names the file and the OS reason;
  a process crash after the write returns loses nothing (the data are in the
  OS);
- a new file never overwrites or collides with an existing one: it is created
  with ``O_CREAT | O_EXCL`` and, when the name is taken, the time in the name
  is moved on in 10 ms steps to the next free name; the record's line 1 is
  set to the name actually used;
- ``records_per_file`` records go into one file, then a new file is started;
- data, finished files and the directory entries of new files are fsync'ed
  by a background thread at most ``sync_interval`` seconds after being
  written (:meth:`RecordWriter.sync_if_due`, called by the acquisition loop
  even when idle) and before :meth:`RecordWriter.close` returns, so a power
  cut loses at most the last interval. The fsyncs overlap the next
  acquisitions instead of stalling them; when the disk falls behind, at most
  :data:`MAX_SYNC_BATCHES` batches wait and the writer then waits for the
  disk, so the lag stays bounded. Files finished in between are kept open
  until their batch (at most :data:`MAX_PENDING_FILES`).
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType

from licelpush.errors import OutputError
from licelpush.licelfile import (
    HeaderEncoder,
    Record,
    file_name,
    next_name,
    record_buffers,
    replace_name,
)
from licelpush.limits import MAX_LISTED_FILES

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 100_000
"""How many 10 ms steps are tried to find a free file name."""
_EPOCH = datetime(2000, 1, 1)
MAX_PENDING_FILES = 128
"""Finished files awaiting their batched fsync before a batch is started early."""
MAX_SYNC_BATCHES = 2
"""fsync batches queued for the background thread before the writer waits for the disk."""
IOV_MAX = 1024
"""Buffers one ``writev`` may take (POSIX minimum is 16; Linux has 1024)."""


def _reason(exc: OSError) -> str:
    return exc.strerror or (errno.errorcode.get(exc.errno or 0, "") or str(exc))


def _usable_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name \
        and "\0" not in name


class RecordWriter:
    """Writes records into Licel files in ``directory``.

    Use as a context manager or call :meth:`close`. Not thread-safe.
    """

    def __init__(
        self,
        directory: Path | str,
        prefix: str,
        records_per_file: int = 1,
        sync_interval: float = 1.0,
        controller_timestamp: bool = False,
    ) -> None:
        if records_per_file < 1:
            raise ValueError(f"records_per_file must be >= 1, got {records_per_file}")
        if sync_interval < 0:
            raise ValueError(f"sync_interval must be >= 0, got {sync_interval}")
        file_name(prefix, _EPOCH)  # validates the prefix
        self.directory = Path(directory)
        self.prefix = prefix
        self.records_per_file = records_per_file
        self.sync_interval = sync_interval
        self.controller_timestamp = controller_timestamp
        self._encoder = HeaderEncoder(controller_timestamp=controller_timestamp)
        self._files: collections.deque[Path] = collections.deque(maxlen=MAX_LISTED_FILES)
        self.file_count = 0
        """Files created so far."""
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._count = 0
        self._unsynced_since: float | None = None
        """monotonic time of the oldest write, file or directory entry not yet synced."""
        self._pending: list[tuple[int, Path]] = []
        """Descriptors awaiting the next fsync batch (finished files, or a duplicate
        of the current one); the batch closes them."""
        self._directory_dirty = False
        self._syncer = _Syncer(self.directory)
        self._closed = False
        try:
            if self.directory.exists() and not self.directory.is_dir():
                raise OutputError(f"output directory {self.directory}: not a directory")
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"output directory {self.directory}: cannot create it: {_reason(exc)}"
            ) from exc
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise OutputError(f"output directory {self.directory}: not writable")

    # ------------------------------------------------------------------ public API

    @property
    def files(self) -> list[Path]:
        """Files created so far, in order (the last :data:`MAX_LISTED_FILES`)."""
        return list(self._files)

    def write(self, record: Record) -> tuple[Path, int]:
        """Write one record; returns (file path, index of the record in that file).

        The first record of a file gets the file's actual name on line 1.
        """
        self._check_open()
        if self._fd is None or self._count >= self.records_per_file:
            wanted = record.header.name
            if not _usable_name(wanted):
                wanted = file_name(self.prefix, record.header.start)
            name = self._open_new_file(wanted, record)
            if name != record.header.name:
                record = dataclasses.replace(
                    record, header=dataclasses.replace(record.header, name=name)
                )
        return self._append(record_buffers(record, encoder=self._encoder))

    def write_raw(self, raw: bytes, name: str) -> tuple[Path, int]:
        """Write already encoded record bytes (e.g. sliced from another file).

        ``name`` is the record's line-1 name; when the record starts a new file
        and the name had to change, line 1 of ``raw`` is rewritten to match.
        """
        self._check_open()
        if self._fd is None or self._count >= self.records_per_file:
            wanted = name if _usable_name(name) else file_name(self.prefix, datetime.now())
            actual = self._open_new_file(wanted, None)
            if actual != name:
                raw = replace_name(raw, actual)
        return self._append([raw])

    def sync_if_due(self, now: float | None = None) -> bool:
        """Start an fsync batch if data written ``sync_interval`` seconds ago or
        earlier is not yet synced. ``now`` is a ``time.monotonic()`` value.
        Returns whether a batch was started (:meth:`wait_synced` waits for it).
        Raises :class:`OutputError` when an earlier batch failed."""
        self._syncer.raise_error()
        if self._unsynced_since is None:
            return False
        now = time.monotonic() if now is None else now
        if now - self._unsynced_since < self.sync_interval:
            return False
        self._sync_all()
        return True

    def wait_synced(self) -> None:
        """Wait until every batch started so far is on disk; raise its error if any."""
        self._syncer.wait()

    def close(self) -> None:
        """Sync everything and close the current file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_file()
        finally:
            try:
                self._sync_all()
                self._syncer.wait()
            finally:
                self._syncer.stop()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("RecordWriter is closed")

    def _open_new_file(self, wanted: str, record: Record | None) -> str:
        """Close the current file and create a new one with a free name."""
        self._close_file()
        name = wanted
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(MAX_NAME_ATTEMPTS):
            path = self.directory / name
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                base = record.header.start if record is not None else datetime.now()
                bumped = next_name(name) or file_name(self.prefix, base)
                log.debug("%s exists, trying %s", path, bumped)
                name = bumped
                continue
            except OSError as exc:
                raise OutputError(f"{path}: cannot create file: {_reason(exc)}") from exc
            break
        else:
            raise OutputError(
                f"{self.directory}: no free file name after {MAX_NAME_ATTEMPTS} tries from {wanted}"
            )
        self._fd, self._path, self._size, self._count = fd, path, 0, 0
        self._files.append(path)
        self.file_count += 1
        self._directory_dirty = True
        self._mark_unsynced()
        log.debug("created %s", path)
        return name

    def _append(self, buffers: list[bytes | memoryview]) -> tuple[Path, int]:
        assert self._fd is not None and self._path is not None
        fd, path, before = self._fd, self._path, self._size
        total = sum(len(b) for b in buffers)
        try:
            _write_all(fd, buffers, total)
        except OSError as exc:
            written = getattr(exc, "licelpush_written", 0)
            self._undo(fd, path, before)
            raise OutputError(
                f"{path}: writing a record of {total} bytes failed after {written} bytes: "
                f"{_reason(exc)}; file truncated back to {before} bytes"
            ) from exc
        self._size = before + total
        index = self._count
        self._count += 1
        self._mark_unsynced()
        self.sync_if_due()
        return path, index

    def _undo(self, fd: int, path: Path, size: int) -> None:
        """Remove a partly written record; a file left empty is deleted."""
        try:
            os.ftruncate(fd, size)
            os.lseek(fd, size, os.SEEK_SET)
        except OSError as exc:
            log.error("%s: could not truncate back to %d bytes: %s", path, size, _reason(exc))
            return
        if size == 0 and self._count == 0:
            os.close(fd)
            self._fd, self._path = None, None
            try:
                os.unlink(path)
            except OSError as exc:
                log.error("%s: could not remove the empty file: %s", path, _reason(exc))
            else:
                self._files.remove(path)
                self.file_count -= 1
                self._directory_dirty = True
                self._mark_unsynced()

    def _mark_unsynced(self) -> None:
        if self._unsynced_since is None:
            self._unsynced_since = time.monotonic()

    def _sync_all(self) -> None:
        """Hand everything unsynced to the background thread as one batch."""
        batch, self._pending = self._pending, []
        if self._fd is not None and self._unsynced_since is not None:
            try:
                batch.append((os.dup(self._fd), self._path or self.directory))
            except OSError as exc:
                raise OutputError(f"{self._path}: cannot prepare fsync: {_reason(exc)}") from exc
        directory, self._directory_dirty = self._directory_dirty, False
        self._unsynced_since = None
        if batch or directory:
            self._syncer.submit(batch, directory)

    def _close_file(self) -> None:
        """Finish the current file; its fsync joins the next batched sync."""
        if self._fd is None:
            return
        assert self._path is not None
        self._pending.append((self._fd, self._path))
        self._fd = None
        if len(self._pending) >= MAX_PENDING_FILES:
            self._sync_all()


def _write_all(fd: int, buffers: Sequence[bytes | memoryview], total: int) -> int:
    """One ``writev`` of all buffers (continued after a partial write); returns ``total``.

    An ``OSError`` carries the bytes written before it as ``licelpush_written``.
    """
    views = [memoryview(b).cast("B") for b in buffers]
    if len(views) > IOV_MAX:
        views = [memoryview(b"".join(views))]
    written = 0
    try:
        while written < total:
            n = os.writev(fd, views)
            if n <= 0:
                raise OSError(errno.EIO, "write returned 0 bytes")
            written += n
            while n and views:  # drop what was written, keep the rest
                if n >= len(views[0]):
                    n -= len(views[0])
                    views.pop(0)
                else:
                    views[0] = views[0][n:]
                    n = 0
    except OSError as exc:
        exc.licelpush_written = written  # type: ignore[attr-defined]
        raise
    return written


def _sync_directory(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        log.warning("%s: cannot open directory to fsync it: %s", directory, _reason(exc))
        return
    try:
        os.fsync(dfd)
    except OSError as exc:
        log.warning("%s: directory fsync failed: %s", directory, _reason(exc))
    finally:
        os.close(dfd)


class _Syncer:
    """The background thread that fsyncs batches of descriptors (and closes them)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._queue: queue.Queue[tuple[list[tuple[int, Path]], bool] | None] = queue.Queue(
            maxsize=MAX_SYNC_BATCHES)
        self._error: OutputError | None = None
        self._thread: threading.Thread | None = None

    def submit(self, batch: list[tuple[int, Path]], directory: bool) -> None:
        """Queue a batch (waits while :data:`MAX_SYNC_BATCHES` are queued)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="licelpush-fsync",
                                            daemon=True)
            self._thread.start()
        self._queue.put((batch, directory))

    def wait(self) -> None:
        """Wait for every queued batch; raise the first fsync error."""
        if self._thread is not None:
            self._queue.join()
        self.raise_error()

    def raise_error(self) -> None:
        """Raise (once) an error a batch met."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def stop(self) -> None:
        """End the thread after the queued batches."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                batch, directory = item
                for fd, path in batch:
                    try:
                        os.fsync(fd)
                    except OSError as exc:
                        self._error = self._error or OutputError(
                            f"{path}: fsync failed: {_reason(exc)}")
                    finally:
                        os.close(fd)
                if directory:
                    _sync_directory(self._directory)
            finally:
                self._queue.task_done()

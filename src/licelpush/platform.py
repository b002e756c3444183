"""Every operating-system specific call of licelpush, with a POSIX and a portable form (IO edge).

The rest of the package calls only this module for: writing a record's buffers
(``os.writev`` on POSIX, one ``os.write`` of the joined record elsewhere),
making new directory entries durable (``fsync`` of the directory on POSIX;
Windows has no directory handles for that and its file systems journal
their metadata), the free space of a file system, the flags that create a
file (``O_BINARY`` on Windows, so no newline is ever translated), replacing a
file atomically, the signals that stop a run (Ctrl-Break's ``SIGBREAK`` where
it exists) and the systemd notification socket (``AF_UNIX``).
``tests/test_platform.py`` fails when another module makes such a call.

:data:`CURRENT` is chosen once: :class:`PosixCalls` where ``os.writev``,
``os.statvfs`` and ``os.O_DIRECTORY`` exist, else :class:`PortableCalls`;
the environment variable ``LICELPUSH_PORTABLE=1`` forces the portable form
(the test suite runs a second time that way, with those functions removed
from :mod:`os`). Both forms keep the record guarantees of docs/ACQUIRE.md:
a record reaches the OS whole or, when a write fails, the caller truncates
the file back to the record's start.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PORTABLE_ENV = "LICELPUSH_PORTABLE"
"""Environment variable: ``1`` selects :class:`PortableCalls` even where POSIX calls exist."""
IOV_MAX = 1024
"""Buffers one ``writev`` may take (POSIX minimum is 16; Linux has 1024)."""

REUSE_ADDRESS = os.name == "posix"
"""Listening sockets may take a port still in TIME_WAIT (POSIX); on Windows the same
option lets a second server take a port in use, so it stays off there."""
REPLACE_ATTEMPTS = 20
"""Tries of :func:`replace_file` while a reader holds the target open (Windows)."""
REPLACE_PAUSE_S = 0.05
INTERRUPT_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGBREAK") if hasattr(signal, name))
"""Keyboard signals: given again during a clean stop, they interrupt at once."""


def create_flags(system: Any = os) -> int:
    """``os.open`` flags of a new file that no other file may have: exclusive, not
    inherited by child processes, and binary (Windows translates newlines otherwise)."""
    return (system.O_WRONLY | system.O_CREAT | system.O_EXCL | getattr(system, "O_CLOEXEC", 0)
            | getattr(system, "O_BINARY", 0) | getattr(system, "O_NOINHERIT", 0))


def stop_signals(module: Any = signal) -> tuple[int, ...]:
    """Ctrl-C, the service manager's stop and Ctrl-Break (``SIGBREAK``, Windows only)."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    return tuple(getattr(module, name) for name in names if hasattr(module, name))


CREATE_FLAGS = create_flags()
"""The flags of :func:`create_flags` on this system."""
STOP_SIGNALS = stop_signals()
"""Signals that stop a run cleanly on this system (:func:`stop_signals`)."""


def _written(exc: OSError, written: int) -> OSError:
    exc.licelpush_written = written  # type: ignore[attr-defined]
    return exc


class PosixCalls:
    """POSIX: vectored writes, directory fsync, ``statvfs``."""

    name = "posix"

    @staticmethod
    def write_buffers(fd: int, buffers: Sequence[bytes | memoryview], total: int) -> int:
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
            raise _written(exc, written) from None
        return written

    @staticmethod
    def sync_directory(directory: Path) -> None:
        """fsync ``directory`` so that new entries survive a power cut (warns on failure)."""
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            log.warning("%s: cannot open directory to fsync it: %s", directory, exc.strerror)
            return
        try:
            os.fsync(dfd)
        except OSError as exc:
            log.warning("%s: directory fsync failed: %s", directory, exc.strerror)
        finally:
            os.close(dfd)

    @staticmethod
    def disk_usage(directory: Path) -> tuple[int, int]:
        """(total, free) bytes of the file system holding ``directory`` (free for this user)."""
        st = os.statvfs(directory)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


class PortableCalls:
    """Any system (Windows): one ``write`` of the joined record, no directory handles."""

    name = "portable"

    @staticmethod
    def write_buffers(fd: int, buffers: Sequence[bytes | memoryview], total: int) -> int:
        """One ``write`` of the joined buffers (continued after a partial write)."""
        view = memoryview(b"".join(buffers))
        written = 0
        try:
            while written < total:
                n = os.write(fd, view[written:])
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0 bytes")
                written += n
        except OSError as exc:
            raise _written(exc, written) from None
        return written

    @staticmethod
    def sync_directory(directory: Path) -> None:
        """Nothing: a directory cannot be opened for fsync here; NTFS journals its entries."""

    @staticmethod
    def disk_usage(directory: Path) -> tuple[int, int]:
        """(total, free) bytes of the file system holding ``directory``."""
        usage = shutil.disk_usage(directory)
        return usage.total, usage.free


Calls = PosixCalls | PortableCalls


def select(environ: dict[str, str] | None = None) -> Calls:
    """The calls for this system (portable when forced by :data:`PORTABLE_ENV`)."""
    env = os.environ if environ is None else environ
    native = all(hasattr(os, name) for name in ("writev", "statvfs", "O_DIRECTORY"))
    if native and env.get(PORTABLE_ENV, "") not in ("1", "true", "yes"):
        return PosixCalls()
    return PortableCalls()


CURRENT: Calls = select()
"""The calls this process uses."""


def replace_file(source: Path, target: Path) -> None:
    """Atomically replace ``target`` by ``source``; on Windows a reader holding ``target``
    open makes the rename fail for a moment, so it is tried again (bounded)."""
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if os.name != "nt" or attempt == REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(REPLACE_PAUSE_S)


def install_signal_handlers(handler: Callable[[int, Any], None]) -> Callable[[], None]:
    """Route :data:`STOP_SIGNALS` to ``handler`` (main thread only); returns the undo."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return restore


def signal_name(signum: int) -> str:
    """``SIGINT``, ``SIGBREAK``, ... for a signal number."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def add_loop_stop_handlers(loop: Any, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` in the asyncio ``loop`` on :data:`STOP_SIGNALS`; returns the undo.

    Where the loop cannot watch signals (Windows), plain handlers hand over to the loop.
    """
    added: list[int] = []

    def remove() -> None:
        for sig in added:
            loop.remove_signal_handler(sig)
    try:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, callback)
            added.append(sig)
    except (NotImplementedError, RuntimeError):
        remove()
        return install_signal_handlers(lambda signum, frame: loop.call_soon_threadsafe(callback))
    return remove


def has_unix_sockets() -> bool:
    """Whether this system has Unix domain sockets (sd_notify needs them)."""
    return hasattr(socket, "AF_UNIX")


def unix_datagram_socket() -> socket.socket:
    """A non-blocking Unix datagram socket (for sd_notify)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock

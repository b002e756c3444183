"""The system call that writes a record, for tests that inject faults into it.

Under :class:`licelpush.platform.PosixCalls` a record is one ``os.writev`` of
its buffers; under :class:`~licelpush.platform.PortableCalls` (portable mode,
Windows) one ``os.write`` of the joined bytes. A fake takes ``(fd, buffers)``
in both modes, so a test injects the same fault in either.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import pytest

from licelpush import platform

FakeWrite = Callable[[int, Sequence[bytes | memoryview]], int]

_REAL_WRITE = os.write


def _joined_write(fd: int, buffers: Sequence[bytes | memoryview]) -> int:
    return _REAL_WRITE(fd, b"".join(memoryview(b).cast("B") for b in buffers))


real_write_buffers: FakeWrite = (os.writev if isinstance(platform.CURRENT, platform.PosixCalls)
                                 else _joined_write)
"""The unpatched call, taking buffers, for fakes that pass some writes on."""


def patch_record_write(monkeypatch: pytest.MonkeyPatch, fake: FakeWrite) -> None:
    """Make ``fake`` the system call the record writer uses."""
    if isinstance(platform.CURRENT, platform.PosixCalls):
        monkeypatch.setattr(os, "writev", fake)
    else:
        monkeypatch.setattr(os, "write", lambda fd, data: fake(fd, [data]))

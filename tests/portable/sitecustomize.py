"""Portable test mode: with ``LICELPUSH_PORTABLE=1`` this Python has no POSIX-only calls.

``tests/conftest.py`` calls :func:`strip_os` before licelpush is imported and puts
this directory on ``PYTHONPATH``, so every ``python -m licelpush`` a test starts
imports this file at start-up (as ``sitecustomize``) and is stripped the same way.
``os.writev``, ``os.statvfs`` and ``os.O_DIRECTORY`` are removed, as on Windows.

:func:`shutil.disk_usage` calls ``os.statvfs`` on Linux, so it is replaced by a
stand-in for the native probe Windows has (``nt._getdiskusage``); only this
stand-in keeps a reference to the removed function.
"""

from __future__ import annotations

import os
import shutil

REMOVED = ("writev", "statvfs", "O_DIRECTORY")
"""What Windows' :mod:`os` lacks that licelpush's POSIX calls use."""


def strip_os() -> None:
    """Remove :data:`REMOVED` from :mod:`os` (idempotent)."""
    if not hasattr(os, "statvfs"):
        return
    statvfs = os.statvfs

    def disk_usage(path: str | os.PathLike[str]) -> shutil._ntuple_diskusage:  # type: ignore[name-defined]
        st = statvfs(path)
        total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        return shutil._ntuple_diskusage(total, total - st.f_bfree * st.f_frsize, free)  # type: ignore[attr-defined]

    shutil.disk_usage = disk_usage
    for name in REMOVED:
        if hasattr(os, name):
            delattr(os, name)


if os.environ.get("LICELPUSH_PORTABLE") == "1":
    strip_os()

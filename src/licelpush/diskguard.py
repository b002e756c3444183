"""Disk guard: stop an acquisition cleanly before the output's file system is full.

``--min-free SIZE`` (``20M``, ``1G``, ``512k``, ``5%``; default the smaller of
1 GiB and 5 % of the file system; ``0`` turns the guard off). Below twice the
limit the run warns (log, journal, status); below the limit it stops cleanly
with exit status 5, before a write can fail, so every saved file and the
journal stay intact. Nothing is ever deleted.

Pure: the free space comes from a probe the caller injects (the acquisition
uses :func:`shutil.disk_usage`, which works on every system).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

GIB = 1 << 30
DEFAULT_FRACTION = 0.05
"""The default limit is the smaller of 1 GiB and this fraction of the file system."""
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": GIB, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?B)?\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True)
class MinFree:
    """A ``--min-free`` value: bytes, a fraction of the file system, or the default."""

    bytes: int | None = None
    fraction: float | None = None

    def limit(self, total_bytes: int) -> int:
        """The limit in bytes for a file system of ``total_bytes`` (0 = guard off)."""
        if self.bytes is not None:
            return self.bytes
        if self.fraction is not None:
            return int(total_bytes * self.fraction)
        return min(GIB, int(total_bytes * DEFAULT_FRACTION))


DEFAULT_MIN_FREE = MinFree()


def parse_min_free(text: str) -> MinFree:
    """``20M``/``1G``/``512k``/``1.5G`` (powers of 1024), ``5%``, ``0``; raises ValueError."""
    match = _PERCENT.match(text)
    if match:
        percent = float(match.group(1))
        if not 0 <= percent < 100:
            raise ValueError(f"--min-free {text!r}: a percentage must be from 0 to below 100")
        return MinFree(fraction=percent / 100)
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"--min-free {text!r}: give a size like 20M, 1G or 5% (0 = off)")
    return MinFree(bytes=int(float(match.group(1)) * _UNITS[match.group(2).upper()]))


def format_bytes(n: float) -> str:
    """Binary-prefixed size for people, e.g. ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def format_duration(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``5.5 h``, ``3.2 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class DiskState(enum.Enum):
    """What the free space means for the run."""

    OK = "ok"
    LOW = "low"
    """Below twice the limit: warn."""
    STOP = "stop"
    """Below the limit: stop cleanly."""


@dataclass(frozen=True)
class DiskReading:
    """One look at the output's file system."""

    free_bytes: int
    total_bytes: int
    limit_bytes: int
    state: DiskState
    time_to_full_s: float | None
    """Seconds until the free space reaches the limit at the current data rate (until
    the file system is full when the guard is off); None when nothing is being written."""

    def message(self, where: str) -> str:
        """One line naming the place, the free space and the limit."""
        free = format_bytes(self.free_bytes)
        limit = format_bytes(self.limit_bytes)
        if self.state is DiskState.STOP:
            return (f"{where}: only {free} free, below --min-free {limit}; stopping before "
                    "the disk is full (nothing was deleted)")
        eta = (f", about {format_duration(self.time_to_full_s)} left at the current data "
               "rate" if self.time_to_full_s is not None else "")
        return f"{where}: {free} free, less than twice --min-free {limit}{eta}"


Probe = Callable[[], tuple[int, int]]
"""Returns (total bytes, free bytes) of the output's file system."""


class DiskGuard:
    """Judges the free space reported by ``probe`` against the ``--min-free`` limit."""

    def __init__(self, min_free: MinFree, probe: Probe) -> None:
        self.min_free = min_free
        self.probe = probe

    def read(self, bytes_per_s: float = 0.0) -> DiskReading:
        """Probe the free space and judge it; ``bytes_per_s`` is the current data rate."""
        total, free = self.probe()
        return judge(self.min_free.limit(total), total, free, bytes_per_s)


def judge(limit: int, total: int, free: int, bytes_per_s: float) -> DiskReading:
    """The :class:`DiskReading` of ``free`` bytes against ``limit`` (0 = no limit)."""
    if limit > 0 and free < limit:
        state = DiskState.STOP
    elif limit > 0 and free < 2 * limit:
        state = DiskState.LOW
    else:
        state = DiskState.OK
    eta = max(free - limit, 0) / bytes_per_s if bytes_per_s > 0 else None
    return DiskReading(free, total, limit, state, eta)

"""Time–height grids of a channel's signal: the curtain of a quicklook or the monitor (pure).

A :class:`Curtain` has fixed range rows (``row_edges_m``) and time columns of
``column_s`` seconds from ``t0`` (POSIX seconds, UTC). Profiles (see
:mod:`licelpush.physical`) are added one by one: each is averaged onto the
range rows and accumulated into the column of its time, so memory depends
only on the grid, never on how many records were read. Columns nobody added
to stay empty (NaN in :meth:`Curtain.image`): the gaps of the acquisition.
A row is marked clipped in a column when any bin in it was clipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from licelpush.licelfile import DatasetHeader
from licelpush.physical import Profile

ChannelKey = tuple[str, bool, int, str, int]
"""device id, analogue, wavelength, polarisation, laser: one channel across files."""


def channel_key(ds: DatasetHeader) -> ChannelKey:
    """The identity of a dataset's channel across records and files."""
    return (ds.device_id, ds.analogue, ds.wavelength_nm, ds.polarisation, ds.laser)


def colour_limits(image: np.ndarray) -> tuple[float, float]:
    """Log colour limits: 1st and 99.5th percentile of the positive values."""
    positive = image[np.isfinite(image) & (image > 0)]
    if positive.size == 0:
        return 1e-3, 1.0
    low, high = np.percentile(positive, [1.0, 99.5])
    return float(low), float(max(high, low * 10))


@dataclass(frozen=True)
class _RowMap:
    rows: np.ndarray
    """Row of each bin (only the bins that fall into a row)."""
    keep: slice
    """Bins that fall into a row (contiguous: the range axis increases)."""
    per_row: np.ndarray
    """How many bins each row averages."""


def row_edges(max_range_m: float, rows: int, min_range_m: float = 0.0) -> np.ndarray:
    """``rows + 1`` equally spaced range edges in m."""
    return np.linspace(min_range_m, max_range_m, rows + 1)


@dataclass
class Curtain:
    """Mean signal per (time column, range row) of one channel."""

    t0: float
    column_s: float
    columns: int
    row_edges_m: np.ndarray
    label: str = ""
    unit: str = ""
    _sum: np.ndarray = field(init=False, repr=False)
    _count: np.ndarray = field(init=False, repr=False)
    _clipped: np.ndarray = field(init=False, repr=False)
    _profile_sum: np.ndarray = field(init=False, repr=False)
    _profile_n: np.ndarray = field(init=False, repr=False)
    _maps: dict[tuple[int, float, float], _RowMap] = field(init=False, repr=False)
    _centres_km: list[float] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        rows = len(self.row_edges_m) - 1
        self._sum = np.zeros((self.columns, rows))
        self._count = np.zeros((self.columns, rows), dtype=np.int32)
        self._clipped = np.zeros((self.columns, rows), dtype=bool)
        self._profile_sum = np.zeros(rows)
        self._profile_n = np.zeros(rows, dtype=np.int64)
        self._maps = {}

    @property
    def rows(self) -> int:
        return len(self.row_edges_m) - 1

    def _row_map(self, range_m: np.ndarray) -> _RowMap:
        key = (len(range_m), float(range_m[0]), float(range_m[-1]))
        found = self._maps.get(key)
        if found is None:
            rows = np.searchsorted(self.row_edges_m, range_m, side="right") - 1
            inside = np.flatnonzero((rows >= 0) & (rows < self.rows))
            keep = slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0)
            per_row = np.bincount(rows[keep], minlength=self.rows)
            found = _RowMap(rows[keep], keep, per_row)
            self._maps[key] = found
        return found

    def reduce(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """The profile averaged onto the rows (NaN for rows without bins), and the
        rows holding a clipped bin."""
        m = self._row_map(profile.range_m)
        values = profile.signal[m.keep]
        finite = np.isfinite(values)
        if finite.all():
            sums = np.bincount(m.rows, weights=values, minlength=self.rows)
            counts = m.per_row
        else:
            sums = np.bincount(m.rows[finite], weights=values[finite], minlength=self.rows)
            counts = np.bincount(m.rows[finite], minlength=self.rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        clipped = np.zeros(self.rows, dtype=bool)
        if profile.clipped.any():
            clipped[m.rows[profile.clipped[m.keep]]] = True
        return mean, clipped

    def column_of(self, t: float) -> int | None:
        """Column index of time ``t``, or None outside the grid."""
        col = int(np.floor((t - self.t0) / self.column_s))
        return col if 0 <= col < self.columns else None

    def add(self, t: float, profile: Profile, until: float | None = None) -> bool:
        """Accumulate ``profile`` taken at ``t`` into its column, and with ``until`` (the
        end of the acquisition) into every column the acquisition spans, so that a
        1-minute record leaves no gap in 30-s columns; False when ``t`` is outside the grid."""
        col = self.column_of(t)
        if col is None:
            return False
        last = col
        if until is not None and until > t:
            last = min(max(math.ceil((until - self.t0) / self.column_s) - 1, col),
                       self.columns - 1)
        cols = slice(col, last + 1)
        mean, clipped = self.reduce(profile)
        ok = np.isfinite(mean)
        self._sum[cols, ok] += mean[ok]
        self._count[cols, ok] += 1
        self._clipped[cols] |= clipped
        self._profile_sum[ok] += mean[ok]
        self._profile_n[ok] += 1
        return True

    def advance(self, t: float) -> None:
        """Move the grid so that ``t`` falls into its last column (rolling window);
        columns that leave the window are dropped."""
        col = int(np.floor((t - self.t0) / self.column_s))
        shift = col - (self.columns - 1)
        if shift <= 0:
            return
        shift = min(shift, self.columns)
        for array in (self._sum, self._count, self._clipped):
            array[:-shift] = array[shift:].copy()
            array[-shift:] = 0
        self.t0 += shift * self.column_s

    def image(self) -> np.ndarray:
        """Mean per cell, shape (columns, rows); NaN for empty columns (gaps)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self._sum / self._count
        out[self._count == 0] = np.nan
        return out

    def clipped(self) -> np.ndarray:
        """bool (columns, rows): a clipped bin was added to the cell."""
        return self._clipped.copy()

    def filled_columns(self) -> np.ndarray:
        """bool per column: something was added."""
        return self._count.any(axis=1)

    def mean_profile(self) -> np.ndarray:
        """Mean over every profile added (also those that left a rolling window);
        NaN for rows no profile reached."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self._profile_sum / self._profile_n
        out[self._profile_n == 0] = np.nan
        return out

    def row_centres_m(self) -> np.ndarray:
        return (self.row_edges_m[:-1] + self.row_edges_m[1:]) / 2

    def row_centres_km(self) -> list[float]:
        """Row centres in km to 0.1 m, as a list (kept: the rows never change)."""
        if self._centres_km is None:
            self._centres_km = np.round(self.row_centres_m() / 1000.0, 4).tolist()
        return self._centres_km

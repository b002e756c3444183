"""Quicklooks: time–height pictures of the range-corrected signal of Licel files.

:func:`collect` reads the files once, record by record, and averages each
chosen channel's range-corrected signal (:mod:`licelpush.physical`) onto a
:class:`~licelpush.curtain.Curtain` of at most :data:`MAX_COLUMNS` time
columns and :data:`ROWS` range rows, so memory does not grow with the number
of files. :func:`render` draws one panel per channel (log colour scale, UTC
time axis, gaps left empty, clipped cells in magenta) with its mean profile
beside it, using matplotlib's Agg backend (extra ``licelpush[plot]``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from licelpush.curtain import ChannelKey, Curtain, channel_key, colour_limits, row_edges
from licelpush.datafiles import (
    DataFile,
    SplitCopies,
    read_intact,
    record_seconds,
    utc_seconds,
    within,
)
from licelpush.errors import LicelpushError
from licelpush.licelfile import Record
from licelpush.physical import Background, channel_label, dataset_profile, select_channels

log = logging.getLogger(__name__)

MAX_COLUMNS = 1440
"""Time columns at most (a day of 15-s records is averaged to 1-minute columns)."""
ROWS = 400
"""Range rows."""
PLOT_EXTRA = "plot"

@dataclass
class Quicklook:
    """What :func:`render` draws."""

    site: str
    start: datetime
    stop: datetime
    curtains: dict[ChannelKey, Curtain]
    records: int = 0
    damaged: list[str] = field(default_factory=list)
    """One line per damaged file (its intact records are used)."""


def _grid_times(files: Sequence[DataFile]) -> list[float]:
    """The times of the files' names, and the record times of the first and the last
    file (a file of several records holds records after its name's time) and of files
    whose names hold no time."""
    times = {utc_seconds(f.when) for f in files if f.when is not None}
    read = {f.path: f for f in (files[0], files[-1], *(f for f in files if f.when is None))}
    for path in read:
        records, _ = read_intact(path)
        times.update(record_seconds(r.header) for r in records)
    return sorted(times)


def _grid(times: Sequence[float], start: datetime | None,
          stop: datetime | None) -> tuple[float, float, int]:
    """t0, column seconds and column count covering ``times`` (or the asked period), from
    their median spacing."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 60.0
    step = step if step > 0 else 1.0
    t0 = utc_seconds(start) if start else (min(times) if times else 0.0)
    t1 = (utc_seconds(stop) if stop else (max(times) if times else t0)) + step
    span = max(t1 - t0, step)
    # columns 1.5 records wide: jitter in the record times leaves no false gaps, a
    # missing record or more still shows
    columns = max(1, min(MAX_COLUMNS, math.ceil(span / (1.5 * step))))
    return t0, span / columns, columns


def _first_record(files: Sequence[DataFile]) -> Record:
    for f in files:
        records, _ = read_intact(f.path)
        if records:
            return records[0]
    raise LicelpushError("no intact Licel record in the files given")


def _max_range(record: Record, indices: Sequence[int]) -> float:
    return max((ds.bins - (ds.bin_shift if ds.analogue else 0.0)) * ds.bin_width_m
               for ds in (record.header.datasets[i] for i in indices))


def collect(files: Sequence[DataFile], *, start: datetime | None = None,
            stop: datetime | None = None, channels: Sequence[str] = (),
            max_range_m: float | None = None,
            background: Background | None = None) -> Quicklook:
    """Read ``files`` (ordered by time) into one curtain per chosen channel."""
    files = within(files, start, stop)
    if not files:
        raise LicelpushError("no Licel data files in the period asked for")
    first = _first_record(files)
    try:
        indices = select_channels(first.header.datasets, list(channels))
    except ValueError as exc:
        raise LicelpushError(str(exc)) from None
    top = max_range_m or _max_range(first, indices)
    edges = row_edges(top, ROWS)
    t0, column_s, columns = _grid(_grid_times(files), start, stop)
    curtains = {}
    for i in indices:
        ds = first.header.datasets[i]
        curtains[channel_key(ds)] = Curtain(t0, column_s, columns, edges, channel_label(ds))
    look = Quicklook(first.header.site, datetime.max, datetime.min, curtains)
    split = SplitCopies()
    for f in files:
        records, damage = read_intact(f.path)
        for _, record in split.new_records(records):
            _add(look, record, top, start, stop, background)
        if damage is not None:
            look.damaged.append(damage.message)
    if look.records == 0:
        raise LicelpushError("no record in the period asked for")
    return look


def _add(look: Quicklook, record: Record, top_m: float, start: datetime | None,
         stop: datetime | None, background: Background | None) -> None:
    h = record.header
    if (start is not None and h.start < start) or (stop is not None and h.start > stop):
        return
    t = record_seconds(h)
    used = False
    for index, (ds, values) in enumerate(zip(h.datasets, record.data)):
        curtain = look.curtains.get(channel_key(ds))
        if curtain is None:
            continue
        profile = dataset_profile(ds, values, index, background=background,
                                  range_corrected=True, max_range_m=top_m)
        if not curtain.unit:
            curtain.unit = profile.unit
        used = curtain.add(t, profile) or used
    if used:
        look.records += 1
        look.start, look.stop = min(look.start, h.start), max(look.stop, h.stop)


# ------------------------------------------------------------------ rendering


def load_pyplot():
    """matplotlib.pyplot on the Agg backend, or an error naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise LicelpushError(
            f"quicklook needs matplotlib: pip install 'licelpush[{PLOT_EXTRA}]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def render(look: Quicklook, out: Path, *, width_px: int | None = None, dpi: int = 100) -> None:
    """Draw the quicklook to ``out`` (PNG unless the suffix says otherwise); the width
    defaults to 1400 pixels per column of panels, less when there are several."""
    plt = load_pyplot()
    n = len(look.curtains)
    across = panels_across(n)
    rows = math.ceil(n / across)
    width_px = width_px or {1: 1400, 2: 2000, 4: 2800}[across]
    height_in = max(4.2, 1.2 + (2.4 if across == 1 else 2.0) * rows)
    fig = plt.figure(figsize=(width_px / dpi, height_in), dpi=dpi)
    outer = fig.add_gridspec(rows, across, hspace=0.6, wspace=0.3, left=0.05, right=0.93,
                             top=1 - 0.95 / height_in, bottom=0.5 / height_in)
    period = (f"{look.start:%Y-%m-%d %H:%M:%S} – {look.stop:%Y-%m-%d %H:%M:%S} UTC, "
              f"{look.records} records")
    fig.suptitle(f"{look.site}: range-corrected signal, {period} "
                 "(white: no data, magenta: clipped)", fontsize=11)
    for i, curtain in enumerate(look.curtains.values()):
        cell = outer[i // across, i % across].subgridspec(1, 3, width_ratios=(6, 1.2, 0.15),
                                                          wspace=0.06)
        _panel(plt, fig, cell, curtain, 9 if across == 1 else 8)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def panels_across(channels: int) -> int:
    """Panels side by side: 1 up to 6 channels, 2 up to 16, 4 beyond (64 channels of
    eight recorders make 16 rows)."""
    return 1 if channels <= 6 else 2 if channels <= 16 else 4


def _panel(plt, fig, cell, curtain: Curtain, fontsize: int) -> None:
    import matplotlib.dates as mdates
    from matplotlib.colors import ListedColormap, LogNorm

    ax = fig.add_subplot(cell[0, 0])
    side = fig.add_subplot(cell[0, 1], sharey=ax)
    image = curtain.image()
    low, high = colour_limits(image)
    shown = np.where(np.isfinite(image), np.maximum(image, low), np.nan)
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    t_start = _utc(curtain.t0)
    t_end = _utc(curtain.t0 + curtain.column_s * curtain.columns)
    km = curtain.row_edges_m / 1000.0
    extent = (mdates.date2num(t_start), mdates.date2num(t_end), km[0], km[-1])
    im = ax.imshow(shown.T, origin="lower", aspect="auto", extent=extent, cmap=cmap,
                   norm=LogNorm(low, high), interpolation="nearest")
    box = ax.get_window_extent()
    clipped = np.ma.masked_where(~visible_cells(curtain.clipped(), box.width, box.height),
                                 np.ones(image.shape))
    ax.imshow(clipped.T, origin="lower", aspect="auto", extent=extent,
              cmap=ListedColormap(["magenta"]), interpolation="nearest")
    ax.xaxis_date()
    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_ylabel("range km")
    ax.set_xlabel("UTC", fontsize=8, labelpad=1)
    ax.set_title(curtain.label, fontsize=fontsize, loc="left")
    fig.colorbar(im, cax=fig.add_subplot(cell[0, 2]), label=curtain.unit)
    profile = curtain.mean_profile()
    side.plot(np.where(profile > 0, profile, np.nan), curtain.row_centres_m() / 1000.0,
              lw=0.8, color="black")
    side.set_xscale("log")
    side.set_title("mean", fontsize=fontsize)
    side.tick_params(labelleft=False, labelsize=7)


def visible_cells(mask: np.ndarray, width_px: float, height_px: float) -> np.ndarray:
    """``mask`` (columns, rows) with each marked cell widened to the next cells, so that
    it covers at least one pixel of a ``width_px`` × ``height_px`` panel: nearest-neighbour
    drawing of more cells than pixels skips cells, and a clipped row must not vanish."""
    out = mask.copy()
    for axis, pixels in ((0, width_px), (1, height_px)):
        cells = out.shape[axis]
        spread = math.ceil(cells / max(pixels, 1.0))
        marked = out.copy()
        for shift in range(1, min(spread, cells)):
            head = [slice(None)] * 2
            tail = [slice(None)] * 2
            head[axis], tail[axis] = slice(shift, None), slice(None, -shift)
            out[tuple(head)] |= marked[tuple(tail)]
    return out


def _utc(seconds: float) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)

"""What the station monitor shows: run health and the latest signal (pure).

:class:`JournalDigest` is fed the lines of ``journal-<run>.jsonl`` (see
:mod:`licelpush.journal` and docs/ACQUIRE.md) and keeps only counters and the
last acquisition, so a journal of millions of lines costs no memory; the
``acquisition`` lines, nearly all of a journal, are counted without being
parsed unless they are the newest. :func:`health` merges it with
``status.json`` (written by the station service where it runs): the status
file wins where it is fresh. :class:`SignalView` keeps the latest profile
of each channel and a rolling :class:`~licelpush.curtain.Curtain` per
channel, and turns them into the JSON documents the page polls.
"""

from __future__ import annotations

import base64
import json
import math
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from licelpush.curtain import ChannelKey, Curtain, channel_key, colour_limits, row_edges
from licelpush.licelfile import DatasetHeader, Record
from licelpush.physical import Background, channel_label, dataset_profile, range_correct

STATUS_FRESH_S = 30.0
"""A status.json last updated longer ago than this is stale: health comes from the journal."""
RATE_WINDOW = 40
"""Acquisitions over which the rate is measured."""
RECENT_KEPT = 256
"""Acquisition lines kept between two polls, for the curtain to sample."""
END_MARGIN_S = 1e-3
"""A record's end is taken this much before its stop time (which belongs to the next column
when it falls on a column boundary)."""
STALE_AFTER_S = 30.0
"""Without a status file, a run with no record for this long and no stop is 'waiting'."""


def parse_utc_text(text: str | None) -> float | None:
    """POSIX seconds of a journal time (``2026-05-13T21:03:45.120Z``), or None."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


@dataclass
class JournalDigest:
    """Counters of one run's journal, fed line by line."""

    run_id: str = ""
    controller: str = ""
    acquisitions: int = 0
    clipping: int = 0
    reconnects: int = 0
    quarantined_bytes: int = 0
    last_acquisition: dict[str, Any] | None = None
    last_event: str = ""
    stop_reason: str | None = None
    _samples: deque[tuple[int, float]] = field(
        default_factory=lambda: deque(maxlen=RATE_WINDOW))
    """(acquisitions so far, time of the newest) at each :meth:`latest` that parsed."""
    _last_line: bytes = b""
    _recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))

    def feed(self, line: bytes) -> None:
        """One journal line (bytes without the newline); unreadable lines are skipped."""
        if b'"event":"acquisition"' in line:
            self.acquisitions += 1
            if b'"clipped"' in line:
                self.clipping += 1
            self._last_line = line
            self._recent.append(line)
            self.last_event = "acquisition"
            self.last_acquisition = None  # parsed on demand
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        if isinstance(event, dict):
            self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event", ""))
        self.last_event = kind
        if kind == "start":
            self.run_id = str(event.get("run", ""))
            self.controller = str(event.get("controller", ""))
        elif kind == "reconnect":
            self.reconnects += 1
        elif kind == "quarantine":
            self.quarantined_bytes += int(event.get("length", 0) or 0)
        elif kind == "stop":
            self.stop_reason = str(event.get("reason", ""))

    def latest(self) -> dict[str, Any] | None:
        """The newest acquisition event, parsed."""
        if self.last_acquisition is None and self._last_line:
            try:
                self.last_acquisition = json.loads(self._last_line)
            except ValueError:
                return None
            t = parse_utc_text(self.last_acquisition.get("received_utc")
                               or self.last_acquisition.get("utc"))
            if t is not None:
                self._samples.append((self.acquisitions, t))
        return self.last_acquisition

    def take_recent(self) -> list[dict[str, Any]]:
        """The acquisition events fed since the last call (at most :data:`RECENT_KEPT`,
        the newest), parsed; unreadable ones are left out."""
        events = []
        for line in self._recent:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        self._recent.clear()
        return [e for e in events if isinstance(e, dict)]

    def rate_hz(self) -> float | None:
        """Acquisitions per second between the oldest and newest sample of :meth:`latest`."""
        if len(self._samples) < 2:
            return None
        (n0, t0), (n1, t1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None


def derived_health(digest: JournalDigest, now: float) -> dict[str, Any]:
    """Health fields from the journal alone (same keys as status.json)."""
    latest = digest.latest()
    last_t = None
    if latest is not None:
        last_t = parse_utc_text(latest.get("received_utc") or latest.get("utc"))
    if digest.stop_reason is not None:
        state = "stopped"
    elif digest.last_event in ("reconnect", "abandon"):
        state = "reconnecting"
    elif last_t is not None and now - last_t < STALE_AFTER_S:
        state = "acquiring"
    else:
        state = "waiting" if digest.acquisitions else "starting"
    return {
        "state": state, "reason": digest.stop_reason, "run_id": digest.run_id,
        "controller": digest.controller, "acquisitions": digest.acquisitions,
        "last_record_utc": latest.get("received_utc") if latest else None,
        "last_file": latest.get("file") if latest else None,
        "rate_hz": digest.rate_hz(), "reconnects": digest.reconnects,
        "quarantined_bytes": digest.quarantined_bytes, "clipping": digest.clipping,
        "warnings": [],
    }


def health(digest: JournalDigest | None, status: dict[str, Any] | None, now: float,
           free_bytes: int | None) -> dict[str, Any]:
    """The health shown: status.json where it is fresh, else derived from the journal."""
    fresh = status is not None and (now - (parse_utc_text(status.get("updated_utc")) or 0)
                                    < STATUS_FRESH_S)
    if fresh:
        out = dict(status)
        out["source"] = "status.json"
    elif digest is not None:
        out = derived_health(digest, now)
        out["source"] = "journal"
        out["free_bytes"] = free_bytes
    else:
        out = {"state": "no run", "source": "none", "warnings": [], "free_bytes": free_bytes}
    last = parse_utc_text(out.get("last_record_utc"))
    out["last_record_age_s"] = None if last is None else round(max(now - last, 0.0), 1)
    return out


def _finite(values: np.ndarray, digits: int = 5) -> list[float | None]:
    """Values rounded to ``digits`` significant digits (short JSON), None for NaN."""
    finite = np.isfinite(values) & (values != 0)
    out = np.where(np.isfinite(values), values, 0.0)
    magnitude = np.floor(np.log10(np.abs(out, where=finite, out=np.ones_like(out))))
    scale = 10.0 ** (digits - 1 - magnitude)
    out = np.where(finite, np.round(out * scale) / scale, out)
    return [v if ok else None for v, ok in zip(out.tolist(), np.isfinite(values).tolist())]


@dataclass
class SignalView:
    """Latest profile and rolling curtain of every channel seen."""

    window_s: float = 3 * 3600.0
    columns: int = 360
    rows: int = 240
    max_range_m: float | None = None
    background: Background | None = field(default_factory=lambda: Background(tail_bins=1000))
    channels: dict[ChannelKey, dict[str, Any]] = field(default_factory=dict)
    curtains: dict[ChannelKey, Curtain] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def _top(self, ds: DatasetHeader) -> float:
        shift = ds.bin_shift if ds.analogue else 0.0
        return self.max_range_m or (ds.bins - shift) * ds.bin_width_m

    def _curtain(self, key: ChannelKey, ds: DatasetHeader, t: float) -> Curtain:
        curtain = self.curtains.get(key)
        if curtain is None:
            column_s = self.window_s / self.columns
            t0 = (math.floor(t / column_s) + 1) * column_s - self.window_s
            curtain = Curtain(t0, column_s, self.columns, row_edges(self._top(ds), self.rows),
                              channel_label(ds))
            self.curtains[key] = curtain
        return curtain

    def add(self, record: Record, t: float, source: str, *, latest: bool = True,
            dark: bool = False) -> None:
        """Add a record taken at POSIX time ``t``; ``latest``: it is the newest one;
        ``dark``: a dark measurement's, shown as the latest profile but kept out of the
        curtains of the atmosphere's signal."""
        duration = (record.header.stop - record.header.start).total_seconds()
        for index, (ds, values) in enumerate(zip(record.header.datasets, record.data)):
            key = channel_key(ds)
            curtain = self._curtain(key, ds, t)
            profile = dataset_profile(ds, values, index, background=self.background,
                                      max_range_m=curtain.row_edges_m[-1])
            if not dark:
                curtain.advance(t + max(duration - END_MARGIN_S, 0.0))  # its end: last column
                curtain.add(t, replace(profile, signal=range_correct(profile.signal.copy(),
                                                                     profile.range_m),
                                       unit=f"{profile.unit} km²", range_corrected=True),
                            until=t + duration)
            if not curtain.unit:
                curtain.unit = f"{profile.unit} km²"
            if latest:
                mean, clipped = curtain.reduce(profile)
                self.channels[key] = _channel_doc(profile, curtain, mean, clipped)
        if latest:
            h = record.header
            self.seq += 1
            self.record = {"seq": self.seq, "name": h.name, "source": source, "site": h.site,
                           "start": h.start.isoformat(), "stop": h.stop.isoformat()}

    def live(self) -> dict[str, Any]:
        """Latest record and each channel's latest profile."""
        return {"record": self.record, "channels": list(self.channels.values())}

    def curtain_doc(self) -> dict[str, Any]:
        """Every curtain as bytes, base64, columns × rows: 0 no data, 1-254 log10 scale
        from ``low`` to ``high``, 255 clipped."""
        out = []
        for key, curtain in self.curtains.items():
            image = curtain.image()
            low, high = colour_limits(image)
            scaled = (np.log10(np.clip(image, low, high)) - math.log10(low)) / (
                math.log10(high) - math.log10(low))
            data = np.where(np.isfinite(image), 1 + np.round(scaled * 253), 0).astype(np.uint8)
            data[curtain.clipped()] = 255
            out.append({"key": list(key), "label": curtain.label, "unit": curtain.unit,
                        "t0": curtain.t0, "column_s": curtain.column_s,
                        "columns": curtain.columns, "rows": curtain.rows,
                        "max_range_m": float(curtain.row_edges_m[-1]), "low": low, "high": high,
                        "data": base64.b64encode(data.tobytes()).decode("ascii")})
        return {"curtains": out}


def _channel_doc(profile, curtain: Curtain, mean: np.ndarray,
                 clipped: np.ndarray) -> dict[str, Any]:
    ds = profile.dataset
    return {
        "key": list(channel_key(ds)), "label": profile.label, "device_id": ds.device_id,
        "recorder": profile.recorder, "wavelength_nm": ds.wavelength_nm,
        "polarisation": ds.polarisation, "analogue": ds.analogue,
        "type": "analogue" if ds.analogue else "photon counting", "laser": ds.laser,
        "shots": ds.shots, "unit": profile.unit, "background": profile.background,
        "bin_shift": profile.bin_shift,
        "range_km": curtain.row_centres_km(),
        "values": _finite(mean), "clipped_rows": np.flatnonzero(clipped).tolist(),
    }

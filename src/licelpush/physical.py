"""Physical units of Licel records: per-channel profiles on a range axis (pure numpy).

Conversions follow PROTOCOL.md §4 and LICEL_FILE_FORMAT.md "Dataset lines":

* analogue: mean signal in mV = value / shots × input range / 2**ADC bits;
* photon counting: mean count rate in MHz = value / shots / bin duration,
  with the bin duration 2 × bin width / c. Licel writes bin widths as
  c/2 × sample period with c rounded to 3e8 m/s (7.5 m for 20 MHz sampling,
  3.75 m for 40 MHz), so :data:`LICEL_SPEED_OF_LIGHT_M_S` gives back the
  exact sample period (50 ns for 7.5 m) and the spec's
  value / shots × 150 / bin width m;
* range: the centre of bin ``i`` is ``(i + 1/2 - bin shift) × bin width``.
  The bin shift (analogue datasets only, from ``TRTYPE?``) is the number of
  bins by which the analogue trace lags the photon-counting trace of the same
  memory; subtracting it puts both on one range axis. It is stated in every
  :class:`Profile` (``bin_shift``) so a user can undo it.

Optional steps: background subtraction (mean of a far-range window or of the
first N pretrigger bins, :class:`Background`), range correction (signal ×
range², range in km, so the unit is ``mV km²`` or ``MHz km²``; bins at
negative range are NaN).

Public readers differ (docs/READERS.md), and tests/test_interop.py pins it:

* ``atmospheric-lidar`` divides analogue values by ``2**bits - 1`` instead of
  ``2**bits`` (its values are larger by ``2**bits / (2**bits - 1)``: 1.00024
  for 12 bits, 1.000015 for 16 bits), keeps photon counting as summed counts
  (not a rate), and puts bin ``i`` at ``(i + 1/2) × width`` without the bin
  shift.
* ``licelformat`` and ``linc`` convert photon counts with a fixed 50 ns bin
  (counts / shots / 0.05 µs, and ``× 20 / shots``), which is right only for
  7.5 m bins; ``linc`` also divides analogue values by ``2**bits - 1``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from licelpush.licelfile import DatasetHeader, Record

LICEL_SPEED_OF_LIGHT_M_S = 3.0e8
"""c as Licel rounds it when it states bin widths (7.5 m = 3e8 m/s × 50 ns / 2):
the bin duration 2w / c with this c is the recorder's exact sample period."""

MILLIVOLT = "mV"
MEGAHERTZ = "MHz"


def bin_duration_s(bin_width_m: float) -> float:
    """Duration of one bin in s: the round trip of light over the bin width, 2w / c
    (c = :data:`LICEL_SPEED_OF_LIGHT_M_S`; 7.5 m → 50 ns)."""
    return 2.0 * bin_width_m / LICEL_SPEED_OF_LIGHT_M_S


def analogue_millivolts(values: np.ndarray, shots: int, input_range_mv: float,
                        adc_bits: int) -> np.ndarray:
    """Mean analogue signal in mV: value / shots × input range / 2**ADC bits (§4).

    ``shots`` 0 (an empty acquisition) is taken as 1 so the result stays finite.
    """
    scale = input_range_mv / (max(shots, 1) * float(1 << adc_bits))
    return np.asarray(values, dtype=np.float64) * scale


def count_rate_megahertz(values: np.ndarray, shots: int, bin_width_m: float) -> np.ndarray:
    """Mean photon count rate in MHz: counts / shots / bin duration (2w / c)."""
    scale = 1e-6 / (max(shots, 1) * bin_duration_s(bin_width_m))
    return np.asarray(values, dtype=np.float64) * scale


def range_axis(bins: int, bin_width_m: float, bin_shift: float = 0.0) -> np.ndarray:
    """Range in m of the centre of each bin: (i + 1/2 − bin shift) × bin width."""
    return (np.arange(bins, dtype=np.float64) + (0.5 - bin_shift)) * bin_width_m


def full_scale_counts(adc_bits: int) -> int:
    """The largest value one analogue shot can add: 2**ADC bits − 1."""
    return (1 << adc_bits) - 1


def saturated_bins(values: np.ndarray, shots: int, adc_bits: int) -> np.ndarray:
    """Analogue bins whose mean is at full scale: every shot clipped there.

    The file does not keep the recorder's clip flag (the journal counts clipped
    bins per record); a bin whose sum reaches shots × (2**bits − 1) clipped in
    every shot, which is what the file can show.
    """
    limit = max(shots, 1) * full_scale_counts(adc_bits)
    return np.asarray(values, dtype=np.int64) >= limit


_FAR = re.compile(r"^far:(?P<start>[0-9.]+)-(?P<stop>[0-9.]+)$")
_PRE = re.compile(r"^(?P<where>pretrigger|tail):(?P<bins>[0-9]+)$")


@dataclass(frozen=True)
class Background:
    """Where a channel's background is estimated: a far-range window or pretrigger bins."""

    far_m: tuple[float, float] | None = None
    """Range window (start, stop) in m; the mean of the bins whose centre lies in it."""
    pretrigger_bins: int = 0
    """Else: the mean of the first N bins (recorded before the laser fired)."""
    tail_bins: int = 0
    """Else: the mean of the last N bins (the farthest range of the trace)."""

    def select(self, range_m: np.ndarray) -> np.ndarray | slice:
        """Index of the bins the background is the mean of."""
        if self.far_m is not None:
            start, stop = self.far_m
            return np.flatnonzero((range_m >= start) & (range_m <= stop))
        if self.tail_bins:
            return slice(max(len(range_m) - self.tail_bins, 0), len(range_m))
        return slice(0, self.pretrigger_bins)

    def describe(self) -> str:
        if self.far_m is not None:
            return f"far:{self.far_m[0] / 1000:g}-{self.far_m[1] / 1000:g} km"
        if self.tail_bins:
            return f"tail:{self.tail_bins} bins"
        return f"pretrigger:{self.pretrigger_bins} bins"


def parse_background(text: str) -> Background | None:
    """``far:START-STOP`` (km), ``pretrigger:N`` (first N bins), ``tail:N`` (last N
    bins) or ``none``.

    Raises ValueError naming the accepted forms.
    """
    text = text.strip().lower()
    if text in ("", "none"):
        return None
    m = _FAR.match(text)
    if m:
        start, stop = float(m["start"]) * 1000.0, float(m["stop"]) * 1000.0
        if not stop > start:
            raise ValueError(f"background window {text!r}: stop must be after start")
        return Background(far_m=(start, stop))
    m = _PRE.match(text)
    if m and int(m["bins"]) > 0:
        if m["where"] == "tail":
            return Background(tail_bins=int(m["bins"]))
        return Background(pretrigger_bins=int(m["bins"]))
    raise ValueError(f"background {text!r}: expected far:START-STOP (km), pretrigger:N, "
                     "tail:N (N > 0 bins) or none")


@dataclass(frozen=True, eq=False)
class Profile:
    """One dataset of a record in physical units, on its range axis."""

    dataset: DatasetHeader
    index: int
    """Position of the dataset in its record."""
    range_m: np.ndarray
    """Centre of each bin, m, bin shift applied (see :func:`range_axis`)."""
    signal: np.ndarray
    """float64 per bin in :attr:`unit` (background subtracted / range corrected
    when asked)."""
    unit: str
    """``mV``, ``MHz``, or ``mV km²`` / ``MHz km²`` when range corrected."""
    background: float | None
    """Subtracted background in mV or MHz, or None."""
    clipped: np.ndarray
    """bool per bin: analogue bin at full scale in every shot (see :func:`saturated_bins`)."""
    range_corrected: bool = False

    @property
    def analogue(self) -> bool:
        return self.dataset.analogue

    @property
    def bin_shift(self) -> float:
        """Bins subtracted from the bin index for the range axis."""
        return self.dataset.bin_shift if self.dataset.analogue else 0.0

    @property
    def recorder(self) -> int | None:
        """Transient recorder number from the device id (``BT0`` → 0, ``BCA`` → 10)."""
        return recorder_of(self.dataset.device_id)

    @property
    def label(self) -> str:
        """``532.p analogue TR0`` — wavelength.polarisation, type, recorder."""
        return channel_label(self.dataset)


def recorder_of(device: str) -> int | None:
    """Recorder number of a device id (``BT``/``BC`` + hex digit), or None."""
    if len(device) >= 3 and device[:2] in ("BT", "BC"):
        try:
            return int(device[2:], 16)
        except ValueError:
            return None
    return None


def channel_label(ds: DatasetHeader) -> str:
    """``532.p analogue TR0`` (or the device id when it names no recorder)."""
    recorder = recorder_of(ds.device_id)
    where = f"TR{recorder}" if recorder is not None else ds.device_id
    kind = "analogue" if ds.analogue else "photon counting"
    return f"{ds.wavelength_nm}.{ds.polarisation} {kind} {where}"


def dataset_signal(ds: DatasetHeader, values: np.ndarray) -> tuple[np.ndarray, str]:
    """The dataset's values in mV (analogue) or MHz (photon counting), and the unit."""
    if ds.analogue:
        return analogue_millivolts(values, ds.shots, ds.input_range_mv, ds.adc_bits), MILLIVOLT
    return count_rate_megahertz(values, ds.shots, ds.bin_width_m), MEGAHERTZ


def range_correct(signal: np.ndarray, range_m: np.ndarray) -> np.ndarray:
    """signal × (range in km)²; NaN where the range is negative."""
    km = range_m / 1000.0
    out = signal * (km * km)
    out[km < 0] = np.nan
    return out


def dataset_profile(ds: DatasetHeader, values: np.ndarray, index: int = 0, *,
                    background: Background | None = None,
                    range_corrected: bool = False,
                    max_range_m: float | None = None) -> Profile:
    """One dataset in physical units (see the module docstring for each step); with
    ``max_range_m`` only the bins up to that range (the background is still taken
    from the whole trace)."""
    signal, unit = dataset_signal(ds, values)
    shift = ds.bin_shift if ds.analogue else 0.0
    range_m = range_axis(len(signal), ds.bin_width_m, shift)
    level = None
    if background is not None:
        window = signal[background.select(range_m)]
        if window.size:
            level = float(window.mean())
            signal -= level
    if max_range_m is not None:
        keep = int(np.searchsorted(range_m, max_range_m, side="right"))
        signal, range_m, values = signal[:keep], range_m[:keep], values[:keep]
    if range_corrected:
        signal = range_correct(signal, range_m)
        unit = f"{unit} km²"
    clipped = (saturated_bins(values, ds.shots, ds.adc_bits) if ds.analogue
               else np.zeros(len(signal), dtype=bool))
    return Profile(ds, index, range_m, signal, unit, level, clipped, range_corrected)


def record_profiles(record: Record, *, channels: Sequence[int] | None = None,
                    background: Background | None = None,
                    range_corrected: bool = False,
                    max_range_m: float | None = None) -> list[Profile]:
    """Profiles of a record's datasets (all, or those at the indices ``channels``)."""
    indices = range(len(record.data)) if channels is None else channels
    return [dataset_profile(record.header.datasets[i], record.data[i], i,
                            background=background, range_corrected=range_corrected,
                            max_range_m=max_range_m)
            for i in indices]


def select_channels(datasets: Sequence[DatasetHeader], wanted: Sequence[str]) -> list[int]:
    """Indices of the datasets matching any of ``wanted`` (all when empty).

    A selector is a dataset index (``0``), a device id (``BT0``), a wavelength
    (``532``), a wavelength.polarisation (``532.p``), optionally followed by
    ``:an`` or ``:pc`` (``532.p:pc``). Raises ValueError for a selector that
    matches nothing, listing the channels there are.
    """
    if not wanted:
        return list(range(len(datasets)))
    chosen: list[int] = []
    for selector in wanted:
        hits = [i for i, ds in enumerate(datasets) if _matches(ds, i, selector.strip())]
        if not hits:
            there = ", ".join(f"{i}: {channel_label(ds)} ({ds.device_id})"
                              for i, ds in enumerate(datasets))
            raise ValueError(f"channel {selector!r} matches no dataset; there are {there}")
        chosen.extend(i for i in hits if i not in chosen)
    return chosen


def _matches(ds: DatasetHeader, index: int, selector: str) -> bool:
    base, _, kind = selector.partition(":")
    if kind and kind.lower() not in ("an", "pc"):
        return False
    if kind and (kind.lower() == "an") != ds.analogue:
        return False
    if base.isdigit() and int(base) == index and not kind:
        return True
    if base.upper() == ds.device_id.upper():
        return True
    wavelength, _, pol = base.partition(".")
    return (wavelength == str(ds.wavelength_nm)
            and (not pol or pol.lower() == ds.polarisation.lower()))


def describe_profile(profile: Profile) -> str:
    """One line: label, device id, laser, shots, bin width, bin shift, unit, background."""
    ds = profile.dataset
    text = (f"channel {profile.index}: {profile.label} ({ds.device_id}), laser {ds.laser}, "
            f"{ds.shots} shots, bin width {ds.bin_width_m:g} m, "
            f"bin shift {profile.bin_shift:g} bins, unit {profile.unit}")
    if profile.background is not None:
        text += f", background {profile.background:.6g} subtracted"
    return text


def _finite_list(values: np.ndarray) -> list[float | None]:
    """Values as a JSON-ready list (NaN and infinities become None)."""
    return [v if np.isfinite(v) else None for v in values.tolist()]


def profile_fields(profile: Profile, *, arrays: bool = False) -> dict:
    """The profile as JSON-ready fields; with ``arrays`` also ``range_m``, ``values``
    and ``clipped_bins`` (indices)."""
    ds = profile.dataset
    fields: dict = {
        "index": profile.index, "label": profile.label, "device_id": ds.device_id,
        "recorder": profile.recorder, "wavelength_nm": ds.wavelength_nm,
        "polarisation": ds.polarisation, "analogue": ds.analogue, "laser": ds.laser,
        "shots": ds.shots, "bins": ds.bins, "bin_width_m": ds.bin_width_m,
        "bin_shift": profile.bin_shift, "unit": profile.unit,
        "background": profile.background, "range_corrected": profile.range_corrected,
    }
    if arrays:
        fields["range_m"] = profile.range_m.tolist()
        fields["values"] = _finite_list(profile.signal)
        fields["clipped_bins"] = np.flatnonzero(profile.clipped).tolist()
    return fields

"""Plausible lidar returns for the emulated recorders, as accumulated raw counts.

Spec: PROTOCOL.md §4 read backwards (what the raw words of a memory hold) and
§3.1 (which sums need PHM). Pure numpy, deterministic for a seed.

Per recorder and memory the seed draws an "atmosphere": a lidar return
``O(r) · (1 + aerosol layer) · exp(-2αr) / r²`` with a near-range overlap
``O(r) = (1 − exp(−(r/r₀)²))²``, plus a background. From it and the recorder's settings (input
range, ADC/PC bits, bin width × 2^FREQDIV, discriminator, pretrigger) a
:class:`ChannelModel` holds the mean raw count **per shot** of every bin and
its per-shot noise. Accumulating ``shots`` shots is then cheap:

- analogue: ``shots·mean + sqrt(shots)·σ·z`` with ``z`` a slice of one
  precomputed standard-normal block (a seeded random offset per channel and
  frame), clipped at ``shots·(2^ADCbits − 1)``; bins where single shots reach
  full scale carry the clip flag;
- photon counting: Poisson sums — exact Poisson draws where the expected sum
  is small, the normal approximation elsewhere — of the observed rate after
  non-paralysable dead-time pile-up, at most ``2^PCbits − 1`` per shot.

Occasionally (:data:`CLOUD_PROBABILITY` per frame and memory) a cloud adds a
strong return that saturates the analogue channel (clip flags) and piles up the
photon counting. Every sum is clipped to what the raw words carry
(:func:`licelpush.encode.analogue_limit` / :func:`~licelpush.encode.pc_limit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from licelpush.config import MEMORIES, RANGE_MILLIVOLTS
from licelpush.encode import FrameEncoder, analogue_limit, pc_limit
from licelpush.hardware import RecorderHardware
from licelpush.limits import MAX_SHOTS
from licelpush.plan import MPushPlan, RawDataset, plan_from_datasets

ADC_NOISE_LSB: Mapping[int, float] = MappingProxyType({12: 0.7, 16: 5.0})
"""Per-shot electronic noise (standard deviation, in ADC counts) by ADC bits."""
SIGNAL_NOISE_FRACTION = 0.03
"""Per-shot fluctuation of the analogue lidar signal, as a fraction of it."""
PC_DEAD_TIME_S = 3.5e-9
"""Dead time of the photon-counting discriminator (non-paralysable pile-up)."""
CLOUD_PROBABILITY = 0.03
"""Chance per frame and memory of a cloud return that clips the analogue channel."""
PRETRIGGER_DIVISOR = 16
"""With pretrigger on, the first FIFO length / 16 bins are recorded before the laser fires."""
NOISE_BLOCK_VALUES = 1 << 18
"""Length of the precomputed standard-normal block the noise slices come from."""
POISSON_BELOW = 10.0
"""Photon-counting sums expected below this are drawn from an exact Poisson law."""
REFERENCE_BIN_M = 3.75
"""Bin width of the grid on which an atmosphere's return is normalised (peak = 1)."""
SQUARED_TYPES: Mapping[str, tuple[bool, int]] = MappingProxyType({
    "A2L": (True, 0), "A2M": (True, 1), "A2H": (True, 2), "P2L": (False, 0), "P2M": (False, 1),
})
"""Assumed layout of the squared-data words: a 48-bit analogue sum of squares split
into A2L/A2M/A2H (16 bits each, low first) and a 32-bit PC sum of squares into P2L/P2M."""


@dataclass(frozen=True)
class Atmosphere:
    """What the lidar of one recorder memory sees (drawn from the seed)."""

    peak_mv: float
    background_mv: float
    alpha_per_m: float
    overlap_m: float
    layer_m: float
    layer_width_m: float
    layer_strength: float
    pc_peak_mhz: float
    pc_background_mhz: float
    norm: float = 1.0

    def shape(self, r: np.ndarray) -> np.ndarray:
        """Relative return at ranges ``r`` (m): peak 1 on the reference grid, 0 for r <= 0."""
        rr = np.maximum(r, 1.0)
        overlap = np.expm1(-(rr / self.overlap_m) ** 2) ** 2
        layer = 1.0 + self.layer_strength * np.exp(
            -0.5 * ((rr - self.layer_m) / self.layer_width_m) ** 2)
        shape = overlap * layer * np.exp(-2.0 * self.alpha_per_m * rr) / (rr * rr)
        shape *= 1.0 / self.norm
        shape[r <= 0] = 0.0
        return shape


def draw_atmosphere(seed: int, recorder: int, memory: str) -> Atmosphere:
    """The atmosphere of one recorder memory (deterministic for the seed)."""
    rng = np.random.default_rng([seed, 0xA7, recorder, MEMORIES.index(memory)])
    atmosphere = Atmosphere(
        peak_mv=float(rng.uniform(15.0, 60.0)),
        background_mv=float(rng.uniform(0.2, 1.5)),
        alpha_per_m=float(rng.uniform(4e-5, 2e-4)),
        overlap_m=float(rng.uniform(200.0, 600.0)),
        layer_m=float(rng.uniform(1000.0, 4000.0)),
        layer_width_m=float(rng.uniform(150.0, 600.0)),
        layer_strength=float(rng.uniform(0.3, 2.5)),
        pc_peak_mhz=float(rng.uniform(20.0, 150.0)),
        pc_background_mhz=float(rng.uniform(0.05, 1.0)),
    )
    grid = np.arange(1, 8193, dtype=np.float64) * REFERENCE_BIN_M
    norm = float(atmosphere.shape(grid).max())
    return Atmosphere(**{**atmosphere.__dict__, "norm": norm})


@dataclass(frozen=True)
class RecorderSettings:
    """The recorder state that shapes its signals (set by the configuration commands)."""

    hardware: RecorderHardware
    range_index: int = 0
    discriminator: int = 0
    threshold: int = 0
    freqdiv: int = 0
    pretrigger: bool = False

    @property
    def bin_width_m(self) -> float:
        """Effective bin width: TRTYPE bin width × 2^FREQDIV exponent (§4)."""
        return self.hardware.bin_width_m * (1 << self.freqdiv)


@dataclass(frozen=True)
class Cloud:
    """A strong, thin return in one frame of one memory."""

    range_m: float
    width_m: float
    analogue_full_scales: float
    """Extra analogue signal at the centre, in multiples of the ADC full scale."""
    pc_mhz: float
    """Extra true photon-counting rate at the centre."""


@dataclass(frozen=True, eq=False)
class ChannelModel:
    """Per-shot mean and noise of one channel's bins (raw counts)."""

    analogue: bool
    r: np.ndarray
    """Range of every bin (m); <= 0 before the laser fires."""
    mean: np.ndarray
    """Mean raw count per shot (after per-shot clipping / pile-up)."""
    sigma: np.ndarray | None
    """Per-shot standard deviation (analogue); photon counting is Poisson."""
    saturated: np.ndarray | None
    """Bins whose single shots reach the ADC full scale (analogue clip flags)."""
    full_scale: int
    """Largest raw count of one shot in one bin."""
    pc_true: np.ndarray | None = None
    """True counts per shot before pile-up (photon counting)."""
    dt_us: float = 0.0
    """Duration of one bin in µs (photon counting)."""

    def accumulate(self, shots: int, rng: np.random.Generator, noise: np.ndarray, limit: int,
                   cloud: Cloud | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Sum of ``shots`` shots as uint32 (clipped to ``limit``) and the clip flags."""
        n = len(self.mean)
        mean, sigma, saturated = self.mean, self.sigma, self.saturated
        if cloud is not None and n:
            mean, sigma, saturated = self._with_cloud(cloud)
        offset = int(rng.integers(0, max(len(noise) - n, 0) + 1))
        z = noise[offset:offset + n]
        ceiling = float(min(limit, shots * self.full_scale))
        if self.analogue:
            assert sigma is not None
            value = mean * float(shots)
            value += np.sqrt(float(shots)) * sigma * z
        else:
            expected = mean * float(shots)
            value = expected + np.sqrt(expected) * z
            small = expected < POISSON_BELOW
            if small.any():
                value[small] = rng.poisson(expected[small])
        np.clip(value, 0.0, ceiling, out=value)
        np.rint(value, out=value)
        flags = None if saturated is None else saturated.copy()
        return value.astype(np.uint32), flags

    def _with_cloud(self, cloud: Cloud) -> tuple[np.ndarray, np.ndarray | None,
                                                 np.ndarray | None]:
        lo = int(np.searchsorted(self.r, cloud.range_m - 3 * cloud.width_m))
        hi = int(np.searchsorted(self.r, cloud.range_m + 3 * cloud.width_m))
        mean = self.mean.copy()
        if hi <= lo:
            return mean, self.sigma, self.saturated
        bump = np.exp(-0.5 * ((self.r[lo:hi] - cloud.range_m) / cloud.width_m) ** 2)
        if self.analogue:
            assert self.sigma is not None and self.saturated is not None
            sigma, saturated = self.sigma.copy(), self.saturated.copy()
            raw = mean[lo:hi] + cloud.analogue_full_scales * self.full_scale * bump
            sigma[lo:hi] = np.hypot(sigma[lo:hi], SIGNAL_NOISE_FRACTION * raw)
            saturated[lo:hi] |= raw + 2.0 * sigma[lo:hi] >= self.full_scale
            mean[lo:hi] = np.minimum(raw, self.full_scale)
            return mean, sigma, saturated
        assert self.pc_true is not None
        true = self.pc_true[lo:hi] + cloud.pc_mhz * self.dt_us * bump
        mean[lo:hi] = np.minimum(_pile_up(true, self.dt_us), self.full_scale)
        return mean, None, None

    def squared_sum(self, shots: int) -> np.ndarray:
        """Expected sum of squared per-shot counts (for the A2x/P2x data types)."""
        if self.analogue:
            assert self.sigma is not None
            return shots * (self.mean ** 2 + self.sigma ** 2)
        return shots * (self.mean ** 2 + self.mean)


def channel_model(atmosphere: Atmosphere, settings: RecorderSettings, analogue: bool,
                  values: int) -> ChannelModel:
    """Mean and noise per shot of ``values`` bins (raw words 1..values) of one channel."""
    hw = settings.hardware
    bin_width = settings.bin_width_m
    pretrigger = hw.fifo_length // PRETRIGGER_DIVISOR if settings.pretrigger else 0
    index = np.arange(1, values + 1, dtype=np.float64)
    r = (index - hw.bin_shift - pretrigger) * bin_width
    shape = atmosphere.shape(r)
    if analogue:
        full_scale = (1 << hw.adc_bits) - 1
        counts_per_mv = (1 << hw.adc_bits) / RANGE_MILLIVOLTS[settings.range_index]
        signal = atmosphere.peak_mv * counts_per_mv * shape
        raw = atmosphere.background_mv * counts_per_mv + signal
        sigma = np.hypot(ADC_NOISE_LSB[hw.adc_bits], SIGNAL_NOISE_FRACTION * signal)
        saturated = raw + 2.0 * sigma >= full_scale
        return ChannelModel(True, r, np.minimum(raw, full_scale), sigma, saturated, full_scale)
    full_scale = (1 << hw.pc_bits) - 1
    damping = 0.8 if settings.threshold else 0.5
    gain = 1.0 - damping * settings.discriminator / 63.0
    dt_us = bin_width / 150.0
    true = (atmosphere.pc_background_mhz + atmosphere.pc_peak_mhz * shape) * gain * dt_us
    observed = np.minimum(_pile_up(true, dt_us), full_scale)
    return ChannelModel(False, r, observed, None, None, full_scale, true, dt_us)


def _pile_up(true_counts: np.ndarray, dt_us: float) -> np.ndarray:
    """Observed counts per bin: non-paralysable dead time :data:`PC_DEAD_TIME_S`."""
    return true_counts / (1.0 + true_counts * (PC_DEAD_TIME_S * 1e6 / dt_us))


class SignalSynthesizer:
    """Accumulated profiles for frames and ``DATA?`` replies, deterministic for a seed."""

    MAX_CACHED_MODELS = 512

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.noise = np.random.default_rng([seed, 0x9015E]).standard_normal(
            NOISE_BLOCK_VALUES, dtype=np.float32)
        self._atmospheres: dict[tuple[int, str], Atmosphere] = {}
        self._models: dict[tuple[object, ...], ChannelModel] = {}

    def atmosphere(self, recorder: int, memory: str) -> Atmosphere:
        """The (cached) atmosphere of one recorder memory."""
        key = (recorder, memory)
        if key not in self._atmospheres:
            self._atmospheres[key] = draw_atmosphere(self.seed, recorder, memory)
        return self._atmospheres[key]

    def model(self, recorder: int, memory: str, analogue: bool, values: int,
              settings: RecorderSettings) -> ChannelModel:
        """The (cached) channel model for these settings."""
        key = (recorder, memory, analogue, values, settings)
        model = self._models.get(key)
        if model is None:
            if len(self._models) >= self.MAX_CACHED_MODELS:
                self._models.clear()
            model = channel_model(self.atmosphere(recorder, memory), settings, analogue, values)
            self._models[key] = model
        return model

    def profiles(self, plan: MPushPlan, settings: Mapping[int, RecorderSettings], shots: int,
                 rng: np.random.Generator
                 ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray | None, ...]]:
        """One frame's accumulated profiles (uint32) and clip flags, per plan channel."""
        clouds: dict[tuple[int, str], Cloud | None] = {}
        profiles: list[np.ndarray] = []
        flags: list[np.ndarray | None] = []
        for channel in plan.channels:
            key = (channel.recorder, channel.memory)
            if key not in clouds:
                clouds[key] = draw_cloud(rng)
            model = self.model(channel.recorder, channel.memory, channel.analogue,
                               channel.values, settings[channel.recorder])
            if channel.analogue:
                limit = analogue_limit(channel.hardware.adc_bits, channel.uses_phm)
            else:
                limit = pc_limit(channel.uses_phm)
            value, clipped = model.accumulate(shots, rng, self.noise, limit, clouds[key])
            profiles.append(value)
            flags.append(clipped)
        return tuple(profiles), tuple(flags)

    def dataset_words(self, recorder: int, memory: str, kind: str, words: int,
                      settings: RecorderSettings, shots: int,
                      rng: np.random.Generator) -> np.ndarray:
        """The ``words`` raw uint16 words of one memory dataset (``DATA?``); word 0 is 0."""
        out = np.zeros(words, dtype="<u2")
        if shots <= 0 or words < 2:
            return out
        if kind in SQUARED_TYPES:
            analogue, part = SQUARED_TYPES[kind]
            model = self.model(recorder, memory, analogue, words - 1, settings)
            total = np.rint(model.squared_sum(shots)).astype(np.uint64)
            out[1:] = (total >> np.uint64(16 * part)) & np.uint64(0xFFFF)
            return out
        plan = data_plan(recorder, memory, words, settings.hardware, shots)
        profiles, flags = self.profiles(plan, {recorder: settings}, shots, rng)
        frame = FrameEncoder(plan).encode(0, shots, profiles, flags)
        index = {"LSW": 0, "MSW": 1, "PHM": 2, "PC": 3}[kind]
        dataset: RawDataset = plan.datasets[index]
        start = dataset.data_offset
        return np.frombuffer(frame, dtype="<u2", count=words, offset=start).copy()


def data_plan(recorder: int, memory: str, words: int, hardware: RecorderHardware,
              shots: int) -> MPushPlan:
    """A plan holding every raw dataset of one memory at full width (LSW MSW PHM PC PHM).

    A recorder memory always holds the full sums; ``DATA?`` reads one part of
    them, so the PHM bits are there whatever the shot count.
    """
    kinds = ("LSW", "MSW", "PHM", "PC", "PHM")
    return plan_from_datasets(max(1, min(shots, MAX_SHOTS)),
                              [(recorder, words, kind, memory) for kind in kinds],
                              {recorder: hardware})


def draw_cloud(rng: np.random.Generator) -> Cloud | None:
    """A cloud for one memory of one frame, or None (most frames)."""
    if rng.random() >= CLOUD_PROBABILITY:
        return None
    return Cloud(range_m=float(rng.uniform(1500.0, 9000.0)),
                 width_m=float(rng.uniform(20.0, 120.0)),
                 analogue_full_scales=float(rng.uniform(1.2, 4.0)),
                 pc_mhz=float(rng.uniform(300.0, 3000.0)))

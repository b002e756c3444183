"""Benchmark configurations and prepared push streams.

``small``: 1 recorder, memory A analogue + photon counting, 1000 bins, 100 shots.
``typical``: ``tests/data/acquis/two-recorders.ini``, 300 shots.
``phm``: the same file at 5000 shots: photon counting beyond the PHM threshold
of 4-bit PC recorders (PROTOCOL.md §3.1), so every PC channel carries a PHM dataset.
``eight``: ``eight-recorders.ini``: 32 memories × analogue + PC × 16380 bins, 300 shots.

Every recorder is described by the default :class:`~licelpush.hardware.RecorderHardware`
(16-bit ADC, 4 PC bits, FIFO 16384), which is also what the emulator reports
unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from licelpush.config import AcquisConfig, load_config
from licelpush.encode import FrameEncoder, analogue_limit, pc_limit
from licelpush.hardware import RecorderHardware
from licelpush.plan import MPushPlan, make_plan

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATIONS = REPO_ROOT / "tests" / "data" / "acquis"
"""The station configurations of the repository."""
FRAME_INTERVAL_MS = 15_000
"""Controller timestamp step between prepared frames (300 shots at 20 Hz)."""

SMALL_INI = """\
; benchmark configuration "small": one recorder, memory A analogue + PC, 1000 bins
[global_info]
Location = "Bench"
Longitude = 12,430000
Latitude = 51,350000
Height_asl = 125,000000
first_letter = "s"
Zenith = 0,000000
Azimuth = 0,000000
frequency1 = 20,000000
frequency2 = 20,000000
frequency3 = 10,000000

[TR0]
Discriminator = 8
Range = 1
AnalogA = TRUE
PC A = TRUE
A-binsA = 1000
P-binsA = 1000
WavelengthA = 532,000000
WavelengthApc = 532,000000
PolarisationA = 0
PolarisationApc = 0
LaserA = 1
PM = 800,000000
PM1pc = 850,000000
Pretrigger = 0
FreqDivider = 0
ShotLimit = 4096
Threshold = 0
"""


@dataclass(frozen=True)
class BenchConfig:
    """One named benchmark configuration: an Acquis.ini and a shot count."""

    name: str
    shots: int
    ini: str | None
    """File name in the stations directory; None: :data:`SMALL_INI`."""
    description: str

    def ini_path(self, stations: Path, workdir: Path) -> Path:
        """The Acquis.ini of this configuration (``small`` is written into ``workdir``)."""
        if self.ini is None:
            path = workdir / "small.ini"
            if not path.exists():
                path.write_text(SMALL_INI, encoding="ascii")
            return path
        path = stations / self.ini
        if not path.is_file():
            raise FileNotFoundError(f"{path}: benchmark configuration {self.name!r} needs it "
                                    "(--stations names the directory of station files)")
        return path


CONFIGS: dict[str, BenchConfig] = {
    c.name: c for c in (
        BenchConfig("small", 100, None, "1 TR, memory A analogue+PC, 1000 bins, 100 shots"),
        BenchConfig("typical", 300, "two-recorders.ini", "two-recorders.ini, 300 shots"),
        BenchConfig("phm", 5000, "two-recorders.ini",
                    "two-recorders.ini, 5000 shots (PC beyond the PHM threshold)"),
        BenchConfig("eight", 300, "eight-recorders.ini",
                    "eight-recorders.ini: 32 memories x analogue+PC x 16380 bins, 300 shots"),
    )
}


def select(names: str | None) -> list[BenchConfig]:
    """Configurations named in a comma-separated list (all when ``names`` is empty)."""
    if not names:
        return list(CONFIGS.values())
    chosen = []
    for name in (n.strip() for n in names.split(",")):
        if name not in CONFIGS:
            raise SystemExit(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
        chosen.append(CONFIGS[name])
    return chosen


@dataclass(frozen=True)
class Prepared:
    """A configuration loaded and planned, ready to encode frames of."""

    bench: BenchConfig
    ini: Path
    config: AcquisConfig
    plan: MPushPlan


def prepare(bench: BenchConfig, stations: Path, workdir: Path) -> Prepared:
    """Load the configuration and make its plan with default recorder hardware."""
    ini = bench.ini_path(stations, workdir)
    config = load_config(ini)
    hardware = {r.address: RecorderHardware() for r in config.active_recorders}
    return Prepared(bench, ini, config, make_plan(config, hardware, bench.shots))


def distinct_frames(plan: MPushPlan, count: int = 4, seed: int = 6) -> list[bytes]:
    """``count`` frames with different random profiles (values within what the raw
    words carry), encoded with :class:`~licelpush.encode.FrameEncoder`."""
    rng = np.random.default_rng(seed)
    encoder = FrameEncoder(plan)
    frames = []
    for k in range(count):
        profiles = []
        for channel in plan.channels:
            if channel.analogue:
                top = analogue_limit(channel.hardware.adc_bits, channel.uses_phm)
                top = min(top, plan.shots * ((1 << channel.hardware.adc_bits) - 1))
            else:
                top = min(pc_limit(channel.uses_phm), plan.shots * 15)
            profiles.append(rng.integers(0, top, channel.values, endpoint=True))
        frames.append(encoder.encode(k * FRAME_INTERVAL_MS, plan.shots, profiles))
    return frames


def push_stream(plan: MPushPlan, frames: int, distinct: int = 4) -> bytearray:
    """``frames`` frames back to back (the ``distinct`` ones repeated), with controller
    timestamps rising by :data:`FRAME_INTERVAL_MS` so each frame follows the previous one."""
    pool = distinct_frames(plan, min(distinct, frames))
    length = plan.frame_length
    stream = bytearray(length * frames)
    for i in range(frames):
        stream[i * length:(i + 1) * length] = pool[i % len(pool)]
    table = np.frombuffer(stream, dtype=np.uint8).reshape(frames, length)
    stamps = (np.arange(frames, dtype=np.uint64) * FRAME_INTERVAL_MS) & 0xFFFFFFFF
    dtype = ">u4" if plan.big_endian_timestamp else "<u4"
    table[:, 2:6] = stamps.astype(dtype).view(np.uint8).reshape(frames, 4)
    return stream

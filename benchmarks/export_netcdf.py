"""Data-product benchmark: ``licelpush export netcdf`` streaming a day of 15-s files.

``typical`` (two-recorders.ini, 300 shots: 15 s per acquisition at 20 Hz, six
channels, 52 000 values per record) written as one Licel file per record,
5760 files = one day, lidar-like profiles (decay, background and noise, so the
compression works on realistic data). ``licelpush export netcdf`` runs as a
child process on the directory; the input bytes divided by its wall time are
the rate, its peak RSS (``wait4``) the memory; the input bytes per CPU second
(both threads) show what a machine with a free second core gets when other
processes load this one. Targets: at least 100 MB/s of
Licel input, under 500 MB of memory. The files are read from the page cache
(they were just written), so the rate is that of the exporter, not of a disk.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks import procs
from benchmarks.configs import CONFIGS, prepare
from licelpush.decode import DecodedFrame
from licelpush.filewriter import RecordWriter
from licelpush.plan import MPushPlan
from licelpush.records import RecordBuilder

DAY_FILES = 5760
TARGET_BYTES_PER_S = 100e6
TARGET_RSS_BYTES = 500e6
TARGET_TEXT = ">= 100 MB/s of input, < 500 MB RSS"
START = datetime(2026, 11, 30)


def lidar_profiles(plan: MPushPlan, rng: np.random.Generator) -> list[np.ndarray]:
    """One lidar-like mean sum profile per channel: 1/r^2 decay over a background."""
    profiles = []
    for channel in plan.channels:
        r = np.arange(1, channel.values + 1, dtype=np.float64)
        full = ((1 << channel.hardware.adc_bits) - 1) if channel.analogue else 10
        profiles.append(plan.shots * full * (0.5 / (1 + (r / 300) ** 2) + 0.02))
    return profiles


def noisy(means: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Profiles of one acquisition: the means with fresh shot noise (every record differs)."""
    return tuple(np.clip(m + np.sqrt(m) * rng.standard_normal(m.size, np.float32), 0, None)
                 .astype(np.int32) for m in means)


def write_day(directory: Path, files: int, stations: Path, workdir: Path) -> int:
    """Write ``files`` one-record Licel files; returns their total size in bytes."""
    prepared = prepare(CONFIGS["typical"], stations, workdir)
    plan = prepared.plan
    builder = RecordBuilder(prepared.config, plan)
    rng = np.random.default_rng(3)
    shots = tuple(plan.shots for _ in plan.channels)
    means = lidar_profiles(plan, rng)
    total = 0
    with RecordWriter(directory, "b", sync_interval=60.0) as writer:
        for i in range(files):
            start = START + timedelta(seconds=15 * i)
            record = builder.build(
                DecodedFrame(0, np.empty(0, np.uint16), noisy(means, rng),
                             (0,) * len(plan.channels), shots),
                start, start + timedelta(seconds=15))
            path, _ = writer.write(record)
            total += path.stat().st_size
    return total


def run(stations: Path, workdir: Path, out_base: Path, quick: bool = False) -> dict:
    """Rate and peak memory of ``export netcdf`` over a day of files."""
    files = 20 if quick else DAY_FILES
    with tempfile.TemporaryDirectory(prefix=".bench-export-", dir=out_base) as tmp:
        data = Path(tmp) / "data"
        size = write_day(data, files, stations, workdir)
        target = Path(tmp) / "day.nc"
        done = procs.run_measured(
            procs.licelpush_cmd("export", "netcdf", str(data), "-o", str(target), "-q"),
            timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"export netcdf failed ({done.returncode}): {done.stderr[-800:]}")
        out_size = target.stat().st_size
    rate = size / done.wall_s
    return {
        "benchmark": "export_netcdf",
        "config": "typical",
        "files": files,
        "input_bytes": size,
        "output_bytes": out_size,
        "seconds": done.wall_s,
        "cpu_seconds": done.cpu_s,
        "bytes_per_s": rate,
        "bytes_per_cpu_s": size / done.cpu_s if done.cpu_s else None,
        "max_rss_bytes": done.max_rss_bytes,
        "target": TARGET_TEXT,
        "met": rate >= TARGET_BYTES_PER_S and done.max_rss_bytes < TARGET_RSS_BYTES,
    }

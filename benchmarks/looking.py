"""Benchmarks of looking at the data: a day's quicklook and the live monitor's cost.

``quicklook_day``: ``licelpush acquire --emulator --emulator-max-speed`` writes
a day of 15-s files (5760 files, 4 channels × 16380 bins each, 300 shots: about
1.5 GB) of the configuration :data:`DAY_INI`, then ``licelpush quicklook`` draws
them all; measured are its wall time, CPU time and peak RSS (``wait4`` of the
child). The files were just written, so they are read from the page cache, as
on a station that draws the day it acquired. (At ``--max-speed`` the file names
span minutes instead of a day; the work per file is the same.) Target: < 30 s
and < 1 GB.

``monitor_cpu``: ``acquire`` with the emulator at 20 acquisitions per second
(1 shot per acquisition at 20 Hz, same configuration) runs twice for the same
time, without and with ``licelpush monitor`` following its directory. Measured:
the monitor's CPU time per second of wall time (/proc, after a warm-up), and
``acquire``'s write latency per acquisition: the data file's modification
time minus the frame's ``received_utc`` in the journal (ms resolution),
p50/p99 in both runs. Target: monitor < 5 % of one core.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np

from benchmarks import procs
from licelpush.datafiles import find_data_files
from licelpush.monitorstate import parse_utc_text

DAY_FILES = 5760
DAY_SHOTS = 300
TARGET_QUICKLOOK_S = 30.0
TARGET_QUICKLOOK_RSS = 1e9
QUICKLOOK_TARGET_TEXT = "< 30 s, < 1 GB"
TARGET_MONITOR_PERCENT = 5.0
MONITOR_TARGET_TEXT = "< 5 % of one core"

DAY_INI = """\
; benchmark configuration "day": 1 TR, memories A and B, analogue + PC, 16380 bins
[global_info]
Location = "Bench"
Longitude = 12,430000
Latitude = 51,350000
Height_asl = 125,000000
first_letter = "d"
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
Analog B = TRUE
PC B = TRUE
A-binsA = 16380
P-binsA = 16380
A-binsB = 16380
P-binsB = 16380
WavelengthA = 532,000000
WavelengthApc = 532,000000
WavelengthB = 1064,000000
WavelengthBpc = 607,000000
PolarisationA = 1
PolarisationApc = 1
PolarisationB = 0
PolarisationBpc = 0
LaserA = 1
LaserB = 1
PM = 800,000000
PM1pc = 850,000000
Pretrigger = 0
FreqDivider = 0
ShotLimit = 4096
Threshold = 0
"""


def day_ini(workdir: Path) -> Path:
    path = workdir / "day.ini"
    path.write_text(DAY_INI, encoding="ascii")
    return path


def acquire_day(workdir: Path, out: Path, files: int) -> procs.Finished:
    """Write ``files`` 15-s files with the emulator at full speed."""
    done = procs.run_measured(procs.licelpush_cmd(
        "acquire", "--config", str(day_ini(workdir)), "--emulator", "--emulator-max-speed",
        "--shots", str(DAY_SHOTS), "--acq", str(files), "--output", str(out), "-q"),
        timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"acquire failed ({done.returncode}): {done.stderr[-500:]}")
    return done


def quicklook_day(workdir: Path, out_base: Path, *, files: int = DAY_FILES) -> dict:
    """Generate the day's files, draw them; wall, CPU and peak RSS of ``quicklook``."""
    out = Path(out_base) / f"bench-day-{time.time_ns()}"
    out.mkdir(parents=True)
    try:
        made = acquire_day(workdir, out, files)
        data_bytes = sum(f.path.stat().st_size for f in find_data_files([out]))
        picture = workdir / "day.png"
        done = procs.run_measured(procs.licelpush_cmd(
            "quicklook", str(out), "-o", str(picture)), timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"quicklook failed ({done.returncode}): {done.stderr[-500:]}")
    finally:
        subprocess.run(["rm", "-rf", str(out)], check=False)
    return {
        "benchmark": "quicklook_day", "config": "day", "files": files,
        "data_bytes": data_bytes, "generate_wall_s": made.wall_s,
        "wall_s": done.wall_s, "cpu_s": done.cpu_s, "max_rss_bytes": done.max_rss_bytes,
        "target": QUICKLOOK_TARGET_TEXT,
        "met": done.wall_s < TARGET_QUICKLOOK_S and done.max_rss_bytes < TARGET_QUICKLOOK_RSS,
    }


def write_latencies_ms(directory: Path) -> np.ndarray:
    """Per acquisition (one record per file): the data file's modification time minus
    the frame's ``received_utc`` from the journal, ms."""
    latencies = []
    for journal in directory.glob("journal-*.jsonl"):
        for line in journal.read_text(encoding="utf-8").splitlines():
            if '"event":"acquisition"' not in line:
                continue
            event = json.loads(line)
            received = parse_utc_text(event.get("received_utc"))
            try:
                written = (directory / event["file"]).stat().st_mtime
            except OSError:
                continue
            if received is not None:
                latencies.append((written - received) * 1000.0)
    return np.array(latencies)


def _acquire_20hz(workdir: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(procs.licelpush_cmd(
        "acquire", "--config", str(day_ini(workdir)), "--emulator", "--emulator-speed", "1",
        "--shots", "1", "--acq", "-1", "--output", str(out), "-q"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_station(workdir: Path, out: Path, seconds: float, monitored: bool) -> dict:
    """One 20 Hz acquisition of ``seconds``; with the monitor, its CPU share."""
    out.mkdir(parents=True)
    acquire = _acquire_20hz(workdir, out)
    monitor = None
    cpu = None
    try:
        time.sleep(3.0)  # connect, configure, first files
        if monitored:
            monitor = subprocess.Popen(procs.licelpush_cmd(
                "monitor", str(out), "--bind", "127.0.0.1:0", "-q"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3.0)  # backfill and start-up are not the steady cost
            cpu0, t0 = procs.cpu_seconds(monitor.pid), time.monotonic()
        time.sleep(seconds)
        if monitor is not None:
            cpu = (procs.cpu_seconds(monitor.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        if monitor is not None:
            _stop(monitor)
        _stop(acquire)
    latencies = write_latencies_ms(out)
    subprocess.run(["rm", "-rf", str(out)], check=False)
    if latencies.size == 0:
        raise RuntimeError("acquire saved nothing")
    return {"acquisitions": int(latencies.size), "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "cpu_fraction": cpu}


def monitor_cpu(workdir: Path, out_base: Path, *, seconds: float = 60.0) -> dict:
    """The monitor's CPU share beside a 20 Hz acquisition, and acquire's write latency."""
    base = Path(out_base) / f"bench-monitor-{time.time_ns()}"
    alone = _run_station(workdir, base / "alone", seconds, monitored=False)
    watched = _run_station(workdir, base / "watched", seconds, monitored=True)
    subprocess.run(["rm", "-rf", str(base)], check=False)
    percent = 100.0 * (watched["cpu_fraction"] or 0.0)
    return {
        "benchmark": "monitor_cpu", "config": "day@20Hz", "seconds": seconds,
        "monitor_cpu_percent": percent,
        "acquisitions_alone": alone["acquisitions"], "acquisitions_watched":
            watched["acquisitions"],
        "p50_ms_alone": alone["p50_ms"], "p99_ms_alone": alone["p99_ms"],
        "p50_ms_watched": watched["p50_ms"], "p99_ms_watched": watched["p99_ms"],
        "target": MONITOR_TARGET_TEXT, "met": percent < TARGET_MONITOR_PERCENT,
    }

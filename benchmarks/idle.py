"""Idle-cost benchmark: CPU % of ``licelpush acquire`` at a realistic station load.

``typical`` (two-recorders.ini), 300 shots at a 20 Hz laser: the emulator at
real speed pushes one frame every 15 s. ``acquire --acq -1`` runs against it;
after a settling time its CPU time (utime + stime from /proc/<pid>/stat) is
read at the start and the end of the measurement window, and the difference
divided by the wall time is the idle cost. Target ≤ 1 % of one core.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import procs
from benchmarks.configs import CONFIGS, prepare
from benchmarks.end_to_end import check_journal, journal_events

DEFAULT_SECONDS = 60.0
SETTLE_SECONDS = 5.0
RATE_HZ = 20.0
TARGET_PERCENT = 1.0
TARGET_TEXT = "<= 1% of one core"


def run(stations: Path, workdir: Path, out_base: Path, seconds: float = DEFAULT_SECONDS,
        quick: bool = False) -> dict:
    """CPU % of ``acquire`` (and of the emulator) over ``seconds`` at station load."""
    for name in ("emulate", "acquire"):
        if not procs.has_subcommand(name):
            raise RuntimeError(f"`licelpush {name}` is not available yet")
    bench = CONFIGS["typical"]
    prepared = prepare(bench, stations, workdir)
    speed = 30.0 if quick else 1.0
    settle = 1.0 if quick else SETTLE_SECONDS
    emulator_args = ["--config", str(prepared.ini), "--rate", f"{RATE_HZ:g}"]
    if speed != 1.0:
        emulator_args += ["--speed", f"{speed:g}"]
    with tempfile.TemporaryDirectory(prefix=".bench-idle-", dir=out_base) as tmp, \
            procs.Emulator(emulator_args) as emulator:
        output = Path(tmp) / "acquire"
        cmd = procs.licelpush_cmd("acquire", "--config", str(prepared.ini), "--ip", "127.0.0.1",
                                  "--port", str(emulator.port), "--acq", "-1", "--shots",
                                  str(bench.shots), "--output", str(output), "-q")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(settle)
            if proc.poll() is not None:
                raise RuntimeError(f"acquire ended early ({proc.returncode}): "
                                   f"{proc.stderr.read().decode()[-800:] if proc.stderr else ''}")
            cpu0, emu0, t0 = (procs.cpu_seconds(proc.pid),
                              procs.cpu_seconds(emulator.proc.pid), time.monotonic())
            time.sleep(seconds)
            cpu1, emu1, t1 = (procs.cpu_seconds(proc.pid),
                              procs.cpu_seconds(emulator.proc.pid), time.monotonic())
            rss = procs.rss_bytes(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        saved = check_journal(journal_events(output))["saved"]
    wall = t1 - t0
    percent = 100.0 * (cpu1 - cpu0) / wall
    return {
        "benchmark": "idle",
        "config": "typical",
        "rate_hz": RATE_HZ,
        "shots": bench.shots,
        "emulator_speed": speed,
        "frame_interval_s": bench.shots / RATE_HZ / speed,
        "seconds": wall,
        "frames": saved,
        "cpu_seconds": cpu1 - cpu0,
        "cpu_percent": percent,
        "emulator_cpu_percent": 100.0 * (emu1 - emu0) / wall,
        "acquire_rss_bytes": rss,
        "target": TARGET_TEXT,
        "met": percent <= TARGET_PERCENT,
    }

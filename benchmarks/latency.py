"""Latency benchmark: from a frame's last byte to its record's write, and a hostile soak.

``latency``: ``typical`` (two-recorders.ini, 300 shots) at a 20 Hz laser, the
emulator (``licelpush emulate``) run ``SPEED`` times faster than real time so
that a frame arrives every 0.15 s, and ``licelpush acquire`` with its default
durability, both as subprocesses over loopback. Each record's ``latency_ms``
in the journal is the time from the receive that brought the frame's last
byte to the return of the record's write (decode, build, ``writev``).
Reported: p50, p99 and the maximum over ``FRAMES`` acquisitions; target
p99 ≤ 5 ms. Also the journal's stop times against the emulator's ledger
(send time of each frame, matched by CRC-32).

``hostile``: ``acquire --retries -1`` against an emulator that pushes nothing
but random bytes (``--fault noise:every=1``) for ``HOSTILE_SECONDS``: the
``abandon`` events it journals, the first one's delay, and the peak VmRSS of
the process (sampled every 50 ms); target: abandons within seconds, < 90 MB.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import procs
from benchmarks.configs import CONFIGS, prepare
from benchmarks.end_to_end import journal_events

SPEED = 100.0
RATE_HZ = 20.0
FRAMES = 200
TARGET_P99_MS = 5.0
TARGET_TEXT = "p99 <= 5 ms"
HOSTILE_SECONDS = 30.0
HOSTILE_TARGET_TEXT = "abandon within seconds, < 90 MB RSS"
MAX_RSS_BYTES = 90 * 2**20


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def run(stations: Path, workdir: Path, out_base: Path, frames: int = FRAMES) -> dict:
    """Latency percentiles of ``acquire`` at ``typical`` (JSON-ready dict)."""
    bench = CONFIGS["typical"]
    prepared = prepare(bench, stations, workdir)
    with tempfile.TemporaryDirectory(prefix=".bench-latency-", dir=out_base) as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        output = Path(tmp) / "acquire"
        with procs.Emulator(["--config", str(prepared.ini), "--rate", f"{RATE_HZ:g}",
                             "--speed", f"{SPEED:g}", "--ledger", str(ledger)]) as emulator:
            done = procs.run_measured(procs.licelpush_cmd(
                "acquire", "--config", str(prepared.ini), "--ip", "127.0.0.1", "--port",
                str(emulator.port), "--acq", str(frames), "--shots", str(bench.shots),
                "--output", str(output), "-q"), timeout=600.0)
        if done.returncode != 0:
            raise RuntimeError(f"acquire exited with {done.returncode}: "
                               f"{(done.stderr or done.stdout)[-800:]}")
        saved = [e for e in journal_events(output) if e.get("event") == "acquisition"]
        sent = _ledger_send_times(ledger)
    latencies = [float(e["latency_ms"]) for e in saved]
    gaps = [_utc(e["received_utc"]) - sent[e["crc32"]] for e in saved if e["crc32"] in sent]
    p99 = _percentile(latencies, 0.99)
    return {
        "benchmark": "latency",
        "config": "typical",
        "frames": len(saved),
        "frame_interval_s": bench.shots / RATE_HZ / SPEED,
        "latency_p50_ms": _percentile(latencies, 0.5),
        "latency_p99_ms": p99,
        "latency_max_ms": max(latencies),
        "latency_slowest_ms": sorted(latencies)[-5:],
        "stop_minus_send_p50_ms": 1e3 * _percentile(gaps, 0.5) if gaps else None,
        "stop_minus_send_max_ms": 1e3 * max(gaps) if gaps else None,
        "target": TARGET_TEXT,
        "met": len(saved) == frames and p99 <= TARGET_P99_MS,
    }


def _ledger_send_times(ledger: Path) -> dict[int, float]:
    """CRC-32 -> wall time the emulator sent the frame (the ledger's ``utc``)."""
    sent: dict[int, float] = {}
    with ledger.open(encoding="utf-8") as fh:
        for line in fh:
            entry = json.loads(line)
            if entry.get("event") == "frame":
                sent[entry["crc32"]] = _utc(entry["utc"])
    return sent


def hostile(stations: Path, workdir: Path, out_base: Path,
            seconds: float = HOSTILE_SECONDS, speed: float = 20.0) -> dict:
    """Random bytes on the push port: abandons and peak RSS of ``acquire --retries -1``."""
    bench = CONFIGS["typical"]
    prepared = prepare(bench, stations, workdir)
    with tempfile.TemporaryDirectory(prefix=".bench-hostile-", dir=out_base) as tmp, \
            procs.Emulator(["--config", str(prepared.ini), "--rate", f"{RATE_HZ:g}",
                            "--speed", f"{speed:g}", "--fault", "noise:every=1"]) as emulator:
        output = Path(tmp) / "acquire"
        cmd = procs.licelpush_cmd("acquire", "--config", str(prepared.ini), "--ip", "127.0.0.1",
                                  "--port", str(emulator.port), "--acq", "-1", "--shots",
                                  str(bench.shots), "--retries", "-1", "--backoff-max", "2",
                                  "--output", str(output), "-q")
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0
        try:
            while time.monotonic() - started < seconds and proc.poll() is None:
                peak = max(peak, procs.rss_bytes(proc.pid))
                time.sleep(0.05)
        finally:
            procs.terminate(proc)
        events = journal_events(output)
    start = next((_utc(e["utc"]) for e in events if e.get("event") == "start"), None)
    abandons = [e for e in events if e.get("event") == "abandon"]
    first = _utc(abandons[0]["utc"]) - start if abandons and start is not None else None
    received = sum(int(e.get("received_bytes", 0)) for e in abandons)
    return {
        "benchmark": "hostile",
        "config": "typical",
        "seconds": seconds,
        "abandons": len(abandons),
        "first_abandon_s": first,
        "received_bytes": received,
        "peak_rss_bytes": peak,
        "target": HOSTILE_TARGET_TEXT,
        "met": bool(abandons) and first is not None and first < 10.0 and peak < MAX_RSS_BYTES,
    }

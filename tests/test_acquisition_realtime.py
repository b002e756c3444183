"""Record times against the emulator in real time, and a hostile push port in a subprocess.

``station.ini`` runs laser 1 at 20 Hz: 20 shots take 1 s. With the emulator at
speed 1 every record's stop must lie within 150 ms of the emulator's send
time of its frame (the ledger), and every record, the last one included, must
last shots / rate within 5 %. Margins are generous for a loaded machine: the
frames arrive in a few milliseconds on loopback.

With random bytes on the push port, ``acquire --retries -1`` must journal
``abandon`` events within seconds and stay under 90 MB of resident memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from optional import need

from licelpush.acquisition import AcquireOptions, Acquisition
from licelpush.config import load_config
from licelpush.journal import read_journal
from licelpush.licelfile import parse_file_name
from licelpush.testing import running_emulator

STATION = Path(__file__).parent / "data" / "acquis" / "station.ini"
SHOTS = 20
RATE_HZ = 20.0
MAX_RSS_BYTES = 90 * 2**20


def utc_seconds(text: str) -> float:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return moment.timestamp()


def test_record_times_match_the_ledger_in_real_time(tmp_path):
    config = load_config(STATION)
    with running_emulator(config=config, speed=1.0, seed=3) as emu:
        options = AcquireOptions(host=emu.host, port=emu.port, acquisitions=4, shots=SHOTS,
                                 output=tmp_path / "out", timeout=2.0, poll_interval=0.05)
        summary = Acquisition(config, options).run()
        ledger = emu.ledger()
    assert summary.exit_status == 0 and summary.saved == 4
    sent = {e["crc32"]: utc_seconds(e["utc"]) for e in ledger if e["event"] == "frame"}
    events = [e for e in read_journal(summary.journal) if e["event"] == "acquisition"]
    names = {p.name: parse_file_name(p.name)[1] for p in summary.files}
    duration = SHOTS / RATE_HZ
    for e in events:
        stop = utc_seconds(e["received_utc"])
        assert abs(stop - sent[e["crc32"]]) < 0.15, e
        start = names[e["file"]].replace(tzinfo=timezone.utc).timestamp()
        # the file name has 10 ms resolution
        assert abs((stop - start) - duration) <= 0.05 * duration + 0.01, e
        assert 0 <= e["latency_ms"] < 150
    spans = [e["controller_span_ms"] for e in events]
    assert spans[0] is None and all(abs(s - 1000) <= 50 for s in spans[1:])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_random_bytes_on_the_push_port_are_abandoned_within_seconds_in_bounded_memory(
        tmp_path):
    need(Path("/proc/self/status").exists(), "reading a process's memory needs /proc")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "licelpush", "acquire", "--emulator", "--config", str(STATION),
           "--emulator-fault", "noise:every=1", "--emulator-speed", "20", "--retries", "-1",
           "--acq", "5", "--shots", str(SHOTS), "--output", str(out), "--backoff", "0.2",
           "--backoff-max", "1", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak, abandons = 0, []
    try:
        deadline = time.monotonic() + 12.0
        while time.monotonic() < deadline and proc.poll() is None:
            peak = max(peak, rss_bytes(proc.pid))
            abandons = [e for path in out.glob("journal-*.jsonl")
                        for e in (json.loads(line) for line in path.read_text().splitlines()
                                  if line.endswith("}"))
                        if e["event"] == "abandon"]
            if len(abandons) >= 4:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hang is a failure
            proc.kill()
            stdout, stderr = proc.communicate()
    assert len(abandons) >= 4, (stdout + stderr)[-2000:]
    assert all(e["reason"].startswith("lost synchronisation") for e in abandons)
    assert all(e["frames"] == 0 for e in abandons)
    assert 0 < peak < MAX_RSS_BYTES
    # stopped by SIGTERM: exit 1 (stopped before --acq 5), everything journalled
    assert proc.returncode == 1, (stdout + stderr)[-2000:]


@pytest.mark.parametrize("fault", ["pad:every=1", "corrupt:every=1,where=shots"])
def test_hostile_emulator_streams_are_abandoned(tmp_path, fault):
    config = load_config(STATION)
    with running_emulator(config=config, speed=20.0, seed=3, faults=[fault]) as emu:
        options = AcquireOptions(host=emu.host, port=emu.port, acquisitions=3, shots=SHOTS,
                                 output=tmp_path / "out", timeout=2.0, poll_interval=0.05,
                                 retries=2, backoff=0.1, backoff_max=0.2)
        started = time.monotonic()
        summary = Acquisition(config, options).run()
    assert time.monotonic() - started < 30
    assert summary.saved == 0 and summary.exit_status == 1
    events = read_journal(summary.journal)
    abandons = [e for e in events if e["event"] == "abandon"]
    assert len(abandons) == 3  # the first connection and two retries
    assert all(e["reason"].startswith("lost synchronisation") for e in abandons)
    received = sum(e["received_bytes"] for e in abandons)
    quarantined = sum(e["length"] for e in events if e["event"] == "quarantine")
    assert quarantined == received  # every byte accounted for
    if os.name == "posix":
        assert summary.quarantine is not None and \
            summary.quarantine.stat().st_size == quarantined

"""SIGKILL at any moment with large records: every data file is whole again after
the next ``acquire`` start in that directory, the cut bytes are quarantined and
the repair is journalled."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from licelpush.journal import scan_journal
from licelpush.licelfile import parse_file_name, read_records, scan_records

STATIONS = Path(__file__).resolve().parent / "data" / "acquis"
KILLS = 6
"""Kill points per records-per-file setting."""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def acquire(out: Path, per_file: int, acq: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "licelpush", "acquire", "--emulator", "--emulator-max-speed",
         "--config", str(STATIONS / "eight-recorders.ini"), "--shots", "300",
         "--acq", str(acq), "--acquis_per_file", str(per_file), "--output", str(out),
         "--min-free", "0", "-q"],  # the kill, not the free space of a shared disk, ends it
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def data_files(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if parse_file_name(p.name)) if out.exists() else []


def total_size(out: Path) -> int:
    """Bytes of the data files (a file a starting run removes while it is counted: 0)."""
    total = 0
    for path in data_files(out):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass
    return total


def damaged(out: Path) -> list[Path]:
    return [p for p in data_files(out) if scan_records(p.read_bytes(), str(p))[1] is not None]


def grown(out: Path, data_bytes: int, deadline: float) -> None:
    """Wait until the data files hold ``data_bytes`` in all (or the deadline passes)."""
    while time.monotonic() < deadline:
        if total_size(out) >= data_bytes:
            return
        time.sleep(0.01)


def first_record_length(out: Path, deadline: float) -> int:
    """Bytes of one record (all records of the configuration have the same length)."""
    while time.monotonic() < deadline:
        files = data_files(out)
        records = scan_records(files[0].read_bytes(), "first")[0] if files else []
        if records:
            return records[0].length
        time.sleep(0.01)
    raise AssertionError("no whole record was written in time")


MID_WRITE_RECORDS = 40
"""Records a run may write while :func:`mid_write` waits for a write in progress: at
full speed eight recorders write hundreds of MB a second, and the disk is shared."""


def mid_write(out: Path, record_length: int, deadline: float) -> None:
    """Wait until the newest data file ends inside a record (a write in progress), for
    at most :data:`MID_WRITE_RECORDS` more records."""
    limit = total_size(out) + MID_WRITE_RECORDS * record_length
    while time.monotonic() < deadline:
        if total_size(out) > limit:
            return
        files = data_files(out)
        try:
            if files and max(files, key=lambda p: p.stat().st_mtime_ns).stat().st_size \
                    % record_length:
                return
        except FileNotFoundError:  # removed by a starting run's repair while looked at
            pass


@pytest.mark.parametrize("per_file", [1, 3])
def test_sigkill_at_many_moments_leaves_every_data_file_whole(tmp_path, per_file):
    out = tmp_path / "data"
    rng = random.Random(per_file)
    seen_damaged = 0
    record_length = 0
    for kill in range(KILLS):
        before = damaged(out)  # what the previous kill left; this start repairs it
        seen_damaged += len(before)
        proc = acquire(out, per_file, -1)
        already = total_size(out)
        grown(out, already + rng.randint(1, 24) * 1_000_000, time.monotonic() + 60)
        record_length = record_length or first_record_length(out, time.monotonic() + 60)
        if kill % 2:  # every other kill aims at a write in progress, the rest at any moment
            mid_write(out, record_length, time.monotonic() + 10)
        else:
            time.sleep(rng.random() * 0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        if before:
            journals = sorted(out.glob("journal-*.jsonl"), key=lambda p: p.stat().st_mtime)
            repairs = [e for e in scan_journal(journals[-1])[0] if e["event"] == "repair"]
            assert sorted(e["file"] for e in repairs) == sorted(p.name for p in before)
            for event in repairs:
                quarantine = out / event["quarantine"]
                assert quarantine.stat().st_size >= event["quarantine_offset"] + event[
                    "cut_bytes"]
    seen_damaged += len(damaged(out))
    final = acquire(out, per_file, 1)
    assert final.wait(timeout=120) == 0, final.stderr.read() if final.stderr else ""
    assert damaged(out) == []
    for path in data_files(out):
        assert 1 <= len(read_records(path)) <= per_file
    done = subprocess.run([sys.executable, "-m", "licelpush", "inspect",
                           *map(str, data_files(out))], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for journal in out.glob("journal-*.jsonl"):
        assert scan_journal(journal)[1] is None  # killed runs' journals read to their end
    # the kills did hit writes: otherwise this test would prove nothing
    assert seen_damaged >= 1
    shutil.rmtree(out)  # hundreds of MB: not kept among pytest's last temporary folders

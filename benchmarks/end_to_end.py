"""End-to-end benchmark: ``licelpush emulate --max-speed`` -> ``licelpush acquire`` over loopback.

``acquire`` runs with its default durability (one record per file, each record
one ``writev``, data files, directory and journal fsynced within a second and
before the run ends) into a temporary directory on the output disk. Measured: push bytes
and frames per second while streaming (first to last saved acquisition of the
journal; ``wall_*`` from process start, set-up included), frames lost
(requested − saved; the journal's CRC-32s must equal those of the first frames
in the emulator's ledger), CPU seconds of the ``acquire`` process per
acquisition (``wait4`` rusage of that child: user + system, fsync work included).

For the disk comparison the same volume is written in the same directory twice,
without licelpush: (1) one file per record, one write each, the finished files
and the directory fsynced every second and at the end (what the default
durability does), and (2) one sequential file, fsync every second and at the
end. The target is ≥ 250 MB/s
of push data, or writing ≥ 80 % of what (1) achieved when the disk is slower.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks import procs
from benchmarks.configs import BenchConfig, prepare
from licelpush.decode import FrameDecoder
from licelpush.licelfile import encode_record
from licelpush.records import RecordBuilder

DEFAULT_BYTES = 1024**3
"""Default push volume per configuration."""
MIN_FRAMES, MAX_FRAMES = 20, 20_000
TARGET_BYTES_PER_S = 250e6
TARGET_DISK_FRACTION = 0.8
TARGET_TEXT = ">= 250 MB/s or >= 80% of disk, 0 lost"


def default_frames(frame_length: int) -> int:
    return max(MIN_FRAMES, min(MAX_FRAMES, DEFAULT_BYTES // frame_length))


def record_size(prepared) -> int:
    """Bytes of one encoded record of this configuration."""
    from benchmarks.configs import distinct_frames

    frame = distinct_frames(prepared.plan, 1)[0]
    decoded = FrameDecoder(prepared.plan).decode(frame)
    now = datetime(2026, 1, 1)
    return len(encode_record(RecordBuilder(prepared.config, prepared.plan).build(
        decoded, now, now)))


def disk_baseline(directory: Path, files: int, size: int, sync_interval: float = 1.0) -> dict:
    """Write ``files`` × ``size`` bytes twice in ``directory``: one file per record with
    the durability of ``acquire`` (one write per file; the finished files and the
    directory fsynced every ``sync_interval`` and at the end), and one sequential file
    with an fsync every ``sync_interval``. Returns bytes/s of each."""
    block = os.urandom(min(size, 1 << 20))
    payload = (block * (size // len(block) + 1))[:size]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    target = directory / "disk-per-file"
    target.mkdir()

    def sync_batch(fds: list[int]) -> None:
        for fd in fds:
            os.fsync(fd)
            os.close(fd)
        fds.clear()
        dfd = os.open(target, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        os.fsync(dfd)
        os.close(dfd)

    started = time.perf_counter()
    last_sync = time.monotonic()
    pending: list[int] = []
    for i in range(files):
        fd = os.open(target / f"f{i:07d}", flags, 0o644)
        os.write(fd, payload)
        pending.append(fd)
        if time.monotonic() - last_sync >= sync_interval or len(pending) >= 128:
            sync_batch(pending)
            last_sync = time.monotonic()
    sync_batch(pending)
    per_file = files * size / (time.perf_counter() - started)
    shutil.rmtree(target)
    path = directory / "disk-sequential"
    started = time.perf_counter()
    fd = os.open(path, flags, 0o644)
    last_sync = time.monotonic()
    view = memoryview(payload)
    for _ in range(files):
        written = 0
        while written < size:
            written += os.write(fd, view[written:])
        if time.monotonic() - last_sync >= sync_interval:
            os.fsync(fd)
            last_sync = time.monotonic()
    os.fsync(fd)
    os.close(fd)
    sequential = files * size / (time.perf_counter() - started)
    path.unlink()
    return {"disk_per_file_bytes_per_s": per_file, "disk_sequential_bytes_per_s": sequential}


def _settle_disk() -> None:
    """Flush all dirty pages so that neither measurement pays for the other's writeback."""
    if hasattr(os, "sync"):
        os.sync()


def journal_events(output: Path) -> list[dict]:
    """All events of the (single) journal in ``output``."""
    events = []
    for path in sorted(output.glob("journal-*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            events.extend(json.loads(line) for line in fh if line.strip())
    return events


def check_journal(events: list[dict], ledger: Path | None = None) -> dict:
    """Saved acquisitions as the journal tells them; with the emulator's ledger, whether
    the saved frames are exactly the first frames put on the wire (CRC-32 by CRC-32)."""
    saved = [e for e in events if e.get("event") == "acquisition"]
    numbers = [e.get("n") for e in saved]
    quarantined = [e for e in events if e.get("event") == "quarantine"]
    first = last = None
    if len(saved) >= 2:
        first = _utc(saved[0].get("received_utc"))
        last = _utc(saved[-1].get("received_utc"))
    return {
        "saved": len(saved),
        "numbers_in_order": numbers == list(range(1, len(saved) + 1)),
        "matches_ledger": _matches_ledger(saved, ledger) if ledger is not None else None,
        "quarantines": len(quarantined),
        "quarantined_bytes": sum(int(e.get("length", 0)) for e in quarantined
                                 if not e.get("surplus")),
        "stream_seconds": (last - first) if first is not None and last is not None else None,
    }


def _matches_ledger(saved: list[dict], ledger: Path) -> bool:
    """The journal's CRC-32s equal those of the first frames the emulator sent."""
    sent = []
    with ledger.open(encoding="utf-8") as fh:
        for line in fh:
            entry = json.loads(line)
            if entry.get("event") == "frame" and not entry.get("faults"):
                sent.append(entry.get("crc32"))
                if len(sent) == len(saved):
                    break
    return sent == [e.get("crc32") for e in saved]


def _utc(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def acquire_once(ini: Path, port: int, frames: int, shots: int, output: Path,
                 extra: tuple[str, ...] = (), timeout: float = 1800.0) -> procs.Finished:
    """One ``licelpush acquire`` run against the emulator at ``port``."""
    cmd = procs.licelpush_cmd("acquire", "--config", str(ini), "--ip", "127.0.0.1",
                              "--port", str(port), "--acq", str(frames), "--shots", str(shots),
                              "--output", str(output), "-q", *extra)
    return procs.run_measured(cmd, timeout)


def run(bench: BenchConfig, stations: Path, workdir: Path, out_base: Path,
        frames: int | None = None) -> dict:
    """End-to-end throughput of one configuration (JSON-ready dict)."""
    for name in ("emulate", "acquire"):
        if not procs.has_subcommand(name):
            raise RuntimeError(f"`licelpush {name}` is not available yet")
    prepared = prepare(bench, stations, workdir)
    length = prepared.plan.frame_length
    frames = frames or default_frames(length)
    rec_size = record_size(prepared)
    out_base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bench-e2e-", dir=out_base) as tmp:
        _settle_disk()
        output = Path(tmp) / "acquire"
        ledger = Path(tmp) / "ledger.jsonl"
        with procs.Emulator(["--config", str(prepared.ini), "--max-speed",
                             "--ledger", str(ledger)]) as emulator:
            cpu0 = procs.cpu_seconds(emulator.proc.pid)
            done = acquire_once(prepared.ini, emulator.port, frames, bench.shots, output)
            emulator_cpu = procs.cpu_seconds(emulator.proc.pid) - cpu0
        if done.returncode != 0:
            raise RuntimeError(f"acquire exited with {done.returncode}: "
                               f"{(done.stderr or done.stdout)[-800:]}")
        journal = check_journal(journal_events(output), ledger)
        data_files = [p for p in output.iterdir()
                      if not p.name.startswith(("journal-", "quarantine-", "invalid-"))]
        written = sum(p.stat().st_size for p in data_files)
        shutil.rmtree(output)
        _settle_disk()
        disk = disk_baseline(Path(tmp), frames, rec_size)
    lost = frames - journal["saved"]
    stream_s = journal["stream_seconds"]
    # The rate while streaming (first to last saved acquisition) leaves out start-up
    # (interpreter, imports, connection, recorder set-up); the wall rate includes it.
    stream_frames_per_s = (journal["saved"] - 1) / stream_s if stream_s else None
    frames_per_s = stream_frames_per_s or frames / done.wall_s
    push_rate = frames_per_s * length
    disk_rate = disk["disk_per_file_bytes_per_s"]
    # Compare like with like: acquire writes `written` bytes at frames_per_s; the disk
    # baseline wrote the same files with the same durability.
    output_rate = frames_per_s * written / frames if frames else 0.0
    fraction = output_rate / disk_rate if disk_rate else None
    fast = push_rate >= TARGET_BYTES_PER_S or (fraction or 0.0) >= TARGET_DISK_FRACTION
    met = lost == 0 and journal["matches_ledger"] is not False and fast
    return {
        "benchmark": "end_to_end",
        "config": bench.name,
        "frame_length": length,
        "frames": frames,
        "wall_seconds": done.wall_s,
        "bytes_per_s": push_rate,
        "frames_per_s": frames_per_s,
        "wall_bytes_per_s": frames * length / done.wall_s,
        "wall_frames_per_s": frames / done.wall_s,
        "output_bytes_per_s": output_rate,
        "frames_lost": lost,
        "journal": journal,
        "data_files": len(data_files),
        "data_bytes_written": written,
        "cpu_seconds": done.cpu_s,
        "cpu_s_per_acquisition": done.cpu_s / frames,
        "user_seconds": done.user_s,
        "system_seconds": done.system_s,
        "emulator_cpu_seconds": emulator_cpu,
        "acquire_max_rss_bytes": done.max_rss_bytes,
        "disk_bytes_per_s": disk_rate,
        **disk,
        "fraction_of_disk": fraction,
        "target": TARGET_TEXT,
        "met": met,
    }

"""The record writer's two forms (:mod:`licelpush.platform`): POSIX ``writev`` of the
header and data buffers against the portable ``write`` of the joined record (what
Windows gets, one copy of each record more).

Records of one configuration (decoded from emulated frames) are written with
:class:`~licelpush.filewriter.RecordWriter`, one record per file as a station
does, into a temporary directory below the output base; the fsyncs are left
out of the timed part (``sync_interval`` longer than the run), so what is
measured is the write path: MB/s of wall time and CPU microseconds per
record for each form (the best of :data:`ROUNDS` alternating rounds). No
target: the numbers say what the copy costs.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.configs import BenchConfig, distinct_frames, prepare
from licelpush.decode import FrameDecoder
from licelpush.filewriter import RecordWriter
from licelpush.licelfile import Record, encode_record, file_name
from licelpush.platform import PortableCalls, PosixCalls
from licelpush.records import RecordBuilder

DEFAULT_BYTES = 256 * 2**20
"""Record bytes written per form and round."""
ROUNDS = 2
"""Rounds of both forms, alternating; the best round of each form counts."""


def sample_records(bench: BenchConfig, stations: Path, workdir: Path) -> list[Record]:
    """A few distinct records of the configuration."""
    prepared = prepare(bench, stations, workdir)
    decoder = FrameDecoder(prepared.plan)
    builder = RecordBuilder(prepared.config, prepared.plan)
    start = datetime(2026, 5, 13, 20, 0, 0)
    return [builder.build(decoder.decode(frame), start, start + timedelta(seconds=10), start)
            for frame in distinct_frames(prepared.plan)]


def write_all(records: list[Record], count: int, directory: Path, calls) -> tuple[float, float]:
    """(wall s, CPU s) of writing ``count`` records, each in a file of its own."""
    writer = RecordWriter(directory, "b", records_per_file=1, sync_interval=3600, calls=calls)
    start = records[0].header.start
    timed = []
    for i in range(count):  # a second apart: each record gets a free name at once
        record, when = records[i % len(records)], start + timedelta(seconds=i)
        timed.append(dataclasses.replace(record, header=dataclasses.replace(
            record.header, start=when, name=file_name("b", when))))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for record in timed:
        writer.write(record)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    writer.close()
    return wall, cpu


def run(bench: BenchConfig, stations: Path, workdir: Path, out_base: Path,
        total_bytes: int = DEFAULT_BYTES) -> dict:
    """Write throughput of both forms for one configuration (JSON-ready dict)."""
    records = sample_records(bench, stations, workdir)
    size = len(encode_record(records[0]))
    count = max(4, total_bytes // size)
    out_base.mkdir(parents=True, exist_ok=True)
    result: dict = {"benchmark": "writer_forms", "config": bench.name, "record_bytes": size,
                    "records": count, "target": "-", "met": None,
                    "measured_utc": datetime.now(timezone.utc).isoformat()}
    best: dict[str, tuple[float, float]] = {}
    for calls in (PosixCalls(), PortableCalls()) * ROUNDS:  # alternating: no order bias
        with tempfile.TemporaryDirectory(prefix=".bench-writer-", dir=out_base) as tmp:
            write_all(records, min(count, 8), Path(tmp) / "warm", calls)
            wall, cpu = write_all(records, count, Path(tmp) / "run", calls)
        old = best.get(calls.name, (wall, cpu))
        best[calls.name] = (min(old[0], wall), min(old[1], cpu))
    for name, (wall, cpu) in best.items():
        result[f"{name}_bytes_per_s"] = count * size / wall
        result[f"{name}_cpu_us_per_record"] = cpu / count * 1e6
    return result

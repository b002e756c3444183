"""Pipeline benchmark: frame + validate + decode + build and encode records, in process.

A prepared push stream (a few distinct frames repeated, timestamps rising) is
copied into the framer's buffer in receive-sized chunks through
``Framer.writable()``/``commit()``, exactly as ``recv_into`` would fill it, and
every accepted frame is decoded (:class:`~licelpush.decode.FrameDecoder`),
turned into a record (:class:`~licelpush.records.RecordBuilder`) and encoded to
the buffers the writer hands to the OS in one ``writev``
(:func:`~licelpush.licelfile.record_buffers`: the header bytes and views of the
data). Nothing is written to disk. The time of each stage is measured too, so a
missed target shows where
the time goes.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.configs import BenchConfig, Prepared, prepare, push_stream
from licelpush.decode import FrameDecoder
from licelpush.framing import NEED_DATA, Frame, Framer
from licelpush.licelfile import HeaderEncoder, record_buffers
from licelpush.records import RecordBuilder, acquisition_seconds, acquisition_times

RECV_CHUNK = 256 * 1024
STREAM_BYTES = 64 * 1024 * 1024
"""Largest prepared stream; longer runs replay it with a fresh framer."""
DEFAULT_BYTES = 2 * 1024**3
"""Default amount of push data per configuration (bounded by the frame counts below)."""
MIN_FRAMES, MAX_FRAMES = 200, 100_000
TARGET_BYTES_PER_S = 1e9
TARGET_FRAMES_PER_S = 30_000
STAGES = ("copy", "framing", "decode", "build", "encode")


def default_frames(frame_length: int) -> int:
    """Frames for about :data:`DEFAULT_BYTES` of push data."""
    return max(MIN_FRAMES, min(MAX_FRAMES, DEFAULT_BYTES // frame_length))


class PipelineRunner:
    """Runs the in-process pipeline over a prepared stream, any number of frames."""

    def __init__(self, prepared: Prepared, stream_frames: int, chunk: int = RECV_CHUNK,
                 encode: bool = True) -> None:
        self.prepared = prepared
        plan = prepared.plan
        self.chunk = chunk
        self.encode = encode
        self.stream = push_stream(plan, stream_frames)
        self.decoder = FrameDecoder(plan)
        self.builder = RecordBuilder(prepared.config, plan)
        self.duration_s = acquisition_seconds(prepared.config, plan)
        self.stages_ns = dict.fromkeys(STAGES, 0)
        self.frames = 0
        self.quarantined = 0
        self.record_bytes = 0
        self._previous_stop: datetime | None = None
        self._encoder = HeaderEncoder()

    def run(self, frames: int) -> None:
        """Process ``frames`` more frames (replaying the stream as often as needed)."""
        goal = self.frames + frames
        while self.frames < goal:
            self._one_pass(goal)

    def _one_pass(self, goal: int) -> None:
        plan = self.prepared.plan
        decoder = self.decoder
        framer = Framer(plan.frame_length, decoder.problem, recv_chunk=self.chunk,
                        head_check=decoder.follows, head_length=decoder.head_length)
        stream = memoryview(self.stream)
        total = len(stream)
        stages = self.stages_ns
        clock = time.perf_counter_ns
        pos = 0
        while pos < total and self.frames < goal:
            t0 = clock()
            view = framer.writable()
            n = min(len(view), self.chunk, total - pos)
            view[:n] = stream[pos:pos + n]
            framer.commit(n)
            pos += n
            if pos == total:
                framer.end_of_stream()
            stages["copy"] += clock() - t0
            while self.frames < goal:
                t0 = clock()
                event = framer.next_event()
                t1 = clock()
                stages["framing"] += t1 - t0
                if event is NEED_DATA:
                    break
                if not isinstance(event, Frame):
                    self.quarantined += 1
                    continue
                self._save(event, t1)

    def _save(self, frame: Frame, t0: int) -> None:
        stages = self.stages_ns
        clock = time.perf_counter_ns
        decoded = self.decoder.decode(frame.data)
        t1 = clock()
        stages["decode"] += t1 - t0
        received = datetime.now(timezone.utc).replace(tzinfo=None)
        start, stop = acquisition_times(received, self.duration_s, self._previous_stop)
        self._previous_stop = stop
        record = self.builder.build(decoded, start, stop, start + timedelta(0))
        t2 = clock()
        stages["build"] += t2 - t1
        if self.encode:
            buffers = record_buffers(record, encoder=self._encoder)
            self.record_bytes += sum(len(b) for b in buffers)
            stages["encode"] += clock() - t2
        self.frames += 1


def run(bench: BenchConfig, stations: Path, workdir: Path, frames: int | None = None,
        chunk: int = RECV_CHUNK) -> dict:
    """Pipeline throughput of one configuration (JSON-ready dict)."""
    prepared = prepare(bench, stations, workdir)
    length = prepared.plan.frame_length
    frames = frames or default_frames(length)
    stream_frames = max(1, min(frames, max(8, STREAM_BYTES // length)))
    runner = PipelineRunner(prepared, stream_frames, chunk)
    runner.run(min(frames, 8))  # warm-up: caches, first allocations
    runner.stages_ns = dict.fromkeys(STAGES, 0)
    done, quarantined = runner.frames, runner.quarantined
    started = time.perf_counter()
    cpu0 = time.process_time()
    runner.run(frames)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    processed = runner.frames - done
    bytes_per_s = processed * length / seconds
    frames_per_s = processed / seconds
    if bench.name == "small":
        target, met = f">= {TARGET_FRAMES_PER_S:,} frames/s", frames_per_s >= TARGET_FRAMES_PER_S
    else:
        target, met = f">= {TARGET_BYTES_PER_S / 1e9:g} GB/s", bytes_per_s >= TARGET_BYTES_PER_S
    return {
        "benchmark": "pipeline",
        "config": bench.name,
        "frame_length": length,
        "channels": len(prepared.plan.channels),
        "frames": processed,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes_per_s": bytes_per_s,
        "frames_per_s": frames_per_s,
        "record_bytes_per_frame": runner.record_bytes / max(runner.frames, 1),
        "quarantined": runner.quarantined - quarantined,
        "chunk": chunk,
        "stage_seconds": {k: v / 1e9 for k, v in runner.stages_ns.items()},
        "target": target,
        "met": bool(met) and runner.quarantined == quarantined,
    }

"""Framer benchmark: worst-case cost per MB of hostile push data and the peak buffer.

In process, on the ``typical`` plan (or the one given): each hostile stream is
copied into :meth:`Framer.writable` in 64 KiB receives and committed, and
every event is taken, as ``acquire`` does. Streams (each ``MB`` megabytes):

* ``random``: uniformly random bytes (a push port carrying noise);
* ``ff``: nothing but ``0xFF`` (every position a delimiter);
* ``heads``: a plausible frame head (delimiter, timestamp, shot word) every
  8 bytes: every position a candidate that passes the prefilter;
* ``bad_check``: frames that start with ``FF FF`` but fail the shot-word check;
* ``two_long``: valid frames, each sent 2 bytes too long;
* ``clean``: valid frames (the reference).

Reported per stream: seconds of framer time per MB, MB/s, the most bytes held
undecided (``peak_held``) against the bound (``hold_limit`` = 3 frames + a
head) and the buffer size, and the frames accepted.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.configs import BenchConfig, prepare, push_stream
from licelpush.decode import FrameDecoder
from licelpush.framing import NEED_DATA, Frame, decoder_framer
from licelpush.plan import MPushPlan

RECEIVE = 1 << 16
DEFAULT_MB = 16
TARGET_TEXT = "peak held <= 3 frames + head; >= 10 MB/s of garbage"
TARGET_BYTES_PER_S = 10e6
"""Line rate of a 100 Mbit/s controller link, with margin."""


def streams(plan: MPushPlan, size: int, seed: int = 3) -> dict[str, bytes]:
    """The hostile streams of the module docstring, ``size`` bytes each (about)."""
    rng = np.random.default_rng(seed)
    length = plan.frame_length
    count = max(2, size // length)
    clean = push_stream(plan, count)
    table = np.frombuffer(clean, dtype=np.uint8).reshape(count, length)
    bad = table.copy()
    last = plan.datasets[-1].offset
    bad[:, last:last + 2] = 0xFF  # a shot word out of range: fails the check
    padded = np.zeros((count, length + 2), dtype=np.uint8)
    padded[:, :length] = table
    head = b"\xff\xff\x10\x27\x00\x00" + (plan.shots + 2).to_bytes(2, "little")
    return {
        "random": rng.integers(0, 256, size, dtype=np.uint8).tobytes(),
        "ff": b"\xff" * size,
        "heads": head * (size // len(head)),
        "bad_check": bad.tobytes(),
        "two_long": padded.tobytes(),
        "clean": bytes(clean),
    }


def measure(plan: MPushPlan, data: bytes) -> dict:
    """Frame ``data`` in 64 KiB receives; time, peak buffer, frames."""
    decoder = FrameDecoder(plan)
    framer = decoder_framer(decoder)
    source = memoryview(data)
    counts = {"frames": 0, "quarantined": 0}

    def take() -> None:
        while (event := framer.next_event()) is not NEED_DATA:
            if isinstance(event, Frame):
                counts["frames"] += 1
            else:
                counts["quarantined"] += len(event.data)

    started = time.perf_counter()
    for start in range(0, len(data), RECEIVE):
        chunk = source[start:start + RECEIVE]
        view = framer.writable()
        view[:len(chunk)] = chunk
        del view
        framer.commit(len(chunk), received=0.0)
        take()
    framer.end_of_stream()
    take()
    seconds = time.perf_counter() - started
    frames, quarantined = counts["frames"], counts["quarantined"]
    megabytes = len(data) / 1e6
    return {
        "bytes": len(data),
        "seconds": seconds,
        "seconds_per_mb": seconds / megabytes,
        "bytes_per_s": len(data) / seconds if seconds else None,
        "peak_held": framer.peak_held,
        "hold_limit": framer.hold_limit,
        "buffer_bytes": framer.capacity,
        "frames": frames,
        "quarantined_bytes": quarantined,
    }


def run(bench: BenchConfig, stations: Path, workdir: Path, megabytes: float = DEFAULT_MB) -> dict:
    """Every hostile stream of one configuration (JSON-ready dict)."""
    prepared = prepare(bench, stations, workdir)
    size = int(megabytes * 1e6)
    results = {name: measure(prepared.plan, data)
               for name, data in streams(prepared.plan, size).items()}
    garbage = [r for name, r in results.items() if name != "clean"]
    worst = max(garbage, key=lambda r: r["seconds_per_mb"])
    bounded = all(r["peak_held"] <= r["hold_limit"] for r in results.values())
    return {
        "benchmark": "framing",
        "config": bench.name,
        "frame_length": prepared.plan.frame_length,
        "streams": results,
        "worst_seconds_per_mb": worst["seconds_per_mb"],
        "worst_stream": next(n for n, r in results.items() if r is worst),
        "peak_held": max(r["peak_held"] for r in results.values()),
        "hold_limit": prepared.plan.frame_length * 3 + 8,
        "target": TARGET_TEXT,
        "met": bounded and 1e6 / worst["seconds_per_mb"] >= TARGET_BYTES_PER_S,
    }

"""Polled acquisition benchmark: ``licelpush emulate`` -> ``licelpush acquire --mode poll``.

Each acquisition is a sequence of command round trips (``SELECT``, ``MSTART``,
``MWAIT``, ``MSTOP``, ``MILLISEC?``, ``STAT?`` per recorder, ``DATA?`` per raw
dataset) instead of one pushed frame. The emulator's clock runs
:data:`EMULATOR_SPEED` times faster than real time, so the laser shots take
next to no time and what is measured is the cost of polling: acquisitions and
data bytes per second while streaming (first to last saved acquisition of the
journal), milliseconds per acquisition, CPU seconds of ``acquire`` per
acquisition, acquisitions lost. No target: polling is for controllers without
MPUSH; the numbers say how fast a laser such a controller can keep up with.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks import procs
from benchmarks.configs import BenchConfig, prepare
from benchmarks.end_to_end import acquire_once, check_journal, journal_events

EMULATOR_SPEED = 100_000
"""Emulated seconds per real second: the shots of an acquisition take microseconds."""
DEFAULT_ACQUISITIONS = 200


def run(bench: BenchConfig, stations: Path, workdir: Path, out_base: Path,
        acquisitions: int | None = None) -> dict:
    """Polled throughput of one configuration (JSON-ready dict)."""
    prepared = prepare(bench, stations, workdir)
    length = prepared.plan.frame_length
    count = acquisitions or DEFAULT_ACQUISITIONS
    out_base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bench-poll-", dir=out_base) as tmp:
        output = Path(tmp) / "acquire"
        with procs.Emulator(["--config", str(prepared.ini), "--speed",
                             str(EMULATOR_SPEED)]) as emulator:
            done = acquire_once(prepared.ini, emulator.port, count, bench.shots, output,
                                extra=("--mode", "poll"))
        if done.returncode != 0:
            raise RuntimeError(f"acquire --mode poll exited with {done.returncode}: "
                               f"{(done.stderr or done.stdout)[-800:]}")
        journal = check_journal(journal_events(output))
        shutil.rmtree(output)
    stream_s = journal["stream_seconds"]
    per_s = (journal["saved"] - 1) / stream_s if stream_s else count / done.wall_s
    return {
        "benchmark": "poll",
        "config": bench.name,
        "frame_length": length,
        "datasets_per_acquisition": len(prepared.plan.datasets),
        "acquisitions": count,
        "acquisitions_lost": count - journal["saved"],
        "acquisitions_per_s": per_s,
        "ms_per_acquisition": 1000.0 / per_s if per_s else None,
        "bytes_per_s": per_s * length,
        "wall_seconds": done.wall_s,
        "cpu_s_per_acquisition": done.cpu_s / count,
        "journal": journal,
        "target": "-",
        "met": journal["saved"] == count and journal["numbers_in_order"],
    }

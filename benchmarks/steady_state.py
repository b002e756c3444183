"""Steady-state benchmark: resident memory after 1k and after 100k frames (``small``).

Two measurements:

* ``pipeline``: a fresh Python process runs the in-process pipeline
  (:class:`benchmarks.pipeline.PipelineRunner`: frame, validate, decode, build and
  encode records) and reads its own VmRSS after the first and after the last frame;
* ``acquire`` (when ``licelpush emulate`` and ``acquire`` exist): one ``acquire``
  run of 100k acquisitions against the emulator at full speed with the station
  default of one record per file (100k files of 8 KiB, each fsynced); its VmRSS
  is read when the journal shows 1k saved acquisitions and again just before it
  ends — everything a long run accumulates shows up there.

Target: growth < 10 MB between 1k and 100k frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import procs
from benchmarks.configs import CONFIGS, REPO_ROOT, prepare

FIRST, LAST = 1_000, 100_000
QUICK_FIRST, QUICK_LAST = 50, 500
TARGET_GROWTH = 10 * 10**6
TARGET_TEXT = "growth < 10 MB (1k -> 100k frames)"


def pipeline_child(stations: str, workdir: str, first: int, last: int) -> dict:
    """Runs in the child process: RSS after ``first`` and after ``last`` frames."""
    from benchmarks.pipeline import PipelineRunner

    prepared = prepare(CONFIGS["small"], Path(stations), Path(workdir))
    runner = PipelineRunner(prepared, min(last, 2000))
    runner.run(first)
    rss_first = procs.rss_bytes()
    runner.run(last - first)
    rss_last = procs.rss_bytes()
    return {"source": "pipeline", "first": first, "last": last, "rss_after_first": rss_first,
            "rss_after_last": rss_last, "growth_bytes": rss_last - rss_first,
            "quarantined": runner.quarantined}


def measure_pipeline(stations: Path, workdir: Path, first: int, last: int) -> dict:
    code = ("import json, sys; from benchmarks.steady_state import pipeline_child; "
            "print(json.dumps(pipeline_child(*sys.argv[1:3], int(sys.argv[3]), int(sys.argv[4]))))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code, str(stations), str(workdir), str(first),
                           str(last)], capture_output=True, text=True, env=env, timeout=3600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pipeline child failed: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_acquire(stations: Path, workdir: Path, out_base: Path, first: int, last: int,
                    per_file: int = 1) -> dict:
    """One ``acquire --acq last`` run; its VmRSS is sampled while the journal is watched,
    and taken when ``first`` acquisitions are saved and at the last sample before it ends.

    (``wait4``'s ``ru_maxrss`` cannot be used: it includes the forking parent's
    memory before ``exec``.)"""
    from benchmarks.end_to_end import check_journal, journal_events

    prepared = prepare(CONFIGS["small"], stations, workdir)
    with tempfile.TemporaryDirectory(prefix=".bench-steady-", dir=out_base) as tmp, \
            procs.Emulator(["--config", str(prepared.ini), "--max-speed"]) as emulator:
        output = Path(tmp) / "acquire"
        cmd = procs.licelpush_cmd("acquire", "--config", str(prepared.ini), "--ip", "127.0.0.1",
                                  "--port", str(emulator.port), "--acq", str(last), "--shots",
                                  str(prepared.plan.shots), "--output", str(output),
                                  "--acquis_per_file", str(per_file), "-q")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watcher = _JournalCounter(output)
        at_first = latest = None
        deadline = time.monotonic() + 3600
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                rss = procs.rss_bytes(proc.pid)
            except (OSError, RuntimeError):
                break  # ended between poll() and the read
            saved = watcher.count()
            if saved >= first and at_first is None:
                at_first = (saved, rss)
            if saved >= first:
                latest = (saved, rss)
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"acquire --acq {last} exited with {proc.returncode}: "
                               f"{stderr.decode(errors='replace')[-800:]}")
        saved = check_journal(journal_events(output))["saved"]
    if saved != last:
        raise RuntimeError(f"acquire --acq {last} saved {saved}")
    if at_first is None or latest is None:
        raise RuntimeError("acquire ended before its memory could be sampled")
    return {"source": "acquire", "acquis_per_file": per_file, "first": at_first[0],
            "last": latest[0], "rss_after_first": at_first[1], "rss_after_last": latest[1],
            "growth_bytes": latest[1] - at_first[1]}


class _JournalCounter:
    """Counts ``acquisition`` events of the journal in a directory, reading only new bytes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path: Path | None = None
        self.offset = 0
        self.saved = 0

    def count(self) -> int:
        if self.path is None:
            found = sorted(self.directory.glob("journal-*.jsonl"))
            if not found:
                return 0
            self.path = found[0]
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        complete = data.rfind(b"\n") + 1
        self.saved += data[:complete].count(b'"event":"acquisition"')
        self.offset += complete
        return self.saved


def run(stations: Path, workdir: Path, out_base: Path, quick: bool = False) -> dict:
    """Memory growth of the pipeline and, when available, of ``acquire``."""
    first, last = (QUICK_FIRST, QUICK_LAST) if quick else (FIRST, LAST)
    measurements = [measure_pipeline(stations, workdir, first, last)]
    notes = []
    if procs.has_subcommand("emulate") and procs.has_subcommand("acquire"):
        measurements.append(measure_acquire(stations, workdir, out_base, first, last))
    else:
        notes.append("licelpush emulate/acquire not available: acquire not measured")
    return {
        "benchmark": "steady_state",
        "config": "small",
        "measurements": measurements,
        "max_growth_bytes": max(m["growth_bytes"] for m in measurements),
        "notes": notes,
        "target": TARGET_TEXT,
        "met": all(m["growth_bytes"] < TARGET_GROWTH for m in measurements),
    }

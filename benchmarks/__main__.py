"""``python -m benchmarks``: run the benchmarks, print a table, write JSON (issue 6).

Run from the repository root. ``--only`` picks one benchmark (pipeline,
end_to_end, steady_state, idle, export_netcdf, framing, latency, hostile, poll,
and the ones not run by default: quicklook_day, monitor_cpu, writer_forms), ``--configs`` the
configurations of the pipeline, end-to-end and framing benchmarks, ``--frames``
the frame count of the first two, ``--quick`` tiny sizes and short measurements
(used by the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    configs,
    end_to_end,
    export_netcdf,
    framing,
    idle,
    latency,
    looking,
    pipeline,
    poll,
    steady_state,
    writer_forms,
)

DEFAULT_BENCHMARKS = ("pipeline", "end_to_end", "steady_state", "idle", "export_netcdf",
                      "framing", "latency", "hostile", "poll")
LOOKING_BENCHMARKS = ("quicklook_day", "monitor_cpu")
"""Run only when named with --only (a day of files takes minutes to generate)."""
ON_REQUEST = LOOKING_BENCHMARKS + ("writer_forms",)
"""Benchmarks run only when named with --only."""
BENCHMARKS = DEFAULT_BENCHMARKS + ON_REQUEST
DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"


def machine() -> dict:
    """The machine the numbers were measured on."""
    import numpy

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_bytes": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=BENCHMARKS, action="append",
                   help="run only this benchmark (repeatable)")
    p.add_argument("--configs", metavar="NAMES",
                   help=f"comma-separated configurations (default: {','.join(configs.CONFIGS)})")
    p.add_argument("--frames", type=int, metavar="N",
                   help="frames per configuration for pipeline and end-to-end "
                        "(default: about 2 GiB of push data for the pipeline, "
                        "end_to_end.DEFAULT_BYTES for end to end)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="OUT",
                   help=f"write the results here (default {DEFAULT_JSON})")
    p.add_argument("--stations", type=Path, default=configs.DEFAULT_STATIONS,
                   help="directory of the station configurations "
                        f"(default {configs.DEFAULT_STATIONS})")
    p.add_argument("--output-dir", type=Path,
                   help="where end-to-end writes its files and the disk test runs "
                        "(default: a temporary directory in the repository)")
    p.add_argument("--idle-seconds", type=float, default=idle.DEFAULT_SECONDS,
                   help=f"idle measurement time (default {idle.DEFAULT_SECONDS:g} s)")
    p.add_argument("--day-files", type=int, default=looking.DAY_FILES, metavar="N",
                   help=f"files of quicklook_day (default {looking.DAY_FILES}: a day of 15-s "
                   "files)")
    p.add_argument("--monitor-seconds", type=float, default=60.0, metavar="S",
                   help="length of each monitor_cpu run (default 60 s)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and short measurements (smoke test; numbers meaningless)")
    return p.parse_args(argv)


def _fmt_rate(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.1f} {unit}"


def _row(result: dict) -> tuple[str, str, str, str, str]:
    kind = result["benchmark"]
    name = result.get("config", "-")
    if "error" in result:
        return kind, name, f"ERROR: {result['error']}", result.get("target", "-"), "no"
    if kind == "pipeline":
        text = (f"{_fmt_rate(result['bytes_per_s'], 'B/s')}, "
                f"{result['frames_per_s']:,.0f} frames/s")
    elif kind == "end_to_end":
        text = (f"{_fmt_rate(result['bytes_per_s'], 'B/s')}, "
                f"{result['frames_per_s']:,.0f} frames/s, lost {result['frames_lost']}, "
                f"{result['cpu_s_per_acquisition'] * 1e3:.2f} ms CPU/acq; writes "
                f"{_fmt_rate(result['output_bytes_per_s'], 'B/s')} = "
                f"{100 * (result['fraction_of_disk'] or 0):.0f}% of disk "
                f"({_fmt_rate(result['disk_per_file_bytes_per_s'], 'B/s')} per-file durable, "
                f"{_fmt_rate(result['disk_sequential_bytes_per_s'], 'B/s')} sequential)")
    elif kind == "steady_state":
        text = "; ".join(
            f"{m['source']}: RSS {m['rss_after_first'] / 2**20:.1f} MiB after "
            f"{m['first']:,} -> {m['rss_after_last'] / 2**20:.1f} MiB after {m['last']:,} "
            f"(+{m['growth_bytes'] / 2**20:.2f} MiB)"
            for m in result["measurements"])
    elif kind == "poll":
        text = (f"{result['acquisitions_per_s']:,.0f} acquisitions/s "
                f"({result['ms_per_acquisition']:.2f} ms each, "
                f"{result['datasets_per_acquisition']} DATA? each), "
                f"{_fmt_rate(result['bytes_per_s'], 'B/s')}, lost {result['acquisitions_lost']}, "
                f"{result['cpu_s_per_acquisition'] * 1e3:.2f} ms CPU/acq")
    elif kind == "quicklook_day":
        text = (f"{result['files']} files ({result['data_bytes'] / 1e9:.2f} GB) drawn in "
                f"{result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, peak RSS "
                f"{result['max_rss_bytes'] / 2**20:.0f} MiB")
    elif kind == "monitor_cpu":
        text = (f"monitor {result['monitor_cpu_percent']:.2f} % of one core; acquire write "
                f"latency p99 {result['p99_ms_alone']:.1f} ms alone, "
                f"{result['p99_ms_watched']:.1f} ms watched (p50 {result['p50_ms_alone']:.1f}"
                f" / {result['p50_ms_watched']:.1f} ms)")
    elif kind == "writer_forms":
        text = (f"{result['records']} records of {result['record_bytes']:,} B: writev "
                f"{_fmt_rate(result['posix_bytes_per_s'], 'B/s')} "
                f"({result['posix_cpu_us_per_record']:.0f} us CPU/record), joined write "
                f"{_fmt_rate(result['portable_bytes_per_s'], 'B/s')} "
                f"({result['portable_cpu_us_per_record']:.0f} us CPU/record)")
    elif kind == "idle":
        text = (f"{result['cpu_percent']:.3f} % of one core over {result['seconds']:.0f} s, "
                f"{result['frames']} frames")
    elif kind == "framing":
        text = (f"worst {result['worst_seconds_per_mb'] * 1e3:.1f} ms/MB "
                f"({result['worst_stream']}); peak held {result['peak_held']:,} B "
                f"of bound {result['hold_limit']:,} B")
    elif kind == "latency":
        text = (f"last byte -> write p50 {result['latency_p50_ms']:.2f} ms, "
                f"p99 {result['latency_p99_ms']:.2f} ms, max {result['latency_max_ms']:.2f} ms "
                f"({result['frames']} frames)")
    elif kind == "hostile":
        first = result["first_abandon_s"]
        text = (f"{result['abandons']} abandons in {result['seconds']:.0f} s, first after "
                f"{'-' if first is None else f'{first:.1f} s'}; peak RSS "
                f"{result['peak_rss_bytes'] / 2**20:.1f} MiB")
    elif kind == "export_netcdf":
        text = (f"{_fmt_rate(result['bytes_per_s'], 'B/s')} of Licel input "
                f"({result['files']} files, {result['input_bytes'] / 1e6:.0f} MB in "
                f"{result['seconds']:.1f} s; {_fmt_rate(result['bytes_per_cpu_s'], 'B')} per CPU "
                f"second), peak RSS {result['max_rss_bytes'] / 1e6:.0f} MB")
    else:  # pragma: no cover
        text = json.dumps(result)
    met = result.get("met")
    return kind, name, text, result.get("target", "-"), "-" if met is None else (
        "yes" if met else "NO")


def print_table(results: list[dict], out=sys.stdout) -> None:
    """One line per result: benchmark, configuration, numbers, target, met."""
    rows = [("benchmark", "config", "result", "target", "met")] + [_row(r) for r in results]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) if j < 4 else cell
                        for j, cell in enumerate(row)), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  ---", file=out)


def _guard(kind: str, name: str, target: str, fn: Callable[[], dict | list[dict]]) -> list[dict]:
    """Run one measurement; a failure becomes an ``error`` result instead of aborting."""
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
        return [{"benchmark": kind, "config": name, "error": f"{type(exc).__name__}: {exc}",
                 "target": target, "met": False}]
    return result if isinstance(result, list) else [result]


def run_all(args: argparse.Namespace, report: Callable[[dict], None] | None = None) -> dict:
    """Run the selected benchmarks; returns the JSON document."""
    chosen = args.only or list(DEFAULT_BENCHMARKS)
    benches = configs.select(args.configs)
    results: list[dict] = []

    def add(items: list[dict]) -> None:
        for item in items:
            results.append(item)
            if report:
                report(item)

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="licelpush-bench-") as tmp:
        workdir = Path(tmp)
        out_base = args.output_dir or configs.REPO_ROOT
        if "pipeline" in chosen:
            for bench in benches:
                frames = args.frames or (20 if args.quick else None)
                add(_guard("pipeline", bench.name, "", lambda b=bench, f=frames: pipeline.run(
                    b, args.stations, workdir, frames=f)))
        if "end_to_end" in chosen:
            for bench in benches:
                frames = args.frames or (5 if args.quick else None)
                add(_guard("end_to_end", bench.name, end_to_end.TARGET_TEXT,
                           lambda b=bench, f=frames: end_to_end.run(
                               b, args.stations, workdir, out_base, frames=f)))
        if "steady_state" in chosen:
            add(_guard("steady_state", "small", steady_state.TARGET_TEXT,
                       lambda: steady_state.run(args.stations, workdir, out_base,
                                                quick=args.quick)))
        if "framing" in chosen:
            for bench in benches:
                mb = 1.0 if args.quick else framing.DEFAULT_MB
                add(_guard("framing", bench.name, framing.TARGET_TEXT,
                           lambda b=bench, m=mb: framing.run(b, args.stations, workdir, m)))
        if "latency" in chosen:
            add(_guard("latency", "typical", latency.TARGET_TEXT,
                       lambda: latency.run(args.stations, workdir, out_base,
                                           frames=10 if args.quick else latency.FRAMES)))
        if "hostile" in chosen:
            add(_guard("hostile", "typical", latency.HOSTILE_TARGET_TEXT,
                       lambda: latency.hostile(args.stations, workdir, out_base,
                                               seconds=4.0 if args.quick
                                               else latency.HOSTILE_SECONDS,
                                               speed=100.0 if args.quick else 20.0)))
        if "idle" in chosen:
            seconds = 3.0 if args.quick else args.idle_seconds
            add(_guard("idle", "typical", idle.TARGET_TEXT,
                       lambda: idle.run(args.stations, workdir, out_base, seconds=seconds,
                                        quick=args.quick)))
        if "export_netcdf" in chosen:
            add(_guard("export_netcdf", "typical", export_netcdf.TARGET_TEXT,
                       lambda: export_netcdf.run(args.stations, workdir, out_base,
                                                 quick=args.quick)))
        if "poll" in chosen:
            for bench in benches:
                count = args.frames or (5 if args.quick else None)
                add(_guard("poll", bench.name, "-", lambda b=bench, n=count: poll.run(
                    b, args.stations, workdir, out_base, acquisitions=n)))
        if "quicklook_day" in chosen:
            files = 20 if args.quick else args.day_files
            add(_guard("quicklook_day", "day", looking.QUICKLOOK_TARGET_TEXT,
                       lambda: looking.quicklook_day(workdir, out_base, files=files)))
        if "writer_forms" in chosen:
            for bench in benches:
                size = 4 * 2**20 if args.quick else writer_forms.DEFAULT_BYTES
                add(_guard("writer_forms", bench.name, "-",
                           lambda b=bench, s=size: writer_forms.run(
                               b, args.stations, workdir, out_base, total_bytes=s)))
        if "monitor_cpu" in chosen:
            seconds = 3.0 if args.quick else args.monitor_seconds
            add(_guard("monitor_cpu", "day@20Hz", looking.MONITOR_TARGET_TEXT,
                       lambda: looking.monitor_cpu(workdir, out_base, seconds=seconds)))
    return {
        "machine": machine(),
        "started_unix": started,
        "quick": bool(args.quick),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    def progress(result: dict) -> None:
        kind, name, text, _, met = _row(result)
        print(f"[{kind} {name}] {text} (target met: {met})", file=sys.stderr, flush=True)

    document = run_all(args, report=progress)
    print_table(document["results"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {args.json}")
    return 1 if any("error" in r for r in document["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())

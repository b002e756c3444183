"""Smoke test of ``python -m benchmarks``: every benchmark runs at tiny size and its
JSON is complete and consistent. No timing assertions: the numbers are only
checked for what must hold whatever the speed of the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from licelpush.config import load_config
from licelpush.hardware import RecorderHardware
from licelpush.plan import make_plan

REPO = Path(__file__).resolve().parents[1]
STATIONS = REPO / "tests" / "data" / "acquis"
CONFIGS = ("small", "eight")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--configs", ",".join(CONFIGS),
         "--stations", str(STATIONS), "--output-dir", str(out), "--json", str(out / "r.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "benchmark" in done.stdout and "results written to" in done.stdout
    assert [p.name for p in out.iterdir()] == ["r.json"]  # temporary output cleaned up
    return json.loads((out / "r.json").read_text())


def results(document: dict, kind: str) -> list[dict]:
    found = [r for r in document["results"] if r["benchmark"] == kind]
    for r in found:
        assert "error" not in r, r
    return found


def frame_length(name: str) -> int:
    ini = {"eight": "eight-recorders.ini"}[name]
    cfg = load_config(STATIONS / ini)
    hw = {r.address: RecorderHardware() for r in cfg.active_recorders}
    return make_plan(cfg, hw, 300).frame_length


def test_machine_is_described(document: dict) -> None:
    machine = document["machine"]
    assert machine["nproc"] >= 1
    assert machine["cpu"] and machine["python"].count(".") == 2 and machine["numpy"]
    assert document["quick"] is True


def test_pipeline_results_are_consistent(document: dict) -> None:
    found = results(document, "pipeline")
    assert [r["config"] for r in found] == list(CONFIGS)
    for r in found:
        assert r["frames"] == 20 and r["quarantined"] == 0
        assert r["bytes_per_s"] == pytest.approx(r["frames"] * r["frame_length"] / r["seconds"])
        assert r["frames_per_s"] == pytest.approx(r["frames"] / r["seconds"])
        assert set(r["stage_seconds"]) == {"copy", "framing", "decode", "build", "encode"}
        assert 0 < sum(r["stage_seconds"].values()) <= r["seconds"]
        # a record holds every decoded value as int32: more bytes than the raw words
        assert r["record_bytes_per_frame"] > r["frame_length"]
        assert isinstance(r["met"], bool)
    small, eight = found
    assert small["frame_length"] == 6 + 3 * (2 + 2 * 1000)  # LSW, MSW, PC of 1000 bins
    assert eight["frame_length"] == frame_length("eight")
    assert eight["channels"] == 64


def test_end_to_end_saves_every_frame(document: dict) -> None:
    found = results(document, "end_to_end")
    assert [r["config"] for r in found] == list(CONFIGS)
    for r in found:
        assert r["frames"] == 5 and r["frames_lost"] == 0
        journal = r["journal"]
        assert journal["saved"] == 5 and journal["numbers_in_order"]
        assert journal["matches_ledger"] is True and journal["quarantined_bytes"] == 0
        assert r["data_files"] == 5  # default durability: one record per file
        assert r["data_bytes_written"] > 5 * r["frame_length"]
        assert r["cpu_seconds"] > 0 and r["cpu_s_per_acquisition"] == pytest.approx(
            r["cpu_seconds"] / 5)
        assert r["disk_per_file_bytes_per_s"] > 0 and r["disk_sequential_bytes_per_s"] > 0
        assert r["wall_bytes_per_s"] == pytest.approx(5 * r["frame_length"] / r["wall_seconds"])
        assert r["bytes_per_s"] == pytest.approx(r["frames_per_s"] * r["frame_length"])
        assert r["output_bytes_per_s"] == pytest.approx(
            r["frames_per_s"] * r["data_bytes_written"] / 5)


def test_steady_state_measures_pipeline_and_acquire(document: dict) -> None:
    (r,) = results(document, "steady_state")
    sources = [m["source"] for m in r["measurements"]]
    assert sources == ["pipeline", "acquire"]
    for m in r["measurements"]:
        assert m["first"] < m["last"]
        assert m["rss_after_first"] > 10 * 2**20 and m["rss_after_last"] > 10 * 2**20
        assert m["growth_bytes"] == m["rss_after_last"] - m["rss_after_first"]
    assert r["max_growth_bytes"] == max(m["growth_bytes"] for m in r["measurements"])


def test_idle_reports_cpu_share(document: dict) -> None:
    (r,) = results(document, "idle")
    assert r["config"] == "typical" and r["shots"] == 300 and r["rate_hz"] == 20
    assert r["cpu_percent"] == pytest.approx(100 * r["cpu_seconds"] / r["seconds"])
    assert r["cpu_seconds"] >= 0 and r["acquire_rss_bytes"] > 0
    assert r["met"] == (r["cpu_percent"] <= 1.0)


def test_framing_reports_cost_and_a_bounded_buffer(document: dict) -> None:
    found = results(document, "framing")
    assert [r["config"] for r in found] == list(CONFIGS)
    for r in found:
        assert set(r["streams"]) == {"random", "ff", "heads", "bad_check", "two_long", "clean"}
        for name, stream in r["streams"].items():
            assert stream["peak_held"] <= stream["hold_limit"] == 3 * r["frame_length"] + 8
            assert stream["seconds_per_mb"] > 0
            if name == "clean":
                assert stream["quarantined_bytes"] == 0 and stream["frames"] >= 2
            else:
                assert stream["frames"] == 0 and stream["quarantined_bytes"] > 0
        assert r["worst_seconds_per_mb"] == max(
            s["seconds_per_mb"] for n, s in r["streams"].items() if n != "clean")


def test_latency_and_hostile_soak_are_measured(document: dict) -> None:
    (latency,) = results(document, "latency")
    assert latency["frames"] == 10
    assert 0 <= latency["latency_p50_ms"] <= latency["latency_p99_ms"] <= \
        latency["latency_max_ms"]
    assert latency["stop_minus_send_p50_ms"] is not None
    (hostile,) = results(document, "hostile")
    assert hostile["abandons"] >= 1 and hostile["first_abandon_s"] is not None
    assert hostile["peak_rss_bytes"] > 10 * 2**20


def test_export_netcdf_reports_rate_and_memory(document: dict) -> None:
    (r,) = results(document, "export_netcdf")
    assert r["files"] == 20 and r["input_bytes"] > 20 * 200_000  # 52 000 int32 per record
    assert r["bytes_per_s"] == pytest.approx(r["input_bytes"] / r["seconds"])
    assert r["bytes_per_cpu_s"] == pytest.approx(r["input_bytes"] / r["cpu_seconds"])
    assert r["max_rss_bytes"] > 10 * 2**20 and r["output_bytes"] > 0
    assert r["met"] == (r["bytes_per_s"] >= 100e6 and r["max_rss_bytes"] < 500e6)


def test_poll_results_are_consistent(document: dict) -> None:
    found = results(document, "poll")
    assert [r["config"] for r in found] == list(CONFIGS)
    for r in found:
        assert r["acquisitions"] == 5 and r["acquisitions_lost"] == 0 and r["met"] is True
        if r["config"] == "eight":
            assert r["frame_length"] == frame_length("eight")
        assert r["acquisitions_per_s"] > 0
        assert r["bytes_per_s"] == pytest.approx(r["acquisitions_per_s"] * r["frame_length"])

def test_looking_benchmarks_run_at_tiny_size(tmp_path: Path) -> None:
    """quicklook_day and monitor_cpu are not in the default run; at --quick size they run
    and report what they measured."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "quicklook_day", "--only",
         "monitor_cpu", "--output-dir", str(tmp_path), "--json", str(tmp_path / "r.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((tmp_path / "r.json").read_text())
    day, = results(document, "quicklook_day")
    assert day["files"] == 20 and day["data_bytes"] > 20 * 4 * 16379 * 4
    assert day["wall_s"] > 0 and day["max_rss_bytes"] > 0
    monitor, = results(document, "monitor_cpu")
    assert monitor["acquisitions_alone"] > 0 and monitor["acquisitions_watched"] > 0
    assert monitor["monitor_cpu_percent"] >= 0
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # generated data removed


def test_writer_forms_benchmark_measures_both_forms(tmp_path: Path) -> None:
    """writer_forms is not in the default run; at --quick size it writes with both forms."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "writer_forms", "--configs",
         "small", "--stations", str(STATIONS), "--output-dir", str(tmp_path),
         "--json", str(tmp_path / "r.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result, = results(json.loads((tmp_path / "r.json").read_text()), "writer_forms")
    assert result["records"] * result["record_bytes"] >= 4 * 2**20 - result["record_bytes"]
    for form in ("posix", "portable"):
        assert result[f"{form}_bytes_per_s"] > 0 and result[f"{form}_cpu_us_per_record"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # written files removed

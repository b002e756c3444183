"""``licelpush check``: plan output, warnings, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from optional import shared_path

from licelpush.cli import main

STATIONS = Path(__file__).resolve().parent / "data" / "acquis"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "Acquis.ini"


def test_check_prints_the_plan(capsys):
    assert main(["check", str(STATIONS / "station.ini"), "--shots", "300"]) == 0
    out = capsys.readouterr().out
    assert "MPUSH 300 0 16000 LSW A 0 16000 MSW A 0 16000 PC A" in out
    assert f"frame size: {6 + 3 * (2 + 2 * 16000)} bytes" in out
    assert "warnings:" not in out


def test_check_warns_of_shot_limit_overflow_and_reader_limits(capsys):
    assert main(["check", str(EXAMPLE), "--shots", "5000", "--hardware", "1:12/4"]) == 0
    out = capsys.readouterr().out
    assert "ShotLimit = 4096 is below 5000 shots" in out
    assert "TR1: 12-bit analogue sums of 5000 shots" in out
    assert main(["check", str(STATIONS / "two-recorders.ini")]) == 0
    assert "public readers: linc merges" in capsys.readouterr().out


def test_check_reports_every_problem_and_exits_2(capsys):
    broken = Path(__file__).resolve().parent / "data" / "broken" / "many_problems.ini"
    assert main(["check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "15 problems:" in err and err.count("many_problems.ini:") == 15
    assert "Traceback" not in err


@pytest.mark.parametrize("spec", ["0:16", "x:16/4", "0:14/4", "5:12/4"])
def test_check_rejects_bad_hardware(capsys, spec):
    assert main(["check", str(EXAMPLE), "--hardware", spec]) == 2
    assert "--hardware" in capsys.readouterr().err


def test_every_station_file_of_the_shared_folder_passes_check(capsys):
    """The vendor's sample file (``LaserD = 4`` on a disabled memory, ``frequency4``)
    is accepted as it is, like every station configuration kept beside it."""
    folder = shared_path("testdata", "acquis")
    files = sorted(folder.glob("*.ini"))
    assert "vendor-sample.ini" in [f.name for f in files]
    for path in files:
        assert main(["check", str(path)]) == 0, capsys.readouterr().err

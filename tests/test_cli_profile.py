"""``licelpush profile`` through licelpush.cli.main."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon

from licelpush import cli
from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
from licelpush.licelfile import encode_record


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, object]:
    record = make_record([analogue(0, 532, "p", bins=6, shots=10, adc_bits=12,
                                   input_range_mv=500.0, bin_shift=1.0),
                          photon(0, 532, "p", bins=6, shots=10, bin_width_m=7.5)], seed=2)
    path = tmp_path / "b2651321.034512"
    path.write_bytes(encode_record(record) + encode_record(record))
    return path, record


def test_text_output_names_units_and_bin_shift(sample, capsys) -> None:
    path, record = sample
    assert cli.main(["profile", str(path)]) == 0
    out = capsys.readouterr().out
    assert "532.p analogue TR0 (BT0)" in out and "bin shift 1 bins, unit mV" in out
    assert "532.p photon counting TR0 (BC0)" in out and "unit MHz" in out
    first_mv = record.data[0][0] / 10 * 500 / 4096
    assert f"{-3.75:12.3f} {first_mv:>14.6g}" in out


def test_csv_values_are_the_physical_ones(sample, capsys) -> None:
    path, record = sample
    assert cli.main(["profile", str(path), "--channel", "532.p:pc", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["channel"] for r in rows] == ["1"] * 6
    assert {r["unit"] for r in rows} == {"MHz"}
    np.testing.assert_allclose([float(r["value"]) for r in rows],
                               record.data[1] / 10 * 20.0, rtol=1e-5)
    np.testing.assert_allclose([float(r["range_m"]) for r in rows],
                               (np.arange(6) + 0.5) * 7.5)


def test_json_with_background_range_correction_and_max_range(sample, capsys) -> None:
    path, record = sample
    assert cli.main(["profile", str(path), "--json", "--record", "-1", "--range-corrected",
                     "--background", "pretrigger:2", "--max-range", "0.02"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["record"] == -1 and doc["site"] == record.header.site
    an, pc = doc["channels"]
    assert an["unit"] == "mV km²" and an["bin_shift"] == 1.0
    assert an["range_m"] == [-3.75, 3.75, 11.25, 18.75]
    assert an["values"][0] is None  # negative range: no range-corrected value
    mv = record.data[0] / 10 * 500 / 4096
    assert an["background"] == pytest.approx(mv[:2].mean())
    assert an["values"][1] == pytest.approx((mv[1] - mv[:2].mean()) * 0.00375**2)
    assert pc["range_m"] == [3.75, 11.25, 18.75]


def test_bad_input_is_one_line_with_its_status(sample, tmp_path, capsys) -> None:
    path, _ = sample
    assert cli.main(["profile", str(path), "--channel", "355"]) == EXIT_USAGE
    assert "matches no dataset" in capsys.readouterr().err
    assert cli.main(["profile", str(path), "--record", "5"]) == EXIT_USAGE
    assert "no record 5 (the file has 2)" in capsys.readouterr().err
    assert cli.main(["profile", str(tmp_path / "missing")]) == EXIT_USAGE
    assert cli.main(["profile", str(path), "--background", "far:9-1"]) == EXIT_USAGE
    damaged = tmp_path / "b2651321.034513"
    damaged.write_bytes(path.read_bytes()[:-20])
    assert cli.main(["profile", str(damaged)]) == EXIT_DAMAGED_FILE  # record 0 still shown
    captured = capsys.readouterr()
    assert "unit MHz" in captured.out and "damaged" in captured.err
    assert cli.main(["profile", str(damaged), "--record", "1"]) == EXIT_DAMAGED_FILE
    assert "truncated" in capsys.readouterr().err

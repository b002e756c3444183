"""``licelpush split --rewrite``: vendor-layout files re-encoded, one record per file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon, vendor_layout

from licelpush import cli
from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
from licelpush.licelfile import Record, read_records
from licelpush.rewrite import parse_time_zone, rewritten, to_utc

START = datetime(2026, 5, 13, 21, 3, 45, 120000)


def vendor_records(count: int = 3, bins: int = 200) -> list[Record]:
    datasets = [analogue(0, 532, "p", bins=bins, bin_shift=2.25),
                photon(0, 532, "p", bins=bins, level=12),
                analogue(1, 1064, laser=2, bins=bins // 2, adc_bits=16, input_range_mv=20.0)]
    return [make_record(datasets, start=START + timedelta(seconds=15 * i), seed=i,
                        site="Mt Abu") for i in range(count)]


def vendor_file(directory: Path, records: list[Record]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "b2651321.034512"
    path.write_bytes(b"".join(vendor_layout(r) for r in records))
    return path


def run(argv: list[str]) -> int:
    return cli.main(["split", *argv])


def test_time_zones() -> None:
    assert parse_time_zone("UTC") is timezone.utc
    assert parse_time_zone("+01:00").utcoffset(None) == timedelta(hours=1)
    assert parse_time_zone("-0530").utcoffset(None) == -timedelta(hours=5, minutes=30)
    berlin = parse_time_zone("Europe/Berlin")
    assert to_utc(datetime(2026, 5, 13, 21, 3, 45), berlin) == datetime(2026, 5, 13, 19, 3, 45)
    assert to_utc(datetime(2026, 1, 13, 0, 30), berlin) == datetime(2026, 1, 12, 23, 30)
    # 02:30 occurs twice on 25 Oct 2026: the first occurrence (summer time) is taken
    assert to_utc(datetime(2026, 10, 25, 2, 30), berlin) == datetime(2026, 10, 25, 0, 30)
    for bad in ("Mars/Olympus", "+25:00", ""):
        with pytest.raises(ValueError, match="time zone"):
            parse_time_zone(bad)


def test_rewritten_keeps_values_and_moves_times() -> None:
    record = vendor_records(1)[0]
    new = rewritten(record, parse_time_zone("+02:00"))
    assert new.header.start == record.header.start - timedelta(hours=2)
    assert new.header.stop == record.header.stop - timedelta(hours=2)
    assert new.header.name == "b2651319.034512"
    assert new.header.datasets == record.header.datasets
    assert all(a is b for a, b in zip(new.data, record.data))
    assert rewritten(record).header.start == record.header.start


def test_rewrite_vendor_file_one_record_per_file(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    records = vendor_records(3)
    source = vendor_file(tmp_path / "in", records)
    out = tmp_path / "out"
    assert run(["--rewrite", str(source), "-o", str(out), "--time-zone", "Europe/Berlin"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["b2651319.034512", "b2651319.040012", "b2651319.041512"]
    for path, want in zip(files, records):
        raw = path.read_bytes()
        header = raw[:raw.index(b"\r\n\r\n")]
        assert b"\n" not in header.replace(b"\r\n", b"")  # CRLF line ends
        assert all(len(line) >= 78 for line in header.split(b"\r\n"))  # padded
        (got,) = read_records(path)
        assert got.header.name == path.name
        assert got.header.start == want.header.start - timedelta(hours=2)
        assert got.header.datasets == want.header.datasets
        for a, b in zip(got.data, want.data):
            np.testing.assert_array_equal(a, b)
    capsys.readouterr()
    assert run(["--rewrite", str(source), "-o", str(out), "--time-zone", "Europe/Berlin"]) == 0
    assert capsys.readouterr().out.count("already in") == 3
    assert len(list(out.iterdir())) == 3


def test_rewrite_of_damaged_file_keeps_intact_records(tmp_path: Path) -> None:
    records = vendor_records(2)
    source = vendor_file(tmp_path / "in", records)
    source.write_bytes(source.read_bytes()[:-10])
    out = tmp_path / "out"
    assert run(["--rewrite", str(source), "-o", str(out)]) == EXIT_DAMAGED_FILE
    (only,) = out.iterdir()
    assert only.name == records[0].header.name


@pytest.mark.parametrize("argv, message", [
    (["--rewrite", "{src}"], "needs -o"),
    (["--time-zone", "UTC", "{src}", "-o", "{out}"], "needs --rewrite"),
    (["--rewrite", "--time-zone", "Nowhere/Else", "{src}", "-o", "{out}"], "unknown"),
    (["--rewrite", "{src}", "-o", "{in}"], "directory of"),
])
def test_rewrite_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              argv: list[str], message: str) -> None:
    source = vendor_file(tmp_path / "in", vendor_records(1))
    names = {"src": str(source), "out": str(tmp_path / "out"), "in": str(tmp_path / "in")}
    assert run([a.format(**names) for a in argv]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in (tmp_path / "in").iterdir()] == [source.name]

"""``licelpush inspect`` and ``licelpush split`` through licelpush.cli.main."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from licel_samples import analogue, make_record, photon
from optional import licel_real, shared_path

from licelpush import cli
from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
from licelpush.licelfile import encode_record, parse_records, read_records

START = datetime(2026, 5, 13, 21, 3, 45, 120000)


@pytest.fixture(autouse=True)
def only_file_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only the subcommands under test (others may not be importable here)."""
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ("inspect_cmd", "split"))


def multi_record_file(directory: Path, count: int = 3) -> tuple[Path, list[bytes]]:
    chunks = []
    for i in range(count):
        rec = make_record(
            [analogue(0, 532, "p", bins=40), photon(0, 532, "p", bins=40),
             analogue(10, 1064, laser=2, bins=30, adc_bits=16, input_range_mv=20.0)],
            start=START + timedelta(seconds=30 * i), seed=i,
        )
        chunks.append(encode_record(rec))
    path = directory / "b2651321.034512"
    path.write_bytes(b"".join(chunks))
    return path, chunks


def test_inspect_real_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(licel_real("b2651321.051986"))]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    name = "b2651321.051986"
    assert lines[0].startswith(f"{licel_real(name)} record 0 @ byte 0: {name}")
    assert "start 2026-05-13 21:03:45" in lines[0] and "'Vladivos'" in lines[0]
    assert "shots L1/L2/L3 2001/0/0" in lines[0] and "12 channel(s)" in lines[0]
    assert lines[1].split() == ["BT0", "355.o", "A", "laser", "1", "16380", "bins", "2001", "shots"]
    assert lines[8].split()[:3] == ["BC3", "532.s", "PC"]
    assert len(lines) == 13


def test_inspect_multi_record_file_lists_every_record(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, chunks = multi_record_file(tmp_path)
    assert cli.main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if not line.startswith("  ")]
    offsets = [0, len(chunks[0]), len(chunks[0]) + len(chunks[1])]
    assert [h.split(" @ byte ")[1].split(":")[0] for h in headers] == [str(o) for o in offsets]
    assert "record 2 @" in headers[2] and "start 2026-05-13 21:04:45" in headers[2]
    assert "BTA  1064.o  A  laser 2 30 bins" in out


def test_inspect_damaged_file_reports_offset_and_goes_on(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    path, chunks = multi_record_file(tmp_path)
    damaged = tmp_path / "damaged"
    cut = len(chunks[0]) + 300
    damaged.write_bytes(path.read_bytes()[:cut])
    status = cli.main(["inspect", str(damaged), str(licel_real("L13A1420.591130"))])
    captured = capsys.readouterr()
    assert status == EXIT_DAMAGED_FILE
    assert f"{damaged}: byte " in captured.err and "truncated" in captured.err
    offset = int(captured.err.split(f"{damaged}: byte ")[1].split(":")[0])
    assert len(chunks[0]) <= offset <= cut
    assert f"{damaged} record 0 @ byte 0" in captured.out  # the intact record is listed
    assert "L13A1420.591130 record 0" in captured.out  # the next file is still inspected


def test_inspect_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["inspect", str(tmp_path / "nope"), str(licel_real("RM1120200.012"))])
    captured = capsys.readouterr()
    assert status == EXIT_USAGE
    assert "nope: cannot read" in captured.err
    assert "RM1120200.012 record 0" in captured.out


def test_split_into_directory_is_byte_identical(tmp_path: Path) -> None:
    path, chunks = multi_record_file(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["split", str(path), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["b2651321.034512", "b2651321.041512", "b2651321.044512"]
    for name, chunk in zip(names, chunks):
        assert (out / name).read_bytes() == chunk
        (record,) = read_records(out / name)
        assert record.header.name == name
    assert path.read_bytes() == b"".join(chunks)  # input untouched


def test_split_in_place_never_overwrites_or_duplicates(tmp_path: Path) -> None:
    path, chunks = multi_record_file(tmp_path)
    assert cli.main(["split", str(path)]) == 0
    assert path.read_bytes() == b"".join(chunks)  # the input is not modified
    # record 0 stays the input's first record (what public readers read): no copy
    assert (tmp_path / "b2651321.041512").read_bytes() == chunks[1]
    assert (tmp_path / "b2651321.044512").read_bytes() == chunks[2]
    assert len(list(tmp_path.iterdir())) == 3
    first_records = sorted(parse_records(p.read_bytes())[0].header.name
                           for p in tmp_path.iterdir())
    assert len(set(first_records)) == 3  # every acquisition once for a public reader
    # splitting again writes nothing new
    assert cli.main(["split", str(path)]) == 0
    assert len(list(tmp_path.iterdir())) == 3


def test_split_into_another_directory_twice_writes_each_record_once(tmp_path: Path) -> None:
    path, chunks = multi_record_file(tmp_path)
    out = tmp_path / "single"
    for _ in range(2):
        assert cli.main(["split", str(path), "-o", str(out)]) == 0
    assert sorted(p.read_bytes() for p in out.iterdir()) == sorted(chunks)


def test_split_one_record_file_in_place_does_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "b2651321.051986"
    shutil.copy(licel_real("b2651321.051986"), copy)
    assert cli.main(["split", str(copy)]) == 0
    assert "nothing to split" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [copy]


def test_split_damaged_file_keeps_intact_records(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path, chunks = multi_record_file(tmp_path)
    damaged = tmp_path / "in" / "damaged"
    damaged.parent.mkdir()
    damaged.write_bytes(path.read_bytes()[: len(chunks[0]) + len(chunks[1]) + 100])
    out = tmp_path / "out"
    status = cli.main(["split", str(damaged), str(tmp_path / "missing"), "-o", str(out)])
    captured = capsys.readouterr()
    assert status == EXIT_DAMAGED_FILE
    offset = int(captured.err.split(f"{damaged}: byte ")[1].split(":")[0])
    assert len(chunks[0]) + len(chunks[1]) <= offset <= len(chunks[0]) + len(chunks[1]) + 100
    assert "missing: cannot read" in captured.err
    assert sorted(p.read_bytes() for p in out.iterdir()) == sorted(chunks[:2])


def test_inspect_into_a_closed_pipe_stops_without_traceback():
    """``licelpush inspect FILE | head -1``: the reader leaves early."""
    import subprocess
    import sys

    real_dir = shared_path("testdata", "licel-real")
    files = [str(p) for p in sorted(real_dir.glob("*.*[0-9]"))] * 200  # more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "licelpush", "inspect", *files],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()
    proc.stdout.close()  # like head after its first line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err


@pytest.mark.parametrize("rewrite", [[], ["--rewrite"]])
def test_split_of_a_station_directory_keeps_dark_files_apart(tmp_path: Path,
                                                             rewrite: list[str]) -> None:
    """A station's output holds the dark measurement below dark/: the one-record files
    of it go to DIR/dark, never among the measurement's."""
    station = tmp_path / "data"
    for folder, seed in ((station / "2026" / "05" / "13", 0),
                         (station / "dark" / "2026" / "05" / "13", 50)):
        folder.mkdir(parents=True)
        record = make_record([analogue(0, 532, "p", bins=40)], start=START + timedelta(
            minutes=seed), seed=seed)
        (folder / record.header.name).write_bytes(encode_record(record))
    out = tmp_path / "out"
    assert cli.main(["split", str(station), "-o", str(out), *rewrite]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "b2651321.034512", "dark/b2651321.534512"]


@pytest.mark.parametrize("rewrite", [[], ["--rewrite"]])
@pytest.mark.parametrize("inside", [".", "single"])
def test_split_refuses_an_output_inside_a_walked_directory(tmp_path: Path, capsys,
                                                           rewrite: list[str],
                                                           inside: str) -> None:
    """The next walk of the directory would read the copies with the originals."""
    multi_record_file(tmp_path)
    out = tmp_path / inside
    assert cli.main(["split", str(tmp_path), "-o", str(out), *rewrite]) == EXIT_USAGE
    assert "inside the input directory" in capsys.readouterr().err
    assert len(list(tmp_path.rglob("b*"))) == 1

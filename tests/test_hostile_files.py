"""``inspect`` and ``split`` on hostile input: devices, FIFOs, huge files, junk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from licel_samples import analogue, make_record, photon

from licelpush import cli
from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
from licelpush.licelfile import encode_record, parse_records

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")


def licelpush(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "licelpush", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def record_bytes(seed: int) -> bytes:
    return encode_record(make_record([analogue(0, 532, bins=50), photon(0, 532, bins=50)],
                                     seed=seed))


@POSIX
@pytest.mark.parametrize("command", ["inspect", "split"])
def test_a_fifo_is_refused_without_blocking(tmp_path, command):
    fifo = tmp_path / "b2651321.051986"
    os.mkfifo(fifo)
    done = licelpush(command, str(fifo), timeout=60)  # before: blocked for ever
    assert done.returncode == EXIT_USAGE
    assert "not a regular file (a FIFO)" in done.stderr and "Traceback" not in done.stderr


@POSIX
def test_dev_zero_is_refused():
    done = licelpush("inspect", "/dev/zero", timeout=60)  # before: grew without bound
    assert done.returncode == EXIT_USAGE
    assert "not a regular file (a device)" in done.stderr


@POSIX
@pytest.mark.parametrize("command", ["inspect", "split"])
def test_memory_stays_bounded_on_a_huge_file(tmp_path, command):
    """A 4 GiB sparse file of zero bytes (no disk used) is damage at byte 0, read
    without loading it: the peak resident memory stays far below the file's size."""
    huge = tmp_path / "b2651321.051986"
    with huge.open("wb") as f:
        f.truncate(4 << 30)
    probe = ("import resource, subprocess, sys\n"
             "done = subprocess.run([sys.executable, '-m', 'licelpush', *sys.argv[1:]],"
             " capture_output=True)\n"
             "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", probe, command, str(huge)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    status, peak_kib = int(out[0]), int(out[1])
    assert status == EXIT_DAMAGED_FILE
    assert peak_kib < 512 * 1024, f"peak resident memory {peak_kib} KiB"


def test_junk_between_records_is_damage_at_its_offset(tmp_path, capsys):
    first, second = record_bytes(1), record_bytes(2)
    for junk in (b"JUNK ", b"\x00\x01garbage\r\n", b"  \r\n"):
        path = tmp_path / "b2651321.051986"
        path.write_bytes(first + junk + second)
        assert cli.main(["inspect", str(path)]) == EXIT_DAMAGED_FILE, junk
        captured = capsys.readouterr()
        assert f"byte {len(first)}:" in captured.err, (junk, captured.err)
        assert captured.out.count(" record ") == 1  # only the intact first record
        assert "JUNK" not in captured.out


def test_split_stops_at_junk_and_keeps_the_records_before(tmp_path, capsys):
    first, second, third = record_bytes(1), record_bytes(2), record_bytes(3)
    path = tmp_path / "in" / "b2651321.051986"
    path.parent.mkdir()
    path.write_bytes(first + second + b"JUNK " + third)
    out = tmp_path / "out"
    assert cli.main(["split", str(path), "-o", str(out)]) == EXIT_DAMAGED_FILE
    assert f"byte {len(first) + len(second)}:" in capsys.readouterr().err
    written = [p.read_bytes() for p in sorted(out.iterdir())]
    assert len(written) == 2 and first in written  # the two intact records, nothing after
    assert all(len(parse_records(raw)) == 1 for raw in written)


def test_an_empty_file_is_damage(tmp_path, capsys):
    empty = tmp_path / "b2651321.051986"
    empty.write_bytes(b"")
    assert cli.main(["inspect", str(empty)]) == EXIT_DAMAGED_FILE
    assert "no Licel record" in capsys.readouterr().err


def test_directory_is_refused(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path)]) == EXIT_USAGE
    assert "not a regular file (a directory)" in capsys.readouterr().err


def test_intact_records_still_read_through_the_mapping(tmp_path, capsys):
    path = tmp_path / "b2651321.051986"
    path.write_bytes(record_bytes(1) + record_bytes(2) + b"\r\n  ")
    assert cli.main(["inspect", str(path)]) == 0
    assert capsys.readouterr().out.count(" record ") == 2
    assert Path(path).stat().st_size > 0

"""A full disk never cuts the journal: whole lines, a ``stop`` event, every data file named.

One test fills a real small file system (a tmpfs mounted for the test, with the
disk guard off so that the disk really fills; it needs
root, which CI has); the others inject the failure into the journal's writes.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from optional import need
from test_cli_acquire import write_ini

from licelpush import journal as journal_module
from licelpush.cli import main
from licelpush.errors import DamagedFileError, OutputError
from licelpush.journal import Journal, QuarantineFile, read_journal, scan_journal
from licelpush.licelfile import parse_file_name, read_records


@pytest.fixture
def small_fs(tmp_path: Path):
    """Mount a tmpfs of the size given to the returned function; unmounted after."""
    mounted: list[Path] = []

    def mount(size_kib: int) -> Path:
        where = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
        where.mkdir()
        ok = shutil.which("mount") is not None and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
            capture_output=True, check=False).returncode == 0
        need(ok, "mounting a small tmpfs needs root and mount(8)")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def data_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if parse_file_name(p.name)}


@pytest.mark.parametrize("size_kib,per_file", [(256, 1), (300, 3), (700, 1)])
def test_acquire_until_the_disk_is_full(tmp_path, small_fs, capsys, size_kib, per_file):
    ini = write_ini(tmp_path)
    out = small_fs(size_kib) / "data"
    status = main(["acquire", "--config", str(ini), "--emulator", "--emulator-max-speed",
                   "--acq", "100000", "--shots", "12", "--acquis_per_file", str(per_file),
                   "--output", str(out), "--min-free", "0", "-q"])
    assert status == 5
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("No space left" in err or "disk full" in err)
    (journal,) = out.glob("journal-*.jsonl")
    events, damage = scan_journal(journal)
    assert damage is None
    assert events[-1]["event"] == "stop" and events[-1]["reason"].startswith("output error")
    named = {e["file"] for e in events if e["event"] == "acquisition"}
    on_disk = data_files(out)
    assert on_disk and on_disk == named
    saved = [e for e in events if e["event"] == "acquisition"]
    assert sum(len(read_records(out / name)) for name in on_disk) == len(saved)
    # every received byte is accounted for: saved, quarantined, or lost with the disk
    (connect,) = [e for e in events if e["event"] == "connect"]
    stop = events[-1]
    quarantined = sum(e["length"] for e in events if e["event"] == "quarantine")
    assert stop["unsaved_bytes"] > 0
    assert (len(saved) * connect["frame_length"] + quarantined + stop["unsaved_bytes"]
            == stop["received_bytes"])


class FullDisk:
    """Replaces the journal's low-level write: bytes beyond ``capacity`` (counted over
    the file's extent) fail with ENOSPC after a partial write."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.real = journal_module._write_at

    def __call__(self, fd: int, offset: int, data: bytes | memoryview) -> int:
        room = max(0, self.capacity - offset)
        if len(data) <= room:
            return self.real(fd, offset, data)
        written = self.real(fd, offset, memoryview(data)[:room]) if room else 0
        exc = OSError(errno.ENOSPC, "No space left on device")
        exc.written = written  # type: ignore[attr-defined]
        raise exc


def test_a_full_disk_moves_the_journal_into_its_reserve(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "_write_at", FullDisk(6000))
    journal = Journal(tmp_path / "journal-x.jsonl", sync_interval=0, reserve=2000)
    written = 0
    with pytest.raises(OutputError, match="disk full; the journal now writes into its reserve"):
        for n in range(1000):
            journal.write("acquisition", n=n, file=f"a{n:07d}")
            written = n + 1
    written += 1  # the line that met the full disk is in the reserve
    journal.write("stop", reason="output error: disk full")  # the reserve has room for it
    with pytest.raises(OutputError, match="reserve is used up"):
        journal.write("padding", text="x" * 3000)  # too big for what is left: not written
    journal.close()
    events = read_journal(tmp_path / "journal-x.jsonl")
    assert [e["n"] for e in events if e["event"] == "acquisition"] == list(range(written))
    assert events[-1]["event"] == "stop"


def test_a_line_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "journal-x.jsonl"
    journal = Journal(path, sync_interval=0, reserve=0)
    journal.write("start")
    size = path.stat().st_size
    monkeypatch.setattr(journal_module, "_write_at", FullDisk(size + 10))
    with pytest.raises(OutputError):
        journal.write("acquisition", n=1, file="a2650304.050678")
    assert not path.read_bytes()[size:].strip(b"\0")  # nothing of the line is left
    journal.close()
    assert path.stat().st_size == size
    assert [e["event"] for e in read_journal(path)] == ["start"]


def test_a_quarantine_span_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "quarantine-x.bin"
    quarantine = QuarantineFile(path, sync_interval=0)
    assert quarantine.append(b"a" * 100) == 0
    monkeypatch.setattr(journal_module, "_write_at", FullDisk(150))
    with pytest.raises(OutputError, match="failed after 50: No space left on device; cut back"):
        quarantine.append(b"b" * 100)
    quarantine.close()
    assert path.read_bytes() == b"a" * 100


def test_a_killed_runs_reserve_is_not_damage(tmp_path):
    path = tmp_path / "journal-x.jsonl"
    journal = Journal(path, sync_interval=0)
    journal.write("start")
    journal.write("acquisition", n=1)
    assert path.stat().st_size > 60000  # the reserve is allocated
    # as a SIGKILL leaves it: no close, the zero reserve stays
    assert [e["event"] for e in read_journal(path)] == ["start", "acquisition"]
    journal.close()
    assert path.read_bytes().endswith(b"}\n")


@pytest.mark.parametrize("tail,reason", [
    (b'{"event":"acquisition","n":', "cut off after 27 bytes"),
    (b"not json\n", "not a JSON line"),
    (b"[1, 2]\n", "not a JSON object"),
    (b"\0\0\0{\"event\":\"x\"}\n", "not a JSON line"),
])
def test_a_damaged_tail_is_damage_with_its_offset(tmp_path, tail, reason):
    path = tmp_path / "journal-x.jsonl"
    head = b'{"event":"start","utc":"2026-05-03T04:05:06.789Z"}\n'
    path.write_bytes(head + tail)
    events, damage = scan_journal(path)
    assert [e["event"] for e in events] == ["start"]
    assert isinstance(damage, DamagedFileError)
    assert damage.offset == len(head) and reason in damage.reason
    with pytest.raises(DamagedFileError, match=f"byte {len(head)}"):
        read_journal(path)

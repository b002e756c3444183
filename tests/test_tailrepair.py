"""A killed run's partial record is cut off at the next start, also where a run with
``--layout`` or ``--dark`` wrote into sub-folders (docs/ACQUIRE.md, "Durability")."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from licel_samples import analogue, make_record, photon

from licelpush.journal import scan_journal
from licelpush.layout import Layout
from licelpush.layoutwriter import LayoutWriter
from licelpush.licelfile import encode_record, scan_records
from licelpush.runoutput import RunOutput
from licelpush.tailrepair import journalled_folders

KILLED_AT = datetime(2026, 5, 13, 21, 3, 45)


def killed_run(output: Path, folder: str, *, journalled: bool,
               killed_at: datetime = KILLED_AT) -> Path:
    """What a run killed mid-write leaves in ``output/folder``: a whole file and a file
    ending in half a record; with ``journalled`` its journal names the whole one."""
    where = output / folder
    where.mkdir(parents=True)
    names = []
    for i in range(2):
        record = make_record([analogue(0, 532, "p", bins=500), photon(0, 532, "p", bins=500)],
                             start=killed_at.replace(second=i), seed=i)
        data = encode_record(record)
        (where / record.header.name).write_bytes(data if i == 0 else data[: len(data) // 2])
        names.append(record.header.name)
    if journalled:
        line = {"event": "acquisition", "utc": "2026-05-13T21:03:45.000Z", "n": 1,
                "file": f"{folder}/{names[0]}", "record": 0}
        (output / "journal-20260513T210000Z.jsonl").write_text(json.dumps(line) + "\n")
    return where / names[1]


def start_run(output: Path, layout: Layout, when: datetime, local_time: bool = False
              ) -> RunOutput:
    writer = LayoutWriter(output, "b", layout, sync_interval=0)
    return RunOutput(writer, output, when.replace(tzinfo=timezone.utc), 0, False,
                     local_time=local_time)


@pytest.fixture
def three_hours_east(monkeypatch):
    """The computer's time zone is UTC+3 (POSIX TZ names the offset with the other sign)."""
    monkeypatch.setenv("TZ", "Etc/GMT-3")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def repairs(out: RunOutput) -> list[dict]:
    out.journal.close()
    return [e for e in scan_journal(out.journal.path)[0] if e["event"] == "repair"]


def test_a_journalled_day_folder_is_repaired_on_a_later_day(tmp_path):
    cut = killed_run(tmp_path, "2026/05/13", journalled=True)
    out = start_run(tmp_path, Layout("%Y/%m/%d"), datetime(2026, 5, 15, 8, 0, 0))
    assert out.repaired == [cut]
    assert not cut.exists()  # half a record and nothing whole: the file is removed
    whole = [p for p in cut.parent.iterdir()]
    assert len(whole) == 1 and scan_records(whole[0].read_bytes(), str(whole[0]))[1] is None
    found = repairs(out)
    assert [e["file"] for e in found] == [f"2026/05/13/{cut.name}"]
    assert found[0]["removed"] is True and found[0]["cut_bytes"] > 0


def test_the_folder_of_the_run_s_own_layout_is_repaired_without_a_journal(tmp_path):
    cut = killed_run(tmp_path, "dark/2026/05/13", journalled=False)
    out = start_run(tmp_path, Layout("%Y/%m/%d", dark=True), KILLED_AT)
    assert out.repaired == [cut]
    assert [e["file"] for e in repairs(out)] == [f"dark/2026/05/13/{cut.name}"]


def test_the_local_day_folder_of_a_local_time_run_is_repaired(tmp_path, three_hours_east):
    # 22:30 UTC is 01:30 of the next day at the station: --local-time files went there
    now_utc = datetime(2026, 5, 13, 22, 30, 0)
    cut = killed_run(tmp_path, "2026/05/14", journalled=False,
                     killed_at=datetime(2026, 5, 14, 1, 30, 0))
    out = start_run(tmp_path, Layout("%Y/%m/%d"), now_utc, local_time=True)
    assert out.repaired == [cut]
    assert [e["file"] for e in repairs(out)] == [f"2026/05/14/{cut.name}"]


def test_journal_names_outside_the_output_directory_are_ignored(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    lines = [{"event": "acquisition", "file": "../elsewhere/b2651321.034500"},
             {"event": "acquisition", "file": "/etc/b2651321.034500"},
             {"event": "acquisition", "file": "2026/05/13/b2651321.034500"},
             {"event": "quarantine", "file": "quarantine-x.bin"}]
    (output / "journal-20260513T210000Z.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines) + "\0" * 100)
    assert journalled_folders(output) == [output / "2026/05/13"]

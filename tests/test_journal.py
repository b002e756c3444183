"""The acquisition journal and quarantine file (append-only JSON Lines / bytes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from licelpush.errors import OutputError
from licelpush.journal import Journal, QuarantineFile, read_journal, utc_now_text


def test_utc_time_text_is_iso_with_milliseconds_in_utc():
    when = datetime(2026, 5, 3, 4, 5, 6, 789123, tzinfo=timezone.utc)
    assert utc_now_text(when) == "2026-05-03T04:05:06.789Z"
    east = when.astimezone(timezone(timedelta(hours=3)))
    assert utc_now_text(east) == "2026-05-03T04:05:06.789Z"
    assert utc_now_text(datetime(2026, 1, 1, tzinfo=timezone.utc)) == "2026-01-01T00:00:00.000Z"
    now = utc_now_text()
    parsed = datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((parsed - datetime.now(timezone.utc)).total_seconds()) < 5


def test_journal_lines_round_trip(tmp_path):
    path = tmp_path / "journal-x.jsonl"
    journal = Journal(path, sync_interval=0)
    journal.write("start", run="x", shots=300)
    journal.write("acquisition", utc="2026-05-03T04:05:06.789Z", n=1, crc32=123,
                  shots=[300, 300], file="a2650304.050678")
    journal.close()
    events = read_journal(path)
    assert [e["event"] for e in events] == ["start", "acquisition"]
    assert events[1] == {"event": "acquisition", "utc": "2026-05-03T04:05:06.789Z", "n": 1,
                         "crc32": 123, "shots": [300, 300], "file": "a2650304.050678"}
    assert events[0]["run"] == "x" and events[0]["utc"].endswith("Z")
    assert path.read_bytes().count(b"\n") == 2


def test_quarantine_file_is_created_on_first_use_and_returns_offsets(tmp_path):
    path = tmp_path / "quarantine-x.bin"
    quarantine = QuarantineFile(path)
    assert not path.exists()
    assert quarantine.append(b"\xff\xff\x00") == 0
    assert quarantine.append(b"abc") == 3
    quarantine.close()
    assert path.read_bytes() == b"\xff\xff\x00abc"


def test_journal_in_an_unwritable_place_is_an_output_error(tmp_path):
    with pytest.raises(OutputError):
        Journal(tmp_path / "missing-dir" / "journal.jsonl")

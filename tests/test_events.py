"""Typed journal events: the schema, its documentation, and the lines a run writes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from test_acquisition_scripted import CFG, HW, make_frames, options
from test_client import FakeController

from licelpush.acquisition import Acquisition
from licelpush.emulator.ledger import LEDGER_EVENTS
from licelpush.events import (
    JOURNAL_EVENTS,
    AcquisitionEvent,
    ReconnectEvent,
    StopEvent,
    schema,
)
from licelpush.journal import Journal, read_journal

DOCS = Path(__file__).resolve().parent.parent / "docs"
VALUES = {"ok", "failed", "command", "push", "kill", "client", "stop", "error", "on", "off",
          "disconnect", "big", "little", "low", "waiting", "open"}
"""Backticked words in the tables that are values, not field names."""


def documented_fields(doc: str, kinds: dict[str, set[str]]) -> dict[str, set[str]]:
    """Event -> backticked field names of its row in the table of ``docs/<doc>`` (words
    of :data:`VALUES` count as field names only where the event has such a field)."""
    rows = {}
    for line in (DOCS / doc).read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z_-]+)` \| (.*) \|$", line)
        if match and match.group(1) in kinds:
            words = set(re.findall(r"`([a-z_0-9]+)`", match.group(2)))
            rows[match.group(1)] = words - (VALUES - kinds[match.group(1)])
    return rows


def test_docs_list_exactly_the_fields_of_every_journal_event():
    expected = {k: set(v) for k, v in schema().items()}
    assert documented_fields("ACQUIRE.md", expected) == expected


def test_docs_list_exactly_the_fields_of_every_ledger_event():
    expected = {k: set(v) for k, v in schema(LEDGER_EVENTS).items()}
    assert documented_fields("EMULATOR.md", expected) == expected


def test_optional_fields_are_left_out_while_unset():
    ok = ReconnectEvent(2, 0.5, "ok", connection=3)
    assert ok.fields() == {"attempt": 2, "delay_s": 0.5, "outcome": "ok", "connection": 3}
    failed = ReconnectEvent(1, 0.0, "failed", error="refused")
    assert "connection" not in failed.fields() and failed.fields()["error"] == "refused"


def test_events_are_frozen_and_have_distinct_kinds():
    event = StopEvent("completed", 0, 1, 1, 1, 0, 0, 0, 0, 0, 10, 0.5, {})
    try:
        event.saved = 2  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a journal event could be changed after it was made")
    kinds = [kind.KIND for kind in JOURNAL_EVENTS]
    documented = re.findall(r"^\| `([a-z_-]+)` \|", (DOCS / "ACQUIRE.md").read_text("utf-8"),
                            re.M)
    assert len(set(kinds)) == len(kinds) and set(kinds) <= set(documented)


def test_journal_lines_are_compact_with_event_and_utc_first(tmp_path):
    path = tmp_path / "journal-x.jsonl"
    journal = Journal(path, sync_interval=0)
    journal.write(AcquisitionEvent(1, "a2650304.050678", 0, 1000, 123, [300], "t", 0.25, None,
                                   1, 0),
                  utc="2026-05-03T04:05:06.789Z")
    journal.close()
    assert path.read_text() == (
        '{"event":"acquisition","utc":"2026-05-03T04:05:06.789Z","n":1,'
        '"file":"a2650304.050678","record":0,"timestamp":1000,"crc32":123,"shots":[300],'
        '"received_utc":"t","latency_ms":0.25,"controller_span_ms":null,'
        '"connection":1,"stream_offset":0}\n')


def test_every_line_of_a_run_follows_the_schema(tmp_path):
    frames, _ = make_frames(4)
    damaged = frames[1][:-3]

    def push(n):
        if n == 1:
            return [frames[0] + damaged + frames[2], ("close",)]
        return [frames[3], ("hold",)]

    with FakeController(recorders={0: HW}, push=push) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=3)).run()
    lines = read_journal(summary.journal)
    kinds = {kind.KIND: kind for kind in JOURNAL_EVENTS}
    seen = set()
    for line in lines:
        kind = kinds[line["event"]]
        names = set(line) - {"event", "utc"}
        required = {f.name for f in dataclasses.fields(kind) if f.default is not None}
        assert required <= names <= set(kind.field_names()), line
        seen.add(line["event"])
    assert seen == {"start", "connect", "acquisition", "quarantine", "abandon", "reconnect",
                    "stop"}

"""The acquisition against hostile fake controllers, and the record times it makes.

Hostile streams: frames that start with ``FF FF`` but fail the shot-word
check, frames 2 bytes too long, random bytes on the push port, and an IDN
that says ``ColdFireEthernet`` while the timestamps are little-endian. The
run must keep its memory bounded (it abandons the connection long before it
has read what the controller offers), journal an ``abandon`` for lost
synchronisation, reconnect, and account for every byte it received.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from test_acquisition_scripted import (
    CFG,
    HW,
    PLAN,
    SHOTS,
    L,
    check_accounting,
    journal_of,
    make_frames,
    options,
    saved_data,
)
from test_client import FakeController

from licelpush.acquisition import Acquisition
from licelpush.framing import lost_sync_seconds
from licelpush.licelfile import parse_file_name, read_records

BIG = 2_000_000
"""Hostile bytes offered on a connection: far more than the run may read of them."""


def bad_check_frames(n, start=0):
    frames, _ = make_frames(n, start)
    out = []
    for frame in frames:
        bad = bytearray(frame)
        bad[PLAN.datasets[-1].offset:PLAN.datasets[-1].offset + 2] = b"\xff\xff"
        out.append(bytes(bad))
    return out


def hostile_stream(kind):
    if kind == "random":
        return np.random.default_rng(7).integers(0, 256, BIG, dtype=np.uint8).tobytes()
    n = BIG // L
    if kind == "bad_check":
        return b"".join(bad_check_frames(n))
    frames, _ = make_frames(n)
    return b"".join(f + b"\x5a\xa5" for f in frames)  # two bytes too long


@pytest.mark.parametrize("kind", ["random", "bad_check", "two_long"])
def test_hostile_stream_is_abandoned_with_bounded_reading_then_acquisition_resumes(
        tmp_path, kind):
    hostile = hostile_stream(kind)
    good, profiles = make_frames(3, start=100)
    streams = {1: hostile, 2: hostile, 3: b"".join(good)}
    script = {n: [data, ("hold",)] for n, data in streams.items()}
    with FakeController(recorders={0: HW}, push=lambda n: script[n]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=3)).run()
    assert summary.exit_status == 0 and summary.saved == 3
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in profiles]
    events = journal_of(summary)
    abandons = [e for e in events if e["event"] == "abandon"]
    assert [e["connection"] for e in abandons] == [1, 2]
    for e in abandons:
        assert e["reason"].startswith("lost synchronisation: no valid frame in")
        assert e["frames"] == 0
        # the framer decides within three frame lengths of damage; what it read beyond
        # that is one receive and the bounded drain of the abandoned connection
        assert e["received_bytes"] < 3 * L + (1 << 18) + 16 * L < BIG
    check_accounting(summary, {n: streams[n] for n in (1, 2)})
    quarantines = [e for e in events if e["event"] == "quarantine"]
    assert sum(e["length"] for e in quarantines) == sum(e["received_bytes"] for e in abandons)


def test_coldfire_idn_with_little_endian_timestamps_saves_every_frame(tmp_path):
    frames, profiles = make_frames(8)  # little-endian timestamps 1000, 1050, ...
    with FakeController(recorders={0: HW}, idn="Licel ColdFireEthernet 2.1",
                        push=lambda n: [b"".join(frames), ("hold",)]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=8)).run()
    assert summary.exit_status == 0 and summary.saved == 8
    assert summary.quarantined_bytes == 0
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in profiles]
    events = journal_of(summary)
    assert events[0]["big_endian_timestamp"] is True  # what the IDN implies
    order = [e for e in events if e["event"] == "timestamp_order"]
    assert len(order) == 1 and order[0]["declared"] == "big" and order[0]["used"] == "little"
    stamps = [e["timestamp"] for e in events if e["event"] == "acquisition"]
    # two frame pairs confirm the data's order; from then on timestamps read correctly
    assert stamps[2:] == [1000 + 50 * i for i in range(2, 8)]
    spans = [e["controller_span_ms"] for e in events if e["event"] == "acquisition"]
    assert spans[3:] == [50] * 5


def test_record_times_follow_each_frames_arrival(tmp_path):
    frames, _ = make_frames(4)
    gap = 0.4
    script = [frames[0], ("sleep", gap), frames[1], ("sleep", gap), frames[2],
              ("sleep", gap), frames[3], ("hold",)]
    with FakeController(recorders={0: HW}, push=lambda n: script) as fake:
        before = datetime.now(timezone.utc).replace(tzinfo=None)
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=4)).run()
    assert summary.saved == 4
    events = [e for e in journal_of(summary) if e["event"] == "acquisition"]
    stops = [datetime.strptime(e["received_utc"], "%Y-%m-%dT%H:%M:%S.%fZ") for e in events]
    # file names carry the start time to 10 ms, line 2 start and stop to the second
    starts = [parse_file_name(p.name)[1] for p in summary.files]
    headers = [read_records(p)[0].header for p in summary.files]
    # the first record starts shots / rate (10 shots at 20 Hz) before its stop, not
    # before MPUSH was sent
    assert starts[0] >= before - timedelta(milliseconds=10)
    assert stops[0] - starts[0] <= timedelta(seconds=SHOTS / 20.0, milliseconds=10)
    for k in range(1, 4):
        # start = the previous stop on the connection; each record, the last one too,
        # lasts the time between its frame's arrival and the previous one's
        assert abs((starts[k] - stops[k - 1]).total_seconds()) < 0.011
        assert headers[k].start == headers[k - 1].stop
        assert abs((stops[k] - stops[k - 1]).total_seconds() - gap) < 0.15
    for e, header, stop in zip(events, headers, stops):
        assert header.stop == stop.replace(microsecond=0)
        assert 0 <= e["latency_ms"] < 1000
    assert [e["controller_span_ms"] for e in events] == [None, 50, 50, 50]


def test_lost_sync_time_is_three_acquisitions_and_at_least_five_seconds():
    assert lost_sync_seconds(15.0) == 45.0
    assert lost_sync_seconds(0.5) == 5.0
    assert lost_sync_seconds(None) == 60.0

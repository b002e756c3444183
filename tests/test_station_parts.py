"""The station service's pure parts: layout, disk guard, status, schedule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath

import pytest

from licelpush.diskguard import GIB, DiskState, MinFree, judge, parse_min_free
from licelpush.layout import FLAT, Layout, layout_problem, subfolder
from licelpush.schedule import Schedule, ScheduleError, parse_schedule, parse_window
from licelpush.status import Liveness, format_status, liveness

UTC = timezone.utc


# ------------------------------------------------------------------ layout

def test_layout_folders_from_the_start_time():
    when = datetime(2026, 1, 9, 23, 59, 59)
    assert subfolder("%Y/%m/%d", when) == PurePosixPath("2026/01/09")
    assert subfolder("%Y/%j", when) == PurePosixPath("2026/009")
    assert subfolder("y%y-w%V/%H", when) == PurePosixPath("y26-w02/23")
    assert subfolder(FLAT, when) == PurePosixPath()
    assert Layout("%Y", dark=True).folder(when) == PurePosixPath("dark/2026")
    assert Layout(FLAT, dark=True).folder(when) == PurePosixPath("dark")


@pytest.mark.parametrize("pattern, words", [
    ("%Y/%Q", "unknown code %Q"), ("/data/%Y", "relative"), ("%Y/../x", "'..'"),
    ("%Y//%m", "empty"), ("%Y:%m", "not allowed"), ("", "relative"),
])
def test_bad_layouts_are_named(pattern, words):
    problem = layout_problem(pattern)
    assert problem is not None and words in problem and repr(pattern) in problem


def test_usable_layouts_have_no_problem():
    for pattern in (FLAT, "%Y/%m/%d", "lidar-%Y%m%d", "%G/%V"):
        assert layout_problem(pattern) is None


# ------------------------------------------------------------------ disk guard

@pytest.mark.parametrize("text, limit", [
    ("20M", 20 << 20), ("1G", GIB), ("512k", 512 << 10), ("1.5G", 3 * GIB // 2),
    ("0", 0), ("100", 100), ("2GiB", 2 * GIB), ("5%", 5 * GIB), ("0%", 0),
])
def test_min_free_sizes(text, limit):
    assert parse_min_free(text).limit(100 * GIB) == limit


@pytest.mark.parametrize("text", ["", "x", "-1G", "5 %%", "100%", "1Q"])
def test_bad_min_free_is_refused(text):
    with pytest.raises(ValueError, match="--min-free"):
        parse_min_free(text)


def test_default_min_free_is_the_smaller_of_1_gib_and_5_percent():
    assert MinFree().limit(100 * GIB) == GIB
    assert MinFree().limit(10 * GIB) == GIB // 2


def test_judge_warns_below_twice_and_stops_below_the_limit():
    assert judge(100, 1000, 201, 0).state is DiskState.OK
    assert judge(100, 1000, 199, 0).state is DiskState.LOW
    assert judge(100, 1000, 99, 0).state is DiskState.STOP
    assert judge(0, 1000, 0, 0).state is DiskState.OK  # guard off
    reading = judge(100, 1000, 600, 10.0)
    assert reading.time_to_full_s == pytest.approx(50.0)
    assert judge(100, 1000, 600, 0.0).time_to_full_s is None
    assert "below --min-free" in judge(100, 1000, 50, 1).message("/data")
    assert "/data" in judge(100, 1000, 150, 1).message("/data")
    # the time left in a unit that fits it (30 s is not "0.0 h")
    assert judge(100, 1000, 150, 50 / 30).message("/data").endswith(
        "about 30 s left at the current data rate")
    assert "about 5.0 h left" in judge(100, 1000, 150, 50 / 18000).message("/data")


# ------------------------------------------------------------------ status

NOW = datetime(2026, 5, 13, 21, 0, 0, tzinfo=UTC)


def status(state="acquiring", age=0.0, **kw):
    updated = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return dict(state=state, updated_utc=updated, interval_s=5.0, run_id="r", **kw)


def test_liveness_alive_stopped_stale():
    assert liveness(status(age=1), NOW) is Liveness.ALIVE
    assert liveness(status(age=14.9), NOW) is Liveness.ALIVE
    assert liveness(status(age=15.1), NOW) is Liveness.STALE
    assert liveness(status("stopped", age=1000, reason="completed"), NOW) is Liveness.STOPPED
    assert [int(x) for x in Liveness] == [0, 1, 2]


def test_format_status_for_people():
    text = "\n".join(format_status(status(
        "waiting", next_window_utc="2026-05-13T22:00:00.000Z", dark=True, free_bytes=3 * GIB,
        time_to_full_s=7200, warnings=["disk: low"], clipping={"TR0 A": 2}), NOW))
    assert "waiting until 2026-05-13T22:00:00.000Z" in text and "dark measurement" in text
    assert "3.0 GiB free" in text and "2.0 h" in text and "warning:      disk: low" in text
    assert "TR0 A in 2" in text
    assert "STALE" in "\n".join(format_status(status(age=100), NOW))
    assert "(completed)" in "\n".join(format_status(status("stopped", reason="completed"), NOW))


# ------------------------------------------------------------------ schedule

def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_clock_window_over_midnight_opens_and_closes():
    schedule = Schedule(parse_schedule(["18:00-06:00"]))
    state = schedule.state(at("2026-05-13T12:00"))
    assert not state.inside and state.until == at("2026-05-13T18:00")
    state = schedule.state(at("2026-05-13T18:00"))
    assert state.inside and state.until == at("2026-05-14T06:00")
    state = schedule.state(at("2026-05-14T05:59:59"))
    assert state.inside and state.until == at("2026-05-14T06:00")
    state = schedule.state(at("2026-05-14T06:00"))
    assert not state.inside and state.until == at("2026-05-14T18:00")


def test_several_windows_and_the_next_opening():
    schedule = Schedule(parse_schedule(["01:00-02:00, 10:00-11:00", "10:30-12:00"]))
    assert schedule.state(at("2026-05-13T10:15")) .until == at("2026-05-13T12:00")  # merged
    assert schedule.next_opening(at("2026-05-13T01:30")) == at("2026-05-13T10:00")
    assert schedule.state(at("2026-05-13T13:00")).until == at("2026-05-14T01:00")
    assert Schedule(()).state(at("2026-05-13T13:00")).inside


def test_sun_relative_night_window():
    # Leipzig in May: sunset about 19:00 UTC, sunrise about 03:15 UTC
    schedule = Schedule(parse_schedule(["sunset+30m..sunrise-30m"]), 51.35, 12.43)
    noon = schedule.state(at("2026-05-13T12:00"))
    assert not noon.inside
    assert at("2026-05-13T19:00") < noon.until < at("2026-05-13T20:15")
    night = schedule.state(noon.until + timedelta(seconds=1))
    assert night.inside and at("2026-05-14T02:00") < night.until < at("2026-05-14T03:15")
    assert not schedule.state(night.until).inside
    assert (night.until - noon.until) < timedelta(hours=9)


def test_polar_day_has_no_night_window_but_one_opens_later():
    schedule = Schedule(parse_schedule(["sunset..sunrise"]), 78.2, 15.6)  # Svalbard
    state = schedule.state(at("2026-06-21T12:00"))
    assert not state.inside and state.until is not None
    assert state.until > at("2026-08-01T00:00")


@pytest.mark.parametrize("text", ["18:00", "25:00-06:00", "sunset-sunrise", "noon..sunrise",
                                  "sunset+30x..sunrise", "10:00-10:00", "1..2..3"])
def test_bad_windows_are_named(text):
    with pytest.raises(ScheduleError, match="--schedule"):
        parse_window(text)


def test_offsets():
    window = parse_window("sunset+1h30m..sunrise-45s")
    assert window.start.offset == timedelta(minutes=90)
    assert window.end.offset == timedelta(seconds=-45)
    assert window.sun_relative and not parse_window("18:00-06:00").sun_relative

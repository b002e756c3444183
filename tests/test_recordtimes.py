"""Record times of a push connection and the timestamp byte order check."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from licelpush.recordtimes import (
    DRIFT_MIN_SPAN_S,
    ConnectionClock,
    TimestampOrder,
)

T0 = datetime(2026, 5, 13, 21, 5, 19)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_first_frame_starts_one_acquisition_before_its_stop_later_ones_at_the_previous_stop():
    clock = ConnectionClock(mpush_time=at(0), duration_s=1.0)
    first = clock.times(at(1.02), 1000)
    assert (first.start, first.stop) == (at(0.02), at(1.02))
    assert first.controller_span_ms is None
    second = clock.times(at(2.03), 2000)
    assert (second.start, second.stop) == (at(1.02), at(2.03))
    assert second.controller_span_ms == 1000
    last = clock.times(at(3.01), 3000)
    assert last.start == at(2.03) and last.stop - last.start == timedelta(seconds=0.98)


def test_first_frame_never_starts_before_mpush_and_without_rate_starts_at_mpush():
    fast = ConnectionClock(mpush_time=at(0), duration_s=15.0)
    assert fast.times(at(1.0), 0).start == at(0)  # an emulator faster than real time
    unknown = ConnectionClock(mpush_time=at(0), duration_s=None)
    times = unknown.times(at(7.5), 0)
    assert (times.start, times.stop) == (at(0), at(7.5))


def test_start_never_after_stop_when_the_pc_clock_steps_back():
    clock = ConnectionClock(mpush_time=at(0), duration_s=1.0)
    clock.times(at(5.0), 0)
    times = clock.times(at(4.0), 1000)
    assert times.start == times.stop == at(4.0)


def test_controller_span_wraps_modulo_2_32():
    clock = ConnectionClock(mpush_time=at(0), duration_s=1.0)
    clock.times(at(1), 0xFFFFFF00)
    assert clock.times(at(2), 0x100).controller_span_ms == 0x200


@pytest.mark.parametrize("pc_rate, drifting", [(1.0, False), (1.005, False), (1.02, True),
                                               (0.97, True)])
def test_drift_is_judged_over_enough_controller_time(pc_rate, drifting):
    clock = ConnectionClock(mpush_time=at(0), duration_s=1.0)
    drifts = [clock.times(at(k * pc_rate + 0.003 * (k % 2)), 1000 * k).drift
              for k in range(1, 40)]
    assert all(d is None for d in drifts[:int(DRIFT_MIN_SPAN_S)])  # too short to judge
    judged = [d for d in drifts if d is not None]
    assert judged
    assert (abs(judged[-1]) > 0.01) == drifting
    assert judged[-1] == pytest.approx(pc_rate - 1, abs=0.002)


def test_restart_controller_time_forgets_the_baseline():
    clock = ConnectionClock(mpush_time=at(0), duration_s=1.0)
    clock.times(at(1), 5)
    clock.restart_controller_time()
    assert clock.times(at(2), 123456).controller_span_ms is None
    assert clock.times(at(3), 124456).controller_span_ms == 1000


def raw(ms: int, big: bool) -> bytes:
    return ms.to_bytes(4, "big" if big else "little")


@pytest.mark.parametrize("declared", [True, False])
def test_matching_order_is_kept(declared):
    order = TimestampOrder(declared, expected_step_ms=1000)
    assert not any(order.observe(raw(1000 * k + 7, declared)) for k in range(10))
    assert order.big_endian is declared and not order.switched


@pytest.mark.parametrize("declared", [True, False])
def test_contradicting_data_switch_the_order_once(declared):
    order = TimestampOrder(declared, expected_step_ms=1000)
    switches = [order.observe(raw(5000 + 1000 * k, not declared)) for k in range(10)]
    # the first frame has no predecessor; two contradicting pairs switch
    assert switches == [False, False, True] + [False] * 7
    assert order.big_endian is not declared and order.switched
    assert order.timestamp(raw(123456, not declared)) == 123456
    assert "endian" in order.note()


def test_without_a_known_step_the_order_is_still_found():
    order = TimestampOrder(True)  # IDN says ColdFireEthernet; the data are little-endian
    for k in range(4):
        order.observe(raw(1000 + 1050 * k, False))
    assert order.big_endian is False


def test_one_damaged_timestamp_does_not_switch():
    order = TimestampOrder(True, expected_step_ms=1000)
    stamps = [1000, 2000, 3000, 0x00E80300, 5000, 6000]  # one looks little-endian
    assert not any(order.observe(raw(s, True)) for s in stamps)
    assert order.big_endian is True


def test_new_connection_has_no_predecessor():
    order = TimestampOrder(True, expected_step_ms=1000)
    order.observe(raw(1000, False))
    order.new_connection()
    order.observe(raw(2000, False))
    assert not order.observe(raw(3000, False))  # one contradicting pair only
    assert order.observe(raw(4000, False))

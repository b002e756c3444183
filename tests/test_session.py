"""RunSession, the run's rules without IO: events in, actions out, times given by the test."""

from __future__ import annotations

import pytest

from licelpush.errors import EXIT_CONTROLLER, EXIT_OK, EXIT_OUTPUT, EXIT_STOPPED_EARLY
from licelpush.session import (
    Abandon,
    Abandoned,
    AttemptFailed,
    Connected,
    ConnectionLost,
    DataReceived,
    FrameAccepted,
    JournalEvent,
    Log,
    Phase,
    Probe,
    ProbeAnswered,
    QuarantineSpan,
    ReconnectAfter,
    RecordWritten,
    ReplyTimedOut,
    RunPolicy,
    RunSession,
    SpanQuarantined,
    Stop,
    StopReason,
    StopRequested,
    Tick,
    WriteRecord,
    backoff_delay,
    missing_recorders_problem,
)


def started(**policy) -> RunSession:
    session = RunSession(RunPolicy(**policy), now=0.0)
    assert session.handle(Connected(0.0)) == []
    return session


def save(session: RunSession, now: float) -> list:
    actions = session.handle(FrameAccepted(now))
    assert isinstance(actions[0], WriteRecord)
    return session.handle(RecordWritten())


def test_frames_are_written_until_the_count_then_surplus_is_quarantined():
    session = started(acquisitions=2)
    assert session.handle(FrameAccepted(1.0)) == [WriteRecord(1, last=False)]
    assert session.handle(RecordWritten()) == []
    assert session.final
    assert session.handle(FrameAccepted(2.0)) == [WriteRecord(2, last=True)]
    assert session.handle(RecordWritten()) == [Stop(StopReason.COMPLETED)]
    assert session.done and session.phase is Phase.STOPPING
    surplus = session.handle(FrameAccepted(3.0))
    assert surplus == [QuarantineSpan(surplus=True, reason=surplus[0].reason)]
    assert session.handle(SpanQuarantined(7)) == [QuarantineSpan(surplus=True)]
    assert session.conclude().exit_status == EXIT_OK
    assert session.summary.reason == "completed"


def test_damage_before_the_end_is_not_surplus_and_is_counted():
    session = started(acquisitions=5)
    assert session.handle(SpanQuarantined(10)) == [QuarantineSpan(surplus=False)]
    session.count_quarantined(10, surplus=False)
    session.count_quarantined(4, surplus=True)
    s = session.summary
    assert (s.quarantined_spans, s.quarantined_bytes, s.surplus_bytes) == (1, 14, 4)


def test_silence_probes_after_probe_after_and_waits_while_the_controller_answers():
    session = started(probe_after=5.0, stall_limit=20.0)
    session.handle(DataReceived(1.0, 100))
    assert session.handle(Tick(5.9)) == []
    assert session.handle(Tick(6.0)) == [Probe(5.0)]
    assert session.handle(Tick(7.0)) == []  # not probed again before probe_after
    answer = session.handle(ProbeAnswered(7.5))
    assert len(answer) == 1 and isinstance(answer[0], Log) and "still waiting" in answer[0].message
    assert session.handle(Tick(11.0)) == [Probe(10.0)]


def test_a_failed_probe_abandons_the_connection():
    session = started(probe_after=5.0)
    assert session.handle(Tick(5.0)) == [Probe(5.0)]
    (abandon,) = session.handle(ReplyTimedOut(6.0, "no reply to '*IDN?' within 1 s"))
    assert isinstance(abandon, Abandon) and not abandon.eof
    assert "*IDN? failed" in abandon.reason and "does not answer" in abandon.reason
    assert session.phase is Phase.RECONNECTING


def test_stall_limit_acts_at_its_value_not_at_the_next_probe():
    session = started(probe_after=30.0, stall_limit=8.0)
    assert session.handle(Tick(7.9)) == []
    (abandon,) = session.handle(Tick(8.0))
    assert isinstance(abandon, Abandon) and "no push data for 8.0 s" in abandon.reason
    session = started(probe_after=2.0, stall_limit=8.0)
    assert session.handle(Tick(2.0)) == [Probe(2.0)]
    session.handle(ProbeAnswered(2.1))
    assert session.handle(Tick(3.0)) == []
    (abandon,) = session.handle(Tick(8.05))  # not at the probe of 4.0 + ..., at 8 s
    assert "although the controller answers" in abandon.reason


def test_defaults_follow_the_acquisition_time():
    session = RunSession(RunPolicy(), now=0.0)
    session.handle(Connected(0.0, duration_s=7.5))
    assert session.probe_after == 20.0 and session.stall_limit == 82.5
    assert session.handle(Tick(19.0)) == []
    assert session.handle(Tick(20.0)) == [Probe(20.0)]


def test_backoff_is_one_formula():
    assert [backoff_delay(n, 0.5, 3.0) for n in range(1, 7)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_reconnection_backs_off_and_gives_up_after_the_retries():
    session = started(retries=2, backoff=0.5, backoff_max=30.0, acquisitions=-1)
    assert session.handle(ConnectionLost("closed")) == [Abandon("closed", eof=True)]
    assert session.handle(Abandoned()) == [ReconnectAfter(0.0, 1)]
    failed = session.handle(AttemptFailed("refused"))
    assert isinstance(failed[0], Log)
    assert failed[1] == JournalEvent("reconnect", {"attempt": 1, "delay_s": 0.0,
                                                   "outcome": "failed", "error": "refused"})
    assert failed[2] == ReconnectAfter(0.5, 2)
    (log, journal, stop) = session.handle(AttemptFailed("refused again"))
    assert stop.reason is StopReason.GAVE_UP
    assert "gave up after 2 reconnection attempt(s)" in stop.detail
    assert "refused again" in stop.detail
    summary = session.conclude()
    assert summary.exit_status == EXIT_STOPPED_EARLY and summary.failed_attempts == 2
    assert summary.reason.startswith("gave up after 2")


def test_a_saved_frame_resets_the_attempt_count():
    session = started(retries=1)
    session.handle(ConnectionLost("closed"))
    assert session.handle(Abandoned()) == [ReconnectAfter(0.0, 1)]
    reconnected = session.handle(Connected(5.0))
    assert reconnected == [JournalEvent("reconnect", {"attempt": 1, "delay_s": 0.0,
                                                      "outcome": "ok", "connection": 2})]
    save(session, 6.0)
    session.handle(ConnectionLost("closed"))
    assert session.handle(Abandoned()) == [ReconnectAfter(0.0, 1)]
    assert session.summary.reconnects == 1


def test_first_connection_is_retried_only_until_stopped():
    session = RunSession(RunPolicy(retries=5), now=0.0)
    (stop,) = session.handle(AttemptFailed("refused"))
    assert stop == Stop(StopReason.NOT_STARTED, "refused")
    assert session.conclude(EXIT_CONTROLLER).exit_status == EXIT_CONTROLLER
    session = RunSession(RunPolicy(retries=-1, backoff=1.0), now=0.0)
    log, journal, again = session.handle(AttemptFailed("refused"))
    assert journal.fields["delay_s"] == 1.0 and again == ReconnectAfter(1.0, 2)
    session = RunSession(RunPolicy(retries=-1), now=0.0)
    (stop,) = session.handle(AttemptFailed("garbage reply", connection_error=False))
    assert stop.reason is StopReason.NOT_STARTED


@pytest.mark.parametrize("acquisitions, status", [(-1, EXIT_OK), (10, EXIT_STOPPED_EARLY)])
def test_stop_request_ends_the_run_with_the_status_of_its_count(acquisitions, status):
    session = started(acquisitions=acquisitions)
    assert session.handle(StopRequested()) == [Stop(StopReason.USER)]
    assert session.handle(StopRequested()) == []
    assert session.handle(Tick(1000.0)) == []  # no probing while stopping
    session.handle(ConnectionLost("closed"))
    assert session.handle(Abandoned()) == [Stop(StopReason.USER)]
    summary = session.conclude()
    assert summary.exit_status == status and summary.reason == "stopped by the user"


def test_frames_arriving_after_a_stop_request_are_still_saved():
    session = started(acquisitions=10)
    session.handle(StopRequested())
    assert session.handle(FrameAccepted(1.0)) == [WriteRecord(1, last=False)]
    assert session.handle(SpanQuarantined(3)) == [QuarantineSpan(surplus=True)]


def test_an_output_error_overrides_every_other_reason():
    session = started()
    session.end(StopReason.USER)
    session.end(StopReason.OUTPUT, "disk full")
    session.end(StopReason.INTERNAL, "bug")
    session.end(StopReason.NOT_STARTED, "late")
    summary = session.conclude(EXIT_CONTROLLER)
    assert summary.exit_status == EXIT_OUTPUT and summary.reason == "output error: disk full"
    assert summary.stop_reason is StopReason.OUTPUT


def test_stop_reasons_carry_their_exit_status():
    assert {r: r.exit_status for r in StopReason} == {
        StopReason.COMPLETED: 0, StopReason.USER: 1, StopReason.GAVE_UP: 1,
        StopReason.NOT_STARTED: 3, StopReason.OUTPUT: 5, StopReason.INTERNAL: 1}


def test_missing_recorder_rule():
    assert missing_recorders_problem("a.ini", [0, 1], [0, 1, 2], "h:1") is None
    text = missing_recorders_problem("a.ini", [0, 3], [0, 1], "h:1")
    assert text == ("a.ini configures [TR3] but the controller h:1 has no recorder there "
                    "(installed: TR0, TR1)")

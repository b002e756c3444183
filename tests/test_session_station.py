"""RunSession's station decisions with given times: disk guard and schedule windows."""

from __future__ import annotations

from licelpush import session as rs
from licelpush.diskguard import judge
from licelpush.errors import EXIT_OK, EXIT_OUTPUT
from licelpush.events import ScheduleEvent


def connected_session(acquisitions: int = -1) -> rs.RunSession:
    session = rs.RunSession(rs.RunPolicy(acquisitions=acquisitions, retries=2), now=0.0)
    assert session.handle(rs.Connected(0.0, 1.0)) == []
    return session


def test_low_disk_warns_and_journals_without_stopping():
    session = connected_session()
    actions = session.handle(rs.DiskChecked(judge(100, 10_000, 150, 10.0), "/data"))
    assert [type(a) for a in actions] == [rs.Log, rs.JournalEvent]
    assert actions[0].level == "WARNING" and "/data" in actions[0].message
    assert actions[1].entry.KIND == "disk" and actions[1].entry.state == "low"
    assert session.stop is None
    assert session.handle(rs.DiskChecked(judge(100, 10_000, 5_000, 1.0), "/data")) == []


def test_full_disk_stops_cleanly_with_exit_5():
    session = connected_session()
    actions = session.handle(rs.DiskChecked(judge(100, 10_000, 50, 10.0), "/data"))
    assert isinstance(actions[-1], rs.Stop) and actions[-1].reason is rs.StopReason.DISK
    assert actions[1].entry.state == "stop"
    summary = session.conclude()
    assert summary.exit_status == EXIT_OUTPUT and summary.reason.startswith("disk guard: ")
    # later readings and stop requests change nothing
    assert session.handle(rs.DiskChecked(judge(100, 10_000, 10, 1.0), "/data")) == []
    assert session.handle(rs.StopRequested()) == []
    assert session.conclude().stop_reason is rs.StopReason.DISK


def test_window_closes_rests_and_reopens_without_counting_a_reconnection():
    session = connected_session()
    actions = session.handle(rs.WindowClosed("2026-05-14T18:00:00.000Z", connected=True))
    assert session.phase is rs.Phase.WAITING
    assert actions[1] == rs.JournalEvent(ScheduleEvent(
        "waiting", next_window_utc="2026-05-14T18:00:00.000Z"))
    assert actions[-1] == rs.Abandon("outside the schedule", slave=True)
    assert session.handle(rs.Tick(1000.0)) == []  # no probing while resting
    assert session.handle(rs.Abandoned()) == [rs.WaitForWindow("2026-05-14T18:00:00.000Z")]
    assert session.handle(rs.WindowClosed("later", connected=False)) == []  # already resting
    actions = session.handle(rs.WindowOpened())
    assert actions[-1] == rs.ReconnectAfter(0.0, 1)
    assert session.phase is rs.Phase.RECONNECTING
    session.handle(rs.Connected(2000.0, 1.0))
    assert session.summary.reconnects == 0 and session.phase is rs.Phase.ACQUIRING
    # a real connection loss afterwards still counts
    session.handle(rs.ConnectionLost("gone"))
    session.handle(rs.Abandoned())
    session.handle(rs.Connected(2001.0, 1.0))
    assert session.summary.reconnects == 1


def test_a_run_that_starts_outside_its_window_waits_first():
    session = rs.RunSession(rs.RunPolicy(acquisitions=5), now=0.0)
    actions = session.handle(rs.WindowClosed(None, connected=False))
    assert actions[-1] == rs.WaitForWindow(None) and "not within a year" in actions[0].message
    assert session.handle(rs.WindowOpened())[-1] == rs.ReconnectAfter(0.0, 1)
    assert session.phase is rs.Phase.CONNECTING  # first connection: start rules
    session.handle(rs.Connected(1.0, 1.0))
    assert session.summary.reconnects == 0


def test_stop_while_waiting():
    session = connected_session()
    session.handle(rs.WindowClosed("t", connected=True))
    session.handle(rs.StopRequested())
    assert session.handle(rs.Abandoned()) == [session.stop]
    assert session.handle(rs.WindowOpened()) == [session.stop]
    assert session.conclude().exit_status == EXIT_OK  # an endless run stopped by the user

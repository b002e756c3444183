"""The MPUSH acquisition run (IO loop): receive -> frame -> decode -> save, with reconnection.

Spec: ``mpush-workflow.rst`` (the sequence), PROTOCOL.md §1-4, docs/ACQUIRE.md.
The decisions (when to probe, when a connection is lost, how long to wait,
when to give up, which bytes are surplus, the exit status) are
:class:`licelpush.session.RunSession`'s; :class:`Acquisition` feeds it what
happens and carries out its actions: the set-up up to ``MPUSH``
(:mod:`licelpush.runlink`), receiving into the framer and keeping records
and quarantined spans (:mod:`licelpush.runrecords`), the files of the run
(:mod:`licelpush.runoutput`). A stop request (:attr:`Acquisition.stop_requested`)
is honoured within a fraction of a second in every phase.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from licelpush import session as rs
from licelpush.client import Controller, ControllerConnectionError
from licelpush.config import AcquisConfig
from licelpush.errors import ControllerError, LicelpushError, OutputError, StopRequestedError
from licelpush.plan import shot_limit_notes
from licelpush.records import acquisition_seconds
from licelpush.runend import finish_run
from licelpush.runlink import Link, RecorderMissingError, apply_hv, send_slave, start_mpush
from licelpush.runoutput import RunOutput, new_run_id
from licelpush.runpoll import poll_frame, start_poll
from licelpush.runrecords import RunRecords
from licelpush.session import (
    UNTIL_STOPPED,
    AcquireOptions,
    Progress,
    Summary,
    default_probe_after,
    default_stall_limit,
)
from licelpush.station import StationOptions, StationService

__all__ = ["AcquireOptions", "Acquisition", "Progress", "RecorderMissingError", "Summary",
           "UNTIL_STOPPED", "default_probe_after", "default_stall_limit", "new_run_id"]

log = logging.getLogger(__name__)


class Acquisition:
    """One acquisition run (see the module docstring)."""

    def __init__(self, config: AcquisConfig, options: AcquireOptions, *,
                 stop_requested: threading.Event | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 progress_interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic,
                 station: StationOptions | None = None) -> None:
        self.config = config
        self.options = options
        self.stop_requested = stop_requested if stop_requested is not None else threading.Event()
        """Set it (from a signal handler or another thread) to stop the run cleanly."""
        self._progress_hook = progress
        self._progress_interval = progress_interval
        self._last_progress = 0.0
        self._clock = clock
        self._link: Link | None = None
        self._out: RunOutput | None = None
        self._t0 = 0.0
        self.session: rs.RunSession | None = None
        self.summary: Summary | None = None
        self.run_id = ""
        self.station = StationService.of(options, station or StationOptions(), clock)

    # ================================================================== public

    def run(self) -> Summary:
        """Acquire until done, stopped or out of retries; returns the summary.

        Raises :class:`~licelpush.errors.LicelpushError` (exit status 2) for
        unusable options, :class:`OutputError` when the output cannot be written
        (after saving and closing what it could), and :class:`ControllerError`
        (or :class:`~licelpush.errors.PlanError`) when the first connection and
        set-up fail (the run never started).
        """
        problems = self.options.problems(self.config)
        if problems:
            raise LicelpushError("; ".join(problems))
        for note in shot_limit_notes(self.config, self.options.shots):
            log.warning("%s", note)
        self._t0 = self._clock()
        self._open_output(self.station.options.wall_clock())
        error: BaseException | None = None
        try:
            self._perform(self.station.first_actions(self._session))
            self._acquire()
        except (StopRequestedError, KeyboardInterrupt):
            self._session.end(rs.StopReason.USER)
        except OutputError as exc:
            self._session.end(rs.StopReason.OUTPUT, exc.message)
            error = exc
        except LicelpushError as exc:
            self._session.end(rs.StopReason.NOT_STARTED, exc.message)
            error = exc
        except BaseException as exc:  # pragma: no cover - a bug; still close everything
            self._session.end(rs.StopReason.INTERNAL, repr(exc))
            error = exc
        failure = self._finish(error)
        if failure is not None:
            raise failure
        return self._session.summary

    @property
    def _session(self) -> rs.RunSession:
        assert self.session is not None
        return self.session

    def progress(self, now: float | None = None) -> Progress:
        """The current progress snapshot."""
        now = self._clock() if now is None else now
        session = self.session or rs.RunSession(rs.RunPolicy.of(self.options), now)
        return session.progress(now - self._t0)

    # ================================================================== set-up

    def _open_output(self, start_wall: datetime) -> None:
        opts = self.options
        self._out = RunOutput.of(opts, opts.prefix or self.config.global_info.first_letter,
                                 start_wall)
        self.run_id = self._out.run_id
        self.summary = Summary(run=self.run_id, requested=opts.acquisitions,
                               journal=self._out.journal.path)
        self.session = rs.RunSession(rs.RunPolicy.of(opts), self._t0, self.summary)
        self._records = RunRecords(self._out, self.config, opts, self.session, self._clock,
                                   self._housekeeping, self.station.options.wall_clock)

    def _controller(self) -> Controller:
        opts = self.options
        return Controller(opts.host, opts.port, timeout=opts.timeout,
                          kill_password=opts.kill_password, interrupt=self._interrupted)

    def _interrupted(self) -> bool:
        """The controller's ``interrupt``, asked while it waits: a stop request. A long wait
        (a polled ``MWAIT``, a slow set-up) meanwhile keeps files, status and watchdog going."""
        if self.session is not None and self.station.keep_alive_due(self._clock()):
            self._housekeeping(waiting=True)
        return self.stop_requested.is_set()

    def _setup(self) -> Link:
        """Connect and run the documented sequence up to ``MPUSH`` (one attempt)."""
        controller = self._controller()
        controller.connect()
        volts = None
        try:
            if self.options.apply_hv:
                volts = apply_hv(controller, self.config, self.options.hv_max_volts)
            start = start_poll if self.options.mode == "poll" else start_mpush
            idn, hardware, plan = start(controller, self.config, self.options.shots,
                                        first=self._session.connections == 0)
        except StopRequestedError:
            send_slave(controller, bounded=self.stop_requested.is_set())
            controller.close()
            raise
        except BaseException:
            controller.close()
            raise
        link = Link.started(controller, self._session.connections + 1, self.config,
                            self.options.prefix, idn, hardware, plan,
                            self._records.mpush_started(), volts)
        self._records.connected(link)
        link.framer.final = self._session.final
        log.info("connection %d: %s on %s, %d-byte frames (%s)", link.number,
                 "polling" if self.options.mode == "poll" else "MPUSH started",
                 controller.address, plan.frame_length, idn)
        return link

    # ================================================================== actions

    def _perform(self, actions: list[rs.Action]) -> None:
        """Carry out the session's actions and those they lead to, in order."""
        queue = collections.deque(actions)
        while queue:
            action = queue.popleft()
            self.station.follow(self._session, self._clock() - self._t0)
            if isinstance(action, rs.JournalEvent):
                assert self._out is not None
                self._out.write(action.entry)
            elif isinstance(action, rs.Log):
                log.log(logging.getLevelName(action.level), "%s", action.message)
            elif isinstance(action, rs.Probe):
                queue.extend(self._probe())
            elif isinstance(action, rs.Abandon):
                queue.extend(self._abandon(action))
            elif isinstance(action, rs.ReconnectAfter):
                queue.extend(self._attempt(action))
            elif isinstance(action, rs.WaitForWindow):
                queue.extend(self.station.wait_for_window(self._session, self._wait))

    def _probe(self) -> list[rs.Action]:
        link = self._link
        assert link is not None
        try:
            link.controller.idn()
        except ControllerError as exc:
            return self._session.handle(rs.ReplyTimedOut(self._clock(), exc.message))
        return self._session.handle(rs.ProbeAnswered(self._clock()))

    def _attempt(self, action: rs.ReconnectAfter) -> list[rs.Action]:
        """Wait, then one connection attempt; the session's answer to how it went."""
        session = self._session
        self._maybe_progress(force=True)
        if session.phase is rs.Phase.RECONNECTING and action.delay_s:
            log.info("reconnection attempt %d in %.1f s", action.attempt, action.delay_s)
        if action.delay_s and self._wait(action.delay_s):
            return session.handle(rs.StopRequested())
        if session.phase is rs.Phase.RECONNECTING:
            self._controller().kill()
        try:
            link = self._setup()
        except OutputError:
            raise
        except LicelpushError as exc:
            if isinstance(exc, StopRequestedError):
                return session.handle(rs.StopRequested())
            actions = session.handle(rs.AttemptFailed(
                exc.message, connection_error=isinstance(exc, ControllerConnectionError)))
            if session.stop is not None and session.stop.reason is rs.StopReason.NOT_STARTED:
                raise
            return actions
        self._link = link
        self._records.journal_connect(link)
        return session.handle(rs.Connected(self._clock(), acquisition_seconds(self.config,
                                                                           link.plan)))

    # ================================================================== the loop

    def _acquire(self) -> None:
        """Receive (or poll) and save until the session stops the run."""
        session = self._session
        step = self._poll_step if self.options.mode == "poll" else self._push_step
        while session.stop is None:
            if self.stop_requested.is_set():
                self._perform(session.handle(rs.StopRequested()))
                return
            if (window := self.station.window_event(connected=True)) is not None:
                self._perform(session.handle(window))
                continue
            assert self._link is not None
            step(self._link)

    def _push_step(self, link: Link) -> None:
        """One receive from the push connection into the framer."""
        try:
            n = link.controller.recv_push_into(self._records.receive_view(link),
                                               self.options.poll_interval)
        except TimeoutError:
            now = self._clock()
            self._housekeeping(now)
            self._perform(self._session.handle(rs.Tick(now)))
        except OSError as exc:
            self._lost(f"push connection failed: {exc.strerror or exc!r}")
            return
        else:
            if n == 0:
                self._lost("the controller closed the push connection")
                return
            self._records.received(link, n)
            self._housekeeping()
        self._check_sync(link)

    def _poll_step(self, link: Link) -> None:
        """One polled acquisition (``--mode poll``, :mod:`licelpush.runpoll`)."""
        try:
            data = poll_frame(link.controller, link.plan,
                              acquisition_seconds(self.config, link.plan))
        except StopRequestedError:
            raise
        except ControllerError as exc:
            self._lost(exc.message)
            return
        self._records.polled(link, data)
        self._housekeeping()

    def _lost(self, reason: str) -> None:
        self._perform(self._session.handle(rs.ConnectionLost(reason)))

    def _check_sync(self, link: Link) -> None:
        """Lost synchronisation (the framer's rule, docs/ACQUIRE.md) is a fault like a lost
        connection: abandon it, reconnect, MPUSH again."""
        session = self._session
        if session.stop is not None or session.done or self._link is not link:
            return
        lost = link.framer.sync_lost(self._clock())
        if lost is not None:
            self._perform(session.handle(rs.ConnectionLost(f"lost synchronisation: {lost}",
                                                           eof=False)))

    # ================================================================== reconnection

    def _abandon(self, action: rs.Abandon) -> list[rs.Action]:
        """Process everything the connection holds, flush the framer, close it."""
        link, self._link = self._link, None
        assert link is not None and self._out is not None
        self._records.abandon(link, action.reason, eof=action.eof, slave=action.slave)
        return self._session.handle(rs.Abandoned())

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, keeping the files synced; True when a stop was requested."""
        deadline = self._clock() + seconds
        while (remaining := deadline - self._clock()) > 0:
            if self.stop_requested.wait(min(remaining,
                                            max(self.options.sync_interval / 2, 0.05))):
                return True
            self._housekeeping()
        return self.stop_requested.is_set()

    def _housekeeping(self, now: float | None = None, *, waiting: bool = False) -> None:
        """Sync, progress, station; ``waiting`` (inside a controller wait): no session
        actions, only the status file and the watchdog."""
        now = self._clock() if now is None else now
        if self._out is not None:
            self._out.sync_if_due(now)
        self._maybe_progress(now=now)
        if waiting:
            self.station.keep_alive(self._session, now, now - self._t0)
        else:
            self._perform(self.station.tick(self._session, now, now - self._t0))

    def _maybe_progress(self, now: float | None = None, force: bool = False) -> None:
        if self._progress_hook is None:
            return
        now = self._clock() if now is None else now
        if not force and now - self._last_progress < self._progress_interval:
            return
        self._last_progress = now
        self._progress_hook(self.progress(now))

    # ================================================================== the end

    def _finish(self, error: BaseException | None) -> BaseException | None:
        """End the run (:func:`~licelpush.runend.finish_run`); the error ``run`` raises."""
        assert self._out is not None
        link, self._link = self._link, None
        failure = finish_run(self._session, self._out, self._records, link, error,
                             stop_requested=self.stop_requested.is_set(),
                             elapsed_s=self._clock() - self._t0)
        self._maybe_progress(force=True)
        self.station.stopped(self._session, self._clock() - self._t0)
        return failure

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
from datetime import datetime, timezone
from pathlib import Path

from licelpush import session as rs
from licelpush.client import Controller, ControllerConnectionError
from licelpush.config import AcquisConfig
from licelpush.errors import (
    EXIT_STOPPED_EARLY,
    ControllerError,
    LicelpushError,
    OutputError,
    StopRequestedError,
)
from licelpush.filewriter import RecordWriter
from licelpush.plan import shot_limit_notes
from licelpush.records import acquisition_seconds
from licelpush.runlink import Link, RecorderMissingError, send_slave, start_mpush
from licelpush.runoutput import RunOutput, new_run_id
from licelpush.runrecords import RunRecords
from licelpush.session import (
    UNTIL_STOPPED,
    AcquireOptions,
    Progress,
    Summary,
    default_probe_after,
    default_stall_limit,
)

__all__ = ["AcquireOptions", "Acquisition", "Progress", "RecorderMissingError", "Summary",
           "UNTIL_STOPPED", "default_probe_after", "default_stall_limit", "new_run_id"]

log = logging.getLogger(__name__)





class Acquisition:
    """One acquisition run (see the module docstring)."""

    def __init__(self, config: AcquisConfig, options: AcquireOptions, *,
                 stop_requested: threading.Event | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 progress_interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
        self._open_output(datetime.now(timezone.utc))
        error: BaseException | None = None
        try:
            self._perform([rs.ReconnectAfter(0.0, 1)])
            self._receive()
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
        writer = RecordWriter(
            opts.output, opts.prefix or self.config.global_info.first_letter,
            records_per_file=opts.acquis_per_file, sync_interval=opts.sync_interval,
            controller_timestamp=opts.controller_timestamp)
        self._out = RunOutput(writer, Path(opts.output), start_wall, opts.sync_interval,
                              opts.log_invalid)
        self.run_id = self._out.run_id
        self.summary = Summary(run=self.run_id, requested=opts.acquisitions,
                               journal=self._out.journal.path)
        self.session = rs.RunSession(rs.RunPolicy.of(opts), self._t0, self.summary)
        self._records = RunRecords(self._out, self.config, opts, self.session, self._clock,
                                   self._maybe_progress)

    def _controller(self) -> Controller:
        opts = self.options
        return Controller(opts.host, opts.port, timeout=opts.timeout,
                          kill_password=opts.kill_password,
                          interrupt=self.stop_requested.is_set)

    def _setup(self) -> Link:
        """Connect and run the documented sequence up to ``MPUSH`` (one attempt)."""
        controller = self._controller()
        controller.connect()
        try:
            idn, hardware, plan = start_mpush(controller, self.config, self.options.shots,
                                              first=self._session.connections == 0)
        except StopRequestedError:
            send_slave(controller, bounded=self.stop_requested.is_set())
            controller.close()
            raise
        except BaseException:
            controller.close()
            raise
        self._records.mpush_started()
        link = Link.started(controller, self._session.connections + 1, self.config,
                            self.options.prefix, idn, hardware, plan)
        link.framer.final = self._session.final
        log.info("connection %d: MPUSH started on %s, %d-byte frames (%s)", link.number,
                 controller.address, plan.frame_length, idn)
        return link

    def _journal_connect(self, link: Link) -> None:
        assert self._out is not None
        if link.number == 1:
            self._out.write("start", **link.start_fields(self.run_id, self.config,
                                                         self.options))
        self._out.write("connect", **link.journal_fields())

    # ================================================================== actions

    def _perform(self, actions: list[rs.Action]) -> None:
        """Carry out the session's actions and those they lead to, in order."""
        queue = collections.deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, rs.JournalEvent):
                assert self._out is not None
                self._out.write(action.event, **action.fields)
            elif isinstance(action, rs.Log):
                log.log(logging.getLevelName(action.level), "%s", action.message)
            elif isinstance(action, rs.Probe):
                queue.extend(self._probe())
            elif isinstance(action, rs.Abandon):
                queue.extend(self._abandon(action))
            elif isinstance(action, rs.ReconnectAfter):
                queue.extend(self._attempt(action))

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
        if session.phase is rs.Phase.RECONNECTING:
            if action.delay_s:
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
        self._journal_connect(link)
        return session.handle(rs.Connected(self._clock(), acquisition_seconds(self.config,
                                                                           link.plan)))

    # ================================================================== the loop

    def _receive(self) -> None:
        session = self._session
        while session.stop is None:
            if self.stop_requested.is_set():
                self._perform(session.handle(rs.StopRequested()))
                return
            link = self._link
            assert link is not None
            try:
                n = link.controller.recv_push_into(self._records.receive_view(link),
                                                   self.options.poll_interval)
            except TimeoutError:
                now = self._clock()
                self._housekeeping(now)
                self._perform(session.handle(rs.Tick(now)))
                continue
            except OSError as exc:
                self._perform(session.handle(rs.ConnectionLost(
                    f"push connection failed: {exc.strerror or exc!r}")))
                continue
            if n == 0:
                self._perform(session.handle(rs.ConnectionLost(
                    "the controller closed the push connection")))
                continue
            self._records.received(link, n)
            self._housekeeping()

    # ================================================================== reconnection

    def _abandon(self, action: rs.Abandon) -> list[rs.Action]:
        """Process everything the connection holds, flush the framer, close it."""
        link, self._link = self._link, None
        assert link is not None and self._out is not None
        self._records.abandon(link, action.reason, eof=action.eof)
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

    def _housekeeping(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        if self._out is not None:
            self._out.sync_if_due(now)
        self._maybe_progress(now=now)

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
        """SLAVE, process what is buffered, close sockets and files, journal the summary.

        Returns the error ``run`` must raise (``error``, or an output error met
        while finishing), None when the run ended normally.
        """
        session, out = self._session, self._out
        assert out is not None
        session.phase = rs.Phase.STOPPING
        if session.stop is None:
            session.end(rs.StopReason.USER)
        link, self._link = self._link, None
        output_error = error if isinstance(error, OutputError) else None
        if link is not None:
            send_slave(link.controller, bounded=self.stop_requested.is_set())
            if output_error is None:
                try:
                    link.framer.end_of_stream()
                    self._records.process(link)
                except OutputError as exc:
                    output_error = exc
            link.controller.close()
        output_error = output_error or out.close_data()
        session.summary.elapsed_s = self._clock() - self._t0
        if output_error is not None:
            session.end(rs.StopReason.OUTPUT, output_error.message)
        status = getattr(error, "exit_status", EXIT_STOPPED_EARLY) if error is not None else None
        summary = session.conclude(status)
        journal_error = out.close_journal(summary.as_dict())
        if journal_error is not None and output_error is None:
            output_error = journal_error
            session.end(rs.StopReason.OUTPUT, journal_error.message)
            session.conclude(status)
        self._maybe_progress(force=True)
        if error is not None:
            if output_error is not None and output_error is not error:
                log.error("%s", output_error.message)
            return error
        return output_error

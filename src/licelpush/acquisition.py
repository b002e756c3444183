"""The MPUSH acquisition run (IO loop): receive -> frame -> decode -> save, with reconnection.

Spec: ``mpush-workflow.rst`` (the sequence), PROTOCOL.md §1-4 and
docs/ACQUIRE.md. The decisions — when to probe, when a connection counts as
lost, how long to wait before the next attempt, when to give up, which bytes
are surplus, the exit status — are :class:`licelpush.session.RunSession`'s;
:class:`Acquisition` carries them out:

1. check the options and open the output (:class:`~licelpush.runoutput.RunOutput`)
   — nothing is sent to the controller when the configuration, the options
   or the output directory are unusable;
2. connect, list the installed recorders 0-15, refuse to start when an
   active recorder is missing, configure, ``*IDN?``, ``TRTYPE?``, plan, ``MPUSH``;
3. receive straight into the framer's buffer, save accepted frames, quarantine
   every other byte, journal both;
4. on a connection loss: read what the connection still holds, flush the
   framer, close it, then kill, reconnect and set up again;
5. stop when the count is saved, on a stop request (:attr:`stop_requested`,
   honoured within a fraction of a second in every phase) or when the
   retries are exhausted: ``SLAVE``, close, finish the files, journal the summary.

Times: a record's stop time is when its frame was received, its start time
stop − shots / laser repetition rate, or the previous record's stop when no
rate is configured. UTC unless ``local_time``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from licelpush.client import Controller, ControllerConnectionError, big_endian_timestamps
from licelpush.config import AcquisConfig
from licelpush.decode import FrameDecoder
from licelpush.errors import (
    EXIT_STOPPED_EARLY,
    ControllerError,
    LicelpushError,
    OutputError,
    StopRequestedError,
)
from licelpush.filewriter import RecordWriter
from licelpush.framing import NEED_DATA, Frame, Framer, Quarantined
from licelpush.hardware import RecorderHardware
from licelpush.invalidlog import format_entry, head_hex
from licelpush.journal import utc_now_text
from licelpush.licelfile import parse_file_name
from licelpush.notices import ClipNotices, QuarantineNotices
from licelpush.plan import MPushPlan, make_plan, overflow_notes, shot_limit_notes
from licelpush.records import RecordBuilder, acquisition_seconds, acquisition_times
from licelpush.runoutput import RunOutput, new_run_id
from licelpush.session import (
    UNTIL_STOPPED,
    Abandon,
    Abandoned,
    AcquireOptions,
    Action,
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
    Progress,
    ReconnectAfter,
    RecordWritten,
    ReplyTimedOut,
    RunPolicy,
    RunSession,
    SpanQuarantined,
    StopReason,
    StopRequested,
    Summary,
    Tick,
    WriteRecord,
    default_probe_after,
    default_stall_limit,
    missing_recorders_problem,
)

__all__ = ["AcquireOptions", "Acquisition", "Progress", "RecorderMissingError", "Summary",
           "UNTIL_STOPPED", "default_probe_after", "default_stall_limit", "new_run_id"]

log = logging.getLogger(__name__)

NAME_STEP = timedelta(milliseconds=10)
"""Resolution of Licel file names: names of successive files are at least this far apart."""
DRAIN_LIMIT_FRAMES = 16
"""When abandoning a connection, read at most this many frames' worth of bytes it still holds."""
STOP_SLAVE_TIMEOUT = 1.0
"""Longest wait for the reply to ``SLAVE`` after a stop request."""


class RecorderMissingError(ControllerError):
    """An active recorder of the configuration is not installed in the controller."""


@dataclass
class _Link:
    """One established connection: controller, plan and the per-plan machinery."""

    controller: Controller
    number: int
    plan: MPushPlan
    decoder: FrameDecoder
    framer: Framer
    builder: RecordBuilder
    hardware: dict[int, RecorderHardware]
    idn: str
    received: int = 0
    frames: int = 0
    quarantined: int = 0


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
        self._link: _Link | None = None
        self._previous_stop: datetime | None = None
        self._last_name_time: datetime | None = None
        self._out: RunOutput | None = None
        self._t0 = 0.0
        self.session: RunSession | None = None
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
        problems = self.options.problems()
        if not self.config.active_recorders:
            problems.append(f"{self.config.path}: no recorder has an enabled dataset; "
                            "nothing to acquire")
        if problems:
            raise LicelpushError("; ".join(problems))
        for note in shot_limit_notes(self.config, self.options.shots):
            log.warning("%s", note)
        self._t0 = self._clock()
        self._open_output(datetime.now(timezone.utc))
        error: BaseException | None = None
        try:
            self._perform([ReconnectAfter(0.0, 1)])
            self._receive()
        except (StopRequestedError, KeyboardInterrupt):
            self._session.end(StopReason.USER)
        except OutputError as exc:
            self._session.end(StopReason.OUTPUT, exc.message)
            error = exc
        except LicelpushError as exc:
            self._session.end(StopReason.NOT_STARTED, exc.message)
            error = exc
        except BaseException as exc:  # pragma: no cover - a bug; still close everything
            self._session.end(StopReason.INTERNAL, repr(exc))
            error = exc
        failure = self._finish(error)
        if failure is not None:
            raise failure
        return self._session.summary

    @property
    def _session(self) -> RunSession:
        assert self.session is not None
        return self.session

    def progress(self, now: float | None = None) -> Progress:
        """The current progress snapshot."""
        s = self.summary
        now = self._clock() if now is None else now
        return Progress(
            saved=s.saved if s else 0, requested=self.options.acquisitions,
            reconnects=s.reconnects if s else 0,
            quarantined_bytes=s.quarantined_bytes if s else 0,
            quarantined_spans=s.quarantined_spans if s else 0,
            received_bytes=s.received_bytes if s else 0, elapsed_s=now - self._t0,
            state=self.session.phase.value if self.session else Phase.CONNECTING.value)

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
        self.session = RunSession(RunPolicy.of(opts), self._t0, self.summary)
        self._clips = ClipNotices(self.summary.clipped)
        self._quarantine_notices = QuarantineNotices()

    def _controller(self) -> Controller:
        opts = self.options
        return Controller(opts.host, opts.port, timeout=opts.timeout,
                          kill_password=opts.kill_password,
                          interrupt=self.stop_requested.is_set)

    def _setup(self) -> _Link:
        """Connect and run the documented sequence up to ``MPUSH`` (one attempt)."""
        controller = self._controller()
        controller.connect()
        try:
            idn, hardware, plan = self._configure(controller)
        except StopRequestedError:
            self._slave(controller)
            controller.close()
            raise
        except BaseException:
            controller.close()
            raise
        decoder = FrameDecoder(plan)
        framer = Framer(plan.frame_length, decoder.problem, head_check=decoder.follows,
                        head_length=decoder.head_length)
        framer.final = self._session.final
        link = _Link(controller, self._session.connections + 1, plan, decoder, framer,
                     RecordBuilder(self.config, plan, self.options.prefix), hardware, idn)
        log.info("connection %d: MPUSH started on %s, %d-byte frames (%s)", link.number,
                 controller.address, plan.frame_length, idn)
        return link

    def _configure(self, controller: Controller
                   ) -> tuple[str, dict[int, RecorderHardware], MPushPlan]:
        installed = controller.installed_recorders()
        active = self.config.active_recorders
        if not installed:
            raise ControllerError(
                f"controller {controller.address}: no transient recorder installed "
                "(STAT? reports no 'Shots' at addresses 0-15)")
        problem = missing_recorders_problem(self.config.path, [r.address for r in active],
                                            installed, controller.address)
        if problem:
            raise RecorderMissingError(problem + "; refusing to start")
        idle = [r.address for r in self.config.recorders
                if not r.active and r.address not in installed]
        if idle:
            log.info("inactive [TR%s] of the configuration not installed (not used)",
                     ", TR".join(str(a) for a in idle))
        for recorder in active:
            controller.configure(recorder)
        idn = controller.idn()
        hardware = {r.address: controller.trtype(r.address) for r in active}
        plan = make_plan(self.config, hardware, self.options.shots,
                         big_endian_timestamp=big_endian_timestamps(idn))
        if self._session.connections == 0:
            for note in overflow_notes(plan):
                log.warning("%s", note)
        controller.start_mpush(plan)
        # No acquisition of this push connection started before MPUSH did.
        started = self._file_time(datetime.now(timezone.utc))
        if self._previous_stop is None or self._previous_stop < started:
            self._previous_stop = started
        return idn, hardware, plan

    def _journal_connect(self, link: _Link) -> None:
        assert self._out is not None
        local, remote = link.controller.push_addresses()
        if link.number == 1:
            opts = self.options
            self._out.write(
                "start", run=self.run_id, configuration=str(self.config.path),
                controller=f"{opts.host}:{opts.port}", shots=opts.shots,
                acquisitions=opts.acquisitions, acquis_per_file=opts.acquis_per_file,
                output=str(opts.output), command=link.plan.command,
                frame_length=link.plan.frame_length, idn=link.idn,
                big_endian_timestamp=link.plan.big_endian_timestamp,
                time_zone="local" if opts.local_time else "UTC",
                recorders={str(a): vars(hw) for a, hw in link.hardware.items()})
        self._out.write("connect", connection=link.number, idn=link.idn,
                        command=link.plan.command, frame_length=link.plan.frame_length,
                        push_local=local, push_remote=remote)

    # ================================================================== actions

    def _perform(self, actions: list[Action]) -> None:
        """Carry out the session's actions and those they lead to, in order."""
        queue = collections.deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, JournalEvent):
                assert self._out is not None
                self._out.write(action.event, **action.fields)
            elif isinstance(action, Log):
                log.log(logging.getLevelName(action.level), "%s", action.message)
            elif isinstance(action, Probe):
                queue.extend(self._probe())
            elif isinstance(action, Abandon):
                queue.extend(self._abandon(action))
            elif isinstance(action, ReconnectAfter):
                queue.extend(self._attempt(action))

    def _probe(self) -> list[Action]:
        link = self._link
        assert link is not None
        try:
            link.controller.idn()
        except ControllerError as exc:
            return self._session.handle(ReplyTimedOut(self._clock(), exc.message))
        return self._session.handle(ProbeAnswered(self._clock()))

    def _attempt(self, action: ReconnectAfter) -> list[Action]:
        """Wait, then one connection attempt; the session's answer to how it went."""
        session = self._session
        self._maybe_progress(force=True)
        if session.phase is Phase.RECONNECTING:
            if action.delay_s:
                log.info("reconnection attempt %d in %.1f s", action.attempt, action.delay_s)
        if action.delay_s and self._wait(action.delay_s):
            return session.handle(StopRequested())
        if session.phase is Phase.RECONNECTING:
            self._controller().kill()
        try:
            link = self._setup()
        except OutputError:
            raise
        except LicelpushError as exc:
            if isinstance(exc, StopRequestedError):
                return session.handle(StopRequested())
            actions = session.handle(AttemptFailed(
                exc.message, connection_error=isinstance(exc, ControllerConnectionError)))
            if session.stop is not None and session.stop.reason is StopReason.NOT_STARTED:
                raise
            return actions
        self._link = link
        self._journal_connect(link)
        return session.handle(Connected(self._clock(), acquisition_seconds(self.config,
                                                                           link.plan)))

    # ================================================================== the loop

    def _receive(self) -> None:
        session = self._session
        while session.stop is None:
            if self.stop_requested.is_set():
                self._perform(session.handle(StopRequested()))
                return
            link = self._link
            assert link is not None
            try:
                n = link.controller.recv_push_into(self._receive_view(link),
                                                   self.options.poll_interval)
            except TimeoutError:
                now = self._clock()
                self._housekeeping(now)
                self._perform(session.handle(Tick(now)))
                continue
            except OSError as exc:
                self._perform(session.handle(ConnectionLost(
                    f"push connection failed: {exc.strerror or exc!r}")))
                continue
            if n == 0:
                self._perform(session.handle(ConnectionLost(
                    "the controller closed the push connection")))
                continue
            self._received(link, n)
            self._housekeeping()

    def _receive_view(self, link: _Link) -> memoryview:
        """Where the next push bytes go: no more than the wanted frames need."""
        framer = link.framer
        view = framer.writable()
        remaining = self._session.remaining
        if remaining is not None:
            limit = remaining * framer.frame_length - framer.buffered
            view = view[:limit if limit > 0 else framer.frame_length]
        return view

    def _received(self, link: _Link, n: int) -> None:
        link.framer.commit(n)
        link.received += n
        self._session.handle(DataReceived(self._clock(), n))
        self._process(link)

    def _process(self, link: _Link) -> None:
        """Handle every event the framer has (frames, quarantined spans)."""
        session = self._session
        while (event := link.framer.next_event()) is not NEED_DATA:
            if isinstance(event, Frame):
                actions = session.handle(FrameAccepted(self._clock()))
            else:
                actions = session.handle(SpanQuarantined(len(event.data)))
            for action in actions:
                if isinstance(action, WriteRecord):
                    assert isinstance(event, Frame)
                    self._save(link, event)
                    session.handle(RecordWritten())
                    link.framer.final = session.final
                else:
                    assert isinstance(event, (Frame, Quarantined))
                    reason = getattr(action, "reason", None) or getattr(event, "reason", "")
                    self._quarantine(link, event.data, event.stream_offset, reason,
                                     surplus=getattr(action, "surplus", False))

    def _file_time(self, utc: datetime) -> datetime:
        """A UTC time as it goes into files: naive, UTC or local (--local-time)."""
        return (utc.astimezone() if self.options.local_time else utc).replace(tzinfo=None)

    def _save(self, link: _Link, frame: Frame) -> None:
        summary, out = self._session.summary, self._out
        assert out is not None
        data = frame.data
        decoded = link.decoder.decode(data)
        received = datetime.now(timezone.utc)
        received_text = utc_now_text(received)
        start_time, stop_time = acquisition_times(
            self._file_time(received), acquisition_seconds(self.config, link.plan),
            self._previous_stop)
        self._previous_stop = stop_time
        name_time = start_time
        if summary.saved % self.options.acquis_per_file == 0 and self._last_name_time:
            # A new file: keep names unique without probing a run of taken names.
            name_time = max(start_time, self._last_name_time + NAME_STEP)
        path, index = out.writer.write(link.builder.build(decoded, start_time, stop_time,
                                                          name_time))
        if index == 0:
            parsed = parse_file_name(path.name)
            if parsed is not None:
                self._last_name_time = parsed[1]
            summary.files.append(path)
            summary.file_count += 1
        link.frames += 1
        fields: dict[str, object] = {
            "n": summary.saved + 1, "file": path.name, "record": index,
            "timestamp": decoded.timestamp_ms, "crc32": zlib.crc32(data),
            "shots": list(decoded.shots), "received_utc": received_text,
            "connection": link.number, "stream_offset": frame.stream_offset,
        }
        if any(decoded.clipped_bins):
            fields["clipped"] = list(decoded.clipped_bins)
            for text in self._clips.note((c.label for c in link.plan.channels),
                                         decoded.clipped_bins, self._clock(),
                                         summary.saved + 1):
                log.warning("%s", text)
        out.write("acquisition", utc=received_text, **fields)
        self._maybe_progress()

    def _quarantine(self, link: _Link, data: bytes | memoryview, stream_offset: int,
                    reason: str, *, surplus: bool) -> None:
        out = self._out
        assert out is not None
        offset = out.quarantine.append(data)
        length = len(data)
        self._session.count_quarantined(length, surplus)
        link.quarantined += length
        if not surplus:
            more = self._quarantine_notices.note(self._clock())
            if more is not None:
                log.warning("connection %d: %d bytes at stream offset %d quarantined: %s%s",
                            link.number, length, stream_offset, reason, more)
        self._session.summary.quarantine = out.quarantine.path
        out.write("quarantine", file=out.quarantine.path.name, offset=offset, length=length,
                  reason=reason, connection=link.number, stream_offset=stream_offset,
                  surplus=surplus)
        if out.invalid_log is not None and not surplus:
            self._log_invalid(link, data, stream_offset, offset, reason)

    def _log_invalid(self, link: _Link, data: bytes | memoryview, stream_offset: int,
                     offset: int, reason: str) -> None:
        """Append one entry to the human-readable log of invalid push data (``--log``)."""
        assert self._out is not None
        millis = "unavailable (connection closed)"
        if link.controller.command_connected and not self._session.stopping:
            try:
                millis = f"{link.controller.millisec()} ms"
            except ControllerError as exc:
                millis = f"unavailable ({exc.message})"
        self._out.append_invalid(format_entry(utc_now_text(), [
            ("controller IDN", link.idn), ("controller time", millis),
            ("buffer length", f"{len(data)} bytes"),
            ("expected length", f"{link.plan.frame_length} bytes (one frame)"),
            ("connection", f"{link.number}, stream offset {stream_offset}"),
            ("quarantine file", f"{self._out.quarantine.path.name} offset {offset}"),
            ("reason", reason), ("first bytes", head_hex(data))], width=22))

    # ================================================================== reconnection

    def _drain(self, link: _Link) -> None:
        """Read, without waiting, what the push connection still holds (bounded)."""
        budget = DRAIN_LIMIT_FRAMES * link.plan.frame_length
        try:
            while budget > 0 and not self._session.done:
                n = link.controller.recv_push_into(self._receive_view(link)[:budget], None)
                if n == 0:
                    break
                budget -= n
                self._received(link, n)
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, ControllerError) as exc:
            log.debug("connection %d: %s while draining", link.number, exc)

    def _abandon(self, action: Abandon) -> list[Action]:
        """Process everything the connection holds, flush the framer, close it."""
        link, self._link = self._link, None
        assert link is not None and self._out is not None
        log.warning("connection %d lost: %s", link.number, action.reason)
        if not action.eof:
            self._drain(link)
        link.framer.end_of_stream()
        self._process(link)
        link.controller.close()
        self._out.write("abandon", connection=link.number, reason=action.reason,
                        received_bytes=link.received, frames=link.frames,
                        quarantined_bytes=link.quarantined)
        return self._session.handle(Abandoned())

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

    def _slave(self, controller: Controller) -> None:
        """``SLAVE`` when the command connection is usable; bounded after a stop request."""
        if not controller.command_connected:
            return
        controller.interrupt = None
        if self.stop_requested.is_set():
            controller.timeout = min(controller.timeout, STOP_SLAVE_TIMEOUT)
        try:
            controller.slave()
        except ControllerError as exc:
            log.warning("SLAVE failed: %s", exc.message)

    def _finish(self, error: BaseException | None) -> BaseException | None:
        """SLAVE, process what is buffered, close sockets and files, journal the summary.

        Returns the error ``run`` must raise (``error``, or an output error met
        while finishing), None when the run ended normally.
        """
        session, out = self._session, self._out
        assert out is not None
        session.phase = Phase.STOPPING
        if session.stop is None:
            session.end(StopReason.USER)
        link, self._link = self._link, None
        output_error = error if isinstance(error, OutputError) else None
        if link is not None:
            self._slave(link.controller)
            if output_error is None:
                try:
                    link.framer.end_of_stream()
                    self._process(link)
                except OutputError as exc:
                    output_error = exc
            link.controller.close()
        output_error = output_error or out.close_data()
        session.summary.elapsed_s = self._clock() - self._t0
        if output_error is not None:
            session.end(StopReason.OUTPUT, output_error.message)
        status = getattr(error, "exit_status", EXIT_STOPPED_EARLY) if error is not None else None
        summary = session.conclude(status)
        journal_error = out.close_journal(summary.as_dict())
        if journal_error is not None and output_error is None:
            output_error = journal_error
            session.end(StopReason.OUTPUT, journal_error.message)
            session.conclude(status)
        self._maybe_progress(force=True)
        if error is not None:
            if output_error is not None and output_error is not error:
                log.error("%s", output_error.message)
            return error
        return output_error

"""The MPUSH acquisition run: receive -> frame -> decode -> save, with reconnection.

Spec: ``shared/docs/mpush-workflow.rst`` (the sequence), PROTOCOL.md §1-4 and
the issue "MPUSH acquisition". :class:`Acquisition` drives one run:

1. check the options and open the output (data writer, journal) — nothing is
   sent to the controller when the configuration, the options or the output
   directory are unusable;
2. connect (command and push sockets), list the installed recorders 0-15,
   refuse to start when an active recorder of the configuration is missing,
   configure every active recorder, ``*IDN?`` (timestamp byte order),
   ``TRTYPE?`` per recorder, build the plan, ``MPUSH``;
3. receive straight into the framer's buffer, accept frames, decode them,
   build a record and hand it to the writer in one write (fsync within
   ``sync_interval``); quarantine every byte that is not part of an accepted
   frame; journal every saved acquisition and quarantine;
4. on a connection loss, a timeout or a garbage reply: read what the
   connection still holds, flush the framer (a partial frame is quarantined),
   then kill, reconnect, re-list, reconfigure, re-``TRTYPE?``, rebuild the plan
   and restart ``MPUSH``, with exponential back-off and a bounded number of
   consecutive attempts (``retries``; -1 = forever);
5. stop when the requested count is saved, on a stop request (Ctrl-C,
   SIGTERM: the CLI sets :attr:`Acquisition.stop`) or when the retries are
   exhausted: ``SLAVE``, close, finish the files, journal the summary.

Liveness: when no push data arrives for ``probe_after`` seconds the
controller is probed with ``*IDN?`` on the command socket; no answer within
the timeout is a connection loss. When it answers but still nothing is
pushed for ``stall_limit`` seconds, the connection is renewed as well.

Times: a record's stop time is when its frame was received, its start time
stop − shots / laser repetition rate (the fastest laser in use), or the
previous record's stop when no rate is configured. UTC unless
``local_time``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from licelpush.client import (
    KILL_PASSWORD,
    Controller,
    ControllerConnectionError,
    big_endian_timestamps,
)
from licelpush.config import AcquisConfig
from licelpush.decode import FrameDecoder
from licelpush.diskguard import DiskState
from licelpush.errors import (
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_STOPPED_EARLY,
    ControllerError,
    LicelpushError,
    OutputError,
)
from licelpush.filewriter import MAX_LISTED_FILES
from licelpush.framing import NEED_DATA, Frame, Framer
from licelpush.hardware import RecorderHardware
from licelpush.journal import Journal, QuarantineFile, utc_now_text
from licelpush.layout import Layout
from licelpush.layoutwriter import LayoutWriter
from licelpush.licelfile import parse_file_name
from licelpush.plan import (
    DEFAULT_SHOTS,
    MAX_SHOTS,
    MPushPlan,
    make_plan,
    overflow_notes,
    shot_limit_notes,
)
from licelpush.records import RecordBuilder, acquisition_seconds, acquisition_times
from licelpush.station import StationOptions, StationService

log = logging.getLogger(__name__)

UNTIL_STOPPED = -1
"""``acquisitions`` value for a run that goes on until it is stopped."""
NAME_STEP = timedelta(milliseconds=10)
"""Resolution of Licel file names: names of successive files are at least this far apart."""
DRAIN_LIMIT_FRAMES = 16
"""When abandoning a connection, read at most this many frames' worth of bytes it still holds."""
CLIP_WARNING_INTERVAL = 60.0
"""Seconds between repeated clipping warnings of one channel."""
QUARANTINE_WARNING_INTERVAL = 5.0
"""Seconds between quarantine warnings in the log (the journal lists every one)."""
REASON_COMPLETED = "completed"
REASON_USER = "stopped by the user"
REASON_DISK = "disk guard"


class RecorderMissingError(ControllerError):
    """An active recorder of the configuration is not installed in the controller."""


@dataclass(frozen=True)
class AcquireOptions:
    """Everything of a run that is not in the configuration file."""

    host: str
    port: int = 2055
    acquisitions: int = 10
    """Acquisitions to save; :data:`UNTIL_STOPPED` (-1) = until stopped."""
    shots: int = DEFAULT_SHOTS
    acquis_per_file: int = 1
    output: Path = Path(".")
    retries: int = 5
    """Consecutive reconnection attempts without a saved frame; -1 = forever."""
    local_time: bool = False
    log_invalid: bool = False
    """Also write ``invalid-<run>.log``, a human-readable log of invalid push data."""
    timeout: float = 5.0
    """Seconds for a connection to open and for each command reply."""
    probe_after: float | None = None
    """Seconds without push data before ``*IDN?`` is sent; None: from shots and laser rate."""
    stall_limit: float | None = None
    """Seconds without push data before reconnecting although the controller answers;
    None: from shots and laser rate."""
    backoff: float = 0.5
    """Delay before the second reconnection attempt; doubles up to ``backoff_max``."""
    backoff_max: float = 30.0
    poll_interval: float = 0.2
    """Longest blocking receive; bounds how late stop requests and fsyncs are handled."""
    sync_interval: float = 1.0
    """Data, journal and quarantine are on disk at most this long after being written."""
    controller_timestamp: bool = False
    """Write the controller timestamp at the end of line 3 (some readers refuse it)."""
    kill_password: str = KILL_PASSWORD
    prefix: str | None = None
    """File name prefix; None: ``first_letter`` of the configuration."""
    layout: Layout = Layout()
    """Sub-folders of the output directory for data files (``--layout``, ``--dark``)."""

    def problems(self) -> list[str]:
        """What is wrong with these options (empty when they are usable)."""
        found = []
        if self.acquisitions < 1 and self.acquisitions != UNTIL_STOPPED:
            found.append(f"--acq {self.acquisitions}: must be a positive count or -1 "
                         "(until stopped)")
        if not 1 <= self.shots <= MAX_SHOTS:
            found.append(f"--shots {self.shots}: must be 1 to {MAX_SHOTS}")
        if self.acquis_per_file < 1:
            found.append(f"--acquis_per_file {self.acquis_per_file}: must be at least 1")
        if self.retries < -1:
            found.append(f"--retries {self.retries}: must be 0 or more, or -1 (forever)")
        if not 0 < self.port <= 65533:
            found.append(f"--port {self.port}: must be 1 to 65533 (P, P+1 and P+2 are used)")
        for name in ("timeout", "backoff", "backoff_max", "poll_interval"):
            if not getattr(self, name) > 0:
                found.append(f"{name} = {getattr(self, name)}: must be positive")
        if self.sync_interval < 0:
            found.append(f"sync_interval = {self.sync_interval}: must be 0 or more")
        for name in ("probe_after", "stall_limit"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                found.append(f"{name} = {value}: must be positive")
        return found


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    saved: int
    requested: int
    reconnects: int
    quarantined_bytes: int
    quarantined_spans: int
    received_bytes: int
    elapsed_s: float
    state: str
    """``connecting``, ``acquiring``, ``reconnecting`` or ``stopping``."""

    @property
    def rate(self) -> float:
        """Saved acquisitions per second."""
        return self.saved / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class Summary:
    """The outcome of a run (printed by the CLI, journalled in the ``stop`` event)."""

    run: str
    requested: int
    saved: int = 0
    files: collections.deque[Path] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_LISTED_FILES))
    """The most recent files written (bounded; :attr:`file_count` counts them all)."""
    file_count: int = 0
    quarantined_spans: int = 0
    """Spans of damaged data quarantined (each at least part of a lost frame)."""
    quarantined_bytes: int = 0
    """All bytes written to the quarantine file (damage and surplus)."""
    surplus_bytes: int = 0
    """Bytes received after the run decided to stop (not damage; also quarantined)."""
    reconnects: int = 0
    failed_attempts: int = 0
    received_bytes: int = 0
    elapsed_s: float = 0.0
    reason: str = ""
    exit_status: int = EXIT_OK
    clipped: dict[str, int] = field(default_factory=dict)
    """Acquisitions with clipped bins, per channel label."""
    journal: Path | None = None
    quarantine: Path | None = None

    @property
    def data_rate(self) -> float:
        """Push bytes received per second."""
        return self.received_bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        """The summary fields of the journal's ``stop`` event."""
        return {
            "reason": self.reason,
            "exit_status": self.exit_status,
            "requested": self.requested,
            "saved": self.saved,
            "files": self.file_count,
            "quarantined_spans": self.quarantined_spans,
            "quarantined_bytes": self.quarantined_bytes,
            "surplus_bytes": self.surplus_bytes,
            "reconnects": self.reconnects,
            "failed_attempts": self.failed_attempts,
            "received_bytes": self.received_bytes,
            "elapsed_s": round(self.elapsed_s, 3),
            "clipped": self.clipped,
        }

    def lines(self) -> list[str]:
        """Human-readable summary."""
        wanted = "until stopped" if self.requested == UNTIL_STOPPED else str(self.requested)
        rate = self.data_rate
        out = [
            f"acquisitions saved: {self.saved} of {wanted}",
            f"files written:      {self.file_count}",
            f"frames quarantined: {self.quarantined_spans} damaged span(s)",
            f"bytes skipped:      {self.quarantined_bytes}"
            + (f" ({self.surplus_bytes} after the last acquisition)" if self.surplus_bytes
               else ""),
            f"reconnects:         {self.reconnects}"
            + (f" ({self.failed_attempts} failed attempt(s))" if self.failed_attempts else ""),
            f"elapsed:            {self.elapsed_s:.1f} s",
            f"data rate:          {rate / 1e6:.2f} MB/s ({self.received_bytes} bytes received)",
        ]
        if self.clipped:
            out.append("clipping:           " + ", ".join(
                f"{label} in {n} acquisition(s)" for label, n in self.clipped.items()))
        if self.journal is not None:
            out.append(f"journal:            {self.journal}")
        if self.quarantine is not None:
            out.append(f"quarantine:         {self.quarantine}")
        out.append(f"stopped:            {self.reason}")
        return out


@dataclass
class _Link:
    """One established connection: controller, plan and the per-plan machinery."""

    controller: Controller
    number: int
    plan: MPushPlan
    decoder: FrameDecoder
    framer: Framer
    builder: RecordBuilder
    duration_s: float | None
    hardware: dict[int, RecorderHardware]
    idn: str
    started: float
    last_data: float
    last_probe: float
    received: int = 0
    frames: int = 0
    quarantined: int = 0


class _GiveUp(Exception):
    """Reconnection attempts are exhausted."""


class _DiskLow(Exception):
    """The disk guard stops the run (free space below ``--min-free``)."""


def default_probe_after(duration_s: float | None) -> float:
    """Silence before a liveness probe: 2 × nominal acquisition time + 5 s, within 5..60 s."""
    if duration_s is None:
        return 30.0
    return min(max(2.0 * duration_s + 5.0, 5.0), 60.0)


def default_stall_limit(duration_s: float | None) -> float | None:
    """Silence before reconnecting although the controller answers: 3 × the acquisition
    time + 60 s; None (never) when the acquisition time is unknown."""
    if duration_s is None:
        return None
    return 3.0 * duration_s + 60.0


def new_run_id(now: datetime) -> str:
    """Run id from the UTC start time, e.g. ``20260513T210519Z``."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class Acquisition:
    """One acquisition run (see the module docstring)."""

    def __init__(
        self,
        config: AcquisConfig,
        options: AcquireOptions,
        *,
        stop: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
        progress_interval: float = 0.2,
        station: StationOptions | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.stop = stop if stop is not None else threading.Event()
        """Set it (from a signal handler or another thread) to stop the run cleanly."""
        self._progress_hook = progress
        self._progress_interval = progress_interval
        self._last_progress = 0.0
        self._clock = time.monotonic
        self._link: _Link | None = None
        self._connections = 0
        self._attempts_since_frame = 0
        self._last_error: str = ""
        self._previous_stop: datetime | None = None
        self._last_name_time: datetime | None = None
        self._clip_last_warned: dict[str, float] = {}
        self._quarantine_warned = -QUARANTINE_WARNING_INTERVAL
        self._quarantine_unwarned = 0
        self._state = "connecting"
        self._stopping = False
        self._writer: LayoutWriter | None = None
        station = station or StationOptions()
        self._wall = station.wall_clock
        """The UTC clock of record times and the schedule (injectable for tests)."""
        self.station = StationService(options.output, station,
                                      f"{options.host}:{options.port}",
                                      dark=options.layout.dark)
        """Status file, service manager, disk guard and schedule of this run."""
        self._disk_stop = ""
        self._journal: Journal | None = None
        self._quarantine: QuarantineFile | None = None
        self._invalid_log: Path | None = None
        self._t0 = 0.0
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
        start_wall = self._wall()
        self._open_output(start_wall)
        summary = self.summary
        assert summary is not None
        error: BaseException | None = None
        try:
            self._check_disk_at_start()
            if self.station.window().inside or not self._rest_until_window():
                self._set_state("connecting")
                self._link = self._first_connection()
            if self._link is not None:
                self.station.ready()
                self._journal_start()
                self._journal_connect(self._link)
                self._receive()
        except _GiveUp as exc:
            summary.reason = str(exc)
        except _DiskLow as exc:
            summary.reason = str(exc)
        except KeyboardInterrupt:
            summary.reason = REASON_USER
            self._stopping = True
        except OutputError as exc:
            summary.reason = f"output error: {exc.message}"
            error = exc
        except LicelpushError as exc:
            summary.reason = f"could not start: {exc.message}"
            error = exc
        except BaseException as exc:  # pragma: no cover - a bug; still close everything
            summary.reason = f"internal error: {exc!r}"
            error = exc
        failure = self._finish(error)
        if failure is not None:
            raise failure
        return summary

    # ================================================================== set-up

    def _open_output(self, start_wall: datetime) -> None:
        opts = self.options
        self._writer = LayoutWriter(
            opts.output, opts.prefix or self.config.global_info.first_letter, opts.layout,
            records_per_file=opts.acquis_per_file, sync_interval=opts.sync_interval,
            controller_timestamp=opts.controller_timestamp,
        )
        base = new_run_id(start_wall)
        for n in range(1, 1000):
            run = base if n == 1 else f"{base}-{n}"
            path = Path(opts.output) / f"journal-{run}.jsonl"
            if path.exists() or (Path(opts.output) / f"quarantine-{run}.bin").exists():
                continue
            try:
                self._journal = Journal(path, opts.sync_interval)
            except OutputError:
                if path.exists():
                    continue
                raise
            self.run_id = run
            break
        else:  # pragma: no cover - 1000 runs in one second
            raise OutputError(f"{opts.output}: no free journal name for run {base}")
        self._quarantine = QuarantineFile(Path(opts.output) / f"quarantine-{self.run_id}.bin",
                                          opts.sync_interval)
        if opts.log_invalid:
            self._invalid_log = Path(opts.output) / f"invalid-{self.run_id}.log"
        self.summary = Summary(run=self.run_id, requested=opts.acquisitions,
                               journal=self._journal.path)
        self.station.fields["run_id"] = self.run_id
        self.station.publish(force=True)

    def _check_disk_at_start(self) -> None:
        """Refuse to start below ``--min-free``; warn below twice it."""
        reading = self.station.check_disk(0.0, force=True)
        if reading is None:
            return
        message = reading.message(str(self.options.output))
        if reading.state is DiskState.STOP:
            self._journal_write("disk", state=reading.state.value, free_bytes=reading.free_bytes,
                                limit_bytes=reading.limit_bytes, message=message)
            raise OutputError(message)
        if reading.state is DiskState.LOW:
            log.warning("%s", message)
            self._journal_write("disk", state=reading.state.value, free_bytes=reading.free_bytes,
                                limit_bytes=reading.limit_bytes, message=message)

    def _set_state(self, state: str, **extra: object) -> None:
        self._state = state
        if state != "stopping":
            self.station.set_state(state, **extra)

    def _first_connection(self) -> _Link | None:
        """The first set-up; connection failures are retried only with ``retries == -1``.

        None when the user stopped the run before the controller answered.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._setup()
            except ControllerConnectionError as exc:
                if self.options.retries != UNTIL_STOPPED:
                    raise
                delay = min(self.options.backoff * 2 ** (attempt - 1), self.options.backoff_max)
                log.warning("%s; retrying in %.1f s (--retries -1)", exc.message, delay)
                self._journal_write("reconnect", attempt=attempt, outcome="failed",
                                    error=exc.message, delay_s=delay)
                if self._wait(delay):
                    assert self.summary is not None
                    self.summary.reason = REASON_USER
                    return None

    def _setup(self) -> _Link:
        """Connect and run the documented sequence up to ``MPUSH`` (one attempt)."""
        opts = self.options
        controller = Controller(opts.host, opts.port, timeout=opts.timeout,
                                kill_password=opts.kill_password)
        controller.connect()
        try:
            installed = controller.installed_recorders()
            active = self.config.active_recorders
            if not installed:
                raise ControllerError(
                    f"controller {controller.address}: no transient recorder installed "
                    "(STAT? reports no 'Shots' at addresses 0-15)")
            missing = [r.address for r in active if r.address not in installed]
            if missing:
                raise RecorderMissingError(
                    f"{self.config.path} configures "
                    + ", ".join(f"[TR{a}]" for a in missing)
                    + f" but the controller {controller.address} has no recorder there "
                    f"(installed: {', '.join(f'TR{a}' for a in installed)}); refusing to start")
            idle = [r.address for r in self.config.recorders
                    if not r.active and r.address not in installed]
            if idle:
                log.info("inactive [TR%s] of the configuration not installed (not used)",
                         ", TR".join(str(a) for a in idle))
            for recorder in active:
                controller.configure(recorder)
            idn = controller.idn()
            hardware = {r.address: controller.trtype(r.address) for r in active}
            plan = make_plan(self.config, hardware, opts.shots,
                             big_endian_timestamp=big_endian_timestamps(idn))
            if self._connections == 0:
                for note in overflow_notes(plan):
                    log.warning("%s", note)
            controller.start_mpush(plan)
            # No acquisition of this push connection started before MPUSH did.
            started = self._file_time(self._wall())
            if self._previous_stop is None or self._previous_stop < started:
                self._previous_stop = started
        except BaseException:
            controller.close()
            raise
        assert controller.push_socket is not None
        controller.push_socket.settimeout(opts.poll_interval)
        decoder = FrameDecoder(plan)
        framer = Framer(plan.frame_length, decoder.problem, head_check=decoder.follows,
                        head_length=decoder.head_length)
        builder = RecordBuilder(self.config, plan, opts.prefix)
        self._connections += 1
        now = self._clock()
        link = _Link(controller, self._connections, plan, decoder, framer, builder,
                     acquisition_seconds(self.config, plan), hardware, idn, now, now, now)
        if self._remaining() == 1:
            framer.final = True
        log.info("connection %d: MPUSH started on %s, %d-byte frames (%s)", link.number,
                 controller.address, plan.frame_length, idn)
        return link

    def _journal_connect(self, link: _Link) -> None:
        push = link.controller.push_socket
        assert push is not None
        local, remote = push.getsockname(), push.getpeername()
        self._journal_write("connect", connection=link.number, idn=link.idn,
                            command=link.plan.command, frame_length=link.plan.frame_length,
                            push_local=f"{local[0]}:{local[1]}",
                            push_remote=f"{remote[0]}:{remote[1]}")

    def _journal_start(self) -> None:
        link = self._link
        assert link is not None
        opts = self.options
        self._journal_write(
            "start", run=self.run_id, configuration=str(self.config.path),
            controller=f"{opts.host}:{opts.port}", shots=opts.shots,
            acquisitions=opts.acquisitions, acquis_per_file=opts.acquis_per_file,
            output=str(opts.output), layout=opts.layout.pattern, dark=opts.layout.dark,
            command=link.plan.command,
            frame_length=link.plan.frame_length, idn=link.idn,
            big_endian_timestamp=link.plan.big_endian_timestamp,
            time_zone="local" if opts.local_time else "UTC",
            recorders={str(a): vars(hw) for a, hw in link.hardware.items()},
        )

    # ================================================================== the loop

    def _remaining(self) -> int | None:
        """Acquisitions still wanted (None: until stopped)."""
        if self.options.acquisitions == UNTIL_STOPPED:
            return None
        assert self.summary is not None
        return self.options.acquisitions - self.summary.saved

    def _done(self) -> bool:
        remaining = self._remaining()
        return remaining is not None and remaining <= 0

    def _receive(self) -> None:
        summary = self.summary
        assert summary is not None
        self._set_state("acquiring")
        while not self._done():
            if self.stop.is_set():
                summary.reason = REASON_USER
                self._stopping = True
                return
            if self._disk_stop:
                raise _DiskLow(self._disk_stop)
            if not self.station.window().inside:
                if self._rest_until_window():
                    return
                continue
            link = self._link
            assert link is not None and link.controller.push_socket is not None
            framer = link.framer
            view = framer.writable()
            remaining = self._remaining()
            if remaining is not None:
                # Receive no more than the wanted frames need: nothing surplus is read.
                limit = remaining * framer.frame_length - framer.buffered
                view = view[:limit if limit > 0 else framer.frame_length]
            try:
                n = link.controller.push_socket.recv_into(view)
            except TimeoutError:
                self._idle(link)
                continue
            except OSError as exc:
                self._reconnect(f"push connection failed: {exc.strerror or exc!r}", eof=True)
                continue
            if n == 0:
                self._reconnect("the controller closed the push connection", eof=True)
                continue
            framer.commit(n)
            link.received += n
            summary.received_bytes += n
            link.last_data = self._clock()
            self._process(link)
            self._housekeeping()
        summary.reason = REASON_COMPLETED

    def _idle(self, link: _Link) -> None:
        """No push data within the poll interval: fsync what is due, check liveness."""
        now = self._clock()
        self._housekeeping(now)
        silence = now - link.last_data
        probe_after = self.options.probe_after or default_probe_after(link.duration_s)
        if silence < probe_after or now - link.last_probe < probe_after:
            return
        link.last_probe = now
        try:
            link.controller.idn()
        except ControllerError as exc:
            self._reconnect(f"no push data for {silence:.1f} s and the liveness probe "
                            f"*IDN? failed: {exc.message}")
            return
        stall = self.options.stall_limit or default_stall_limit(link.duration_s)
        if stall is not None and silence >= stall:
            self._reconnect(f"no push data for {silence:.1f} s although the controller "
                            "answers *IDN?")
            return
        log.info("no push data for %.1f s; the controller answers *IDN?, still waiting",
                 silence)

    def _process(self, link: _Link) -> None:
        """Handle every event the framer has (frames, quarantined spans)."""
        framer = link.framer
        while True:
            event = framer.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, Frame):
                if self._done():
                    self._quarantine_span(link, event.data, event.stream_offset,
                                          "complete frame received after the last wanted "
                                          "acquisition", surplus=True)
                else:
                    self._save(link, event)
                    if self._remaining() == 1:
                        framer.final = True
            else:
                surplus = self._done() or self._stopping
                self._quarantine_span(link, event.data, event.stream_offset, event.reason,
                                      surplus=surplus)

    def _file_time(self, utc: datetime) -> datetime:
        """A UTC time as it goes into files: naive, UTC or local (--local-time)."""
        return (utc.astimezone() if self.options.local_time else utc).replace(tzinfo=None)

    def _save(self, link: _Link, frame: Frame) -> None:
        summary = self.summary
        writer = self._writer
        assert summary is not None and writer is not None
        data = frame.data
        decoded = link.decoder.decode(data)
        crc = zlib.crc32(data)
        received = self._wall()
        received_text = utc_now_text(received)
        stop_time = self._file_time(received)
        start_time, stop_time = acquisition_times(stop_time, link.duration_s,
                                                  self._previous_stop)
        self._previous_stop = stop_time
        name_time = start_time
        if summary.saved % self.options.acquis_per_file == 0 and self._last_name_time:
            # A new file: keep names unique without probing a run of taken names.
            name_time = max(start_time, self._last_name_time + NAME_STEP)
        record = link.builder.build(decoded, start_time, stop_time, name_time)
        path, index = writer.write(record)
        self.station.record_saved(path, received)
        if index == 0:
            parsed = parse_file_name(path.name)
            if parsed is not None:
                self._last_name_time = parsed[1]
            summary.files.append(path)
            summary.file_count += 1
            self._check_disk(self._clock(), force=True)
        summary.saved += 1
        link.frames += 1
        self._attempts_since_frame = 0
        fields: dict[str, object] = {
            "n": summary.saved, "file": self._relative(path), "record": index,
            "timestamp": decoded.timestamp_ms, "crc32": crc, "shots": list(decoded.shots),
            "received_utc": received_text, "connection": link.number,
            "stream_offset": frame.stream_offset,
        }
        if any(decoded.clipped_bins):
            fields["clipped"] = list(decoded.clipped_bins)
            self._note_clipping(link, decoded.clipped_bins)
        self._journal_write("acquisition", utc=received_text, **fields)
        self._maybe_progress()

    def _note_clipping(self, link: _Link, clipped: tuple[int, ...]) -> None:
        summary = self.summary
        assert summary is not None
        now = self._clock()
        for channel, bins in zip(link.plan.channels, clipped):
            if not bins:
                continue
            label = channel.label
            summary.clipped[label] = summary.clipped.get(label, 0) + 1
            last = self._clip_last_warned.get(label)
            if last is None or now - last >= CLIP_WARNING_INTERVAL:
                self._clip_last_warned[label] = now
                log.warning("%s clips: %d bin(s) flagged in acquisition %d (%d acquisition(s) "
                            "with clipping so far); check the input range or the signal",
                            label, bins, summary.saved, summary.clipped[label])

    def _quarantine_span(self, link: _Link, data: bytes | memoryview, stream_offset: int,
                         reason: str, *, surplus: bool) -> None:
        summary = self.summary
        quarantine = self._quarantine
        assert summary is not None and quarantine is not None
        offset = quarantine.append(data)
        length = len(data)
        summary.quarantined_bytes += length
        link.quarantined += length
        if surplus:
            summary.surplus_bytes += length
        else:
            summary.quarantined_spans += 1
            now = self._clock()
            if now - self._quarantine_warned >= QUARANTINE_WARNING_INTERVAL:
                more = (f" ({self._quarantine_unwarned} more span(s) quarantined since the "
                        "last warning; see the journal)" if self._quarantine_unwarned else "")
                log.warning("connection %d: %d bytes at stream offset %d quarantined: %s%s",
                            link.number, length, stream_offset, reason, more)
                self._quarantine_warned = now
                self._quarantine_unwarned = 0
            else:
                self._quarantine_unwarned += 1
        summary.quarantine = quarantine.path
        self._journal_write("quarantine", file=quarantine.path.name, offset=offset,
                            length=length, reason=reason, connection=link.number,
                            stream_offset=stream_offset, surplus=surplus)
        if self._invalid_log is not None and not surplus:
            self._log_invalid(link, data, stream_offset, offset, reason)

    def _log_invalid(self, link: _Link, data: bytes | memoryview, stream_offset: int,
                     offset: int, reason: str) -> None:
        """Append one entry to the human-readable log of invalid push data (``--log``)."""
        assert self._invalid_log is not None
        if link.controller.command_socket is not None and not self._stopping:
            try:
                millis = f"{link.controller.millisec()} ms"
            except ControllerError as exc:
                millis = f"unavailable ({exc.message})"
        else:
            millis = "unavailable (connection closed)"
        head = bytes(data[:32]).hex(" ")
        text = (
            f"{utc_now_text()} invalid push data\n"
            f"  controller IDN:        {link.idn}\n"
            f"  controller time:       {millis}\n"
            f"  buffer length:         {len(data)} bytes\n"
            f"  expected length:       {link.plan.frame_length} bytes (one frame)\n"
            f"  connection:            {link.number}, stream offset {stream_offset}\n"
            f"  quarantine file:       {self._quarantine.path.name if self._quarantine else ''}"
            f" offset {offset}\n"
            f"  reason:                {reason}\n"
            f"  first bytes:           {head}\n\n"
        )
        try:
            with open(self._invalid_log, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise OutputError(f"{self._invalid_log}: cannot write the invalid data log: "
                              f"{exc.strerror or exc}") from exc

    # ================================================================== reconnection

    def _drain(self, link: _Link) -> None:
        """Read, without waiting, what the push connection still holds (bounded)."""
        push = link.controller.push_socket
        if push is None:
            return
        budget = DRAIN_LIMIT_FRAMES * link.plan.frame_length
        try:
            push.settimeout(0.0)
            while budget > 0 and not self._done():
                view = link.framer.writable()
                remaining = self._remaining()
                if remaining is not None:
                    limit = remaining * link.framer.frame_length - link.framer.buffered
                    view = view[:limit if limit > 0 else link.framer.frame_length]
                try:
                    n = push.recv_into(view[:budget])
                finally:
                    del view
                if n == 0:
                    break
                link.framer.commit(n)
                link.received += n
                assert self.summary is not None
                self.summary.received_bytes += n
                budget -= n
                self._process(link)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            log.debug("connection %d: %s while draining", link.number, exc)

    def _abandon(self, link: _Link, reason: str, *, eof: bool = False) -> None:
        """Process everything the connection holds, flush the framer, close it."""
        if not eof:
            self._drain(link)
        link.framer.end_of_stream()
        self._process(link)
        link.controller.close()
        self._journal_write("abandon", connection=link.number, reason=reason,
                            received_bytes=link.received, frames=link.frames,
                            quarantined_bytes=link.quarantined)

    def _reconnect(self, reason: str, *, eof: bool = False) -> None:
        """Give up the current connection and establish a new one (or raise _GiveUp)."""
        link = self._link
        assert link is not None and self.summary is not None
        log.warning("connection %d lost: %s", link.number, reason)
        self._set_state("reconnecting")
        self._abandon(link, reason, eof=eof)
        self._link = None
        self._last_error = reason
        self._connect_again()

    def _connect_again(self, *, counted: bool = True) -> None:
        """Establish a new connection with back-off (or raise _GiveUp); ``counted``: it
        is a reconnection (not the opening of a schedule window)."""
        assert self.summary is not None
        opts = self.options
        while not self._done():
            if self.stop.is_set():
                self.summary.reason = REASON_USER
                self._stopping = True
                return
            if opts.retries != UNTIL_STOPPED and self._attempts_since_frame >= opts.retries:
                raise _GiveUp(f"gave up after {self._attempts_since_frame} reconnection "
                              f"attempt(s) without data (--retries {opts.retries}); last "
                              f"problem: {self._last_error}")
            self._attempts_since_frame += 1
            attempt = self._attempts_since_frame
            delay = 0.0 if attempt == 1 else min(opts.backoff * 2 ** (attempt - 2),
                                                 opts.backoff_max)
            self._maybe_progress(force=True)
            if delay:
                log.info("reconnection attempt %d in %.1f s", attempt, delay)
                if self._wait(delay):
                    self.summary.reason = REASON_USER
                    self._stopping = True
                    return
            Controller(opts.host, opts.port, timeout=opts.timeout,
                       kill_password=opts.kill_password).kill()
            try:
                new = self._setup()
            except OutputError:
                raise
            except LicelpushError as exc:
                self.summary.failed_attempts += 1
                self._last_error = exc.message
                log.warning("reconnection attempt %d failed: %s", attempt, exc.message)
                self._journal_write("reconnect", attempt=attempt, delay_s=delay,
                                    outcome="failed", error=exc.message)
                continue
            self.summary.reconnects += int(counted)
            self._journal_connect(new)
            self._journal_write("reconnect", attempt=attempt, delay_s=delay, outcome="ok",
                                connection=new.number)
            self._link = new
            self._set_state("acquiring")
            return
        # Done while draining: nothing to reconnect for.
        self._link = None

    def _rest_until_window(self) -> bool:
        """Outside the schedule: SLAVE, close, wait for the next window, connect again.

        Returns True when the run was stopped meanwhile."""
        assert self.summary is not None
        link, self._link = self._link, None
        if link is not None:
            try:
                link.controller.slave()
            except ControllerError as exc:
                log.warning("SLAVE failed: %s", exc.message)
            self._abandon(link, "outside the schedule")
        opens = self.station.window().until
        text = utc_now_text(opens) if opens is not None else None
        log.info("outside the schedule: the controller rests in SLAVE; next window %s",
                 text or "not within a year")
        self._journal_write("schedule", outcome="waiting", next_window_utc=text)
        self._set_state("waiting", next_window_utc=text)
        while not self.station.window().inside:
            left = self.station.seconds_until(opens) if opens is not None else 60.0
            poll = self.station.options.schedule_poll_s
            if self.stop.is_set() or self._wait(min(max(left, 0.01), poll)):
                self.summary.reason = REASON_USER
                self._stopping = True
                return True
            if self._disk_stop:
                raise _DiskLow(self._disk_stop)
        log.info("schedule window open")
        self._journal_write("schedule", outcome="open")
        if link is not None:
            self._set_state("connecting")
            self._attempts_since_frame = 0
            self._connect_again(counted=False)
        return False

    def _relative(self, path: Path) -> str:
        """A data file's path relative to the output directory (``/``-separated)."""
        try:
            return path.relative_to(self.options.output).as_posix()
        except ValueError:
            return path.name

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, keeping the files synced; True when a stop was requested."""
        deadline = self._clock() + seconds
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            if self.stop.wait(min(remaining, max(self.options.sync_interval / 2, 0.05))):
                return True
            self._housekeeping()

    # ================================================================== durability, progress

    def _housekeeping(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        if self._writer is not None:
            self._writer.sync_if_due(now)
        if self._quarantine is not None:
            self._quarantine.sync_if_due(now)
        if self._journal is not None:
            self._journal.sync_if_due(now)
        self._maybe_progress(now=now)
        self._station_tick(now)

    def _station_tick(self, now: float, final: bool = False) -> None:
        """Status file, watchdog and disk guard (each at its own pace)."""
        s = self.summary
        if s is None:
            return
        elapsed = now - self._t0
        self.station.progress(
            acquisitions=s.saved, rate_hz=round(s.saved / elapsed, 4) if elapsed > 0 else 0.0,
            reconnects=s.reconnects, quarantined_bytes=s.quarantined_bytes,
            clipping=dict(s.clipped))
        if not final:
            self._check_disk(now)
            self.station.publish(healthy=self._healthy(now))

    def _check_disk(self, now: float, force: bool = False) -> None:
        """Ask the disk guard (at its pace, or now with ``force``); journal what it says."""
        s = self.summary
        assert s is not None
        elapsed = now - self._t0
        reading = self.station.check_disk(s.received_bytes / elapsed if elapsed > 0 else 0.0,
                                          force=force)
        if reading is not None and not self._disk_stop and reading.state is not DiskState.OK:
            message = reading.message(str(self.options.output))
            self._journal_write("disk", state=reading.state.value, free_bytes=reading.free_bytes,
                                limit_bytes=reading.limit_bytes, message=message)
            if reading.state is DiskState.STOP:
                log.error("%s", message)
                self._disk_stop = f"{REASON_DISK}: {message}"
            else:
                log.warning("%s", message)

    def _healthy(self, now: float) -> bool:
        """Frames flowing (or the silence within the liveness policy), reconnecting or
        waiting: what the systemd watchdog is told."""
        link = self._link
        if self._state != "acquiring" or link is None:
            return True
        limit = (self.options.stall_limit or default_stall_limit(link.duration_s)
                 or self.options.probe_after or default_probe_after(link.duration_s))
        return now - link.last_data < limit

    def _maybe_progress(self, now: float | None = None, force: bool = False) -> None:
        if self._progress_hook is None:
            return
        now = self._clock() if now is None else now
        if not force and now - self._last_progress < self._progress_interval:
            return
        self._last_progress = now
        self._progress_hook(self.progress(now))

    def progress(self, now: float | None = None) -> Progress:
        """The current progress snapshot."""
        s = self.summary
        now = self._clock() if now is None else now
        return Progress(
            saved=s.saved if s else 0, requested=self.options.acquisitions,
            reconnects=s.reconnects if s else 0,
            quarantined_bytes=s.quarantined_bytes if s else 0,
            quarantined_spans=s.quarantined_spans if s else 0,
            received_bytes=s.received_bytes if s else 0,
            elapsed_s=now - self._t0, state=self._state,
        )

    def _journal_write(self, event: str, **fields: object) -> None:
        if self._journal is not None:
            self._journal.write(event, **fields)

    # ================================================================== the end

    def _finish(self, error: BaseException | None) -> BaseException | None:
        """SLAVE, process what is buffered, close sockets and files, journal the summary.

        Returns the error ``run`` must raise (``error``, or an output error met
        while finishing), None when the run ended normally.
        """
        summary = self.summary
        assert summary is not None
        self._set_state("stopping")
        link, self._link = self._link, None
        output_error = error if isinstance(error, OutputError) else None
        if link is not None:
            if link.controller.command_socket is not None:
                try:
                    link.controller.slave()
                except ControllerError as exc:
                    log.warning("SLAVE failed: %s", exc.message)
            if output_error is None:
                self._stopping = True
                try:
                    link.framer.end_of_stream()
                    self._process(link)
                except OutputError as exc:
                    output_error = exc
            link.controller.close()
        for closer in (self._writer, self._quarantine):
            if closer is None:
                continue
            try:
                closer.close()
            except OutputError as exc:
                log.error("%s", exc.message)
                output_error = output_error or exc
        summary.elapsed_s = self._clock() - self._t0
        if output_error is None and self._disk_stop:
            summary.exit_status = EXIT_OUTPUT
        elif output_error is not None:
            if not summary.reason.startswith("output error"):
                summary.reason = f"output error: {output_error.message}"
            summary.exit_status = EXIT_OUTPUT
        elif error is not None:
            summary.exit_status = getattr(error, "exit_status", EXIT_STOPPED_EARLY)
        elif summary.reason == REASON_COMPLETED or (
                summary.reason == REASON_USER and self.options.acquisitions == UNTIL_STOPPED):
            summary.exit_status = EXIT_OK
        else:
            summary.exit_status = EXIT_STOPPED_EARLY
        if self._journal is not None:
            try:
                self._journal.write("stop", **summary.as_dict())
                self._journal.close()
            except OutputError as exc:
                log.error("%s", exc.message)
                if output_error is None:
                    output_error = exc
                    summary.exit_status = EXIT_OUTPUT
                    summary.reason = f"output error: {exc.message}"
        self._maybe_progress(force=True)
        self._station_tick(self._clock(), final=True)
        self.station.stopped(summary.reason, summary.exit_status)
        if error is not None:
            if output_error is not None and output_error is not error:
                log.error("%s", output_error.message)
            return error
        return output_error

"""The rules of an acquisition run as a state machine without IO.

Spec: ``mpush-workflow.rst`` (the sequence) and docs/ACQUIRE.md (liveness,
reconnection, exit statuses). :class:`RunSession` is fed what happened
(:class:`Connected`, :class:`DataReceived`, :class:`FrameAccepted`,
:class:`RecordWritten`, :class:`SpanQuarantined`, :class:`Tick`,
:class:`ProbeAnswered`, :class:`ReplyTimedOut`, :class:`ConnectionLost`,
:class:`Abandoned`, :class:`AttemptFailed`, :class:`StopRequested`) and
answers with what to do (:class:`WriteRecord`, :class:`QuarantineSpan`,
:class:`Probe`, :class:`Abandon`, :class:`ReconnectAfter`,
:class:`JournalEvent`, :class:`Log`, :class:`Stop`). Liveness (probe,
stall), back-off, retry counting, the missing-recorder rule and the exit
status are decided here once; the IO loops (:class:`licelpush.acquisition.Acquisition`, the
``Licel`` adapters) only carry out the actions. Times are plain seconds of a
monotonic clock the caller owns, so tests drive it with any clock they like.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from licelpush import events as journal_events
from licelpush.config import AcquisConfig
from licelpush.diskguard import DiskReading, DiskState
from licelpush.errors import (
    EXIT_CONTROLLER,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_STOPPED_EARLY,
    LicelpushError,
)
from licelpush.events import DiskEvent, ReconnectEvent, ScheduleEvent, StopEvent
from licelpush.hv import check_limits, voltages_from_config
from licelpush.layout import Layout
from licelpush.limits import DEFAULT_PORT, KILL_PASSWORD, MAX_LISTED_FILES, command_port_problem
from licelpush.plan import DEFAULT_SHOTS, MAX_SHOTS

UNTIL_STOPPED = -1
"""``acquisitions`` (and ``retries``) value for "until stopped" (and "forever")."""


class StopReason(enum.Enum):
    """Why a run ended, with the exit status it maps to (README's table)."""

    COMPLETED = ("completed", EXIT_OK)
    USER = ("stopped by the user", EXIT_STOPPED_EARLY)
    GAVE_UP = ("gave up", EXIT_STOPPED_EARLY)
    NOT_STARTED = ("could not start", EXIT_CONTROLLER)
    OUTPUT = ("output error", EXIT_OUTPUT)
    DISK = ("disk guard", EXIT_OUTPUT)
    """Free space below ``--min-free``: stopped cleanly before the disk is full."""
    INTERNAL = ("internal error", EXIT_STOPPED_EARLY)

    def __init__(self, text: str, exit_status: int) -> None:
        self.text = text
        self.exit_status = exit_status

    def describe(self, detail: str = "") -> str:
        """The text of the journal's ``reason`` field (``gave up`` carries its own words)."""
        if self is StopReason.GAVE_UP and detail:
            return detail
        return f"{self.text}: {detail}" if detail else self.text


# ------------------------------------------------------------------ options


@dataclass(frozen=True)
class AcquireOptions:
    """Everything of a run that is not in the configuration file."""

    host: str
    port: int = DEFAULT_PORT
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
    apply_hv: bool = False
    """Set the configuration's PMT voltages at every set-up and confirm them by read-back
    (:mod:`licelpush.hv`); the headers then carry the read-back voltages."""
    hv_max_volts: int = 2000
    """Highest PMT voltage ``apply_hv`` may set (a per-station limit, at most 2000 V)."""
    mode: str = "mpush"
    """``mpush`` (the controller pushes frames) or ``poll`` (START, STOP, ``DATA?`` per
    acquisition, for controllers without MPUSH; :mod:`licelpush.runpoll`)."""
    layout: Layout = Layout()
    """Sub-folders of the output directory for data files (``--layout``, ``--dark``)."""

    def problems(self, config: AcquisConfig | None = None) -> list[str]:
        """What is wrong with these options, and with ``config`` for a run (empty: usable)."""
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
        port_problem = command_port_problem(self.port)
        if port_problem:
            found.append(f"--port {self.port}: {port_problem}")
        for name in ("timeout", "backoff", "backoff_max", "poll_interval", "sync_interval",
                     "probe_after", "stall_limit"):
            value = getattr(self, name)
            low = 0 if name == "sync_interval" else None
            if value is not None and not _seconds_ok(value, low):
                flag = "--stall-timeout" if name == "stall_limit" else "--" + name.replace("_", "-")
                found.append(f"{flag} {value}: must be {'0 or more' if low == 0 else 'positive'}"
                             f" and at most {MAX_WAIT_S:g} s")
        if config is not None and not config.active_recorders:
            found.append(f"{config.path}: no recorder has an enabled dataset; "
                         "nothing to acquire")
        if self.mode not in ACQUIRE_MODES:
            found.append(f"--mode {self.mode}: must be one of {', '.join(ACQUIRE_MODES)}")
        if config is not None and self.apply_hv:
            found.extend(hv_problems(config, self.hv_max_volts))
        return found


MAX_WAIT_S = 1e7
"""Longest time option (about 115 days): longer waits overflow the system's timers."""


ACQUIRE_MODES = ("mpush", "poll")
"""How an acquisition reads the recorders (:attr:`AcquireOptions.mode`)."""


def hv_problems(config: AcquisConfig, max_volts: int) -> list[str]:
    """Why ``--apply-hv`` cannot set the configuration's PMT voltages (empty: it can)."""
    try:
        check_limits(voltages_from_config(config), max_volts)
    except LicelpushError as exc:
        return [f"--apply-hv: {p}" for p in getattr(exc, "problems", [exc.message])]
    return []


def _seconds_ok(value: float, low: float | None) -> bool:
    """``low <= value`` (``0 < value`` when ``low`` is None) and ``value <= MAX_WAIT_S``."""
    above = value > 0 if low is None else value >= low
    return above and value <= MAX_WAIT_S


@dataclass(frozen=True)
class RunPolicy:
    """The numbers :class:`RunSession` decides with."""

    acquisitions: int = UNTIL_STOPPED
    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    probe_after: float | None = None
    stall_limit: float | None = None

    @classmethod
    def of(cls, options: AcquireOptions) -> RunPolicy:
        return cls(acquisitions=options.acquisitions, retries=options.retries,
                   backoff=options.backoff, backoff_max=options.backoff_max,
                   probe_after=options.probe_after, stall_limit=options.stall_limit)


# ------------------------------------------------------------------ rules


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


def backoff_delay(attempt: int, backoff: float, backoff_max: float) -> float:
    """Wait before connection attempt ``attempt`` (1-based) of a series: none before the
    first, ``backoff`` before the second, doubling up to ``backoff_max``."""
    if attempt <= 1:
        return 0.0
    return min(backoff * 2.0 ** (attempt - 2), backoff_max)


def may_attempt(attempt: int, retries: int) -> bool:
    """Whether attempt ``attempt`` (1-based) of a series is allowed (``retries`` -1: always)."""
    return retries == UNTIL_STOPPED or retries < -1 or attempt <= retries


def missing_recorders_problem(source: object, active: Iterable[int], installed: list[int],
                              controller: str) -> str | None:
    """The refusal when an active recorder of the configuration is not installed, else None."""
    missing = [a for a in active if a not in installed]
    if not missing:
        return None
    return (f"{source} configures " + ", ".join(f"[TR{a}]" for a in missing)
            + f" but the controller {controller} has no recorder there "
            f"(installed: {', '.join(f'TR{a}' for a in installed)})")


# ------------------------------------------------------------------ outcome


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
    """``connecting``, ``acquiring``, ``reconnecting``, ``waiting`` or ``stopping``."""

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
    unsaved_bytes: int = 0
    """Received but neither saved nor quarantined: the output failed (disk full)."""
    elapsed_s: float = 0.0
    reason: str = ""
    stop_reason: StopReason | None = None
    exit_status: int = EXIT_OK
    clipped: dict[str, int] = field(default_factory=dict)
    """Acquisitions with clipped bins, per channel label."""
    journal: Path | None = None
    quarantine: Path | None = None

    @property
    def data_rate(self) -> float:
        """Push bytes received per second."""
        return self.received_bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def stop_event(self) -> StopEvent:
        """The journal's ``stop`` event."""
        return StopEvent(
            reason=self.reason, exit_status=self.exit_status, requested=self.requested,
            saved=self.saved, files=self.file_count, quarantined_spans=self.quarantined_spans,
            quarantined_bytes=self.quarantined_bytes, surplus_bytes=self.surplus_bytes,
            reconnects=self.reconnects, failed_attempts=self.failed_attempts,
            received_bytes=self.received_bytes, elapsed_s=round(self.elapsed_s, 3),
            clipped=dict(self.clipped), unsaved_bytes=self.unsaved_bytes or None)

    def as_dict(self) -> dict[str, object]:
        """The summary fields of the journal's ``stop`` event."""
        return self.stop_event().fields()

    def lines(self) -> list[str]:
        """Human-readable summary."""
        wanted = "until stopped" if self.requested == UNTIL_STOPPED else str(self.requested)
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
            f"data rate:          {self.data_rate / 1e6:.2f} MB/s "
            f"({self.received_bytes} bytes received)",
        ]
        if self.unsaved_bytes:
            out.append(f"not saved:          {self.unsaved_bytes} bytes received when the "
                       "output failed")
        if self.clipped:
            out.append("clipping:           " + ", ".join(
                f"{label} in {n} acquisition(s)" for label, n in self.clipped.items()))
        if self.journal is not None:
            out.append(f"journal:            {self.journal}")
        if self.quarantine is not None:
            out.append(f"quarantine:         {self.quarantine}")
        out.append(f"stopped:            {self.reason}")
        return out


# ------------------------------------------------------------------ events in


@dataclass(frozen=True)
class Connected:
    """MPUSH was started on a new connection (``duration_s``: nominal acquisition time)."""

    now: float
    duration_s: float | None = None


@dataclass(frozen=True)
class DataReceived:
    """Push bytes arrived."""

    now: float
    nbytes: int


@dataclass(frozen=True)
class FrameAccepted:
    """The framer accepted a frame; ``received``: when its last byte arrived."""

    received: float


@dataclass(frozen=True)
class RecordWritten:
    """The record of :class:`WriteRecord` is in its file."""


@dataclass(frozen=True)
class SpanQuarantined:
    """The framer set a span of bytes aside."""

    length: int


@dataclass(frozen=True)
class Tick:
    """Time passed without push data."""

    now: float


@dataclass(frozen=True)
class ProbeAnswered:
    """The controller answered the liveness probe."""

    now: float


@dataclass(frozen=True)
class ReplyTimedOut:
    """The liveness probe failed (no reply in time, or the connection broke)."""

    now: float
    error: str


@dataclass(frozen=True)
class ConnectionLost:
    """The push connection failed or closed; ``eof``: nothing more can be read from it."""

    reason: str
    eof: bool = True


@dataclass(frozen=True)
class Abandoned:
    """The IO loop gave the connection up (after :class:`Abandon`)."""


@dataclass(frozen=True)
class AttemptFailed:
    """A connection attempt (connect and set-up up to MPUSH) failed."""

    error: str
    connection_error: bool = True
    """False: the controller answered something unusable (not worth waiting at start)."""


@dataclass(frozen=True)
class StopRequested:
    """The user asked the run to stop (Ctrl-C, SIGTERM)."""


@dataclass(frozen=True)
class DiskChecked:
    """The disk guard looked at the output's file system (``where``: the output)."""

    reading: DiskReading
    where: str


@dataclass(frozen=True)
class WindowClosed:
    """Outside the ``--schedule``; ``next_open_utc``: ISO 8601 UTC (None: not within a
    year); ``connected``: a connection is open."""

    next_open_utc: str | None
    connected: bool


@dataclass(frozen=True)
class WindowOpened:
    """A schedule window opened."""


Event = (Connected | DataReceived | FrameAccepted | RecordWritten | SpanQuarantined | Tick
         | ProbeAnswered | ReplyTimedOut | ConnectionLost | Abandoned | AttemptFailed
         | StopRequested | DiskChecked | WindowClosed | WindowOpened)


# ------------------------------------------------------------------ actions out


@dataclass(frozen=True)
class WriteRecord:
    """Save the accepted frame as acquisition ``n`` (1-based)."""

    n: int
    last: bool


@dataclass(frozen=True)
class QuarantineSpan:
    """Quarantine the frame or span; ``surplus``: received after the run decided to stop."""

    surplus: bool
    reason: str | None = None


@dataclass(frozen=True)
class Probe:
    """Send the liveness probe ``*IDN?``."""

    silence_s: float


@dataclass(frozen=True)
class Abandon:
    """Give the connection up: read what it holds (unless ``eof``), flush, close;
    ``slave``: send ``SLAVE`` first (the controller rests)."""

    reason: str
    eof: bool = False
    slave: bool = False


@dataclass(frozen=True)
class WaitForWindow:
    """Wait (handling stop requests) until the schedule window opens, then tell
    :class:`WindowOpened`."""

    next_open_utc: str | None


@dataclass(frozen=True)
class ReconnectAfter:
    """Wait ``delay_s`` (handling stop requests), then make connection attempt ``attempt``."""

    delay_s: float
    attempt: int


@dataclass(frozen=True)
class JournalEvent:
    """Write this event to the journal."""

    entry: journal_events.Event


@dataclass(frozen=True)
class Log:
    """Tell the user (``level``: a :mod:`logging` level name)."""

    level: str
    message: str


@dataclass(frozen=True)
class Stop:
    """End the run."""

    reason: StopReason
    detail: str = ""


Action = (WriteRecord | QuarantineSpan | Probe | Abandon | ReconnectAfter | JournalEvent
          | Log | Stop | WaitForWindow)


class Phase(enum.Enum):
    """Where a run is (its value is the progress display's ``state``)."""

    CONNECTING = "connecting"
    ACQUIRING = "acquiring"
    RECONNECTING = "reconnecting"
    WAITING = "waiting"
    """Outside the schedule: no connection, the controller rests in SLAVE."""
    STOPPING = "stopping"


SURPLUS_FRAME = "complete frame received after the last wanted acquisition"


class RunSession:
    """The run's decisions (see the module docstring); feed events to :meth:`handle`.

    ``now`` is the caller's monotonic clock at the start. :attr:`summary`
    holds the counts; :attr:`stop` is set once the run is to end.
    """

    def __init__(self, policy: RunPolicy, now: float, summary: Summary | None = None) -> None:
        self.policy = policy
        self.summary = summary if summary is not None else Summary(
            run="", requested=policy.acquisitions)
        self.phase = Phase.CONNECTING
        self.stop: Stop | None = None
        self.connections = 0
        self.attempt = 0
        """Connection attempts since the last saved acquisition (or of the first series)."""
        self.last_error = ""
        self.duration_s: float | None = None
        self.last_data = self.last_probe = now
        self._probe_answered = False
        self._delay = 0.0
        self._count_reconnect = True
        self._next_window: str | None = None
        self._handlers = {
            Connected: self._connected, DataReceived: self._data_received,
            FrameAccepted: self._frame_accepted, RecordWritten: self._record_written,
            SpanQuarantined: self._span_quarantined, Tick: self._tick,
            ProbeAnswered: self._probe_answer, ReplyTimedOut: self._probe_failed,
            ConnectionLost: self._connection_lost, Abandoned: self._abandoned,
            AttemptFailed: self._attempt_failed, StopRequested: self._stop_requested,
            DiskChecked: self._disk_checked, WindowClosed: self._window_closed,
            WindowOpened: self._window_opened,
        }

    # ------------------------------------------------------------------ state

    @property
    def remaining(self) -> int | None:
        """Acquisitions still wanted (None: until stopped)."""
        if self.policy.acquisitions == UNTIL_STOPPED:
            return None
        return self.policy.acquisitions - self.summary.saved

    @property
    def done(self) -> bool:
        """Every wanted acquisition is saved."""
        remaining = self.remaining
        return remaining is not None and remaining <= 0

    @property
    def final(self) -> bool:
        """The next accepted frame is the last one wanted (no following frame needed)."""
        return self.remaining == 1

    @property
    def stopping(self) -> bool:
        return self.stop is not None or self.done

    @property
    def probe_after(self) -> float:
        return self.policy.probe_after or default_probe_after(self.duration_s)

    @property
    def stall_limit(self) -> float | None:
        return self.policy.stall_limit or default_stall_limit(self.duration_s)

    def handle(self, event: Event) -> list[Action]:
        """Take in one event; the actions to carry out, in order."""
        return self._handlers[type(event)](event)  # type: ignore[operator]

    def end(self, reason: StopReason, detail: str = "") -> Stop:
        """The run ends for ``reason`` (an output error overrides any earlier reason)."""
        current = self.stop
        overrides = reason in (StopReason.OUTPUT, StopReason.INTERNAL)
        if current is None or (overrides and current.reason is not StopReason.OUTPUT):
            self.stop = Stop(reason, detail)
        self.phase = Phase.STOPPING
        assert self.stop is not None
        return self.stop

    def conclude(self, error_status: int | None = None) -> Summary:
        """Fill the summary's reason and exit status (``error_status``: that of an error
        the run raises, if any)."""
        stop = self.stop or Stop(StopReason.COMPLETED if self.done else StopReason.USER)
        summary = self.summary
        summary.stop_reason = stop.reason
        summary.reason = stop.reason.describe(stop.detail)
        if stop.reason is StopReason.OUTPUT or error_status is None:
            summary.exit_status = stop.reason.exit_status
            if stop.reason is StopReason.USER and self.policy.acquisitions == UNTIL_STOPPED:
                summary.exit_status = EXIT_OK
        else:
            summary.exit_status = error_status
        return summary

    # ------------------------------------------------------------------ handlers

    def progress(self, elapsed_s: float) -> Progress:
        """A snapshot for progress displays."""
        s = self.summary
        return Progress(saved=s.saved, requested=self.policy.acquisitions,
                        reconnects=s.reconnects, quarantined_bytes=s.quarantined_bytes,
                        quarantined_spans=s.quarantined_spans,
                        received_bytes=s.received_bytes, elapsed_s=elapsed_s,
                        state=self.phase.value)

    def _connected(self, event: Connected) -> list[Action]:
        self.connections += 1
        self.duration_s = event.duration_s
        self.last_data = self.last_probe = event.now
        self._probe_answered = False
        counted, self._count_reconnect = self._count_reconnect, True
        if self.phase is Phase.CONNECTING:
            self.phase = Phase.ACQUIRING
            self.attempt = 0
            return []
        self.phase = Phase.ACQUIRING
        self.summary.reconnects += int(counted)
        return [JournalEvent(ReconnectEvent(self.attempt, self._delay, "ok",
                                            connection=self.connections))]

    def _data_received(self, event: DataReceived) -> list[Action]:
        self.last_data = event.now
        self.summary.received_bytes += event.nbytes
        return []

    def _frame_accepted(self, event: FrameAccepted) -> list[Action]:
        if self.done:
            return [QuarantineSpan(surplus=True, reason=SURPLUS_FRAME)]
        return [WriteRecord(self.summary.saved + 1, last=self.final)]

    def _record_written(self, event: RecordWritten) -> list[Action]:
        self.summary.saved += 1
        self.attempt = 0
        if self.done:
            return [self.end(StopReason.COMPLETED)]
        return []

    def _span_quarantined(self, event: SpanQuarantined) -> list[Action]:
        return [QuarantineSpan(surplus=self.stopping)]

    def count_quarantined(self, length: int, surplus: bool) -> None:
        """Account for a quarantined span of ``length`` bytes."""
        self.summary.quarantined_bytes += length
        if surplus:
            self.summary.surplus_bytes += length
        else:
            self.summary.quarantined_spans += 1

    def _tick(self, event: Tick) -> list[Action]:
        if self.phase is not Phase.ACQUIRING or self.stopping:
            return []
        now = event.now
        silence = now - self.last_data
        probe_after = self.probe_after
        probe_due = silence >= probe_after and now - self.last_probe >= probe_after
        stall = self.stall_limit
        if stall is not None and silence >= stall and (self._probe_answered or not probe_due):
            # At the stall limit, not at the next probe; probed first only when the
            # controller was never asked, so that the reason tells a dead one apart.
            answered = " although the controller answers *IDN?" if self._probe_answered else (
                f" (stall limit {stall:g} s)")
            return [self._abandon(f"no push data for {silence:.1f} s{answered}")]
        if probe_due:
            self.last_probe = now
            return [Probe(silence)]
        return []

    def _probe_answer(self, event: ProbeAnswered) -> list[Action]:
        self._probe_answered = True
        silence = event.now - self.last_data
        stall = self.stall_limit
        if stall is not None and silence >= stall:
            return [self._abandon(f"no push data for {silence:.1f} s although the controller "
                                  "answers *IDN?")]
        return [Log("INFO", f"no push data for {silence:.1f} s; the controller answers "
                            "*IDN?, still waiting")]

    def _probe_failed(self, event: ReplyTimedOut) -> list[Action]:
        silence = event.now - self.last_data
        return [self._abandon(f"no push data for {silence:.1f} s and the liveness probe "
                              f"*IDN? failed (the controller does not answer): {event.error}")]

    def _connection_lost(self, event: ConnectionLost) -> list[Action]:
        return [self._abandon(event.reason, eof=event.eof)]

    def _abandon(self, reason: str, *, eof: bool = False) -> Abandon:
        self.last_error = reason
        self.phase = Phase.RECONNECTING
        return Abandon(reason, eof=eof)

    def _abandoned(self, event: Abandoned) -> list[Action]:
        if self.phase is Phase.WAITING and self.stop is None:
            return [WaitForWindow(self._next_window)]
        return self._next_attempt()

    def _next_attempt(self) -> list[Action]:
        if self.stop is not None:
            return [self.stop]
        if self.done:
            return [self.end(StopReason.COMPLETED)]
        retries = self.policy.retries
        if not may_attempt(self.attempt + 1, retries):
            return [self.end(StopReason.GAVE_UP, (
                f"gave up after {self.attempt} reconnection attempt(s) without data "
                f"(--retries {retries}); last problem: {self.last_error}"))]
        self.attempt += 1
        self._delay = backoff_delay(self.attempt, self.policy.backoff, self.policy.backoff_max)
        return [ReconnectAfter(self._delay, self.attempt)]

    def _attempt_failed(self, event: AttemptFailed) -> list[Action]:
        self.last_error = event.error
        if self.phase is Phase.CONNECTING:
            return self._first_attempt_failed(event)
        self.summary.failed_attempts += 1
        actions: list[Action] = [
            Log("WARNING", f"reconnection attempt {self.attempt} failed: {event.error}"),
            JournalEvent(ReconnectEvent(self.attempt, self._delay, "failed", error=event.error)),
        ]
        return actions + self._next_attempt()

    def _first_attempt_failed(self, event: AttemptFailed) -> list[Action]:
        """At start only connection failures are retried, and only with ``retries == -1``."""
        if self.stop is not None:
            return [self.stop]
        if not event.connection_error or self.policy.retries != UNTIL_STOPPED:
            return [self.end(StopReason.NOT_STARTED, event.error)]
        self.attempt += 1
        delay = backoff_delay(self.attempt + 1, self.policy.backoff, self.policy.backoff_max)
        return [
            Log("WARNING", f"{event.error}; retrying in {delay:.1f} s (--retries -1)"),
            JournalEvent(ReconnectEvent(self.attempt, delay, "failed", error=event.error)),
            ReconnectAfter(delay, self.attempt + 1),
        ]

    def _stop_requested(self, event: StopRequested) -> list[Action]:
        if self.stop is not None:
            return []
        return [self.end(StopReason.USER)]

    # ------------------------------------------------------------------ station

    def _disk_checked(self, event: DiskChecked) -> list[Action]:
        """Below twice ``--min-free``: warn; below it: stop cleanly (exit 5)."""
        reading = event.reading
        if reading.state is DiskState.OK or self.stop is not None:
            return []
        message = reading.message(event.where)
        journal = JournalEvent(DiskEvent(state=reading.state.value,
                                         free_bytes=reading.free_bytes,
                                         limit_bytes=reading.limit_bytes, message=message))
        if reading.state is DiskState.LOW:
            return [Log("WARNING", message), journal]
        return [Log("ERROR", message), journal, self.end(StopReason.DISK, message)]

    def _window_closed(self, event: WindowClosed) -> list[Action]:
        """Outside the schedule: SLAVE and close (if connected), then wait for the window."""
        if self.stopping or self.phase is Phase.WAITING:
            return []
        self.phase = Phase.WAITING
        self._next_window = event.next_open_utc
        actions: list[Action] = [
            Log("INFO", "outside the schedule: the controller rests in SLAVE; next window "
                        f"{event.next_open_utc or 'not within a year'}"),
            JournalEvent(ScheduleEvent("waiting", next_window_utc=event.next_open_utc))]
        if event.connected:
            return actions + [Abandon("outside the schedule", slave=True)]
        return actions + [WaitForWindow(event.next_open_utc)]

    def _window_opened(self, event: WindowOpened) -> list[Action]:
        """Connect again (not counted as a reconnection)."""
        if self.stop is not None:
            return [self.stop]
        self.phase = Phase.RECONNECTING if self.connections else Phase.CONNECTING
        self._count_reconnect = False
        self.attempt = 1 if self.connections else 0
        self._delay = 0.0
        return [Log("INFO", "schedule window open"),
                JournalEvent(ScheduleEvent("open")), ReconnectAfter(0.0, 1)]

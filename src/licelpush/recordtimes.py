"""Record times of one push connection, and the controller's timestamp byte order (pure).

Spec: PROTOCOL.md §3.2 (the controller's 32-bit millisecond timestamp; an IDN
with ``ColdFireEthernet`` means big-endian), LICEL_FILE_FORMAT.md (start and
stop time on line 2). No clock here: every time is given by the caller.

Record times (:class:`ConnectionClock`):

* stop = when the frame's last byte arrived (the receive that brought it);
* start = the previous frame's stop on the same push connection;
* the first frame of a connection: stop − shots / rate of its lasers, not
  before the time MPUSH was sent; the MPUSH time when no rate is known;
* a start never lies after its stop (a PC clock stepped back).

The controller's timestamps give the true spacing of frames: each record
carries its controller-time span (ms since the previous frame's timestamp,
modulo 2**32), and :attr:`RecordTimes.drift` compares PC time with
controller time since the connection's first frame once at least
:data:`DRIFT_MIN_SPAN_S` of controller time have passed (the caller warns
once when it exceeds :data:`DRIFT_LIMIT`).

Timestamp byte order (:class:`TimestampOrder`): the IDN's rule is the
default; consecutive frames whose timestamps step plausibly only in the other
order (twice in a row) switch to the data's order, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DRIFT_LIMIT = 0.01
"""PC time and controller time may drift apart by this fraction before a warning."""
DRIFT_MIN_SPAN_S = 20.0
"""Controller time over which drift is judged (receive jitter of a few ms stays far
below 1 % of it)."""
ORDER_CONFIRMATIONS = 2
"""Consecutive frame pairs that must contradict the byte order in use before it changes."""
MAX_PLAUSIBLE_STEP_MS = 86_400_000
"""Largest step between consecutive timestamps taken as plausible when the acquisition
time is unknown (a day)."""


@dataclass(frozen=True)
class RecordTimes:
    """The times of one record."""

    start: datetime
    stop: datetime
    controller_span_ms: int | None
    """Controller ms since the previous frame of the connection (None for the first)."""
    drift: float | None
    """(PC time − controller time) / controller time since the connection's first frame;
    None until :data:`DRIFT_MIN_SPAN_S` of controller time have passed."""


class ConnectionClock:
    """Start and stop times of the records of one push connection (module docstring)."""

    def __init__(self, mpush_time: datetime, duration_s: float | None) -> None:
        self.mpush_time = mpush_time
        self.duration_s = duration_s
        self._previous_stop: datetime | None = None
        self._previous_ms: int | None = None
        self._first: tuple[datetime, int] | None = None
        self._controller_elapsed_ms = 0

    def times(self, stop: datetime, timestamp_ms: int) -> RecordTimes:
        """Times of the next frame, whose last byte arrived at ``stop``."""
        previous = self._previous_stop
        if previous is not None:
            start = previous
        elif self.duration_s is not None:
            start = max(stop - timedelta(seconds=self.duration_s), self.mpush_time)
        else:
            start = self.mpush_time
        start = min(start, stop)
        span = None
        if self._previous_ms is not None:
            span = (timestamp_ms - self._previous_ms) & 0xFFFFFFFF
            self._controller_elapsed_ms += span
        self._previous_stop = stop
        self._previous_ms = timestamp_ms
        if self._first is None:
            self._first = (stop, timestamp_ms)
        return RecordTimes(start, stop, span, self._drift(stop))

    def _drift(self, stop: datetime) -> float | None:
        assert self._first is not None
        controller_s = self._controller_elapsed_ms / 1000.0
        if controller_s < DRIFT_MIN_SPAN_S:
            return None
        pc_s = (stop - self._first[0]).total_seconds()
        return (pc_s - controller_s) / controller_s

    def restart_controller_time(self) -> None:
        """Forget the controller times so far (their byte order was wrong)."""
        self._previous_ms = None
        self._first = None
        self._controller_elapsed_ms = 0


class TimestampOrder:
    """The byte order of the controller's timestamps, checked against the data."""

    def __init__(self, big_endian: bool, expected_step_ms: float | None = None) -> None:
        self.declared_big_endian = big_endian
        self.big_endian = big_endian
        """The order in use."""
        self._limit = (MAX_PLAUSIBLE_STEP_MS if expected_step_ms is None
                       else max(10.0 * expected_step_ms, 60_000.0))
        self._previous: bytes | None = None
        self._contradictions = 0
        self.switched = False

    def new_connection(self) -> None:
        """A new push connection: its first frame has no predecessor."""
        self._previous = None
        self._contradictions = 0

    def timestamp(self, raw: bytes | bytearray | memoryview) -> int:
        """The 4 timestamp bytes as ms, in the order in use."""
        return int.from_bytes(raw, "big" if self.big_endian else "little")

    def observe(self, raw: bytes | bytearray | memoryview) -> bool:
        """Note the timestamp bytes of the next accepted frame; True when this frame
        switched the order in use to the data's (happens at most once)."""
        raw = bytes(raw)
        previous, self._previous = self._previous, raw
        if previous is None or self.switched:
            return False
        in_use = "big" if self.big_endian else "little"
        other = "little" if self.big_endian else "big"
        if self._plausible(previous, raw, in_use) or not self._plausible(previous, raw, other):
            self._contradictions = 0
            return False
        self._contradictions += 1
        if self._contradictions < ORDER_CONFIRMATIONS:
            return False
        self.big_endian = not self.big_endian
        self.switched = True
        return True

    def _plausible(self, previous: bytes, raw: bytes, order: str) -> bool:
        step = (int.from_bytes(raw, order) - int.from_bytes(previous, order))  # type: ignore[arg-type]
        return 0 < step & 0xFFFFFFFF <= self._limit

    def note(self) -> str:
        """What the data said, for the log and the journal."""
        declared = "big" if self.declared_big_endian else "little"
        used = "big" if self.big_endian else "little"
        return (f"controller timestamps are {used}-endian although the IDN implies "
                f"{declared}-endian (PROTOCOL.md §3.2): consecutive frames step plausibly only "
                f"in {used}-endian order; using it")

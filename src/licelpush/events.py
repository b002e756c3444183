"""The acquisition journal's events, one frozen dataclass per kind (the journal's schema).

Spec: docs/ACQUIRE.md "The journal" (its table is checked against these
classes by ``tests/test_events.py``). A journal line is
``{"event": KIND, "utc": time written, **fields}`` in compact JSON; fields
whose default is None are left out while they are None. ``connection``
numbers the push connections of a run (1, 2, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of typed events: a ``KIND`` and fields, in declaration order."""

    KIND: ClassVar[str] = ""

    def fields(self) -> dict[str, Any]:
        """The event's fields as written (optional ones left out while None)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            out[f.name] = value
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class StartEvent(Event):
    """The run started: its options, the first connection's plan and hardware."""

    KIND: ClassVar[str] = "start"
    run: str
    configuration: str
    controller: str
    shots: int
    acquisitions: int
    acquis_per_file: int
    output: str
    layout: str
    """``--layout`` pattern of data-file sub-folders (``flat``: the output directory)."""
    dark: bool
    """``--dark``: a dark run, its files below ``dark/``."""
    mode: str
    """``--mode``: ``mpush`` (pushed frames) or ``poll`` (``DATA?`` per dataset)."""
    command: str
    """The MPUSH command (with ``poll``: the frame the polled replies are laid out as)."""
    frame_length: int
    idn: str
    big_endian_timestamp: bool
    time_zone: str
    recorders: dict[str, Any]
    """``TRTYPE?`` description per recorder address."""


@dataclass(frozen=True)
class ConnectEvent(Event):
    """A push connection was (re)opened and MPUSH started on it."""

    KIND: ClassVar[str] = "connect"
    connection: int
    idn: str
    command: str
    frame_length: int
    push_local: str
    push_remote: str
    pmt_voltages: dict[str, float] | None = None
    """Read-back PMT voltage per recorder, only when the set-up applied them (``--apply-hv``)."""


@dataclass(frozen=True)
class AcquisitionEvent(Event):
    """One saved acquisition."""

    KIND: ClassVar[str] = "acquisition"
    n: int
    file: str
    record: int
    """Index of the record in its file."""
    timestamp: int
    """Controller milliseconds of the frame."""
    crc32: int
    """zlib CRC-32 of the frame from ``FF FF`` through its last data word."""
    shots: list[int]
    """True shots per dataset, in file order."""
    received_utc: str
    """When the frame's last byte arrived: the record's stop time."""
    latency_ms: float
    """From that moment to the end of the record's write."""
    controller_span_ms: int | None
    """Controller ms since the previous frame of the connection (None for its first)."""
    connection: int
    stream_offset: int
    """Byte offset of the frame in its connection's stream."""
    clipped: list[int] | None = None
    """Bins flagged as clipped per dataset; only when a dataset clipped."""


@dataclass(frozen=True)
class QuarantineEvent(Event):
    """Bytes that are not part of an accepted frame, copied to the quarantine file."""

    KIND: ClassVar[str] = "quarantine"
    file: str
    offset: int
    length: int
    reason: str
    connection: int
    stream_offset: int
    surplus: bool
    """True for bytes received after the run decided to stop."""


@dataclass(frozen=True)
class AbandonEvent(Event):
    """A connection given up; every received byte is in its acquisitions and quarantines."""

    KIND: ClassVar[str] = "abandon"
    connection: int
    reason: str
    received_bytes: int
    frames: int
    quarantined_bytes: int


@dataclass(frozen=True)
class TimestampOrderEvent(Event):
    """The data contradict the IDN's timestamp byte order (once per run)."""

    KIND: ClassVar[str] = "timestamp_order"
    connection: int
    idn: str
    declared: str
    """``big`` or ``little``: the order the IDN implies."""
    used: str
    """``big`` or ``little``: the order the data show and the run uses."""
    note: str


@dataclass(frozen=True)
class ClockDriftEvent(Event):
    """PC and controller time drift apart by more than 1 % (once per run)."""

    KIND: ClassVar[str] = "clock_drift"
    connection: int
    drift: float
    """Fraction by which PC time runs ahead of controller time."""
    note: str


@dataclass(frozen=True)
class RepairEvent(Event):
    """A partial record a killed run left at the end of a data file, cut off at start."""

    KIND: ClassVar[str] = "repair"
    file: str
    kept_bytes: int
    cut_bytes: int
    quarantine: str
    quarantine_offset: int
    reason: str
    removed: bool
    """True when nothing of the file was kept and it was removed."""


@dataclass(frozen=True)
class DiskEvent(Event):
    """The disk guard: ``low`` (below twice ``--min-free``) or ``stop`` (below it)."""

    KIND: ClassVar[str] = "disk"
    state: str
    free_bytes: int
    limit_bytes: int
    message: str


@dataclass(frozen=True)
class ScheduleEvent(Event):
    """Outside the ``--schedule`` (``waiting``, until ``next_window_utc``) or ``open``."""

    KIND: ClassVar[str] = "schedule"
    outcome: str
    next_window_utc: str | None = None


@dataclass(frozen=True)
class ReconnectEvent(Event):
    """One connection attempt after a loss (or, with ``--retries -1``, at start)."""

    KIND: ClassVar[str] = "reconnect"
    attempt: int
    delay_s: float
    """Seconds waited before this attempt (at start: before the next one)."""
    outcome: str
    """``ok`` or ``failed``."""
    error: str | None = None
    connection: int | None = None


@dataclass(frozen=True)
class StopEvent(Event):
    """The end of the run and its summary."""

    KIND: ClassVar[str] = "stop"
    reason: str
    exit_status: int
    requested: int
    saved: int
    files: int
    quarantined_spans: int
    quarantined_bytes: int
    surplus_bytes: int
    reconnects: int
    failed_attempts: int
    received_bytes: int
    elapsed_s: float
    clipped: dict[str, int]
    unsaved_bytes: int | None = None
    """Bytes received but neither saved nor quarantined because the output failed (disk
    full): the frame being written and what was still undecided; only then."""


JOURNAL_EVENTS: tuple[type[Event], ...] = (
    RepairEvent, StartEvent, ConnectEvent, AcquisitionEvent, QuarantineEvent, AbandonEvent,
    TimestampOrderEvent, ClockDriftEvent, ReconnectEvent, DiskEvent, ScheduleEvent, StopEvent)
"""Every kind of journal event, in the order a run writes them first."""


def schema(kinds: tuple[type[Event], ...] = JOURNAL_EVENTS) -> dict[str, tuple[str, ...]]:
    """Event kind -> its field names (after ``event`` and ``utc``)."""
    return {kind.KIND: kind.field_names() for kind in kinds}

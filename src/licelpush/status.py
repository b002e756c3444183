"""``status.json``: what a running acquisition is doing, for people and monitoring.

The acquisition replaces ``<output>/status.json`` atomically at least every
:data:`STATUS_INTERVAL_S` seconds and at every change of state
(:class:`~licelpush.statusfile.StatusFile`). Keys (monitors read exactly
these names):

``state``
    ``starting``, ``connecting``, ``acquiring``, ``reconnecting``,
    ``waiting`` (outside a ``--schedule`` window) or ``stopped``.
``reason``
    why the run stopped (``stopped`` only; else empty).
``next_window_utc``
    ISO 8601 UTC opening of the next schedule window (``waiting`` only).
``controller``, ``run_id``, ``pid``, ``output``
    where data come from, the run (journal ``journal-<run_id>.jsonl``), the process.
``updated_utc``, ``interval_s``
    when this file was written and the longest time until the next update.
``last_record_utc``, ``last_file``
    when the last acquisition was saved (UTC, just after its end) and its file
    (relative to the output directory).
``acquisitions``, ``rate_hz``, ``reconnects``, ``quarantined_bytes``, ``clipping``
    acquisitions saved, saved per second, reconnections, bytes quarantined,
    acquisitions with clipping per channel.
``free_bytes``, ``min_free_bytes``, ``time_to_full_s``
    free space of the output's file system, the ``--min-free`` limit and the
    estimated seconds until the limit is reached (None: no data flowing).
``warnings``
    current warnings (low disk space, ...), a list of strings.
``dark``
    true for a dark measurement (``--dark``).
``exit_status``
    the run's exit status (``stopped`` only).

Pure: :func:`liveness` and :func:`format_status` judge and print a status
that was read; the writer and reader of the file are in
:mod:`licelpush.statusfile`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

STATUS_FILE = "status.json"
STATUS_INTERVAL_S = 5.0
"""Longest time between two updates of the status file."""
STALE_INTERVALS = 3
"""A status not updated for this many intervals belongs to a dead process."""
STATES = ("starting", "connecting", "acquiring", "reconnecting", "waiting", "stopped")


class Liveness(enum.IntEnum):
    """What a status file says about its run; the value is ``licelpush status``'s exit status."""

    ALIVE = 0
    STOPPED = 1
    STALE = 2


def parse_utc(text: str) -> datetime:
    """An ISO 8601 UTC time as written by the journal (``...Z``); raises ValueError."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def age_s(status: dict[str, Any], now: datetime) -> float:
    """Seconds since the status was written (0 when its time cannot be read)."""
    try:
        return (now - parse_utc(str(status.get("updated_utc", "")))).total_seconds()
    except ValueError:
        return 0.0


def liveness(status: dict[str, Any], now: datetime) -> Liveness:
    """Stopped, alive, or stale (no update for :data:`STALE_INTERVALS` intervals)."""
    if status.get("state") == "stopped":
        return Liveness.STOPPED
    try:
        interval = float(status.get("interval_s") or STATUS_INTERVAL_S)
    except (TypeError, ValueError):
        interval = STATUS_INTERVAL_S
    if age_s(status, now) > STALE_INTERVALS * interval:
        return Liveness.STALE
    return Liveness.ALIVE


def format_status(status: dict[str, Any], now: datetime) -> list[str]:
    """Lines for people: state, run, progress, disk, warnings."""
    from licelpush.diskguard import format_bytes
    from licelpush.diskguard import format_duration as _duration

    live = liveness(status, now)
    state = str(status.get("state", "?"))
    head = f"state:        {state}"
    if live is Liveness.STALE:
        head += f" (STALE: no update for {_duration(age_s(status, now))}; the process died)"
    elif state == "stopped":
        head += f" ({status.get('reason', '')})"
    elif state == "waiting" and status.get("next_window_utc"):
        head += f" until {status['next_window_utc']}"
    if status.get("dark"):
        head += "  [dark measurement]"
    lines = [head,
             f"run:          {status.get('run_id', '')} from {status.get('controller', '')}",
             f"updated:      {status.get('updated_utc', '')} "
             f"({_duration(max(age_s(status, now), 0.0))} ago)",
             f"acquisitions: {status.get('acquisitions', 0)} at "
             f"{float(status.get('rate_hz') or 0):.3f}/s, reconnects "
             f"{status.get('reconnects', 0)}, quarantined "
             f"{format_bytes(int(status.get('quarantined_bytes') or 0))}"]
    if status.get("last_file"):
        lines.append(f"last file:    {status['last_file']} "
                     f"(record {status.get('last_record_utc', '')})")
    if status.get("clipping"):
        lines.append("clipping:     " + ", ".join(
            f"{label} in {n}" for label, n in dict(status["clipping"]).items()))
    if status.get("free_bytes") is not None:
        disk = f"disk:         {format_bytes(int(status['free_bytes']))} free"
        if status.get("time_to_full_s") is not None:
            disk += f", limit reached in about {_duration(float(status['time_to_full_s']))}"
        lines.append(disk)
    lines.extend(f"warning:      {w}" for w in status.get("warnings") or [])
    return lines

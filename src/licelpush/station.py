"""The station side of an acquisition run: status file, systemd, disk guard, schedule (IO edge).

:class:`StationService` is what an unattended station needs around the run
loop of :mod:`licelpush.acquisition`; the loop tells it the state, each
saved file and the progress, and asks it whether the disk or the schedule
wants the run to stop or rest. It

- writes ``status.json`` (:mod:`licelpush.status`) at least every interval
  and at every change of state;
- speaks sd_notify (:mod:`licelpush.sdnotify`): ``READY=1`` once MPUSH runs,
  ``STATUS=`` with a one-line summary, ``WATCHDOG=1`` only while the run is
  healthy (frames flowing, reconnecting within ``--retries``, waiting for a
  window), ``STOPPING=1``;
- probes the free space (:mod:`licelpush.diskguard`, :func:`shutil.disk_usage`)
  at most every :data:`DISK_CHECK_INTERVAL_S` seconds;
- keeps the state of the ``--schedule`` (:mod:`licelpush.schedule`).

Clocks and the free-space probe are injectable, so tests need no small file
system and no waiting.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from licelpush.diskguard import DEFAULT_MIN_FREE, DiskGuard, DiskReading, DiskState, MinFree
from licelpush.journal import utc_now_text
from licelpush.schedule import Schedule, ScheduleState
from licelpush.sdnotify import Notifier
from licelpush.status import STATUS_INTERVAL_S
from licelpush.statusfile import StatusFile

log = logging.getLogger(__name__)

DISK_CHECK_INTERVAL_S = 0.5
"""Longest time between two looks at the free space while data are written."""


def disk_usage_probe(directory: Path) -> Callable[[], tuple[int, int]]:
    """(total, free) bytes of the file system holding ``directory`` (portable)."""
    def probe() -> tuple[int, int]:
        usage = shutil.disk_usage(directory)
        return usage.total, usage.free
    return probe


@dataclass
class StationOptions:
    """What the station service needs beyond the acquisition options."""

    min_free: MinFree = DEFAULT_MIN_FREE
    schedule: Schedule | None = None
    status_interval: float = STATUS_INTERVAL_S
    notifier: Notifier | None = None
    """None: from the environment (``NOTIFY_SOCKET``)."""
    disk_probe: Callable[[], tuple[int, int]] | None = None
    """None: :func:`shutil.disk_usage` of the output directory."""
    wall_clock: Callable[[], datetime] = field(
        default=lambda: datetime.now(timezone.utc))
    """The UTC clock of record times and of the schedule."""
    schedule_poll_s: float = 1.0
    """Longest wait between two looks at the clock while waiting for a window."""


class StationService:
    """Status file, service manager, disk guard and schedule of one run."""

    def __init__(self, output: Path, options: StationOptions, controller: str, *,
                 dark: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.output = Path(output)
        self.options = options
        self._clock = clock
        self.notifier = options.notifier or Notifier.from_environment()
        self.status_file = StatusFile(self.output, options.status_interval, clock)
        self.guard = DiskGuard(options.min_free,
                               options.disk_probe or disk_usage_probe(self.output))
        self.fields: dict[str, Any] = {
            "state": "starting", "reason": "", "next_window_utc": None,
            "controller": controller, "run_id": "", "pid": os.getpid(),
            "output": str(self.output), "last_record_utc": None, "last_file": None,
            "acquisitions": 0, "rate_hz": 0.0, "reconnects": 0, "quarantined_bytes": 0,
            "clipping": {}, "free_bytes": None, "min_free_bytes": None,
            "time_to_full_s": None, "warnings": [], "dark": dark,
        }
        self.disk: DiskReading | None = None
        self._disk_checked: float | None = None
        self._schedule_state: ScheduleState | None = None
        self._ready = False

    # ------------------------------------------------------------------ state and status

    @property
    def state(self) -> str:
        """The current state (``status.json``'s ``state``)."""
        return str(self.fields["state"])

    def set_state(self, state: str, **extra: Any) -> None:
        """Change the state: the status file and the service manager hear of it at once."""
        changed = state != self.fields["state"]
        self.fields.update(state=state, **extra)
        if state != "waiting":
            self.fields["next_window_utc"] = None
        if changed or extra:
            self.publish(force=True)

    def ready(self) -> None:
        """MPUSH runs: ``READY=1`` (once)."""
        if not self._ready:
            self._ready = True
            self.notifier.ready(self.summary_line())

    def record_saved(self, path: Path, received_utc: datetime) -> None:
        """A saved acquisition: its file (relative to the output) and when it ended."""
        try:
            name = path.relative_to(self.output).as_posix()
        except ValueError:
            name = str(path)
        self.fields.update(last_file=name, last_record_utc=utc_now_text(received_utc))

    def progress(self, **numbers: Any) -> None:
        """Counters (acquisitions, rate_hz, reconnects, quarantined_bytes, clipping)."""
        self.fields.update(numbers)

    def summary_line(self) -> str:
        """One line for ``STATUS=``."""
        f = self.fields
        text = (f"{f['state']}: {f['acquisitions']} acquisitions, "
                f"{float(f['rate_hz']):.2f}/s, reconnects {f['reconnects']}")
        if f["state"] == "waiting" and f["next_window_utc"]:
            text += f", next window {f['next_window_utc']}"
        if f["state"] == "stopped":
            text += f", {f['reason']}"
        if f["dark"]:
            text += ", dark"
        return text

    def publish(self, *, force: bool = False, healthy: bool = True) -> None:
        """Write the status file and ``STATUS=`` when due (or ``force``); ping the watchdog
        when ``healthy``."""
        if healthy and self.state != "stopped":
            self.notifier.watchdog()
        if force or self.status_file.due():
            self.status_file.write(self.fields)
            self.notifier.status(self.summary_line())

    def stopped(self, reason: str, exit_status: int) -> None:
        """The run ended: ``STOPPING=1`` and the final status."""
        self.notifier.stopping(f"stopped: {reason}")
        self.set_state("stopped", reason=reason, exit_status=exit_status)
        self.notifier.close()

    # ------------------------------------------------------------------ disk guard

    def check_disk(self, bytes_per_s: float, *, force: bool = False) -> DiskReading | None:
        """Look at the free space (at most every :data:`DISK_CHECK_INTERVAL_S`); returns the
        reading when it was taken and its state changed or is STOP."""
        now = self._clock()
        if not force and self._disk_checked is not None \
                and now - self._disk_checked < DISK_CHECK_INTERVAL_S:
            return None
        self._disk_checked = now
        try:
            reading = self.guard.read(bytes_per_s)
        except OSError as exc:
            log.debug("free space of %s unknown: %s", self.output, exc)
            return None
        previous, self.disk = self.disk, reading
        self.fields.update(free_bytes=reading.free_bytes, min_free_bytes=reading.limit_bytes,
                           time_to_full_s=None if reading.time_to_full_s is None
                           else round(reading.time_to_full_s, 1))
        warnings = [w for w in self.fields["warnings"] if not w.startswith("disk:")]
        if reading.state is not DiskState.OK:
            warnings.append("disk: " + reading.message(str(self.output)))
        self.fields["warnings"] = warnings
        if reading.state is DiskState.STOP or previous is None \
                or previous.state is not reading.state:
            return reading
        return None

    # ------------------------------------------------------------------ schedule

    def window(self) -> ScheduleState:
        """Whether now is inside a schedule window (always, without a schedule)."""
        schedule = self.options.schedule
        if schedule is None or not schedule.windows:
            return ScheduleState(True, None)
        now = self.options.wall_clock()
        cached = self._schedule_state
        if cached is None or cached.until is None or now >= cached.until:
            cached = self._schedule_state = schedule.state(now)
        return cached

    def seconds_until(self, when: datetime) -> float:
        """Seconds from the schedule's clock to ``when``."""
        return (when - self.options.wall_clock()).total_seconds()

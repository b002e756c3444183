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
- probes the free space (:mod:`licelpush.diskguard`, :mod:`licelpush.platform`)
  at most every :data:`DISK_CHECK_INTERVAL_S` seconds;
- keeps the state of the ``--schedule`` (:mod:`licelpush.schedule`).

Clocks and the free-space probe are injectable, so tests need no small file
system and no waiting.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from licelpush.diskguard import DEFAULT_MIN_FREE, DiskGuard, DiskReading, DiskState, MinFree
from licelpush.journal import utc_now_text
from licelpush.platform import CURRENT
from licelpush.schedule import Schedule, ScheduleState
from licelpush.sdnotify import Notifier
from licelpush.session import (
    AcquireOptions,
    Action,
    DiskChecked,
    Phase,
    ReconnectAfter,
    RunSession,
    StopRequested,
    WindowClosed,
    WindowOpened,
)
from licelpush.status import STATUS_INTERVAL_S
from licelpush.statusfile import StatusFile

log = logging.getLogger(__name__)

DISK_CHECK_INTERVAL_S = 0.5
"""Longest time between two looks at the free space while data are written."""
KEEP_ALIVE_S = 0.5
"""While the controller is waited for (a polled acquisition's ``MWAIT``, a slow set-up),
the status file and the watchdog are kept up this often (:meth:`StationService.keep_alive`)."""


def disk_usage_probe(directory: Path) -> Callable[[], tuple[int, int]]:
    """(total, free) bytes of the file system holding ``directory`` (portable)."""
    def probe() -> tuple[int, int]:
        return CURRENT.disk_usage(directory)
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
    """None: the free space of the output directory (:mod:`licelpush.platform`)."""
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
        self._next_window: str | None = None
        self._ready = False
        self._kept_alive: float | None = None

    @classmethod
    def of(cls, options: AcquireOptions, station: StationOptions,
           clock: Callable[[], float] = time.monotonic) -> StationService:
        """The station service of a run with ``options``."""
        return cls(options.output, station, f"{options.host}:{options.port}",
                   dark=options.layout.dark, clock=clock)

    def started(self, run_id: str) -> None:
        """The run's files are open: the first status (``starting``)."""
        self.fields["run_id"] = run_id
        self.publish(force=True)

    def first_actions(self, session: RunSession) -> list[Action]:
        """How a run begins: refuse below ``--min-free``; wait for the schedule window, or
        connect at once."""
        self.started(session.summary.run)
        disk = self.disk_event(0.0, force=True)
        actions = session.handle(disk) if disk is not None else []
        if session.stop is not None:
            return actions
        window = self.window_event(connected=False)
        return actions + (session.handle(window) if window is not None
                          else [ReconnectAfter(0.0, 1)])

    def wait_for_window(self, session: RunSession, wait: Callable[[float], bool]
                        ) -> list[Action]:
        """Rest until the window opens; ``wait(s)`` sleeps (keeping the files synced) and
        is True on a stop request. The session's answer (or the stop)."""
        while self.window_event(connected=False) is not None:
            if wait(self.options.schedule_poll_s) or session.stop is not None:
                return session.handle(StopRequested())
        return session.handle(WindowOpened())

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
        self.fields.update(last_file=self._relative(path),
                           last_record_utc=utc_now_text(received_utc))

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

    def stopped(self, session: RunSession, elapsed_s: float) -> None:
        """The run ended: ``STOPPING=1`` and the final status."""
        summary = session.summary
        self.follow(session, elapsed_s)
        self.notifier.stopping(f"stopped: {summary.reason}")
        self.set_state("stopped", reason=summary.reason, exit_status=summary.exit_status)
        self.notifier.close()

    def follow(self, session: RunSession, elapsed_s: float) -> None:
        """Mirror the run's phase and counters (``stopping`` shows until ``stopped``)."""
        s = session.summary
        self.progress(acquisitions=s.saved, reconnects=s.reconnects,
                      quarantined_bytes=s.quarantined_bytes, clipping=dict(s.clipped),
                      rate_hz=round(s.saved / elapsed_s, 4) if elapsed_s > 0 else 0.0)
        phase = session.phase.value
        if phase == "stopping" or phase == self.state:
            return
        if phase == "acquiring":
            self.ready()
        if phase == "waiting":
            self.set_state(phase, next_window_utc=self._next_window)
        else:
            self.set_state(phase)

    def saved(self, session: RunSession) -> bool:
        """Note a newly saved acquisition (its file, when); True when it started a file."""
        summary = session.summary
        if summary.saved == self.fields["acquisitions"] or not summary.files:
            return False
        self.fields["acquisitions"] = summary.saved
        new = self.fields["last_file"] != self._relative(summary.files[-1])
        self.record_saved(summary.files[-1], self.options.wall_clock())
        return new

    def tick(self, session: RunSession, now: float, elapsed_s: float) -> list[Action]:
        """Disk guard (at once when a new file was started), status file and watchdog; the
        session's answer to the disk reading."""
        rate = session.summary.received_bytes / elapsed_s if elapsed_s > 0 else 0.0
        disk = self.disk_event(rate, force=self.saved(session))
        actions = session.handle(disk) if disk is not None else []
        self.keep_alive(session, now, elapsed_s)
        return actions

    def keep_alive_due(self, now: float) -> bool:
        """Whether :data:`KEEP_ALIVE_S` passed since the last call that said so."""
        if self._kept_alive is not None and now - self._kept_alive < KEEP_ALIVE_S:
            return False
        self._kept_alive = now
        return True

    def keep_alive(self, session: RunSession, now: float, elapsed_s: float) -> None:
        """Status file and watchdog, without asking the session anything (also while the
        controller is being waited for)."""
        self.follow(session, elapsed_s)
        self.publish(healthy=self.healthy(session, now))

    @staticmethod
    def healthy(session: RunSession, now: float) -> bool:
        """What the watchdog is told: frames flowing (silence within the liveness policy),
        connecting, reconnecting within ``--retries``, or waiting for a window."""
        if session.phase is not Phase.ACQUIRING:
            return True
        return now - session.last_data < (session.stall_limit or 2 * session.probe_after)

    def disk_event(self, bytes_per_s: float, *, force: bool = False) -> DiskChecked | None:
        """The disk guard's reading for the session, when it has something to say."""
        reading = self.check_disk(bytes_per_s, force=force)
        return None if reading is None else DiskChecked(reading, str(self.output))

    def window_event(self, connected: bool) -> WindowClosed | None:
        """:class:`WindowClosed` when the schedule says the run should rest now."""
        state = self.window()
        if state.inside:
            return None
        self._next_window = utc_now_text(state.until) if state.until is not None else None
        return WindowClosed(self._next_window, connected)

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.output).as_posix()
        except ValueError:
            return str(path)

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

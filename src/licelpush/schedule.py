"""Measurement schedules: the time windows in which a station acquires (``--schedule``).

A schedule is one or more windows, separated by commas or given with
several ``--schedule`` options. A window is ``START..END`` (or ``START-END``
between two clock times); each end is

- a UTC time of day ``HH:MM`` (``18:00-06:00`` runs every night from 18:00
  to 06:00 UTC; a window whose end is not after its start ends the next day);
- ``sunset`` or ``sunrise`` with an optional offset (``+30m``, ``-1h``,
  ``+1h30m``, ``-90s``) at the station's latitude and longitude
  (``[global_info]`` of the configuration): ``sunset+30m..sunrise-30m`` is
  the night from half an hour after sunset to half an hour before sunrise.

On a day where the sun does not rise or set (polar day or night) a window
anchored to that event does not open. Sun times come from the ``astral``
package (NOAA solar-position equations, geometric horizon with refraction).

Pure: every function takes the current time; nothing reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

SEARCH_DAYS = 400
"""How far ahead the next opening of a window is searched."""
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SUN = re.compile(r"^(sunrise|sunset)((?:[+-]\d+[hms])*|[+-](?:\d+[hms])+)$")
_OFFSET = re.compile(r"([+-]?)(\d+)([hms])")
_UNIT_S = {"h": 3600, "m": 60, "s": 1}


class ScheduleError(ValueError):
    """A ``--schedule`` value that cannot be used."""


@dataclass(frozen=True)
class Anchor:
    """One end of a window: a UTC clock time, or a sun event plus an offset."""

    clock: time | None = None
    event: str | None = None
    """``sunrise`` or ``sunset``."""
    offset: timedelta = timedelta(0)

    def on(self, day: date, latitude: float, longitude: float) -> datetime | None:
        """This anchor's UTC time on ``day`` (None when the sun event does not happen)."""
        if self.clock is not None:
            return datetime.combine(day, self.clock, tzinfo=timezone.utc)
        event = _sun_event(self.event or "", day, latitude, longitude)
        return None if event is None else event + self.offset


def _sun_event(event: str, day: date, latitude: float, longitude: float) -> datetime | None:
    from astral import Observer
    from astral.sun import sunrise, sunset

    function = sunrise if event == "sunrise" else sunset
    try:
        return function(Observer(latitude=latitude, longitude=longitude), day,
                        tzinfo=timezone.utc)
    except ValueError:  # the sun does not rise or set that day
        return None


def parse_anchor(text: str, where: str) -> Anchor:
    """``HH:MM`` or ``sunset-30m`` etc.; raises :class:`ScheduleError` naming ``where``."""
    text = text.strip().lower()
    match = _CLOCK.match(text)
    if match:
        return Anchor(clock=time(int(match.group(1)), int(match.group(2))))
    match = _SUN.match(text.replace(" ", ""))
    if match:
        seconds = 0
        sign = 1
        for s, value, unit in _OFFSET.findall(match.group(2)):
            sign = -1 if s == "-" else (1 if s == "+" else sign)
            seconds += sign * int(value) * _UNIT_S[unit]
        return Anchor(event=match.group(1), offset=timedelta(seconds=seconds))
    raise ScheduleError(f"{where}: {text!r} is neither a UTC time HH:MM nor sunrise/sunset "
                        "with an optional offset like +30m")


@dataclass(frozen=True)
class Window:
    """One window of a schedule."""

    start: Anchor
    end: Anchor
    text: str

    @property
    def sun_relative(self) -> bool:
        """True when an end is a sun event (the station's position is needed)."""
        return self.start.event is not None or self.end.event is not None

    def opening(self, day: date, latitude: float, longitude: float
                ) -> tuple[datetime, datetime] | None:
        """(open, close) of the window that opens on ``day`` (UTC), None if it does not."""
        start = self.start.on(day, latitude, longitude)
        if start is None:
            return None
        for k in range(3):
            end = self.end.on(day + timedelta(days=k), latitude, longitude)
            if end is not None and end > start:
                return start, end
        return None


def parse_window(text: str) -> Window:
    """``START..END`` or ``HH:MM-HH:MM``; raises :class:`ScheduleError`."""
    where = f"--schedule {text.strip()!r}"
    if ".." in text:
        parts = text.split("..")
    else:
        parts = text.split("-")
        if len(parts) != 2 or not all(_CLOCK.match(p.strip()) for p in parts):
            raise ScheduleError(f"{where}: give START..END (e.g. sunset+30m..sunrise-30m) "
                                "or HH:MM-HH:MM in UTC (e.g. 18:00-06:00)")
    if len(parts) != 2:
        raise ScheduleError(f"{where}: a window has one start and one end (START..END)")
    start, end = (parse_anchor(p, where) for p in parts)
    if start == end:
        raise ScheduleError(f"{where}: start and end are the same")
    return Window(start, end, text.strip())


def parse_schedule(values: Iterable[str]) -> tuple[Window, ...]:
    """All windows of the ``--schedule`` values (each may hold several, comma-separated)."""
    return tuple(parse_window(part) for value in values for part in value.split(",")
                 if part.strip())


@dataclass(frozen=True)
class ScheduleState:
    """Inside a window (until it closes) or outside (until the next opens)."""

    inside: bool
    until: datetime | None
    """When the window closes (inside) or the next opens (outside); None: never."""


@dataclass(frozen=True)
class Schedule:
    """Windows at a place; :meth:`state` says whether ``now`` is inside one."""

    windows: Sequence[Window]
    latitude: float = 0.0
    longitude: float = 0.0

    def _openings(self, first: date, days: int) -> Iterable[tuple[datetime, datetime]]:
        for n in range(days):
            day = first + timedelta(days=n)
            for window in self.windows:
                opening = window.opening(day, self.latitude, self.longitude)
                if opening is not None:
                    yield opening

    def state(self, now: datetime) -> ScheduleState:
        """Where ``now`` (aware) stands; always inside when there are no windows."""
        if not self.windows:
            return ScheduleState(True, None)
        now = now.astimezone(timezone.utc)
        start_day = now.date() - timedelta(days=2)
        closes = [close for open_, close in self._openings(start_day, 4) if open_ <= now < close]
        if closes:
            return ScheduleState(True, self._merged_close(max(closes)))
        day = now.date() - timedelta(days=1)
        for n in range(0, SEARCH_DAYS, 7):
            opens = [o for o, _ in self._openings(day + timedelta(days=n), 7) if o > now]
            if opens:
                return ScheduleState(False, min(opens))
        return ScheduleState(False, None)

    def _merged_close(self, close: datetime) -> datetime:
        """The close of overlapping or touching windows taken together (bounded)."""
        for _ in range(10):
            later = [c for o, c in self._openings(close.date() - timedelta(days=2), 4)
                     if o <= close < c]
            if not later:
                break
            close = max(later)
        return close

    def next_opening(self, now: datetime) -> datetime | None:
        """The next time a window opens after ``now`` (None: not within a year)."""
        current = self.state(now)
        if not current.inside:
            return current.until
        if current.until is None:
            return None
        return self.state(current.until).until


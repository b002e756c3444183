"""The emulator's ledger: one JSON line per frame put on the wire and per connection event.

Spec: docs/EMULATOR.md "Ledger" (its table is checked against the event
classes below by ``tests/test_events.py``). Lines are flushed as written so a
test can read the file while the emulator runs; each is
``{"event": KIND, **fields, "time": seconds since the emulator started}``.

Every line also has ``utc``: the moment of ``time`` as UTC wall-clock time
with milliseconds (the format of the acquisition journal's ``received_utc``),
to compare the two.

``crc32`` of a frame is the zlib CRC-32 of the frame as built (``FF FF``
through the last raw word) before any fault; ``faults`` lists one record per
fault that damaged it (empty when it went out intact):
``{"kind": "corrupt", "where", "positions", "xor"}`` or
``{"kind": "lose", "offset", "bytes"}``. Close ``reason``: ``client`` (the
peer closed or reset), ``kill``, ``fault:disconnect``, ``fault:reboot``,
``stop`` (emulator shut down) or ``error``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, ClassVar

from licelpush.errors import OutputError
from licelpush.events import Event
from licelpush.journal import utc_now_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSent(Event):
    """A frame put on the wire (``seq``: its 1-based number on the wire)."""

    KIND: ClassVar[str] = "frame"
    seq: int
    connection: int
    timestamp: int
    shots: list[int]
    length: int
    crc32: int
    sent: int
    faults: list[dict[str, Any]]


@dataclass(frozen=True)
class SocketOpened(Event):
    """A client connected to the command, push or kill port."""

    KIND: ClassVar[str] = "open"
    connection: int
    socket: str
    peer: str


@dataclass(frozen=True)
class SocketClosed(Event):
    """A connection closed, and why."""

    KIND: ClassVar[str] = "close"
    connection: int
    socket: str
    reason: str


@dataclass(frozen=True)
class FaultActed(Event):
    """A fault that acts between frames (``after_seq`` 0: at start)."""

    KIND: ClassVar[str] = "fault"
    kind: str
    after_seq: int
    seconds: float | None = None


@dataclass(frozen=True)
class PushChanged(Event):
    """Push mode went ``on`` (with the MPUSH details) or ``off`` (with the reason)."""

    KIND: ClassVar[str] = "push"
    state: str
    reason: str | None = None
    connection: int | None = None
    shots: int | None = None
    frame_length: int | None = None
    command: str | None = None


@dataclass(frozen=True)
class PoweredUp(Event):
    """The emulated controller came back after a reboot."""

    KIND: ClassVar[str] = "power-up"
    ms: int


LEDGER_EVENTS: tuple[type[Event], ...] = (
    FrameSent, SocketOpened, SocketClosed, FaultActed, PushChanged, PoweredUp)


class Ledger:
    """Appends ledger lines to a file (or nowhere, when ``path`` is None).

    A file that cannot be opened raises :class:`OutputError`. A line that cannot
    be written (disk full) does not stop the emulator: the ledger stops there,
    the error is logged once and kept in :attr:`error` for the caller to report.
    """

    def __init__(self, path: str | Path | None, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.path = Path(path) if path is not None else None
        self._clock = clock
        self._t0 = clock()
        self._wall0 = time.time()
        self._file: IO[str] | None = None
        self.error: str | None = None
        """Why the ledger stopped being written (None while it is complete)."""
        if self.path is not None:
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"emulator ledger {self.path}: cannot create it: "
                                  f"{exc.strerror or exc}") from None

    def write(self, event: Event) -> None:
        """One line ``{"event": KIND, **fields, "time": ...}``, flushed."""
        if self._file is None:
            return
        elapsed = self._clock() - self._t0
        moment = datetime.fromtimestamp(self._wall0 + elapsed, timezone.utc)
        record = {"event": event.KIND, **event.fields(), "time": round(elapsed, 6),
                  "utc": utc_now_text(moment)}
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:
            self.error = f"emulator ledger {self.path}: cannot write it: {exc.strerror or exc}"
            log.error("%s; the ledger ends here", self.error)
            self.close()

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self.error = self.error or (f"emulator ledger {self.path}: cannot write it: "
                                            f"{exc.strerror or exc}")
            self._file = None


def read_ledger(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line of a ledger file (a partly written last line is skipped)."""
    records = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                records.append(json.loads(line))
    return records

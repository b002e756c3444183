"""The emulator's ledger: one JSON line per frame put on the wire and per connection event.

Spec: the emulator issue ("Ledger"). Lines, each flushed as written so a test
can read the file while the emulator runs:

- ``{"event": "frame", "seq", "connection", "timestamp", "shots", "length",
  "crc32", "sent", "faults"}`` — ``seq`` is the 1-based number of the frame on
  the wire, ``connection`` the id of the push connection, ``timestamp`` the
  controller ms of the frame, ``length`` the frame's length as built and
  ``crc32`` the zlib CRC-32 of those bytes (from ``FF FF`` through the last raw
  word) before any fault; ``sent`` the bytes actually written and ``faults``
  one record per fault that damaged this frame (empty when it went out intact):
  ``{"kind": "corrupt", "where", "positions", "xor"}`` or
  ``{"kind": "lose", "offset", "bytes"}``;
- ``{"event": "open" | "close", "connection", "socket": "command" | "push" |
  "kill", "peer", "reason"}`` — ``reason`` on close: ``client`` (the peer
  closed or reset), ``kill``, ``fault:disconnect``, ``fault:reboot``,
  ``stop`` (emulator shut down) or ``error``;
- ``{"event": "fault", "kind", "after_seq", ...}`` — a fault that acts
  between frames (disconnect, stall, hang, reboot, refuse; ``after_seq`` 0 =
  at start), with its ``seconds`` where it has one;
- ``{"event": "push", "state": "on" | "off", "reason", ...}`` — push mode changes.

Every line also has ``time``: seconds since the emulator started (real time).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from licelpush.errors import OutputError

log = logging.getLogger(__name__)


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
        self._file: IO[str] | None = None
        self.error: str | None = None
        """Why the ledger stopped being written (None while it is complete)."""
        if self.path is not None:
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"emulator ledger {self.path}: cannot create it: "
                                  f"{exc.strerror or exc}") from None

    def write(self, event: str, **fields: Any) -> None:
        """One line ``{"event": event, **fields, "time": ...}``, flushed."""
        if self._file is None:
            return
        record = {"event": event, **fields, "time": round(self._clock() - self._t0, 6)}
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

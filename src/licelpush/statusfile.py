"""Writing and reading ``status.json`` (IO edge of :mod:`licelpush.status`).

The file is replaced atomically: the new content goes into a temporary file
in the same directory, which then replaces ``status.json`` with
:func:`licelpush.platform.replace_file` (atomic on POSIX and Windows), so a reader never sees a
half-written status.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from licelpush.errors import LicelpushError
from licelpush.journal import utc_now_text
from licelpush.platform import replace_file
from licelpush.status import STATUS_FILE, STATUS_INTERVAL_S

log = logging.getLogger(__name__)


class StatusFile:
    """``<output>/status.json``, rewritten at most every ``interval`` unless forced."""

    def __init__(self, directory: Path, interval: float = STATUS_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(directory) / STATUS_FILE
        self.interval = interval
        self._clock = clock
        self._last: float | None = None
        self._failed = False

    def due(self) -> bool:
        """True when the last write is ``interval`` / 2 or longer ago (or never happened)."""
        return self._last is None or self._clock() - self._last >= self.interval / 2

    def write(self, fields: dict[str, Any]) -> None:
        """Replace the file with ``fields`` plus ``updated_utc`` and ``interval_s``.

        A failure is logged once (the status is a convenience: the run goes on)."""
        data = dict(fields, updated_utc=utc_now_text(), interval_s=self.interval)
        tmp = self.path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            replace_file(tmp, self.path)
        except OSError as exc:
            if not self._failed:
                log.warning("%s: cannot write the status: %s", self.path, exc.strerror or exc)
            self._failed = True
            return
        self._failed = False
        self._last = self._clock()


def read_status(path: Path) -> dict[str, Any]:
    """The status in ``path`` (a status.json or the output directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LicelpushError(f"{path}: no status file (is an acquisition writing to this "
                             "directory?)") from exc
    except (OSError, ValueError) as exc:
        raise LicelpushError(f"{path}: cannot read the status: {exc}") from exc
    if not isinstance(data, dict):
        raise LicelpushError(f"{path}: not a status file (no JSON object)")
    return data

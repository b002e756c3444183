"""The files of one acquisition run (IO edge): data writer, journal, quarantine, invalid log.

Spec: docs/ACQUIRE.md "Output files". :class:`RunOutput` picks a free run id
(``journal-<run>.jsonl`` and ``quarantine-<run>.bin`` both unused), opens the
writer and the journal, repairs a data file a killed run left with a partial
last record (:func:`~licelpush.tailrepair.repair_tails`), and closes everything,
reporting the first output error without losing what was written before.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from licelpush.errors import OutputError
from licelpush.events import Event, StopEvent
from licelpush.filewriter import RecordWriter
from licelpush.invalidlog import append_entry
from licelpush.journal import Journal, QuarantineFile
from licelpush.layoutwriter import LayoutWriter
from licelpush.session import AcquireOptions
from licelpush.tailrepair import journalled_folders, repair_tails

log = logging.getLogger(__name__)

MAX_RUNS_PER_SECOND = 1000
"""Run ids tried for one start second (``<id>``, ``<id>-2``, ...)."""


def new_run_id(now: datetime) -> str:
    """Run id from the UTC start time, e.g. ``20260513T210519Z``."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class RunOutput:
    """Writer, journal, quarantine file and (with ``log_invalid``) invalid-data log."""

    def __init__(self, writer: RecordWriter | LayoutWriter, directory: Path, start: datetime,
                 sync_interval: float, log_invalid: bool, *, local_time: bool = False) -> None:
        self.writer = writer
        self.directory = directory
        self.journal, self.run_id = self._open_journal(directory, new_run_id(start),
                                                       sync_interval)
        self.quarantine = QuarantineFile(directory / f"quarantine-{self.run_id}.bin",
                                         sync_interval)
        self.invalid_log = (directory / f"invalid-{self.run_id}.log") if log_invalid else None
        folders = journalled_folders(directory)
        if isinstance(writer, LayoutWriter):  # a killed run of this layout wrote here
            files_time = start.astimezone() if local_time else start.astimezone(timezone.utc)
            folders.append(directory / writer.layout.folder(files_time.replace(tzinfo=None)))
        self.repaired = repair_tails(directory, self.journal, self.quarantine, folders=folders)
        """Data files whose partial last record (a killed run's) was cut off at the start."""

    @classmethod
    def of(cls, options: AcquireOptions, prefix: str, start: datetime) -> RunOutput:
        """The output of a run with these options (file names starting with ``prefix``)."""
        writer = LayoutWriter(
            options.output, prefix, options.layout, records_per_file=options.acquis_per_file,
            sync_interval=options.sync_interval, controller_timestamp=options.controller_timestamp)
        return cls(writer, Path(options.output), start, options.sync_interval,
                   options.log_invalid, local_time=options.local_time)

    @staticmethod
    def _open_journal(directory: Path, base: str, sync_interval: float
                      ) -> tuple[Journal, str]:
        for n in range(1, MAX_RUNS_PER_SECOND):
            run = base if n == 1 else f"{base}-{n}"
            path = directory / f"journal-{run}.jsonl"
            if path.exists() or (directory / f"quarantine-{run}.bin").exists():
                continue
            try:
                return Journal(path, sync_interval), run
            except OutputError:
                if path.exists():
                    continue
                raise
        raise OutputError(f"{directory}: no free journal name for run {base}")  # pragma: no cover

    def relative(self, path: Path) -> str:
        """A data file's name for the journal: relative to the output directory."""
        try:
            return path.relative_to(self.directory).as_posix()
        except ValueError:
            return path.name

    def write(self, event: Event, utc: str | None = None) -> None:
        """Journal one event (``utc``: the time to record, default now)."""
        self.journal.write(event, utc)

    def append_invalid(self, text: str) -> None:
        """Append an entry to the invalid-data log (only with ``log_invalid``)."""
        if self.invalid_log is not None:
            append_entry(self.invalid_log, text)

    def sync_if_due(self, now: float) -> None:
        """fsync what has waited ``sync_interval`` seconds."""
        self.writer.sync_if_due(now)
        self.quarantine.sync_if_due(now)
        self.journal.sync_if_due(now)

    def close_data(self) -> OutputError | None:
        """Close the data writer and the quarantine file; the first error (logged)."""
        first: OutputError | None = None
        for closer in (self.writer, self.quarantine):
            try:
                closer.close()
            except OutputError as exc:
                log.error("%s", exc.message)
                first = first or exc
        return first

    def close_journal(self, stop: StopEvent) -> OutputError | None:
        """Journal the ``stop`` event and close the journal; the error, if any (logged)."""
        try:
            self.journal.write(stop)
            self.journal.close()
        except OutputError as exc:
            log.error("%s", exc.message)
            return exc
        return None

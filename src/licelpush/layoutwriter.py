"""Writing records into the folders of an output layout (IO edge over :class:`RecordWriter`).

:class:`LayoutWriter` has the writing interface of
:class:`~licelpush.filewriter.RecordWriter` and keeps one such writer for the
folder of the current file. When a record starts a new file, its folder is
chosen from the record's start time (:mod:`licelpush.layout`); a different
folder closes (and syncs) the current writer and opens one there. A file with
several records stays in the folder of its first record.
"""

from __future__ import annotations

import logging
from pathlib import Path

from licelpush.errors import OutputError
from licelpush.filewriter import RecordWriter
from licelpush.layout import FLAT, Layout
from licelpush.licelfile import Record

log = logging.getLogger(__name__)


class LayoutWriter:
    """Records into ``output/<layout folder>/`` files. Not thread-safe."""

    def __init__(self, output: Path | str, prefix: str, layout: Layout, *,
                 records_per_file: int = 1, sync_interval: float = 1.0,
                 controller_timestamp: bool = False) -> None:
        self.output = Path(output)
        self.layout = layout
        self._kwargs = dict(records_per_file=records_per_file, sync_interval=sync_interval,
                            controller_timestamp=controller_timestamp)
        self.prefix = prefix
        self.records_per_file = records_per_file
        self._writer: RecordWriter | None = None
        self._written = 0
        self.file_count = 0
        if layout.pattern == FLAT and not layout.dark:
            self._writer = self._open(self.output)  # checks the directory at once
        else:
            try:
                self.output.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"output directory {self.output}: cannot create it: "
                                  f"{exc.strerror or exc}") from exc

    @property
    def directory(self) -> Path:
        """The folder of the current (or next) file."""
        return self._writer.directory if self._writer is not None else self.output

    def _open(self, directory: Path) -> RecordWriter:
        return RecordWriter(directory, self.prefix, **self._kwargs)  # type: ignore[arg-type]

    def write(self, record: Record) -> tuple[Path, int]:
        """Write one record; returns (file path, index of the record in that file)."""
        if self._written % self.records_per_file == 0:
            folder = self.output / self.layout.folder(record.header.start)
            if self._writer is None or self._writer.directory != folder:
                old, self._writer = self._writer, None
                if old is not None:
                    old.close()
                log.info("data files now go to %s", folder)
                self._writer = self._open(folder)
        assert self._writer is not None
        path, index = self._writer.write(record)
        self._written += 1
        if index == 0:
            self.file_count += 1
        return path, index

    def sync_if_due(self, now: float | None = None) -> bool:
        """See :meth:`RecordWriter.sync_if_due`."""
        return self._writer.sync_if_due(now) if self._writer is not None else False

    def close(self) -> None:
        """Sync and close the current file. Idempotent."""
        if self._writer is not None:
            self._writer.close()


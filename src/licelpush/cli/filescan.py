"""Reading the Licel files named on a command line, for ``inspect`` and ``split``.

A directory stands for every Licel raw data file below it (names like
``a2651312.345678``, in any sub-folder of an output layout, ``dark/``
included), in the order of the times in their names; journals, quarantine
and status files are skipped. The files found in a ``dark/`` folder below a
directory are remembered (:attr:`FileScan.dark`), so that commands writing
elsewhere keep dark measurements apart.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FileScan:
    """Reads each named file and scans its records, keeping the exit status.

    A file that cannot be read raises the status to EXIT_USAGE; a damaged one
    to EXIT_DAMAGED_FILE. Each problem is reported as one line on stderr.
    """

    command: str
    status: int = 0
    dark: set[str] = field(default_factory=set)
    """Names of the files found in a ``dark/`` folder below a directory named."""

    def output_dir(self, name: str, output: Path) -> Path:
        """Where a command writing into ``output`` puts what it makes of file ``name``:
        ``output/dark`` for a file of a ``dark/`` folder, so that dark measurements stay
        apart from the measurement."""
        from licelpush.layout import DARK_FOLDER

        return output / DARK_FOLDER if name in self.dark else output

    def expand(self, names: Sequence[str]) -> Iterator[str]:
        """The names, with each directory replaced by the Licel files below it
        (:func:`licelpush.datafiles.find_licel_files`, ``dark/`` included)."""
        from licelpush.datafiles import below_dark, find_licel_files
        from licelpush.errors import EXIT_USAGE

        for name in names:
            if not Path(name).is_dir():
                yield name
                continue
            found = find_licel_files([name], skip_dark=False)
            self.dark.update(str(p) for p in found if below_dark(p, Path(name)))
            if not found:
                print(f"licelpush {self.command}: {name}: no Licel raw data files in this "
                      "directory", file=sys.stderr)
                self.status = max(self.status, EXIT_USAGE)
            yield from (str(p) for p in found)

    def files(self, names: Sequence[str]) -> Iterator[tuple[str, Path, bytes, list[Any], bool]]:
        """Yield (name, path, bytes, intact records, damaged) per readable file; the
        damage is reported after the file's records have been handled."""
        from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
        from licelpush.licelfile import scan_records
        from licelpush.tailrepair import NotARegularFileError, map_file

        for name in self.expand(names):
            path = Path(name)
            try:
                buf = map_file(path)
            except OSError as exc:
                print(f"licelpush {self.command}: {name}: cannot read: {exc.strerror or exc}",
                      file=sys.stderr)
                self.status = max(self.status, EXIT_USAGE)
                continue
            except NotARegularFileError as exc:
                print(f"licelpush {self.command}: {name}: {exc}", file=sys.stderr)
                self.status = max(self.status, EXIT_USAGE)
                continue
            records, error = scan_records(buf, name)
            yield name, path, buf, records, error is not None
            if error is not None:
                print(f"licelpush {self.command}: damaged: {error.message}", file=sys.stderr)
                self.status = max(self.status, EXIT_DAMAGED_FILE)


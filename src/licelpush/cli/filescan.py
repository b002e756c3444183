"""Reading the Licel files named on a command line, for ``inspect`` and ``split``."""

from __future__ import annotations

import mmap
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class NotARegularFileError(Exception):
    """A named file is a FIFO, a device, a directory or a socket."""


def map_file(path: Path) -> bytes | mmap.mmap:
    """The bytes of the regular file at ``path``, mapped read-only (``b""`` when empty):
    the memory used stays bounded whatever the file's size. Anything but a regular
    file is refused before it is opened (a FIFO would block, ``/dev/zero`` never ends).
    """
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special")
        raise NotARegularFileError(f"not a regular file ({kind}); Licel data files are "
                                   "regular files")
    with path.open("rb") as file:
        if path.stat().st_size == 0:
            return b""
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


@dataclass
class FileScan:
    """Reads each named file and scans its records, keeping the exit status.

    A file that cannot be read raises the status to EXIT_USAGE; a damaged one
    to EXIT_DAMAGED_FILE. Each problem is reported as one line on stderr.
    """

    command: str
    status: int = 0

    def files(self, names: Sequence[str]) -> Iterator[tuple[str, Path, bytes, list[Any], bool]]:
        """Yield (name, path, bytes, intact records, damaged) per readable file; the
        damage is reported after the file's records have been handled."""
        from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
        from licelpush.licelfile import scan_records

        for name in names:
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

"""The netCDF library of the data products, imported only when a product is written.

netCDF4 (Unidata's Python interface to the netCDF C library) is the optional
dependency of the ``licelpush[netcdf]`` extra: it writes NETCDF4 files with
zlib compression and chunking, is what the processing chains (the SCC
converters, xarray) read with, and ships wheels for Windows, Linux and macOS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from licelpush.errors import LicelpushError, OutputError

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'licelpush[netcdf]'"
CHUNK_CACHE_BYTES = 1 << 20
"""HDF5 chunk cache per variable while a product is written. The writers write whole
chunks, which need no cache; the library's default (64 MiB per variable) would hold
compressed-away chunks in memory until the file is closed."""


def netcdf4() -> ModuleType:
    """The ``netCDF4`` module; a usage error naming the extra when it is missing."""
    try:
        import netCDF4
    except ImportError as exc:
        raise LicelpushError(f"writing netCDF needs the netCDF4 package ({exc}); install the "
                             f"netcdf extra: {EXTRA_HINT}") from None
    return netCDF4


class PartFile:
    """A netCDF file written as ``OUT.part`` and moved to ``OUT`` only when complete,
    so a failed export leaves no half file. Subclasses fill :attr:`nc` and implement
    :meth:`finish`; used as a context manager, an exception drops the file."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.part = self.out.with_name(self.out.name + ".part")
        self.nc: Any = None
        self._saved_cache: tuple[int, int, float] | None = None

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def create(self) -> Any:
        """Open ``OUT.part`` for writing (NETCDF4 format)."""
        nc4 = netcdf4()
        # the cache size is a library setting taken by each variable as it is created;
        # it is put back when the file is closed
        self._saved_cache = nc4.get_chunk_cache()
        nc4.set_chunk_cache(CHUNK_CACHE_BYTES)
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            self.nc = nc4.Dataset(self.part, "w", format="NETCDF4")
        except OSError as exc:
            self._restore_cache()
            raise OutputError(f"{self.part}: cannot create: {exc.strerror or exc}") from None
        return self.nc

    def _restore_cache(self) -> None:
        if self._saved_cache is not None:
            netcdf4().set_chunk_cache(*self._saved_cache)
            self._saved_cache = None

    def finish(self) -> None:
        """Write what is still missing before the file is closed."""

    def close(self) -> None:
        """Finish the file and move it to its name."""
        if self.nc is None:
            raise LicelpushError("no records to export (check the PATHs and --from/--to)")
        try:
            self.finish()
            self.nc.close()
            self.nc = None
            self._restore_cache()
            self.part.replace(self.out)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.out}: cannot write: {exc.strerror or exc}") from None
        except RuntimeError as exc:  # netCDF4 reports library (HDF5) failures so
            self.abort()
            raise self.library_error(exc) from None

    def library_error(self, exc: RuntimeError) -> OutputError:
        """The error to report when the netCDF library fails to write."""
        return OutputError(f"{self.out}: the netCDF library could not write: {exc}")

    def abort(self) -> None:
        """Drop the unfinished file."""
        if self.nc is not None:
            try:
                self.nc.close()
            except Exception:  # noqa: BLE001 - the file is dropped anyway
                log.debug("closing %s failed", self.part, exc_info=True)
            self.nc = None
        self._restore_cache()
        self.part.unlink(missing_ok=True)

"""The netCDF library of the data products, imported only when a product is written.

netCDF4 (Unidata's Python interface to the netCDF C library) is the optional
dependency of the ``licelpush[netcdf]`` extra: it writes NETCDF4 files with
zlib compression and chunking, is what the processing chains (the SCC
converters, xarray) read with, and ships wheels for Windows, Linux and macOS.
"""

from __future__ import annotations

from types import ModuleType

from licelpush.errors import LicelpushError

EXTRA_HINT = "pip install 'licelpush[netcdf]'"


def netcdf4() -> ModuleType:
    """The ``netCDF4`` module; a usage error naming the extra when it is missing."""
    try:
        import netCDF4
    except ImportError as exc:
        raise LicelpushError(f"writing netCDF needs the netCDF4 package ({exc}); install the "
                             f"netcdf extra: {EXTRA_HINT}") from None
    return netCDF4

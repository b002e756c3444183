"""``licelpush export netcdf|scc PATH... -o OUT``: data products from Licel files.

``export netcdf`` writes one CF-1.8 netCDF file (:mod:`licelpush.cfnetcdf`),
``export scc`` one SCC raw-data file (:mod:`licelpush.scc`). PATHs are files
or directories (walked, day folders included, ``dark/`` folders skipped);
``--from``/``--to`` select records by start time (ISO 8601, UTC unless an
offset is given; ``--to`` excluded). Both need the ``licelpush[netcdf]``
extra. Exit status 0 done, 2 usage/configuration (bad channel map, missing
PATH, mapped channel absent), 4 a damaged input file (its intact records are
exported), 5 the output cannot be written.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone
from typing import Any

from licelpush.errors import LicelpushError

NAME = "export"
log = logging.getLogger(__name__)


def iso_time(text: str) -> datetime:
    """An ISO 8601 time as naive UTC (``Z`` or an offset converted, none taken as UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-30T18:00:00Z)") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def _common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="Licel files or directories (walked; dark/ folders skipped)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.nc",
                   help="netCDF file to write (replaced if it exists)")
    p.add_argument("--from", dest="first", type=iso_time, metavar="T",
                   help="first record start time to export (ISO 8601, UTC)")
    p.add_argument("--to", dest="last", type=iso_time, metavar="T",
                   help="export records starting before T (ISO 8601, UTC)")
    p.add_argument("--config", metavar="ACQUIS_INI",
                   help="the station's Acquis.ini: gives each dataset's memory exactly "
                   "(default: memories A, B, C, D in the order the datasets appear)")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``export`` with its ``netcdf`` and ``scc`` subcommands."""
    p = subparsers.add_parser(
        NAME, parents=[common], help="write CF netCDF or SCC raw-data files from Licel files",
        description="Data products from Licel raw data files (needs licelpush[netcdf]).",
    )
    sub = p.add_subparsers(dest="product", metavar="PRODUCT")
    nc = sub.add_parser(
        "netcdf", parents=[common], help="CF-1.8 netCDF: raw sums and physical values",
        description="Write one CF-1.8 netCDF file with every channel's raw sums (int32) and "
        "physical values (mV or MHz), shots, start/stop times, station position and "
        "pointing, channel metadata, clipping and the acquisition journal's run, connection "
        "and CRC-32 per record. One range axis per bin width (range_<width>m); channels with "
        "fewer bins are padded with the fill value (masked).",
    )
    _common_arguments(nc)
    nc.add_argument("--compression", choices=("auto", "blosc_lz4", "zstd", "zlib"),
                    default="auto",
                    help="blosc_lz4 (fastest) and zstd are read by netCDF-C >= 4.9 with its "
                    "filter plugins (included in the netCDF4 and xarray wheels); zlib is "
                    "several times slower but read by every netCDF-4 reader; auto (default): "
                    "blosc_lz4, and zstd if blosc cannot compress the data")
    nc.set_defaults(run=run_netcdf)
    scc = sub.add_parser(
        "scc", parents=[common], help="SCC raw-data netCDF for the Single Calculus Chain",
        description="Write an SCC raw-data file: the channels of the TOML channel map "
        "(recorder, memory, mode -> SCC channel id), with dark measurements as "
        "Background_Profile.",
    )
    _common_arguments(scc)
    scc.add_argument("--channels", required=True, metavar="MAP.toml",
                     help="channel map (see examples/scc-channels.toml)")
    scc.add_argument("--measurement-id", required=True, metavar="ID",
                     help="SCC measurement id: date, call sign, two digits (20261130lei01)")
    scc.add_argument("--dark", nargs="+", metavar="DARKPATH",
                     help="files or directories of the dark measurement (of a directory "
                     "with dark/ folders below it, such as the output directory, only the "
                     "files in them)")
    scc.add_argument("--pressure", type=float, metavar="HPA",
                     help="pressure at the station, hPa (standard atmosphere)")
    scc.add_argument("--temperature", type=float, metavar="DEGC",
                     help="temperature at the station, degrees C (standard atmosphere)")
    scc.set_defaults(run=run_scc)
    p.set_defaults(run=lambda args: _no_product(p))


def _no_product(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    raise LicelpushError("name a product: netcdf or scc")


def _memories(args: argparse.Namespace) -> Any:
    if not args.config:
        return None
    from licelpush.channelkey import memories_of
    from licelpush.config import load_config

    return memories_of(load_config(args.config))


def _stream(args: argparse.Namespace, paths: list[str], *, dark: bool = False) -> Any:
    from licelpush.datafiles import RecordStream, find_dark_files, find_licel_files, load_traces

    files = find_dark_files(paths) if dark else find_licel_files(paths)
    if not files:
        raise LicelpushError(f"no Licel files in {' '.join(paths)}")
    window = (None, None) if dark else (args.first, args.last)
    return RecordStream(files, *window, traces=load_traces(files, paths))


def run_scc(args: argparse.Namespace) -> int:
    """Write the SCC file; returns the exit status."""
    from licelpush.scc import Atmosphere, SccWriter, check_measurement_id
    from licelpush.sccmap import load_channel_map

    measurement_id = check_measurement_id(args.measurement_id)
    channel_map = load_channel_map(args.channels)
    if (args.pressure is None) != (args.temperature is None):
        raise LicelpushError("--pressure and --temperature go together")
    atmosphere = (Atmosphere(args.pressure, args.temperature)
                  if args.pressure is not None else None)
    stream = _stream(args, args.paths)
    dark = _stream(args, args.dark, dark=True) if args.dark else None
    with SccWriter(args.output, channel_map, measurement_id, atmosphere,
                   _memories(args)) as writer:
        rows = writer.write_all(stream)
        dark_rows = writer.write_all(dark, dark=True) if dark is not None else 0
    print(f"{args.output}: {rows} profile(s) of {len(channel_map.channels)} channel(s)"
          + (f", {dark_rows} dark profile(s)" if dark is not None else ""))
    return max(stream.status, dark.status if dark is not None else 0)


def run_netcdf(args: argparse.Namespace) -> int:
    """Write the CF netCDF file; returns the exit status."""
    from licelpush.cfnetcdf import CfWriter, CompressionError

    memories = _memories(args)
    auto = args.compression == "auto"
    compression = "blosc_lz4" if auto else args.compression
    while True:
        stream = _stream(args, args.paths)
        try:
            with CfWriter(args.output, memories, compression) as writer:
                rows = writer.write_all(stream)
            break
        except CompressionError as exc:
            if not auto or compression == "zstd":
                raise
            log.warning("%s; writing again with zstd", exc.message)
            compression = "zstd"
    print(f"{args.output}: {rows} record(s), {len(writer.channels)} channel(s), "
          f"{compression} compression")
    return stream.status

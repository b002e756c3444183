"""``licelpush quicklook PATH... -o out.png``: time–height picture of Licel files.

See :mod:`licelpush.quicklook`. Exit status 0, 4 when a damaged file was met
(its intact records are drawn, the picture is still written), 2 for bad
arguments, a missing path or no data in the period, 5 when the picture
cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from licelpush.cli.export import iso_time

NAME = "quicklook"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``quicklook`` subcommand."""
    p = subparsers.add_parser(
        NAME,
        parents=[common],
        help="draw the range-corrected signal of Licel files against time and range (PNG)",
        description="Draw, for each chosen channel, the range-corrected signal (signal x "
        "range², mV km² or MHz km²) of the records in PATH against UTC time and range with a "
        "log colour scale, and the mean profile beside it. Gaps in the data stay white; "
        "analogue bins at full scale in every shot are magenta. Needs matplotlib: "
        "pip install 'licelpush[plot]'.",
        epilog="PATH may be Licel files, a directory or a day folder; directories are "
        "walked (sub-folders too, dark/ folders skipped). Times are ISO 8601 UTC "
        "(2026-05-13T21:00Z). Channels as "
        "in 'licelpush profile': 0, BT0, 532, 532.p, 532.p:pc. Exit status 4 if a damaged "
        "file was met (the picture still shows its intact records), 2 for a bad argument or "
        "no data, 5 if the picture cannot be written.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="Licel file(s) or directories")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="picture to write (PNG; .svg or .pdf by suffix)")
    p.add_argument("--from", dest="start", type=iso_time, metavar="T",
                   help="first record start time (ISO 8601, UTC)")
    p.add_argument("--to", dest="stop", type=iso_time, metavar="T",
                   help="last record start time (ISO 8601, UTC)")
    p.add_argument("--channels", action="append", default=[], metavar="SEL",
                   help="channel(s) to draw, comma separated or repeated (default all)")
    p.add_argument("--max-range", type=float, metavar="KM",
                   help="top of the picture in km (default: the longest channel's range)")
    p.add_argument("--background", default="tail:1000", metavar="SPEC",
                   help="background subtracted before the range correction: tail:N (mean "
                   "of the last N bins; default tail:1000), far:START-STOP (km), "
                   "pretrigger:N (first N bins) or none")
    p.add_argument("--width", type=int, metavar="PX",
                   help="picture width in pixels, at least 800 (default 1400 for up to 6 "
                   "channels, 2000 for up to 16 in two columns, 2800 for more in four)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Collect and draw; returns the exit status."""
    from pathlib import Path

    from licelpush.datafiles import find_data_files
    from licelpush.errors import EXIT_DAMAGED_FILE, LicelpushError, OutputError
    from licelpush.physical import parse_background
    from licelpush.quicklook import collect, load_pyplot, render

    load_pyplot()  # fail before reading a day of files when the extra is missing
    if args.width is not None and args.width < 800:
        raise LicelpushError(f"--width {args.width}: at least 800 pixels")
    if args.max_range is not None and args.max_range <= 0:
        raise LicelpushError(f"--max-range {args.max_range}: must be > 0 km")
    try:
        background = parse_background(args.background)
    except ValueError as exc:
        raise LicelpushError(str(exc)) from None
    channels = [c for item in args.channels for c in item.split(",") if c.strip()]
    look = collect(find_data_files(args.paths), start=args.start, stop=args.stop,
                   channels=channels,
                   max_range_m=args.max_range * 1000.0 if args.max_range else None,
                   background=background)
    for line in look.damaged:
        print(f"licelpush quicklook: damaged: {line}", file=sys.stderr)
    out = Path(args.output)
    try:
        render(look, out, width_px=args.width)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the picture: {exc.strerror or exc}") from None
    print(f"{out}: {look.records} records, {len(look.curtains)} channels, "
          f"{look.start:%Y-%m-%d %H:%M:%S} - {look.stop:%Y-%m-%d %H:%M:%S} UTC")
    return EXIT_DAMAGED_FILE if look.damaged else 0

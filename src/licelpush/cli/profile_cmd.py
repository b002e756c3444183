"""``licelpush profile FILE``: the channels of one record in physical units.

Analogue channels in mV, photon counting in MHz, on a range axis with the
bin shift applied (see :mod:`licelpush.physical`), optionally background
subtracted and range corrected. Text (default), CSV or JSON on stdout.
Exit status 4 for a damaged file, 2 for a missing file, an unknown channel or
a record that is not there.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

NAME = "profile"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``profile`` subcommand."""
    p = subparsers.add_parser(
        NAME,
        parents=[common],
        help="print the channels of a record in physical units (mV, MHz)",
        description="Print the channels of one record of a Licel raw data file in physical "
        "units: analogue as mean signal in mV (value / shots x input range / 2^ADC bits), "
        "photon counting as count rate in MHz (counts / shots / bin duration, 2 x bin width "
        "/ c), against the range of each bin's centre in m, (i + 1/2 - bin shift) x bin width.",
        epilog="channels: a dataset index (0), a device id (BT0), a wavelength (532) or "
        "wavelength.polarisation (532.p), optionally with :an or :pc (532.p:pc). "
        "Exit status 4 if the file is damaged where the record is, 2 if it is missing or "
        "the record or a channel is not there.",
    )
    p.add_argument("file", metavar="FILE", help="Licel raw data file")
    p.add_argument("--record", type=int, default=0, metavar="N",
                   help="record index in the file (default 0; -1 = the last)")
    p.add_argument("--channel", action="append", default=[], metavar="SEL",
                   help="channel(s) to print (repeatable; default all)")
    p.add_argument("--background", default="none", metavar="SPEC",
                   help="subtract a background: far:START-STOP (km, mean of that window), "
                   "pretrigger:N (mean of the first N bins), tail:N (mean of the last N bins) "
                   "or none (default)")
    p.add_argument("--range-corrected", action="store_true",
                   help="multiply by the range in km squared (units mV km², MHz km²)")
    p.add_argument("--max-range", type=float, metavar="KM",
                   help="only bins up to this range")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true",
                      help="CSV: channel,label,range_m,value,unit,clipped")
    form.add_argument("--json", action="store_true",
                      help="JSON: file, record, start and stop, and per channel its "
                      "description, range_m and values")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the profiles; returns the exit status."""
    from licelpush.errors import EXIT_DAMAGED_FILE, LicelpushError
    from licelpush.physical import parse_background, record_profiles, select_channels

    try:
        background = parse_background(args.background)
    except ValueError as exc:
        raise LicelpushError(str(exc)) from None
    record, damaged = _record(args.file, args.record)
    try:
        indices = select_channels(record.header.datasets, args.channel)
    except ValueError as exc:
        raise LicelpushError(f"{args.file}: {exc}") from None
    profiles = record_profiles(record, channels=indices, background=background,
                               range_corrected=args.range_corrected,
                               max_range_m=None if args.max_range is None
                               else args.max_range * 1000.0)
    if args.json:
        _print_json(args.file, args.record, record, profiles)
    elif args.csv:
        _print_csv(profiles)
    else:
        _print_text(args.file, args.record, record, profiles)
    return EXIT_DAMAGED_FILE if damaged else 0


def _record(name: str, index: int) -> tuple[Any, bool]:
    """The record at ``index`` and whether the file is damaged after it."""
    from pathlib import Path

    from licelpush.errors import LicelpushError
    from licelpush.licelfile import scan_records

    try:
        buf = Path(name).read_bytes()
    except OSError as exc:
        raise LicelpushError(f"{name}: cannot read: {exc.strerror or exc}") from None
    records, error = scan_records(buf, name)
    if -len(records) <= index < len(records):
        if error is not None:
            print(f"licelpush profile: damaged: {error.message}", file=sys.stderr)
        return records[index], error is not None
    if error is not None:
        raise error
    raise LicelpushError(f"{name}: no record {index} (the file has {len(records)})")


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6g}"


def _print_text(name: str, index: int, record: Any, profiles: list[Any]) -> None:
    from licelpush.physical import describe_profile

    h = record.header
    print(f"{name} record {index}: {h.name} site {h.site!r} "
          f"start {h.start:%Y-%m-%d %H:%M:%S} stop {h.stop:%Y-%m-%d %H:%M:%S}")
    for profile in profiles:
        print()
        print(f"# {describe_profile(profile)}")
        print(f"{'range_m':>12} {profile.unit:>14}")
        for r, v, c in zip(profile.range_m.tolist(), profile.signal.tolist(),
                           profile.clipped.tolist()):
            print(f"{r:12.3f} {_number(v):>14}{'  clipped' if c else ''}")


def _print_csv(profiles: list[Any]) -> None:
    import csv

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["channel", "label", "range_m", "value", "unit", "clipped"])
    for p in profiles:
        for r, v, c in zip(p.range_m.tolist(), p.signal.tolist(), p.clipped.tolist()):
            out.writerow([p.index, p.label, f"{r:.3f}", _number(v), p.unit, int(c)])


def _print_json(name: str, index: int, record: Any, profiles: list[Any]) -> None:
    import json

    from licelpush.physical import profile_fields

    h = record.header
    doc = {
        "file": name, "record": index, "name": h.name, "site": h.site,
        "start": h.start.isoformat(), "stop": h.stop.isoformat(),
        "channels": [profile_fields(p, arrays=True) for p in profiles],
    }
    json.dump(doc, sys.stdout, allow_nan=False)
    print()

"""``licelpush split --rewrite FILE... -o DIR [--time-zone TZ]``: records re-encoded.

Each record of each file is re-encoded (:mod:`licelpush.rewrite`) into a file
of its own in DIR, in licelpush's layout (CRLF, padded header lines, true
dataset count), values unchanged; DIR receives nothing else. With
``--time-zone`` the header times and the file names are converted from that
zone's local time to UTC. Files found in a ``dark/`` folder of a directory
named go into ``DIR/dark``. DIR must not be the directory of an input file (the
rewritten files would sit beside the originals they repeat). A record whose
rewritten file already exists with the same bytes is not written again.
Exit status 2 for a bad option or missing file, 4 if a file is damaged (its
intact records are still rewritten), 5 if DIR cannot be written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from licelpush.errors import LicelpushError


def run_rewrite(args: argparse.Namespace) -> int:
    """Rewrite every record of every file; returns the exit status."""
    from licelpush.cli.filescan import FileScan
    from licelpush.cli.paths import check_not_inside_inputs
    from licelpush.filewriter import RecordWriter
    from licelpush.licelfile import encode_record
    from licelpush.rewrite import parse_time_zone, rewritten

    if not args.rewrite:
        raise LicelpushError("--time-zone needs --rewrite")
    if not args.output_dir:
        raise LicelpushError("--rewrite needs -o DIR (a directory for the rewritten files)")
    out_dir = Path(args.output_dir)
    zone = None
    if args.time_zone:
        try:
            zone = parse_time_zone(args.time_zone)
        except ValueError as exc:
            raise LicelpushError(f"--time-zone: {exc}") from None
    check_not_inside_inputs(out_dir, args.files)
    for name in args.files:
        if out_dir.resolve() == Path(name).resolve().parent:
            raise LicelpushError(f"-o {out_dir}: is the directory of {name}; choose another "
                                 "directory for the rewritten files")
    scan = FileScan("split")
    writers: dict[Path, RecordWriter] = {}
    try:
        for name, _, _, records, _ in scan.files(args.files):
            target = scan.output_dir(name, out_dir)
            for index, record in enumerate(records):
                new = rewritten(record, zone)
                existing = target / new.header.name
                if existing.is_file() and existing.read_bytes() == encode_record(new):
                    print(f"{name} record {index} already in {existing}")
                    continue
                if target not in writers:
                    writers[target] = RecordWriter(target, new.header.name[:1],
                                                   records_per_file=1)
                written, _ = writers[target].write(new)
                print(f"{name} record {index} -> {written}")
    finally:
        for writer in writers.values():
            writer.close()
    return scan.status

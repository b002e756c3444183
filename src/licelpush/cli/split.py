"""``licelpush split FILE... [-o DIR]``: multi-record Licel files -> one record per file.

Every public reader reads only the first record of a file
(``docs/spec/LICEL_FILE_FORMAT.md``, "Several records in one file"). Each
record is copied byte for byte into its own file named by the record's line-1
name; an existing file is never overwritten (the writer moves the time in the
name on by 10 ms until the name is free, and line 1 is changed to match).
A one-record file is left alone unless ``-o`` names another directory.
Files found in a ``dark/`` folder of a directory named go into ``DIR/dark``.
The input files are not modified. In the input's own directory (no ``-o``)
record 0 is not copied: it is the input file's first record, the one every
public reader reads, so each acquisition is there exactly once for them. A
record whose file already exists with the same bytes (an earlier split) is
not written again. Exit status 4 if a file is damaged (its
intact records before the damage are still split), 2 if a file is missing.

``--rewrite`` re-encodes instead of copying (:mod:`licelpush.cli.rewrite_cmd`).
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "split"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``split`` subcommand."""
    p = subparsers.add_parser(
        NAME,
        parents=[common],
        help="split multi-record Licel files into one file per record",
        description="Write every record of each Licel raw data file to its own file, named by "
        "the record's header name, byte for byte. Existing files are never overwritten; a "
        "record already split before is not written again. Input files are left unchanged; "
        "without -o, record 0 stays only in the input file (its first record, the one "
        "public readers read).",
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="Licel raw data file(s) or directories (walked, sub-folders included)")
    p.add_argument(
        "-o", "--output-dir", metavar="DIR",
        help="directory for the one-record files (default: the directory of each input file)",
    )
    p.add_argument(
        "--rewrite", action="store_true",
        help="re-encode every record (values unchanged) into a file of its own in DIR (-o, "
        "required) in licelpush's layout (CRLF, padded header lines), so every public reader "
        "accepts files of the vendor's Python library (LF lines, several records per file)",
    )
    p.add_argument(
        "--time-zone", metavar="TZ",
        help="with --rewrite: the header times are local time of TZ (the vendor writes the PC's "
        "local time); they and the file names are converted to UTC. TZ: UTC, an offset like "
        "+01:00, or a name like Europe/Berlin",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Split every file; returns the exit status."""
    if args.rewrite or args.time_zone:
        from licelpush.cli.rewrite_cmd import run_rewrite

        return run_rewrite(args)
    from pathlib import Path

    from licelpush.cli.filescan import FileScan
    from licelpush.cli.paths import check_not_inside_inputs, check_output_path
    from licelpush.filewriter import RecordWriter
    from licelpush.licelfile import parse_file_name

    if args.output_dir:
        check_output_path("-o", Path(args.output_dir))
        check_not_inside_inputs(Path(args.output_dir), args.files)
    scan = FileScan("split")
    for name, path, buf, records, damaged in scan.files(args.files):
        out_dir = scan.output_dir(name, Path(args.output_dir)) if args.output_dir else path.parent
        same_dir = out_dir.resolve() == path.parent.resolve()
        if len(records) == 1 and same_dir and not damaged:
            print(f"{name}: 1 record, nothing to split")
            continue
        if not records:
            continue
        parsed = parse_file_name(records[0].header.name)
        prefix = parsed[0] if parsed else "L"
        with RecordWriter(out_dir, prefix, records_per_file=1) as writer:
            for index, record in enumerate(records):
                raw = buf[record.offset:record.offset + record.length]
                if same_dir and index == 0:
                    print(f"{name} record 0 stays first in {name}")
                    continue
                existing = out_dir / record.header.name
                if (existing.is_file() and existing.stat().st_size == len(raw)
                        and existing.read_bytes() == raw):
                    print(f"{name} record {index} already in {existing}")
                    continue
                written, _ = writer.write_raw(raw, record.header.name)
                print(f"{name} record {index} -> {written}")
    return scan.status

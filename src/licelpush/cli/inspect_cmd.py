"""``licelpush inspect FILE...``: one summary per record of Licel raw data files.

Every record of every file is listed (file, record index, byte offset, start
time, site, shots, channels). Damage is reported with the file and byte
offset; the other files are still inspected. Exit status 0 when all files are
intact, 4 (EXIT_DAMAGED_FILE) when one is damaged, 2 when one is missing
(damage wins when both happen).
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "inspect"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``inspect`` subcommand."""
    p = subparsers.add_parser(
        NAME,
        parents=[common],
        help="summarise the records of Licel raw data files",
        description="Print one summary per record of each Licel raw data file: record index, "
        "byte offset, start time, site, shots and channels (device id, wavelength.polarisation, "
        "A for analogue / PC for photon counting, bins). Exit status 4 if a file is damaged, "
        "2 if a file is missing.",
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="Licel raw data file(s) or directories (walked, sub-folders included)")
    p.set_defaults(run=run)


def format_record(path: str, index: int, record: Any) -> str:
    """Summary text of one record (several lines: the record, then one per channel)."""
    h = record.header
    shots = "/".join(str(s) for s in h.laser_shots)
    lines = [
        f"{path} record {index} @ byte {record.offset}: {h.name} "
        f"start {h.start:%Y-%m-%d %H:%M:%S} stop {h.stop:%Y-%m-%d %H:%M:%S} "
        f"site {h.site!r} shots L1/L2/L3 {shots}, {len(h.datasets)} channel(s)"
    ]
    for ds in h.datasets:
        kind = "A" if ds.analogue else "PC"
        lines.append(
            f"  {ds.device_id:<4} {ds.wavelength_nm}.{ds.polarisation:<2} {kind:<2} "
            f"laser {ds.laser} {ds.bins} bins {ds.shots} shots"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Inspect every file; returns the exit status."""
    from licelpush.cli.filescan import FileScan

    scan = FileScan("inspect")
    for name, _, _, records, _ in scan.files(args.files):
        for index, record in enumerate(records):
            print(format_record(name, index, record))
    return scan.status

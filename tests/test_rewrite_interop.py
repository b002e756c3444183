"""Vendor-layout files rewritten by ``split --rewrite`` are read by all four public readers.

The vendor's Python library writes LF header lines and several records per
file (LICEL_FILE_FORMAT.md, "Vendor Python writer deviations"); licelformat
and linc refuse such a file. After ``licelpush split --rewrite`` (with the
vendor's PC local time converted to UTC) every reader reads every record
with its values and header unchanged.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon, vendor_layout
from test_interop import READERS, ROOT, check_channel, expected_header, interop_venv

from licelpush import cli
from licelpush.licelfile import Record, read_records
from licelpush.rewrite import parse_time_zone, rewritten

START = datetime(2026, 7, 1, 22, 30, 5, 250000)
ZONE = "Europe/Berlin"


def vendor_records() -> list[Record]:
    datasets = [
        analogue(0, 532, "p", laser=1, shots=1000, adc_bits=12, input_range_mv=500.0,
                 bin_shift=2.25),
        photon(0, 532, "p", laser=1, shots=1000, level=8),
        analogue(1, 1064, "o", laser=2, shots=998, adc_bits=16, input_range_mv=20.0,
                 bin_width_m=3.75, bins=8000),
        photon(1, 607, "o", laser=2, shots=998, level=40, bins=8000),
    ]
    return [make_record(datasets, site="Mt Abu", seed=s, duration_s=15,
                        start=START + timedelta(seconds=15 * s)) for s in range(3)]


def run_readers(python: Path, out: Path, files: list[Path]) -> dict:
    proc = subprocess.run([str(python), str(ROOT / "tools" / "interop_readers.py"), str(out),
                           *map(str, files)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def readers_python() -> Path:
    try:
        return interop_venv.ensure_venv()
    except interop_venv.InteropVenvError as exc:
        pytest.fail(f"public Licel readers unavailable: {exc}")


def test_rewritten_vendor_files_are_read_by_every_reader(readers_python: Path,
                                                         tmp_path: Path) -> None:
    records = vendor_records()
    vendor = tmp_path / "vendor" / "b2670122.300525"
    vendor.parent.mkdir()
    vendor.write_bytes(b"".join(vendor_layout(r) for r in records))
    before = run_readers(readers_python, tmp_path / "before", [vendor])[str(vendor)]
    assert "error" in before["licelformat"] and "error" in before["linc"]

    out = tmp_path / "rewritten"
    assert cli.main(["split", "--rewrite", str(vendor), "-o", str(out),
                     "--time-zone", ZONE, "-q"]) == 0
    files = sorted(out.iterdir())
    assert len(files) == len(records)
    result = run_readers(readers_python, tmp_path / "after", files)
    zone = parse_time_zone(ZONE)
    for path, original in zip(files, records):
        want = rewritten(original, zone)
        assert want.header.start == original.header.start - timedelta(hours=2)  # CEST
        (written,) = read_records(path)
        assert written.header.name == path.name == want.header.name
        entry = result[str(path)]
        for reader in READERS:
            got = entry[reader]
            assert "error" not in got, f"{reader} failed on {path.name}: {got.get('traceback')}"
            header = expected_header(want)
            if reader == "al_v1":  # LicelFile reads only lasers 1 and 2 of line 3
                header["laser_shots"][2] = header["laser_rates"][2] = 0
            assert {k: got["header"][k] for k in header} == header, reader
            with np.load(tmp_path / "after" / f"{entry['index']}_{reader}.npz") as npz:
                arrays = dict(npz)
            channels = list(got["channels"].items())
            assert len(channels) == len(want.header.datasets)
            for (key, meta), ds, values in zip(channels, want.header.datasets, want.data):
                check_channel(reader, key, meta, ds, np.asarray(values), arrays)

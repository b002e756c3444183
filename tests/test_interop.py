"""Files written by licelpush read back with identical values by the public readers.

Readers (see docs/READERS.md): atmospheric-lidar (LicelFile and LicelFileV2),
licelformat, linc. They run in their own venv (tools/interop_venv.py) through
tools/interop_readers.py; this test writes sample files with RecordWriter,
runs the readers once on all of them and compares every header value and
every channel's raw and physical values with what was written. The physical
values are recomputed here with each reader's own formula from the values
licelpush wrote. When the readers' environment cannot be built (no package
index reachable) the test is skipped with the reason, and fails under
``LICELPUSH_STRICT=1`` (CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon
from optional import need

from licelpush.config import load_config
from licelpush.decode import FrameDecoder
from licelpush.encode import FrameEncoder
from licelpush.filewriter import RecordWriter
from licelpush.hardware import RecorderHardware
from licelpush.licelfile import DatasetHeader, Record, site_field
from licelpush.plan import make_plan
from licelpush.readers import reader_limits
from licelpush.records import RecordBuilder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import interop_venv  # noqa: E402

START = datetime(2026, 5, 13, 21, 3, 45, 120000)


@dataclass
class Sample:
    name: str
    records: list[Record]
    records_per_file: int = 1
    controller_timestamp: bool = False
    refused_by: tuple[str, ...] = ()
    """Readers expected to refuse the file (documented limits)."""
    merged_by: tuple[str, ...] = ()
    """Readers expected to merge datasets of one device id (documented limit)."""


def acquired_records(config_path: Path, shots: int, count: int) -> list[Record]:
    """Records exactly as ``licelpush acquire`` builds them for a configuration:
    frames encoded from the plan, decoded, turned into records by RecordBuilder."""
    config = load_config(config_path)
    hardware = {r.address: RecorderHardware(adc_bits=12 if r.address % 2 else 16)
                for r in config.active_recorders}
    plan = make_plan(config, hardware, shots)
    rng = np.random.default_rng(11)
    encoder, decoder = FrameEncoder(plan), FrameDecoder(plan)
    builder = RecordBuilder(config, plan)
    records = []
    for i in range(count):
        profiles = [rng.integers(0, 3000 * shots if c.analogue else 20 * shots, c.values)
                    for c in plan.channels]
        decoded = decoder.decode(encoder.encode(1000 * i, shots, profiles))
        start = START.replace(microsecond=0) + timedelta(seconds=15 * i)
        records.append(builder.build(decoded, start, start + timedelta(seconds=15)))
    return records


def samples() -> list[Sample]:
    mixed = [
        analogue(0, 532, "p", laser=1, shots=1000, adc_bits=12, input_range_mv=500.0),
        photon(0, 532, "p", laser=1, shots=1000, level=8),
        analogue(1, 532, "s", laser=1, shots=1000, adc_bits=12, input_range_mv=100.0,
                 bin_shift=2.25),
        photon(1, 532, "s", laser=1, shots=1000, level=12, damping_high=True),
        analogue(2, 1064, "o", laser=2, shots=998, adc_bits=16, input_range_mv=20.0,
                 bin_width_m=3.75, bin_shift=3.5),
        photon(3, 607, "o", laser=3, shots=500, level=40, bin_width_m=15.0),
    ]
    circular = [
        analogue(0, 355, "r", bins=4000, shots=3000, adc_bits=12, input_range_mv=100.0,
                 bin_width_m=15.0),
        photon(0, 355, "l", bins=4000, shots=3000, level=63, bin_width_m=15.0),
        analogue(5, 387, "o", laser=2, bins=3000, shots=2990, adc_bits=16,
                 input_range_mv=20.0),
        photon(5, 387, "o", laser=2, bins=3000, shots=2990, level=2),
    ]
    hex_recorder = [analogue(10, 532, "p", bins=500), photon(10, 532, "p", bins=500),
                    analogue(11, 1064, bins=500)]
    return [
        Sample("mixed", [make_record(mixed, site="Obs.Lab_1", seed=1, azimuth=123.4)]),
        Sample(
            "circular_two_records",
            [make_record(circular, site="Lille_FR", seed=s, start=START + timedelta(seconds=60 * s),
                         azimuth=0.0) for s in (2, 3)],
            records_per_file=2,
        ),
        Sample("controller_timestamp",
               [make_record(mixed[:2], site="Ts", seed=4, timestamp_ms=4_123_456_789)],
               controller_timestamp=True, refused_by=("linc",)),
        Sample("recorder_10", [make_record(hex_recorder, site="Hex", seed=5)],
               refused_by=("licelformat",)),
        # what acquire writes for the README's example configuration
        Sample("examples_acquis_ini", acquired_records(ROOT / "examples" / "Acquis.ini", 300, 1)),
        # a blank inside the site is written as "_", which every reader accepts
        Sample("site_with_space", [make_record(mixed[:2], site="Mt Abu", seed=6)]),
        # documented limits (docs/READERS.md)
        Sample("two_memories_one_recorder",
               [make_record([analogue(0, 532, "p", laser=1, bins=300),
                             analogue(0, 532, "p", laser=2, bins=300, shots=990)], seed=7)],
               refused_by=("al_v1",), merged_by=("linc",)),
        Sample("no_azimuth", [make_record(mixed[:2], site="Old", seed=8, azimuth=None)],
               refused_by=("al_v2",)),
    ]


@pytest.fixture(scope="module")
def readers_python() -> Path:
    try:
        return interop_venv.ensure_venv()
    except interop_venv.InteropVenvError as exc:
        need(False, f"public Licel readers unavailable: {exc}")
        raise AssertionError("unreachable") from exc


@pytest.fixture(scope="module")
def read_back(readers_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Write every sample with RecordWriter and run all readers once on all files."""
    base = tmp_path_factory.mktemp("interop")
    files: dict[str, tuple[Sample, Path]] = {}
    for sample in samples():
        with RecordWriter(base / sample.name, "b", records_per_file=sample.records_per_file,
                          controller_timestamp=sample.controller_timestamp) as writer:
            for record in sample.records:
                writer.write(record)
        assert len(writer.files) == 1
        files[sample.name] = (sample, writer.files[0])
    out = base / "out"
    proc = subprocess.run(
        [str(readers_python), str(ROOT / "tools" / "interop_readers.py"), str(out),
         *(str(p) for _, p in files.values())],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    loaded = {}
    for name, (sample, path) in files.items():
        entry = result[str(path)]
        arrays = {}
        for reader in ("al_v1", "al_v2", "licelformat", "linc"):
            npz = out / f"{entry['index']}_{reader}.npz"
            if npz.exists():
                with np.load(npz) as data:
                    arrays[reader] = dict(data)
        loaded[name] = (sample, entry, arrays)
    return loaded


SAMPLE_NAMES = [s.name for s in samples()]
READERS = ("al_v1", "al_v2", "licelformat", "linc")


def range_v(ds: DatasetHeader) -> float:
    """The analogue input range as written, in V."""
    return float(f"{ds.input_range_mv / 1000:.3f}")


def discr_mv(ds: DatasetHeader) -> float:
    return float(f"{ds.discriminator_mv:6.4f}")


def expected_header(record: Record) -> dict:
    h = record.header
    return {
        "site": site_field(h.site).strip(),
        "start": h.start.isoformat(),
        "stop": h.stop.isoformat(),
        "altitude": h.altitude_m,
        "longitude": h.longitude,
        "latitude": h.latitude,
        "zenith": h.zenith,
        "laser_shots": list(h.laser_shots),
        "laser_rates": list(h.laser_rates_hz),
        "datasets": len(h.datasets),
    }


@pytest.mark.parametrize("sample_name", SAMPLE_NAMES)
@pytest.mark.parametrize("reader", READERS)
def test_reader_sees_what_was_written(read_back: dict, sample_name: str, reader: str) -> None:
    sample, entry, arrays = read_back[sample_name]
    got = entry[reader]
    if reader in sample.refused_by:
        assert "error" in got, f"{reader} was expected to refuse {sample_name} (docs/READERS.md)"
        return
    assert "error" not in got, f"{reader} failed on {sample_name}: {got.get('traceback')}"
    record = sample.records[0]  # every reader reads only the first record of a file
    if reader in sample.merged_by:
        check_merged(got, record, arrays[reader])
        return
    header = got["header"]
    want = expected_header(record)
    if reader == "al_v1":  # LicelFile reads only lasers 1 and 2 of line 3
        want["laser_shots"][2] = want["laser_rates"][2] = 0
    assert {k: header[k] for k in want} == want
    if reader in ("al_v2", "linc"):
        assert header["azimuth"] == record.header.azimuth
    if reader == "al_v2":
        expected_ts = str(record.header.timestamp_ms) if sample.controller_timestamp else None
        assert header["controller_timestamp"] == expected_ts
    channels = list(got["channels"].items())
    assert len(channels) == len(record.header.datasets)
    for (key, meta), ds, values in zip(channels, record.header.datasets, record.data):
        check_channel(reader, key, meta, ds, np.asarray(values), arrays[reader])


def check_channel(reader: str, key: str, meta: dict, ds: DatasetHeader, values: np.ndarray,
                  arrays: dict) -> None:
    where = f"{reader} {key}"
    raw = values.astype(np.int64)
    shots = float(ds.shots)
    bits = ds.adc_bits
    common = {"id": ds.device_id, "laser": ds.laser, "bins": ds.bins, "shots": ds.shots,
              "hv": ds.pmt_voltage, "bin_width": float(f"{ds.bin_width_m:.2f}")}
    assert {k: meta[k] for k in common} == common, where
    if reader in ("al_v1", "al_v2"):
        assert key == (ds.device_id if reader == "al_v1"
                       else f"{ds.device_id}_L{ds.laser}_P1"), where
        assert meta["wavelength"] == ds.wavelength_nm
        assert meta["wavelength_str"] == f"{ds.wavelength_nm:05d}.{ds.polarisation}"
        assert meta["analogue"] == ds.analogue
        assert meta["adc_bits"] == (bits if ds.analogue else 0)
        if reader == "al_v2":
            thousandths = round(ds.bin_shift * 1000)
            assert (meta["bin_shift"], meta["bin_shift_decimal_places"]) == (
                f"{thousandths // 1000:02d}", f"{thousandths % 1000:03d}")
            assert meta["laser_polarization"] == 1
        np.testing.assert_array_equal(arrays[f"{key}_raw"], raw, err_msg=where)
        if ds.analogue:
            assert meta["discriminator"] == range_v(ds) * 1000
            phys = raw / shots * (range_v(ds) * 1000) / (2**bits - 1)
        else:
            assert meta["discriminator"] == discr_mv(ds)
            phys = raw / shots * shots
    elif reader == "licelformat":
        assert meta["photon"] == (not ds.analogue)
        assert (meta["wavelength"], meta["polarisation"]) == (ds.wavelength_nm, ds.polarisation)
        thousandths = round(ds.bin_shift * 1000) if ds.analogue else 0
        assert (meta["bin_shift"], meta["bin_shift_thousandths"]) == divmod(thousandths, 1000)
        assert meta["adc_bits"] == (bits if ds.analogue else 0)
        if ds.analogue:
            assert meta["discriminator"] == range_v(ds)
            phys = raw.astype(np.float64) * (range_v(ds) * 1000.0 / float((1 << bits) * shots))
        else:
            assert meta["discriminator"] == discr_mv(ds)
            phys = raw.astype(np.float64) * (1.0 / (shots * 0.05))
    else:  # linc
        assert meta["type"] == ("BT" if ds.analogue else "BC")
        assert (meta["wavelength"], meta["polarisation"]) == (ds.wavelength_nm, ds.polarisation)
        assert meta["adc_bits"] == (bits if ds.analogue else 0)
        unsigned = values.astype(np.int32).view(np.uint32).astype(np.float64)  # linc reads uint32
        np.testing.assert_array_equal(arrays[f"{key}_raw"], unsigned, err_msg=where)
        if ds.analogue:
            assert meta["discriminator"] == range_v(ds)
            phys = unsigned * (1000 * range_v(ds) / (shots * (2**bits - 1)))
        else:
            assert meta["discriminator"] == discr_mv(ds)
            phys = unsigned * 20 / shots
    got_phys = arrays[f"{key}_phys"]
    assert got_phys.shape == (ds.bins,), where
    np.testing.assert_allclose(got_phys, phys, rtol=1e-12, atol=0, err_msg=where)


def check_merged(got: dict, record: Record, arrays: dict) -> None:
    """linc keys its data by device id: datasets sharing one id end up as one column
    holding the last dataset's values."""
    ids = [ds.device_id for ds in record.header.datasets]
    assert len(set(ids)) < len(ids)
    assert got["header"]["columns"] == list(dict.fromkeys(ids))
    last = np.asarray(record.data[-1]).astype(np.float64)
    for key in got["channels"]:
        np.testing.assert_array_equal(arrays[f"{key}_raw"], last)


def test_samples_cover_the_required_configurations() -> None:
    all_ds = [ds for s in samples() for r in s.records for ds in r.header.datasets]
    assert {ds.analogue for ds in all_ds} == {True, False}
    assert {ds.laser for ds in all_ds} == {1, 2, 3}
    assert {ds.polarisation for ds in all_ds} == set("opsrl")
    assert {ds.adc_bits for ds in all_ds if ds.analogue} == {12, 16}
    assert 16380 in {ds.bins for ds in all_ds}
    assert any("." in s.records[0].header.site and "_" in s.records[0].header.site
               for s in samples())


def test_example_configuration_hits_no_reader_limit():
    """The README's configuration is one every reader takes (see the sample above)."""
    assert reader_limits(load_config(ROOT / "examples" / "Acquis.ini")) == []

"""Read Licel files with the public readers and dump what each one sees.

Runs inside the interop venv (see ``tools/interop_venv.py``), never in the
project's environment: the readers' pins clash with ours.

    python tools/interop_readers.py --check
    python tools/interop_readers.py OUTDIR FILE [FILE ...]

For every FILE and every reader (``al_v1`` = atmospheric_lidar.licel.LicelFile
with device ids as channel names, ``al_v2`` = atmospheric_lidar.licelv2.LicelFileV2,
``licelformat``, ``linc``) it records the header values and, per channel, the
metadata, the raw int values and the reader's physical values. Metadata go to
OUTDIR/result.json, arrays to OUTDIR/<file index>_<reader>.npz (keys
``<channel>_raw`` / ``<channel>_phys``). A reader that fails on a file gets
``{"error": "<type>: <message>"}`` instead. Exit status 0 unless a reader
cannot be imported at all.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
import traceback
import types
from datetime import datetime
from pathlib import Path

import numpy as np

READERS = ("al_v1", "al_v2", "licelformat", "linc")


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat()


def load_licelformat_module() -> types.ModuleType:
    """``licelformat.licelfile`` without running the package ``__init__``.

    licelformat 1.6.0's ``__init__`` imports licelpack, which fails on Python
    3.11 (an annotation names a class before it exists). The reader itself is
    fine: register a bare package object, then import the submodule.
    """
    if "licelformat.licelfile" in sys.modules:
        return sys.modules["licelformat.licelfile"]
    spec = importlib.util.find_spec("licelformat")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("licelformat is not installed")
    package = types.ModuleType("licelformat")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["licelformat"] = package
    path = Path(package.__path__[0]) / "licelfile.py"
    sub_spec = importlib.util.spec_from_file_location("licelformat.licelfile", path)
    assert sub_spec is not None and sub_spec.loader is not None
    module = importlib.util.module_from_spec(sub_spec)
    sys.modules["licelformat.licelfile"] = module
    sub_spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- readers


def read_al(path: Path, v2: bool) -> tuple[dict, dict]:
    if v2:
        from atmospheric_lidar.licelv2 import LicelFileV2

        f = LicelFileV2(str(path))
    else:
        from atmospheric_lidar.licel import LicelFile

        f = LicelFile(str(path), use_id_as_name=True)
    header = {
        "site": f.site,
        "start": _iso(f.start_time),
        "stop": _iso(f.stop_time),
        "altitude": f.altitude,
        "longitude": f.longitude,
        "latitude": f.latitude,
        "zenith": f.zenith_angle,
        "laser_shots": [int(f.raw_info["LS1"]), int(f.raw_info["LS2"]),
                        int(f.raw_info.get("LS3", 0))],
        "laser_rates": [int(f.raw_info["rate_1"]), int(f.raw_info["rate_2"]),
                        int(f.raw_info.get("rate_3", 0))],
        "datasets": f.number_of_datasets,
    }
    if v2:
        header["azimuth"] = f.azimuth_angle
        header["controller_timestamp"] = getattr(f, "controller_timestamp", None)
    channels, arrays = {}, {}
    for key, ch in f.channels.items():
        meta = {
            "id": ch.id,
            "wavelength": ch.wavelength,
            "wavelength_str": ch.wavelength_str,
            "analogue": ch.is_analog,
            "laser": ch.laser_used,
            "bins": ch.data_points,
            "shots": ch.number_of_shots,
            "bin_width": ch.bin_width,
            "hv": ch.hv,
            "adc_bits": ch.adcbits,
            "discriminator": ch.discriminator,
        }
        if v2:
            meta["bin_shift"] = ch.bin_shift
            meta["bin_shift_decimal_places"] = ch.bin_shift_decimal_places
            meta["laser_polarization"] = ch.laser_polarization_int
        channels[str(key)] = meta
        arrays[f"{key}_raw"] = np.asarray(ch.raw_data)
        arrays[f"{key}_phys"] = np.asarray(ch.data, dtype=np.float64)
    return {"header": header, "channels": channels}, arrays


def read_licelformat(path: Path) -> tuple[dict, dict]:
    module = load_licelformat_module()
    f = module.LoadLicelFile(str(path))
    header = {
        "site": f.MeasurementSite,
        "start": _iso(f.MeasurementStartTime),
        "stop": _iso(f.MeasurementStopTime),
        "altitude": f.AltitudeAboveSeaLevel,
        "longitude": f.Longitude,
        "latitude": f.Latitude,
        "zenith": f.Zenith,
        "laser_shots": [f.Laser1NShots, f.Laser2NShots, f.Laser3NShots],
        "laser_rates": [f.Laser1Freq, f.Laser2Freq, f.Laser3Freq],
        "datasets": f.NDatasets,
    }
    channels, arrays = {}, {}
    for index, p in enumerate(f.Profiles):
        key = f"{index}_{p.DeviceID}{p.NCrate}"
        channels[key] = {
            "id": f"{p.DeviceID}{p.NCrate:X}",
            "photon": p.Photon,
            "laser": p.LaserType,
            "bins": p.NDataPoints,
            "hv": p.HighVoltage,
            "bin_width": p.BinWidth,
            "wavelength": p.Wavelength,
            "polarisation": p.Polarization,
            "bin_shift": p.BinShift,
            "bin_shift_thousandths": p.DecBinShift,
            "adc_bits": p.AdcBits,
            "shots": p.NShots,
            "discriminator": p.DiscrLevel,
        }
        arrays[f"{key}_phys"] = np.asarray(p.Data, dtype=np.float64)
    return {"header": header, "channels": channels}, arrays


def read_linc(path: Path) -> tuple[dict, dict]:
    from linc.config.models import Config, LidarChannel, LidarConfig, Options
    from linc.parse.dataset import parse_dataset
    from linc.parse.file import read_file_header_dataset
    from linc.parse.header import parse_header
    from linc.reader import read_file
    from linc.utils import device_id_to_str

    head, data = read_file_header_dataset(path)
    header_model = parse_header(head.split(b"\r\n"))
    raw = parse_dataset(data, header=header_model)
    ids = list(dict.fromkeys(device_id_to_str(c.device_id) for c in header_model.channels))
    first = header_model.channels[0]
    config = Config(
        lidar=LidarConfig(bin_width=first.binwidth, bin_count=first.bins,
                          channels=[LidarChannel(name=i, link_to=i) for i in ids]),
        options=Options(),
    )
    physical = read_file(path, config).dataset
    header = {
        "site": header_model.location,
        "start": _iso(header_model.start_date),
        "stop": _iso(header_model.stop_date),
        "altitude": header_model.altitude,
        "longitude": header_model.longitude,
        "latitude": header_model.latitude,
        "zenith": header_model.zenith_angle,
        "azimuth": header_model.azimuth_angle,
        "laser_shots": [laser.shots for laser in header_model.lasers],
        "laser_rates": [laser.frecuency for laser in header_model.lasers],
        "datasets": header_model.n_datasets,
        "columns": [str(c) for c in raw.columns],
    }
    channels, arrays = {}, {}
    for index, c in enumerate(header_model.channels):
        cid = device_id_to_str(c.device_id)
        key = f"{index}_{cid}"
        channels[key] = {
            "id": cid,
            "type": c.device_id.type.value,
            "laser": c.laser,
            "bins": c.bins,
            "laser_polarization": c.laser_polarization.value,
            "hv": c.ptm_voltage,
            "bin_width": c.binwidth,
            "wavelength": c.wavelength,
            "polarisation": c.polarization.value,
            "adc_bits": c.adc_bits,
            "shots": c.shots,
            "discriminator": c.dc_dr,
        }
        arrays[f"{key}_raw"] = raw[cid].to_numpy(dtype=np.float64)[: c.bins]
        arrays[f"{key}_phys"] = physical[cid].to_numpy(dtype=np.float64)[: c.bins]
    return {"header": header, "channels": channels}, arrays


READ = {
    "al_v1": lambda p: read_al(p, v2=False),
    "al_v2": lambda p: read_al(p, v2=True),
    "licelformat": read_licelformat,
    "linc": read_linc,
}


def check() -> int:
    """Import every reader; print versions; non-zero exit if one is missing."""
    from importlib.metadata import version

    problems = []
    for dist, load in (
        ("atmospheric-lidar", lambda: importlib.import_module("atmospheric_lidar.licelv2")),
        ("licelformat", load_licelformat_module),
        ("linc", lambda: importlib.import_module("linc.reader")),
    ):
        try:
            load()
            print(f"{dist} {version(dist)}")
        except Exception as exc:  # noqa: BLE001 - report every failure
            problems.append(f"{dist}: {type(exc).__name__}: {exc}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR)
    if argv[:1] == ["--check"]:
        return check()
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {}
    for index, name in enumerate(argv[1:]):
        path = Path(name)
        per_file = result.setdefault(str(path), {"index": index})
        for reader in READERS:
            try:
                meta, arrays = READ[reader](path)
            except Exception as exc:  # noqa: BLE001 - a failing reader is a result
                per_file[reader] = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=3),
                }
                continue
            np.savez(out_dir / f"{index}_{reader}.npz", **arrays)
            per_file[reader] = meta
    (out_dir / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``licelpush export scc`` against ``licel2scc`` (atmospheric-lidar) on the same files.

``tests/data/acquis/station.ini`` (one recorder, analogue and photon
counting of 355 nm, 16000 bins) is acquired in real time with the built-in
emulator, a measurement and a dark run. ``licel2scc`` runs in the public
readers' environment (tools/interop_venv.py). Both SCC files must have the
same dimensions, variables and values, with the exceptions documented in
README "Data products":

- stop times (``Raw_Data_Stop_Time``, ``Raw_Bck_Stop_Time``,
  ``RawData_Stop_Time_UT``, ``RawBck_Stop_Time_UT``): licel2scc derives them
  from the spacing of the start times, licelpush takes the stop times in the
  Licel headers;
- licelpush also writes the ``Location`` attribute (the site of the files);
- channel order: licelpush follows the channel map, licel2scc the order of a
  Python set (it changes from run to run); channels are matched by
  ``channel_ID``;
- analogue values: both write the mean signal per shot in mV, licel2scc
  dividing by 2**bits - 1 where licelpush (licelpush.physical, PROTOCOL.md
  §4) divides by 2**bits: licel2scc's are larger by 2**bits / (2**bits - 1).
  Photon counts are equal.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from licelpush import cli
from licelpush.licelfile import read_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import interop_venv  # noqa: E402

STATION = ROOT / "tests" / "data" / "acquis" / "station.ini"
MEASUREMENT_ID = "20261130lei01"
PARAMETERS = """\
general_parameters = {"System": "station", "Laser_Pointing_Angle": 0, "Molecular_Calc": 0,
                      "Call sign": "lei"}
channel_parameters = {"00355.o_an": {"channel_ID": 1001}, "00355.o_ph": {"channel_ID": 1002}}
"""
CHANNEL_MAP = """\
system = "station"
[[channel]]
recorder = 0
memory = "A"
mode = "analogue"
scc_id = 1001
[[channel]]
recorder = 0
memory = "A"
mode = "pc"
scc_id = 1002
"""
STOP_TIMES = {"Raw_Data_Stop_Time", "Raw_Bck_Stop_Time"}


def acquire(output: Path, count: int) -> None:
    status = cli.main(["acquire", "--emulator", "--emulator-speed", "1", "--config",
                       str(STATION), "--acq", str(count), "--shots", "40", "--output",
                       str(output), "-q"])
    assert status == 0


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    try:
        python = interop_venv.ensure_venv()
    except interop_venv.InteropVenvError as exc:
        pytest.fail(f"public Licel readers unavailable: {exc}")
    base = tmp_path_factory.mktemp("licel2scc")
    data = base / "data"
    acquire(data, 4)
    acquire(data / "dark", 2)
    (base / "station_scc.py").write_text(PARAMETERS)
    script = ("import sys; from atmospheric_lidar.scripts.licel2scc import main; "
              "sys.argv[0] = 'licel2scc'; main()")
    proc = subprocess.run(
        [str(python), "-c", script, "station_scc.py", str(data / "b*"), "-m", MEASUREMENT_ID,
         "-t", "7", "-p", "1005", "-D", str(data / "dark" / "b*")],
        cwd=base, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    (base / "map.toml").write_text(CHANNEL_MAP)
    ours = base / "ours.nc"
    assert cli.main(["export", "scc", str(data), "--channels", str(base / "map.toml"),
                     "--measurement-id", MEASUREMENT_ID, "-o", str(ours), "--pressure", "1005",
                     "--temperature", "7", "--dark", str(data / "dark")]) == 0
    return base / f"{MEASUREMENT_ID}.nc", ours, data


def test_same_dimensions_and_variables(both) -> None:
    theirs, ours, _ = both
    with netCDF4.Dataset(theirs) as a, netCDF4.Dataset(ours) as b:
        assert {d: len(v) for d, v in a.dimensions.items()} == {
            d: len(v) for d, v in b.dimensions.items()}
        assert set(a.variables) == set(b.variables)
        for name, var in a.variables.items():
            assert (var.dimensions, var.dtype) == (b[name].dimensions, b[name].dtype), name
        assert len(a.dimensions["time"]) == 4 and len(a.dimensions["time_bck"]) == 2


def test_same_global_attributes_except_stop_times(both) -> None:
    theirs, ours, _ = both
    with netCDF4.Dataset(theirs) as a, netCDF4.Dataset(ours) as b:
        mine, other = b.__dict__, a.__dict__
    documented = {"RawData_Stop_Time_UT", "RawBck_Stop_Time_UT"}
    assert set(mine) - set(other) == {"Location"}
    assert set(other) <= set(mine)
    for key, value in other.items():
        if key not in documented:
            assert mine[key] == value, key


def test_same_values_except_stop_times(both) -> None:
    theirs, ours, data = both
    (analogue, _) = read_records(next(data.glob("b*")))[0].header.datasets
    bits = analogue.adc_bits
    with netCDF4.Dataset(theirs) as a, netCDF4.Dataset(ours) as b:
        ids = list(b["channel_ID"][:])
        assert ids == [1001, 1002]  # the map's order: analogue, then photon counting
        order = [ids.index(i) for i in a["channel_ID"][:]]  # ours in their order
        for name in a.variables:
            if name in STOP_TIMES:
                continue
            x, y = a[name][...], b[name][...]
            if "channels" in b[name].dimensions:
                y = np.ma.take(y, order, axis=b[name].dimensions.index("channels"))
            if name in ("Raw_Lidar_Data", "Background_Profile"):
                analogue_index = order.index(0)
                y[:, analogue_index, :] *= 2**bits / (2**bits - 1)
            if x.dtype.kind == "f":
                np.testing.assert_allclose(np.ma.filled(y, np.nan), np.ma.filled(x, np.nan),
                                           rtol=1e-12, atol=0, err_msg=name)
            else:
                np.testing.assert_array_equal(y, x, err_msg=name)
        # the raw data are not trivially equal: photon counts are the file's sums
        assert a["Raw_Lidar_Data"][:, 1, :].max() > 0


def test_stop_times_are_the_header_stop_times(both) -> None:
    _, ours, data = both
    headers = [read_records(p)[0].header for p in sorted(data.glob("b*"))]
    t0 = headers[0].start
    with netCDF4.Dataset(ours) as b:
        assert list(b["Raw_Data_Stop_Time"][:, 0]) == [
            round((h.stop - t0).total_seconds()) for h in headers]
        assert b.RawData_Stop_Time_UT == max(h.stop for h in headers).strftime("%H%M%S")
        assert datetime.strptime(b.RawData_Start_Time_UT, "%H%M%S").time() == t0.time()

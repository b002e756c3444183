"""``licelpush export netcdf`` and ``export scc``: CF netCDF and SCC raw-data files."""

from __future__ import annotations

import json
import sys
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

import netCDF4
import numpy as np
import pytest
from licel_samples import analogue, make_record, photon

from licelpush import cli
from licelpush.cfnetcdf import CfWriter
from licelpush.channelkey import ChannelKey, channel_keys, memories_of
from licelpush.config import load_config
from licelpush.datafiles import RecordStream, find_licel_files
from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
from licelpush.filewriter import RecordWriter
from licelpush.licelfile import Record, read_records
from licelpush.physical import dataset_signal
from licelpush.sccmap import load_channel_map, parse_channel_map

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 30, 18, 0, 0)

# two recorders with the same wavelength, two memories of recorder 0, two bin widths
DATASETS = [
    analogue(0, 532, "p", bins=600, laser=1),             # TR0 A analogue
    photon(0, 532, "p", bins=600, laser=1),               # TR0 A pc
    analogue(0, 1064, "o", bins=400, laser=2, adc_bits=16, input_range_mv=20.0),  # TR0 B
    analogue(1, 532, "p", bins=500, bin_width_m=3.75, input_range_mv=100.0),      # TR1 A
    photon(1, 532, "p", bins=500, bin_width_m=3.75, level=20, damping_high=True),  # TR1 A
]
KEYS = [ChannelKey(0, "A", True), ChannelKey(0, "A", False), ChannelKey(0, "B", True),
        ChannelKey(1, "A", True), ChannelKey(1, "A", False)]

MAP = """
molecular_calc = 0
system = "test lidar"
[[channel]]
recorder = 1
memory = "A"
mode = "analogue"
scc_id = 11
[[channel]]
recorder = 0
memory = "A"
mode = "analogue"
scc_id = 10
[[channel]]
recorder = 0
memory = "B"
mode = "analogue"
scc_id = 12
[[channel]]
recorder = 1
memory = "A"
mode = "pc"
scc_id = 13
"""


def records(count: int, start: datetime = START, seed: int = 0,
            datasets: list | None = None) -> list[Record]:
    return [make_record(datasets or DATASETS, start=start + timedelta(seconds=30 * i),
                        seed=seed + i, duration_s=30, site="Leipzig") for i in range(count)]


def write_day(directory: Path, recs: list[Record], per_file: int = 1) -> list[Path]:
    with RecordWriter(directory, "b", records_per_file=per_file, sync_interval=0) as writer:
        for record in recs:
            writer.write(record)
    return writer.files


@pytest.fixture
def station(tmp_path: Path) -> tuple[Path, list[Record], list[Record]]:
    """A station output: day folders, a journal, a dark/ folder and an unrelated file."""
    out = tmp_path / "data"
    day1, day2 = records(3), records(2, start=START + timedelta(hours=7), seed=10)
    files = write_day(out / "2026" / "11" / "30", day1 + day2[:1])
    write_day(out / "2026" / "12" / "01", day2[1:])
    dark = records(2, start=START - timedelta(minutes=10), seed=50)
    write_day(out / "2026" / "11" / "30" / "dark", dark)
    (out / "notes.txt").write_text("not a Licel file")
    journal = [{"event": "start", "run": "r1"}] + [
        {"event": "acquisition", "file": f.name, "record": 0, "crc32": 1000 + n,
         "connection": 1, "clipped": [0, 0, 3, 0, 0] if n == 1 else None}
        for n, f in enumerate(files)]
    (out / "journal-r1.jsonl").write_text(
        "\n".join(json.dumps({k: v for k, v in e.items() if v is not None}) for e in journal))
    return out, day1 + day2, dark


def export(*argv: str) -> int:
    return cli.main(["export", *argv])


# --------------------------------------------------------------------------- inputs


def test_walk_finds_licel_files_in_day_folders_and_skips_dark(station) -> None:
    out, recs, dark = station
    files = find_licel_files([out])
    assert len(files) == len(recs)
    assert all("dark" not in f.parts for f in files)
    starts = [read_records(f)[0].header.start for f in files]
    assert starts == sorted(starts)
    assert len(find_licel_files([out / "2026" / "11" / "30" / "dark"], skip_dark=False)) == 2
    with pytest.raises(Exception, match="no such file"):
        find_licel_files([out / "missing"])


def test_channel_keys_from_order_and_from_configuration() -> None:
    assert channel_keys(DATASETS) == KEYS
    config = load_config(ROOT / "examples" / "Acquis.ini")
    memories = memories_of(config)
    assert memories[(0, True)] == ("A",) and memories[(1, False)] == ("A",)
    # with memories A and C enabled, the second dataset of a recorder is memory C
    assert channel_keys(DATASETS[:3], {(0, True): ("A", "C"), (0, False): ("A",)}) == [
        ChannelKey(0, "A", True), ChannelKey(0, "A", False), ChannelKey(0, "C", True)]
    assert channel_keys(DATASETS[:3], {(0, True): ("A",), (0, False): ("A",)})[2] is None


# --------------------------------------------------------------------------- channel map


def test_example_channel_map_matches_the_example_configuration() -> None:
    channel_map = load_channel_map(ROOT / "examples" / "scc-channels.toml")
    config = load_config(ROOT / "examples" / "Acquis.ini")
    memories = memories_of(config)
    for key, _ in channel_map.channels:
        assert key.memory in memories[(key.recorder, key.analogue)], key.label
    assert len({scc_id for _, scc_id in channel_map.channels}) == len(channel_map.channels)


@pytest.mark.parametrize("text, message", [
    ("[[channel]]\nrecorder = 0\nmemory = 'A'\nmode = 'pc'\nscc_id = 1\n" * 2,
     "TR0 memory A PC is mapped twice"),
    ("[[channel]]\nrecorder = 0\nmemory = 'A'\nmode = 'pc'\nscc_id = 1\n"
     "[[channel]]\nrecorder = 1\nmemory = 'A'\nmode = 'pc'\nscc_id = 1\n",
     "scc_id 1 is already used"),
    ("[[channel]]\nrecorder = 0\nmemory = 'E'\nmode = 'pc'\nscc_id = 1\n", "memory = 'E'"),
    ("[[channel]]\nrecorder = 0\nmemory = 'A'\nmode = 'x'\nscc_id = 1\n", "mode = 'x'"),
    ("[[channel]]\nrecorder = 16\nmemory = 'A'\nmode = 'pc'\nscc_id = 1\n", "recorder = 16"),
    ("[[channel]]\nrecorder = 0\nmemory = 'A'\n", "missing mode, scc_id"),
    ("[[channel]]\nrecorder = 0\nmemory = 'A'\nmode = 'pc'\nscc_id = 1\nwave = 3\n",
     "unknown key 'wave'"),
    ("molecular_calc = 2\n", "no [[channel]] tables"),
    ("[[channel]\n", "not valid TOML"),
])
def test_channel_map_errors(text: str, message: str) -> None:
    with pytest.raises(Exception) as info:
        parse_channel_map(text, "map.toml")
    assert message in str(info.value)
    assert "map.toml" in str(info.value)


# --------------------------------------------------------------------------- SCC


def test_scc_two_recorders_same_wavelength(station, tmp_path: Path) -> None:
    out, recs, dark = station
    (tmp_path / "map.toml").write_text(MAP)
    target = tmp_path / "20261130lei01.nc"
    assert export("scc", str(out), "--channels", str(tmp_path / "map.toml"),
                  "--measurement-id", "20261130lei01", "-o", str(target),
                  "--to", "2026-11-30T19:00:00Z", "--pressure", "1005.5", "--temperature", "7",
                  "--dark", str(out / "2026" / "11" / "30" / "dark")) == 0
    day = recs[:3]
    with netCDF4.Dataset(target) as nc:
        assert list(nc["channel_ID"][:]) == [11, 10, 12, 13]
        assert {d: len(nc.dimensions[d]) for d in nc.dimensions} == {
            "points": 600, "channels": 4, "time": 3, "nb_of_time_scales": 1,
            "time_bck": 2, "scan_angles": 1}
        assert nc.Measurement_ID == "20261130lei01"
        assert (nc.RawData_Start_Date, nc.RawData_Start_Time_UT, nc.RawData_Stop_Time_UT) == (
            "20261130", "180000", "180130")
        assert (nc.RawBck_Start_Time_UT, nc.RawBck_Stop_Time_UT) == ("175000", "175100")
        assert nc.System == "test lidar" and nc.Location == "Leipzig"
        assert list(nc["Raw_Data_Start_Time"][:, 0]) == [0, 30, 60]
        assert list(nc["Raw_Data_Stop_Time"][:, 0]) == [30, 60, 90]
        assert list(nc["Raw_Bck_Start_Time"][:, 0]) == [0, 30]
        assert float(nc["Pressure_at_Lidar_Station"][...]) == 1005.5
        assert int(nc["Molecular_Calc"][...]) == 0
        daq = nc["DAQ_Range"][:]
        assert list(daq[:3]) == [100.0, 500.0, 20.0] and daq.mask[3]
        order = [3, 0, 2, 4]  # dataset index of each mapped channel
        for t, record in enumerate(day):
            assert list(nc["Laser_Shots"][t]) == [record.header.datasets[i].shots for i in order]
        pc = nc["Raw_Lidar_Data"][:, 3, :]
        np.testing.assert_array_equal(pc[:, :500], [r.data[4] for r in day])
        assert pc.mask[:, 500:].all()
        np.testing.assert_array_equal(nc["Background_Profile"][:, 3, :500],
                                      [r.data[4] for r in dark])


def test_scc_dark_of_the_output_directory_takes_only_its_dark_folders(station,
                                                                      tmp_path: Path) -> None:
    """--dark DIR with the station's output directory: the measurement's files must not
    become background profiles."""
    out, _, dark = station
    (tmp_path / "map.toml").write_text(MAP)
    target = tmp_path / "20261130lei01.nc"
    assert export("scc", str(out), "--channels", str(tmp_path / "map.toml"),
                  "--measurement-id", "20261130lei01", "-o", str(target),
                  "--pressure", "1005.5", "--temperature", "7", "--dark", str(out)) == 0
    with netCDF4.Dataset(target) as nc:
        assert len(nc.dimensions["time_bck"]) == len(dark)
        np.testing.assert_array_equal(nc["Background_Profile"][:, 3, :500],
                                      [r.data[4] for r in dark])


@pytest.mark.parametrize("extra, message", [
    (["--measurement-id", "2026-11-30"], "expected YYYYMMDD"),
    (["--measurement-id", "20261330lei01"], "expected YYYYMMDD"),
    (["--measurement-id", "20261130lei01"], "needs --pressure and --temperature"),
    (["--measurement-id", "20261130lei01", "--pressure", "1000"], "go together"),
])
def test_scc_usage_errors(station, tmp_path: Path, capsys, extra: list[str],
                          message: str) -> None:
    out, _, _ = station
    (tmp_path / "map.toml").write_text(MAP)
    target = tmp_path / "x.nc"
    assert export("scc", str(out), "--channels", str(tmp_path / "map.toml"), "-o", str(target),
                  *extra) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not target.exists() and not Path(str(target) + ".part").exists()


def test_scc_mapped_channel_missing_names_file_and_channel(tmp_path: Path, capsys) -> None:
    write_day(tmp_path / "data", records(2, datasets=DATASETS[:3]))
    (tmp_path / "map.toml").write_text(MAP)
    target = tmp_path / "x.nc"
    assert export("scc", str(tmp_path / "data"), "--channels", str(tmp_path / "map.toml"),
                  "--measurement-id", "20261130lei01", "-o", str(target),
                  "--pressure", "1000", "--temperature", "10") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "TR1 memory A analogue, TR1 memory A PC" in err and "record 0" in err
    assert not target.exists() and not Path(str(target) + ".part").exists()


# --------------------------------------------------------------------------- CF netCDF


def test_cf_netcdf_round_trip(station, tmp_path: Path) -> None:
    out, recs, _ = station
    target = tmp_path / "day.nc"
    assert export("netcdf", str(out), "-o", str(target)) == 0
    with netCDF4.Dataset(target) as nc:
        assert nc.Conventions == "CF-1.8"
        assert nc["time"].units == "seconds since 1970-01-01 00:00:00"
        assert len(nc.dimensions["time"]) == len(recs)
        assert len(nc.dimensions["range_7.5m"]) == 600
        assert len(nc.dimensions["range_3.75m"]) == 500
        assert nc["range_3.75m"][2] == 2.5 * 3.75  # centre of bin 2
        assert nc["tr0_A_an_raw"].filters()["blosc"]
        for t, record in enumerate(recs):
            h = record.header
            epoch = datetime(1970, 1, 1)
            assert list(nc["time_bnds"][t]) == [(h.start - epoch).total_seconds(),
                                                (h.stop - epoch).total_seconds()]
            for key, ds, values in zip(KEYS, h.datasets, record.data):
                raw = nc[f"{key.name}_raw"][t]
                np.testing.assert_array_equal(raw[:ds.bins], values)
                assert np.ma.getmaskarray(raw)[ds.bins:].all()
                assert nc[f"{key.name}_shots"][t] == ds.shots
                want, unit = dataset_signal(ds, values)
                np.testing.assert_allclose(nc[key.name][t][:ds.bins], want, rtol=1e-6)
                assert nc[key.name].units == unit
        var = nc["tr0_B_an"]
        assert (var.wavelength_nm, var.memory, var.recorder, var.adc_bits) == (1064, "B", 0, 16)
        assert var.input_range_mV == 20.0 and var.units == "mV"
        assert nc["tr1_A_pc"].units == "MHz" and nc["tr1_A_pc"].discriminator_mV > 0
        assert float(nc["latitude"][...]) == recs[0].header.latitude
        # journal identifiers where the journal names the record
        assert list(nc["crc32"][:3]) == [1000, 1001, 1002]
        assert list(nc["run"][:3]) == ["r1"] * 3
        assert list(nc["tr0_B_an_clipped_bins"][:3]) == [0, 3, 0]
        assert nc["crc32"][:].mask[-1]


def test_day_folder_export_finds_the_journal_of_the_output_directory(
        station, tmp_path: Path, capsys) -> None:
    """A day folder given as PATH lies below the output directory that holds the journal;
    a running acquisition's journal ends in zero bytes of its reserve."""
    out, _, _ = station
    journal = out / "journal-r1.jsonl"
    journal.write_bytes(journal.read_bytes() + b"\n" + bytes(4096))
    target = tmp_path / "day.nc"
    assert export("netcdf", str(out / "2026" / "11" / "30"), "-o", str(target)) == 0
    assert "not JSON" not in capsys.readouterr().err
    with netCDF4.Dataset(target) as nc:
        assert list(nc["crc32"][:]) == [1000, 1001, 1002, 1003]
        assert list(nc["run"][:]) == ["r1"] * 4


def test_cf_netcdf_reads_with_xarray_and_selects_a_period(station, tmp_path: Path) -> None:
    xr = pytest.importorskip("xarray")
    out, recs, _ = station
    target = tmp_path / "part.nc"
    assert export("netcdf", str(out), "-o", str(target), "--from", "2026-11-30T18:00:30",
                  "--to", "2026-11-30T20:00:00+01:00") == 0
    with xr.open_dataset(target) as ds:
        assert [str(t)[:19] for t in ds.time.values] == ["2026-11-30T18:00:30",
                                                         "2026-11-30T18:01:00"]
        np.testing.assert_array_equal(ds["tr1_A_pc_raw"].values[0, :500], recs[1].data[4])
        assert np.isnan(ds["tr1_A_pc_raw"].values[0, 500:]).all()


def test_damaged_file_is_exported_up_to_the_damage(tmp_path: Path, capsys) -> None:
    files = write_day(tmp_path / "data", records(3), per_file=3)
    files[0].write_bytes(files[0].read_bytes()[:-100])
    target = tmp_path / "x.nc"
    assert export("netcdf", str(tmp_path / "data"), "-o", str(target)) == EXIT_DAMAGED_FILE
    with netCDF4.Dataset(target) as nc:
        assert len(nc.dimensions["time"]) == 2
    assert "damaged" in capsys.readouterr().err


def test_files_split_in_place_are_not_exported_twice(tmp_path: Path) -> None:
    """split in place leaves the file of several records and copies of its records 1…:
    each acquisition is exported once, with its journal trace."""
    recs = records(6)
    files = write_day(tmp_path / "data", recs, per_file=3)
    (tmp_path / "data" / "journal-r1.jsonl").write_text("\n".join(json.dumps(
        {"event": "acquisition", "file": f.name, "record": r, "crc32": 10 * n + r})
        for n, f in enumerate(files) for r in range(3)) + "\n")
    assert cli.main(["split", *map(str, files)]) == 0
    assert len(list((tmp_path / "data").glob("b*"))) == 6
    target = tmp_path / "x.nc"
    assert export("netcdf", str(tmp_path / "data"), "-o", str(target)) == 0
    with netCDF4.Dataset(target) as nc:
        assert len(nc.dimensions["time"]) == 6
        assert list(nc["crc32"][:]) == [0, 1, 2, 10, 11, 12]
        np.testing.assert_array_equal(nc["tr0_A_an_raw"][:, :600], [r.data[0] for r in recs])


def test_files_in_local_time_are_named_in_a_warning(tmp_path: Path, capsys) -> None:
    """acquire --local-time: the headers hold local time, which the products take as UTC."""
    files = write_day(tmp_path / "data", records(2))
    lines = [{"event": "start", "run": "r9", "time_zone": "local"}] + [
        {"event": "acquisition", "file": f.name, "record": 0} for f in files]
    (tmp_path / "data" / "journal-r9.jsonl").write_text(
        "\n".join(json.dumps(e) for e in lines) + "\n")
    (tmp_path / "utc").mkdir()
    write_day(tmp_path / "utc", records(1))
    (tmp_path / "utc" / "journal-r8.jsonl").write_text(
        json.dumps({"event": "start", "run": "r8", "time_zone": "UTC"}) + "\n")
    assert export("netcdf", str(tmp_path / "utc"), "-o", str(tmp_path / "u.nc")) == 0
    assert "local time" not in capsys.readouterr().err
    assert export("netcdf", str(tmp_path / "data"), "-o", str(tmp_path / "x.nc")) == 0
    err = capsys.readouterr().err
    assert "run r9 wrote its files in the computer's local time" in err
    assert "--time-zone" in err


def test_missing_netcdf_library_names_the_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    write_day(tmp_path / "data", records(1))
    monkeypatch.setitem(sys.modules, "netCDF4", None)
    assert export("netcdf", str(tmp_path / "data"), "-o", str(tmp_path / "x.nc")) == EXIT_USAGE
    assert "licelpush[netcdf]" in capsys.readouterr().err


def test_cf_writer_memory_does_not_grow_with_the_number_of_records(tmp_path: Path) -> None:
    """Python-side peak memory of 4 blocks and of 24 blocks of records is about the same:
    records are streamed, not collected."""
    ds = [analogue(0, 532, bins=4000), photon(0, 532, bins=4000)]
    one = write_day(tmp_path / "data", records(1, datasets=ds))[0]
    peaks = []
    for count in (4 * 64, 24 * 64):
        stream = RecordStream([one] * count)
        tracemalloc.start()
        with CfWriter(tmp_path / f"{count}.nc") as writer:
            writer.write_all(stream)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    data_bytes = 24 * 64 * 2 * 4000 * 4
    assert peaks[1] < 1.5 * peaks[0] + 1_000_000, peaks
    assert peaks[1] < data_bytes / 4, (peaks, data_bytes)


def test_incompressible_data_falls_back_to_zstd(tmp_path: Path, capsys) -> None:
    """The blosc filter refuses chunks it cannot compress: auto writes again with zstd,
    an explicit blosc_lz4 is an output error naming the way out."""
    rng = np.random.default_rng(9)
    noise = [Record(r.header, tuple(rng.integers(-2**31, 2**31 - 1, ds.bins, dtype=np.int64)
                                    .astype(np.int32) for ds in r.header.datasets))
             for r in records(64)]
    write_day(tmp_path / "data", noise)
    target = tmp_path / "x.nc"
    assert export("netcdf", str(tmp_path / "data"), "-o", str(target)) == 0
    assert "zstd compression" in capsys.readouterr().out
    with netCDF4.Dataset(target) as nc:
        assert nc["tr0_A_an_raw"].filters()["zstd"]
        np.testing.assert_array_equal(nc["tr0_A_an_raw"][1], noise[1].data[0])
    assert export("netcdf", str(tmp_path / "data"), "-o", str(tmp_path / "y.nc"),
                  "--compression", "blosc_lz4") == 5
    assert "--compression zstd" in capsys.readouterr().err
    assert not (tmp_path / "y.nc").exists() and not (tmp_path / "y.nc.part").exists()


def test_example_channel_map_exports_the_example_station(tmp_path: Path) -> None:
    from test_interop import acquired_records

    recs = acquired_records(ROOT / "examples" / "Acquis.ini", 50, 3)
    write_day(tmp_path / "data", recs)
    target = tmp_path / "20261130lei01.nc"
    assert export("scc", str(tmp_path / "data"), "--channels",
                  str(ROOT / "examples" / "scc-channels.toml"), "--config",
                  str(ROOT / "examples" / "Acquis.ini"), "--measurement-id", "20261130lei01",
                  "--pressure", "1010", "--temperature", "5", "-o", str(target)) == 0
    with netCDF4.Dataset(target) as nc:
        assert list(nc["channel_ID"][:]) == [1001, 1002, 1003, 1004]
        assert nc.Location == "Leipzig" and len(nc.dimensions["time"]) == 3
        pc_tr1 = [i for i, ds in enumerate(recs[0].header.datasets)
                  if ds.device_id == "BC1"][0]
        np.testing.assert_array_equal(nc["Raw_Lidar_Data"][:, 3, :recs[0].header.datasets[
            pc_tr1].bins], [r.data[pc_tr1] for r in recs])


@pytest.mark.parametrize("product", ["netcdf", "scc"])
def test_no_records_in_the_period_is_a_usage_error(station, tmp_path: Path, capsys,
                                                    product: str) -> None:
    out, _, _ = station
    (tmp_path / "map.toml").write_text(MAP)
    extra = (["--channels", str(tmp_path / "map.toml"), "--measurement-id", "20261130lei01",
              "--pressure", "1000", "--temperature", "10"] if product == "scc" else [])
    target = tmp_path / "x.nc"
    assert export(product, str(out), "-o", str(target), "--from", "2027-01-01", *extra) == 2
    assert "no records to export" in capsys.readouterr().err
    assert not target.exists()


def test_scc_refuses_a_change_of_bins(tmp_path: Path, capsys) -> None:
    longer = [analogue(1, 532, "p", bins=700, bin_width_m=3.75, input_range_mv=100.0)]
    write_day(tmp_path / "data", records(1) + records(1, start=START + timedelta(minutes=5),
                                                       datasets=DATASETS[:3] + longer
                                                       + DATASETS[4:]))
    (tmp_path / "map.toml").write_text(MAP)
    assert export("scc", str(tmp_path / "data"), "--channels", str(tmp_path / "map.toml"),
                  "--measurement-id", "20261130lei01", "--pressure", "1000",
                  "--temperature", "10", "-o", str(tmp_path / "x.nc")) == 2
    assert "differ from the first record's" in capsys.readouterr().err

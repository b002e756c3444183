"""Curtains and ``licelpush quicklook`` on data acquired from the station configurations."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon
from stations import STATION_CONFIGS, STATIONS, acquire

from licelpush import cli
from licelpush.config import load_config
from licelpush.curtain import Curtain, row_edges
from licelpush.datafiles import find_data_files, record_seconds, utc_seconds
from licelpush.errors import EXIT_DAMAGED_FILE, EXIT_USAGE
from licelpush.licelfile import encode_record, file_name, read_records
from licelpush.physical import dataset_profile
from licelpush.quicklook import collect, render, visible_cells

pytest.importorskip("matplotlib")  # the [plot] extra is part of [test]
START = datetime(2026, 5, 13, 21, 0, 0)


def test_curtain_averages_rows_keeps_gaps_and_marks_clipping():
    ds = analogue(0, 532, bins=8, shots=1, adc_bits=12, input_range_mv=4096.0,
                  bin_width_m=10.0)
    curtain = Curtain(0.0, 10.0, 4, row_edges(80.0, 2))
    values = np.array([1, 3, 5, 7, 4095, 2, 2, 2], dtype=np.int32)  # 1 count = 1 mV
    assert curtain.add(5.0, dataset_profile(ds, values))
    assert curtain.add(7.0, dataset_profile(ds, values * 0 + 2))
    assert curtain.add(35.0, dataset_profile(ds, values))
    assert not curtain.add(45.0, dataset_profile(ds, values))  # beyond the grid
    image = curtain.image()
    np.testing.assert_allclose(image[0], [(4 + 2) / 2, (1025.25 + 2) / 2])
    assert np.isnan(image[1]).all() and np.isnan(image[2]).all()  # gaps
    np.testing.assert_allclose(image[3], [4, 1025.25])
    assert curtain.clipped()[:, 1].tolist() == [True, False, False, True]
    assert not curtain.clipped()[:, 0].any()
    curtain.advance(55.0)  # rolling: 55 s is now in the last column
    assert curtain.t0 == 20.0
    np.testing.assert_allclose(curtain.image()[1], [4, 1025.25])
    assert curtain.filled_columns().tolist() == [False, True, False, False]


def _files_with_gap(directory: Path) -> None:
    directory.mkdir()
    for i in list(range(10)) + list(range(20, 30)):
        when = START + timedelta(seconds=15 * i)
        record = make_record([analogue(0, 532, "p", bins=2000), photon(0, 532, "p", bins=2000)],
                             start=when, seed=i, duration_s=15)
        (directory / record.header.name).write_bytes(encode_record(record))


def test_collect_leaves_the_gap_empty_and_honours_the_period(tmp_path):
    _files_with_gap(tmp_path / "day")
    look = collect(find_data_files([tmp_path / "day"]))
    assert look.records == 20 and look.site == "Vladivos"
    curtain = next(iter(look.curtains.values()))
    filled = curtain.filled_columns()  # 20 columns of 22.5 s (1.5 records)
    assert curtain.columns == 20 and curtain.column_s == 22.5
    assert filled[:7].all() and filled[13:].all() and not filled[7:13].any()
    part = collect(find_data_files([tmp_path / "day"]), start=START + timedelta(minutes=5),
                   stop=START + timedelta(minutes=6), channels=["532.p:pc"])
    assert part.records == 5 and len(part.curtains) == 1


def _record(i: int, duration_s: int = 30):
    return make_record([analogue(0, 532, "p", bins=500), photon(0, 532, "p", bins=500)],
                       start=START + timedelta(seconds=30 * i), seed=i, duration_s=duration_s)


def test_collect_draws_every_record_of_a_file_of_several_records(tmp_path):
    records = [_record(i) for i in range(10)]  # 5 minutes in one file
    path = tmp_path / records[0].header.name
    path.write_bytes(b"".join(encode_record(r) for r in records))
    look = collect(find_data_files([path]))
    assert look.records == 10
    curtain = next(iter(look.curtains.values()))
    assert curtain.filled_columns().sum() == 7  # 45-s columns over 5 minutes, no gap
    assert curtain.filled_columns().all()


def test_collect_reads_each_record_once_after_split_in_place(tmp_path):
    records = [_record(i) for i in range(4)]
    path = tmp_path / records[0].header.name
    path.write_bytes(b"".join(encode_record(r) for r in records))
    assert cli.main(["split", str(path)]) == 0  # copies of records 1-3 beside the file
    assert len(find_data_files([tmp_path])) == 4
    assert collect(find_data_files([tmp_path])).records == 4


def test_collect_reads_files_whose_names_hold_no_time(tmp_path):
    """Files renamed or named by other software: their records give the times."""
    for i in range(3):
        (tmp_path / f"profile{i}.dat").write_bytes(encode_record(_record(i)))
    look = collect(find_data_files(sorted(tmp_path.iterdir())))
    assert look.records == 3
    assert look.start == START and look.stop == START + timedelta(seconds=90)


def test_record_time_is_the_start_when_the_name_is_the_end_of_the_acquisition():
    """The vendor's software names a file by the end of its acquisition (to the
    centisecond); licelpush by its start."""
    own = _record(0)
    assert record_seconds(own.header) == utc_seconds(START)
    named_late = replace(own.header, name=file_name("b", START + timedelta(seconds=31.86)))
    assert record_seconds(named_late) == utc_seconds(START)
    with_centiseconds = replace(own.header, name=file_name("b", START + timedelta(seconds=0.37)))
    assert record_seconds(with_centiseconds) == utc_seconds(START) + 0.37


def test_visible_cells_widens_marks_to_a_pixel():
    mask = np.zeros((4, 12), dtype=bool)
    mask[1, 5] = True
    out = visible_cells(mask, width_px=4, height_px=4)  # 3 rows per pixel
    assert np.flatnonzero(out[1]).tolist() == [5, 6, 7]
    assert out.sum() == 3
    assert (visible_cells(mask, 100, 100) == mask).all()


@pytest.mark.parametrize("clipped_bin", [110, 140])
def test_a_single_clipped_row_is_magenta_in_the_picture(tmp_path, clipped_bin):
    """400 range rows in a panel of fewer pixels: the clipped row must not be skipped."""
    import matplotlib.image

    for i in range(20):
        record = make_record([analogue(0, 532, "p", bins=4000, shots=10, adc_bits=12)],
                             start=START + timedelta(seconds=30 * i), seed=i, duration_s=30)
        data = np.full(4000, 1000 + i, dtype=np.int32)
        data[clipped_bin] = 10 * 4095  # full scale in every shot
        (tmp_path / record.header.name).write_bytes(encode_record(replace(record, data=(data,))))
    look = collect(find_data_files([tmp_path]))
    assert np.flatnonzero(next(iter(look.curtains.values())).clipped().any(axis=0)).size == 1
    render(look, tmp_path / "look.png")
    pixels = matplotlib.image.imread(tmp_path / "look.png")[:, :, :3]
    magenta = (pixels[:, :, 0] > 0.8) & (pixels[:, :, 1] < 0.3) & (pixels[:, :, 2] > 0.8)
    assert magenta.any(axis=1).sum() >= 1
    assert magenta.any(axis=0).sum() > 500  # across the whole period


@pytest.mark.parametrize("ini", STATION_CONFIGS)
def test_quicklook_of_each_station(tmp_path, ini, capsys):
    data = acquire(ini, tmp_path / "data", 6)
    out = tmp_path / "look.png"
    assert cli.main(["quicklook", str(data), "-o", str(out), "--max-range", "10"]) == 0
    assert "6 records" in capsys.readouterr().out
    import matplotlib.image

    pixels = matplotlib.image.imread(out)
    assert pixels.shape[1] >= 800 and pixels.shape[0] >= 400
    channels = sum(1 for r in load_config(STATIONS / ini).active_recorders
                   for m in r.memories for on in (m.analogue, m.photon_counting) if on)
    first = read_records(find_data_files([data])[0].path)[0]
    assert channels == len(first.header.datasets)
    look = collect(find_data_files([data]))
    assert len(look.curtains) == channels


def test_quicklook_damaged_file_and_bad_arguments(tmp_path, capsys):
    _files_with_gap(tmp_path / "day")
    victim = sorted((tmp_path / "day").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:-100])
    out = tmp_path / "look.png"
    assert cli.main(["quicklook", str(tmp_path / "day"), "-o", str(out)]) == EXIT_DAMAGED_FILE
    assert out.exists() and victim.name in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse refuses a time that is not ISO 8601
        cli.main(["quicklook", str(tmp_path / "day"), "-o", str(out), "--from", "yesterday"])
    assert usage.value.code == EXIT_USAGE
    assert "'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    for bad in (["--channels", "355"], ["--width", "300"], ["--from", "2030-01-01"]):
        assert cli.main(["quicklook", str(tmp_path / "day"), "-o", str(out), *bad]) == EXIT_USAGE
        assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["quicklook", str(tmp_path / "nothing"), "-o", str(out)]) == EXIT_USAGE


def test_missing_plot_extra_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["quicklook", str(tmp_path), "-o", str(tmp_path / "x.png")]) == EXIT_USAGE
    assert "pip install 'licelpush[plot]'" in capsys.readouterr().err

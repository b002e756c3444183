"""Physical units (licelpush.physical) against hand-computed values and atmospheric-lidar."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon
from optional import need

from licelpush.filewriter import RecordWriter
from licelpush.licelfile import Record
from licelpush.physical import (
    Background,
    analogue_millivolts,
    bin_duration_s,
    count_rate_megahertz,
    dataset_profile,
    parse_background,
    range_axis,
    record_profiles,
    saturated_bins,
    select_channels,
)

ROOT = Path(__file__).resolve().parents[1]


def test_analogue_12_bit_by_hand():
    # 1000 shots, mean 2048 counts of 4096 on the 500 mV range: 250 mV;
    # one count per shot: 500/4096 mV = 0.1220703125 mV
    ds = analogue(0, 532, shots=1000, adc_bits=12, input_range_mv=500.0, bins=3)
    profile = dataset_profile(ds, np.array([2_048_000, 1000, 0], dtype=np.int32))
    np.testing.assert_allclose(profile.signal, [250.0, 0.1220703125, 0.0], rtol=1e-15)
    assert profile.unit == "mV"


def test_analogue_16_bit_by_hand():
    # 998 shots all at full scale 65535 on 20 mV: 65535/65536 × 20 = 19.99969482421875 mV
    ds = analogue(2, 1064, shots=998, adc_bits=16, input_range_mv=20.0, bins=2)
    values = np.array([998 * 65535, 998 * 16384], dtype=np.int64)
    np.testing.assert_allclose(analogue_millivolts(values, 998, 20.0, 16),
                               [19.99969482421875, 5.0], rtol=1e-15)
    profile = dataset_profile(ds, values)
    assert profile.clipped.tolist() == [True, False]


def test_photon_counting_by_hand():
    # 5000 counts in 500 shots: 10 per shot per bin; a 7.5 m bin lasts 50 ns -> 200 MHz,
    # a 3.75 m bin 25 ns -> 400 MHz, a 15 m bin 100 ns -> 100 MHz
    assert bin_duration_s(7.5) == pytest.approx(50e-9, rel=1e-15)
    for width, mhz in ((7.5, 200.0), (3.75, 400.0), (15.0, 100.0)):
        got = count_rate_megahertz(np.array([5000, 0]), 500, width)
        np.testing.assert_allclose(got, [mhz, 0.0], rtol=1e-12)
    ds = photon(0, 607, shots=500, bins=2, bin_width_m=15.0)
    profile = dataset_profile(ds, np.array([5000, 50], dtype=np.int32))
    assert profile.unit == "MHz"
    np.testing.assert_allclose(profile.signal, [100.0, 1.0], rtol=1e-12)
    assert not profile.clipped.any()


def test_range_axis_applies_the_analogue_bin_shift():
    np.testing.assert_allclose(range_axis(4, 7.5), [3.75, 11.25, 18.75, 26.25])
    np.testing.assert_allclose(range_axis(4, 7.5, 2.25), [-13.125, -5.625, 1.875, 9.375])
    an = dataset_profile(analogue(0, 532, bins=4, bin_shift=2.25), np.zeros(4, np.int32))
    pc = dataset_profile(photon(0, 532, bins=4), np.zeros(4, np.int32))
    assert an.bin_shift == 2.25 and pc.bin_shift == 0.0
    np.testing.assert_allclose(an.range_m, [-13.125, -5.625, 1.875, 9.375])
    np.testing.assert_allclose(pc.range_m, [3.75, 11.25, 18.75, 26.25])


def test_background_far_window_and_pretrigger():
    ds = photon(0, 532, shots=1, bins=8, bin_width_m=7.5)  # 1 count/shot = 20 MHz
    values = np.array([1, 1, 9, 7, 5, 2, 2, 2], dtype=np.int32)
    # far window 40..60 m holds the centres 41.25, 48.75, 56.25 (bins 5-7): mean 40 MHz
    far = dataset_profile(ds, values, background=Background(far_m=(40.0, 60.0)))
    assert far.background == pytest.approx(40.0)
    np.testing.assert_allclose(far.signal, (values - 2) * 20.0)
    pre = dataset_profile(ds, values, background=Background(pretrigger_bins=2))
    assert pre.background == pytest.approx(20.0)
    np.testing.assert_allclose(pre.signal, (values - 1) * 20.0)


def test_range_corrected_signal_in_km2():
    ds = analogue(0, 532, bins=3, shots=1, adc_bits=12, input_range_mv=4096.0,
                  bin_width_m=1000.0, bin_shift=1.0)
    profile = dataset_profile(ds, np.array([7, 8, 4], dtype=np.int32), range_corrected=True)
    # ranges -500, 500, 1500 m; 1 count = 1 mV
    assert np.isnan(profile.signal[0])
    np.testing.assert_allclose(profile.signal[1:], [8 * 0.25, 4 * 2.25])
    assert profile.unit == "mV km²"


def test_saturation_is_full_scale_in_every_shot():
    got = saturated_bins(np.array([4095 * 10, 4095 * 10 - 1, 0]), 10, 12)
    assert got.tolist() == [True, False, False]


def test_parse_background():
    assert parse_background("none") is None
    assert parse_background("far:25-30") == Background(far_m=(25000.0, 30000.0))
    assert parse_background("pretrigger:100") == Background(pretrigger_bins=100)
    assert parse_background("tail:3") == Background(tail_bins=3)
    tail = dataset_profile(photon(0, 532, shots=1, bins=5), np.array([9, 9, 1, 2, 3]),
                           background=Background(tail_bins=3), max_range_m=20.0)
    assert tail.background == pytest.approx(2 * 20.0)  # mean of 1, 2, 3 counts: 40 MHz
    np.testing.assert_allclose(tail.signal, [140.0, 140.0, -20.0])  # bins up to 20 m
    for bad in ("far:30-25", "pretrigger:0", "mean", "far:a-b"):
        with pytest.raises(ValueError, match="background"):
            parse_background(bad)


def test_select_channels_and_labels():
    record = make_record([analogue(0, 532, "p", bins=10), photon(0, 532, "p", bins=10),
                          analogue(10, 1064, bins=10)])
    datasets = record.header.datasets
    assert select_channels(datasets, []) == [0, 1, 2]
    assert select_channels(datasets, ["532.p:pc"]) == [1]
    assert select_channels(datasets, ["532"]) == [0, 1]
    assert select_channels(datasets, ["BTA", "0"]) == [2, 0]
    with pytest.raises(ValueError, match="'355' matches no dataset; there are 0: 532.p"):
        select_channels(datasets, ["355"])
    profiles = record_profiles(record)
    assert [p.label for p in profiles] == ["532.p analogue TR0", "532.p photon counting TR0",
                                           "1064.o analogue TR10"]
    assert [p.recorder for p in profiles] == [0, 0, 10]


# ------------------------------------------------------------------ atmospheric-lidar


def _atmospheric_lidar(record: Record, tmp_path: Path) -> tuple[dict, dict]:
    sys.path.insert(0, str(ROOT / "tools"))
    import interop_venv

    python, reason = None, ""
    try:
        python = interop_venv.ensure_venv()
    except interop_venv.InteropVenvError as exc:
        reason = str(exc)
    need(python is not None, f"public Licel readers unavailable: {reason}")
    with RecordWriter(tmp_path / "data", "b") as writer:
        writer.write(record)
    out = tmp_path / "out"
    proc = subprocess.run([str(python), str(ROOT / "tools" / "interop_readers.py"), str(out),
                           str(writer.files[0])],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    entry = json.loads((out / "result.json").read_text())[str(writer.files[0])]
    with np.load(out / f"{entry['index']}_al_v2.npz") as data:
        return entry["al_v2"], dict(data)


def test_against_atmospheric_lidar(tmp_path: Path):
    """Same file, same numbers, up to the documented differences: atmospheric-lidar
    divides analogue values by 2**bits - 1, keeps photon counts as summed counts and
    puts bin i at (i + 1/2) × width without the bin shift."""
    record = make_record([
        analogue(0, 532, "p", shots=1000, adc_bits=12, input_range_mv=500.0, bin_shift=2.25),
        photon(0, 532, "p", shots=1000, bin_width_m=7.5),
        analogue(1, 1064, shots=998, adc_bits=16, input_range_mv=20.0, bin_width_m=3.75,
                 bin_shift=3.5),
        photon(2, 607, laser=2, shots=500, bin_width_m=15.0),
    ], seed=3)
    got, arrays = _atmospheric_lidar(record, tmp_path)
    assert "error" not in got, got.get("traceback")
    ours = record_profiles(record)
    for (key, _meta), profile in zip(got["channels"].items(), ours):
        ds = profile.dataset
        theirs = arrays[f"{key}_phys"]
        if ds.analogue:
            bits = ds.adc_bits
            np.testing.assert_allclose(profile.signal, theirs * (2**bits - 1) / 2**bits,
                                       rtol=1e-12, err_msg=key)
        else:
            per_bin_s = bin_duration_s(ds.bin_width_m)
            np.testing.assert_allclose(profile.signal, theirs / ds.shots / per_bin_s * 1e-6,
                                       rtol=1e-12, err_msg=key)
        z = (np.arange(ds.bins) + 0.5) * ds.bin_width_m  # atmospheric-lidar's range
        np.testing.assert_allclose(profile.range_m, z - profile.bin_shift * ds.bin_width_m,
                                   err_msg=key)

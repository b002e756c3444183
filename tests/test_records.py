"""Records built from decoded frames (LICEL_FILE_FORMAT.md dataset lines, PROTOCOL §4)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from factories import config, memory, recorder

from licelpush.config import (
    MEMORIES,
    AcquisConfig,
    GlobalInfo,
    Laser,
    RecorderConfig,
    load_config,
)
from licelpush.decode import DecodedFrame, FrameDecoder
from licelpush.encode import FrameEncoder
from licelpush.hardware import RecorderHardware
from licelpush.licelfile import encode_record, parse_records
from licelpush.plan import make_plan
from licelpush.records import (
    RecordBuilder,
    acquisition_seconds,
    acquisition_times,
    channel_header,
)

STATIONS = Path(__file__).resolve().parent / "data" / "acquis"
START = datetime(2026, 5, 13, 21, 5, 19, 860000)
STOP = START + timedelta(seconds=15)


def two_memory_config(**kw):
    """TR2: memory A analogue (laser 1, 355 nm, crossed), memory C PC (laser 3, 607 nm)."""
    mems = [
        memory("A", analogue=True, a_bins=6, laser=1, wavelength=355.0, polarisation=2),
        memory("B"),
        memory("C", pc=True, p_bins=5, laser=3, wavelength=607.4, polarisation=4),
        memory("D"),
    ]
    fields = dict(range=2, discriminator=63, threshold=1, pretrigger=False, freq_divider=4,
                  shot_limit=0)
    fields.update(kw)
    rec = RecorderConfig(address=10, memories=tuple(mems), **fields)
    return AcquisConfig(
        Path("Acquis.ini"),
        GlobalInfo("Leipzig-East", 12.43, 51.35, 125.4, ".", "lp", 5.0, 270.0),
        (Laser(1, 20.0), Laser(2, 0.0), Laser(3, 10.4), Laser(4, 0.0)),
        (rec,),
    )


HW = RecorderHardware(adc_bits=12, pc_bits=4, bin_width_m=7.5, bin_shift=2.25)


def decoded_for(plan, shots, ts=1234):
    enc = FrameEncoder(plan)
    profiles = [np.arange(c.values, dtype=np.int64) * (7 if c.analogue else 3) + 1
                for c in plan.channels]
    frame = enc.encode(ts, shots, profiles)
    return FrameDecoder(plan).decode(frame), profiles


def test_dataset_lines_follow_the_configuration_and_trtype():
    cfg = two_memory_config()
    plan = make_plan(cfg, {10: HW}, 300)
    decoded, profiles = decoded_for(plan, 300)
    record = RecordBuilder(cfg, plan).build(decoded, START, STOP)
    analogue, pc = record.header.datasets
    assert analogue.analogue and not pc.analogue
    # analogue: laser, wavelength, polarisation 2 -> s, PMT of PM, range 2 -> 20 mV
    assert (analogue.laser, analogue.wavelength_nm, analogue.polarisation) == (1, 355, "s")
    assert analogue.pmt_voltage == 800 and analogue.input_range_mv == 20
    assert analogue.adc_bits == 12 and analogue.bin_shift == 2.25
    # bin width: TRTYPE 7.5 m x divider 4 (exponent 2)
    assert analogue.bin_width_m == pytest.approx(30.0) and pc.bin_width_m == pytest.approx(30.0)
    assert analogue.device_id == "BTA" and pc.device_id == "BCA"
    # PC: laser 3, 607.4 -> 607, polarisation 4 -> l, discriminator 63 with damping high
    assert (pc.laser, pc.wavelength_nm, pc.polarisation) == (3, 607, "l")
    assert pc.pmt_voltage == 850 and pc.adc_bits == 0 and pc.bin_shift == 0
    assert pc.discriminator_mv == pytest.approx(100.0)
    assert analogue.bins == 5 and pc.bins == 4
    assert [a.tolist() for a in record.data] == [p.tolist() for p in profiles]


def test_discriminator_with_damping_low_and_header_lines():
    cfg = two_memory_config(threshold=0, discriminator=21)
    plan = make_plan(cfg, {10: HW}, 300)
    decoded, _ = decoded_for(plan, 298, ts=99)
    record = RecordBuilder(cfg, plan).build(decoded, START, STOP)
    pc = record.header.datasets[1]
    assert pc.discriminator_mv == pytest.approx(21 * 25 / 63)
    h = record.header
    assert h.name == "lp2651321.051986"
    assert (h.site, h.altitude_m, h.longitude, h.latitude) == ("Leipzig-East", 125.4,
                                                               12.43, 51.35)
    assert (h.zenith, h.azimuth) == (5.0, 270.0)
    # true shots per laser: laser 1 has the analogue dataset, laser 2 nothing, laser 3 PC
    assert h.laser_shots == (298, 0, 298)
    assert h.laser_rates_hz == (20, 0, 10)
    assert h.timestamp_ms == 99
    assert all(d.shots == 298 for d in h.datasets)


def test_record_round_trips_through_the_file_format():
    cfg = load_config(STATIONS / "two-recorders.ini")
    hw = {0: RecorderHardware(), 1: RecorderHardware(adc_bits=12, bin_width_m=3.75)}
    plan = make_plan(cfg, hw, 5000)  # PC beyond 4096 shots: PHM datasets
    assert any(c.uses_phm for c in plan.channels)
    rng = np.random.default_rng(3)
    profiles = [rng.integers(0, 1 << 24 if not c.analogue else 1 << 23, c.values)
                for c in plan.channels]
    frame = FrameEncoder(plan).encode(5, 5000, profiles)
    decoded = FrameDecoder(plan).decode(frame)
    record = RecordBuilder(cfg, plan).build(decoded, START, STOP)
    back = parse_records(encode_record(record))[0]
    assert back.header.name.startswith("LE")
    assert len(back.data) == len(plan.channels)
    for got, want in zip(back.data, profiles):
        assert got.tolist() == want.tolist()
    ids = [d.device_id for d in back.header.datasets]
    assert ids == ["BT0", "BT0", "BC0", "BC0", "BT1", "BC1"]
    # TR1 has FreqDivider = 2: bin width doubled
    assert back.header.datasets[4].bin_width_m == pytest.approx(7.5)
    assert back.header.datasets[0].bin_width_m == pytest.approx(3.75)
    assert {d.shots for d in back.header.datasets} == {5000}


def test_values_beyond_int32_saturate_and_are_counted():
    cfg = config(recorder(0, {"A": (True, False)}, 4, 4))
    plan = make_plan(cfg, {0: RecorderHardware(adc_bits=16)}, 40000)
    assert plan.channels[0].uses_phm
    big = np.array([1, 2**31 - 1, 2**31, 2**32 - 1], dtype=np.int64)[:3]
    frame = FrameEncoder(plan).encode(0, 40000, [big])
    decoded = FrameDecoder(plan).decode(frame)
    assert decoded.profiles[0].tolist() == [1, 2**31 - 1, 2**31]
    builder = RecordBuilder(cfg, plan)
    record = builder.build(decoded, START, STOP)
    assert record.data[0].tolist() == [1, 2**31 - 1, 2**31 - 1]
    assert builder.saturated_values == 1


def test_profiles_are_written_without_copying():
    cfg = config(recorder(0, {"A": (True, True)}, 5, 5))
    plan = make_plan(cfg, {0: RecorderHardware()}, 10)
    decoded, _ = decoded_for(plan, 10)
    record = RecordBuilder(cfg, plan).build(decoded, START, STOP)
    for arr, prof in zip(record.data, decoded.profiles):
        assert arr.dtype == np.dtype("<i4")
        assert np.shares_memory(arr, prof)


def test_shot_counts_per_channel_and_cache():
    cfg = config(recorder(0, {m: (True, True) for m in MEMORIES}, 3, 3))
    plan = make_plan(cfg, {0: RecorderHardware()}, 100)
    builder = RecordBuilder(cfg, plan)
    shots = tuple(range(90, 90 + len(plan.channels)))
    headers = builder.dataset_headers(shots)
    assert [h.shots for h in headers] == list(shots)
    assert builder.dataset_headers(shots) is headers
    with pytest.raises(ValueError):
        builder.dataset_headers(shots[:-1])


def test_channel_header_of_unknown_recorder_is_an_error():
    cfg = config(recorder(0))
    other = make_plan(config(recorder(5)), {5: RecorderHardware()}, 10)
    with pytest.raises(ValueError, match="TR5"):
        channel_header(cfg, other.channels[0], 10)


def test_acquisition_seconds_uses_the_fastest_laser_in_use():
    cfg = two_memory_config()  # lasers 1 (20 Hz) and 3 (10.4 Hz) in use
    plan = make_plan(cfg, {10: HW}, 300)
    assert acquisition_seconds(cfg, plan) == pytest.approx(300 / 20.0)
    no_rate = AcquisConfig(cfg.path, cfg.global_info, (Laser(1, 0.0), Laser(2, 0.0),
                                                        Laser(3, 0.0)), cfg.recorders)
    assert acquisition_seconds(no_rate, plan) is None


def test_acquisition_times():
    assert acquisition_times(STOP, 15.0, None) == (START, STOP)
    assert acquisition_times(STOP, None, START) == (START, STOP)
    assert acquisition_times(STOP, None, None) == (STOP, STOP)
    later = STOP + timedelta(seconds=1)
    assert acquisition_times(STOP, None, later) == (STOP, STOP)
    # consecutive acquisitions never overlap: start no earlier than the previous stop
    recent = STOP - timedelta(seconds=2)
    assert acquisition_times(STOP, 15.0, recent) == (recent, STOP)
    assert acquisition_times(STOP, 15.0, START - timedelta(seconds=1)) == (START, STOP)
    assert acquisition_times(STOP, 15.0, later) == (START, STOP)


def test_name_time_and_prefix_override():
    cfg = two_memory_config()
    plan = make_plan(cfg, {10: HW}, 300)
    decoded, _ = decoded_for(plan, 300)
    record = RecordBuilder(cfg, plan, prefix="X").build(
        decoded, START, STOP, name_time=datetime(2027, 12, 1, 0, 0, 0, 10000))
    assert record.header.name == "X27C0100.000001"
    with pytest.raises(ValueError):
        RecordBuilder(cfg, plan, prefix="bad prefix")


def test_decoded_frame_shape_mismatch_is_rejected():
    cfg = two_memory_config()
    plan = make_plan(cfg, {10: HW}, 300)
    bogus = DecodedFrame(0, np.zeros(3, dtype="<u2"), (np.zeros(5, np.uint32),), (0,), (300,))
    with pytest.raises(ValueError):
        RecordBuilder(cfg, plan).build(bogus, START, STOP)


def test_laser_4_is_written_into_the_dataset_line_with_its_rate_from_frequency4():
    """As the vendor's software writes it: laser 4 in the dataset line; line 3
    has fields for lasers 1-3 only, so laser 4's shots are not counted there."""
    base = two_memory_config()
    rec = base.recorders[0]
    mems = (dataclasses.replace(rec.memories[0], laser=4),) + rec.memories[1:]
    cfg = dataclasses.replace(
        base, recorders=(dataclasses.replace(rec, memories=mems),),
        lasers=(Laser(1, 0.0), Laser(2, 0.0), Laser(3, 0.0), Laser(4, 50.0)))
    plan = make_plan(cfg, {10: HW}, 300)
    decoded, _ = decoded_for(plan, 300)
    record = RecordBuilder(cfg, plan).build(decoded, START, STOP)
    back = parse_records(encode_record(record))[0].header
    assert [d.laser for d in back.datasets] == [4, 3]
    assert back.laser_shots == (0, 0, 300) and back.laser_rates_hz == (0, 0, 0)
    assert acquisition_seconds(cfg, plan) == pytest.approx(300 / 50.0)

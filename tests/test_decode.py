"""Decoding raw words (PROTOCOL §4) and its inverse used by the emulator."""

from __future__ import annotations

import numpy as np
import pytest
from factories import config, recorder
from hypothesis import given, settings
from hypothesis import strategies as st

from licelpush.decode import TABLE_DECODE_MAX_VALUES, FrameDecoder
from licelpush.encode import FrameEncoder, analogue_limit, pc_limit
from licelpush.hardware import RecorderHardware
from licelpush.physical import analogue_millivolts
from licelpush.physical import count_rate_megahertz as pc_megahertz
from licelpush.plan import make_plan


def one_memory_plan(adc=16, pc_bits=4, shots=300, bins=6, big_endian=False):
    cfg = config(recorder(0, {"A": (True, True)}, bins, bins))
    return make_plan(cfg, {0: RecorderHardware(adc_bits=adc, pc_bits=pc_bits)}, shots,
                     big_endian_timestamp=big_endian)


def frame_from_words(plan, timestamp, shot_word, words_by_dataset):
    """Build a frame by hand, straight from §3.2, independent of the encoder."""
    out = bytearray(b"\xff\xff")
    out += timestamp.to_bytes(4, "big" if plan.big_endian_timestamp else "little")
    for d, words in zip(plan.datasets, words_by_dataset):
        out += shot_word.to_bytes(2, "little")
        out += np.asarray(words, dtype="<u2").tobytes()
        assert len(words) == d.bins
    assert len(out) == plan.frame_length
    return bytes(out)


def test_16bit_analogue_bits_and_clip_flag():
    plan = one_memory_plan(adc=16)
    lsw = [0xAAAA, 0x1234, 0xFFFF, 0x0000, 0x0001, 0x8000]
    msw = [0xFFFF, 0x0001, 0x1FFF, 0xE000, 0x1000, 0x0FFF]
    pc = [0xFFFF, 5, 0x8005, 0x7FFF, 0, 1]
    frame = frame_from_words(plan, 77, 302, [lsw, msw, pc])
    dec = FrameDecoder(plan)
    assert dec.problem(frame) is None
    out = dec.decode(frame)
    # word 0 dropped; value = LSW | (MSW & 0x0FFF) << 16 | (MSW & 0xE000) << 15
    assert out.profiles[0].tolist() == [
        0x1234 | 0x0001 << 16,
        0xFFFF | 0x0FFF << 16,
        0x0000 | 0xE000 << 15,
        0x0001,
        0x8000 | 0x0FFF << 16,
    ]
    assert out.clipped_bins[0] == 2  # MSW bit 12 set in 0x1FFF and 0x1000
    assert out.profiles[1].tolist() == [5, 5, 0x7FFF, 0, 1]  # bit 15 is a flag
    assert out.shots == (300, 300)
    assert out.timestamp_ms == 77


def test_12bit_analogue_uses_8_msw_bits_and_bit_8_as_clip():
    plan = one_memory_plan(adc=12)
    lsw = [0, 0xFFFF, 1, 2, 3, 4]
    msw = [0, 0x01FF, 0x0100, 0x00FF, 0xFE00, 0x0012]
    frame = frame_from_words(plan, 1, 2, [lsw, msw, [0] * 6])
    out = FrameDecoder(plan).decode(frame)
    assert out.profiles[0].tolist() == [0xFFFF | 0xFF << 16, 1, 2 | 0xFF << 16, 3, 4 | 0x12 << 16]
    assert out.clipped_bins[0] == 2


def test_phm_extends_analogue_bit_31_and_pc_bits_16_to_23():
    plan = one_memory_plan(adc=16, shots=40000)
    assert [d.kind for d in plan.datasets] == ["LSW", "MSW", "PHM", "PC", "PHM"]
    lsw = [0, 1, 1, 1, 1, 1]
    msw = [0, 0, 0, 0, 0, 0]
    phm_a = [0, 0x0100, 0x00FF, 0x01FF, 0, 0]
    pc = [0, 0xFFFF, 1, 2, 3, 4]
    phm_p = [0, 0x00AB, 0x0100, 0x01FF, 0, 0]
    frame = frame_from_words(plan, 5, 40002, [lsw, msw, phm_a, pc, phm_p])
    out = FrameDecoder(plan).decode(frame)
    assert out.profiles[0].tolist() == [1 | 1 << 31, 1, 1 | 1 << 31, 1, 1]
    assert out.profiles[1].tolist() == [0xFFFF | 0xAB << 16, 1, 2 | 0xFF << 16, 3, 4]


def test_big_endian_timestamp():
    plan = one_memory_plan(big_endian=True)
    frame = frame_from_words(plan, 0x01020304, 2, [[0] * 6] * 3)
    assert frame[2:6] == b"\x01\x02\x03\x04"
    assert FrameDecoder(plan).decode(frame).timestamp_ms == 0x01020304


@pytest.mark.parametrize("shot_words,fragment", [
    ((302, 301, 302), "inconsistent shot words"),
    ((303, 303, 303), "outside 2..302"),
    ((1, 1, 1), "outside 2..302"),
])
def test_problem_reports_bad_shot_words(shot_words, fragment):
    plan = one_memory_plan()
    frame = bytearray(frame_from_words(plan, 0, 2, [[0] * 6] * 3))
    for d, word in zip(plan.datasets, shot_words):
        frame[d.offset:d.offset + 2] = word.to_bytes(2, "little")
    problem = FrameDecoder(plan).problem(bytes(frame))
    assert problem is not None and fragment in problem


def test_problem_reports_length_and_delimiter():
    plan = one_memory_plan()
    frame = frame_from_words(plan, 0, 2, [[0] * 6] * 3)
    dec = FrameDecoder(plan)
    assert "expected" in dec.problem(frame[:-2])
    assert "FF FF" in dec.problem(b"\xff\x00" + frame[2:])


def test_pc_shots_may_differ_between_memories():
    cfg = config(recorder(0, {"A": (False, True), "B": (False, True)}, 4, 4))
    plan = make_plan(cfg, {0: RecorderHardware()}, 300)
    frame = frame_from_words(plan, 0, 300, [[0] * 4] * 2)
    frame = frame[:plan.datasets[1].offset] + (250).to_bytes(2, "little") + frame[
        plan.datasets[1].offset + 2:]
    out = FrameDecoder(plan)
    assert out.problem(frame) is None
    assert out.decode(frame).shots == (298, 248)


@settings(max_examples=60, deadline=None)
@given(adc=st.sampled_from([12, 16]), pc_bits=st.sampled_from([4, 6, 8]),
       shots=st.sampled_from([1, 300, 1025, 4097, 32765, 65533]),
       seed=st.integers(0, 2**32 - 1), big_endian=st.booleans())
def test_encode_decode_round_trip(adc, pc_bits, shots, seed, big_endian):
    cfg = config(recorder(0, {"A": (True, True), "C": (True, False)}, 17, 9),
                 recorder(2, {"B": (False, True)}, 5, 33))
    hw = RecorderHardware(adc_bits=adc, pc_bits=pc_bits)
    plan = make_plan(cfg, {0: hw, 2: hw}, shots, big_endian_timestamp=big_endian)
    rng = np.random.default_rng(seed)
    profiles, clips = [], []
    for c in plan.channels:
        top = analogue_limit(adc, c.uses_phm) if c.analogue else pc_limit(c.uses_phm)
        profiles.append(rng.integers(0, top, c.values, endpoint=True))
        clips.append(rng.random(c.values) < 0.2 if c.analogue else None)
    stamp = int(rng.integers(0, 2**32))
    frame = FrameEncoder(plan).encode(stamp, shots, profiles, clips)
    dec = FrameDecoder(plan)
    assert dec.problem(frame) is None
    out = dec.decode(frame)
    assert out.timestamp_ms == stamp
    assert out.shots == (shots,) * len(plan.channels)
    for c, got, want, clip in zip(plan.channels, out.profiles, profiles, clips):
        np.testing.assert_array_equal(got.astype(np.int64), want)
        if c.analogue:
            assert out.clipped_bins[plan.channels.index(c)] == int(np.count_nonzero(clip))


def test_physical_units():
    values = np.array([0, 65536 * 300, 300])
    mv = analogue_millivolts(values, 300, 100, 16)
    np.testing.assert_allclose(mv, [0.0, 100.0, 100 / 65536])
    mhz = pc_megahertz(np.array([300, 600]), 300, 7.5)
    np.testing.assert_allclose(mhz, [20.0, 40.0])


@pytest.mark.parametrize("adc", [12, 16])
@pytest.mark.parametrize("bins", [TABLE_DECODE_MAX_VALUES + 1, TABLE_DECODE_MAX_VALUES + 2])
def test_long_and_short_channels_decode_alike(adc, bins):
    """Channels above the lookup-table size take the arithmetic path: same results."""
    cfg = config(recorder(0, {"A": (True, False), "B": (True, False)}, bins, bins))
    hw = RecorderHardware(adc_bits=adc, pc_bits=4)
    plan = make_plan(cfg, {0: hw}, 300)
    rng = np.random.default_rng(bins + adc)
    top = analogue_limit(adc, False)
    profiles = [rng.integers(0, top, c.values, endpoint=True) for c in plan.channels]
    clips = [rng.random(c.values) < 0.1 for c in plan.channels]
    frame = FrameEncoder(plan).encode(1, 300, profiles, clips)
    out = FrameDecoder(plan).decode(frame)
    for got, want, clip, n in zip(out.profiles, profiles, clips, out.clipped_bins):
        np.testing.assert_array_equal(got.astype(np.int64), want)
        assert n == int(np.count_nonzero(clip))

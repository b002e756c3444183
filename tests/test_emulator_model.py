"""Pure parts of the controller emulator: recorders, controller answers, signals, faults.

Spec: PROTOCOL.md §2 (commands), §3 (frames), §4 (raw words), §5 (power-up),
and the emulator issue (fault syntax, determinism).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from licelpush.commands import command
from licelpush.decode import FrameDecoder
from licelpush.emulator.assumptions import DEFAULT_HARDWARE, NOT_INSTALLED_STATUS
from licelpush.emulator.faults import FaultSchedule, FaultSpec, parse_fault
from licelpush.emulator.model import (
    EmulatedController,
    PushSession,
    installed_hardware,
    parse_recorders,
)
from licelpush.emulator.signals import (
    CLOUD_PROBABILITY,
    RecorderSettings,
    SignalSynthesizer,
    channel_model,
    draw_atmosphere,
)
from licelpush.encode import FrameEncoder, analogue_limit, pc_limit
from licelpush.hardware import RecorderHardware, parse_trtype
from licelpush.physical import analogue_millivolts
from licelpush.plan import plan_from_datasets

HW16 = RecorderHardware()
HW12 = RecorderHardware(adc_bits=12, pc_bits=4, bin_width_m=7.5)


def small_plan(shots: int = 100, bins: int = 200, hardware=None):
    hardware = hardware or {0: HW16, 1: HW12}
    requested = [(0, bins, "LSW", "A"), (0, bins, "MSW", "A"), (0, bins, "PC", "A"),
                 (1, bins, "LSW", "B"), (1, bins, "MSW", "B"), (1, bins, "PC", "B")]
    return plan_from_datasets(shots, requested, hardware)


# --- recorder specifications -----------------------------------------------------------


def test_parse_recorders_reads_bits_bin_width_and_fifo():
    recorders = parse_recorders("0:16/4, 1:12/4/7.5,3:16/8/3.75/8192")
    assert sorted(recorders) == [0, 1, 3]
    assert (recorders[0].adc_bits, recorders[0].pc_bits, recorders[0].bin_width_m) == (16, 4, 3.75)
    assert (recorders[1].adc_bits, recorders[1].bin_width_m) == (12, 7.5)
    assert (recorders[3].pc_bits, recorders[3].fifo_length) == (8, 8192)


@pytest.mark.parametrize("spec, words", [
    ("0:14/4", "ADC bits"), ("16:16/4", "outside 0..15"), ("0-16/4", "expected"),
    ("0:16/4,0:12/4", "twice"), ("", "no recorder"), ("0:16/5", "PC bits"),
])
def test_parse_recorders_rejects_bad_items(spec, words):
    with pytest.raises(ValueError, match=words):
        parse_recorders(spec)


def test_installed_hardware_default_config_and_override(tmp_path):
    assert list(installed_hardware()) == [0]
    from licelpush.config import parse_config

    text = ("[global_info]\nLocation = x\nfirst_letter = ab\n[TR2]\n[TR5]\nAnalogA = 1\n"
            "Range = 0\nDiscriminator = 0\nA-binsA = 10\nWavelengthA = 355\nLaserA = 1\n")
    config = parse_config(text, tmp_path / "Acquis.ini")
    hardware = installed_hardware(config, parse_recorders("5:12/4,7:16/8"))
    assert sorted(hardware) == [2, 5, 7]  # inactive TR2 installed too
    assert hardware[2].adc_bits == DEFAULT_HARDWARE.adc_bits == 16
    assert hardware[5].adc_bits == 12 and hardware[7].pc_bits == 8


# --- controller answers ----------------------------------------------------------------


def make_controller(**kw) -> EmulatedController:
    kw.setdefault("hardware", {0: HW16, 2: HW12})
    return EmulatedController(**kw)


def ask(controller: EmulatedController, line: str, now: float = 0.0) -> str:
    reply = controller.handle(line, now)
    assert reply.data is None, line
    return reply.text or ""


def test_stat_for_installed_and_empty_slots_as_the_vendor_client_checks():
    ctrl = make_controller()
    found = []
    ask(ctrl, "SELECT -1")
    for address in range(16):
        assert ask(ctrl, f"SELECT {address}") == "SELECT executed"
        status = ask(ctrl, "STAT?")
        if "Shots" in status:
            found.append(address)
            assert status.split(" ")[1] == "2"  # counter starts at 2 (two clearing cycles)
        else:
            assert status == NOT_INSTALLED_STATUS
    assert found == [0, 2]


def test_shot_counter_counts_at_the_laser_rate_and_stops_at_max_shots():
    ctrl = make_controller(rate_hz=10.0)
    ask(ctrl, "SELECT 0")
    assert ask(ctrl, "SETMAXSHOTS 25") == "SETMAXSHOTS executed"
    assert ask(ctrl, "START", now=1.0) == "START executed"
    assert ask(ctrl, "STAT?", now=2.05) == "Shots 12 Armed MemA"  # 10 shots + 2
    assert ask(ctrl, "STAT?", now=100.0) == "Shots 27 MemA"  # stopped at 25 shots
    assert ask(ctrl, "CLEAR", now=100.0) == "CLEAR Memory executed"
    assert ask(ctrl, "STAT?", now=101.0).startswith("Shots 2 ")
    ask(ctrl, "CONTINUE", now=101.0)
    ask(ctrl, "STOP", now=101.5)
    assert ask(ctrl, "STAT?", now=150.0) == "Shots 7 MemA"
    assert ask(ctrl, "MSHOTS?", now=150.0) == "MSHOTS 7"


def test_trtype_describes_the_recorder_and_resets_its_shot_counter():
    ctrl = make_controller(rate_hz=100.0)
    ask(ctrl, "SELECT 2")
    ask(ctrl, "START", now=0.0)
    assert ask(ctrl, "STAT?", now=0.5).startswith("Shots 52")
    reply = ask(ctrl, "TRTYPE?", now=0.5)
    assert parse_trtype(reply) == HW12
    assert reply.startswith("TRTYPE ADC Bits 12")
    assert ask(ctrl, "STAT?", now=0.5).startswith("Shots 2 Armed")


def test_configuration_commands_apply_to_each_selected_installed_recorder():
    ctrl = make_controller(hardware={0: HW16, 1: HW16, 2: HW12})
    assert ask(ctrl, "SELECT 0, 2,5") == "SELECT executed"
    assert ask(ctrl, "RANGE 2") == "Input range set to -20mV"
    assert ask(ctrl, "DISC 17") == "Discriminator set to 17"
    assert ask(ctrl, "FREQDIV 3 0") == "FREQDIV 3 executed"
    assert ask(ctrl, "THRESHOLD 1") == "Damping set to 1"
    assert ask(ctrl, "PRETRIG 1") == "PRETRIG executed"
    assert ask(ctrl, "BLOCK B") == "BLOCK executed"
    for address in (0, 2):
        rec = ctrl.recorders[address]
        assert (rec.range_index, rec.discriminator, rec.freqdiv, rec.threshold,
                rec.pretrigger, rec.blocked) == (2, 17, 3, 1, True, frozenset("B"))
    untouched = ctrl.recorders[1]
    assert (untouched.range_index, untouched.discriminator, untouched.freqdiv) == (0, 0, 0)
    assert ask(ctrl, "FREQDIV?") == "FREQDIV 3"
    ask(ctrl, "BLOCK OFF")
    assert ctrl.recorders[0].blocked == frozenset()


def test_every_reply_passes_the_client_check_of_the_command_table():
    ctrl = make_controller()
    ask(ctrl, "SELECT 0")
    for line, name, args in [
        ("*IDN?", "*IDN?", {}), ("CAP?", "CAP?", {}), ("MILLISEC?", "MILLISEC?", {}),
        ("SELECT 0", "SELECT", {"recorders": (0,)}), ("STAT?", "STAT?", {}),
        ("TRTYPE?", "TRTYPE?", {}), ("SLAVE", "SLAVE", {}), ("CLEAR", "CLEAR", {}),
        ("DISC 5", "DISC", {"level": 5}), ("PRETRIG 0", "PRETRIG", {"enabled": 0}),
        ("THRESHOLD 0", "THRESHOLD", {"mode": 0}), ("SETMAXSHOTS 300", "SETMAXSHOTS", {}),
        ("SETMAXBINS 8000", "SETMAXBINS", {}), ("LIMIT 64K", "LIMIT", {"limit": "64K"}),
        ("RANGE 1", "RANGE", {"range": 1}), ("FREQDIV 2", "FREQDIV", {"exponent": 2}),
        ("FREQDIV?", "FREQDIV?", {}), ("BLOCK A", "BLOCK", {}), ("START", "START", {}),
        ("STOP", "STOP", {}), ("CONTINUE", "CONTINUE", {}), ("SINGLE", "SINGLE", {}),
        ("MSTART", "MSTART", {}), ("MSTOP", "MSTOP", {}), ("MCLEAR", "MCLEAR", {}),
        ("MCONTINUE", "MCONTINUE", {}), ("SHOTAB?", "SHOTAB?", {}),
        ("MSHOTAB?", "MSHOTAB?", {}), ("MSHOTS?", "MSHOTS?", {}),
        ("PMTG 3 850", "PMTG", {}), ("PMT? 3", "PMT?", {}),
        ("MPUSH 10 0 100 LSW A 0 100 MSW A", "MPUSH", {}),
        ("PUSH 10 100 PC A", "PUSH", {}), ("SLAVE", "SLAVE", {}),
    ]:
        reply = ask(ctrl, line, now=1000.0)
        command(name).check_reply(reply, args)
    assert ask(ctrl, "PMT? 3") == "PMT 850 on remote"
    assert "ColdFireEthernet" not in ask(ctrl, "*IDN?")


def test_exact_replies_of_the_vendor_c_library():
    ctrl = make_controller()
    ask(ctrl, "SELECT 0")
    for line in ("SLAVE", "PRETRIG 1", "LIMIT 4K", "BLOCK OFF", "START", "STOP", "CONTINUE",
                 "SINGLE", "MSTART", "MSTOP", "MCLEAR", "MCONTINUE"):
        assert ask(ctrl, line) == f"{line.split()[0]} executed"
    assert ask(ctrl, "CLEAR") == "CLEAR Memory executed"


@pytest.mark.parametrize("line, start", [
    ("FOO", "FOO error: unknown command"), ("RANGE 3", "RANGE error: range 3"),
    ("DISC", "DISC error: missing argument"), ("SELECT 16", "SELECT error"),
    ("DATA? 0 10 XYZ A", "DATA? error"), ("MPUSH 10 0 100 LSW", "MPUSH error"),
    ("MPUSH 10 1 100 LSW A 1 100 MSW A", "MPUSH error: TR1 is not installed"),
    ("MPUSH 10 0 20000 PC A", "MPUSH error: TR0 memory A: 20000 bins exceed"),
    ("MPUSH 10 0 100 MSW A", "MPUSH error"),
])
def test_errors_never_contain_executed(line, start):
    ctrl = make_controller()
    ask(ctrl, "SELECT 0")
    reply = ask(ctrl, line)
    assert reply.startswith(start), reply
    assert "executed" not in reply
    assert ctrl.push is None


def test_commands_need_a_selected_installed_recorder():
    ctrl = make_controller()
    assert "no recorder selected" in ask(ctrl, "STAT?")
    assert "no recorder selected" in ask(ctrl, "RANGE 1")
    ask(ctrl, "SELECT 1")
    assert "no installed recorder selected" in ask(ctrl, "TRTYPE?")


def test_millisec_runs_with_the_emulated_clock_and_wraps():
    ctrl = make_controller(clock_start_ms=0xFFFFFFFF - 499)
    assert ask(ctrl, "MILLISEC?", now=0.0) == f"MILLISEC {0xFFFFFFFF - 499}"
    assert ask(ctrl, "MILLISEC?", now=0.25) == f"MILLISEC {0xFFFFFFFF - 249}"
    assert ask(ctrl, "MILLISEC?", now=1.0) == "MILLISEC 500"


def test_data_reply_is_exactly_2n_bytes_and_consistent_between_reads():
    ctrl = make_controller(rate_hz=1000.0)
    ask(ctrl, "SELECT 0")
    ask(ctrl, "RANGE 1")
    ask(ctrl, "START", now=0.0)
    ask(ctrl, "STOP", now=0.5)  # 500 shots
    lsw = ctrl.handle("DATA? 0 301 LSW A", 1.0).data
    msw = ctrl.handle("DATA?  0 301 MSW  A ", 2.0).data
    assert lsw is not None and msw is not None
    assert len(lsw) == len(msw) == 602
    assert lsw == ctrl.handle("DATA? 0 301 LSW A", 3.0).data
    lo = np.frombuffer(lsw, "<u2").astype(np.uint64)
    hi = np.frombuffer(msw, "<u2").astype(np.uint64)
    assert lo[0] == hi[0] == 0  # word 0 is not valid data
    values = lo[1:] | ((hi[1:] & 0x0FFF) << 16) | ((hi[1:] & 0xE000) << 15)
    mv = analogue_millivolts(values.astype(float), 500, 100, 16)
    assert 0.05 < mv.min() and mv.max() < 100  # background .. below full scale
    assert ctrl.handle("DATA? 5 7 PC B", 1.0).data == bytes(14)  # empty slot: zeros
    squared = ctrl.handle("DATA? 0 20 A2L A", 1.0).data
    assert squared is not None and len(squared) == 40


def test_mpush_shots_govern_over_max_shots_and_stat_shows_progress():
    ctrl = make_controller(rate_hz=10.0)
    ask(ctrl, "SELECT 0")
    ask(ctrl, "SETMAXSHOTS 5")
    assert ask(ctrl, "MPUSH 50 0 100 PC A", now=0.0) == "MPUSH executed"
    session = ctrl.push
    assert session is not None and session.shots == 50 and session.period == 5.0
    assert ask(ctrl, "STAT?", now=2.0) == "Shots 22 Armed MemA"
    frame = session.frame(1, ctrl.millis)
    words = np.frombuffer(frame.to_bytes(), "<u2")
    assert words[3] == 52  # shot word = 50 + 2, not 5 + 2
    assert ask(ctrl, "SLAVE", now=3.0) == "SLAVE executed"
    assert ctrl.push is None
    assert ask(ctrl, "STAT?", now=10.0) == "Shots 32 MemA"


def test_push_session_double_buffer_timing():
    ctrl = make_controller(rate_hz=10.0)
    ask(ctrl, "SELECT 0")
    ask(ctrl, "MPUSH 10 0 50 PC A", now=100.0)
    session = ctrl.push
    assert isinstance(session, PushSession) and session.due == pytest.approx(101.0)
    session.handed_over(101.0)  # quick client
    assert session.due == pytest.approx(102.0)
    session.handed_over(104.5)  # slow client: acquisition 3 ran while frame 2 was sent
    assert session.due == pytest.approx(103.0)
    session.handed_over(104.6)  # acquisition 4 could only start when frame 2 was handed over
    assert session.due == pytest.approx(105.5)
    assert session.drop_due(108.0) == 3  # no push client: 105.5, 106.5, 107.5 dropped
    assert session.due == pytest.approx(108.5)


def test_frames_decode_to_the_profiles_and_big_endian_timestamps():
    for idn, big in (("Licel ColdFireEthernet 1.0", True), ("Licel Ethernet 2", False)):
        ctrl = make_controller(idn=idn, clock_start_ms=0x01020304, seed=5)
        ask(ctrl, "MPUSH 20 0 100 LSW A 0 100 MSW A 0 100 PC A 2 80 LSW D 2 80 MSW D")
        session = ctrl.push
        assert session is not None and session.plan is not None
        plan = session.plan
        assert plan.big_endian_timestamp is big
        frame = session.frame(1, ctrl.millis)
        data = frame.to_bytes()
        assert len(data) == plan.frame_length == frame.length
        assert zlib.crc32(data) == frame.crc32()
        stamp = ctrl.millis(session.due)
        assert data[2:6] == stamp.to_bytes(4, "big" if big else "little")
        decoder = FrameDecoder(plan)
        assert decoder.problem(data) is None
        decoded = decoder.decode(data)
        assert decoded.timestamp_ms == stamp
        for got, sent in zip(decoded.profiles, frame.profiles):
            np.testing.assert_array_equal(got, sent)


def test_bank_mode_patches_only_the_timestamp():
    ctrl = make_controller(max_speed=True, bank_size=2, seed=3)
    ask(ctrl, "MPUSH 30 0 100 LSW A 0 100 MSW A 0 100 PC A")
    session = ctrl.push
    assert session is not None and session.period == 0
    frames = [session.source.frame(key, 1000 + key) for key in range(1, 12)]
    bodies = {bytes(f.body) for f in frames}
    assert 1 <= len(bodies) <= 2
    plan = session.plan
    assert plan is not None
    for key, frame in enumerate(frames, start=1):
        decoded = FrameDecoder(plan).decode(frame.to_bytes())
        assert decoded.timestamp_ms == 1000 + key
        for got, sent in zip(decoded.profiles, frame.profiles):
            np.testing.assert_array_equal(got, sent)


def test_power_up_resets_recorders_and_push():
    ctrl = make_controller()
    ask(ctrl, "SELECT 0")
    ask(ctrl, "RANGE 2")
    ask(ctrl, "MPUSH 10 0 100 PC A")
    ctrl.power_up(50.0)
    assert ctrl.push is None and ctrl.selected == ()
    assert ctrl.recorders[0].range_index == 0 and ctrl.recorders[0].max_shots == 4096
    assert ctrl.millis(50.0) == 0


# --- signals ----------------------------------------------------------------------------


def test_same_seed_same_profiles_other_seed_other_profiles():
    plan = small_plan()
    settings_ = {0: RecorderSettings(HW16, 1), 1: RecorderSettings(HW12, 0)}

    def profiles(seed: int, key: int):
        rng = np.random.default_rng([seed, key])
        return SignalSynthesizer(seed).profiles(plan, settings_, 100, rng)[0]

    first, again, other = profiles(7, 1), profiles(7, 1), profiles(8, 1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_analogue_return_decays_with_range_above_a_background():
    synth = SignalSynthesizer(2)
    model = synth.model(0, "A", True, 16379, RecorderSettings(HW16, 1))
    atmosphere = synth.atmosphere(0, "A")
    counts_per_mv = 65536 / 100
    far = model.mean[-2000:] / counts_per_mv
    assert far.mean() == pytest.approx(atmosphere.background_mv, rel=0.05)
    peak = int(np.argmax(model.mean))
    assert 10 < peak < 2000  # the overlap makes the maximum a little away from the lidar
    assert model.mean[peak] / counts_per_mv > 5 * atmosphere.background_mv
    assert model.mean[0] < model.mean[peak]  # near range hidden by the overlap


def test_photon_counting_piles_up_and_respects_pc_bits():
    atmosphere = draw_atmosphere(4, 0, "A")
    model = channel_model(atmosphere, RecorderSettings(HW16), False, 3000)
    assert model.pc_true is not None
    assert np.all(model.mean <= model.pc_true + 1e-12)  # observed <= true rate
    assert np.all(model.mean <= 15)  # at most 2**4 - 1 per shot


@settings(max_examples=40, deadline=None)
@given(adc=st.sampled_from([12, 16]), pc_bits=st.sampled_from([0, 4, 6, 8]),
       range_index=st.integers(0, 2), freqdiv=st.integers(0, 7),
       shots=st.integers(1, 65533), seed=st.integers(0, 5), pretrigger=st.booleans(),
       memory=st.sampled_from("ABCD"))
def test_sums_stay_within_what_the_raw_words_carry(adc, pc_bits, range_index, freqdiv, shots,
                                                   seed, pretrigger, memory):
    hw = RecorderHardware(adc_bits=adc, pc_bits=pc_bits)
    bins = 300
    requested = [(0, bins, "LSW", memory), (0, bins, "MSW", memory), (0, bins, "PC", memory)]
    if adc == 16 and shots > 32764:
        requested.insert(2, (0, bins, "PHM", memory))
    plan = plan_from_datasets(shots, requested, {0: hw})
    synth = SignalSynthesizer(seed)
    rec_settings = RecorderSettings(hw, range_index, 10, 0, freqdiv, pretrigger)
    profiles, clipped = synth.profiles(plan, {0: rec_settings}, shots,
                                       np.random.default_rng(seed))
    for channel, profile, flags in zip(plan.channels, profiles, clipped):
        if channel.analogue:
            limit = min(analogue_limit(adc, channel.uses_phm), shots * ((1 << adc) - 1))
            assert flags is not None and flags.shape == profile.shape
        else:
            limit = min(pc_limit(channel.uses_phm), shots * ((1 << pc_bits) - 1))
            assert flags is None
        assert profile.dtype == np.uint32 and profile.shape == (channel.values,)
        assert int(profile.max()) <= limit
    frame = FrameEncoder(plan).encode(0, shots, profiles, clipped)
    decoded = FrameDecoder(plan).decode(frame)
    for got, sent in zip(decoded.profiles, profiles):
        np.testing.assert_array_equal(got, sent)


def test_small_input_range_clips_and_sets_the_clip_flag():
    plan = plan_from_datasets(100, [(0, 2000, "LSW", "A"), (0, 2000, "MSW", "A")], {0: HW16})
    synth = SignalSynthesizer(1)
    strong = {0: RecorderSettings(HW16, range_index=2)}  # -20 mV: the near-range return clips
    weak = {0: RecorderSettings(HW16, range_index=0)}
    rng = np.random.default_rng(0)
    profiles, flags = synth.profiles(plan, strong, 100, rng)
    assert flags[0] is not None and flags[0].any()
    assert int(profiles[0].max()) == 100 * 65535
    decoded = FrameDecoder(plan).decode(FrameEncoder(plan).encode(0, 100, profiles, flags))
    assert decoded.clipped_bins[0] == int(flags[0].sum())
    _, weak_flags = synth.profiles(plan, weak, 100, np.random.default_rng(0))
    assert weak_flags[0] is not None and not weak_flags[0].any()


def test_clouds_occasionally_clip_the_analogue_channel():
    plan = plan_from_datasets(50, [(0, 4000, "LSW", "A"), (0, 4000, "MSW", "A")], {0: HW16})
    synth = SignalSynthesizer(9)
    settings_ = {0: RecorderSettings(HW16, range_index=0)}
    frames = 400
    clipped = sum(bool(synth.profiles(plan, settings_, 50, np.random.default_rng([9, k]))[1][0]
                       .any()) for k in range(frames))
    assert 0 < clipped < frames * CLOUD_PROBABILITY * 3


# --- faults -------------------------------------------------------------------------------


def test_parse_fault_examples_and_defaults():
    assert parse_fault("disconnect:every=50") == FaultSpec("disconnect", every=50)
    assert parse_fault("corrupt:every=23,bytes=3,where=data") == FaultSpec(
        "corrupt", every=23, nbytes=3, where="data")
    assert parse_fault("reboot:at=150,seconds=2") == FaultSpec("reboot", at=150, seconds=2.0)
    assert parse_fault("refuse").seconds == 2.0 and parse_fault("refuse").at_start
    assert parse_fault("stall:at=1").seconds == 6.0


@pytest.mark.parametrize("text, words", [
    ("explode:at=1", "unknown kind"), ("stall", "needs every=N or at=N"),
    ("lose:at=0", "at='0' must be an integer >= 1"), ("corrupt:at=1,where=middle", "where="),
    ("disconnect:at=2,seconds=1", "takes no 'seconds'"), ("hang:at=1,seconds=x", "seconds="),
    ("lose:at", "not key=value"),
])
def test_parse_fault_rejects(text, words):
    with pytest.raises(ValueError, match=words):
        parse_fault(text)


@given(kind=st.sampled_from(["disconnect", "corrupt", "lose", "stall", "hang", "reboot",
                             "refuse"]),
       every=st.none() | st.integers(1, 1000), at=st.none() | st.integers(1, 1000),
       seconds=st.floats(0, 100, allow_nan=False), nbytes=st.integers(1, 50),
       where=st.sampled_from(["any", "delimiter", "timestamp", "shots", "data"]))
def test_fault_text_parses_back(kind, every, at, seconds, nbytes, where):
    if every is None and at is None and kind != "refuse":
        at = 1
    spec = FaultSpec(kind, every, at,
                     seconds=round(seconds, 3) if kind in ("stall", "hang", "reboot", "refuse")
                     else 0.0,
                     nbytes=nbytes if kind in ("corrupt", "lose") else 1,
                     where=where if kind == "corrupt" else "any")
    assert parse_fault(spec.text()) == spec


def test_schedule_every_and_at():
    schedule = FaultSchedule([parse_fault("disconnect:every=5"), parse_fault("corrupt:at=7"),
                              parse_fault("refuse:seconds=1"), parse_fault("stall:at=5")])
    fired = {seq: [s.kind for s in schedule.after_faults(seq)] for seq in range(1, 16)}
    assert {k: v for k, v in fired.items() if v} == {5: ["disconnect", "stall"],
                                                     10: ["disconnect"], 15: ["disconnect"]}
    assert [s.kind for s in schedule.frame_faults(7)] == ["corrupt"]
    assert schedule.frame_faults(6) == ()
    assert [s.kind for s in schedule.at_start()] == ["refuse"]


def frame_of(plan) -> bytes:
    profiles = [np.full(c.values, 1234, dtype=np.uint32) for c in plan.channels]
    return FrameEncoder(plan).encode(77, plan.shots, profiles)


@pytest.mark.parametrize("where", ["any", "delimiter", "timestamp", "shots", "data"])
def test_corrupt_flips_exactly_k_bytes_in_the_region_deterministically(where):
    plan = small_plan()
    frame = frame_of(plan)
    schedule = FaultSchedule([], seed=4)
    spec = FaultSpec("corrupt", at=3, nbytes=2, where=where)
    damaged, records = schedule.damage(frame, 3, [spec], plan)
    assert (damaged, records) == schedule.damage(frame, 3, [spec], plan)
    assert len(damaged) == len(frame)
    diff = [i for i in range(len(frame)) if frame[i] != damaged[i]]
    assert diff == records[0]["positions"] and len(diff) == 2
    shot_bytes = {d.offset + k for d in plan.datasets for k in (0, 1)}
    data_bytes = {i for d in plan.datasets for i in range(d.data_offset, d.offset + 2 + 2 * d.bins)}
    region = {"delimiter": {0, 1}, "timestamp": {2, 3, 4, 5}, "shots": shot_bytes,
              "data": data_bytes, "any": set(range(len(frame)))}[where]
    assert set(diff) <= region
    other, _ = schedule.damage(frame, 4, [spec], plan)
    assert other != damaged or where == "delimiter"


def test_lose_leaves_out_a_contiguous_span():
    plan = small_plan()
    frame = frame_of(plan)
    damaged, records = FaultSchedule([], seed=1).damage(
        frame, 9, [FaultSpec("lose", at=9, nbytes=7)], plan)
    start = records[0]["offset"]
    assert records[0]["bytes"] == 7
    assert damaged == frame[:start] + frame[start + 7:]


def test_mwait_single_and_limit():
    ctrl = make_controller(rate_hz=10.0)
    ask(ctrl, "SELECT 0")
    assert ask(ctrl, "LIMIT 4K") == "LIMIT executed"
    assert ctrl.recorders[0].max_shots == 4096
    ask(ctrl, "SETMAXSHOTS 10")
    ask(ctrl, "START", now=0.0)
    done = ctrl.handle("MWAIT 5000", 0.0)
    assert done.text == "MWAIT executed" and done.delay == pytest.approx(1.0)
    ask(ctrl, "START", now=10.0)
    late = ctrl.handle("MWAIT 100", 10.0)
    assert late.text is not None and late.text.startswith("MWAIT error: timeout")
    assert late.delay == pytest.approx(0.1)
    ask(ctrl, "STOP", now=10.25)  # 2 shots
    assert ask(ctrl, "SINGLE", now=20.0) == "SINGLE executed"
    assert ask(ctrl, "STAT?", now=20.05) == "Shots 4 Armed MemA"
    assert ask(ctrl, "STAT?", now=30.0) == "Shots 5 MemA"  # exactly one more shot


def test_sent_frames_are_bounded_by_count_and_bytes():
    from licelpush.emulator.server import SentFrame, SentFrames

    def sent(seq: int, values: int) -> SentFrame:
        return SentFrame(seq, 1, 0, 1, None, (np.zeros(values, np.uint32),), (None,), 0, 0, ())

    frames = SentFrames(keep=3, max_bytes=8500)
    for seq in range(1, 6):
        frames.add(sent(seq, 100))
    assert frames.seqs() == [3, 4, 5]
    frames.add(sent(6, 2000))  # 8000 bytes: with 5 (400) it fits, not with 4 too
    assert frames.seqs() == [5, 6]
    frames.add(sent(7, 5000))  # too big alone, kept anyway as the newest
    assert frames.seqs() == [7] and frames.get(6) is None

"""The MPUSH plan (PROTOCOL §3.1-3.2): datasets, order, PHM boundaries, command, frame length."""

from __future__ import annotations

import pytest
from factories import config, recorder

from licelpush.errors import PlanError
from licelpush.hardware import RecorderHardware
from licelpush.plan import (
    ANALOGUE_PHM_ABOVE,
    FRAME_HEADER_BYTES,
    MAX_SHOTS,
    PC_PHM_ABOVE,
    make_plan,
    overflow_notes,
    plan_from_datasets,
    shot_limit_notes,
)

HW16 = RecorderHardware(adc_bits=16, pc_bits=4)


def kinds(plan):
    return [(d.recorder, d.memory, d.kind, d.bins) for d in plan.datasets]


def test_order_analogue_memories_then_pc_memories_then_next_recorder():
    cfg = config(
        recorder(0, {"A": (True, True), "C": (True, False), "D": (False, True)}, 50, 40),
        recorder(3, {"B": (False, True)}, 20, 30),
    )
    plan = make_plan(cfg, {0: HW16, 3: HW16}, 300)
    assert kinds(plan) == [
        (0, "A", "LSW", 50), (0, "A", "MSW", 50), (0, "C", "LSW", 50), (0, "C", "MSW", 50),
        (0, "A", "PC", 40), (0, "D", "PC", 40), (3, "B", "PC", 30),
    ]
    assert plan.command == ("MPUSH 300 0 50 LSW A 0 50 MSW A 0 50 LSW C 0 50 MSW C "
                            "0 40 PC A 0 40 PC D 3 30 PC B")
    assert [c.label for c in plan.channels] == [
        "TR0 A analogue", "TR0 C analogue", "TR0 A PC", "TR0 D PC", "TR3 B PC"]


def test_frame_length_and_offsets():
    cfg = config(recorder(0, {"A": (True, True)}, 1000, 500))
    plan = make_plan(cfg, {0: HW16}, 100)
    assert plan.frame_length == 6 + 2 * (2 + 2 * 1000) + (2 + 2 * 500)
    offsets = [d.offset for d in plan.datasets]
    assert offsets == [FRAME_HEADER_BYTES, 6 + 2002, 6 + 4004]
    last = plan.datasets[-1]
    assert last.offset + 2 + 2 * last.bins == plan.frame_length


def test_inactive_recorders_are_not_in_the_plan():
    cfg = config(recorder(0, {}), recorder(1, {"B": (True, False)}))
    plan = make_plan(cfg, {1: HW16}, 10)
    assert plan.recorders == (1,)


@pytest.mark.parametrize("adc,shots,phm", [
    (16, ANALOGUE_PHM_ABOVE, False), (16, ANALOGUE_PHM_ABOVE + 1, True),
    (12, ANALOGUE_PHM_ABOVE + 1, False), (12, MAX_SHOTS, False), (16, MAX_SHOTS, True),
])
def test_analogue_phm_boundary(adc, shots, phm):
    cfg = config(recorder(0, {"A": (True, False)}))
    plan = make_plan(cfg, {0: RecorderHardware(adc_bits=adc, pc_bits=4)}, shots)
    assert ("PHM" in [d.kind for d in plan.datasets]) is phm
    assert plan.channels[0].uses_phm is phm


@pytest.mark.parametrize("pc_bits", sorted(PC_PHM_ABOVE))
@pytest.mark.parametrize("delta,phm", [(-1, False), (0, False), (1, True)])
def test_pc_phm_boundary(pc_bits, delta, phm):
    shots = PC_PHM_ABOVE[pc_bits] + delta
    cfg = config(recorder(0, {"B": (False, True)}))
    plan = make_plan(cfg, {0: RecorderHardware(adc_bits=16, pc_bits=pc_bits)}, shots)
    assert [d.kind for d in plan.datasets] == (["PC", "PHM"] if phm else ["PC"])
    assert plan.command.endswith("PC B 0 100 PHM B" if phm else "PC B")


def test_phm_thresholds_match_the_protocol():
    assert ANALOGUE_PHM_ABOVE == 32764
    assert dict(PC_PHM_ABOVE) == {4: 4096, 6: 1024, 8: 256}


def test_both_channels_of_a_memory_with_phm_each_get_their_phm():
    cfg = config(recorder(0, {"A": (True, True)}, 80, 60))
    plan = make_plan(cfg, {0: HW16}, 40000)
    assert kinds(plan) == [(0, "A", "LSW", 80), (0, "A", "MSW", 80), (0, "A", "PHM", 80),
                           (0, "A", "PC", 60), (0, "A", "PHM", 60)]
    assert plan.channels[0].sources == (0, 1, 2)
    assert plan.channels[1].sources == (3, 4)


@pytest.mark.parametrize("shots", [0, -1, MAX_SHOTS + 1])
def test_shots_out_of_range(shots):
    with pytest.raises(PlanError, match="shots"):
        make_plan(config(), {0: HW16}, shots)


def test_missing_hardware_and_fifo_overflow_are_reported_together():
    cfg = config(recorder(0, {"A": (True, False)}, 20000), recorder(1))
    with pytest.raises(PlanError) as err:
        make_plan(cfg, {0: HW16}, 10)
    assert "TR0 memory A: 20000 analogue bins exceed" in str(err.value)
    assert "TR1: no hardware description" in str(err.value)


def test_no_active_recorder():
    with pytest.raises(PlanError, match="no recorder has an enabled dataset"):
        make_plan(config(recorder(0, {})), {}, 10)


def test_plan_from_datasets_reproduces_make_plan():
    cfg = config(recorder(0, {"A": (True, True), "B": (False, True)}, 30, 20))
    plan = make_plan(cfg, {0: HW16}, 5000)
    again = plan_from_datasets(5000, [(d.recorder, d.bins, d.kind, d.memory)
                                      for d in plan.datasets], {0: HW16})
    assert again == plan


@pytest.mark.parametrize("requested", [
    [(0, 10, "MSW", "A")],
    [(0, 10, "LSW", "A"), (0, 10, "MSW", "B")],
    [(0, 10, "LSW", "A"), (0, 12, "MSW", "A")],
    [(0, 10, "PHM", "A")],
    [(0, 10, "XYZ", "A")],
])
def test_plan_from_datasets_rejects_undecodable_lists(requested):
    with pytest.raises(PlanError):
        plan_from_datasets(100, requested, {0: HW16})


@pytest.mark.parametrize("adc,pc_bits,shots,expected", [
    (12, 4, 4097, []),                      # 4095 x 4097 = 2**24 - 1 still fits
    (12, 4, 4098, ["12-bit analogue"]),
    (16, 4, 2184, []),                      # 15 x 2184 < 2**15
    (16, 4, 2185, ["photon counts"]),
    (16, 4, 4097, []),                      # PHM from here on
    (16, 8, 128, []),
    (16, 8, 129, ["photon counts"]),
    (16, 8, 257, []),
    (16, 4, MAX_SHOTS, []),                 # 16-bit analogue: PHM beyond 32764
])
def test_overflow_notes_at_the_gaps_of_the_phm_rules(adc, pc_bits, shots, expected):
    cfg = config(recorder(0, {"A": (True, True)}))
    plan = make_plan(cfg, {0: RecorderHardware(adc_bits=adc, pc_bits=pc_bits)}, shots)
    notes = overflow_notes(plan)
    assert len(notes) == len(expected)
    for note, fragment in zip(notes, expected):
        assert note.startswith("TR0: ") and fragment in note


def test_shot_limit_notes():
    cfg = config(recorder(0, shot_limit=4096), recorder(1, shot_limit=0))
    assert shot_limit_notes(cfg, 4096) == []
    (note,) = shot_limit_notes(cfg, 5000)
    assert "[TR0] ShotLimit = 4096 is below 5000 shots" in note

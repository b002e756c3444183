"""Public-reader limits a configuration will hit (docs/READERS.md)."""

from __future__ import annotations

from factories import config, recorder

from licelpush.readers import reader_limits


def test_same_wavelength_on_two_recorders_clashes_in_licelfile():
    cfg = config(recorder(0, {"A": (True, True)}), recorder(1, {"A": (True, True)}))
    # one memory per signal type is fine for linc and LicelFileV2, but the same wavelength
    # and polarisation on two recorders gives LicelFile two channels of one name
    limits = reader_limits(cfg)
    assert len(limits) == 1 and "LicelFile refuses" in limits[0]
    assert "00532.o_an (TR0 memory A, TR1 memory A)" in limits[0]


def test_two_memories_of_one_recorder_are_one_device_id():
    cfg = config(recorder(0, {"A": (True, False), "B": (True, False)}))
    limits = reader_limits(cfg)
    assert any("linc merges" in x and "BT0 (TR0 memory A, TR0 memory B)" in x for x in limits)
    assert any("LicelFileV2 refuses" in x and "BT0 laser 1" in x for x in limits)


def test_recorders_above_nine_and_the_controller_timestamp():
    cfg = config(recorder(10, {"A": (True, False)}), recorder(15, {"A": (False, True)}))
    limits = reader_limits(cfg, controller_timestamp=True)
    assert any(x.startswith("TR10, TR15: licelformat") for x in limits)
    assert any("linc refuse" in x for x in limits)
    assert reader_limits(config(recorder(9, {"A": (True, False)}))) == []

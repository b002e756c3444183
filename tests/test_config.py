"""Tests of Acquis.ini loading and validation (licelpush.config; spec ACQUIS_INI.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licelpush.config import (
    MEMORIES,
    AcquisConfig,
    GlobalInfo,
    Laser,
    MemoryConfig,
    RecorderConfig,
    decode_config_bytes,
    load_config,
    parse_config,
)
from licelpush.errors import EXIT_USAGE, ConfigError

HERE = Path(__file__).resolve().parent
STATIONS = HERE / "data" / "acquis"
BROKEN = HERE / "data" / "broken"
GOOD = HERE / "data" / "good"

MINIMAL = "[global_info]\nLocation = Site\nfirst_letter = s\n\n[TR0]\n"
"""Smallest valid file: one inactive recorder."""

ONE_DATASET = """[global_info]
Location = Site
first_letter = s
[TR0]
Range = 1
Discriminator = 8
AnalogA = TRUE
A-binsA = 1000
WavelengthA = 355
LaserA = 1
"""
"""A file with one enabled analogue dataset (TR0 memory A)."""


def problems_of(text: str, source: str = "Acquis.ini") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source)
    return info.value.problems


# --- the stations' files ---------------------------------------------------------


def test_station_ini_values() -> None:
    path = STATIONS / "station.ini"
    assert b"\r\n" in path.read_bytes()  # the file really uses CRLF
    config = load_config(path)
    assert config.path == path
    info = config.global_info
    assert info.location == "Berlin"
    assert info.longitude == pytest.approx(13.384714)
    assert info.latitude == pytest.approx(52.542598)
    assert info.height_asl == 45.0
    assert info.working_directory == "D:\\Licel\\data"
    assert info.first_letter == "b"
    assert (info.zenith, info.azimuth) == (0.0, 15.0)
    assert [laser.number for laser in config.lasers] == [1, 2, 3, 4]
    assert [laser.frequency_hz for laser in config.lasers] == [20.0, 20.0, 10.0, 10.0]
    assert config.laser(1).lines == ((1064.0, 0), (532.0, 1))
    assert config.laser(2).lines == ()
    assert config.laser(3).lines == ()

    assert len(config.recorders) == 1
    recorder = config.recorders[0]
    assert recorder.address == 0
    assert recorder.active
    assert (recorder.range, recorder.range_millivolts) == (1, 100)
    assert recorder.discriminator == 8
    assert recorder.threshold == 0
    assert recorder.pretrigger is False
    assert recorder.freq_divider == 0
    assert recorder.shot_limit == 4096
    assert recorder.blocked_triggers == ()
    assert [m.memory for m in recorder.memories] == list(MEMORIES)
    a = recorder.memory("A")
    assert (a.analogue, a.photon_counting) == (True, True)
    assert (a.analogue_bins, a.pc_bins) == (16000, 16000)
    assert (a.analogue_wavelength, a.pc_wavelength) == (355.0, 355.0)
    assert (a.analogue_pmt_voltage, a.pc_pmt_voltage) == (850.0, 850.0)
    assert a.laser == 1
    b = recorder.memory("B")
    assert (b.analogue, b.photon_counting) == (False, False)
    # values of disabled datasets are still read when present
    assert (b.analogue_bins, b.analogue_wavelength, b.analogue_polarisation) == (16000, 532.0, 1)
    assert b.laser == 2
    assert [m.analogue_pmt_voltage for m in recorder.memories] == [850.0, 800.0, 780.0, 700.0]
    assert [m.pc_polarisation for m in recorder.memories] == [0, 1, 2, 0]
    assert [m.laser for m in recorder.memories] == [1, 2, 3, 1]


def test_two_recorders_ini_values() -> None:
    config = load_config(STATIONS / "two-recorders.ini")
    assert config.global_info.location == "Leipzig"
    assert config.global_info.first_letter == "LE"
    assert [r.address for r in config.active_recorders] == [0, 1]
    tr0, tr1 = config.recorders
    assert [(m.analogue, m.photon_counting) for m in tr0.memories] == [
        (True, True), (True, True), (False, False), (False, False)
    ]
    assert tr0.memory("B").analogue_bins == 8000
    assert (tr1.discriminator, tr1.range, tr1.range_millivolts) == (12, 0, 500)
    assert (tr1.freq_divider, tr1.freq_divider_exponent) == (2, 1)
    assert (tr1.memory("A").analogue_bins, tr1.memory("A").pc_bins) == (16000, 4000)
    assert [m.analogue for m in tr1.memories] == [True, False, False, False]


def test_eight_recorders_ini_values() -> None:
    config = load_config(STATIONS / "eight-recorders.ini")
    assert config.global_info.location == "Granada"
    assert [r.address for r in config.recorders] == list(range(8))
    assert len(config.active_recorders) == 8
    for recorder in config.recorders:
        assert all(m.analogue and m.photon_counting for m in recorder.memories)
        assert {m.analogue_bins for m in recorder.memories} == {16380}
        assert {m.pc_bins for m in recorder.memories} == {16380}
        assert recorder.shot_limit == 4096


@pytest.mark.parametrize("name", ["station.ini", "two-recorders.ini", "eight-recorders.ini"])
def test_station_files_parse_the_same_with_lf_and_dots(name: str) -> None:
    """The CRLF/comma original and an LF/dot rewrite give the same configuration."""
    text = (STATIONS / name).read_bytes().decode("ascii")
    rewritten = text.replace("\r\n", "\n").replace(",", ".")
    assert parse_config(rewritten, name) == parse_config(text, name)


# --- good files with unusual spellings ----------------------------------------


def test_minimal_file_defaults() -> None:
    config = load_config(GOOD / "minimal.ini")
    info = config.global_info
    assert (info.location, info.first_letter) == ("Nowhere", "x")
    assert (info.longitude, info.latitude, info.height_asl) == (0.0, 0.0, 0.0)
    assert (info.zenith, info.azimuth, info.working_directory) == (0.0, 0.0, "")
    assert [laser.frequency_hz for laser in config.lasers] == [0.0, 0.0, 0.0, 0.0]
    assert all(laser.lines == () for laser in config.lasers)
    # file order, not address order
    assert [r.address for r in config.recorders] == [3, 0]
    tr3, tr0 = config.recorders
    assert tr3.active and not tr0.active
    assert (tr3.range, tr3.discriminator) == (2, 0)
    assert (tr3.threshold, tr3.pretrigger, tr3.freq_divider, tr3.shot_limit) == (0, False, 0, 0)
    assert tr3.blocked_triggers == ()
    b = tr3.memory("B")
    assert (b.analogue, b.photon_counting, b.pc_bins, b.pc_wavelength) == (False, True, 2, 607.4)
    assert (b.laser, b.pc_polarisation, b.pc_pmt_voltage) == (3, 0, 0.0)
    a = tr3.memory("A")
    assert (a.analogue_bins, a.pc_bins, a.analogue_wavelength, a.laser) == (0, 0, 0.0, 1)
    assert tr0.memories == tuple(
        MemoryConfig(letter, False, False, 0, 0, 0.0, 0.0, 0, 0, 1, 0.0, 0.0) for letter in MEMORIES
    )


def test_odd_spellings_file(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="licelpush.config"):
        config = load_config(GOOD / "odd_spellings.ini")
    info = config.global_info
    assert info.location == "Zürich"
    assert info.first_letter == "zh"
    assert info.working_directory == "/data/lidar/%Y/raw"
    assert (info.longitude, info.latitude, info.height_asl) == (8.5417, 47.3769, 408.5)
    assert (info.zenith, info.azimuth) == (30.0, 359.5)
    assert [laser.frequency_hz for laser in config.lasers] == [50.0, 0.0, 10.0, 0.0]
    # sorted by K (2, 3, 10); a wavelength without polarisation gets 0
    assert config.laser(2).lines == ((1064.5, 4), (532.0, 0), (355.0, 2))
    (tr2,) = config.recorders
    assert tr2.address == 2
    assert (tr2.range, tr2.discriminator, tr2.threshold, tr2.pretrigger) == (0, 63, 1, True)
    assert (tr2.freq_divider, tr2.freq_divider_exponent, tr2.shot_limit) == (128, 7, 65534)
    assert [(m.analogue, m.photon_counting) for m in tr2.memories] == [
        (False, True), (True, False), (False, False), (False, False)
    ]
    b = tr2.memory("B")
    assert (b.analogue_bins, b.analogue_wavelength, b.analogue_polarisation) == (2, 532.25, 4)
    assert (b.laser, b.analogue_pmt_voltage) == (2, 1999.5)
    a = tr2.memory("A")
    assert (a.pc_bins, a.pc_wavelength, a.pc_polarisation, a.laser) == (100, 1064.0, 3, 1)
    assert tr2.blocked_triggers == ("A", "C")
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    # "AnalogB" is not "Analog B": ignored, with a warning naming the real key
    assert any(
        level == logging.WARNING and "AnalogB" in text and "'Analog B'" in text
        for level, text in messages
    )
    assert any("SomethingNew" in text and "ignored" in text for _, text in messages)
    assert any("[some_other_tool]" in text and "ignored" in text for _, text in messages)


# --- reading rules --------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_endings(newline: str) -> None:
    config = parse_config(ONE_DATASET.replace("\n", newline), "Acquis.ini")
    assert config == parse_config(ONE_DATASET, "Acquis.ini")
    assert config.recorders[0].memory("A").analogue_bins == 1000


def test_byte_order_mark_is_ignored() -> None:
    assert parse_config("\ufeff" + MINIMAL, "x") == parse_config(MINIMAL, "x")


@pytest.mark.parametrize(
    ("written", "value"),
    [("52,5", 52.5), ("52.5", 52.5), ("-52,500000", -52.5), ('"52,5"', 52.5), (",5", 0.5),
     ("5e1", 50.0), ("+7", 7.0)],
)
def test_numbers(written: str, value: float) -> None:
    config = parse_config(MINIMAL.replace("[TR0]", f"Latitude = {written}\n[TR0]"), "x")
    assert config.global_info.latitude == value


@pytest.mark.parametrize("written", ["52;5", "52,5,0", "five", "1,2e", "nan", "inf", "0x10", ""])
def test_not_numbers(written: str) -> None:
    problems = problems_of(MINIMAL.replace("[TR0]", f"Latitude = {written}\n[TR0]"))
    assert problems == [
        f"Acquis.ini:5 [global_info] Latitude = {written}: "
        "must be a number from -90 to 90 (degrees)"
    ]


@pytest.mark.parametrize(("written", "value"), [("2", 2), ("2,000000", 2), ("2.0", 2), ('"0"', 0)])
def test_whole_numbers_may_have_a_zero_fraction(written: str, value: int) -> None:
    config = parse_config(ONE_DATASET.replace("Range = 1", f"Range = {written}"), "x")
    assert config.recorders[0].range == value


@pytest.mark.parametrize("written", ["1,5", "0.1", "1,000001"])
def test_whole_numbers_reject_fractions(written: str) -> None:
    problems = problems_of(ONE_DATASET.replace("Range = 1", f"Range = {written}"))
    assert len(problems) == 1
    assert problems[0].startswith(f"Acquis.ini:5 [TR0] Range = {written}: must be 0 (-500 mV)")


TRUE_SPELLINGS = ["TRUE", "True", "true", "tRuE", "1", "yes", "YES", "on", "On", '"TRUE"']
FALSE_SPELLINGS = ["FALSE", "False", "false", "0", "no", "NO", "off", "OFF", '"false"']


@pytest.mark.parametrize(
    ("written", "value"),
    [(s, True) for s in TRUE_SPELLINGS] + [(s, False) for s in FALSE_SPELLINGS],
)
def test_boolean_spellings(written: str, value: bool) -> None:
    text = ONE_DATASET + f"BlockTrigC = {written}\nPretrigger = {written}\nThreshold = {written}\n"
    recorder = parse_config(text, "x").recorders[0]
    assert recorder.blocked_triggers == (("C",) if value else ())
    assert recorder.pretrigger is value
    assert recorder.threshold == int(value)


@pytest.mark.parametrize("written", ["2", "y", "n", "t", "enabled", "", "1,5"])
def test_not_booleans(written: str) -> None:
    problems = problems_of(ONE_DATASET + f"BlockTrigC = {written}\n")
    assert problems == [
        f"Acquis.ini:11 [TR0] BlockTrigC = {written}: must be TRUE or FALSE "
        "(also 1/0, yes/no, on/off)"
    ]


def test_threshold_and_pretrigger_accept_one_with_zero_fraction() -> None:
    text = ONE_DATASET + "Threshold = 1,000000\nPretrigger = 1.0\n"
    recorder = parse_config(text, "x").recorders[0]
    assert (recorder.threshold, recorder.pretrigger) == (1, True)


def test_key_and_section_names_are_case_insensitive() -> None:
    text = ONE_DATASET.replace("[global_info]", "[GLOBAL_INFO]").replace("[TR0]", "[tr0]")
    text = text.replace("A-binsA", "a-BINSa").replace("Discriminator", "dIsCrImInAtOr")
    recorder = parse_config(text, "x").recorders[0]
    assert (recorder.memory("A").analogue_bins, recorder.discriminator) == (1000, 8)


def test_spaces_inside_key_names_are_significant(caplog: pytest.LogCaptureFixture) -> None:
    base = ONE_DATASET + "A-binsB = 500\nWavelengthB = 532\nLaserB = 2\n"
    with caplog.at_level(logging.WARNING, logger="licelpush.config"):
        ignored = parse_config(base + "AnalogB = TRUE\nPCB = TRUE\n", "x")
    assert ignored.recorders[0].memory("B").analogue is False
    assert ignored.recorders[0].memory("B").photon_counting is False
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "'Analog B'" in warnings and "'PC B'" in warnings
    read = parse_config(base + "Analog B = TRUE\n", "x")
    assert read.recorders[0].memory("B").analogue is True
    assert read.recorders[0].memory("B").analogue_bins == 500


def test_whitespace_around_keys_and_values() -> None:
    text = ONE_DATASET.replace("Range = 1", "  \tRange\t=   2   \t").replace(
        "Location = Site", 'Location =   "  Site  "  '
    )
    config = parse_config(text, "x")
    assert config.recorders[0].range == 2
    assert config.global_info.location == "  Site  "  # inside quotes kept


def test_only_one_pair_of_quotes_is_stripped() -> None:
    text = MINIMAL.replace("Location = Site", 'Location = ""Site""')
    assert parse_config(text, "x").global_info.location == '"Site"'
    text = MINIMAL.replace("Location = Site", 'Location = "Site')
    assert parse_config(text, "x").global_info.location == '"Site'


def test_no_interpolation_in_windows_paths() -> None:
    path = r"C:\%USERPROFILE%\data\%(here)s\$HOME;#x=y"
    text = MINIMAL.replace("[TR0]", f'working_directory = "{path}"\n[TR0]')
    assert parse_config(text, "x").global_info.working_directory == path


def test_comments_blank_lines_and_unknown_parts(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        "; comment\n# another\n   ; indented comment\n\n"
        + ONE_DATASET.replace("[TR0]", "SyncViewer = FALSE\nMystery = 1\n\n[TR0]\n; x = 1")
        + "Unused = 5\n[Unknown Section]\nRange = 99\n"
    )
    with caplog.at_level(logging.DEBUG, logger="licelpush.config"):
        config = parse_config(text, "x")
    assert config == parse_config(ONE_DATASET, "x")
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    for name in ("SyncViewer", "Mystery", "Unused", "[Unknown Section]"):
        assert any(name in message for message in debug), name
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # only the missing coordinates of this short file are worth a warning
    assert warnings and all(w.endswith("missing, using 0") for w in warnings)


def test_repeated_key_last_wins() -> None:
    text = ONE_DATASET + "A-binsA = 2000\nrange = 2\n"
    recorder = parse_config(text, "x").recorders[0]
    assert (recorder.memory("A").analogue_bins, recorder.range) == (2000, 2)


def test_section_header_with_inner_spaces() -> None:
    config = parse_config(MINIMAL.replace("[TR0]", "[ TR5 ]"), "x")
    assert [r.address for r in config.recorders] == [5]


@pytest.mark.parametrize("address", [0, 9, 15])
def test_recorder_addresses(address: int) -> None:
    config = parse_config(MINIMAL.replace("[TR0]", f"[TR{address}]"), "x")
    assert config.recorders[0].address == address


@pytest.mark.parametrize("name", ["TR 1", "TR01", "TR-1", "tr+2"])
def test_bad_recorder_section_names(name: str) -> None:
    problems = problems_of(ONE_DATASET + f"[{name}]\nAnalogA = TRUE\n")
    assert problems == [
        f"Acquis.ini:11 [{name}]: not a valid recorder section name; recorder sections are "
        "[TR0] to [TR15] (no spaces, signs or leading zeros)"
    ]


def test_disabled_datasets_need_nothing() -> None:
    recorder = parse_config(ONE_DATASET, "x").recorders[0]
    for letter in "BCD":
        memory = recorder.memory(letter)
        assert (memory.analogue, memory.photon_counting) == (False, False)
        assert (memory.analogue_bins, memory.pc_bins, memory.laser) == (0, 0, 1)
        assert (memory.analogue_wavelength, memory.pc_wavelength) == (0.0, 0.0)
    assert recorder.memory("A").pc_bins == 0


def test_inactive_recorder_needs_no_range_or_discriminator() -> None:
    config = parse_config(MINIMAL + "AnalogA = FALSE\nPC A = no\n", "x")
    assert (config.recorders[0].range, config.recorders[0].discriminator) == (0, 0)
    assert config.active_recorders == ()


def test_laser_sections() -> None:
    text = ONE_DATASET + (
        "[global_info_Laser3]\nLaser3_Wavelength1 = 532\nLaser3_Polarization1 = 1\n"
        "Laser3_Wavelength0 = 1064,5\nLaser3_Polarisation0 = 2\nLaser1_Wavelength0 = 355\n"
        "[global_info_Laser4]\nLaser4_Wavelength0 = 355\n"
    )
    config = parse_config(text, "x")
    assert config.laser(3).lines == ((1064.5, 2), (532.0, 1))
    assert config.laser(1).lines == ()  # a Laser1 key in the Laser3 section is not used
    assert config.laser(4).lines == ((355.0, 0),)
    assert len(config.lasers) == 4


# --- decoding and files -----------------------------------------------------------


def test_cp1252_file(tmp_path: Path) -> None:
    path = tmp_path / "Acquis.ini"
    path.write_bytes(MINIMAL.replace("Site", "Zürich – Süd").encode("cp1252"))
    assert load_config(path).global_info.location == "Zürich – Süd"


def test_latin1_fallback(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252 and invalid UTF-8
    data = b"; \x81\n" + MINIMAL.replace("Site", "M\xfcnchen").encode("latin-1")
    path = tmp_path / "Acquis.ini"
    path.write_bytes(data)
    assert load_config(path).global_info.location == "München"


def test_utf8_and_utf16_files(tmp_path: Path) -> None:
    text = MINIMAL.replace("Site", "Zürich")
    for encoding in ("utf-8", "utf-8-sig", "utf-16"):
        path = tmp_path / f"{encoding}.ini"
        path.write_bytes(text.encode(encoding))
        assert load_config(path).global_info.location == "Zürich", encoding


def test_decode_prefers_utf8() -> None:
    assert decode_config_bytes("Zürich".encode()) == "Zürich"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "Acquis.ini"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: no such file"]
    assert info.value.exit_status == EXIT_USAGE


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{tmp_path}: ")


def test_binary_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: contains NUL characters; not an Acquis.ini text file"
    ]


def test_error_message_is_all_problems_sorted_by_line() -> None:
    text = ONE_DATASET.replace("Range = 1", "Range = 3")
    text = text.replace("first_letter = s", "first_letter = 1")
    text += "Discriminator = 99\nbad line\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "Acquis.ini")
    problems = info.value.problems
    assert [p.split(" ", 1)[0] for p in problems] == [
        "Acquis.ini:3", "Acquis.ini:5", "Acquis.ini:11", "Acquis.ini:12:"
    ]
    assert str(info.value) == "\n".join(problems)


# --- the broken corpus -----------------------------------------------------------

# file -> expected problems: (where and what, as the message starts after the
# file name; a piece of the allowed-values text). Every problem must be found
# exactly once and nothing else reported.
BROKEN_EXPECTED: dict[str, list[tuple[str, str]]] = {
    "range_out_of_range.ini": [(":28 [TR1] Range = 5:", "0 (-500 mV), 1 (-100 mV) or 2 (-20 mV)")],
    "discriminator_too_high.ini": [(":16 [TR0] Discriminator = 64:", "0 to 63")],
    "bins_not_whole.ini": [
        (":19 [TR0] A-binsA = 8000,5:", "whole number from 2 to 16380"),
        (":20 [TR0] P-binsA = 1:", "whole number from 2 to 16380"),
    ],
    "bins_too_many.ini": [(":20 [TR0] P-binsA = 16381:", "2 to 16380")],
    "divider_and_shot_limit.ini": [
        (":26 [TR0] FreqDivider = 3:", "power of two from 1 to 128"),
        (":27 [TR0] ShotLimit = 1:", "0 (leave as is) or a whole number from 2 to 65534"),
    ],
    "polarisation_and_laser.ini": [
        (":18 [TR0] PolarisationApc = 5:", "4 (left circular)"),
        (":19 [TR0] LaserA = 0:", "1, 2, 3 or 4"),
    ],
    "pmt_voltage.ini": [
        (":24 [TR0] PM = 2500,000000:", "0 to 2000 (V)"),
        (":25 [TR0] PM1pc = -10:", "0 to 2000 (V)"),
    ],
    "missing_dataset_keys.ini": [
        (":14 [TR0] P-binsA: missing", "because PC A is enabled"),
        (":14 [TR0] WavelengthA: missing", "because AnalogA is enabled"),
        (":14 [TR0] LaserA: missing", "because AnalogA and PC A are enabled"),
    ],
    "no_recorders.ini": [(": no recorder section", "[TR0] to [TR15]")],
    "recorder_address_16.ini": [(":27 [TR16]: recorder address 16 is out of range", "[TR15]")],
    "duplicate_recorder.ini": [(":27 [TR0]: duplicate section", "line 14")],
    "unreadable_lines.ini": [
        (":17: cannot read line 'this is not ini'", "key = value"),
        (":18: cannot read line '[TR1'", "key = value"),
    ],
    "global_info_values.ini": [
        (":3 [global_info] Longitude = -181,5:", "-180 to 180"),
        (":4 [global_info] Latitude = 95:", "-90 to 90"),
        (":5 [global_info] Height_asl = 45 m:", "must be a number"),
        (':7 [global_info] first_letter = "abc":', "1 or 2 ASCII letters"),
        (":8 [global_info] Zenith = 200:", "0 to 180"),
        (":9 [global_info] Azimuth = -1:", "0 to 360"),
        (":11 [global_info] frequency2 = -5:", "0 (not used) or a number from 0.001 to 9999"),
    ],
    "no_global_info.ini": [(": no [global_info] section", "Location and first_letter")],
    "empty_location.ini": [
        (':2 [global_info] Location = "  ":', "not empty"),
    ],
    "missing_location.ini": [
        (":1 [global_info] Location: missing", "required"),
        (":1 [global_info] first_letter: missing", "1 or 2 ASCII letters"),
    ],
    "bad_booleans.ini": [
        (":17 [TR0] AnalogA = maybe:", "TRUE or FALSE"),
        (":26 [TR0] BlockTrigA = 2:", "TRUE or FALSE"),
        (":27 [TR0] Threshold = 2:", "0 (off) or 1 (on)"),
        (":28 [TR0] Pretrigger = yes please:", "0 (off) or 1 (on)"),
        (":29 [TR0] AnalogD = :", "TRUE or FALSE"),
    ],
    "key_before_section.ini": [(":1: Location = Berlin: key before the first section", "")],
    "laser_lines.ini": [
        (":28 [global_info_Laser1] Laser1_Wavelength0 = -5:", "> 0 and at most 99999 (nm)"),
        (":31 [global_info_Laser1] Laser1_Polarization1 = 7:", "0 (none)"),
        (":32 [global_info_Laser1] Laser1_Polarization2 = 1:", "no matching Laser1_Wavelength2"),
        (":33 [global_info_Laser1]: duplicate section", "line 27"),
    ],
    "disabled_dataset_values.ini": [
        # WavelengthB and A-binsC belong to disabled datasets: warnings only
        # repeated key: the last one counts
        (":26 [TR0] WavelengthA = 0:", "> 0 and at most 99999 (nm)"),
    ],
    "empty.ini": [
        (": no [global_info] section", "Location and first_letter"),
        (": no recorder section", "[TR0] to [TR15]"),
    ],
    "many_problems.ini": [
        (":4 [global_info] Latitude = -90,5:", "-90 to 90"),
        (':7 [global_info] first_letter = "":', "1 or 2 ASCII letters"),
        (":15 [TR0] Range = -1:", "0 (-500 mV)"),
        (":19 [TR0] PC B = ja:", "TRUE or FALSE"),
        (":20 [TR0] Discriminator = 8,5:", "0 to 63"),
        (":28 [TR0] FreqDivider = 256:", "power of two"),
        (":29 [TR0] ShotLimit = 65535:", "2 to 65534"),
        (":31 [TR1] Range: missing", "required for an active recorder"),
        (":31 [TR1] Discriminator: missing", "required for an active recorder"),
        (":33 [TR1] A-BinsB = 20000:", "2 to 16380"),
        (":35 [TR1] LaserB = 5:", "1, 2, 3 or 4"),
        (":36 [TR1] PM2 = 850,000000,0:", "0 to 2000"),
        (":38 [TR1]: duplicate section", "line 31"),
        (":41 [TR17]: recorder address 17 is out of range", "[TR15]"),
        (":43: cannot read line '= 5'", "key = value"),
    ],
}


def test_broken_corpus_is_complete() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.ini")) == sorted(BROKEN_EXPECTED)


@pytest.mark.parametrize("name", sorted(BROKEN_EXPECTED))
def test_broken_file_reports_every_problem(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    expected = BROKEN_EXPECTED[name]
    for start, allowed in expected:
        matching = [p for p in problems if p.startswith(f"{path}{start}")]
        assert len(matching) == 1, (start, problems)
        assert allowed in matching[0]
    assert len(problems) == len(expected), problems
    assert all("\n" not in p and "\r" not in p for p in problems)


# --- round trip: model -> ini text -> model --------------------------------------

FINITE = {"allow_nan": False, "allow_infinity": False}
POSITIVE = st.floats(min_value=0.0, max_value=99999.0, exclude_min=True, **FINITE)
"""A wavelength: > 0 and within the five digits of the file's field."""
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=16)
PATH_TEXT = st.text(
    st.sampled_from(list('\\/%:$;#="() ')) | st.characters(blacklist_categories=("Cc", "Cs")),
    max_size=24,
)
TRUE_WORDS = ["TRUE", "True", "true", "1", "yes", "Yes", "on", "ON"]
FALSE_WORDS = ["FALSE", "False", "false", "0", "no", "NO", "off", "Off"]


@st.composite
def memory_configs(draw: st.DrawFn, letter: str) -> MemoryConfig:
    analogue, pc = draw(st.booleans()), draw(st.booleans())

    def bins(on: bool) -> int:
        return draw(st.integers(2, 16380) if on else st.just(0) | st.integers(2, 16380))

    def wavelength(on: bool) -> float:
        return draw(POSITIVE if on else st.just(0.0) | POSITIVE)

    return MemoryConfig(
        memory=letter,
        analogue=analogue,
        photon_counting=pc,
        analogue_bins=bins(analogue),
        pc_bins=bins(pc),
        analogue_wavelength=wavelength(analogue),
        pc_wavelength=wavelength(pc),
        analogue_polarisation=draw(st.integers(0, 4)),
        pc_polarisation=draw(st.integers(0, 4)),
        laser=draw(st.integers(1, 4)),
        analogue_pmt_voltage=draw(st.floats(0.0, 2000.0, **FINITE)),
        pc_pmt_voltage=draw(st.floats(0.0, 2000.0, **FINITE)),
    )


@st.composite
def recorder_configs(draw: st.DrawFn, address: int) -> RecorderConfig:
    return RecorderConfig(
        address=address,
        range=draw(st.integers(0, 2)),
        discriminator=draw(st.integers(0, 63)),
        threshold=draw(st.integers(0, 1)),
        pretrigger=draw(st.booleans()),
        freq_divider=draw(st.sampled_from((0, 1, 2, 4, 8, 16, 32, 64, 128))),
        shot_limit=draw(st.just(0) | st.integers(2, 65534)),
        memories=tuple(draw(memory_configs(letter)) for letter in MEMORIES),
        blocked_triggers=tuple(letter for letter in MEMORIES if draw(st.booleans())),
    )


@st.composite
def acquis_configs(draw: st.DrawFn) -> AcquisConfig:
    info = GlobalInfo(
        location=draw(TEXT.filter(lambda text: text.strip())),  # a site name is required
        longitude=draw(st.floats(-180.0, 180.0, **FINITE)),
        latitude=draw(st.floats(-90.0, 90.0, **FINITE)),
        height_asl=draw(st.floats(-999.0, 9999.0, **FINITE)),
        working_directory=draw(PATH_TEXT),
        first_letter=draw(st.from_regex(r"[A-Za-z]{1,2}", fullmatch=True)),
        zenith=draw(st.floats(0.0, 180.0, **FINITE)),
        azimuth=draw(st.floats(0.0, 360.0, **FINITE)),
    )
    lasers = tuple(
        Laser(
            number=number,
            frequency_hz=draw(st.just(0.0) | st.floats(0.001, 9999.0, **FINITE)),
            lines=tuple(draw(st.lists(st.tuples(POSITIVE, st.integers(0, 4)), max_size=4))),
        )
        for number in (1, 2, 3, 4)
    )
    addresses = draw(st.lists(st.integers(0, 15), min_size=1, max_size=4, unique=True))
    recorders = tuple(draw(recorder_configs(address)) for address in addresses)
    return AcquisConfig(Path("Acquis.ini"), info, lasers, recorders)


class Renderer:
    """Writes a configuration as a station might: odd case, spacing, quotes, decimals."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.comma = draw(st.booleans())

    def key(self, key: str) -> str:
        spelled = self.draw(st.sampled_from([key, key.upper(), key.lower(), key.swapcase()]))
        before = self.draw(st.sampled_from(["", " ", "\t", "  "]))
        equals = self.draw(st.sampled_from(["=", " = ", " =  ", "\t=\t", "= "]))
        return f"{before}{spelled}{equals}"

    def maybe_quoted(self, text: str) -> str:
        return f'"{text}"' if self.draw(st.booleans()) else text

    def string(self, text: str) -> str:
        quoted = text != text.strip() or (len(text) >= 2 and text[0] == text[-1] == '"')
        return f'"{text}"' if quoted else self.maybe_quoted(text)

    def number(self, value: float) -> str:
        if value.is_integer() and abs(value) < 1e15 and self.draw(st.booleans()):
            text = f"{value:.6f}"
        else:
            text = repr(value)
        if self.comma or self.draw(st.booleans()):
            text = text.replace(".", ",")
        return self.maybe_quoted(text)

    def whole(self, value: int) -> str:
        text = self.draw(st.sampled_from([str(value), f"{value},000000", f"{value}.0"]))
        return self.maybe_quoted(text)

    def boolean(self, value: bool) -> str:
        return self.draw(st.sampled_from(TRUE_WORDS if value else FALSE_WORDS))

    def omit(self, is_default: bool) -> bool:
        return is_default and self.draw(st.booleans())

    def noise(self) -> list[str]:
        return self.draw(
            st.lists(
                st.sampled_from(["", "; comment", "# comment", "SyncViewer = FALSE", "  "]),
                max_size=2,
            )
        )


def render(config: AcquisConfig, draw: st.DrawFn) -> str:
    r = Renderer(draw)
    info = config.global_info
    glob = ["[global_info]", r.key("Location") + r.string(info.location)]
    for key, value in (
        ("Longitude", info.longitude), ("Latitude", info.latitude),
        ("Height_asl", info.height_asl), ("Zenith", info.zenith), ("Azimuth", info.azimuth),
    ):
        if not r.omit(value == 0.0):
            glob.append(r.key(key) + r.number(value))
    if not r.omit(info.working_directory == ""):
        glob.append(r.key("working_directory") + r.string(info.working_directory))
    glob.append(r.key("first_letter") + r.string(info.first_letter))
    for laser in config.lasers:
        if not r.omit(laser.frequency_hz == 0.0):
            glob.append(r.key(f"frequency{laser.number}") + r.number(laser.frequency_hz))
    glob += r.noise()

    blocks: list[list[str]] = []
    for recorder in config.recorders:
        lines = [f"[TR{recorder.address}]"] + r.noise()
        for key, value in (("Range", recorder.range), ("Discriminator", recorder.discriminator)):
            if not r.omit(not recorder.active and value == 0):
                lines.append(r.key(key) + r.whole(value))
        if not r.omit(recorder.threshold == 0):
            lines.append(r.key("Threshold") + r.draw(st.sampled_from(
                [r.whole(recorder.threshold), r.boolean(bool(recorder.threshold))]
            )))
        if not r.omit(recorder.pretrigger is False):
            lines.append(r.key("Pretrigger") + r.boolean(recorder.pretrigger))
        if not r.omit(recorder.freq_divider == 0):
            lines.append(r.key("FreqDivider") + r.whole(recorder.freq_divider))
        if not r.omit(recorder.shot_limit == 0):
            lines.append(r.key("ShotLimit") + r.whole(recorder.shot_limit))
        analogue_keys = ("AnalogA", "Analog B", "Analog C", "AnalogD")
        pmt_keys = ("PM", "PM2", "PM3", "PM4")
        for index, m in enumerate(recorder.memories):
            letter = m.memory
            if not r.omit(not m.analogue):
                lines.append(r.key(analogue_keys[index]) + r.boolean(m.analogue))
            if not r.omit(not m.photon_counting):
                lines.append(r.key(f"PC {letter}") + r.boolean(m.photon_counting))
            if m.analogue_bins:
                lines.append(r.key(f"A-bins{letter}") + r.whole(m.analogue_bins))
            if m.pc_bins:
                lines.append(r.key(f"P-bins{letter}") + r.whole(m.pc_bins))
            if m.analogue_wavelength:
                lines.append(r.key(f"Wavelength{letter}") + r.number(m.analogue_wavelength))
            if m.pc_wavelength:
                lines.append(r.key(f"Wavelength{letter}pc") + r.number(m.pc_wavelength))
            if not r.omit(m.analogue_polarisation == 0):
                lines.append(r.key(f"Polarisation{letter}") + r.whole(m.analogue_polarisation))
            if not r.omit(m.pc_polarisation == 0):
                lines.append(r.key(f"Polarisation{letter}pc") + r.whole(m.pc_polarisation))
            if not r.omit(not (m.analogue or m.photon_counting) and m.laser == 1):
                lines.append(r.key(f"Laser{letter}") + r.whole(m.laser))
            if not r.omit(m.analogue_pmt_voltage == 0.0):
                lines.append(r.key(pmt_keys[index]) + r.number(m.analogue_pmt_voltage))
            if not r.omit(m.pc_pmt_voltage == 0.0):
                lines.append(r.key(f"PM{index + 1}pc") + r.number(m.pc_pmt_voltage))
            blocked = letter in recorder.blocked_triggers
            if not r.omit(not blocked):
                lines.append(r.key(f"BlockTrig{letter}") + r.boolean(blocked))
        blocks.append(lines)

    others = [glob]
    for laser in config.lasers:
        if not laser.lines and draw(st.booleans()):
            continue
        n = laser.number
        ks = sorted(draw(st.lists(
            st.integers(0, 99), min_size=len(laser.lines), max_size=len(laser.lines), unique=True
        )))
        entries = []
        for k, (wavelength, polarisation) in zip(ks, laser.lines):
            entries.append(r.key(f"Laser{n}_Wavelength{k}") + r.number(wavelength))
            if not r.omit(polarisation == 0):
                entries.append(r.key(f"Laser{n}_Polarization{k}") + r.whole(polarisation))
        others.append([f"[global_info_Laser{n}]"] + draw(st.permutations(entries)))
    others.append(["[Unknown]", "Range = 77"])
    for block in others:  # anywhere between recorders: their order is file order
        blocks.insert(draw(st.integers(0, len(blocks))), block)

    newline = draw(st.sampled_from(["\r\n", "\n"]))
    return newline.join(line for block in blocks for line in block + [""])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(data: st.DataObject) -> None:
    config = data.draw(acquis_configs(), label="config")
    rendered = render(config, data.draw)
    assert parse_config(rendered, "Acquis.ini") == config


@pytest.mark.parametrize("text,foreign", [
    ("D:\\Licel\\data", True), ("C:data", True), ("C:/data", True),
    ("\\\\server\\lidar", True), ("data\\sub", True),
    ("data/sub", False), ("/srv/lidar", False), ("", False),
])
def test_windows_working_directories_are_recognised(text, foreign, monkeypatch):
    from licelpush import config as config_module

    monkeypatch.setattr(config_module.os, "name", "posix")
    assert config_module.is_foreign_path(text) is foreign


def test_bad_values_of_disabled_datasets_are_warnings(caplog: pytest.LogCaptureFixture) -> None:
    text = ONE_DATASET + "LaserD = 9\nWavelengthB = -1\nP-binsA = 1\nPM3 = 5000\n"
    with caplog.at_level(logging.WARNING, logger="licelpush.config"):
        recorder = parse_config(text, "Acquis.ini").recorders[0]
    assert recorder.memory("D").laser == 1 and recorder.memory("B").analogue_wavelength == 0.0
    assert recorder.memory("A").pc_bins == 0
    warned = caplog.text
    for key in ("LaserD = 9", "WavelengthB = -1", "P-binsA = 1", "PM3 = 5000"):
        assert f"{key}: must be" in warned and "its dataset is disabled" in warned, key
    # the same values are problems once their dataset is enabled
    problems = problems_of(text + "AnalogD = TRUE\nA-binsD = 100\nWavelengthD = 532\n")
    assert any("LaserD = 9: must be 1, 2, 3 or 4" in p for p in problems)


def test_laser_4_with_its_rate_from_frequency4() -> None:
    text = ONE_DATASET.replace("LaserA = 1", "LaserA = 4").replace(
        "first_letter = s", "first_letter = s\nfrequency1 = 20\nfrequency4 = 12,5")
    config = parse_config(text, "Acquis.ini")
    assert config.recorders[0].memory("A").laser == 4
    assert config.laser(4).frequency_hz == 12.5 and config.laser(1).frequency_hz == 20.0

"""The vendor-compatible ``Licel`` package and the documented MPUSH program.

Unit tests feed byte streams built with licelpush's frame encoder into the
adapters (no network); the program tests run ``examples/mpush.py`` unchanged
as a subprocess, from a folder holding an Acquis.ini, against the controller
emulator, and compare every record it saved with the profiles the emulator
sent (also with disconnects, a reboot, lost and corrupted bytes).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from optional import shared_path

from Licel import _pushbuffer, licel_Config, licel_data, licel_tcpip
from licelpush.encode import FrameEncoder
from licelpush.hardware import RecorderHardware
from licelpush.licelfile import read_records
from licelpush.plan import make_plan
from licelpush.testing import emulator  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_INI = REPO / "examples" / "Acquis.ini"
MPUSH = REPO / "examples" / "mpush.py"

SHOTS = 20
HARDWARE = {0: RecorderHardware(adc_bits=16, pc_bits=4),
            1: RecorderHardware(adc_bits=12, pc_bits=4)}
EMULATED = "0:16/4,1:12/4"


def station(folder: Path, working_directory: str = "data", **replace: str) -> Path:
    """An Acquis.ini in ``folder``: the example's, with ``working_directory`` and any
    ``key = value`` lines replaced (CRLF kept)."""
    text = EXAMPLE_INI.read_bytes().decode("ascii")
    text = re.sub(r'working_directory = "[^"]*"',
                  lambda _: f'working_directory = "{working_directory}"', text)
    for key, value in replace.items():
        text, count = re.subn(rf"(?m)^{re.escape(key)} = [^\r\n]*", f"{key} = {value}", text)
        assert count, key
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Acquis.ini"
    path.write_bytes(text.encode("ascii"))
    return path


def read_station(path: Path) -> licel_Config.Config:
    config = licel_Config.Config(str(path))
    config.readConfig()
    return config


# --------------------------------------------------------------------------- Config


def test_read_config_shows_the_file_under_vendor_names(tmp_path):
    config = licel_Config.Config(str(station(tmp_path, "out")))
    returned = config.readConfig()
    assert returned is config.TrConfigs
    tr0, tr1 = config.TrConfigs
    assert tr0.nTransientRecorder == 0 and tr1["nTransientRecorder"] == 1
    assert tr0.analogueEnabled == {"A": True, "B": False, "C": False, "D": False}
    assert tr0.pcEnabled == {"A": True, "B": False, "C": False, "D": False}
    assert tr0["analogueBins"]["A"] == 4000 and tr0.analogueBins["B"] == 2000
    assert tr0.pcBins["A"] == 4000
    assert (tr0.nRange, tr1.nRange) == (100, 500)  # Range 1 and 0, in mV like the vendor
    assert (tr1.discriminator, tr1.threshold, tr1.freqDivider) == (12, 1, 2)
    assert tr1.analoguePolarisation["A"] == 2 and tr1.pcWavelength["A"] == 532.0
    assert tr0.pmVoltageAnalogue["B"] == 800.0 and tr0.pmVoltagePC["A"] == 850.0
    info = config.measurementInfo
    assert config.measurmentInfo is info  # the vendor's spelling
    assert (info.szLocation, info.cFirstLetter, info.szOutPath) == ("Leipzig", "a", "out")
    assert (info["nAltitude"], info.dLongitude, info.dLatitude) == (125, 12.43, 51.35)
    assert (info.repRateL0, info.repRateL1, info.repRateL2) == (20, 20, 10)
    assert info.Laser0_globalInfo == {355.0: 0, 532.0: 1}
    assert config.numDataSets == 4


def test_read_config_again_replaces_instead_of_appending(tmp_path):
    config = read_station(station(tmp_path))
    config.readConfig()
    assert [t.nTransientRecorder for t in config.TrConfigs] == [0, 1]


def test_views_are_dicts_with_attribute_access(tmp_path):
    config = read_station(station(tmp_path))
    config.measurementInfo.szOutPath = "elsewhere"
    assert config.measurementInfo["szOutPath"] == "elsewhere"
    with pytest.raises(AttributeError, match="noSuchField"):
        _ = config.TrConfigs[0].noSuchField


def test_missing_configuration_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="Acquis.ini"):
        licel_Config.Config(str(tmp_path / "Acquis.ini")).readConfig()


def test_invalid_configuration_lists_every_problem(tmp_path):
    path = station(tmp_path, Range="5", Discriminator="99")
    with pytest.raises(ValueError) as caught:
        licel_Config.Config(str(path)).readConfig()
    problems = caught.value.problems  # type: ignore[attr-defined]
    assert any("Range = 5" in p for p in problems)
    assert any("Discriminator = 99" in p for p in problems)


def test_configuration_must_be_read_before_use(tmp_path):
    with pytest.raises(RuntimeError, match="readConfig"):
        licel_Config.Config(str(station(tmp_path))).require()


# --------------------------------------------------------------------------- push buffers


@pytest.fixture
def adapters(tmp_path, monkeypatch):
    """(config, plan, controller with the plan adopted, parser, encoder); cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    config = read_station(station(tmp_path))
    plan = make_plan(config.require(), HARDWARE, SHOTS)
    controller = licel_tcpip.EthernetController("127.0.0.1", 2055)
    controller.usePlan(config, plan)
    parser = licel_data.DataParser()
    yield config, plan, controller, parser, FrameEncoder(plan)
    parser.close()


def random_profiles(plan, rng, *, ff_words=False):
    """One profile per channel within what the raw words carry; with ``ff_words`` every
    analogue LSW is 0xFFFF, i.e. ``FF FF`` all over the frame's data."""
    profiles = []
    for channel in plan.channels:
        if channel.analogue:
            top = (1 << 24) - 1 if channel.hardware.adc_bits == 12 else (1 << 31) - 1
            values = rng.integers(0, top, channel.values, dtype=np.int64)
            if ff_words:
                values |= 0xFFFF
        else:
            values = rng.integers(0, 1 << 15, channel.values, dtype=np.int64)
        profiles.append(values)
    return profiles


def make_stream(plan, encoder, count, seed=0, **kw):
    rng = np.random.default_rng(seed)
    profiles = [random_profiles(plan, rng, **kw) for _ in range(count)]
    frames = [encoder.encode(1000 + 50 * i, SHOTS, p) for i, p in enumerate(profiles)]
    return frames, profiles


def assert_profiles(data_sets, profiles):
    assert len(data_sets) == len(profiles)
    for got, want in zip(data_sets, profiles):
        assert got.dtype == np.uint32
        np.testing.assert_array_equal(got.astype(np.int64), want)


def test_parse_takes_exactly_one_confirmed_frame(adapters):
    config, plan, controller, parser, encoder = adapters
    frames, profiles = make_stream(plan, encoder, 3)
    controller.pushBuffer += b"".join(frames)
    valid, data_sets, stamp, analogue, pc = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert valid and stamp == 1000
    assert [c.label for c in plan.channels] == [
        "TR0 A analogue", "TR0 A PC", "TR1 A analogue", "TR1 A PC"]
    assert_profiles(data_sets, profiles[0])
    assert analogue == {0: {"A": SHOTS + 2}, 1: {"A": SHOTS + 2}}
    assert pc == {0: {"A": SHOTS + 2}, 1: {"A": SHOTS + 2}}
    assert bytes(controller.pushBuffer) == frames[1] + frames[2]
    valid, data_sets, stamp, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert valid and stamp == 1050
    assert_profiles(data_sets, profiles[1])
    # The last frame is not confirmed until the next frame starts or the stream ends.
    valid, data_sets, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert not valid and data_sets == []
    assert parser.removeInvalidDataFromBuffer(controller.pushBuffer) == 0
    assert bytes(controller.pushBuffer) == frames[2]
    controller.pushStreamEnded = True
    valid, data_sets, stamp, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert valid and stamp == 1100 and not controller.pushBuffer
    assert_profiles(data_sets, profiles[2])


def test_damage_is_removed_up_to_the_next_confirmed_frame_not_the_first_ff_ff(adapters):
    config, plan, controller, parser, encoder = adapters
    frames, profiles = make_stream(plan, encoder, 4, seed=1, ff_words=True)
    middle = plan.frame_length // 2
    damaged = frames[0][:middle] + frames[0][middle + 7:]  # 7 bytes lost in transit
    controller.pushBuffer += damaged + b"".join(frames[1:])
    valid, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert not valid and "lost or added" in parser.lastProblem
    vendor_cut = _pushbuffer.fallback_cut(controller.pushBuffer)
    assert vendor_cut < len(damaged)  # the first FF FF lies inside the damaged frame's data
    assert parser.removeInvalidDataFromBuffer(controller.pushBuffer) == len(damaged)
    for expected in profiles[1:3]:
        valid, data_sets, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
        assert valid
        assert_profiles(data_sets, expected)


def test_garbage_and_inconsistent_shot_words_are_removed_exactly(adapters):
    config, plan, controller, parser, encoder = adapters
    frames, profiles = make_stream(plan, encoder, 3, seed=2)
    bad = bytearray(frames[0])
    bad[plan.datasets[3].offset] ^= 0x01  # one dataset's shot word disagrees with its memory
    garbage = b"\x00\x11\xff\xff\x22" * 9
    controller.pushBuffer += garbage + bytes(bad) + frames[1] + frames[2]
    valid, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert not valid
    removed = 0
    while True:
        dropped = parser.removeInvalidDataFromBuffer(controller.pushBuffer)
        if not dropped:
            break
        removed += dropped
    assert removed == len(garbage) + len(bad)
    valid, data_sets, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert valid
    assert_profiles(data_sets, profiles[1])


def test_twelve_bit_recorders_decode_with_their_own_layout(adapters):
    config, plan, controller, parser, encoder = adapters
    rng = np.random.default_rng(3)
    profiles = random_profiles(plan, rng)
    index = [c.label for c in plan.channels].index("TR1 A analogue")
    profiles[index][:] = (1 << 24) - 1 - np.arange(plan.channels[index].values)
    flags = [None] * len(plan.channels)
    flags[index] = np.arange(plan.channels[index].values) % 3 == 0  # MSW bit 8 set
    frame = encoder.encode(7, SHOTS, profiles, flags)
    controller.pushBuffer += frame
    controller.pushStreamEnded = True
    valid, data_sets, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert valid
    assert_profiles(data_sets, profiles)
    assert parser.clippedBins[index] == int(np.count_nonzero(flags[index]))


def test_phm_is_read_exactly_when_requested_between_4096_and_32764_shots(tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = read_station(station(tmp_path))
    shots = 5000  # photon counting (4 bits) needs PHM, 16-bit analogue does not yet
    plan = make_plan(config.require(), HARDWARE, shots)
    kinds = [(d.recorder, d.memory, d.kind) for d in plan.datasets]
    assert (0, "A", "PHM") in kinds and kinds.count((0, "A", "PHM")) == 1
    assert kinds[kinds.index((0, "A", "MSW")) + 1] != (0, "A", "PHM")
    controller = licel_tcpip.EthernetController("127.0.0.1", 2055)
    controller.usePlan(config, plan)
    assert controller.BufferSize == plan.frame_length == config.BufferSize
    rng = np.random.default_rng(4)
    profiles = random_profiles(plan, rng)
    for i, channel in enumerate(plan.channels):
        if not channel.analogue:
            profiles[i] = rng.integers(1 << 15, 1 << 24, channel.values, dtype=np.int64)
    controller.pushBuffer += FrameEncoder(plan).encode(9, shots, profiles)
    controller.pushStreamEnded = True
    valid, data_sets, _, analogue, _ = licel_data.DataParser().parseDataFromBuffer(
        config, controller, shots)
    assert valid and analogue[0]["A"] == shots + 2
    assert_profiles(data_sets, profiles)


def test_saved_files_are_licel_records_with_the_pushed_values(adapters, tmp_path):
    config, plan, controller, parser, encoder = adapters
    frames, profiles = make_stream(plan, encoder, 3, seed=5)
    controller.pushBuffer += b"".join(frames)
    controller.pushStreamEnded = True
    start = datetime(2024, 5, 13, 21, 5, 19)
    written = []
    for i in range(3):
        valid, data_sets, stamp, analogue, pc = parser.parseDataFromBuffer(
            config, controller, SHOTS)
        assert valid
        written.append(parser.savePushDataToFile(
            data_sets, config, start + timedelta(seconds=i), start + timedelta(seconds=i + 1),
            controller.hardwareInfos, stamp, analogue, pc, SHOTS, 2))
    parser.close()
    files = sorted((tmp_path / "data").iterdir())
    assert files == sorted(set(written)) and len(files) == 2
    records = [r for f in files for r in read_records(f)]
    assert [len(read_records(f)) for f in files] == [2, 1]
    assert files[0].name == "a2451321.051900"
    for record, expected in zip(records, profiles):
        assert_profiles([d.astype(np.int64).astype(np.uint32) for d in record.data], expected)
        header = record.header
        assert header.site == "Leipzig" and header.laser_shots == (SHOTS, 0, 0)
        lines = [(d.device_id, d.bins, d.shots, d.wavelength_nm) for d in header.datasets]
        assert lines == [("BT0", 3999, SHOTS, 355), ("BC0", 3999, SHOTS, 355),
                         ("BT1", 1999, SHOTS, 532), ("BC1", 1999, SHOTS, 532)]
        assert header.datasets[2].bin_width_m == pytest.approx(7.5)  # 3.75 m x divider 2
        assert header.datasets[2].adc_bits == 12 and header.datasets[2].input_range_mv == 500


@pytest.mark.parametrize("working_directory", [r"D:\Licel\data", ""])
def test_unusable_working_directory_falls_back_to_the_current_directory(
        tmp_path, monkeypatch, caplog, working_directory):
    run = tmp_path / "run"
    config = read_station(station(run, working_directory))
    monkeypatch.chdir(run)
    plan = make_plan(config.require(), HARDWARE, SHOTS)
    controller = licel_tcpip.EthernetController("127.0.0.1", 2055)
    controller.usePlan(config, plan)
    (frame,), _ = make_stream(plan, FrameEncoder(plan), 1)
    controller.pushBuffer += frame
    controller.pushStreamEnded = True
    with licel_data.DataParser() as parser, caplog.at_level(logging.WARNING):
        _, data_sets, stamp, analogue, pc = parser.parseDataFromBuffer(config, controller, SHOTS)
        path = parser.savePushDataToFile(data_sets, config, datetime.now(), datetime.now(),
                                         controller.hardwareInfos, stamp, analogue, pc,
                                         SHOTS, 1)
    assert path.parent == run
    assert len(read_records(path)) == 1
    assert "current directory" in caplog.text


def test_push_data_log_describes_the_invalid_data(adapters, tmp_path):
    config, plan, controller, parser, encoder = adapters
    frames, _ = make_stream(plan, encoder, 2, seed=6)
    controller.pushBuffer += frames[0][:100] + frames[1]
    controller.pushStreamEnded = True
    valid, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
    assert not valid
    log_path = tmp_path / "mpush_log.txt"
    for _ in range(2):
        parser.pushDataLog(str(log_path), controller.pushBuffer, "Licel test IDN",
                           "MILLISEC 12345", config)
    text = log_path.read_text()
    assert text.count("invalid push data") == 2
    assert "Licel test IDN" in text and "12345 ms" in text
    assert f"buffer length:     {100 + plan.frame_length} bytes" in text
    assert f"expected length:   {plan.frame_length} bytes" in text
    assert "invalid span:      100 bytes" in text


# --------------------------------------------------------------------------- connections


def test_recv_hands_out_buffered_frames_before_reporting_a_closed_connection(adapters):
    config, plan, controller, parser, encoder = adapters
    frames, profiles = make_stream(plan, encoder, 4, seed=7)
    profiles = profiles[:3]
    ours, controllers_end = socket.socketpair()
    controller.controller.push_socket = ours
    try:
        controllers_end.sendall(b"".join(frames[:3]) + frames[3][:50])
        controllers_end.close()
        for expected in profiles:
            controller.recvPushData()
            valid, data_sets, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
            assert valid
            assert_profiles(data_sets, expected)
        controller.recvPushData()  # the incomplete frame at the end is decided as damage
        valid, *_ = parser.parseDataFromBuffer(config, controller, SHOTS)
        assert not valid and "incomplete" in parser.lastProblem
        assert parser.removeInvalidDataFromBuffer(controller.pushBuffer) == 50
        with pytest.raises(ConnectionResetError, match="closed the push connection"):
            controller.recvPushData()
    finally:
        ours.close()


def test_silent_push_stream_and_silent_controller_raise_timeout(adapters):
    config, plan, controller, parser, encoder = adapters
    ours, controllers_end = socket.socketpair()
    controller.controller.push_socket = ours
    controller.probeAfter = 0.01
    try:  # no command connection: the *IDN? probe fails
        with pytest.raises(TimeoutError, match="does not answer"):
            controller.recvPushData()
        with pytest.raises(ConnectionError):  # and it stays ended until reconnection
            controller.recvPushData()
    finally:
        ours.close()
        controllers_end.close()


def answer_idn(sock: socket.socket) -> None:
    """A controller that answers every ``*IDN?`` but never pushes."""
    with sock, sock.makefile("rb") as lines:
        for line in lines:
            if line.strip() == b"*IDN?":
                sock.sendall(b"Licel fake controller\r\n")


def test_silent_push_stream_of_an_answering_controller_raises_timeout(adapters):
    config, plan, controller, parser, encoder = adapters
    push, push_end = socket.socketpair()
    command, command_end = socket.socketpair()
    controller.controller.push_socket = push
    controller.controller.command_socket = command
    answering = threading.Thread(target=answer_idn, args=(command_end,), daemon=True)
    answering.start()
    controller.probeAfter = controller.stallLimit = 0.01
    try:
        with pytest.raises(TimeoutError, match="although the controller answers"):
            controller.recvPushData()
    finally:
        for sock in (push, push_end, command):
            sock.close()
        answering.join(5)


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_reconnection_raises_runtime_error_when_attempts_are_exhausted(tmp_path, caplog):
    config = read_station(station(tmp_path))
    controller = licel_tcpip.EthernetController("127.0.0.1", closed_port(), timeout=1.0)
    controller.reconnectAttempts = 3
    controller.RECONNECTION_BACKOFF_S = 0.01
    controller.pushBuffer += b"stale"
    with pytest.raises(RuntimeError, match="after 3 attempt"), caplog.at_level(logging.INFO):
        controller.reconnection(config)
    assert caplog.text.count("failed") >= 3


def test_connection_failures_are_connection_errors(tmp_path):
    controller = licel_tcpip.EthernetController("127.0.0.1", closed_port(), timeout=1.0)
    with pytest.raises(ConnectionError):
        controller.openConnection()
    with pytest.raises(RuntimeError, match="MPushStartFromConfig"):
        controller.recvPushData()


# --------------------------------------------------------------------------- the program


def code_blocks(rst: str) -> list[str]:
    """The ``.. code-block::`` bodies of an reST text, dedented, trailing blanks removed."""
    lines, blocks, i = rst.splitlines(), [], 0
    while i < len(lines):
        if lines[i].strip().startswith(".. code-block::"):
            i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                body.append(lines[i])
                i += 1
            text = textwrap.dedent("\n".join(body)).strip("\n")
            blocks.append("\n".join(line.rstrip() for line in text.splitlines()))
        else:
            i += 1
    return blocks


def test_example_program_is_the_documents_code_unchanged():
    blocks = code_blocks(shared_path("docs", "mpush-workflow.rst").read_text())
    program = "\n".join(line.rstrip() for line in MPUSH.read_text().splitlines())
    positions = [program.find(block) for block in blocks]
    assert len(blocks) == 10 and -1 not in positions, [b[:40] for b, p in zip(blocks, positions)
                                                       if p < 0]
    definition = next(i for i, b in enumerate(blocks) if b.startswith("def singleAcquistion"))
    loop = next(i for i, b in enumerate(blocks) if b.startswith("cycle_count = 0"))
    # Document order, except that the function is defined before the loop that calls it.
    order = blocks[:loop] + [blocks[definition]] + [b for i, b in enumerate(blocks)
                                                    if i >= loop and i != definition]
    assert [program.find(b) for b in order] == sorted(program.find(b) for b in order)
    assert "def commandLineInterface" in program and "logFilePath =" in program


def run_program(folder: Path, port: int, acquisitions: int, *, per_file: int = 3,
                log: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
    args = [sys.executable, str(MPUSH), "--ip", "127.0.0.1", "--port", str(port),
            "--acq", str(acquisitions), "--shots", str(SHOTS),
            "--acquis_per_file", str(per_file), "--log" if log else "--no-log"]
    return subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def saved_records(directory: Path) -> list:
    files = sorted(directory.iterdir())
    return [(f, r) for f in files for r in read_records(f)]


def match_sent(emu, records) -> list[int]:
    """The emulator seq of the frame each record holds (in file order); every record must
    be bit-identical to a frame the emulator built, with true shots in its header."""
    sent = {}
    for seq in range(1, emu.frames_sent() + 1):
        frame = emu.sent_frame(seq)
        key = b"".join(p.astype("<i8").tobytes() for p in frame.profiles)
        sent[key] = frame
    seqs = []
    for path, record in records:
        key = b"".join(d.astype("<i8").tobytes() for d in record.data)
        frame = sent.get(key)
        assert frame is not None, f"{path.name}: record matches no frame the emulator sent"
        assert [d.shots for d in record.header.datasets] == [frame.shots] * len(record.data)
        seqs.append(frame.seq)
    return seqs


def start_station(tmp_path, emulator, *faults):  # noqa: F811 - the fixture factory
    folder = tmp_path / "station"
    ini = station(folder, str(tmp_path / "data"))
    emu = emulator(config=ini, recorders=EMULATED, speed=20, seed=11, keep_sent=1000,
                   faults=list(faults))
    return folder, emu


def test_program_saves_every_acquisition_the_emulator_sent(tmp_path, emulator):  # noqa: F811
    folder, emu = start_station(tmp_path, emulator)
    result = run_program(folder, emu.port, 7)
    assert result.returncode == 0, result.stderr
    assert "'TR0': 'installed', 'TR1': 'installed', 'TR2': 'not installed'" in result.stdout
    assert "MPUSH executed" in result.stdout
    files = sorted((tmp_path / "data").iterdir())
    assert [len(read_records(f)) for f in files] == [3, 3, 1]
    assert match_sent(emu, saved_records(tmp_path / "data")) == list(range(1, 8))
    assert not (folder / "mpush_log.txt").exists()


@pytest.mark.parametrize("fault", ["disconnect:every=3", "reboot:at=2,seconds=1"])
def test_program_reconnects_without_losing_an_acquisition(tmp_path, emulator, fault):  # noqa: F811
    folder, emu = start_station(tmp_path, emulator, fault)
    result = run_program(folder, emu.port, 8)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("*** Restarting MPUSH ***") >= (2 if "every" in fault else 1)
    # Frames already received when the connection dropped are saved, not discarded.
    assert match_sent(emu, saved_records(tmp_path / "data")) == list(range(1, 9))


def test_program_with_damaged_frames_logs_and_completes_its_cycles(tmp_path, emulator):  # noqa: F811
    folder, emu = start_station(tmp_path, emulator, "lose:every=4,bytes=7",
                                "corrupt:every=5,where=shots,bytes=2")
    cycles = 10
    result = run_program(folder, emu.port, cycles, log=True)
    assert result.returncode == 0, result.stderr
    invalid = result.stdout.count("Invalid data received with timestamp: MILLISEC")
    assert invalid >= 2  # frames 4 and 5 at least were damaged before 10 cycles ended
    seqs = match_sent(emu, saved_records(tmp_path / "data"))
    assert len(seqs) == cycles - invalid  # every cycle either saved a frame or dropped damage
    assert seqs == sorted(seqs)
    assert all(not emu.sent_frame(s).faults for s in seqs)  # no damaged frame was saved
    assert {4, 5} - set(seqs) == {4, 5}
    log_text = (folder / "mpush_log.txt").read_text()
    assert log_text.count("invalid push data") == invalid
    assert "Licel Ethernet Controller" in log_text

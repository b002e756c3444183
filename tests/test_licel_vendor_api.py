"""The vendor API beyond MPUSH: transient-recorder calls, DATA? readers, DataParser
processing, per-dataset files and the photomultiplier, with the vendor's names.

The scripts in ``tests/vendor_scripts`` make the vendor's example call sequences
(sample acquisition, PMT voltage); they run unchanged as subprocesses from an
empty folder against ``licelpush emulate --config`` a one-recorder station.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from Licel import licel_Config, licel_data, licel_tcpip, licel_tr_tcpip, photomultiplier
from licelpush.client import Controller
from licelpush.decode import combine_squared, decode_raw_words
from licelpush.encode import FrameEncoder
from licelpush.licelfile import read_records
from licelpush.plan import make_plan
from licelpush.testing import emulator  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "tests" / "vendor_scripts"

ONE_RECORDER = """\
[global_info]
Location = Bench
Longitude = 12.43
Latitude = 51.35
Height_asl = 125
Zenith = 0
Azimuth = 0
first_letter = b
working_directory = "{out}"
frequency1 = 20

[TR0]
AnalogA = TRUE
PC A = TRUE
Range = 1
Discriminator = 8
A-binsA = 1000
P-binsA = 1000
WavelengthA = 532
WavelengthApc = 532
LaserA = 1
PM = 720
PM1pc = 720
"""


def one_recorder(folder: Path, out: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Acquis.ini"
    path.write_text(ONE_RECORDER.format(out=out))
    return path


def read(path: Path) -> licel_Config.Config:
    config = licel_Config.Config(str(path))
    config.readConfig()
    return config


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
    return env


# --------------------------------------------------------------------------- names

VENDOR_SIGNATURES = {
    # licel_tcpip.EthernetController (and its Tr, licel_tr_tcpip.TransientRecorder)
    "selectTR": ["numTR"], "selectMultipleTR": ["devicelist"], "getStatus": [],
    "TRtype": [], "setInputRange": ["Range"], "setThresholdMode": ["thresholdMode"],
    "setDiscriminatorLevel": ["discriminatorLevel"], "setMaxShots": ["maxShots"],
    "setMaxBins": ["numMaxBins"], "setShotLimit": ["limit"], "enablePretrigger": [],
    "disablePretrigger": [], "setSlaveMode": [], "clearMemory": [], "startAcquisition": [],
    "stopAcquisition": [], "continueAcquisition": [], "singleShot": [],
    "multipleClearMemory": [], "multipleStartAcquisition": [], "multipleStopAcquisition": [],
    "multipleContinueAcquisition": [], "multipleWaitForReady": ["milliSec"],
    "waitForReady": ["delay"], "getShotsAB": [], "getMultipleShotsAB": [],
    "getMultipleShots": [],
    "getCombinedRawAnalogueData": ["TRType", "dataParser", "bins", "shots", "device", "memory"],
    "getRawPhotonCountingData": ["TRType", "dataParser", "bins", "shots", "device", "memory"],
    "getCombinedRawAnalogueSquaredData": ["dataParser", "binsSqd", "device", "memory"],
    "getRawPhotonCountingSquaredData": ["dataParser", "binsSqd", "device", "memory"],
    "blockRackTrigger": ["trig"], "unblockRackTrigger": [], "multiplyBinwidth": ["multiplier"],
    "getActualBinwidth": ["deviceNumber"], "configureHardware": ["Config"],
    "MPushStartFromConfig": ["shots", "Config"], "reconnection": ["ConfigInfo"],
    "getID": [], "getCapabilities": [], "getMilliSecs": [], "listInstalledTr": [],
    "openConnection": [], "openPushConnection": [], "shutdownConnection": [],
    "shutdownPushConnection": [], "killSocket": [], "MPushStop": [], "recvPushData": [],
}
PARSER_SIGNATURES = {
    "normalizeData": ["accumulatedData", "iNumber", "iShots"],
    "scaleAnalogData": ["dNormalized", "inputRange", "TRHardwareInfo"],
    "scale_PhotonCounting": ["normalizedPhotonCount", "binWidth"],
    "getSquareRootBinary": ["combinedAnalogueRawData", "combinedSqdData", "iNumber", "iShots"],
    "normalizeSquaredData": ["sqd_bin", "iShots"],
    "meanError": ["sampleStdDev", "iShots"],
    "parseDataFromBuffer": ["Config", "ethernetController", "shots"],
    "removeInvalidDataFromBuffer": ["pushBuffer"],
    "savePushDataToLicelFileFormat": ["DataSet", "Config", "startTime", "stoptTime",
                                      "TRHardwareInfo", "time_stamp", "analogue_shot_dict",
                                      "pc_shot_dict", "shots", "ACQUISPERFILE"],
    "saveAcquisDataToLicelFileFormat": ["prefix", "shots", "bins", "Config", "my_startTime",
                                        "my_stopTime", "TRHardwareInfo", "deviceNumber",
                                        "DataType", "Memory", "Data"],
    "pushDataLog": ["asciiFile_path", "ethernetController", "idn", "startTime", "Config"],
}
PMT_SIGNATURES = {"setHV": ["device", "voltage"], "getHV": ["device"],
                  "isPMTinstalled": ["device"], "listInstalledPMT": []}


def parameters(function) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]


@pytest.mark.parametrize("cls, table", [
    (licel_tcpip.EthernetController, VENDOR_SIGNATURES),
    (licel_data.DataParser, PARSER_SIGNATURES),
    (photomultiplier.photomultiplier, PMT_SIGNATURES),
])
def test_every_adapted_method_has_the_vendors_parameter_names(cls, table):
    wrong = {name: parameters(getattr(cls, name)) for name, expected in table.items()
             if parameters(getattr(cls, name)) != expected}
    assert wrong == {}


def test_tr_is_the_controller_and_pmt_a_photomultiplier():
    controller = licel_tcpip.EthernetController("127.0.0.1", 2055)
    assert controller.Tr is controller
    assert isinstance(controller.pmt, photomultiplier.photomultiplier)
    assert controller.pmt is controller.pmt
    assert licel_data.DataParser.savePushDataToFile is \
        licel_data.DataParser.savePushDataToLicelFileFormat


# --------------------------------------------------------------------------- decoding


def test_raw_words_combine_as_protocol_section_4():
    rng = np.random.default_rng(3)
    lsw, msw, phm = (rng.integers(0, 1 << 16, 9, dtype=np.uint16) for _ in range(3))
    values, clips = decode_raw_words(16, True, (lsw, msw, phm))
    m = msw.astype(np.uint64)
    expected = (lsw.astype(np.uint64) | (m & 0x0FFF) << 16 | (m & 0xE000) << 15
                | (phm.astype(np.uint64) & 0x0100) << 23)
    assert values.dtype == np.uint32 and values.tolist() == expected[1:].tolist()
    assert clips.tolist() == (((msw & 0x1000) != 0)[1:]).astype(int).tolist()
    values12, clips12 = decode_raw_words(12, True, (lsw, msw))
    assert values12.tolist() == (lsw.astype(np.uint64) | (m & 0xFF) << 16)[1:].tolist()
    assert clips12.tolist() == (((msw & 0x0100) != 0)[1:]).astype(int).tolist()
    pc, pc_clips = decode_raw_words(16, False, (lsw,))
    assert pc.tolist() == (lsw & 0x7FFF)[1:].tolist() and not pc_clips.any()
    full, _ = decode_raw_words(16, False, (lsw, phm))
    assert full.tolist() == (lsw.astype(np.uint64) | (phm.astype(np.uint64) & 0xFF) << 16
                             )[1:].tolist()
    squares = combine_squared((lsw, msw, phm))
    assert squares.tolist() == (lsw.astype(np.uint64) | m << 16
                                | phm.astype(np.uint64) << 32)[1:].tolist()
    with pytest.raises(ValueError, match="one length"):
        decode_raw_words(16, True, (lsw, msw[:4]))


class ScriptedReads(licel_tcpip.EthernetController):
    """A controller whose DATA? answers come from a table (no network)."""

    def __init__(self, words: dict[str, np.ndarray]) -> None:
        super().__init__("127.0.0.1", 2055)
        self.words = words
        self.asked: list[tuple[int, int, str, str]] = []

    def _read_raw(self, device, words, datatype, memory):
        self.asked.append((device, words, datatype, memory))
        return self.words[datatype][:words]


@pytest.mark.parametrize("shots, adc, kinds", [
    (4094, 16, ["LSW", "MSW"]), (32764, 16, ["LSW", "MSW"]), (32765, 16, ["LSW", "MSW", "PHM"]),
    (40000, 12, ["LSW", "MSW"]),
])
def test_analogue_reader_asks_phm_exactly_when_section_3_1_needs_it(shots, adc, kinds):
    rng = np.random.default_rng(shots)
    words = {k: rng.integers(0, 1 << 16, 101, dtype=np.uint16) for k in ("LSW", "MSW", "PHM")}
    controller = ScriptedReads(words)
    info = {"ADC Bits": adc, "PC Bits": 4, "FIFOLength": 16384, "binWidth": 3.75}
    values, clips = controller.Tr.getCombinedRawAnalogueData(
        TRType=info, dataParser=None, bins=100, shots=shots, device=2, memory="MEM_C")
    assert [a[2] for a in controller.asked] == kinds
    assert {(a[0], a[1], a[3]) for a in controller.asked} == {(2, 101, "C")}
    expected, _ = decode_raw_words(adc, True, tuple(words[k] for k in kinds))
    assert values.tolist() == expected.tolist() and len(values) == len(clips) == 100


@pytest.mark.parametrize("pc_bits, shots, kinds", [
    (4, 4096, ["PC"]), (4, 4097, ["PC", "PHM"]), (6, 1025, ["PC", "PHM"]), (8, 256, ["PC"]),
])
def test_photon_reader_asks_phm_beyond_the_threshold_of_its_pc_bits(pc_bits, shots, kinds):
    words = {k: np.arange(51, dtype=np.uint16) * 977 for k in ("PC", "PHM")}
    controller = ScriptedReads(words)
    info = {"ADC Bits": 16, "PC Bits": pc_bits, "FIFOLength": 16384, "binWidth": 7.5}
    counts = controller.getRawPhotonCountingData(info, None, 50, shots, 0, "MEM_A")
    assert [a[2] for a in controller.asked] == kinds and len(counts) == 50
    with pytest.raises(ValueError, match="MEM_A"):
        controller.getRawPhotonCountingData(info, None, 50, shots, 0, "A")


def test_squared_readers_combine_low_word_first():
    words = {k: np.full(11, v, dtype=np.uint16) for k, v in
             (("A2L", 1), ("A2M", 2), ("A2H", 3), ("P2L", 5), ("P2M", 7))}
    controller = ScriptedReads(words)
    analogue = controller.getCombinedRawAnalogueSquaredData(None, 10, 0, "MEM_B")
    photon = controller.getRawPhotonCountingSquaredData(dataParser=None, binsSqd=10, device=0,
                                                         memory="MEM_B")
    assert analogue.tolist() == [1 + (2 << 16) + (3 << 32)] * 10
    assert photon.tolist() == [5 + (7 << 16)] * 10


# --------------------------------------------------------------------------- DataParser


def test_processing_functions_follow_section_4():
    parser = licel_data.DataParser()
    info = {"ADC Bits": 12}
    normalised = parser.normalizeData(np.array([4096, 8192], dtype=np.uint32), 2, 4)
    assert normalised.tolist() == [1024.0, 2048.0]
    assert parser.normalizeData(np.array([5]), 1, 0).tolist() == [5.0]
    assert parser.scaleAnalogData(normalised, "-20mV", info).tolist() == [5.0, 10.0]
    assert parser.scaleAnalogData(dNormalized=normalised, inputRange="-500mV",
                                  TRHardwareInfo=info).tolist() == [125.0, 250.0]
    with pytest.raises(ValueError, match="inputRange"):
        parser.scaleAnalogData(normalised, "100mV", info)
    assert parser.scale_PhotonCounting(np.array([2.0]), 7.5)[0] == pytest.approx(40.0)
    # 4 shots of 1, 3, 1, 3: sum 8, sum of squares 20, spread sqrt(20*4 - 64) = 4
    spread = parser.getSquareRootBinary(np.array([8, 0]), np.array([20, 0]), 2, 4)
    assert spread.dtype == np.uint32 and spread.tolist() == [4, 0]
    deviation = parser.normalizeSquaredData(spread, 4)
    assert deviation[0] == pytest.approx(4 / np.sqrt(12))  # sample std dev of 1, 3, 1, 3
    assert parser.meanError(deviation, 4)[0] == pytest.approx(4 / np.sqrt(12) / 2)
    with pytest.raises(ValueError, match="exceeds"):
        parser.getSquareRootBinary(np.array([1]), np.array([1]), 2, 4)


def test_save_acquis_data_writes_one_dataset_record(tmp_path):
    config = read(one_recorder(tmp_path / "station", tmp_path / "out"))
    parser = licel_data.DataParser()
    info = {0: {"ADC Bits": 16, "PC Bits": 4, "FIFOLength": 16384, "binWidth": 3.75,
                "binShift": 0.0}}
    data = np.arange(1, 401, dtype=np.uint32) * 1000
    start = datetime(2026, 5, 4, 3, 2, 1)
    path = parser.saveAcquisDataToLicelFileFormat(
        prefix="s", shots=4094, bins=400, Config=config, my_startTime=start,
        my_stopTime=datetime(2026, 5, 4, 3, 2, 4), TRHardwareInfo=info, deviceNumber=0,
        DataType="Analogue", Memory="MEM_A", Data=data)
    pc = parser.saveAcquisDataToLicelFileFormat("s", 4094, 400, config, start, start,
                                                info[0], 0, "PhotonCounting", "MEM_A", data)
    assert path.parent == tmp_path / "out" and path.name.startswith("s26") and pc != path
    (record,) = read_records(path)
    (dataset,) = record.header.datasets
    assert (dataset.analogue, dataset.bins, dataset.shots) == (True, 400, 4094)
    assert (dataset.pmt_voltage, dataset.wavelength_nm, dataset.input_range_mv) == (720, 532,
                                                                                     100.0)
    assert record.data[0].tolist() == data.tolist()
    (pc_record,) = read_records(pc)
    assert pc_record.header.datasets[0].analogue is False
    with pytest.raises(ValueError, match="DataType"):
        parser.saveAcquisDataToLicelFileFormat("s", 1, 400, config, start, start, info, 0,
                                               "analog", "MEM_A", data)
    with pytest.raises(ValueError, match="400"):
        parser.saveAcquisDataToLicelFileFormat("s", 1, 400, config, start, start, info, 0,
                                               "Analogue", "MEM_A", data[:10])


def test_push_data_log_each_cycle_describes_valid_frames(tmp_path, monkeypatch):
    """The vendor's MPUSH example logs the buffer every cycle, before parsing it."""
    monkeypatch.chdir(tmp_path)
    config = read(one_recorder(tmp_path / "station", tmp_path / "out"))
    from licelpush.hardware import RecorderHardware

    plan = make_plan(config.require(), {0: RecorderHardware()}, 30)
    controller = licel_tcpip.EthernetController("127.0.0.1", 2055)
    controller.usePlan(config, plan)
    encoder = FrameEncoder(plan)
    rng = np.random.default_rng(1)
    for ms in (1000, 2500, 4000):
        profiles = [rng.integers(0, 1000, c.values, dtype=np.uint32) for c in plan.channels]
        controller.pushBuffer += encoder.encode(ms, 30, profiles)
    parser = licel_data.DataParser()
    log_path = tmp_path / "mpush_log.txt"
    for _ in range(2):
        parser.pushDataLog(str(log_path), controller, "Licel IDN", datetime.now(), config)
        valid, data_sets, *_ = parser.parseDataFromBuffer(config, controller, 30)
        assert valid and len(data_sets) == 2
    controller.pushBuffer[:3] = b"\x00\x00\x00"
    controller.pushStreamEnded = True  # the stream ended: the damaged rest is decidable
    parser.pushDataLog(asciiFile_path=str(log_path), ethernetController=controller,
                       idn="Licel IDN", startTime=datetime.now(), Config=config)
    text = log_path.read_text()
    entries = text.strip().split("\n\n")
    assert [e.splitlines()[0].split(" ", 1)[1] for e in entries] == [
        "valid push data", "valid push data", "invalid push data"]
    assert text.count(f"valid frame:       {plan.frame_length} bytes") == 2
    assert text.count(f"expected length:   {plan.frame_length} bytes") == 3
    assert "invalid span:      3 bytes" in entries[2] or "invalid span:" in entries[2]
    assert "unknown" not in text and "acquisition start:" in text


# --------------------------------------------------------------------------- emulator


def test_keyword_calls_reach_the_emulator(tmp_path, emulator):  # noqa: F811
    ini = one_recorder(tmp_path / "station", tmp_path / "out")
    emu = emulator(config=ini, speed=50)
    controller = licel_tcpip.EthernetController(ip="127.0.0.1", port=emu.port)
    config = read(ini)
    controller.openConnection()
    try:
        assert "installed" == controller.listInstalledTr()["TR0"]
        controller.configureHardware(Config=config)
        assert "executed" in controller.selectTR(numTR=0)
        hardware = controller.Tr.TRtype()
        assert hardware["ADC Bits"] == 16 and hardware["binWidth"] == 3.75
        assert controller.setInputRange(Range="-20mV") == "Input range set to -20mV"
        assert controller.setDiscriminatorLevel(discriminatorLevel=5) == \
            "Discriminator set to 5"
        assert "Damping set to 0" == controller.setThresholdMode(thresholdMode="OFF")
        assert controller.setMaxShots(maxShots=40) == "SETMAXSHOTS executed"
        assert controller.setMaxBins(numMaxBins=1000) == "SETMAXBINS executed"
        assert controller.multiplyBinwidth(multiplier=4) == "FREQDIV 2 executed"
        assert controller.getActualBinwidth(deviceNumber=0) == 15.0
        controller.selectTR(0)
        assert controller.clearMemory() == "CLEAR Memory executed"
        assert controller.startAcquisition() == "START executed"
        assert controller.getStatus()[0] is True
        assert controller.multipleWaitForReady(milliSec=5000) == "MWAIT executed"
        state, recording, memory, shots = controller.getStatus()
        assert (state, recording, memory, shots) == (False, False, "MEM_A", 42)
        assert controller.getShotsAB().startswith("SHOTAB 42")
        assert controller.waitForReady(delay=100) == "Device returned from armed state"
        counts = controller.getRawPhotonCountingData(
            TRType=hardware, dataParser=None, bins=999, shots=shots, device=0, memory="MEM_A")
        assert counts.shape == (999,) and counts.any()
        with pytest.raises(ValueError, match="setDiscriminatorLevel"):
            controller.setDiscriminatorLevel(64)
        with pytest.raises(ValueError, match="setInputRange"):
            controller.setInputRange("100mV")
        controller.selectTR(-1)
        with pytest.raises(RuntimeError, match="START"):
            controller.startAcquisition()  # nothing selected: the emulator refuses
        assert "executed" in controller.MPushStartFromConfig(shots=20, Config=config)
        assert controller.MPushStop() == "SLAVE executed"
    finally:
        controller.shutdownConnection()
        controller.shutdownPushConnection()


def test_wait_for_ready_raises_while_the_recorder_stays_armed(tmp_path, emulator):  # noqa: F811
    emu = emulator(recorders="0:16/4", rate=1)
    controller = licel_tcpip.EthernetController("127.0.0.1", emu.port)
    controller.openConnection()
    try:
        controller.selectTR(0)
        controller.setMaxShots(4000)
        controller.startAcquisition()
        with pytest.raises(licel_tcpip.EthernetControllerError, match="armed"):
            controller.waitForReady(50)
        with pytest.raises(RuntimeError, match="MWAIT"):
            controller.multipleWaitForReady(10)
    finally:
        controller.shutdownConnection()


def test_photomultiplier_tells_empty_slots_from_tubes_at_zero(emulator):  # noqa: F811
    emu = emulator(recorders="0:16/4,1:16/4", pmt_slots=[1, 4])
    controller = licel_tcpip.EthernetController("127.0.0.1", emu.port)
    pmt = controller.pmt
    controller.openConnection()
    try:
        installed = pmt.listInstalledPMT()
        assert [d for d, state in installed.items() if state == "Installed"] == [1, 4]
        assert pmt.setHV(device=4, voltage=650) == "PMTG executed"
        assert pmt.getHV(device=4) == "PMT 650 on remote"
        assert pmt.getHV(1) == "PMT 0 on remote"  # a tube at 0 V
        assert pmt.getHV(0) == "PMT 356 on remote"  # an empty slot
        pmt.setHV(0, 800)
        assert pmt.getHV(0) == "PMT 356 on remote"
        with pytest.raises(ValueError, match="setHV"):
            pmt.setHV(4, 2001)
    finally:
        controller.shutdownConnection()


# --------------------------------------------------------------------------- the scripts


@pytest.fixture
def cli_emulator(tmp_path):
    """``licelpush emulate --config`` a one-recorder station, on free loopback ports."""
    ini = one_recorder(tmp_path / "station", tmp_path / "out")
    process = subprocess.Popen(
        [sys.executable, "-m", "licelpush", "emulate", "--config", str(ini), "--port", "0",
         "--speed", "5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=environment())
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("emulator listening on 127.0.0.1 command "), line
        yield int(line.split()[5])
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_script(name: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    folder.mkdir()
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=folder,
                          env=environment(), capture_output=True, text=True, timeout=300)


def test_sample_acquisition_script_runs_unchanged(tmp_path, cli_emulator):
    folder = tmp_path / "empty"
    result = run_script("sample_acquisition.py", folder, "--ip", "127.0.0.1", "--port",
                        str(cli_emulator), "--squared")
    assert result.returncode == 0, result.stderr
    assert "Input range set to -100mV" in result.stdout
    shots = int(result.stdout.split("Shots Acquired :")[1].split()[0])
    assert shots > 2
    analogue = np.loadtxt(folder / "analogueData.txt")
    photon = np.loadtxt(folder / "photon.txt")
    assert analogue.shape == photon.shape == (16000,)
    assert 0 < analogue.max() <= 100 and analogue.std() > 0  # mV within the -100 mV range
    assert photon.min() >= 0 and photon.max() > 0
    for name in ("analogueSqdData.txt", "photonSQD.txt"):
        error = np.loadtxt(folder / name)
        assert error.shape == (4000,) and np.isfinite(error).all() and error.max() > 0


def test_pmt_script_runs_unchanged(tmp_path, cli_emulator):
    result = run_script("pmt_voltage.py", tmp_path / "empty", "--ip", "127.0.0.1", "--port",
                        str(cli_emulator), "--PMT", "0", "--voltage", "700")
    assert result.returncode == 0, result.stderr
    assert "installed: {0: 'Installed', 1: 'Not installed'" in result.stdout
    assert "set: PMTG executed" in result.stdout
    assert "read: PMT 700 on remote" in result.stdout
    controller = Controller("127.0.0.1", cli_emulator)
    controller.connect()
    try:
        assert controller.pmt_voltage(0) == 0.0  # the script switched it off again
    finally:
        controller.close()


def test_vendor_module_constants():
    assert licel_tr_tcpip.INPUTRANGE == {"-500mV": 0, "-100mV": 1, "-20mV": 2}
    assert licel_tr_tcpip.MEMORY["MEM_D"] == "D"

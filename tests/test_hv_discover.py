"""PMT high voltage (``licelpush hv``, :mod:`licelpush.hv`) and controller discovery
(``licelpush discover``, the emulator's ``--discovery-port``). Loopback only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from licelpush.cli import main
from licelpush.client import Controller
from licelpush.commands import (
    DISCOVERY_REQUEST,
    discovery_reply,
    parse_discovery_reply,
    parse_pmt_reply,
)
from licelpush.config import load_config
from licelpush.discovery import discover
from licelpush.emulator.model import EmulatedController, parse_recorders
from licelpush.errors import ConfigError, ControllerError
from licelpush.hv import (
    HvUsageError,
    apply_voltages,
    check_limits,
    parse_assignment,
    voltages_from_config,
)
from licelpush.testing import emulator  # noqa: F401 - the fixture

STATION = """\
[global_info]
Location = Bench
Longitude = 1
Latitude = 2
Height_asl = 3
Zenith = 0
Azimuth = 0
first_letter = h
frequency1 = 20

[TR0]
Range = 1
Discriminator = 8
AnalogA = TRUE
PC A = TRUE
A-binsA = 100
P-binsA = 100
WavelengthA = 532
WavelengthApc = 532
LaserA = 1
PM = {pm}
PM1pc = {pmpc}

[TR2]
Range = 0
Discriminator = 8
PC B = TRUE
P-binsB = 100
WavelengthBpc = 607
LaserB = 1
PM2pc = 900
"""


def station(tmp_path: Path, pm: float = 700, pmpc: float = 700) -> Path:
    path = tmp_path / "Acquis.ini"
    path.write_text(STATION.format(pm=pm, pmpc=pmpc))
    return path


# --------------------------------------------------------------------------- pure parts


def test_voltages_come_from_the_enabled_datasets_of_each_recorder(tmp_path):
    assert voltages_from_config(load_config(station(tmp_path))) == {0: 700, 2: 900}
    assert voltages_from_config(load_config(station(tmp_path, pm=0))) == {0: 700, 2: 900}
    with pytest.raises(ConfigError, match=r"\[TR0\]: one PMT per recorder.*650 V.*700 V"):
        voltages_from_config(load_config(station(tmp_path, pmpc=650)))


def test_assignments_and_limits():
    assert parse_assignment("3=700") == (3, 700)
    for bad in ("3", "x=1", "16=100", "3=7.5"):
        with pytest.raises(HvUsageError, match="--set"):
            parse_assignment(bad)
    check_limits({0: 0, 1: 2000})
    with pytest.raises(HvUsageError, match="outside 0-900 V: PMT 1: 950 V, PMT 2: -1 V"):
        check_limits({0: 900, 1: 950, 2: -1}, 900)
    with pytest.raises(HvUsageError, match="maximum"):
        check_limits({}, 2500)


def test_pmt_reply_parsing():
    assert parse_pmt_reply("PMT 712.5 on remote") == 712.5
    for bad in ("PMTG executed", "PMT", "PMT x on remote"):
        with pytest.raises(ValueError):
            parse_pmt_reply(bad)


class RampingSupply:
    """A PMT supply whose read-back reaches the set voltage after ``steps`` readings."""

    def __init__(self, steps: int, empty: frozenset[int] = frozenset()) -> None:
        self.steps, self.empty = steps, empty
        self.readings: dict[int, int] = {}
        self.target: dict[int, int] = {}

    def set_pmt(self, device: int, volts: int) -> str:
        self.target[device], self.readings[device] = volts, 0
        return "PMTG executed"

    def pmt_voltage(self, device: int) -> float:
        if device in self.empty:
            return 356.0
        self.readings[device] += 1
        fraction = min(self.readings[device] / self.steps, 1.0)
        return self.target[device] * fraction


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_ramping_supply_is_confirmed_once_it_arrives():
    clock = FakeClock()
    supply = RampingSupply(steps=4)
    (result,) = apply_voltages(supply, {1: 800}, tolerance=5, settle=5, clock=clock,
                               sleep=clock.sleep)
    assert result.ok and result.readback == 800 and supply.readings[1] == 4
    assert clock.now == pytest.approx(1.5)  # three pauses of 0.5 s


def test_a_tube_that_does_not_arrive_fails_alone_and_names_the_empty_slot():
    clock = FakeClock()
    supply = RampingSupply(steps=100, empty=frozenset({3}))
    results = apply_voltages(supply, {3: 700, 1: 700}, tolerance=5, settle=2, clock=clock,
                             sleep=clock.sleep)
    assert [r.ok for r in results] == [False, False]
    assert "356 V" in results[0].describe() and "empty" not in results[1].problem
    assert "differs by more than 5 V after 2 s" in results[1].problem
    assert clock.now <= 2 * 2 + 0.5 * 2  # bounded by the settle time per tube


# --------------------------------------------------------------------------- emulator


def test_emulated_pmt_slots_and_power_up():
    ctrl = EmulatedController(parse_recorders("0:16/4,2:16/4"))
    assert ctrl.handle("PMT? 0", 0.0).text == "PMT 0 on remote"
    assert ctrl.handle("PMTG 2 910", 0.0).text == "PMTG executed"
    assert ctrl.handle("PMT? 2", 0.0).text == "PMT 910 on remote"
    assert ctrl.handle("PMTG 1 910", 0.0).text == "PMTG executed"
    assert ctrl.handle("PMT? 1", 0.0).text == "PMT 356 on remote"
    assert "error" in (ctrl.handle("PMTG 2 2001", 0.0).text or "")
    ctrl.power_up(1.0)
    assert ctrl.handle("PMT? 2", 1.0).text == "PMT 0 on remote"
    only = EmulatedController(parse_recorders("0:16/4"), pmt_slots=frozenset({5}))
    assert only.handle("PMT? 0", 0.0).text == "PMT 356 on remote"
    assert only.handle("PMT? 5", 0.0).text == "PMT 0 on remote"


def test_hv_cli_sets_confirms_and_reads(tmp_path, emulator, capsys):  # noqa: F811
    ini = station(tmp_path)
    emu = emulator(config=ini, recorders="0:16/4,2:16/4")
    base = ["hv", "--ip", "127.0.0.1", "--port", str(emu.port), "--settle", "0"]
    assert main(base + ["--from-config", "--config", str(ini), "--get"]) == 0
    out = capsys.readouterr().out
    assert "PMT 0: set 700 V, reads 700 V" in out and "PMT 2: set 900 V, reads 900 V" in out
    assert "PMT 2: reads 900 V" in out
    controller = Controller("127.0.0.1", emu.port)
    controller.connect()
    try:
        assert (controller.pmt_voltage(0), controller.pmt_voltage(2)) == (700.0, 900.0)
    finally:
        controller.close()
    assert main(base + ["--set", "0=650", "--set", "7=650"]) == 3
    captured = capsys.readouterr()
    assert "PMT 0: set 650 V, reads 650 V" in captured.out
    assert "PMT 7: set 650 V, reads 356 V" in captured.err and "failed: PMT 7" in captured.err
    assert main(base + ["--set", "0=950", "--max-volts", "900"]) == 2
    assert "outside 0-900 V: PMT 0: 950 V" in capsys.readouterr().err
    assert main(base + ["--get"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 16 and "PMT 0: reads 650 V" in lines
    assert "PMT 5: reads 356 V (like an empty slot)" in lines
    assert main(base) == 2 and "nothing to do" in capsys.readouterr().err


def test_hv_reports_an_unreachable_controller(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["hv", "--ip", "127.0.0.1", "--port", str(port), "--get",
                 "--timeout", "2"]) == 3
    assert "cannot connect" in capsys.readouterr().err


# --------------------------------------------------------------------------- discovery


def test_discovery_reply_layout():
    reply = discovery_reply(b"\x02\x00\x00\x00\x00", "Licel controller")
    assert reply[:5] == b"\x02\x00\x00\x00\x00"
    assert parse_discovery_reply(reply) == "Licel controller"
    assert len(discovery_reply(b"12345", "x" * 200)) == 100
    with pytest.raises(ValueError, match="no text"):
        parse_discovery_reply(b"\x02\x00\x00")
    ctrl = EmulatedController(parse_recorders("0:16/4"), idn="Licel X")
    assert ctrl.discovery_answer(b"\x01", 2055) is None
    answer = ctrl.discovery_answer(DISCOVERY_REQUEST, 2055)
    assert answer is not None and parse_discovery_reply(answer) == "Licel X port 2055"


def test_discover_finds_the_emulator_on_loopback(emulator, capsys):  # noqa: F811
    emu = emulator(recorders="0:16/4", idn="Licel Ethernet Controller test", discovery_port=0)
    udp = emu.call(lambda server: server.discovery_port)
    found = discover([(None, "127.0.0.1")], udp, timeout=1.0)
    assert [(f.address, f.text) for f in found] == [
        ("127.0.0.1", f"Licel Ethernet Controller test port {emu.port}")]
    assert main(["discover", "--to", "127.0.0.1", "--port", str(udp), "--timeout", "1"]) == 0
    assert capsys.readouterr().out == \
        f"127.0.0.1  Licel Ethernet Controller test port {emu.port}\n"


def test_discover_exits_3_when_nobody_answers(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives the request, never answers
        port = silent.getsockname()[1]
        assert main(["discover", "--to", "127.0.0.1", "--port", str(port),
                     "--timeout", "0.3"]) == 3
        assert silent.recv(100) == DISCOVERY_REQUEST
    err = capsys.readouterr().err
    assert "no controller answered within 0.3 s" in err
    assert main(["discover", "--to", "example", "--timeout", "0.3"]) == 2


def test_controller_error_is_the_exit_status_of_failed_tubes():
    assert ControllerError.exit_status == 3 and HvUsageError("x").exit_status == 2


# --------------------------------------------------------------------------- acquire --apply-hv


def acquire_args(ini: Path, port: int, out: Path, *extra: str) -> list[str]:
    return ["acquire", "--config", str(ini), "--ip", "127.0.0.1", "--port", str(port),
            "--acq", "2", "--shots", "10", "--output", str(out), "--timeout", "2",
            "--retries", "0", *extra]


def test_acquire_apply_hv_sets_confirms_and_writes_the_read_back(tmp_path, emulator):  # noqa: F811
    from licelpush.journal import read_journal
    from licelpush.licelfile import read_records

    ini = station(tmp_path)
    emu = emulator(config=ini, recorders="0:16/4,2:16/4", speed=50)
    assert main(acquire_args(ini, emu.port, tmp_path / "out", "--apply-hv")) == 0
    controller = Controller("127.0.0.1", emu.port)
    controller.connect()
    try:
        assert (controller.pmt_voltage(0), controller.pmt_voltage(2)) == (700.0, 900.0)
    finally:
        controller.close()
    files = sorted((tmp_path / "out").glob("h*"))
    voltages = {(d.device_id, d.pmt_voltage) for f in files for r in read_records(f)
                for d in r.header.datasets}
    assert voltages == {("BT0", 700), ("BC0", 700), ("BC2", 900)}
    (journal,) = (tmp_path / "out").glob("journal-*.jsonl")
    connect = next(e for e in read_journal(journal) if e["event"] == "connect")
    assert connect["pmt_voltages"] == {"0": 700.0, "2": 900.0}


def test_acquire_without_apply_hv_leaves_the_tubes_alone(tmp_path, emulator):  # noqa: F811
    ini = station(tmp_path)
    emu = emulator(config=ini, recorders="0:16/4,2:16/4", speed=50)
    assert main(acquire_args(ini, emu.port, tmp_path / "out")) == 0
    controller = Controller("127.0.0.1", emu.port)
    controller.connect()
    try:
        assert controller.pmt_voltage(0) == 0.0
    finally:
        controller.close()


def test_acquire_apply_hv_refuses_to_start_without_confirmation(tmp_path, emulator, capsys):  # noqa: F811
    ini = station(tmp_path)
    emu = emulator(config=ini, recorders="0:16/4,2:16/4", speed=50, pmt_slots=[0])
    assert main(acquire_args(ini, emu.port, tmp_path / "out", "--apply-hv")) == 3
    err = capsys.readouterr().err
    assert "PMT 2: set 900 V, reads 356 V" in err and "refusing to start" in err
    assert not list((tmp_path / "out").glob("h*"))


def test_acquire_apply_hv_checks_the_station_limit_before_connecting(tmp_path, capsys):
    ini = station(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(acquire_args(ini, port, tmp_path / "out", "--apply-hv",
                             "--hv-max", "800")) == 2
    assert "--apply-hv: outside 0-800 V: PMT 2: 900 V" in capsys.readouterr().err


def test_record_builder_takes_read_back_voltages(tmp_path):
    from licelpush.hardware import RecorderHardware
    from licelpush.plan import make_plan
    from licelpush.records import RecordBuilder

    config = load_config(station(tmp_path))
    plan = make_plan(config, {0: RecorderHardware(), 2: RecorderHardware()}, 10)
    plain = RecordBuilder(config, plan).dataset_headers((10, 10, 10))
    read_back = RecordBuilder(config, plan, pmt_voltages={2: 897.6}).dataset_headers(
        (10, 10, 10))
    assert [h.pmt_voltage for h in plain] == [700, 700, 900]
    assert [h.pmt_voltage for h in read_back] == [700, 700, 898]

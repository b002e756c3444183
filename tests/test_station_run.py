"""The station service around real runs against the emulator: layout across midnight,
disk guard, status file, sd_notify, schedule windows and dark runs."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import config, recorder

from licelpush.acquisition import AcquireOptions, Acquisition
from licelpush.cli import main
from licelpush.diskguard import MinFree
from licelpush.errors import EXIT_OUTPUT
from licelpush.journal import read_journal
from licelpush.layout import Layout
from licelpush.licelfile import read_records
from licelpush.schedule import Schedule, parse_schedule
from licelpush.sdnotify import Notifier
from licelpush.station import StationOptions
from licelpush.statusfile import StatusFile
from licelpush.testing import running_emulator

UTC = timezone.utc
ONE = config(recorder(0, {"A": (True, True)}, 200, 200))


class StepClock:
    """A UTC clock that moves on by ``step`` at every reading (no waiting)."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self._ticks = itertools.count()
        self.start, self.step = start, step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.start + next(self._ticks) * self.step


def run(emu, tmp_path, station=None, **kw):
    base = dict(host=emu.host, port=emu.port, output=tmp_path / "out", shots=10,
                acquisitions=12, timeout=2.0, backoff=0.05, backoff_max=0.4,
                poll_interval=0.05, probe_after=1.0, stall_limit=10.0, retries=8)
    base.update(kw)
    acquisition = Acquisition(ONE, AcquireOptions(**base), station=station)
    return acquisition, acquisition.run()


def data_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("lp*") if p.is_file())


def test_a_run_across_midnight_splits_into_two_day_folders(tmp_path):
    clock = StepClock(datetime(2026, 5, 13, 23, 59, 50, tzinfo=UTC), timedelta(seconds=1))
    with running_emulator(config=ONE, speed=500, seed=3) as emu:
        _, summary = run(emu, tmp_path, StationOptions(wall_clock=clock),
                         acquisitions=20, layout=Layout("%Y/%m/%d"))
    out = tmp_path / "out"
    before, after = out / "2026/05/13", out / "2026/05/14"
    assert summary.saved == 20 and summary.exit_status == 0
    assert data_files(before) and data_files(after)
    assert len(data_files(out)) == 20
    for path in data_files(before):
        assert read_records(path)[0].header.start < datetime(2026, 5, 14)
    for path in data_files(after):
        assert read_records(path)[0].header.start >= datetime(2026, 5, 14)
    # journal, quarantine and status stay at the top; the journal names the folders
    assert (out / "status.json").is_file() and list(out.glob("journal-*.jsonl"))
    files = [e["file"] for e in read_journal(summary.journal) if e["event"] == "acquisition"]
    assert {f.rsplit("/", 1)[0] for f in files} == {"2026/05/13", "2026/05/14"}
    assert all((out / f).is_file() for f in files)


def test_dark_run_goes_below_dark_with_the_layout(tmp_path):
    clock = StepClock(datetime(2026, 5, 13, 12, 0, tzinfo=UTC), timedelta(seconds=1))
    with running_emulator(config=ONE, speed=500) as emu:
        _, summary = run(emu, tmp_path, StationOptions(wall_clock=clock),
                         acquisitions=3, layout=Layout("%Y%m%d", dark=True))
    out = tmp_path / "out"
    assert len(data_files(out / "dark" / "20260513")) == 3
    assert not list(out.glob("lp*"))
    start = next(e for e in read_journal(summary.journal) if e["event"] == "start")
    assert start["dark"] is True and start["layout"] == "%Y%m%d" and start["mode"] == "mpush"
    assert json.loads((out / "status.json").read_text())["dark"] is True


class ShrinkingDisk:
    """A free-space probe: ``free`` bytes minus what the output directory holds."""

    def __init__(self, output: Path, free: int) -> None:
        self.output, self.free = output, free

    def __call__(self) -> tuple[int, int]:
        used = sum(p.stat().st_size for p in self.output.rglob("*") if p.is_file())
        return 1 << 40, self.free - used


def test_disk_guard_warns_then_stops_cleanly_with_everything_intact(tmp_path, caplog):
    out = tmp_path / "out"
    record = 200 * 4 * 2 + 1000  # about one file's size
    probe = ShrinkingDisk(out, free=100_000 + 12 * record)
    station = StationOptions(min_free=MinFree(bytes=50_000), disk_probe=probe)
    with running_emulator(config=ONE, speed=20) as emu:
        acquisition, summary = run(emu, tmp_path, station, acquisitions=-1)
    assert summary.exit_status == EXIT_OUTPUT
    assert summary.reason.startswith("disk guard:") and "below --min-free" in summary.reason
    journal = read_journal(summary.journal)
    disk = [e for e in journal if e["event"] == "disk"]
    assert [e["state"] for e in disk] == ["low", "stop"]
    assert journal[-1]["event"] == "stop" and journal[-1]["exit_status"] == EXIT_OUTPUT
    saved = [e for e in journal if e["event"] == "acquisition"]
    assert len(saved) == summary.saved == len(data_files(out)) > 0
    for event in saved:
        assert len(read_records(out / event["file"])) == event["record"] + 1
    assert probe()[1] >= 0  # stopped before the (simulated) disk was full
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "stopped" and status["reason"] == summary.reason
    assert any(w.startswith("disk:") for w in status["warnings"])
    assert any("less than twice --min-free" in r.message for r in caplog.records)


def test_disk_guard_refuses_to_start_below_the_limit(tmp_path):
    station = StationOptions(min_free=MinFree(bytes=10_000), disk_probe=lambda: (10**9, 5_000))
    with running_emulator(config=ONE, speed=50) as emu:
        _, summary = run(emu, tmp_path, station)
        assert not [e for e in emu.ledger() if e["event"] == "open"]  # never connected
    assert summary.exit_status == EXIT_OUTPUT and summary.saved == 0
    assert summary.reason.startswith("disk guard:") and "below --min-free" in summary.reason
    journal = read_journal(summary.journal)
    assert [e["event"] for e in journal] == ["disk", "stop"]
    assert not data_files(tmp_path / "out")


def mounted_tmpfs(path: Path, size: str) -> bool:
    import subprocess

    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_small_real_file_system_stops_cleanly(tmp_path):
    import subprocess

    from optional import need

    disk = tmp_path / "small"
    need(mounted_tmpfs(disk, "3m"), "mounting a 3 MiB tmpfs needs root (mount -t tmpfs)")
    try:
        ini = tmp_path / "Acquis.ini"
        ini.write_text(
            "[global_info]\nLocation = Lab\nfirst_letter = d\nfrequency1 = 20\n"
            "[TR0]\nRange = 0\nDiscriminator = 4\nAnalogA = TRUE\nPC A = TRUE\n"
            "A-binsA = 16000\nP-binsA = 16000\nWavelengthA = 532\nWavelengthApc = 532\n"
            "LaserA = 1\n")
        status = main(["acquire", "--emulator", "--config", str(ini), "--acq", "-1",
                       "--shots", "10", "--output", str(disk), "--emulator-speed", "100",
                       "--min-free", "1M", "-q"])
        assert status == EXIT_OUTPUT
        journal = read_journal(next(disk.glob("journal-*.jsonl")))
        assert [e["state"] for e in journal if e["event"] == "disk"] == ["low", "stop"]
        assert journal[-1]["event"] == "stop"
        saved = [e for e in journal if e["event"] == "acquisition"]
        assert saved and len(saved) == len(list(disk.glob("d*")))
        for event in saved:
            assert len(read_records(disk / event["file"])) == 1
        assert main(["status", str(disk)]) == 1
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_status_follows_a_run_through_reconnecting_to_stopped(tmp_path, monkeypatch, capsys):
    states: list[str] = []
    alive: list[int] = []
    real_write = StatusFile.write
    out = tmp_path / "out"

    def write(self, fields):
        real_write(self, fields)
        if not states or states[-1] != fields["state"]:
            states.append(fields["state"])
            if fields["state"] == "reconnecting":
                alive.append(main(["status", str(out), "--json"]))

    monkeypatch.setattr(StatusFile, "write", write)
    with running_emulator(config=ONE, speed=200, faults=["disconnect:at=4"]) as emu:
        _, summary = run(emu, tmp_path, acquisitions=8)
    assert summary.reconnects >= 1 and summary.saved == 8
    assert states[:3] == ["starting", "connecting", "acquiring"]
    assert "reconnecting" in states and states[-1] == "stopped"
    assert states[states.index("reconnecting") + 1] == "acquiring"
    assert alive == [0]
    capsys.readouterr()
    assert main(["status", str(out)]) == 1
    text = capsys.readouterr().out
    assert "state:        stopped (completed)" in text and "acquisitions: 8" in text
    assert main(["status", str(out), "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["liveness"] == "stopped" and status["acquisitions"] == 8
    assert status["reconnects"] >= 1 and status["run_id"] == summary.run
    assert status["last_file"] == summary.files[-1].name and status["exit_status"] == 0
    for key in ("controller", "updated_utc", "interval_s", "last_record_utc", "rate_hz",
                "quarantined_bytes", "clipping", "free_bytes", "time_to_full_s", "warnings",
                "dark", "reason", "next_window_utc"):
        assert key in status


def test_status_of_a_dead_run_is_stale(tmp_path, capsys):
    (tmp_path / "status.json").write_text(json.dumps(
        {"state": "acquiring", "updated_utc": "2026-01-01T00:00:00.000Z", "interval_s": 5}))
    assert main(["status", str(tmp_path)]) == 2
    assert "STALE" in capsys.readouterr().out
    assert main(["status", str(tmp_path / "nowhere")]) == 2


@pytest.fixture
def notify_socket(tmp_path):
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets on this system")
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0)
    yield path, sock
    sock.close()


def received(sock) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


class Collector(threading.Thread):
    """Reads the notification socket while the run goes on, until ``STOPPING=1``."""

    def __init__(self, sock) -> None:
        super().__init__(daemon=True)
        self.sock, self.messages = sock, []

    def run(self) -> None:
        self.sock.settimeout(30)
        while not self.messages or not self.messages[-1].startswith("STOPPING"):
            self.messages.append(self.sock.recv(4096).decode())


def test_sd_notify_messages_arrive_in_order(tmp_path, notify_socket):
    path, sock = notify_socket
    ticks = itertools.count()
    # a watchdog period of 1 s on a clock that moves 0.3 s per reading: a ping at every
    # second chance, however fast the run is
    notifier = Notifier(str(path), watchdog_usec=1_000_000, clock=lambda: 0.3 * next(ticks))
    collector = Collector(sock)
    collector.start()
    with running_emulator(config=ONE, speed=200, faults=["disconnect:at=3"]) as emu:
        _, summary = run(emu, tmp_path, StationOptions(notifier=notifier), acquisitions=6)
    collector.join(30)
    sock.settimeout(0)
    messages = collector.messages + received(sock)
    kinds = [m.split("\n")[0].split("=")[0] for m in messages]
    ready, stopping = kinds.index("READY"), kinds.index("STOPPING")
    assert ready < stopping and "WATCHDOG" in kinds[ready:stopping]
    assert kinds.count("READY") == 1 and kinds.count("STOPPING") == 1
    assert kinds.index("STATUS") < ready
    assert "STATUS=starting" in messages[kinds.index("STATUS")]
    assert messages[kinds.index("READY")].startswith("READY=1\nSTATUS=")
    assert "STATUS=stopped: completed" in messages[kinds.index("STOPPING")]
    assert kinds[-1] == "STATUS" and "stopped" in messages[-1]
    assert not [k for k in kinds[kinds.index("STOPPING"):] if k == "WATCHDOG"]
    assert any("reconnecting" in m for m in messages)
    assert summary.saved == 6


def test_notifier_from_the_environment(notify_socket):
    path, sock = notify_socket
    assert not Notifier.from_environment({}).enabled
    assert not Notifier.from_environment({}).send("READY=1")
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"})
    assert notifier.enabled and notifier.watchdog_s == 2.0
    assert notifier.watchdog() and not notifier.watchdog()  # at most twice per period
    assert notifier.status("a\nb  c")
    assert received(sock) == ["WATCHDOG=1", "STATUS=a b c"]
    other = Notifier.from_environment({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "5",
                                       "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None


def test_notifier_abstract_socket():
    if not hasattr(socket, "AF_UNIX") or not hasattr(socket, "SO_PASSCRED"):
        pytest.skip("abstract Unix sockets are Linux only")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0licelpush-test-notify")
    try:
        assert Notifier("@licelpush-test-notify").ready("up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"
    finally:
        sock.close()


def test_schedule_window_opens_and_closes_during_a_run(tmp_path):
    clock = StepClock(datetime(2026, 5, 13, 17, 59, 0, tzinfo=UTC), timedelta(seconds=2))
    schedule = Schedule(parse_schedule(["18:00-18:01,18:03-18:10"]))
    station = StationOptions(wall_clock=clock, schedule=schedule, schedule_poll_s=0.01)
    states: list[str] = []
    with running_emulator(config=ONE, speed=200) as emu:
        acquisition = Acquisition(ONE, AcquireOptions(
            host=emu.host, port=emu.port, output=tmp_path / "out", shots=10,
            acquisitions=40, timeout=2.0, poll_interval=0.05, probe_after=1.0, retries=3),
            station=station)
        real = acquisition.station.set_state

        def spy(state, **extra):
            states.append(state)
            real(state, **extra)

        acquisition.station.set_state = spy  # type: ignore[method-assign]
        summary = acquisition.run()
    assert summary.saved == 40 and summary.exit_status == 0
    journal = read_journal(summary.journal)
    schedule_events = [(e["outcome"], e.get("next_window_utc")) for e in journal
                       if e["event"] == "schedule"]
    assert schedule_events[:4] == [("waiting", "2026-05-13T18:00:00.000Z"), ("open", None),
                                   ("waiting", "2026-05-13T18:03:00.000Z"), ("open", None)]
    abandoned = [e["reason"] for e in journal if e["event"] == "abandon"]
    assert abandoned and abandoned[0] == "outside the schedule"
    assert states[:3] == ["waiting", "connecting", "acquiring"]
    assert states.count("waiting") >= 2
    # every record was taken inside a window
    for event in journal:
        if event["event"] == "acquisition":
            t = datetime.fromisoformat(event["received_utc"].replace("Z", "+00:00"))
            assert schedule.state(t).inside or t.minute in (1, 10), t
    assert summary.reconnects == 0

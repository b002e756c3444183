"""``acquire --mode poll``: START, wait for the shots, STOP, DATA? per dataset, against the
emulator on loopback: the same files, journal, times, reconnection and stop as MPUSH."""

from __future__ import annotations

import time

import numpy as np
import pytest
from factories import config, recorder

from licelpush.acquisition import AcquireOptions, Acquisition
from licelpush.cli import main
from licelpush.client import Controller, ControllerReplyError
from licelpush.decode import decode_raw_words
from licelpush.journal import read_journal
from licelpush.licelfile import read_records
from licelpush.runlink import start_mpush
from licelpush.runpoll import mwait_milliseconds
from licelpush.sdnotify import Notifier
from licelpush.station import StationOptions
from licelpush.testing import running_emulator

TWO = config(recorder(0, {"A": (True, True), "B": (True, False)}, 120, 90),
             recorder(1, {"A": (True, True)}, 60, 60))


def options(emu, tmp_path, **kw):
    base = dict(host=emu.host, port=emu.port, output=tmp_path / "out", shots=10,
                acquisitions=6, timeout=2.0, backoff=0.05, backoff_max=0.4, retries=4,
                mode="poll")
    base.update(kw)
    return AcquireOptions(**base)


def records(summary):
    return [r for path in summary.files for r in read_records(path)]


def test_polled_run_saves_every_acquisition_with_its_true_shots(tmp_path):
    with running_emulator(config=TWO, recorders="0:16/4,1:12/4", speed=200, seed=5) as emu:
        summary = Acquisition(TWO, options(emu, tmp_path, acquis_per_file=2)).run()
        assert summary.saved == 6 and summary.exit_status == 0
        saved = records(summary)
        assert len(saved) == 6 and len(summary.files) == 3
        for record in saved:
            assert [d.shots for d in record.header.datasets] == [10] * 5
            assert record.header.start <= record.header.stop
        # the last record holds what DATA? returns for the recorders' memories now
        controller = Controller(emu.host, emu.port)
        controller.connect()
        try:
            raw = [np.frombuffer(controller.read_data(1, 60, kind, "A"), "<u2")
                   for kind in ("LSW", "MSW")]
        finally:
            controller.close()
    values, _ = decode_raw_words(12, True, tuple(raw))
    labels = [d.device_id for d in saved[-1].header.datasets]
    assert saved[-1].data[labels.index("BT1")].tolist() == values.tolist()
    journal = read_journal(summary.journal)
    assert [e["mode"] for e in journal if e["event"] == "start"] == ["poll"]
    events = [e for e in journal if e["event"] == "acquisition"]
    assert [e["n"] for e in events] == list(range(1, 7))
    assert all(e["shots"] == [10] * 5 for e in events)


def test_polled_run_reconnects_after_the_connection_is_killed(tmp_path):
    with running_emulator(config=TWO, recorders="0:16/4,1:16/4", speed=200) as emu:
        killed = []

        def kill_once(progress):
            if progress.saved >= 2 and not killed:
                killed.append(Controller(emu.host, emu.port).kill())

        acquisition = Acquisition(TWO, options(emu, tmp_path, acquisitions=6),
                                  progress=kill_once, progress_interval=0.0)
        summary = acquisition.run()
    assert killed == [True]
    assert summary.saved == 6 and summary.reconnects >= 1 and summary.exit_status == 0
    assert all(d.shots == 10 for r in records(summary) for d in r.header.datasets)
    assert any(e["event"] == "abandon" for e in read_journal(summary.journal))


def test_polled_run_stops_cleanly_on_request(tmp_path):
    with running_emulator(config=TWO, recorders="0:16/4,1:16/4", speed=200) as emu:
        def stop_after_three(progress):
            if progress.saved >= 3:
                acquisition.stop_requested.set()

        acquisition = Acquisition(TWO, options(emu, tmp_path, acquisitions=50),
                                  progress_interval=0.0, progress=stop_after_three)
        summary = acquisition.run()
    assert summary.saved >= 3 and summary.exit_status == 1
    assert len(records(summary)) == summary.saved


def test_no_triggers_means_the_run_gives_up_after_its_retries(tmp_path):
    with running_emulator(config=TWO, recorders="0:16/4,1:16/4", rate=0.001) as emu:
        opts = options(emu, tmp_path, acquisitions=1, retries=0)
        summary = Acquisition(TWO, opts).run()
    assert summary.saved == 0 and summary.exit_status == 1  # stopped early, nothing lost
    text = "".join(str(e) for e in read_journal(summary.journal))
    assert "still armed" in text


class StatusLines(Notifier):
    """The service manager's view: each ``STATUS=`` line with the time it came."""

    def __init__(self) -> None:
        super().__init__(None)
        self.lines: list[tuple[float, str]] = []

    def status(self, status: str) -> bool:
        self.lines.append((time.monotonic(), status))
        return True


def test_status_and_watchdog_go_on_while_a_long_acquisition_is_waited_for(tmp_path):
    # 30 shots at 10 Hz: MWAIT waits 3 s for each acquisition; the status must not look
    # like a dead process meanwhile (stale after 3 status intervals)
    notifier = StatusLines()
    station = StationOptions(status_interval=0.2, notifier=notifier)
    with running_emulator(config=TWO, recorders="0:16/4,1:16/4", rate=10.0) as emu:
        summary = Acquisition(TWO, options(emu, tmp_path, acquisitions=1, shots=30),
                              station=station).run()
    assert summary.saved == 1 and summary.exit_status == 0
    times = [t for t, _ in notifier.lines]
    assert times[-1] - times[0] > 2.5  # the acquisition took its time
    assert max(b - a for a, b in zip(times, times[1:])) < 1.5
    assert any(line.startswith("acquiring: 0 acquisitions") for _, line in notifier.lines)


def test_mwait_limit_follows_the_acquisition_time():
    assert mwait_milliseconds(2.0) == 9000
    assert mwait_milliseconds(None) == 60000
    assert mwait_milliseconds(1e9) == 10_000_000


STATION = """\
[global_info]
Location = Bench
Longitude = 1
Latitude = 2
Height_asl = 3
Zenith = 0
Azimuth = 0
first_letter = p
frequency1 = 20

[TR0]
Range = 1
Discriminator = 8
AnalogA = TRUE
PC A = TRUE
A-binsA = 200
P-binsA = 200
WavelengthA = 532
WavelengthApc = 532
LaserA = 1
"""


def test_cli_poll_mode_with_the_built_in_emulator(tmp_path, capsys):
    ini = tmp_path / "Acquis.ini"
    ini.write_text(STATION)
    out = tmp_path / "out"
    assert main(["acquire", "--config", str(ini), "--emulator", "--emulator-speed", "200",
                 "--mode", "poll", "--acq", "3", "--shots", "20", "--output", str(out)]) == 0
    assert "acquisitions saved: 3 of 3" in capsys.readouterr().out
    files = sorted(out.glob("p*"))
    assert len(files) == 3
    assert all(d.shots == 20 for f in files for r in read_records(f) for d in r.header.datasets)


def test_emulator_frame_faults_are_named_as_idle_in_poll_mode(tmp_path, capsys):
    ini = tmp_path / "Acquis.ini"
    ini.write_text(STATION)
    argv = ["acquire", "--config", str(ini), "--emulator", "--emulator-speed", "200",
            "--mode", "poll", "--acq", "2", "--shots", "20", "--output", str(tmp_path / "out"),
            "--emulator-fault", "disconnect:every=1", "--emulator-fault", "refuse:seconds=0.2",
            "--retries", "-1", "--backoff", "0.1"]
    assert main(argv) == 0
    idle = [line.split(": ", 1)[1] for line in capsys.readouterr().err.splitlines()
            if "never acts" in line]
    assert idle == ["--emulator-fault disconnect:every=1 never acts with --mode poll: frame "
                    "numbers count pushed frames, and a polled run has none"]


def test_refused_mpush_suggests_poll_mode(monkeypatch):
    from licelpush import runlink

    class Refusing:
        address = "127.0.0.1:2055"

        def start_mpush(self, plan):
            raise ControllerReplyError("controller 127.0.0.1:2055: 'MPUSH ...' was answered "
                                       "'MPUSH error: unknown command'")

    monkeypatch.setattr(runlink, "prepare", lambda *a, **k: ("idn", {}, None))
    with pytest.raises(ControllerReplyError, match="--mode poll"):
        start_mpush(Refusing(), TWO, 10, first=True)


def test_poll_mode_is_an_acquire_option(capsys):
    with pytest.raises(SystemExit):
        main(["acquire", "--mode", "push"])
    assert "invalid choice" in capsys.readouterr().err

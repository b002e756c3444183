"""``licelpush acquire`` in-process: flags, exit statuses, summary, progress."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from test_client import FakeController, closed_port

from licelpush.acquisition import Progress
from licelpush.cli import main
from licelpush.cli.acquire import ProgressDisplay, output_directory
from licelpush.config import load_config
from licelpush.encode import FrameEncoder
from licelpush.errors import LicelpushError
from licelpush.hardware import RecorderHardware
from licelpush.journal import read_journal
from licelpush.licelfile import read_records
from licelpush.plan import make_plan

INI = """\
[global_info]
Location = "Test"
Longitude = 13,4
Latitude = 52,5
Height_asl = 45
working_directory = "{workdir}"
first_letter = "t"
Zenith = 0
Azimuth = 0
frequency1 = 20
frequency2 = 20
frequency3 = 10

[TR0]
Discriminator = 8
Range = 1
AnalogA = TRUE
PC A = TRUE
A-binsA = 16
P-binsA = 16
WavelengthA = 532
WavelengthApc = 532
LaserA = 1
"""
HW = RecorderHardware()


def write_ini(tmp_path: Path, workdir: str = "") -> Path:
    path = tmp_path / "Acquis.ini"
    path.write_text(INI.format(workdir=workdir), encoding="utf-8")
    return path


def frames_for(ini: Path, shots: int, n: int) -> list[bytes]:
    plan = make_plan(load_config(ini), {0: HW}, shots)
    enc = FrameEncoder(plan)
    rng = np.random.default_rng(5)
    return [enc.encode(10 * i, shots, [rng.integers(0, 500, c.values) for c in plan.channels])
            for i in range(n)]


def test_acquire_writes_files_journal_and_prints_the_summary(tmp_path, capsys):
    ini = write_ini(tmp_path)
    frames = frames_for(ini, 12, 4)
    out = tmp_path / "data"
    with FakeController(recorders={0: HW}, push=lambda n: [b"".join(frames), ("hold",)]) as f:
        status = main(["acquire", "--config", str(ini), "--ip", f.host, "--port", str(f.port),
                       "--acq", "3", "--shots", "12", "--output", str(out), "-q"])
    assert status == 0
    files = sorted(out.glob("t*"))
    assert len(files) == 3 and all(len(read_records(p)) == 1 for p in files)
    journal = next(out.glob("journal-*.jsonl"))
    assert [e["event"] for e in read_journal(journal)].count("acquisition") == 3
    text = capsys.readouterr().out
    assert "acquisitions saved: 3 of 3" in text and "stopped:            completed" in text
    assert "MPUSH 12 0 16 LSW A 0 16 MSW A 0 16 PC A" in f.lines


def test_acquis_per_file_and_local_time_flags(tmp_path):
    ini = write_ini(tmp_path)
    frames = frames_for(ini, 12, 5)
    out = tmp_path / "data"
    with FakeController(recorders={0: HW}, push=lambda n: [b"".join(frames), ("hold",)]) as f:
        status = main(["acquire", "--config", str(ini), "--ip", f.host, "--port", str(f.port),
                       "--acq", "5", "--shots", "12", "--output", str(out), "-q",
                       "--acquis_per_file", "5", "--local-time"])
    assert status == 0
    files = sorted(out.glob("t*"))
    assert len(files) == 1 and len(read_records(files[0])) == 5
    start = read_journal(next(out.glob("journal-*.jsonl")))[0]
    assert start["time_zone"] == "local" and start["acquis_per_file"] == 5


def test_invalid_configuration_is_status_2_and_sends_nothing(tmp_path, capsys):
    ini = tmp_path / "Acquis.ini"
    ini.write_text(INI.format(workdir="").replace("Range = 1", "Range = 5"))
    with FakeController(recorders={0: HW}) as f:
        status = main(["acquire", "--config", str(ini), "--ip", f.host, "--port", str(f.port),
                       "--output", str(tmp_path / "o")])
    assert status == 2
    assert f.lines == []
    assert "Range = 5" in capsys.readouterr().err


def test_bad_flag_values_are_status_2(tmp_path, capsys):
    ini = write_ini(tmp_path)
    with FakeController(recorders={0: HW}) as f:
        for flags in (["--acq", "0"], ["--shots", "70000"], ["--retries", "-3"],
                      ["--status-interval", "inf"]):
            status = main(["acquire", "--config", str(ini), "--ip", f.host, "--port",
                           str(f.port), "--output", str(tmp_path / "o"), *flags])
            assert status == 2
    assert f.lines == []
    err = capsys.readouterr().err
    assert "--acq 0" in err and "--shots 70000" in err and "--retries -3" in err
    assert "--status-interval inf: must be a positive number of seconds" in err


def test_unreachable_controller_is_status_3(tmp_path, capsys):
    ini = write_ini(tmp_path)
    status = main(["acquire", "--config", str(ini), "--ip", "127.0.0.1", "--port",
                   str(closed_port()), "--output", str(tmp_path / "o"), "--timeout", "1"])
    assert status == 3
    err = capsys.readouterr().err
    assert "cannot connect to the controller's command port 127.0.0.1:" in err


def test_missing_recorder_is_status_3(tmp_path, capsys):
    ini = write_ini(tmp_path)
    with FakeController(recorders={1: HW}) as f:
        status = main(["acquire", "--config", str(ini), "--ip", f.host, "--port", str(f.port),
                       "--output", str(tmp_path / "o")])
    assert status == 3
    assert "[TR0]" in capsys.readouterr().err
    assert not any(line.startswith(("DISC", "MPUSH")) for line in f.lines)


def test_output_not_writable_is_status_5(tmp_path, capsys):
    ini = write_ini(tmp_path)
    (tmp_path / "blocker").write_text("")
    with FakeController(recorders={0: HW}) as f:
        status = main(["acquire", "--config", str(ini), "--ip", f.host, "--port", str(f.port),
                       "--output", str(tmp_path / "blocker" / "x")])
    assert status == 5
    assert f.lines == []
    assert "blocker" in capsys.readouterr().err


def test_a_log_file_that_cannot_be_opened_is_status_5_without_traceback(tmp_path, capsys):
    ini = write_ini(tmp_path)
    log_file = tmp_path / "no such folder" / "acquire.log"
    assert main(["acquire", "--config", str(ini), "--ip", "127.0.0.1", "--port",
                 str(closed_port()), "--log-file", str(log_file)]) == 5
    err = capsys.readouterr().err
    assert err == (f"licelpush acquire: --log-file {log_file}: cannot open: "
                   "No such file or directory\n")


def test_windows_working_directory_needs_output(tmp_path, capsys):
    ini = write_ini(tmp_path, workdir="D:\\Licel\\data")
    status = main(["acquire", "--config", str(ini), "--ip", "127.0.0.1", "--port", "1"])
    assert status == 2
    assert "--output" in capsys.readouterr().err


def test_output_directory_rules(tmp_path):
    cfg = Path("Acquis.ini")
    assert output_directory("x", "D:\\data", cfg) == Path("x")
    assert output_directory(None, "", cfg) == Path(".")
    assert output_directory(None, "/srv/lidar", cfg) == Path("/srv/lidar")
    for windows in ("C:/data", "C:data", "D:\\Licel\\data", "\\\\server\\lidar", "data\\sub"):
        with pytest.raises(LicelpushError):
            output_directory(None, windows, cfg)
    assert output_directory(None, "data/sub", cfg) == Path("data/sub")


@pytest.mark.parametrize("flag", [
    ["--emulator-fault", "bogus:every=2"], ["--emulator-fault", "corrupt:every=0"],
    ["--emulator-speed", "0"], ["--emulator-ledger", "/nonexistent/dir/ledger.jsonl"],
])
def test_bad_emulator_flags_are_status_2_without_traceback(tmp_path, capsys, flag):
    ini = write_ini(tmp_path)
    try:
        status = main(["acquire", "--config", str(ini), "--emulator", "--acq", "1",
                       "--output", str(tmp_path / "out"), *flag])
    except SystemExit as exc:  # argparse rejects the value
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and flag[0] in err


def test_progress_line_and_modes():
    p = Progress(saved=5, requested=10, reconnects=2, quarantined_bytes=2500,
                 quarantined_spans=1, received_bytes=0, elapsed_s=2.0, state="acquiring")
    text = ProgressDisplay.text(p)
    assert "[############............] 5/10" in text
    assert "2.50/s" in text and "reconnects 2" in text and "quarantined 2.5 kB" in text
    endless = Progress(7, -1, 0, 0, 0, 0, 1.0, "acquiring")
    assert ProgressDisplay.text(endless).startswith("7 acquisitions")

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    display = ProgressDisplay(tty, quiet=False)
    display(p)
    display.close()
    assert tty.getvalue().startswith("\r[") and tty.getvalue().endswith("\n")
    quiet = Tty()
    ProgressDisplay(quiet, quiet=True)(p)
    assert quiet.getvalue() == ""
    plain = io.StringIO()
    ProgressDisplay(plain, quiet=False)(p)
    assert plain.getvalue() == ""  # not a terminal: progress goes to the log instead


def test_help_lists_the_documented_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["acquire", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--config", "--ip", "--port", "--acq", "--shots", "--acquis_per_file",
                 "--log", "--no-log", "--output", "--emulator", "--retries", "--utc",
                 "--local-time", "exit status"):
        assert flag in text

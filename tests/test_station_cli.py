"""Station commands: option profiles, check --options, service unit, status, directory walks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from optional import need
from test_cli_acquire import write_ini

from licelpush.cli import main
from licelpush.cli.acquire import acquire_parser, with_profile
from licelpush.cli.optionsfile import profile_arguments
from licelpush.cli.service import acquire_tokens, quote
from licelpush.errors import LicelpushError
from licelpush.journal import read_journal
from licelpush.layout import Layout
from licelpush.licelfile import read_records

PROFILE = """\
acq = -1
shots = 300
output = "data"
min_free = "5%"
layout = "%Y/%m/%d"
local_time = true
log = false
emulator_fault = ["disconnect:every=50", "stall:at=3"]
schedule = ["18:00-06:00"]
"""


def profile(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_becomes_flags(tmp_path):
    parser = acquire_parser()
    args = parser.parse_args(profile_arguments(profile(tmp_path), parser))
    assert args.acq == -1 and args.shots == 300 and args.output == "data"
    assert args.min_free.fraction == pytest.approx(0.05) and args.layout == "%Y/%m/%d"
    assert args.local_time is True and args.log is False
    assert [f.kind for f in args.emulator_fault] == ["disconnect", "stall"]
    assert args.schedule == ["18:00-06:00"]


def test_command_line_overrides_the_profile(tmp_path):
    path = profile(tmp_path)
    argv = ["acquire", "--options", str(path), "--shots", "50", "--utc", "--layout", "flat",
            "--emulator-fault=reboot:at=9"]
    parser = acquire_parser()
    args = parser.parse_args(argv[1:])
    args.command, args.argv = "acquire", argv
    merged = with_profile(args)
    assert merged.shots == 50 and merged.layout == "flat" and merged.acq == -1
    assert merged.local_time is False and merged.output == "data"
    assert [f.kind for f in merged.emulator_fault] == ["reboot"]  # a list is replaced


@pytest.mark.parametrize("text, words", [
    ("shots = 300\nsoths = 3\n", "unknown key 'soths'"),
    ("shots = 'many'\n", "shots = 'many'"),
    ("emulator = 3\n", "emulator = 3 is a switch"),
    ("layout = '%Q'\n", "layout = '%Q'"),
    ("min_free = '1X'\n", "min_free = '1X'"),
    ("shots = [1, 2]\n", "takes one value"),
    ("shots = \n", "not valid TOML"),
    ("options = 'x.toml'\n", "unknown key 'options'"),
])
def test_bad_profiles_name_the_key(tmp_path, text, words):
    with pytest.raises(LicelpushError, match="station.toml") as info:
        profile_arguments(profile(tmp_path, text), acquire_parser())
    assert words in info.value.message and info.value.exit_status == 2


def test_check_validates_a_profile(tmp_path, capsys):
    ini = write_ini(tmp_path)
    assert main(["check", str(ini), "--options", str(profile(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "station.toml: valid acquire options" in out and "300 shots" in out
    bad = profile(tmp_path, "acquis_per_file = 0\nbogus = 1\n")
    assert main(["check", str(ini), "--options", str(bad)]) == 2
    assert "unknown key 'bogus'" in capsys.readouterr().err
    bad = profile(tmp_path, "acquis_per_file = 0\n")
    assert main(["check", str(ini), "--options", str(bad)]) == 2
    assert "--acquis_per_file 0" in capsys.readouterr().err


def test_check_takes_the_configuration_of_the_profile(tmp_path, capsys):
    ini = write_ini(tmp_path)
    path = profile(tmp_path, f"config = '{ini}'\nshots = 300\n")
    assert main(["check", "--options", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{ini}: valid" in out and "300 shots" in out
    other = tmp_path / "other.ini"
    other.write_text(ini.read_text())
    assert main(["check", str(other), "--options", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"{other}: valid" in captured.out
    assert f"the profile {path} runs acquire with --config {ini}" in captured.err
    assert main(["check"]) == 2
    assert "give the CONFIG" in capsys.readouterr().err


def test_acquire_with_a_profile_and_a_layout(tmp_path, capsys):
    ini = write_ini(tmp_path)
    out = tmp_path / "data"
    path = profile(tmp_path, f'acq = 3\nshots = 10\noutput = "{out.as_posix()}"\n'
                   'layout = "%Y/%m/%d"\nemulator_speed = 500\ndark = true\nemulator = true\n')
    status = main(["acquire", "--config", str(ini), "--options", str(path), "--acq", "2", "-q"])
    assert status == 0
    files = sorted((out / "dark").rglob("t*"))
    assert len(files) == 2 and all(len(read_records(p)) == 1 for p in files)
    assert len(files[0].relative_to(out / "dark").parts) == 4  # YYYY/mm/dd/name
    journal = read_journal(next(out.glob("journal-*.jsonl")))
    assert journal[0]["dark"] is True and journal[-1]["saved"] == 2
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0  # walks the layout
    listed = capsys.readouterr().out
    assert all(str(p) in listed for p in files) and "journal" not in listed
    assert main(["status", str(out)]) == 1


def test_bad_layout_and_min_free_are_usage_errors(tmp_path, capsys):
    ini = write_ini(tmp_path)
    for flags, words in ((["--layout", "/abs"], "--layout"), (["--min-free", "lots"], "min-free"),
                         (["--schedule", "noon..dusk"], "--schedule")):
        with pytest.raises(SystemExit) as info:
            main(["acquire", "--config", str(ini), *flags])
        assert info.value.code == 2 and words in capsys.readouterr().err


def test_inspect_and_split_walk_directories(tmp_path, capsys):
    from test_cli_files import multi_record_file

    (tmp_path / "2026" / "05").mkdir(parents=True)
    path, chunks = multi_record_file(tmp_path / "2026" / "05", 3)
    (tmp_path / "journal-x.jsonl").write_text("{}\n")
    assert main(["inspect", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count(" record ") == 3
    out = tmp_path / "split"
    assert main(["split", str(tmp_path / "2026"), "-o", str(out)]) == 0
    assert sorted(p.read_bytes() for p in out.iterdir()) == sorted(chunks)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["inspect", str(empty)]) == 2
    assert "no Licel raw data files" in capsys.readouterr().err


def test_service_unit(tmp_path, capsys):
    argv = ["service", "unit", "--config", "/etc/lidar/Acquis.ini", "--user", "lidar",
            "--output", "/srv/lidar data", "--layout", "%Y/%m/%d", "--min-free=5%",
            "--watchdog-sec", "120", "--working-directory", str(tmp_path)]
    assert main(argv) == 0
    unit = capsys.readouterr().out
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
    assert lines["Type"] == "notify" and lines["Restart"] == "always"
    assert lines["WatchdogSec"] == "120" and lines["User"] == "lidar"
    assert lines["KillSignal"] == "SIGTERM" and lines["TimeoutStopSec"] == "60"
    assert lines["WorkingDirectory"] == str(tmp_path)
    assert lines["ExecStart"].endswith(
        ' -m licelpush acquire --config /etc/lidar/Acquis.ini --output "/srv/lidar data" '
        '--layout %%Y/%%m/%%d --min-free=5%% --acq -1 --retries -1')
    assert acquire_tokens(argv) == ["--config", "/etc/lidar/Acquis.ini", "--output",
                                    "/srv/lidar data", "--layout", "%Y/%m/%d", "--min-free=5%"]
    assert quote('a"b$') == '"a\\"b$$"'
    with pytest.raises(SystemExit):
        main(["service", "unit", "--acq", "many"])
    assert main(["service"]) == 2
    assert "unit" in capsys.readouterr().out


def test_service_unit_keeps_the_profiles_count(tmp_path, capsys):
    path = profile(tmp_path, "acq = 100\n")
    assert main(["service", "unit", "--options", str(path)]) == 0
    exec_start = next(line for line in capsys.readouterr().out.splitlines()
                      if line.startswith("ExecStart="))
    assert exec_start.endswith(f"acquire --options {path} --retries -1")


def test_service_unit_finds_relative_paths_from_any_working_directory(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    profile(tmp_path, "shots = 300\n")
    argv = ["service", "unit", "--options", "station.toml", "--working-directory",
            "/var/lib/licelpush", "--output=data", "--config", "/etc/lidar/Acquis.ini",
            "--log-file", "logs/acquire.log", "--layout", "%Y/%m/%d"]
    assert main(argv) == 0
    exec_start = next(line for line in capsys.readouterr().out.splitlines()
                      if line.startswith("ExecStart="))
    assert exec_start.split(" acquire ", 1)[1] == (
        f"--options {tmp_path}/station.toml --output={tmp_path}/data "
        f"--config /etc/lidar/Acquis.ini --log-file {tmp_path}/logs/acquire.log "
        "--layout %%Y/%%m/%%d --acq -1 --retries -1")
    assert not (tmp_path / "logs").exists()  # the service's log file, not this command's


def test_service_unit_passes_systemd_analyze(tmp_path, capsys):
    tool = shutil.which("systemd-analyze")
    need(tool is not None, "systemd-analyze is not installed (apt package systemd)")
    ini = write_ini(tmp_path)
    assert main(["service", "unit", "--config", str(ini), "--user", "root", "--schedule",
                 "sunset+30m..sunrise-30m", "--layout", "%Y/%m/%d", "--acq", "-1"]) == 0
    path = tmp_path / "licelpush-station.service"
    path.write_text(capsys.readouterr().out)
    done = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "licelpush-station.service" not in done.stderr, done.stderr


def test_service_unit_with_spaces_and_percent_in_its_paths(tmp_path, capsys):
    tool = shutil.which("systemd-analyze")
    need(tool is not None, "systemd-analyze is not installed (apt package systemd)")
    ini = write_ini(tmp_path)
    home = tmp_path / "lidar station 100%"
    assert main(["service", "unit", "--config", str(ini), "--user", "root",
                 "--working-directory", str(home), "--output", str(home / "data 1")]) == 0
    unit = capsys.readouterr().out
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
    assert lines["WorkingDirectory"] == str(home).replace("%", "%%")
    assert f' --output "{home}/data 1" '.replace("%", "%%") in lines["ExecStart"]
    path = tmp_path / "licelpush-station.service"
    path.write_text(unit)
    done = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "licelpush-station.service" not in done.stderr, done.stderr


def test_layout_value_object():
    assert Layout().pattern == "flat" and not Layout().dark

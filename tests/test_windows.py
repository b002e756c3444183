"""Windows stations, checked on any system: ``working_directory`` rules for both system
flavours, and the Task Scheduler task of ``licelpush service task``."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli_acquire import write_ini

from licelpush.cli import main
from licelpush.cli.acquire import output_directory
from licelpush.cli.schtask import TASK_NAMESPACE
from licelpush.errors import LicelpushError
from licelpush.workdir import POSIX, WINDOWS, WorkingDirectoryError, usable_working_directory

NS = {"t": TASK_NAMESPACE}


@pytest.mark.parametrize("text", ["D:\\Licel\\data", "\\\\server\\share\\lidar", "D:/Licel/data",
                                  "data\\sub", "relative", "C:\\Program Files\\Licel"])
def test_windows_paths_are_used_as_written_on_windows(text):
    assert usable_working_directory(text, WINDOWS) == text


@pytest.mark.parametrize("text", ["D:\\Licel\\data", "\\\\server\\share\\lidar", "data\\sub"])
def test_windows_paths_need_output_on_posix(text):
    with pytest.raises(WorkingDirectoryError, match="is a Windows path"):
        usable_working_directory(text, POSIX)


@pytest.mark.parametrize("text", ["/srv/lidar", "data/sub", "//srv/lidar"])
def test_posix_paths_stay_usable_on_posix(text):
    assert usable_working_directory(text, POSIX) == text


@pytest.mark.parametrize("flavour", [WINDOWS, POSIX])
@pytest.mark.parametrize("text", ["D:data", "d:", "C:Licel\\data"])
def test_drive_relative_paths_are_refused_everywhere(text, flavour):
    with pytest.raises(WorkingDirectoryError, match="relative to the current directory of drive"):
        usable_working_directory(text, flavour)


@pytest.mark.parametrize("text,words", [("\\Licel\\data", "relative to the current drive"),
                                        ("/srv/lidar", "relative to the current drive"),
                                        ("\\\\server", "not a complete UNC path")])
def test_paths_without_a_drive_are_refused_on_windows(text, words):
    with pytest.raises(WorkingDirectoryError, match=words):
        usable_working_directory(text, WINDOWS)


def test_output_directory_follows_the_flavour(tmp_path):
    ini = tmp_path / "Acquis.ini"
    assert output_directory(None, "D:\\Licel\\data", ini, WINDOWS) == Path("D:\\Licel\\data")
    assert output_directory(None, "", ini, WINDOWS) == Path(".")
    assert output_directory("out", "D:data", ini, WINDOWS) == Path("out")  # --output wins
    with pytest.raises(LicelpushError, match=r"working_directory = 'D:data' is relative.*--output"):
        output_directory(None, "D:data", ini, WINDOWS)
    with pytest.raises(LicelpushError, match="is a Windows path.*--output DIR"):
        output_directory(None, "D:\\Licel\\data", ini, POSIX)


def test_acquire_and_check_refuse_a_drive_relative_working_directory(tmp_path, capsys):
    ini = write_ini(tmp_path, workdir="D:data")
    assert main(["acquire", "--config", str(ini), "--emulator", "--acq", "1"]) == 2
    err = capsys.readouterr().err
    assert "working_directory = 'D:data' is relative to the current directory of drive D:" in err
    assert "Traceback" not in err
    assert main(["check", str(ini)]) == 2
    err = capsys.readouterr().err
    assert "'D:data' is relative to the current directory of drive D:" in err


def windows_argv(line: str) -> list[str]:
    """Split an argument string by the Windows C runtime's rules (backslashes count only
    before a quote: 2n give n and a quote toggles quoting, 2n+1 give n and a literal quote)."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        word: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                if j < n and line[j] == '"':
                    word.append("\\" * ((j - i) // 2))
                    if (j - i) % 2:
                        word.append('"')
                        j += 1
                    i = j
                else:
                    word.append("\\" * (j - i))
                    i = j
            elif line[i] == '"':
                quoted = not quoted
                i += 1
            else:
                word.append(line[i])
                i += 1
        args.append("".join(word))


def test_the_windows_splitter_follows_the_documented_examples():
    assert windows_argv('"a b c" d e') == ["a b c", "d", "e"]
    assert windows_argv('"ab\\"c" "\\\\" d') == ['ab"c', "\\", "d"]
    assert windows_argv('a\\\\\\b d"e f"g h') == ["a\\\\\\b", "de fg", "h"]
    assert windows_argv('a\\\\\\"b c d') == ['a\\"b', "c", "d"]
    assert windows_argv('a\\\\\\\\"b c" d e') == ["a\\\\b c", "d", "e"]


def task(capsys, *flags: str) -> ET.Element:
    assert main(["service", "task", *flags]) == 0
    return ET.fromstring(capsys.readouterr().out.encode("utf-8"))


def text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    assert node is not None, path
    return node.text


def test_the_task_has_the_schema_elements_of_a_boot_service(capsys, tmp_path):
    root = task(capsys, "--config", "D:\\Licel\\Acquis.ini", "--working-directory", str(tmp_path))
    assert root.tag == f"{{{TASK_NAMESPACE}}}Task" and float(root.get("version", "0")) >= 1.2
    assert text(root, "t:Triggers/t:BootTrigger/t:Enabled") == "true"
    assert text(root, "t:Settings/t:RestartOnFailure/t:Interval") == "PT1M"
    assert text(root, "t:Settings/t:RestartOnFailure/t:Count") == "255"
    assert text(root, "t:Settings/t:ExecutionTimeLimit") == "PT0S"
    assert text(root, "t:Settings/t:DisallowStartIfOnBatteries") == "false"
    assert text(root, "t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert text(root, "t:Principals/t:Principal/t:UserId") == "S-1-5-18"  # SYSTEM: no logon
    assert text(root, "t:Actions/t:Exec/t:WorkingDirectory") == str(tmp_path)
    assert root.find("t:Actions", NS).get("Context") == \
        root.find("t:Principals/t:Principal", NS).get("id")
    command = text(root, "t:Actions/t:Exec/t:Command")
    assert command and Path(command).name.startswith("python")
    assert windows_argv(text(root, "t:Actions/t:Exec/t:Arguments") or "") == [
        "-m", "licelpush", "acquire", "--config", "D:\\Licel\\Acquis.ini",
        "--acq", "-1", "--retries", "-1"]


def test_the_task_finds_relative_paths_from_its_working_directory(capsys, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "station.toml").write_text("shots = 300\n")
    root = task(capsys, "--options", "station.toml", "--working-directory", str(tmp_path.parent),
                "--output", "\\\\server\\share\\lidar", "--config=D:\\Licel\\Acquis.ini")
    assert windows_argv(text(root, "t:Actions/t:Exec/t:Arguments") or "")[3:] == [
        "--options", str(tmp_path / "station.toml"), "--output", "\\\\server\\share\\lidar",
        "--config=D:\\Licel\\Acquis.ini", "--acq", "-1", "--retries", "-1"]


def test_a_user_task_logs_on_with_its_password(capsys):
    root = task(capsys, "--user", "STATION\\lidar", "--executable",
                "C:\\Program Files\\Python312\\Scripts\\licelpush.exe", "--acq", "100",
                "--output", "D:\\Licel data\\", "--layout", "%Y/%m", "--restart-count", "3")
    assert text(root, "t:Principals/t:Principal/t:UserId") == "STATION\\lidar"
    assert text(root, "t:Principals/t:Principal/t:LogonType") == "Password"
    assert text(root, "t:Settings/t:RestartOnFailure/t:Count") == "3"
    assert text(root, "t:Actions/t:Exec/t:Command") == \
        "C:\\Program Files\\Python312\\Scripts\\licelpush.exe"
    assert windows_argv(text(root, "t:Actions/t:Exec/t:Arguments") or "") == [
        "acquire", "--acq", "100", "--output", "D:\\Licel data\\", "--layout", "%Y/%m",
        "--retries", "-1"]


@given(st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc"))), max_size=6))
def test_any_arguments_survive_windows_quoting(words):
    assert windows_argv(subprocess.list2cmdline(words)) == words


def test_the_xml_file_is_utf16_with_a_bom_for_schtasks(tmp_path, capsys):
    path = tmp_path / "licelpush task.xml"
    assert main(["service", "task", "--xml", str(path), "--config", "Acquis.ini",
                 "--description", "Lidar Zürich"]) == 0
    out = capsys.readouterr().out
    assert f'schtasks /Create /TN licelpush /XML "{path}"' in out
    data = path.read_bytes()
    assert data.startswith(b"\xff\xfe") and "\r\n".encode("utf-16-le") in data
    assert data.decode("utf-16").lstrip("\ufeff").startswith(
        '<?xml version="1.0" encoding="UTF-16"?>')
    root = ET.parse(path).getroot()
    assert text(root, "t:RegistrationInfo/t:Description") == "Lidar Zürich"


def test_stdout_declares_utf8(capsys):
    assert main(["service", "task", "--config", "Acquis.ini"]) == 0
    assert capsys.readouterr().out.startswith('<?xml version="1.0" encoding="UTF-8"?>')


@pytest.mark.parametrize("flags,words", [(["--restart-count", "0"], "--restart-count"),
                                         (["--restart-minutes", "0"], "--restart-minutes"),
                                         (["--boot-delay-s", "-1"], "--boot-delay-s")])
def test_bad_task_options_are_usage_errors(capsys, flags, words):
    assert main(["service", "task", *flags]) == 2
    assert words in capsys.readouterr().err

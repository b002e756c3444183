"""Absurd values from the command line, the configuration or the controller: one
line with the README's exit status, no traceback, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_acquire import HW, frames_for, write_ini
from test_client import FakeController

from licelpush.cli import main
from licelpush.errors import OutputError
from licelpush.filewriter import RecordWriter
from licelpush.hardware import RecorderHardware, format_trtype, parse_trtype
from licelpush.licelfile import encode_record
from licelpush.licelfile import read_records as read_licel

LONG_NAME = "x" * 300


def status_of(argv: list[str]) -> int:
    """The exit status of ``licelpush argv`` (argparse's own errors included)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def test_overlong_output_component_is_a_usage_error(tmp_path, capsys):
    ini = write_ini(tmp_path)
    out = tmp_path / LONG_NAME / "data"
    assert status_of(["acquire", "--config", str(ini), "--emulator", "--acq", "1",
                      "--output", str(out)]) == 2
    one_line_error(capsys, "--output", "300 bytes", "at most 255")
    assert not (tmp_path / "journal").exists() and list(tmp_path.iterdir()) == [ini]


def test_overlong_split_output_component_is_a_usage_error(tmp_path, capsys):
    from licel_samples import analogue, make_record

    source = tmp_path / "b2651321.051986"
    source.write_bytes(encode_record(make_record([analogue(0, 532, bins=10)])))
    assert status_of(["split", str(source), "-o", str(tmp_path / LONG_NAME)]) == 2
    one_line_error(capsys, "-o", "300 bytes")


def test_overlong_component_found_only_when_writing_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="cannot create it"):
        RecordWriter(tmp_path / LONG_NAME, "a")


@pytest.mark.parametrize("key,value,allowed", [
    ("frequency1", "1e-300", "0.001 to 9999"),
    ("frequency2", "20000", "0.001 to 9999"),
    ("WavelengthA", "1e308", "at most 99999"),
    ("Height_asl", "1e300", "-999 to 9999"),
])
def test_values_that_overflow_a_header_field_fail_check_and_acquire(tmp_path, capsys, key,
                                                                      value, allowed):
    ini = write_ini(tmp_path)
    text = ini.read_text()
    assert f"\n{key} = " in text
    lines = [f"{key} = {value}" if line.startswith(f"{key} = ") else line
             for line in text.splitlines()]
    ini.write_text("\n".join(lines) + "\n")
    assert status_of(["check", str(ini)]) == 2
    one_line_error(capsys, f"{key} = {value}", allowed)
    assert status_of(["acquire", "--config", str(ini), "--ip", "127.0.0.1", "--port", "9",
                      "--output", str(tmp_path / "out")]) == 2
    one_line_error(capsys, f"{key} = {value}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", [
    ["--timeout", "inf"], ["--timeout", "nan"], ["--stall-timeout", "1e300"],
    ["--backoff-max", "inf"], ["--emulator-speed", "1e308"], ["--emulator-speed", "inf"],
])
def test_absurd_timing_values_are_usage_errors(tmp_path, capsys, flag):
    ini = write_ini(tmp_path)
    assert status_of(["acquire", "--config", str(ini), "--emulator", "--acq", "1",
                      "--output", str(tmp_path / "out"), *flag]) == 2
    one_line_error(capsys, flag[0])
    assert not list((tmp_path / "out").glob("t*")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize("field,value", [("binshift", "1e308"), ("binwidth", "1e308"),
                                         ("binwidth", "inf"), ("binshift", "-1"),
                                         ("binshift", "nan")])
def test_absurd_trtype_reply_is_refused(field, value):
    reply = format_trtype(RecorderHardware())
    tokens = reply.split()
    tokens[tokens.index(field) + 1] = value
    with pytest.raises(ValueError, match="bin"):
        parse_trtype(" ".join(tokens))


@pytest.mark.parametrize("field", ["binshift", "binwidth"])
def test_absurd_trtype_reply_ends_acquire_with_status_3_and_no_empty_file(tmp_path, capsys,
                                                                        field):
    ini = write_ini(tmp_path)
    frames = frames_for(ini, 12, 2)
    tokens = format_trtype(HW).split()
    tokens[tokens.index(field) + 1] = "1e308"
    reply = " ".join(tokens)
    out = tmp_path / "data"
    with FakeController(recorders={0: HW}, push=lambda n: [b"".join(frames), ("hold",)],
                        answer=lambda line: reply if line == "TRTYPE?" else None) as fake:
        status = main(["acquire", "--config", str(ini), "--ip", fake.host, "--port",
                       str(fake.port), "--acq", "2", "--shots", "12", "--output", str(out),
                       "--retries", "0", "-q"])
    assert status == 3
    one_line_error(capsys, "TRTYPE", "bin")
    assert not [p for p in out.glob("t*")], "no data file, empty or not"
    assert fake.mpush_count == 0


def test_emulate_ledger_in_a_missing_directory_is_a_usage_error(capsys):
    assert status_of(["emulate", "--ledger", "/nonexistent/x"]) == 2
    one_line_error(capsys, "--ledger", "/nonexistent")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_emulator_ledger_on_a_full_disk_is_status_5_and_data_is_kept(tmp_path, capsys):
    ini = write_ini(tmp_path)
    out = tmp_path / "out"
    status = main(["acquire", "--config", str(ini), "--emulator", "--emulator-max-speed",
                   "--acq", "2", "--shots", "12", "--output", str(out), "-q",
                   "--emulator-ledger", "/dev/full"])
    assert status == 5
    one_line_error(capsys, "emulator could not write its ledger", "/dev/full")
    files = sorted(out.glob("t*"))
    assert len(files) == 2 and all(len(read_licel(p)) == 1 for p in files)

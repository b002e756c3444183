"""``licelpush emulate``: options, the start line scripts parse, signals, errors."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from licelpush.cli import main

TESTDATA = Path(__file__).resolve().parent / "data" / "acquis"
START_LINE = re.compile(r"emulator listening on (\S+) command (\d+) push (\d+) kill (\d+)")


def test_help_documents_options_faults_and_ledger(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["emulate", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for words in ("--max-speed", "--speed", "--rate", "--seed", "--fault", "--ledger",
                  "--recorders", "--config", "--idn", "ColdFireEthernet", "--kill-password",
                  "disconnect:every=N", "corrupt:every=N", "lose:", "stall:", "hang:",
                  "reboot:at=150,seconds=2", "refuse", '"crc32"', "fault:disconnect",
                  "emulator listening on 127.0.0.1 command 2055 push 2056 kill 2057"):
        assert words in text, words


@pytest.mark.parametrize("argv, words", [
    (["--fault", "boom:at=1"], "unknown kind"),
    (["--fault", "stall"], "needs every=N or at=N"),
    (["--recorders", "0:14/4"], "ADC bits"),
    (["--port", "70000"], "expected 0"),
    (["--speed", "0"], "expected a number > 0"),
])
def test_bad_options_are_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(["emulate", *argv])
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err


def test_start_line_config_recorders_and_duration(capsys, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    status = main(["emulate", "--port", "0", "--duration", "0.2", "--config",
                   str(TESTDATA / "two-recorders.ini"), "--recorders", "1:12/4/7.5",
                   "--ledger", str(ledger)])
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    match = START_LINE.fullmatch(out[0])
    assert match is not None and match[1] == "127.0.0.1"
    command, push, kill = (int(match[i]) for i in (2, 3, 4))
    assert (push, kill) == (command + 1, command + 2)
    assert out[1].startswith("recorders: TR0 16/4 3.75 m, TR1 12/4 7.5 m;")
    assert out[-1] == "emulator stopped: 0 frame(s) sent"
    assert ledger.read_text(encoding="utf-8") == ""


def busy_port() -> socket.socket:
    """A listening socket on a port P that leaves room for P+2."""
    while True:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        if sock.getsockname()[1] <= 65533:
            sock.listen()
            return sock
        sock.close()  # pragma: no cover - the kernel picked the very top


def test_port_in_use_is_reported(capsys):
    with busy_port() as busy:
        status = main(["emulate", "--port", str(busy.getsockname()[1]), "--duration", "0.1"])
    assert status == 2
    assert "cannot start the emulator" in capsys.readouterr().err


def test_subprocess_serves_pushes_and_stops_cleanly_on_sigterm(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "licelpush", "emulate", "--port", "0", "--speed", "200",
         "--seed", "3", "--ledger", str(ledger), "--fault", "corrupt:at=2,where=data"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = START_LINE.fullmatch(process.stdout.readline().strip())
        assert match is not None, process.stderr.read() if process.stderr else ""
        port = int(match[2])
        command = socket.create_connection(("127.0.0.1", port), timeout=5)
        push = socket.create_connection(("127.0.0.1", port + 1), timeout=5)
        reader = command.makefile("rb")
        command.sendall(b"*IDN?\r\nMPUSH 10 0 50 PC A\r\n")
        assert b" " in reader.readline()
        assert reader.readline() == b"MPUSH executed\r\n"
        received = b""
        while len(received) < 3 * 108:
            received += push.recv(4096)
        process.send_signal(signal.SIGTERM)  # with both connections open
        assert process.wait(timeout=10) == 0
        reader.close()
        command.close()
        push.close()
        rest = process.stdout.read()
        assert re.search(r"emulator stopped: \d+ frame\(s\) sent", rest)
    finally:
        if process.poll() is None:  # pragma: no cover - only when an assertion failed
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    records = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines()]
    frames = [r for r in records if r["event"] == "frame"]
    assert frames[1]["faults"][0]["kind"] == "corrupt" and frames[0]["faults"] == []
    assert {r["reason"] for r in records if r["event"] == "close"} == {"stop"}


pytest_plugins = ["pytester"]


def test_emulator_fixture_as_a_pytest_plugin(pytester):
    pytester.makeconftest('pytest_plugins = ["licelpush.testing"]\n')
    pytester.makepyfile('''
import socket

def test_uses_the_fixture(emulator):
    emu = emulator(recorders="0:16/4,3:12/4")
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(b"SELECT 3\\r\\nSTAT?\\r\\n")
        replies = b""
        while replies.count(b"\\n") < 2:
            replies += sock.recv(100)
    assert replies == b"SELECT executed\\r\\nShots 2 MemA\\r\\n"
    assert emu.ledger()[0]["event"] == "open"
''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)

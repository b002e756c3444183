"""The platform module: the only place of OS-specific calls, its two forms agree, and the
portable form (the one Windows gets) keeps the writer's guarantees.

Run once normally and once with ``LICELPUSH_PORTABLE=1`` (``.ci/run``), where
``os.writev``, ``os.statvfs`` and ``os.O_DIRECTORY`` do not exist.
"""

from __future__ import annotations

import ast
import errno
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import PORTABLE_SITE

import licelpush
from licelpush import platform
from licelpush.journal import read_journal
from licelpush.licelfile import parse_file_name, read_records

SOURCES = Path(licelpush.__file__).resolve().parents[1]
"""``src/``: licelpush and the vendor adapters."""
PLATFORM_MODULE = Path(platform.__file__).resolve()
STATIONS = Path(__file__).resolve().parent / "data" / "acquis"

FORBIDDEN_ATTRIBUTES = {"writev", "statvfs", "fstatvfs", "O_DIRECTORY", "O_BINARY",
                        "AF_UNIX", "add_signal_handler", "remove_signal_handler"}
"""``x.NAME`` (or ``getattr(x, "NAME")``) only in the platform module."""
FORBIDDEN_IMPORTS = {"fcntl", "msvcrt", "pwd", "grp", "termios", "resource", "winreg",
                     "_winapi", "posix", "nt"}
"""Modules of one operating system."""


def platform_calls(path: Path) -> list[str]:
    """OS-specific calls in ``path``: the line and what was found."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            what = node.attr
        elif isinstance(node, ast.Attribute) and node.attr == "signal" and \
                isinstance(node.value, ast.Name) and node.value.id == "signal":
            what = "signal.signal"
        elif isinstance(node, ast.Constant) and node.value in FORBIDDEN_ATTRIBUTES:
            what = f"getattr {node.value}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.startswith("/proc/"):
            what = node.value
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
            what = next((f"import {n}" for n in names if n in FORBIDDEN_IMPORTS), None)
        elif isinstance(node, ast.ImportFrom) and not node.level and \
                (node.module or "").split(".")[0] in FORBIDDEN_IMPORTS:
            what = f"import {node.module}"
        if what:
            found.append((node.lineno, what))
    return [f"{path.name}:{line} {what}" for line, what in sorted(found)]


def test_only_the_platform_module_makes_os_specific_calls():
    found = [hit for path in sorted(SOURCES.rglob("*.py")) if path.resolve() != PLATFORM_MODULE
             for hit in platform_calls(path)]
    assert found == []


def test_the_static_check_finds_each_kind_of_call(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, signal, socket\nimport fcntl\nfrom pwd import getpwnam\n"
        "os.writev(1, [])\nos.statvfs('.')\nfd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)\n"
        "signal.signal(signal.SIGTERM, None)\nsocket.socket(socket.AF_UNIX)\n"
        "getattr(os, 'O_DIRECTORY', 0)\nopen('/proc/self/fd')\nloop.add_signal_handler(2, f)\n")
    assert platform_calls(sample) == [
        "sample.py:2 import fcntl", "sample.py:3 import pwd", "sample.py:4 writev",
        "sample.py:5 statvfs", "sample.py:6 O_DIRECTORY", "sample.py:7 signal.signal",
        "sample.py:8 AF_UNIX", "sample.py:9 getattr O_DIRECTORY", "sample.py:10 /proc/self/fd",
        "sample.py:11 add_signal_handler"]


def available_calls() -> list[platform.Calls]:
    """Both forms where the system has the POSIX calls, else only the portable one."""
    forms: list[platform.Calls] = [platform.PortableCalls()]
    if hasattr(os, "writev"):
        forms.append(platform.PosixCalls())
    return forms


def test_portable_mode_is_what_the_run_says():
    portable = os.environ.get(platform.PORTABLE_ENV) == "1"
    assert isinstance(platform.CURRENT, platform.PortableCalls) is portable
    assert all(hasattr(os, name) is not portable
               for name in ("writev", "statvfs", "O_DIRECTORY"))


def test_selection():
    assert isinstance(platform.select({platform.PORTABLE_ENV: "1"}), platform.PortableCalls)
    native = platform.select({})
    assert isinstance(native, platform.PosixCalls) is hasattr(os, "writev")


@pytest.mark.parametrize("calls", available_calls(), ids=lambda c: c.name)
def test_both_forms_write_the_same_bytes(tmp_path, calls):
    buffers = [b"header\r\n", memoryview(np.arange(5000, dtype="<i4")).cast("B"), b"\r\n"]
    total = sum(len(memoryview(b).cast("B")) for b in buffers)
    fd = os.open(tmp_path / "f", platform.CREATE_FLAGS, 0o644)
    try:
        assert calls.write_buffers(fd, buffers, total) == total
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"".join(bytes(memoryview(b)) for b in buffers)


def test_portable_write_continues_short_writes_and_reports_what_was_written(monkeypatch):
    written = bytearray()

    def short(fd, data):
        if len(written) >= 250:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.extend(bytes(data)[:100])
        return min(100, len(data))

    monkeypatch.setattr(os, "write", short)
    data = bytes(range(256)) * 2
    assert platform.PortableCalls.write_buffers(3, [data[:200]], 200) == 200
    assert written == data[:200]
    with pytest.raises(OSError) as info:
        platform.PortableCalls.write_buffers(3, [data[:100], data[100:400]], 400)
    assert info.value.licelpush_written == 100  # type: ignore[attr-defined]


@pytest.mark.parametrize("calls", available_calls(), ids=lambda c: c.name)
def test_free_space_of_both_forms(tmp_path, calls):
    total, free = calls.disk_usage(tmp_path)
    assert 0 < free <= total
    calls.sync_directory(tmp_path)  # never raises


def test_create_flags_are_binary_and_not_inherited_where_the_system_has_them():
    windows = types.SimpleNamespace(O_WRONLY=1, O_CREAT=0x100, O_EXCL=0x400, O_BINARY=0x8000,
                                    O_NOINHERIT=0x80)
    assert platform.create_flags(windows) == 0x8581
    assert platform.CREATE_FLAGS & os.O_EXCL and platform.CREATE_FLAGS & os.O_CREAT


def test_ctrl_break_stops_where_it_exists():
    windows = types.SimpleNamespace(SIGINT=2, SIGTERM=15, SIGBREAK=21)
    assert platform.stop_signals(windows) == (2, 15, 21)
    assert platform.stop_signals(types.SimpleNamespace(SIGINT=2, SIGTERM=15)) == (2, 15)


def test_replace_file_is_atomic(tmp_path):
    (tmp_path / "a").write_text("new")
    (tmp_path / "b").write_text("old")
    platform.replace_file(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "new" and not (tmp_path / "a").exists()


def child_env(portable: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != platform.PORTABLE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PORTABLE_SITE),
                                                    env.get("PYTHONPATH", "")) if p)
    if portable:
        env[platform.PORTABLE_ENV] = "1"
    return env


@pytest.mark.parametrize("portable", [True, False])
def test_child_pythons_are_stripped_in_portable_mode(portable):
    code = ("import os; from licelpush import platform; "
            "print(platform.CURRENT.name, hasattr(os, 'writev'), hasattr(os, 'statvfs'), "
            "hasattr(os, 'O_DIRECTORY'))")
    done = subprocess.run([sys.executable, "-c", code], env=child_env(portable),
                          capture_output=True, text=True, timeout=60, check=True)
    expected = "portable False False False" if portable else "posix True True True"
    assert done.stdout.split() == expected.split()


def acquire_in(out: Path, portable: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "licelpush", "acquire", "--emulator", "--emulator-max-speed",
         "--emulator-seed", "7", "--config", str(STATIONS / "eight-recorders.ini"),
         "--shots", "50", "--acq", "6", "--acquis_per_file", "2", "--output", str(out), "-q"],
        env=child_env(portable), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr


def records_of(out: Path) -> list:
    files = sorted(p for p in out.iterdir() if parse_file_name(p.name))
    return [record for path in files for record in read_records(path)]


def test_portable_and_posix_acquire_write_the_same_records(tmp_path):
    acquire_in(tmp_path / "posix", portable=False)
    acquire_in(tmp_path / "portable", portable=True)
    posix, portable = records_of(tmp_path / "posix"), records_of(tmp_path / "portable")
    assert len(posix) == len(portable) == 6
    for a, b in zip(posix, portable, strict=True):
        timeless = {"name": "", "start": a.header.start, "stop": a.header.stop,
                    "timestamp_ms": None}
        assert a.header.__class__(**{**vars(a.header), **timeless}) == \
            b.header.__class__(**{**vars(b.header), **timeless})
        assert len(a.data) == len(b.data)
        assert all(np.array_equal(x, y) for x, y in zip(a.data, b.data, strict=True))


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs a spare POSIX signal")
def test_ctrl_break_stops_acquire_cleanly_with_exit_1(tmp_path):
    """SIGBREAK exists only on Windows: here SIGUSR1 plays it, defined as ``signal.SIGBREAK``
    before licelpush is imported, as Windows' signal module has it."""
    out = tmp_path / "out"
    code = ("import signal, sys; signal.SIGBREAK = signal.SIGUSR1; "
            "from licelpush.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "acquire", "--emulator", "--emulator-max-speed",
         "--config", str(STATIONS / "eight-recorders.ini"), "--shots", "50", "--acq", "1000000",
         "--output", str(out), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                out.exists() and any(parse_file_name(p.name) for p in out.iterdir())):
            time.sleep(0.05)
        proc.send_signal(signal.SIGUSR1)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert b"SIGUSR1 received" in err and b"Traceback" not in err
    (journal,) = out.glob("journal-*.jsonl")
    assert read_journal(journal)[-1]["event"] == "stop"


class LoopWithoutSignals:
    """An asyncio loop as on Windows: it cannot watch signals."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    def add_signal_handler(self, sig, callback):
        raise NotImplementedError

    def call_soon_threadsafe(self, callback):
        self.calls.append(callback)


def test_a_loop_without_signal_support_gets_plain_handlers():
    loop = LoopWithoutSignals()
    before = signal.getsignal(signal.SIGTERM)
    undo = platform.add_loop_stop_handlers(loop, print)
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        undo()
    assert loop.calls == [print]
    assert signal.getsignal(signal.SIGTERM) == before


def test_replace_waits_while_a_windows_reader_holds_the_target(tmp_path, monkeypatch):
    real_replace = os.replace
    failures = iter([PermissionError(13, "Access is denied")] * 2)

    def busy(source, target):
        error = next(failures, None)
        if error:
            raise error
        real_replace(source, target)

    (tmp_path / "a").write_text("new")
    monkeypatch.setattr(platform.os, "replace", busy)
    monkeypatch.setattr(platform.time, "sleep", lambda s: None)
    monkeypatch.setattr(platform.os, "name", "nt")
    platform.replace_file(tmp_path / "a", tmp_path / "b")
    monkeypatch.undo()
    assert (tmp_path / "b").read_text() == "new"
    (tmp_path / "c").write_text("x")
    monkeypatch.setattr(platform.os, "replace", lambda s, t: (_ for _ in ()).throw(
        PermissionError(13, "denied")))
    with pytest.raises(PermissionError):  # POSIX: a permission error is final
        platform.replace_file(tmp_path / "c", tmp_path / "b")

"""Subprocess helpers: the ``licelpush`` CLI, the emulator, /proc readings."""

from __future__ import annotations

import os
import re
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = resource.getpagesize()
_PORT_RE = re.compile(r"\bcommand\b[^0-9\n]*?(\d{2,5})", re.IGNORECASE)
_ANY_PORT_RE = re.compile(r"(?:port[^0-9\n]*|127\.0\.0\.1:)(\d{2,5})", re.IGNORECASE)


def licelpush_cmd(*args: str) -> list[str]:
    """Command line running the licelpush CLI of this interpreter."""
    return [sys.executable, "-m", "licelpush", *args]


def has_subcommand(name: str) -> bool:
    """Whether ``licelpush NAME --help`` works (the subcommand is installed)."""
    done = subprocess.run(licelpush_cmd(name, "--help"), capture_output=True, timeout=60)
    return done.returncode == 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int | str = "self") -> int:
    """VmRSS of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Finished:
    """A child process that ended, with its resource usage (from ``wait4``)."""

    returncode: int
    wall_s: float
    cpu_s: float
    user_s: float
    system_s: float
    max_rss_bytes: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], timeout: float, cwd: Path | None = None) -> Finished:
    """Run ``cmd`` to completion; wall time, CPU time and peak RSS of exactly that child."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.time_ns()}"
    with open(f"{out_path}.out", "w+") as out, open(f"{out_path}.err", "w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise TimeoutError(f"{' '.join(cmd)} did not finish within {timeout:.0f} s")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return Finished(proc.returncode, wall, usage.ru_utime + usage.ru_stime,
                    usage.ru_utime, usage.ru_stime,
                    usage.ru_maxrss * 1024, stdout, stderr)


def terminate(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM ``proc``, then SIGKILL if it does not end within ``grace`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Emulator:
    """``licelpush emulate --port 0 ...`` as a subprocess; parses the ports it prints."""

    def __init__(self, args: list[str], startup_timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(licelpush_cmd("emulate", "--port", "0", *args),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.output: deque[str] = deque(maxlen=200)
        self.port = self._read_port(startup_timeout)
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()

    def _drain_output(self) -> None:
        """Keep reading what the emulator prints so that it never blocks on a full pipe."""
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self.output.append(line)
        except (OSError, ValueError):
            pass

    def _read_port(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = _PORT_RE.search(line) or _ANY_PORT_RE.search(line)
            if match:
                sel.close()
                return int(match.group(1))
        sel.close()
        self.stop()
        raise RuntimeError("the emulator printed no command port: " + "".join(self.output)[-500:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end within 10 s."""
        terminate(self.proc, 10.0)
        if getattr(self, "_drain", None) is not None:
            self._drain.join(5)
        elif self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A stop request ends the run within 2 s in every phase, with exit 1 and a journalled stop.

Each scenario runs the acquisition against the scripted fake controller
(test_client.py), sets the stop request from a timer while the run waits in
one phase, and measures how long the run takes to return after it. A
controller that trickles its replies (each one 1.5 s late), a silent one with
``timeout`` 60 s, long back-offs and a silent push stream are covered; the
last test sends a real SIGTERM to ``licelpush acquire``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from test_acquisition_scripted import CFG, HW, journal_of, make_frames, options
from test_cli_acquire import write_ini
from test_client import FakeController

from licelpush.acquisition import Acquisition
from licelpush.journal import read_journal

STOP_BOUND_S = 2.0
RUN_BOUND_S = 30.0
"""A run that does not end this long after its stop request has failed the test."""


def run_and_stop(fake, tmp_path, when: threading.Event | float, **kw):
    """Run, request a stop ``when`` (seconds after the start, or once the event is set);
    the summary and the seconds from the request to the end of ``run``."""
    stop = threading.Event()
    stopped_at: list[float] = []

    def request():
        if isinstance(when, threading.Event):
            when.wait(RUN_BOUND_S)
            time.sleep(0.5)  # well inside the phase the event marks
        else:
            time.sleep(when)
        stopped_at.append(time.monotonic())
        stop.set()

    timer = threading.Thread(target=request, daemon=True)
    acq = Acquisition(CFG, options(fake, tmp_path, **kw), stop_requested=stop)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(summary=acq.run()), daemon=True)
    timer.start()
    worker.start()
    worker.join(RUN_BOUND_S)
    assert not worker.is_alive(), "the run ignored the stop request"
    assert stopped_at, "the run ended before the stop request"
    return result["summary"], time.monotonic() - stopped_at[0]


def assert_stopped(summary, seconds):
    assert seconds < STOP_BOUND_S, f"stopped {seconds:.2f} s after the request"
    assert summary.exit_status == 1 and summary.reason == "stopped by the user"
    stop = journal_of(summary)[-1]
    assert stop["event"] == "stop" and stop["exit_status"] == 1


def test_stop_while_a_trickling_controller_is_being_configured(tmp_path):
    def slow(line):
        time.sleep(1.5)
        return None

    with FakeController(recorders={0: HW}, answer=slow) as fake:
        summary, seconds = run_and_stop(fake, tmp_path, 2.5, timeout=5.0)
        assert not any(line.startswith("MPUSH") for line in fake.lines)
    assert_stopped(summary, seconds)


def test_stop_while_a_silent_controller_is_awaited_with_a_long_timeout(tmp_path):
    with FakeController(recorders={0: HW}, answer=lambda line: "") as fake:
        summary, seconds = run_and_stop(fake, tmp_path, 1.0, timeout=60.0)
    assert_stopped(summary, seconds)


def test_stop_while_backing_off_between_reconnection_attempts(tmp_path):
    frames, _ = make_frames(1)
    waiting = threading.Event()

    def answer(line):
        if line == "SELECT 0" and "MPUSH" in " ".join(fake.lines):
            waiting.set()  # a reconnection attempt: refuse it
            return "SELECT ERROR rebooting"
        return None

    def push(n):
        return [frames[0], ("close",)]

    with FakeController(recorders={0: HW}, answer=answer, push=push) as fake:
        summary, seconds = run_and_stop(fake, tmp_path, waiting, backoff=60.0, backoff_max=60.0,
                                        retries=-1, acquisitions=5)
    assert_stopped(summary, seconds)
    assert summary.saved == 1  # the frame received before the loss is kept


def test_stop_while_a_probe_waits_for_a_silent_controller(tmp_path):
    probing = threading.Event()

    def answer(line):
        if line == "*IDN?" and "MPUSH" in " ".join(fake.lines):
            probing.set()
            return ""  # the liveness probe is never answered
        return None

    with FakeController(recorders={0: HW}, answer=answer,
                        push=lambda n: [("hold",)]) as fake:
        summary, seconds = run_and_stop(fake, tmp_path, probing, timeout=60.0,
                                        probe_after=0.2, stall_limit=100.0)
    assert_stopped(summary, seconds)


def test_stop_while_receiving_sends_slave_and_keeps_what_was_saved(tmp_path):
    frames, _ = make_frames(3)
    with FakeController(recorders={0: HW}, push=lambda n: [b"".join(frames), ("hold",)]) as fake:
        summary, seconds = run_and_stop(fake, tmp_path, 1.0, timeout=60.0, acquisitions=10)
        assert fake.lines[-1] == "SLAVE"
    assert_stopped(summary, seconds)
    assert summary.saved == 3 and summary.file_count == 3


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")
def test_sigterm_stops_acquire_during_set_up_with_exit_1(tmp_path):
    ini = write_ini(tmp_path)
    out = tmp_path / "data"
    with FakeController(recorders={0: HW}, answer=lambda line: "") as fake:
        proc = subprocess.Popen(
            [sys.executable, "-m", "licelpush", "acquire", "--config", str(ini), "--ip",
             fake.host, "--port", str(fake.port), "--timeout", "60", "--output", str(out),
             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + RUN_BOUND_S
            while not fake.lines and time.monotonic() < deadline:
                time.sleep(0.05)  # wait until the first set-up command arrived
            assert fake.lines, "acquire never sent a command"
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(RUN_BOUND_S)
            seconds = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(RUN_BOUND_S)
    assert status == 1, proc.stderr.read().decode()
    assert seconds < STOP_BOUND_S
    stop = read_journal(next(out.glob("journal-*.jsonl")))[-1]
    assert stop["event"] == "stop" and stop["exit_status"] == 1

"""The monitor page in a real headless Chromium, beside a running acquisition.

For each station configuration: the emulator and ``acquire`` run (one
process, ``acquire --emulator``), ``monitor`` serves the output directory on
a free loopback port, and Debian's chromium loads the page through
Playwright. Checked as a person would look: every channel of the
configuration has its label as HTML text and a drawn profile, a record that
the journal announces is on the page within 2 s, and a screenshot is saved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from optional import need
from stations import STATION_CONFIGS, STATIONS

from licelpush.datafiles import find_data_files
from licelpush.licelfile import read_records
from licelpush.physical import channel_label

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    need(sync_playwright is not None, "playwright (Python package) is not installed")
    need(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    return sync_playwright


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "licelpush", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM if os.name != "nt" else signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _newest_acquisition(directory: Path) -> str | None:
    journals = sorted(directory.glob("journal-*.jsonl"))
    if not journals:
        return None
    lines = journals[-1].read_bytes().splitlines()
    for line in reversed(lines):
        if b'"event":"acquisition"' in line:
            return json.loads(line)["file"]
    return None


@pytest.mark.parametrize("ini", STATION_CONFIGS)
def test_monitor_page_in_chromium(tmp_path: Path, ini: str) -> None:
    sync_playwright = _playwright()
    data = tmp_path / "data"
    data.mkdir()
    acquire = _start("acquire", "--config", str(STATIONS / ini), "--emulator",
                     "--emulator-speed", "20", "--acq", "-1", "--output", str(data), "-q")
    monitor = None
    try:
        _wait_for(lambda: _newest_acquisition(data), 60, "the first acquisition")
        monitor = _start("monitor", str(data), "--bind", "127.0.0.1:0")
        assert monitor.stdout is not None
        line = monitor.stdout.readline()  # bounded: the monitor prints it or exits
        assert "monitor serving" in line, monitor.stderr.read() if monitor.stderr else line
        url = line.split(" on ", 1)[1].strip()
        datasets = read_records(find_data_files([data])[-1].path)[0].header.datasets
        expected = sorted(channel_label(ds) for ds in datasets)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                page.wait_for_function(  # current data within 4 s of loading
                    f"document.querySelectorAll('.channel-label').length >= {len(expected)}",
                    timeout=4000)
                assert sorted(page.locator(".channel-label").all_inner_texts()) == expected
                _check_new_record_within_2_s(page, data)
                _check_every_profile_drawn(page, len(expected))
                if ini == "station.ini":
                    _check_status_file_is_shown(page, data)
                page.screenshot(path=str(tmp_path / "monitor.png"), full_page=True)
            finally:
                browser.close()
        assert (tmp_path / "monitor.png").stat().st_size > 10_000
    finally:
        if monitor is not None:
            _stop(monitor)
        _stop(acquire)
    assert acquire.returncode == 0, acquire.stderr.read() if acquire.stderr else ""


def _check_new_record_within_2_s(page, data: Path) -> None:
    shown = page.locator("#record").get_attribute("data-name")
    newer = _wait_for(lambda: (n := _newest_acquisition(data)) and n > (shown or "") and n,
                      30, "a new acquisition in the journal")
    saved = time.monotonic()
    page.wait_for_function(f"(document.getElementById('record').dataset.name || '') >= "
                           f"{json.dumps(newer)}", timeout=2000)
    assert time.monotonic() - saved < 2.5  # the wait above allows 2 s, plus the call


def _check_status_file_is_shown(page, data: Path) -> None:
    """Where the station writes status.json, the page shows its health."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    status = {"state": "acquiring", "updated_utc": now, "run_id": "R-status",
              "acquisitions": 12345, "warnings": ["disk full in 5 h"], "dark": False,
              "free_bytes": 5_000_000_000, "time_to_full_s": 18000,
              "clipping": {"TR0 A analogue": 3, "TR1 B analogue": 1}}
    (data / "status.json.tmp").write_text(json.dumps(status))
    (data / "status.json.tmp").replace(data / "status.json")
    page.wait_for_function("document.getElementById('h-acq').textContent === '12345'",
                           timeout=3000)
    assert "health from status.json, run R-status" in page.locator("#h-more").inner_text()
    assert page.locator("#h-warnings li").all_inner_texts() == ["disk full in 5 h"]
    assert "full in 5.0 h" in page.locator("#h-free").inner_text()
    # status.json counts clipped acquisitions per channel
    assert page.locator("#h-clipping").inner_text() == "TR0 A analogue: 3, TR1 B analogue: 1"


def _check_every_profile_drawn(page, channels: int) -> None:
    coloured = page.evaluate("""() => [...document.querySelectorAll('canvas.profile')].map(cv => {
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 120 && d[i] < 80) n++;
        return n; })""")
    assert len(coloured) == channels
    assert all(n > 50 for n in coloured), coloured  # a blue profile line in each

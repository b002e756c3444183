"""The monitor's state (journal digest, health, signal view), follower and server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from licel_samples import analogue, make_record, photon

from licelpush import cli
from licelpush.cli.monitor_cmd import is_loopback, parse_bind
from licelpush.errors import EXIT_OUTPUT, EXIT_USAGE
from licelpush.journal import Journal
from licelpush.licelfile import encode_record
from licelpush.monitorserver import DirectoryFollower, Documents, start_server
from licelpush.monitorstate import JournalDigest, SignalView, health

NOW = datetime(2026, 5, 13, 21, 0, 0, tzinfo=timezone.utc).timestamp()


def utc(seconds_before_now: float) -> str:
    when = datetime.fromtimestamp(NOW - seconds_before_now, timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def journal_lines(acquisitions: int, *, stop: bool = False, end_with: str = "") -> list[bytes]:
    events = [{"event": "start", "utc": utc(100), "run": "R1", "controller": "127.0.0.1:2055"}]
    for n in range(1, acquisitions + 1):
        event = {"event": "acquisition", "utc": utc(acquisitions - n),
                 "received_utc": utc(acquisitions - n), "n": n, "file": f"f{n}", "record": 0}
        if n % 4 == 0:
            event["clipped"] = [3, 0]
        events.append(event)
        if n == 2:
            events.append({"event": "quarantine", "utc": utc(5), "length": 120})
            events.append({"event": "reconnect", "utc": utc(5), "attempt": 1})
    if end_with:
        events.append({"event": end_with, "utc": utc(0), "attempt": 2})
    if stop:
        events.append({"event": "stop", "utc": utc(0), "reason": "completed"})
    return [json.dumps(e, separators=(",", ":")).encode() for e in events]


def digest_of(lines: list[bytes]) -> JournalDigest:
    digest = JournalDigest()
    for line in lines:
        digest.feed(line)
    return digest


def test_digest_counts_without_keeping_lines():
    lines = journal_lines(10)
    digest = digest_of(lines[:6])
    assert digest.latest()["n"] == 3  # sampled: the newest acquisition so far
    for line in lines[6:]:
        digest.feed(line)
    digest.feed(b"{not json")
    assert (digest.acquisitions, digest.clipping, digest.reconnects) == (10, 2, 1)
    assert digest.quarantined_bytes == 120 and digest.run_id == "R1"
    assert digest.latest()["file"] == "f10"
    assert digest.rate_hz() == pytest.approx(1.0)  # 7 more acquisitions in 7 s
    assert [e["n"] for e in digest.take_recent()] == list(range(1, 11))
    assert digest.take_recent() == []  # only what came since the last call


@pytest.mark.parametrize(("lines", "age", "state"), [
    (journal_lines(5), 0, "acquiring"),
    (journal_lines(5, stop=True), 0, "stopped"),
    (journal_lines(5, end_with="reconnect"), 0, "reconnecting"),
    (journal_lines(5), 120, "waiting"),
    (journal_lines(0), 0, "starting"),
])
def test_health_from_the_journal(lines, age, state):
    report = health(digest_of(lines), None, NOW + age, 12345)
    assert report["state"] == state and report["source"] == "journal"
    assert report["free_bytes"] == 12345
    if lines is not None and state == "acquiring":
        assert report["last_record_age_s"] == 0.0 and report["acquisitions"] == 5


def test_fresh_status_file_wins_stale_one_does_not():
    status = {"state": "waiting", "next_window_utc": "2026-05-13T22:00:00Z",
              "updated_utc": utc(2), "last_record_utc": utc(60), "free_bytes": 99,
              "warnings": ["disk fills in 2 h"]}
    digest = digest_of(journal_lines(5))
    report = health(digest, status, NOW, 1)
    assert report["source"] == "status.json" and report["state"] == "waiting"
    assert report["last_record_age_s"] == 60.0 and report["warnings"] == ["disk fills in 2 h"]
    stale = dict(status, updated_utc=utc(300))
    assert health(digest, stale, NOW, 1)["source"] == "journal"
    assert health(None, None, NOW, 1)["state"] == "no run"


def _record(when: datetime, seed: int):
    return make_record([analogue(0, 532, "p", bins=3000), photon(0, 532, "p", bins=3000)],
                       start=when, seed=seed, duration_s=15)


def test_follower_reads_lines_written_into_the_journal_reserve(tmp_path):
    """A running journal ends in zero bytes it keeps for a full disk; lines written into
    them after a poll are still read by the next one."""
    start = datetime(2026, 5, 13, 20, 0, 0)
    records = [_record(start + timedelta(seconds=15 * i), i) for i in range(2)]
    for record in records:
        (tmp_path / record.header.name).write_bytes(encode_record(record))
    journal = Journal(tmp_path / "journal-R1.jsonl", sync_interval=0)
    docs = Documents()
    follower = DirectoryFollower(tmp_path, SignalView(window_s=600.0, columns=40, rows=50), docs)
    try:
        for record in records:
            journal.write("acquisition", n=1, file=record.header.name, record=0)
            assert (tmp_path / "journal-R1.jsonl").read_bytes().endswith(b"\0")
            follower.poll(now=NOW)
            assert json.loads(docs.get("live"))["record"]["name"] == record.header.name
    finally:
        journal.close()


def test_follower_walks_sub_folders_without_a_journal(tmp_path):
    start = datetime(2026, 5, 13, 20, 0, 0)
    for i in range(5):
        record = _record(start + timedelta(seconds=15 * i), i)
        folder = tmp_path / "2026" / "05" / "13"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / record.header.name).write_bytes(encode_record(record))
    docs = Documents()
    view = SignalView(window_s=600.0, columns=40, rows=50)
    follower = DirectoryFollower(tmp_path, view, docs)
    assert follower.backfill() == 5
    follower.poll(now=start.replace(tzinfo=timezone.utc).timestamp() + 80)
    live = json.loads(docs.get("live"))
    assert live["record"]["name"] == _record(start + timedelta(seconds=60), 4).header.name
    assert [c["label"] for c in live["channels"]] == ["532.p analogue TR0",
                                                      "532.p photon counting TR0"]
    assert live["channels"][0]["unit"] == "mV" and live["channels"][1]["unit"] == "MHz"
    assert live["health"]["state"] == "no run"
    curtains = json.loads(docs.get("curtain"))["curtains"]
    assert len(curtains) == 2 and curtains[0]["columns"] == 40
    assert view.curtains[next(iter(view.curtains))].filled_columns().sum() == 5


def test_server_is_read_only(tmp_path):
    docs = Documents()
    docs.set(live=b'{"record": {}}')
    server = start_server("127.0.0.1", 0, docs)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/api/live", timeout=10) as r:
            assert json.loads(r.read()) == {"record": {}}
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            page = r.read().decode()
        assert "/monitor.js" in page and "http" not in page.split("<footer>")[0]  # no CDN
        for method, path, code in (("POST", "/api/live", 405), ("GET", "/etc/passwd", 404)):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(urllib.request.Request(base + path, method=method,
                                                              data=b"" if method == "POST"
                                                              else None), timeout=10)
            assert err.value.code == code
    finally:
        server.shutdown()
        server.server_close()


def test_ipv6_loopback(tmp_path):
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    docs = Documents()
    try:
        server = start_server("::1", 0, docs)
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    try:
        with urllib.request.urlopen(f"http://[::1]:{server.server_address[1]}/api/health",
                                    timeout=10) as r:
            assert json.loads(r.read()) == {}
    finally:
        server.shutdown()
        server.server_close()


def test_bind_and_bad_arguments(tmp_path, capsys):
    assert parse_bind("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_bind("[::1]:0") == ("::1", 0)
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("0.0.0.0")
    for bad in ("8080", "host:", "host:99999"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_bind(bad)
    assert cli.main(["monitor", str(tmp_path / "missing")]) == EXIT_USAGE
    assert "not a directory" in capsys.readouterr().err
    assert cli.main(["monitor", str(tmp_path), "--bind", "nowhere"]) == EXIT_USAGE


def test_non_loopback_bind_warns_and_a_failed_bind_is_status_5(tmp_path, capsys, monkeypatch):
    import licelpush.monitorserver

    def refuse(host, port, docs):  # the test binds nothing but loopback
        raise OSError(99, "Cannot assign requested address")

    monkeypatch.setattr(licelpush.monitorserver, "start_server", refuse)
    assert cli.main(["monitor", str(tmp_path), "--bind", "192.0.2.1:8080"]) == EXIT_OUTPUT
    err = capsys.readouterr().err
    assert "serving on 192.0.2.1, not loopback" in err
    assert "cannot serve on 192.0.2.1:8080: Cannot assign" in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_monitor_cleanly(tmp_path, signum):
    """A service manager's SIGTERM (or Ctrl-C) stops serving with exit 0, not a kill."""
    proc = subprocess.Popen([sys.executable, "-m", "licelpush", "monitor", str(tmp_path),
                             "--bind", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "monitor serving" in proc.stdout.readline()  # bounded: printed or exited
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "monitor stopped" in err and "Traceback" not in err


def test_curtain_has_no_false_gaps_for_records_longer_than_a_column():
    """A station's 1-minute records in the default 30-s columns: each record covers the
    columns of its acquisition, gaps stay only where no acquisition was."""
    view = SignalView()  # 3 hours, 360 columns of 30 s
    start = datetime(2026, 5, 13, 20, 0, 0)
    for i in [*range(10), *range(15, 20)]:  # 5 minutes missing
        record = make_record([analogue(0, 532, "p", bins=3000)],
                             start=start + timedelta(minutes=i), seed=i, duration_s=60)
        view.add(record, (start + timedelta(minutes=i)).replace(
            tzinfo=timezone.utc).timestamp(), record.header.name)
    filled = next(iter(view.curtains.values())).filled_columns()
    assert filled[-10:].all() and not filled[-20:-10].any() and filled[-40:-20].all()
    assert filled.sum() == 30


def test_a_dark_measurement_is_shown_but_kept_out_of_the_curtain(tmp_path):
    """acquire --dark writes below dark/ of the same output directory: its records are the
    latest profile while it runs, never averaged into the curtain of the signal."""
    start = datetime(2026, 5, 13, 20, 0, 0)
    signal_record = _record(start, 1)
    dark_record = _record(start + timedelta(seconds=60), 2)
    (tmp_path / signal_record.header.name).write_bytes(encode_record(signal_record))
    (tmp_path / "dark").mkdir()
    (tmp_path / "dark" / dark_record.header.name).write_bytes(encode_record(dark_record))
    journal = tmp_path / "journal-R2.jsonl"
    journal.write_text(json.dumps({"event": "acquisition", "utc": "2026-05-13T20:01:15.000Z",
                                   "file": f"dark/{dark_record.header.name}",
                                   "record": 0}, separators=(",", ":")) + "\n")
    docs = Documents()
    view = SignalView(window_s=600.0, columns=40, rows=50)
    follower = DirectoryFollower(tmp_path, view, docs)
    assert follower.backfill() == 1
    follower.poll(now=start.replace(tzinfo=timezone.utc).timestamp() + 80)
    assert json.loads(docs.get("live"))["record"]["name"] == dark_record.header.name
    for curtain in view.curtains.values():
        assert curtain.filled_columns().sum() == 1  # the signal's record only

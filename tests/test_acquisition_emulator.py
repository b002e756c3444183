"""The acquisition against the built-in emulator on loopback: values and the ledger audit.

Clean runs check that the saved values equal what the emulator synthesised
(matched by the journal's CRC-32 and timestamp to the ledger's seq), for
16-bit, 12-bit, PHM and big-endian-timestamp set-ups. Fault runs check, with
every emulator fault, that the run completes and that the ledger and the
journal agree: every intact frame saved exactly once (only frames pushed on
a connection the client had abandoned may be missing, and the journal has an
``abandon`` event for it), no duplicates, every detectably damaged frame
quarantined, every received byte accounted for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from factories import config, recorder

from licelpush.acquisition import AcquireOptions, Acquisition
from licelpush.cli import main
from licelpush.journal import read_journal
from licelpush.licelfile import read_records
from licelpush.records import INT32_MAX
from licelpush.testing import running_emulator

TWO = config(recorder(0, {"A": (True, True), "B": (True, False)}, 120, 90),
             recorder(1, {"A": (True, True)}, 60, 60))


def acquire(emu, cfg, tmp_path, **kw):
    base = dict(host=emu.host, port=emu.port, output=tmp_path / "out", shots=10,
                acquisitions=20, timeout=1.0, backoff=0.05, backoff_max=0.4,
                poll_interval=0.05, probe_after=0.5, stall_limit=10.0, retries=8)
    base.update(kw)
    acquisition = Acquisition(cfg, AcquireOptions(**base))
    return acquisition.run()


def saved_records(summary):
    """(journal acquisition event, record) in order."""
    events = [e for e in read_journal(summary.journal) if e["event"] == "acquisition"]
    records = {}
    for path in summary.files:
        for i, record in enumerate(read_records(path)):
            records[(path.name, i)] = record
    return [(e, records[(e["file"], e["record"])]) for e in events]


def ledger_frames(emu):
    return [e for e in emu.ledger() if e["event"] == "frame"]


def check_values(emu, summary):
    """Saved values equal the synthesised profiles of the matching ledger frame."""
    by_key = {(f["crc32"], f["timestamp"]): f for f in ledger_frames(emu)}
    checked = 0
    for event, record in saved_records(summary):
        frame = by_key[(event["crc32"], event["timestamp"])]
        sent = emu.sent_frame(frame["seq"])
        assert len(record.data) == len(sent.profiles)
        for got, want in zip(record.data, sent.profiles):
            want = np.minimum(np.asarray(want, dtype=np.int64), INT32_MAX)
            assert np.array_equal(got.astype(np.int64), want)
        assert event["shots"] == [sent.shots] * len(sent.profiles)
        assert all(d.shots == sent.shots for d in record.header.datasets)
        checked += 1
    return checked


@pytest.mark.parametrize("hardware, shots, speed", [
    ("0:16/4,1:16/4", 10, 500),
    ("0:12/4,1:12/4/7.5", 10, 500),
    ("0:16/4,1:12/6", 5000, 40000),   # photon counting with PHM (4-bit > 4096, 6-bit > 1024)
    ("0:16/4,1:16/8", 33000, 250000),  # 16-bit analogue with PHM (> 32764 shots)
])
def test_clean_runs_save_exactly_what_was_synthesised(tmp_path, hardware, shots, speed):
    with running_emulator(config=TWO, recorders=hardware, speed=speed, seed=3,
                          keep_sent=20000) as emu:
        summary = acquire(emu, TWO, tmp_path, shots=shots, acquisitions=12)
        assert summary.exit_status == 0 and summary.saved == 12
        assert len(summary.files) == 12 and summary.quarantined_bytes == 0
        assert check_values(emu, summary) == 12
        start = read_journal(summary.journal)[0]
    kinds = start["command"].split()
    if shots > 4096:
        assert "PHM" in kinds
    if shots > 32764:
        assert kinds[kinds.index("1") + 2:].count("PHM") >= 1
    adc = {int(a): int(b.split("/")[0]) for a, b in
           (item.split(":") for item in hardware.split(","))}
    records = [r for _, r in saved_records(summary)]
    analogue_bits = {d.device_id: d.adc_bits for d in records[0].header.datasets if d.analogue}
    assert analogue_bits == {f"BT{a}": adc[a] for a in adc}


def test_big_endian_timestamps_of_coldfire_controllers(tmp_path):
    cfg = config(recorder(0, {"A": (True, True)}, 50, 50))
    with running_emulator(config=cfg, idn="Licel ColdFireEthernet 1.3", speed=500,
                          clock_start_ms=0x01020304, seed=2, keep_sent=20000) as emu:
        summary = acquire(emu, cfg, tmp_path, acquisitions=6)
        assert summary.saved == 6
        assert check_values(emu, summary) == 6
        stamps = [f["timestamp"] for f in ledger_frames(emu)][:6]
    start = read_journal(summary.journal)[0]
    assert start["big_endian_timestamp"] is True
    events = [e for e in read_journal(summary.journal) if e["event"] == "acquisition"]
    assert [e["timestamp"] for e in events] == stamps
    assert all(s > 0x01020304 for s in stamps)


def audit(emu, summary, frame_length):
    """Compare the emulator's ledger with the client's journal (see the module docstring)."""
    ledger = emu.ledger()
    journal = read_journal(summary.journal)
    frames = [e for e in ledger if e["event"] == "frame"]
    by_seq = {f["seq"]: f for f in frames}
    peers = {e["peer"]: e["connection"] for e in ledger
             if e["event"] == "open" and e["socket"] == "push"}
    conn_map = {e["connection"]: peers[e["push_local"]] for e in journal
                if e["event"] == "connect"}
    saved = [e for e in journal if e["event"] == "acquisition"]
    keys = [(e["crc32"], e["timestamp"]) for e in saved]
    assert len(set(keys)) == len(keys), "duplicate acquisitions"
    by_key = {(f["crc32"], f["timestamp"]): f for f in frames}
    seqs = []
    undetected = 0
    last_on: dict[int, int] = {}
    for e in saved:
        emu_conn = conn_map[e["connection"]]
        f = by_key.get((e["crc32"], e["timestamp"]))
        if f is None:
            # damaged where the protocol cannot see it (data words, timestamp): the next
            # frame of its connection with only flipped bytes, same timestamp unless the
            # flips hit the timestamp bytes
            f = next(c for c in frames
                     if c["connection"] == emu_conn and c["seq"] > last_on.get(emu_conn, 0)
                     and c["faults"] and all(x["kind"] == "corrupt" for x in c["faults"])
                     and (c["timestamp"] == e["timestamp"] or any(
                         2 <= p < 6 for x in c["faults"] for p in x["positions"])))
            undetected += 1
        assert f["connection"] == emu_conn
        last_on[emu_conn] = f["seq"]
        seqs.append(f["seq"])
    assert len(set(seqs)) == len(seqs)
    saved_seqs = set(seqs)
    abandoned = {conn_map[e["connection"]] for e in journal if e["event"] == "abandon"}
    last = max(seqs)
    for f in frames:
        if f["faults"] or f["seq"] in saved_seqs or f["seq"] > last:
            continue
        # an intact frame missing: only on an abandoned connection, after all it gave
        assert f["connection"] in abandoned, f"intact frame {f} not saved"
        later = [s for s in seqs if by_seq[s]["connection"] == f["connection"] and s > f["seq"]]
        assert not later, f"intact frame {f['seq']} missing before saved frames {later}"
    for f in frames:
        kinds = {(x["kind"], x.get("where")) for x in f["faults"]}
        if any(k == "lose" or w in ("delimiter",) for k, w in kinds):
            assert f["seq"] not in saved_seqs, f"damaged frame {f['seq']} was saved"
    # every received byte: in a saved frame or quarantined, per connection contiguous
    for number in conn_map:
        spans = sorted(
            [(e["stream_offset"], e["stream_offset"] + frame_length) for e in saved
             if e["connection"] == number]
            + [(e["stream_offset"], e["stream_offset"] + e["length"]) for e in journal
               if e["event"] == "quarantine" and e["connection"] == number])
        pos = 0
        for a, b in spans:
            assert a == pos, f"connection {number}: bytes {pos}..{a} unaccounted"
            pos = b
        abandon = [e for e in journal if e["event"] == "abandon" and e["connection"] == number]
        if abandon:
            assert abandon[0]["received_bytes"] == pos
    assert summary.received_bytes == summary.saved * frame_length + summary.quarantined_bytes
    return {"undetected": undetected, "abandoned": len(abandoned),
            "quarantined": sum(1 for e in journal if e["event"] == "quarantine")}


ONE = config(recorder(0, {"A": (True, True)}, 200, 150))


def run_with_faults(tmp_path, faults, acquisitions=40, **kw):
    with running_emulator(config=ONE, speed=1000, seed=7, faults=faults,
                          keep_sent=20000) as emu:
        summary = acquire(emu, ONE, tmp_path, acquisitions=acquisitions, **kw)
        assert summary.exit_status == 0, summary.reason
        assert summary.saved == acquisitions
        length = read_journal(summary.journal)[0]["frame_length"]
        stats = audit(emu, summary, length)
        check_values_tolerant(emu, summary)
        fault_events = [e for e in emu.ledger() if e["event"] == "fault"]
    return summary, stats, fault_events


def check_values_tolerant(emu, summary):
    """Frames saved intact carry exactly the synthesised values."""
    by_key = {(f["crc32"], f["timestamp"]): f for f in ledger_frames(emu)}
    for event, record in saved_records(summary):
        frame = by_key.get((event["crc32"], event["timestamp"]))
        if frame is None:
            continue
        try:
            sent = emu.sent_frame(frame["seq"])
        except KeyError:
            continue
        for got, want in zip(record.data, sent.profiles):
            assert np.array_equal(got.astype(np.int64), np.asarray(want, dtype=np.int64))


def test_disconnects(tmp_path):
    summary, stats, faults = run_with_faults(tmp_path, ["disconnect:every=9"])
    assert len(faults) >= 4 and summary.reconnects >= 4
    assert stats["abandoned"] == summary.reconnects


def test_corrupted_bytes(tmp_path):
    summary, stats, _ = run_with_faults(
        tmp_path, ["corrupt:every=5,bytes=3", "corrupt:every=7,where=delimiter",
                   "corrupt:every=11,where=shots,bytes=2"])
    assert stats["quarantined"] >= 1 and summary.quarantined_spans >= 1
    assert stats["undetected"] >= 1  # flipped data bits: only the CRC shows them


def test_lost_bytes(tmp_path):
    summary, stats, _ = run_with_faults(tmp_path, ["lose:every=4,bytes=5",
                                                   "lose:every=13,bytes=300"])
    assert summary.quarantined_spans >= 9
    assert summary.reconnects == 0


def test_stall_is_waited_out(tmp_path):
    summary, _, faults = run_with_faults(tmp_path, ["stall:at=5,seconds=1.2"], acquisitions=10)
    assert [f["kind"] for f in faults] == ["stall"]
    assert summary.reconnects == 0  # the controller answered the probes
    probes = [e for e in read_journal(summary.journal) if e["event"] == "abandon"]
    assert probes == []


def test_hang_leads_to_reconnection(tmp_path):
    summary, stats, faults = run_with_faults(
        tmp_path, ["hang:at=5,seconds=1.5"], acquisitions=10, probe_after=0.3, timeout=0.4,
        backoff=0.2)
    assert [f["kind"] for f in faults] == ["hang"]
    assert summary.reconnects >= 1 and stats["abandoned"] >= 1
    abandon = [e for e in read_journal(summary.journal) if e["event"] == "abandon"][0]
    assert "*IDN?" in abandon["reason"]


def test_reboot_is_survived_with_default_backoff_and_retries(tmp_path):
    # default back-off (0.5 s doubling) and retries (5): a 2 s reboot is survived
    summary, stats, faults = run_with_faults(
        tmp_path, ["reboot:at=6,seconds=2"], acquisitions=12, backoff=0.5, backoff_max=30.0,
        retries=5)
    assert [f["kind"] for f in faults] == ["reboot"]
    assert summary.reconnects == 1 and summary.failed_attempts >= 1
    events = read_journal(summary.journal)
    failed = [e for e in events if e["event"] == "reconnect" and e["outcome"] == "failed"]
    assert all("refused" in e["error"] for e in failed)


def test_all_faults_together(tmp_path):
    summary, stats, faults = run_with_faults(
        tmp_path, ["disconnect:every=17", "corrupt:every=6", "lose:every=10,bytes=7",
                   "stall:at=12,seconds=0.4", "reboot:at=25,seconds=1"],
        acquisitions=45, backoff=0.25)
    assert {f["kind"] for f in faults} >= {"disconnect", "stall", "reboot"}


def test_cli_emulator_writes_real_files(tmp_path, capsys):
    ini = tmp_path / "Acquis.ini"
    ini.write_text(
        "[global_info]\nLocation = Lab\nfirst_letter = e\nfrequency1 = 20\n"
        "[TR0]\nRange = 0\nDiscriminator = 4\nAnalogA = TRUE\nPC A = TRUE\n"
        "A-binsA = 500\nP-binsA = 500\nWavelengthA = 532\nWavelengthApc = 532\nLaserA = 1\n")
    out = tmp_path / "data"
    status = main(["acquire", "--emulator", "--config", str(ini), "--acq", "4",
                   "--shots", "20", "--output", str(out), "--emulator-speed", "200", "-q"])
    assert status == 0
    files = sorted(out.glob("e*"))
    assert len(files) == 4
    record = read_records(files[0])[0]
    assert record.header.site == "Lab" and record.header.datasets[0].shots == 20
    assert np.count_nonzero(record.data[0]) > 0
    assert "acquisitions saved: 4 of 4" in capsys.readouterr().out


def test_sigterm_stops_an_endless_run_cleanly(tmp_path):
    ini = tmp_path / "Acquis.ini"
    ini.write_text(
        "[global_info]\nLocation = Lab\nfirst_letter = s\nfrequency1 = 20\n"
        "[TR0]\nRange = 0\nDiscriminator = 4\nAnalogA = TRUE\n"
        "A-binsA = 100\nWavelengthA = 532\nLaserA = 1\n")
    out = tmp_path / "data"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "licelpush", "acquire", "--emulator", "--config", str(ini),
         "--acq", "-1", "--shots", "10", "--output", str(out), "--emulator-speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("s2*"))) < 2:
            time.sleep(0.05)
        assert len(list(out.glob("s2*"))) >= 2
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "stopped:            stopped by the user" in stdout
    journal = read_journal(next(out.glob("journal-*.jsonl")))
    assert journal[-1]["event"] == "stop" and journal[-1]["reason"] == "stopped by the user"
    saved = journal[-1]["saved"]
    assert saved >= 2 and len(list(out.glob("s2*"))) == saved
    for path in out.glob("s2*"):
        assert len(read_records(path)) == 1
    assert Path(out).is_dir()


def test_controller_refusing_at_start(tmp_path):
    from licelpush.client import ControllerConnectionError

    with running_emulator(config=ONE, speed=1000, faults=["refuse:seconds=30"]) as emu:
        with pytest.raises(ControllerConnectionError, match="refused"):
            acquire(emu, ONE, tmp_path / "a", acquisitions=3)
    # an unattended station (--retries -1) waits for the controller at start
    with running_emulator(config=ONE, speed=1000, faults=["refuse:seconds=0.6"]) as emu:
        summary = acquire(emu, ONE, tmp_path / "b", acquisitions=3, retries=-1, backoff=0.1)
    assert summary.exit_status == 0 and summary.saved == 3
    events = read_journal(summary.journal)
    failed = [e for e in events if e["event"] == "reconnect" and e["outcome"] == "failed"]
    assert failed and all("refused" in e["error"] for e in failed)
    assert [e["event"] for e in events].index("start") > events.index(failed[-1])

"""The acquisition run against a scripted fake controller: byte-exact scenarios.

The fake (see test_client.py) pushes exactly the bytes a test gives it, so
these tests can check that every received byte ends up in a saved record or
in the quarantine file, that the journal says so, and the reconnection,
liveness, stop and error paths, without the emulator.
"""

from __future__ import annotations

import errno
import os
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from factories import config, recorder
from test_client import FakeController, closed_port

from licelpush.acquisition import (
    AcquireOptions,
    Acquisition,
    RecorderMissingError,
    default_probe_after,
    default_stall_limit,
)
from licelpush.client import ControllerConnectionError, ControllerReplyError
from licelpush.encode import FrameEncoder
from licelpush.errors import ControllerError, LicelpushError, OutputError
from licelpush.hardware import RecorderHardware
from licelpush.journal import read_journal
from licelpush.licelfile import read_records
from licelpush.plan import make_plan

SHOTS = 10
HW = RecorderHardware(adc_bits=16, pc_bits=4)
CFG = config(recorder(0, {"A": (True, True), "C": (False, True)}, 20, 20))
PLAN = make_plan(CFG, {0: HW}, SHOTS)
L = PLAN.frame_length


def make_frames(n, start=0, seed=1):
    """n frames with distinct timestamps and random profiles, and their profiles."""
    rng = np.random.default_rng(seed + start)
    enc = FrameEncoder(PLAN)
    frames, profiles = [], []
    for i in range(start, start + n):
        prof = [rng.integers(0, 30000 if c.analogue else 1000, c.values) for c in PLAN.channels]
        frames.append(enc.encode(1000 + 50 * i, SHOTS, prof))
        profiles.append(prof)
    return frames, profiles


def options(fake, tmp_path, **kw):
    base = dict(host=fake.host, port=fake.port, output=tmp_path / "out", shots=SHOTS,
                acquisitions=5, timeout=1.0, backoff=0.05, backoff_max=0.2,
                poll_interval=0.05, probe_after=5.0, stall_limit=10.0)
    base.update(kw)
    return AcquireOptions(**base)


def journal_of(summary):
    return read_journal(summary.journal)


def saved_data(summary):
    out = []
    for path in summary.files:
        for record in read_records(path):
            out.append([d.tolist() for d in record.data])
    return out


def check_accounting(summary, streams):
    """Every byte pushed per connection is in a saved frame or in the quarantine file."""
    events = journal_of(summary)
    qpath = summary.quarantine
    qdata = qpath.read_bytes() if qpath is not None else b""
    for number, stream in streams.items():
        covered = []
        for e in events:
            if e.get("connection") != number:
                continue
            if e["event"] == "acquisition":
                start = e["stream_offset"]
                frame = stream[start:start + L]
                assert zlib.crc32(frame) == e["crc32"]
                covered.append((start, start + L))
            elif e["event"] == "quarantine":
                start = e["stream_offset"]
                assert qdata[e["offset"]:e["offset"] + e["length"]] == \
                    stream[start:start + e["length"]]
                covered.append((start, start + e["length"]))
        covered.sort()
        pos = 0
        for a, b in covered:
            assert a == pos, f"connection {number}: gap or overlap at {pos}..{a}"
            pos = b
        abandon = [e for e in events if e["event"] == "abandon" and e["connection"] == number]
        received = abandon[0]["received_bytes"] if abandon else pos
        assert pos == received


def test_clean_run_saves_exactly_n_and_reads_no_surplus(tmp_path):
    frames, profiles = make_frames(8)
    stream = b"".join(frames)
    with FakeController(recorders={0: HW}, push=lambda n: [stream, ("hold",)]) as fake:
        acq = Acquisition(CFG, options(fake, tmp_path))
        summary = acq.run()
    assert summary.exit_status == 0 and summary.reason == "completed"
    assert summary.saved == 5 and len(summary.files) == 5
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in profiles[:5]]
    assert summary.quarantine is None and summary.quarantined_bytes == 0
    assert summary.received_bytes == 5 * L  # not a byte beyond the fifth frame
    events = journal_of(summary)
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["start", "connect"] and kinds[-1] == "stop"
    acqs = [e for e in events if e["event"] == "acquisition"]
    assert [e["n"] for e in acqs] == [1, 2, 3, 4, 5]
    assert [e["crc32"] for e in acqs] == [zlib.crc32(f) for f in frames[:5]]
    assert [e["timestamp"] for e in acqs] == [1000, 1050, 1100, 1150, 1200]
    assert all(e["shots"] == [SHOTS] * len(PLAN.channels) for e in acqs)
    assert [e["file"] for e in acqs] == [p.name for p in summary.files]
    assert events[0]["command"] == PLAN.command and events[0]["frame_length"] == L
    assert fake.lines[-1] == "SLAVE"
    assert fake.mpush_count == 1
    check_accounting(summary, {1: stream[:5 * L]})


def test_several_acquisitions_per_file(tmp_path):
    frames, profiles = make_frames(7)
    with FakeController(recorders={0: HW}, push=lambda n: [b"".join(frames), ("hold",)]) as f:
        summary = Acquisition(CFG, options(f, tmp_path, acquisitions=7,
                                           acquis_per_file=3)).run()
    assert [len(read_records(p)) for p in summary.files] == [3, 3, 1]
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in profiles]
    names = [p.name for p in summary.files]
    assert len(set(names)) == 3 and all(n.startswith("lp") for n in names)


def test_damaged_frames_are_quarantined_and_every_byte_is_accounted(tmp_path):
    frames, profiles = make_frames(7)
    lost = frames[1][:100] + frames[1][130:]          # bytes lost inside frame 2
    inconsistent = bytearray(frames[3])
    inconsistent[PLAN.datasets[1].offset] ^= 0x01     # MSW shot word differs from LSW
    stream = (frames[0] + lost + frames[2] + bytes(inconsistent) + b"\x00garbage\xff"
              + frames[4] + frames[5] + frames[6])
    with FakeController(recorders={0: HW}, push=lambda n: [stream, ("hold",)]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path)).run()
    assert summary.exit_status == 0 and summary.saved == 5
    want = [profiles[i] for i in (0, 2, 4, 5, 6)]
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in want]
    quarantines = [e for e in journal_of(summary) if e["event"] == "quarantine"]
    assert len(quarantines) == summary.quarantined_spans >= 2
    assert sum(q["length"] for q in quarantines) == (len(lost) + L + 9)
    assert not any(q["surplus"] for q in quarantines)
    check_accounting(summary, {1: stream})


def test_lost_connection_reconnects_kills_and_continues_counting(tmp_path):
    first, p1 = make_frames(3)
    second, p2 = make_frames(4, start=3)
    partial = second[0][:L // 2]
    streams = {1: b"".join(first) + partial, 2: b"".join(second)}

    def push(n):
        return [streams[n], ("close",)] if n == 1 else [streams[n], ("hold",)]

    with FakeController(recorders={0: HW}, push=push) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=6)).run()
    assert summary.exit_status == 0 and summary.saved == 6
    assert summary.reconnects == 1
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in (p1 + p2[:3])]
    assert fake.kills == ["KILL SOCKETS Administrator"]
    assert fake.mpush_count == 2
    # the reconnection re-listed and reconfigured the recorders
    assert fake.lines.count("DISC 8") == 2 and fake.lines.count("TRTYPE?") == 2
    events = journal_of(summary)
    abandon = [e for e in events if e["event"] == "abandon"]
    assert len(abandon) == 1 and abandon[0]["connection"] == 1
    assert abandon[0]["received_bytes"] == len(streams[1]) and abandon[0]["frames"] == 3
    q = [e for e in events if e["event"] == "quarantine"]
    assert [(e["connection"], e["length"]) for e in q] == [(1, L // 2)]
    assert [e["outcome"] for e in events if e["event"] == "reconnect"] == ["ok"]
    check_accounting(summary, {1: streams[1], 2: streams[2][:3 * L]})


def test_retries_exhausted_stops_with_status_1_and_keeps_the_data(tmp_path):
    frames, profiles = make_frames(2)

    def push(n):
        return [b"".join(frames), ("close",)] if n == 1 else [("close",)]

    with FakeController(recorders={0: HW}, push=push) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, retries=3)).run()
    assert summary.exit_status == 1
    assert "gave up after 3 reconnection attempt(s)" in summary.reason
    assert summary.saved == 2
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in profiles]
    assert fake.mpush_count == 4  # the first connection and three attempts
    stop = journal_of(summary)[-1]
    assert stop["event"] == "stop" and stop["exit_status"] == 1 and stop["saved"] == 2


def test_no_retries_means_no_reconnection(tmp_path):
    frames, _ = make_frames(1)
    with FakeController(recorders={0: HW}, push=lambda n: [frames[0], ("close",)]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, retries=0)).run()
    assert summary.exit_status == 1 and summary.saved == 1
    assert fake.mpush_count == 1 and fake.kills == []


def test_failed_attempts_back_off_and_are_journalled(tmp_path):
    frames, _ = make_frames(5)
    state = {"refuse": 0}

    def answer(line):
        if line == "TRTYPE?" and state["refuse"] and state["refuse"] < 3:
            state["refuse"] += 1
            return "TRTYPE error: rebooting"
        return None

    def push(n):
        if n == 1:
            state["refuse"] = 1
            return [frames[0], ("close",)]
        return [b"".join(frames[1:]), ("hold",)]

    with FakeController(recorders={0: HW}, answer=answer, push=push) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path)).run()
    assert summary.exit_status == 0 and summary.saved == 5
    attempts = [e for e in journal_of(summary) if e["event"] == "reconnect"]
    assert [e["outcome"] for e in attempts] == ["failed", "failed", "ok"]
    assert [e["delay_s"] for e in attempts] == [0.0, 0.05, 0.1]
    assert "rebooting" in attempts[0]["error"]
    assert summary.failed_attempts == 2 and summary.reconnects == 1


def test_silent_push_and_dead_command_socket_trigger_reconnection(tmp_path):
    frames, profiles = make_frames(4)
    state = {"dead": False}

    def answer(line):
        if line == "SELECT 0":  # a new connection lists the recorders: alive again
            state["dead"] = False
        return "" if (state["dead"] and line == "*IDN?") else None

    def push(n):
        if n == 1:
            state["dead"] = True
            return [frames[0] + frames[1], ("hold",)]
        return [frames[2] + frames[3], ("hold",)]

    with FakeController(recorders={0: HW}, answer=answer, push=push) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=4, probe_after=0.3,
                                           timeout=0.5)).run()
    assert summary.exit_status == 0 and summary.saved == 4
    assert summary.reconnects == 1
    events = journal_of(summary)
    abandon = [e for e in events if e["event"] == "abandon"][0]
    assert "*IDN? failed" in abandon["reason"]
    # frame 2 of connection 1 was accepted without waiting for a next frame: the
    # connection ended, so it is saved, not quarantined
    assert saved_data(summary) == [[p.tolist() for p in prof] for prof in profiles]
    assert summary.quarantined_bytes == 0


def test_stall_with_a_live_controller_waits_then_reconnects_at_the_limit(tmp_path):
    frames, _ = make_frames(3)

    def push(n):
        return [frames[0], ("hold",)] if n == 1 else [frames[1] + frames[2], ("hold",)]

    with FakeController(recorders={0: HW}, push=push) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=3, probe_after=0.2,
                                           stall_limit=0.7)).run()
    assert summary.exit_status == 0 and summary.saved == 3 and summary.reconnects == 1
    probes = [line for line in fake.lines if line == "*IDN?"]
    assert len(probes) >= 4  # two set-ups plus probes answered while waiting
    abandon = [e for e in journal_of(summary) if e["event"] == "abandon"][0]
    assert "although the controller answers" in abandon["reason"]


def test_last_frame_is_accepted_without_a_following_frame(tmp_path):
    frames, _ = make_frames(3)
    with FakeController(recorders={0: HW},
                        push=lambda n: [b"".join(frames), ("hold",)]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=3, probe_after=30,
                                           stall_limit=60)).run()
    assert summary.exit_status == 0 and summary.saved == 3 and summary.reconnects == 0
    assert fake.lines.count("*IDN?") == 1


def test_stop_request_ends_an_endless_run_with_status_0(tmp_path):
    frames, profiles = make_frames(6)

    def push(n):
        return [frames[0], frames[1], frames[2], ("hold",)]

    stop = threading.Event()

    def progress(p):
        if p.saved >= 2:
            stop.set()

    with FakeController(recorders={0: HW}, push=push) as fake:
        acq = Acquisition(CFG, options(fake, tmp_path, acquisitions=-1), stop_requested=stop,
                          progress=progress, progress_interval=0)
        summary = acq.run()
    assert summary.reason == "stopped by the user" and summary.exit_status == 0
    assert summary.saved >= 2
    assert saved_data(summary) == [[p.tolist() for p in prof]
                                   for prof in profiles[:summary.saved]]
    assert fake.lines[-1] == "SLAVE"
    check_accounting(summary, {1: b"".join(frames[:3])[:summary.received_bytes]})


def test_stop_request_with_a_count_is_status_1(tmp_path):
    stop = threading.Event()
    stop.set()
    frames, _ = make_frames(1)
    with FakeController(recorders={0: HW}, push=lambda n: [("hold",)]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path), stop_requested=stop).run()
    assert summary.exit_status == 1 and summary.saved == 0
    assert fake.lines == []  # stopped before connecting: nothing sent
    assert journal_of(summary)[-1]["event"] == "stop"


def test_missing_recorder_refuses_to_start_before_configuring(tmp_path):
    cfg = config(recorder(0), recorder(3))
    with FakeController(recorders={0: HW, 1: HW}) as fake:
        with pytest.raises(RecorderMissingError) as info:
            Acquisition(cfg, options(fake, tmp_path)).run()
    msg = info.value.message
    assert "[TR3]" in msg and "installed: TR0, TR1" in msg
    assert info.value.exit_status == 3
    assert not any(line.split()[0] in ("DISC", "MPUSH", "RANGE") for line in fake.lines)
    stop = read_journal(next((tmp_path / "out").glob("journal-*.jsonl")))[-1]
    assert stop["event"] == "stop" and stop["exit_status"] == 3


def test_no_recorder_installed_is_a_clear_error(tmp_path):
    with FakeController(recorders={}) as fake:
        with pytest.raises(ControllerError, match="no transient recorder installed"):
            Acquisition(CFG, options(fake, tmp_path)).run()


def test_unreachable_controller_fails_fast(tmp_path):
    opts = AcquireOptions(host="127.0.0.1", port=closed_port(), output=tmp_path, timeout=1)
    with pytest.raises(ControllerConnectionError) as info:
        Acquisition(CFG, opts).run()
    assert info.value.exit_status == 3


def test_error_reply_during_configuration_is_status_3(tmp_path):
    def answer(line):
        return "THRESHOLD error: not supported" if line.startswith("THRESHOLD") else None

    with FakeController(recorders={0: HW}, answer=answer) as fake:
        with pytest.raises(ControllerReplyError, match="not supported"):
            Acquisition(CFG, options(fake, tmp_path)).run()
    assert "MPUSH" not in " ".join(fake.lines)


def test_bad_options_send_nothing(tmp_path):
    with FakeController(recorders={0: HW}) as fake:
        for bad in (dict(acquisitions=0), dict(shots=0), dict(acquis_per_file=0),
                    dict(retries=-2)):
            with pytest.raises(LicelpushError) as info:
                Acquisition(CFG, options(fake, tmp_path, **bad)).run()
            assert info.value.exit_status == 2
        inactive = config(recorder(0, {}))
        with pytest.raises(LicelpushError, match="no recorder has an enabled dataset"):
            Acquisition(inactive, options(fake, tmp_path)).run()
    assert fake.lines == []


def test_output_not_writable_sends_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with FakeController(recorders={0: HW}) as fake:
        with pytest.raises(OutputError) as info:
            Acquisition(CFG, options(fake, tmp_path, output=blocker / "sub")).run()
    assert info.value.exit_status == 5
    assert fake.lines == []


def test_disk_full_keeps_what_was_saved_and_stops_cleanly(tmp_path, monkeypatch):
    frames, profiles = make_frames(5)
    real_writev = os.writev
    count = {"data": 0}

    def writev(fd, buffers):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if Path(target).name.startswith("lp"):
            count["data"] += 1
            if count["data"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", writev)
    with FakeController(recorders={0: HW}, push=lambda n: [b"".join(frames), ("hold",)]) as f:
        acq = Acquisition(CFG, options(f, tmp_path))
        with pytest.raises(OutputError) as info:
            acq.run()
    monkeypatch.undo()
    assert "No space left on device" in info.value.message
    assert info.value.exit_status == 5
    summary = acq.summary
    assert summary.saved == 2 and summary.exit_status == 5
    files = sorted((tmp_path / "out").glob("lp*"))
    assert len(files) == 2  # the failed record's file was removed, nothing half-written
    got = [[d.tolist() for d in read_records(p)[0].data] for p in files]
    assert got == [[p.tolist() for p in prof] for prof in profiles[:2]]
    assert f.lines[-1] == "SLAVE"
    stop = journal_of(summary)[-1]
    assert stop["event"] == "stop" and stop["exit_status"] == 5


def test_log_option_writes_the_invalid_data_log(tmp_path):
    frames, _ = make_frames(4)
    damaged = frames[1][:50] + frames[1][53:]  # three bytes lost
    stream = frames[0] + damaged + frames[2] + frames[3]
    with FakeController(recorders={0: HW}, idn="Licel test IDN 7",
                        push=lambda n: [stream, ("hold",)]) as fake:
        summary = Acquisition(CFG, options(fake, tmp_path, acquisitions=3,
                                           log_invalid=True)).run()
    assert summary.saved == 3 and summary.quarantined_bytes == L - 3
    log = (tmp_path / "out" / f"invalid-{summary.run}.log").read_text()
    assert "controller IDN:        Licel test IDN 7" in log
    assert f"buffer length:         {L - 3} bytes" in log
    assert f"expected length:       {L} bytes" in log
    assert "first bytes:           " + damaged[:32].hex(" ") in log
    assert "MILLISEC?" in fake.lines


def test_local_time_and_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Etc/GMT-5")  # UTC+5
    import time as _time
    _time.tzset()
    try:
        frames, _ = make_frames(2)
        stamps = {}
        for local in (False, True):
            with FakeController(recorders={0: HW},
                                push=lambda n: [b"".join(frames), ("hold",)]) as fake:
                s = Acquisition(CFG, options(fake, tmp_path / str(local), acquisitions=1,
                                             local_time=local)).run()
            stamps[local] = read_records(s.files[0])[0].header.stop
        delta = (stamps[True] - stamps[False]).total_seconds()
        assert 5 * 3600 - 60 < delta < 5 * 3600 + 60
    finally:
        monkeypatch.undo()
        _time.tzset()


def test_start_time_is_stop_minus_shots_over_rate(tmp_path):
    frames, _ = make_frames(1)
    with FakeController(recorders={0: HW}, push=lambda n: [frames[0], ("hold",)]) as fake:
        s = Acquisition(CFG, options(fake, tmp_path, acquisitions=1)).run()
    h = read_records(s.files[0])[0].header
    # 10 shots at 20 Hz (laser 1): 0.5 s; the file keeps whole seconds
    assert 0 <= (h.stop - h.start).total_seconds() <= 1


def test_default_liveness_bounds():
    assert default_probe_after(7.5) == 20.0
    assert default_probe_after(0.01) == 5.02
    assert default_probe_after(1000) == 60.0
    assert default_probe_after(None) == 30.0
    assert default_stall_limit(10.0) == 90.0
    assert default_stall_limit(None) is None


def test_first_acquisition_does_not_start_before_mpush(tmp_path):
    """A slow laser (10 shots at 0.1 Hz = 100 s) and a frame at once: the start is
    clamped to the moment MPUSH was sent, not 100 s before it."""
    from dataclasses import replace
    from datetime import datetime, timezone

    from licelpush.config import Laser

    slow = replace(CFG, lasers=(Laser(1, 0.1), Laser(2, 0.0), Laser(3, 0.0)))
    frames, _ = make_frames(1)
    before = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with FakeController(recorders={0: HW}, push=lambda n: [frames[0], ("hold",)]) as fake:
        s = Acquisition(slow, options(fake, tmp_path, acquisitions=1)).run()
    h = read_records(s.files[0])[0].header
    assert before <= h.start <= h.stop
    assert (h.stop - h.start).total_seconds() < 30

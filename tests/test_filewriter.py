"""RecordWriter: naming, collisions, appending, durability, write failures."""

from __future__ import annotations

import dataclasses
import errno
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from licel_samples import analogue, make_record, photon
from oscalls import patch_record_write, real_write_buffers

from licelpush import platform
from licelpush.errors import OutputError
from licelpush.filewriter import RecordWriter
from licelpush.licelfile import Record, encode_record, file_name, read_records

START = datetime(2026, 5, 13, 21, 3, 45, 120000)


def record_at(when: datetime, seed: int = 0, bins: int = 50) -> Record:
    return make_record([analogue(0, 532, "p", bins=bins), photon(0, 532, "p", bins=bins)],
                       start=when, seed=seed)


def replace_record_name(record: Record, name: str) -> Record:
    return dataclasses.replace(record, header=dataclasses.replace(record.header, name=name))


def test_one_record_per_file_named_by_the_header(tmp_path: Path) -> None:
    with RecordWriter(tmp_path, "b") as writer:
        path, index = writer.write(record_at(START))
        path2, index2 = writer.write(record_at(START + timedelta(seconds=30), seed=1))
    assert (path.name, index) == ("b2651321.034512", 0)
    assert (path2.name, index2) == ("b2651321.041512", 0)
    assert writer.files == [path, path2]
    (back,) = read_records(path)
    assert back.header.name == "b2651321.034512"
    assert path.read_bytes() == encode_record(record_at(START))


def test_collisions_move_the_name_by_ten_milliseconds(tmp_path: Path) -> None:
    existing = tmp_path / "b2651321.034512"
    existing.write_bytes(b"do not touch")
    (tmp_path / "b2651321.034513").write_bytes(b"nor this")
    with RecordWriter(tmp_path, "b") as writer:
        first, _ = writer.write(record_at(START))
        second, _ = writer.write(record_at(START, seed=1))  # same start time again
    assert first.name == "b2651321.034514"
    assert second.name == "b2651321.034515"
    assert existing.read_bytes() == b"do not touch"
    # line 1 of each file matches the file's actual name, the data are untouched
    for path, seed in ((first, 0), (second, 1)):
        (back,) = read_records(path)
        assert back.header.name == path.name
        np.testing.assert_array_equal(back.data[0], record_at(START, seed=seed).data[0])


def test_many_records_in_the_same_centisecond_never_collide(tmp_path: Path) -> None:
    with RecordWriter(tmp_path, "b") as writer:
        paths = [writer.write(record_at(START, seed=i))[0] for i in range(30)]
    assert len(set(paths)) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert paths[-1].name == file_name("b", START + timedelta(milliseconds=290))


def test_records_per_file_appends(tmp_path: Path) -> None:
    recs = [record_at(START + timedelta(seconds=i), seed=i) for i in range(7)]
    with RecordWriter(tmp_path, "b", records_per_file=3) as writer:
        results = [writer.write(r) for r in recs]
    assert [i for _, i in results] == [0, 1, 2, 0, 1, 2, 0]
    files = writer.files
    assert len(files) == 3 and [p for p, _ in results] == [files[0]] * 3 + [files[1]] * 3 + [
        files[2]]
    parsed = read_records(files[0])
    assert len(parsed) == 3
    assert [p.header.start.second for p in parsed] == [45, 46, 47]
    assert files[0].read_bytes() == b"".join(encode_record(r) for r in recs[:3])
    assert len(read_records(files[2])) == 1


def test_controller_timestamp_option(tmp_path: Path) -> None:
    rec = dataclasses.replace(record_at(START), header=dataclasses.replace(
        record_at(START).header, timestamp_ms=987654))
    with RecordWriter(tmp_path, "b", controller_timestamp=True) as writer:
        path, _ = writer.write(rec)
    assert read_records(path)[0].header.timestamp_ms == 987654
    assert b" 0000000 0000 987654" in path.read_bytes()[:400]


def test_missing_directory_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    with RecordWriter(target, "b") as writer:
        writer.write(record_at(START))
    assert len(list(target.iterdir())) == 1


def test_unusable_directory_is_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create it"):
        RecordWriter(blocker / "sub", "b")
    with pytest.raises(OutputError, match="not a directory"):
        RecordWriter(blocker, "b")


def test_unwritable_directory_is_output_error(tmp_path: Path, monkeypatch) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path
                        else real_access(p, mode))
    with pytest.raises(OutputError, match="not writable"):
        RecordWriter(tmp_path, "b")


def test_bad_prefix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RecordWriter(tmp_path, "abc")


def failing_write(fail_after: int, err: int, chunk: int = 1000):
    """Record-write replacement (:mod:`oscalls`): short writes of ``chunk`` bytes, then
    OSError(err) once ``fail_after`` bytes of the current call series are written."""
    real_write = os.write
    state = {"written": 0}

    def fake(fd: int, buffers) -> int:
        if state["written"] >= fail_after:
            raise OSError(err, os.strerror(err))
        data = b"".join(bytes(b) for b in buffers)
        n = real_write(fd, data[: min(chunk, fail_after - state["written"])])
        state["written"] += n
        return n

    return fake


def test_disk_full_truncates_the_partial_record_when_appending(tmp_path: Path,
                                                              monkeypatch) -> None:
    writer = RecordWriter(tmp_path, "b", records_per_file=5)
    path, _ = writer.write(record_at(START))
    size = path.stat().st_size
    patch_record_write(monkeypatch, failing_write(500, errno.ENOSPC, chunk=120))
    with pytest.raises(OutputError) as info:
        writer.write(record_at(START + timedelta(seconds=1), seed=1))
    message = info.value.message
    assert str(path) in message and "No space left on device" in message
    assert "after 500 bytes" in message
    assert path.stat().st_size == size  # no half record left
    assert len(read_records(path)) == 1
    monkeypatch.undo()
    # the writer goes on after the failure: the next record lands intact
    writer.write(record_at(START + timedelta(seconds=2), seed=2))
    writer.close()
    assert [r.header.start.second for r in read_records(path)] == [45, 47]


def test_write_failure_in_a_new_file_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    writer = RecordWriter(tmp_path, "b")
    patch_record_write(monkeypatch, failing_write(100, errno.EIO, chunk=30))
    with pytest.raises(OutputError, match="Input/output error"):
        writer.write(record_at(START))
    assert list(tmp_path.iterdir()) == []
    assert writer.files == []
    monkeypatch.undo()
    path, index = writer.write(record_at(START))
    writer.close()
    assert index == 0 and path.name == "b2651321.034512"
    assert len(read_records(path)) == 1


def test_each_record_is_one_complete_write(tmp_path: Path, monkeypatch) -> None:
    calls: list[int] = []

    def spy(fd: int, buffers) -> int:
        calls.append(sum(len(memoryview(b).cast("B")) for b in buffers))
        return real_write_buffers(fd, buffers)

    patch_record_write(monkeypatch, spy)
    rec = record_at(START, bins=16380)
    with RecordWriter(tmp_path, "b", records_per_file=2) as writer:
        writer.write(rec)
        writer.write(record_at(START, seed=3, bins=16380))
    assert calls == [len(encode_record(rec))] * 2


def test_short_writes_are_continued_with_the_rest(tmp_path: Path, monkeypatch) -> None:
    def short(fd: int, buffers) -> int:  # at most 1000 bytes per call, like a slow pipe
        data = b"".join(bytes(memoryview(b).cast("B")) for b in buffers)[:1000]
        return real_write_buffers(fd, [data])

    patch_record_write(monkeypatch, short)
    rec = record_at(START, bins=3000)
    with RecordWriter(tmp_path, "b") as writer:
        path, _ = writer.write(rec)
    assert path.read_bytes() == encode_record(replace_record_name(rec, path.name))


DIRECTORY_SYNC = int(isinstance(platform.CURRENT, platform.PosixCalls))
"""1 where a directory is fsync'ed for its new entries (POSIX), 0 in portable mode."""


def test_sync_policy(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr("licelpush.filewriter.time.monotonic", lambda: 100.0)
    writer = RecordWriter(tmp_path, "b", records_per_file=10, sync_interval=2.0)
    writer.write(record_at(START))
    assert synced == []  # nothing is synced before the interval is over
    assert writer.sync_if_due(now=101.0) is False
    assert writer.sync_if_due(now=102.0) is True
    writer.wait_synced()
    assert len(synced) == 1 + DIRECTORY_SYNC  # the file and the directory entry of the new file
    assert writer.sync_if_due(now=110.0) is False  # nothing new written
    writer.write(record_at(START + timedelta(seconds=1)))
    assert writer.sync_if_due(now=101.9) is False
    writer.close()  # close syncs the unsynced record
    assert len(synced) == 2 + DIRECTORY_SYNC
    writer.close()
    assert len(synced) == 2 + DIRECTORY_SYNC


def test_finished_files_are_synced_in_one_batch(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with RecordWriter(tmp_path, "b", sync_interval=3600) as writer:
        for second in range(3):
            writer.write(record_at(START + timedelta(seconds=second)))
        assert synced == []  # one-record files do not cost an fsync each
        assert len(writer.files) == 3
        assert all(len(read_records(f)) == 1 for f in writer.files)  # complete, readable
    assert len(synced) == 3 + DIRECTORY_SYNC  # three files and the directory, once


def test_too_many_finished_files_force_a_sync(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr("licelpush.filewriter.MAX_PENDING_FILES", 2)
    with RecordWriter(tmp_path, "b", sync_interval=3600) as writer:
        writer.write(record_at(START))
        writer.write(record_at(START + timedelta(seconds=1)))
        assert synced == []
        writer.write(record_at(START + timedelta(seconds=2)))  # second file finished
        writer.wait_synced()
        assert len(synced) == 2 + DIRECTORY_SYNC  # the two finished files and the directory


def test_closed_writer_refuses(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path, "b")
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(record_at(START))


def test_write_raw_renames_line_one_only_on_collision(tmp_path: Path) -> None:
    raw = encode_record(record_at(START))
    with RecordWriter(tmp_path, "b") as writer:
        first, _ = writer.write_raw(raw, "b2651321.034512")
        second, _ = writer.write_raw(raw, "b2651321.034512")
    assert first.read_bytes() == raw
    assert second.name == "b2651321.034513"
    assert second.read_bytes()[80:] == raw[80:]
    assert read_records(second)[0].header.name == "b2651321.034513"


def test_header_name_with_a_path_is_not_used(tmp_path: Path) -> None:
    rec = record_at(START)
    rec = dataclasses.replace(rec, header=dataclasses.replace(rec.header, name="../evil"))
    with RecordWriter(tmp_path / "out", "b") as writer:
        path, _ = writer.write(rec)
    assert path.parent == tmp_path / "out" and path.name == "b2651321.034500"
    assert read_records(path)[0].header.name == "b2651321.034500"

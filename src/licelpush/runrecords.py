"""What an acquisition run keeps (IO edge): saved records, quarantined spans, invalid-data log.

Spec: docs/ACQUIRE.md "Output files" and the journal's ``acquisition`` and
``quarantine`` events (:mod:`licelpush.journal`). :class:`RunRecords` carries
out the session's :class:`~licelpush.session.WriteRecord` and
:class:`~licelpush.session.QuarantineSpan` actions for one run.

Times: a record's stop time is when its frame was received, its start time
stop − shots / laser repetition rate, or the previous record's stop when no
rate is configured (:func:`licelpush.records.acquisition_times`); no record
of a connection starts before its ``MPUSH``. UTC unless ``local_time``.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from licelpush import session as rs
from licelpush.config import AcquisConfig
from licelpush.errors import ControllerError
from licelpush.framing import NEED_DATA, Frame, Quarantined
from licelpush.invalidlog import format_entry, head_hex
from licelpush.journal import utc_now_text
from licelpush.licelfile import parse_file_name
from licelpush.notices import ClipNotices, QuarantineNotices
from licelpush.records import acquisition_seconds, acquisition_times
from licelpush.runlink import Link
from licelpush.runoutput import RunOutput
from licelpush.session import AcquireOptions, RunSession

log = logging.getLogger(__name__)

DRAIN_LIMIT_FRAMES = 16
"""When abandoning a connection, read at most this many frames' worth of bytes it still holds."""
NAME_STEP = timedelta(milliseconds=10)
"""Resolution of Licel file names: names of successive files are at least this far apart."""


class RunRecords:
    """The data path of a run: push bytes into the framer, accepted frames into records,
    every other byte into the quarantine file, all of it journalled."""

    def __init__(self, out: RunOutput, config: AcquisConfig, options: AcquireOptions,
                 session: RunSession, clock: Callable[[], float] = time.monotonic,
                 on_saved: Callable[[], None] = lambda: None) -> None:
        self.out = out
        self.on_saved = on_saved
        """Called after each saved record (progress displays)."""
        self.config = config
        self.options = options
        self.session = session
        self._clock = clock
        self.clips = ClipNotices(session.summary.clipped)
        self.quarantine_notices = QuarantineNotices()
        self._previous_stop: datetime | None = None
        self._last_name_time: datetime | None = None

    def receive_view(self, link: Link) -> memoryview:
        """Where the next push bytes go: no more than the wanted frames need."""
        framer = link.framer
        view = framer.writable()
        remaining = self.session.remaining
        if remaining is not None:
            limit = remaining * framer.frame_length - framer.buffered
            view = view[:limit if limit > 0 else framer.frame_length]
        return view

    def received(self, link: Link, n: int) -> None:
        link.framer.commit(n)
        link.received += n
        self.session.handle(rs.DataReceived(self._clock(), n))
        self.process(link)

    def process(self, link: Link) -> None:
        """Handle every event the framer has (frames, quarantined spans)."""
        session = self.session
        while (event := link.framer.next_event()) is not NEED_DATA:
            if isinstance(event, Frame):
                actions = session.handle(rs.FrameAccepted(self._clock()))
            else:
                actions = session.handle(rs.SpanQuarantined(len(event.data)))
            for action in actions:
                if isinstance(action, rs.WriteRecord):
                    assert isinstance(event, Frame)
                    self.save(link, event)
                    session.handle(rs.RecordWritten())
                    self.on_saved()
                    link.framer.final = session.final
                else:
                    assert isinstance(event, (Frame, Quarantined))
                    reason = getattr(action, "reason", None) or getattr(event, "reason", "")
                    self.quarantine(link, event.data, event.stream_offset, reason,
                                    surplus=getattr(action, "surplus", False))

    def drain(self, link: Link) -> None:
        """Read, without waiting, what the push connection still holds (bounded)."""
        budget = DRAIN_LIMIT_FRAMES * link.plan.frame_length
        try:
            while budget > 0 and not self.session.done:
                n = link.controller.recv_push_into(self.receive_view(link)[:budget], None)
                if n == 0:
                    break
                budget -= n
                self.received(link, n)
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, ControllerError) as exc:
            log.debug("connection %d: %s while draining", link.number, exc)

    def abandon(self, link: Link, reason: str, *, eof: bool) -> None:
        """Keep everything the connection holds, flush the framer, close it, journal it."""
        log.warning("connection %d lost: %s", link.number, reason)
        if not eof:
            self.drain(link)
        link.framer.end_of_stream()
        self.process(link)
        link.controller.close()
        self.out.write("abandon", connection=link.number, reason=reason,
                       received_bytes=link.received, frames=link.frames,
                       quarantined_bytes=link.quarantined)

    def mpush_started(self) -> None:
        """No acquisition of the new push connection started before its MPUSH."""
        started = self._file_time(datetime.now(timezone.utc))
        if self._previous_stop is None or self._previous_stop < started:
            self._previous_stop = started

    def _file_time(self, utc: datetime) -> datetime:
        """A UTC time as it goes into files: naive, UTC or local (--local-time)."""
        return (utc.astimezone() if self.options.local_time else utc).replace(tzinfo=None)

    def save(self, link: Link, frame: Frame) -> None:
        summary, out = self.session.summary, self.out
        data = frame.data
        decoded = link.decoder.decode(data)
        received = datetime.now(timezone.utc)
        received_text = utc_now_text(received)
        start_time, stop_time = acquisition_times(
            self._file_time(received), acquisition_seconds(self.config, link.plan),
            self._previous_stop)
        self._previous_stop = stop_time
        name_time = start_time
        if summary.saved % self.options.acquis_per_file == 0 and self._last_name_time:
            # A new file: keep names unique without probing a run of taken names.
            name_time = max(start_time, self._last_name_time + NAME_STEP)
        path, index = out.writer.write(link.builder.build(decoded, start_time, stop_time,
                                                          name_time))
        if index == 0:
            parsed = parse_file_name(path.name)
            if parsed is not None:
                self._last_name_time = parsed[1]
            summary.files.append(path)
            summary.file_count += 1
        link.frames += 1
        fields: dict[str, object] = {
            "n": summary.saved + 1, "file": path.name, "record": index,
            "timestamp": decoded.timestamp_ms, "crc32": zlib.crc32(data),
            "shots": list(decoded.shots), "received_utc": received_text,
            "connection": link.number, "stream_offset": frame.stream_offset,
        }
        if any(decoded.clipped_bins):
            fields["clipped"] = list(decoded.clipped_bins)
            for text in self.clips.note((c.label for c in link.plan.channels),
                                         decoded.clipped_bins, self._clock(),
                                         summary.saved + 1):
                log.warning("%s", text)
        out.write("acquisition", utc=received_text, **fields)

    def quarantine(self, link: Link, data: bytes | memoryview, stream_offset: int,
                    reason: str, *, surplus: bool) -> None:
        out = self.out
        offset = out.quarantine.append(data)
        length = len(data)
        self.session.count_quarantined(length, surplus)
        link.quarantined += length
        if not surplus:
            more = self.quarantine_notices.note(self._clock())
            if more is not None:
                log.warning("connection %d: %d bytes at stream offset %d quarantined: %s%s",
                            link.number, length, stream_offset, reason, more)
        self.session.summary.quarantine = out.quarantine.path
        out.write("quarantine", file=out.quarantine.path.name, offset=offset, length=length,
                  reason=reason, connection=link.number, stream_offset=stream_offset,
                  surplus=surplus)
        if out.invalid_log is not None and not surplus:
            self._log_invalid(link, data, stream_offset, offset, reason)

    def _log_invalid(self, link: Link, data: bytes | memoryview, stream_offset: int,
                     offset: int, reason: str) -> None:
        """Append one entry to the human-readable log of invalid push data (``--log``)."""
        millis = "unavailable (connection closed)"
        if link.controller.command_connected and not self.session.stopping:
            try:
                millis = f"{link.controller.millisec()} ms"
            except ControllerError as exc:
                millis = f"unavailable ({exc.message})"
        self.out.append_invalid(format_entry(utc_now_text(), [
            ("controller IDN", link.idn), ("controller time", millis),
            ("buffer length", f"{len(data)} bytes"),
            ("expected length", f"{link.plan.frame_length} bytes (one frame)"),
            ("connection", f"{link.number}, stream offset {stream_offset}"),
            ("quarantine file", f"{self.out.quarantine.path.name} offset {offset}"),
            ("reason", reason), ("first bytes", head_hex(data))], width=22))

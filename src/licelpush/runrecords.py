"""What an acquisition run keeps (IO edge): saved records, quarantined spans, invalid-data log.

Spec: docs/ACQUIRE.md "Output files" and the journal's ``acquisition`` and
``quarantine`` events (:mod:`licelpush.journal`). :class:`RunRecords` carries
out the session's :class:`~licelpush.session.WriteRecord` and
:class:`~licelpush.session.QuarantineSpan` actions for one run.

Times (:mod:`licelpush.recordtimes`, docs/ACQUIRE.md "Times"): a record's
stop time is when its frame's last byte arrived (the receive that brought
it, committed to the framer with the run's clock), its start time the
previous frame's stop on the same push connection; the first frame of a
connection starts shots / laser rate before its stop, not before its
``MPUSH`` (at ``MPUSH`` when no rate is known). The journal gives each record
``received_utc`` (its stop), ``latency_ms`` (last byte to the end of the
write) and ``controller_span_ms``. The controller's timestamp byte order is
checked against the data (:class:`~licelpush.recordtimes.TimestampOrder`).
UTC unless ``local_time``.
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
from licelpush.events import (
    AbandonEvent,
    AcquisitionEvent,
    ClockDriftEvent,
    QuarantineEvent,
    TimestampOrderEvent,
)
from licelpush.framing import NEED_DATA, Frame, Quarantined
from licelpush.invalidlog import format_entry, head_hex
from licelpush.journal import utc_now_text
from licelpush.licelfile import FileNamer
from licelpush.notices import ClipNotices, QuarantineNotices
from licelpush.recordtimes import DRIFT_LIMIT, TimestampOrder
from licelpush.runlink import Link, send_slave
from licelpush.runoutput import RunOutput
from licelpush.session import AcquireOptions, RunSession

log = logging.getLogger(__name__)

DRAIN_LIMIT_FRAMES = 16
"""When abandoning a connection, read at most this many frames' worth of bytes it still holds."""


class RunRecords:
    """The data path of a run: push bytes into the framer, accepted frames into records,
    every other byte into the quarantine file, all of it journalled."""

    def __init__(self, out: RunOutput, config: AcquisConfig, options: AcquireOptions,
                 session: RunSession, clock: Callable[[], float] = time.monotonic,
                 on_saved: Callable[[], None] = lambda: None,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
                 ) -> None:
        self.out = out
        self.on_saved = on_saved
        """Called after each saved record (progress displays)."""
        self.config = config
        self.options = options
        self.session = session
        self._clock = clock
        self._wall = wall_clock
        """UTC clock of record times (injectable for tests)."""
        self.clips = ClipNotices(session.summary.clipped)
        self.quarantine_notices = QuarantineNotices()
        self._namer = FileNamer()
        self._order: TimestampOrder | None = None
        self._drift_warned = False

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
        now = self._clock()
        link.framer.commit(n, now)
        link.received += n
        self.session.handle(rs.DataReceived(now, n))
        self.process(link)

    def process(self, link: Link) -> None:
        """Handle every event the framer has (frames, quarantined spans)."""
        while (event := link.framer.next_event()) is not NEED_DATA:
            self._handle(link, event)

    def polled(self, link: Link, data: bytes) -> None:
        """One acquisition read by polling (:mod:`licelpush.runpoll`), laid out as a frame:
        checked like a pushed frame, then saved, or quarantined with the reason."""
        offset = link.received
        link.received += len(data)
        self.session.handle(rs.DataReceived(self._clock(), len(data)))
        problem = link.decoder.problem(data)
        self._handle(link, Frame(memoryview(data), offset, self._clock()) if problem is None
                     else Quarantined(bytes(data), offset, problem))

    def _handle(self, link: Link, event: Frame | Quarantined) -> None:
        session = self.session
        if isinstance(event, Frame):
            arrived = event.received if event.received is not None else self._clock()
            actions = session.handle(rs.FrameAccepted(arrived))
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

    def abandon(self, link: Link, reason: str, *, eof: bool, slave: bool = False) -> None:
        """Keep everything the connection holds, flush the framer, close it, journal it;
        ``slave``: a planned rest (``SLAVE`` first), not a loss."""
        if slave:
            send_slave(link.controller, bounded=True)
            log.info("connection %d closed: %s", link.number, reason)
        else:
            log.warning("connection %d lost: %s", link.number, reason)
        if not eof:
            self.drain(link)
        link.framer.end_of_stream()
        self.process(link)
        link.controller.close()
        self.out.write(AbandonEvent(connection=link.number, reason=reason,
                                    received_bytes=link.received, frames=link.frames,
                                    quarantined_bytes=link.quarantined))

    def mpush_started(self) -> datetime:
        """The time (UTC) MPUSH of a new push connection was sent: none of its
        acquisitions started before it."""
        return self._wall()

    def journal_connect(self, link: Link) -> None:
        """Journal a new connection (the first with the run's ``start`` event)."""
        if link.number == 1:
            self.out.write(link.start_event(self.out.run_id, self.config, self.options))
        self.out.write(link.connect_event())

    def connected(self, link: Link) -> None:
        """A new push connection: the run's timestamp byte order applies to its decoder."""
        if self._order is None:
            duration = link.clock.duration_s
            self._order = TimestampOrder(link.decoder.big_endian_timestamp,
                                         None if duration is None else 1000.0 * duration)
        self._order.new_connection()
        link.decoder.use_byte_order(self._order.big_endian)

    def _file_time(self, utc: datetime) -> datetime:
        """A UTC time as it goes into files: naive, UTC or local (--local-time)."""
        return (utc.astimezone() if self.options.local_time else utc).replace(tzinfo=None)

    def _wall_time(self, moment: float) -> datetime:
        """A time of the run's clock as UTC wall-clock time."""
        return self._wall() - timedelta(seconds=self._clock() - moment)

    def save(self, link: Link, frame: Frame) -> None:
        summary, out, order = self.session.summary, self.out, self._order
        assert order is not None
        data = frame.data
        if order.observe(data[2:6]):
            self._timestamp_order_changed(link)
        decoded = link.decoder.decode(data)
        arrived = frame.received if frame.received is not None else self._clock()
        received = self._wall_time(arrived)
        times = link.clock.times(received, decoded.timestamp_ms)
        start_time, stop_time = self._file_time(times.start), self._file_time(times.stop)
        new_file = summary.saved % self.options.acquis_per_file == 0
        name_time = self._namer.name_time(start_time) if new_file else start_time
        path, index = out.writer.write(link.builder.build(decoded, start_time, stop_time,
                                                          name_time))
        latency_ms = round((self._clock() - arrived) * 1000.0, 3)
        if index == 0:
            self._namer.taken(path.name)
            summary.files.append(path)
            summary.file_count += 1
        link.frames += 1
        received_text = utc_now_text(received)
        clipped = list(decoded.clipped_bins) if any(decoded.clipped_bins) else None
        if clipped:
            for text in self.clips.note((c.label for c in link.plan.channels), clipped,
                                        self._clock(), summary.saved + 1):
                log.warning("%s", text)
        out.write(AcquisitionEvent(
            n=summary.saved + 1, file=out.relative(path), record=index,
            timestamp=decoded.timestamp_ms, crc32=zlib.crc32(data), shots=list(decoded.shots),
            received_utc=received_text, latency_ms=latency_ms,
            controller_span_ms=times.controller_span_ms, connection=link.number,
            stream_offset=frame.stream_offset, clipped=clipped), utc=received_text)
        if times.drift is not None and abs(times.drift) > DRIFT_LIMIT:
            self._note_drift(link, times.drift)

    def _timestamp_order_changed(self, link: Link) -> None:
        """The data contradict the IDN's timestamp byte order: say so once, use the data's."""
        order = self._order
        assert order is not None
        link.decoder.use_byte_order(order.big_endian)
        link.clock.restart_controller_time()
        log.warning("connection %d: %s", link.number, order.note())
        self.out.write(TimestampOrderEvent(
            connection=link.number, idn=link.idn,
            declared="big" if order.declared_big_endian else "little",
            used="big" if order.big_endian else "little", note=order.note()))

    def _note_drift(self, link: Link, drift: float) -> None:
        """PC time and controller time drift apart by more than 1 %: warn once per run."""
        if self._drift_warned:
            return
        self._drift_warned = True
        text = (f"PC time and controller time differ by {100 * drift:+.1f} % since the first "
                f"frame of connection {link.number} (limit {100 * DRIFT_LIMIT:g} %): record "
                "times follow the PC clock, the journal's controller_span_ms the controller's")
        log.warning("%s", text)
        self.out.write(ClockDriftEvent(connection=link.number, drift=round(drift, 5), note=text))

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
        out.write(QuarantineEvent(file=out.quarantine.path.name, offset=offset, length=length,
                                  reason=reason, connection=link.number,
                                  stream_offset=stream_offset, surplus=surplus))
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

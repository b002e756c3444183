"""Sans-IO framer for the MPUSH push stream: bytes in, frames or quarantined spans out.

Spec: PROTOCOL.md §3.2-3.3. Frames have a fixed length L (from the plan) and
start with the delimiter ``FF FF``; the stream has no checksum. A frame at the
head of the buffer is accepted when

* it starts with ``FF FF`` and its shot words are consistent (the ``check``
  callable, normally :meth:`licelpush.decode.FrameDecoder.problem`), and
* the bytes after it start the next frame: its ``FF FF`` and, when a
  ``head_check`` is given, a plausible timestamp and first shot word — or,
  when no next frame can follow (:attr:`Framer.final` is set because the
  caller wants no more frames, or the stream has ended), the frame ends
  exactly where the received bytes end.

When the next frame's head is damaged, two weaker kinds of evidence still
confirm where a frame ends: a frame start one frame length further (the next
frame kept its length), or — when the next frame still begins with a
delimiter byte but lost bytes near its start — no plausible frame head inside
this frame and the next confirmed frame start more than half a frame after
its end. Losses in two adjacent frames can be ambiguous; the framer then
quarantines rather than guesses, except in the rare case that the second
frame's loss mimics the first's (the journal's CRC against the emulator's
ledger shows such a frame).

Anything else is damage. Resynchronisation looks for the next ``FF FF`` and
confirms it as a frame start only with the same evidence (check passes and a
delimiter L bytes later), so an ``FF FF`` inside data words does not fool it.
Every received byte ends up either in an accepted :class:`Frame` or in a
:class:`Quarantined` span with a reason: nothing is dropped silently.

Use: ``view = framer.writable(); n = sock.recv_into(view); framer.commit(n)``
(or ``framer.feed(data)``), then call :meth:`Framer.next_event` until it
returns :data:`NEED_DATA`. A :class:`Frame`'s ``data`` is a view into the
framer's buffer, valid until the next :meth:`~Framer.writable` or
:meth:`~Framer.feed`: decode or copy it before receiving more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from licelpush.wordlayout import FRAME_DELIMITER, HEAD_LENGTH


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
"""Returned by :meth:`Framer.next_event` when more bytes are needed."""

DEFAULT_RECV_CHUNK = 1 << 18


@dataclass(frozen=True)
class Frame:
    """An accepted frame: ``data`` is exactly one frame length long."""

    data: memoryview
    stream_offset: int
    """Offset of the frame's first byte in the stream fed to this framer."""


@dataclass(frozen=True)
class Quarantined:
    """Bytes that are not part of any accepted frame, and why."""

    data: bytes
    stream_offset: int
    reason: str


FrameCheck = Callable[[memoryview], "str | None"]
"""Why a complete frame is invalid, or None (e.g. FrameDecoder.problem)."""
HeadCheck = Callable[[memoryview, memoryview], bool]
"""Whether the first ``head_length`` bytes (second argument) can start the frame that
follows the frame given as first argument (e.g. FrameDecoder.follows)."""


class Framer:
    """Splits a push stream into fixed-length frames, quarantining damage."""

    def __init__(self, frame_length: int, check: FrameCheck | None = None,
                 recv_chunk: int = DEFAULT_RECV_CHUNK, head_check: HeadCheck | None = None,
                 head_length: int = HEAD_LENGTH) -> None:
        if frame_length < 8:
            raise ValueError(f"frame length {frame_length} is too short for a pushed frame")
        self.frame_length = frame_length
        self._check = check
        self._head_check = head_check
        self._head_length = head_length if head_check is not None else 2
        self._recv_chunk = max(4096, recv_chunk)
        self._capacity = 2 * frame_length + 4 + self._recv_chunk
        self._buf = bytearray(self._capacity)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._end = 0
        self._offset = 0
        """Stream offset of ``_buf[0]``."""
        self._pending_reason: str | None = None
        """Set while bytes from ``_pos`` are known damage awaiting a confirmed frame start."""
        self._scan_from = 0
        self._eos = False
        self.final = False
        """Set when the caller wants no frame after the next one: accept it without
        waiting for the next delimiter."""

    # -- input ---------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in an event."""
        return self._end - self._pos

    @property
    def stream_position(self) -> int:
        """Total bytes received so far."""
        return self._offset + self._end

    def writable(self, min_free: int | None = None) -> memoryview:
        """Free buffer space to receive into (compacting first when needed)."""
        need = self._recv_chunk if min_free is None else min_free
        if self._capacity - self._end < need:
            self._compact(need)
        return self._view[self._end:]

    def commit(self, n: int) -> None:
        """Declare that ``n`` bytes were received into the last :meth:`writable` view."""
        if n < 0 or self._end + n > self._capacity:
            raise ValueError(f"commit({n}) exceeds the writable space")
        if self._eos and n:
            raise ValueError("bytes received after end of stream")
        self._end += n

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` into the buffer (convenience for tests and adapters)."""
        data = memoryview(data).cast("B")
        start = 0
        while start < len(data):
            view = self.writable(min(len(data) - start, self._recv_chunk))
            n = min(len(view), len(data) - start)
            view[:n] = data[start:start + n]
            self.commit(n)
            start += n

    def end_of_stream(self) -> None:
        """The connection closed: the next events flush everything still buffered."""
        self._eos = True

    def _compact(self, need: int) -> None:
        live = self._end - self._pos
        if self._capacity - live < need:  # grow: a new buffer (views handed out stay valid)
            self._capacity = live + need + 2 * self.frame_length + 4
            buf = bytearray(self._capacity)
            buf[:live] = self._view[self._pos:self._end]
            self._buf = buf
            self._view = memoryview(buf)
        elif self._pos:
            self._buf[:live] = self._buf[self._pos:self._end]
        self._offset += self._pos
        self._scan_from -= self._pos
        self._pos, self._end = 0, live

    # -- output --------------------------------------------------------------

    def next_event(self) -> Frame | Quarantined | _NeedData:
        """The next accepted frame or quarantined span, or :data:`NEED_DATA`."""
        if self._pending_reason is not None:
            return self._resync()
        available = self._end - self._pos
        if available == 0:
            return NEED_DATA
        length = self.frame_length
        if available < 2 or (available < length and self._buf[self._pos:self._pos + 2]
                             == FRAME_DELIMITER):
            if self._eos:
                return self._quarantine(self._end, "incomplete frame at end of stream")
            return NEED_DATA
        if self._buf[self._pos:self._pos + 2] != FRAME_DELIMITER:
            return self._start_resync("no frame delimiter FF FF where a frame should start")
        verdict = self._verdict(self._pos)
        if verdict is None:
            return NEED_DATA
        if verdict is True:
            frame = Frame(self._view[self._pos:self._pos + length], self._offset + self._pos)
            self._pos += length
            self._scan_from = self._pos
            return frame
        return self._start_resync(verdict)

    def _verdict(self, start: int) -> bool | str | None:
        """True: a frame starts at ``start``; a reason string: it does not; None: need data."""
        length = self.frame_length
        if self._end - (start + length) < 0:
            return None
        following = self._next_start(start + length, start)
        if following is None:
            return None
        if following is False and not self.final:
            # The next frame's head may be damaged (delimiter, timestamp or shot word)
            # while its length is right: a frame start one more frame length on, in
            # the frame after it, still confirms where this frame ends.
            following = self._next_start(start + 2 * length, start)
            if following is None:
                return None
            if (following is False and self._buf[start + length] == 0xFF
                    and not self._head_inside(start)):
                # What follows still begins like a frame (its first delimiter byte) but
                # lost bytes near its start: the next confirmed frame start then lies
                # late in the frame after this one. A loss inside this frame would put
                # the next frame's head inside it (none may be there) or the next
                # confirmed start before this frame's end; bytes added after this frame
                # (not seen on TCP) would put it less than half a frame after it.
                after = self._next_confirmed_start(start)
                if after is None:
                    return None
                following = after >= start + length + length // 2
        if following is False:
            return ("no frame start (FF FF, plausible timestamp and shot word) right after "
                    f"the frame nor one frame later: bytes lost or added within {length} bytes")
        return self._checked(start)

    def _next_start(self, pos: int, previous: int) -> bool | None:
        """Does a frame start at ``pos`` after the frame at ``previous`` (or may the
        stream end there)? None: need data."""
        available = self._end - pos
        if available < 0:
            return False if self._eos else None
        if available == 0:
            return True if (self._eos or self.final) else None
        if available < self._head_length:
            prefix = self._buf[pos:min(self._end, pos + 2)]
            if prefix != FRAME_DELIMITER[:len(prefix)]:
                return False
            return True if (self._eos or self.final) else None
        if self._buf[pos:pos + 2] != FRAME_DELIMITER:
            return False
        if self._head_check is None:
            return True
        return self._head_check(self._view[previous:previous + self.frame_length],
                                self._view[pos:pos + self._head_length])

    def _head_inside(self, start: int) -> bool:
        """Is there a plausible head of a following frame inside the frame at ``start``?"""
        pos = start + 1
        end = start + self.frame_length + 1  # a delimiter may straddle this frame's end
        while True:
            candidate = self._buf.find(FRAME_DELIMITER, pos, end)
            if candidate < 0:
                return False
            if self._next_start(candidate, start):
                return True
            pos = candidate + 1

    def _next_confirmed_start(self, start: int) -> int | None:
        """The first position after ``start`` where a frame starts with its own evidence
        (check passes, a frame start follows it or one frame length later); -1 when
        there is none in what was received before the end of the stream; None: need
        data."""
        length = self.frame_length
        pos = start + 1
        while True:
            candidate = self._buf.find(FRAME_DELIMITER, pos, self._end)
            if candidate < 0 or self._end - candidate < length:
                return -1 if self._eos else None
            following = self._next_start(candidate + length, candidate)
            if following is False:
                following = self._next_start(candidate + 2 * length, candidate)
            if following is None:
                return None
            if following and self._checked(candidate) is True:
                return candidate
            pos = candidate + 1

    def _checked(self, start: int) -> bool | str:
        if self._check is not None:
            problem = self._check(self._view[start:start + self.frame_length])
            if problem:
                return problem
        return True

    def _start_resync(self, reason: str) -> Frame | Quarantined | _NeedData:
        self._pending_reason = reason
        self._scan_from = self._pos + 1
        return self._resync()

    def _resync(self) -> Frame | Quarantined | _NeedData:
        """Find the next confirmed frame start after damage at ``_pos``."""
        reason = self._pending_reason or "damaged data"
        while True:
            candidate = self._buf.find(FRAME_DELIMITER, self._scan_from, self._end)
            if candidate < 0:
                # Keep a trailing 0xFF: it may be the first half of a delimiter.
                keep = 1 if self._end > self._pos and self._buf[self._end - 1] == 0xFF else 0
                if self._eos:
                    return self._quarantine(self._end, reason)
                self._scan_from = max(self._scan_from, self._end - keep)
                return self._flush_large_pending(self._end - keep, reason)
            verdict = self._verdict(candidate)
            if verdict is True:
                return self._quarantine(candidate, reason)
            if verdict is None:
                if self._eos:  # pragma: no cover - eos makes every verdict final
                    return self._quarantine(self._end, reason)
                self._scan_from = candidate
                return self._flush_large_pending(candidate, reason)
            self._scan_from = candidate + 1

    def _flush_large_pending(self, upto: int, reason: str) -> Frame | Quarantined | _NeedData:
        """Bound the buffer: emit known damage once it exceeds two frame lengths."""
        if upto - self._pos > 2 * self.frame_length:
            event = Quarantined(bytes(self._buf[self._pos:upto]), self._offset + self._pos, reason)
            self._pos = upto
            return event
        return NEED_DATA

    def _quarantine(self, upto: int, reason: str) -> Frame | Quarantined | _NeedData:
        if upto == self._pos:  # damage already emitted; a confirmed frame starts here
            self._pending_reason = None
            return self.next_event()
        event = Quarantined(bytes(self._buf[self._pos:upto]), self._offset + self._pos, reason)
        self._pos = upto
        self._scan_from = upto
        self._pending_reason = None
        return event

"""Sans-IO framer for the MPUSH push stream: bytes in, frames or quarantined spans out.

Spec: PROTOCOL.md §3.2-3.3. Frames have a fixed length L (from the plan) and
start with the delimiter ``FF FF``; the stream has no checksum.

Acceptance. A complete frame (L bytes from a delimiter) that passes the
plan's checks (the ``check`` callable, normally
:meth:`licelpush.decode.FrameDecoder.problem`: delimiter, every shot word =
shots + 2, length) is accepted as soon as its last byte has arrived, when

* no byte beyond it has arrived yet, or
* the bytes beyond it begin a plausible head of the next frame (``FF FF`` and,
  with a ``head_check``, a plausible timestamp and first shot word).

A frame that lost bytes is not complete until the next frame's bytes arrive,
and the misalignment is then visible. The framer waits only where the
evidence is really ambiguous (the frame keeps the time of its own bytes):

* fewer than ``head_length`` bytes beyond it: the rest of the head is near;
* nothing beyond it, and its last byte ``FF`` or a plausible head inside it
  came in a later receive than the bytes before it (it may have lost bytes
  and end inside the next frame);
* bytes beyond it that are not a plausible head (the next frame's head is
  damaged, or this frame lost or gained bytes): rejected at once when a frame
  confirmed by its own evidence starts inside it; otherwise accepted when a
  frame start follows one more frame length on (the next frame kept its
  length) or, right after an accepted frame, when the next frame still begins
  with a delimiter byte, no plausible head lies inside this frame and the next
  confirmed frame start is more than half a frame after its end (the next
  frame lost bytes near its start). This waits for at most one more frame.

Anything else is damage: resynchronisation looks for the next ``FF FF``
(with a plausible first shot word when ``shot_word_range`` is given, found by
a vectorised scan of each received byte once) and confirms it with the same
evidence. Every received byte ends up in exactly one accepted :class:`Frame`
or :class:`Quarantined` span with a reason; nothing is dropped silently.

Times. Each receive is committed with the time it returned
(``commit(n, received=t)``); a frame carries the time of the receive that
brought its last byte (:attr:`Frame.received`), whatever the moment it is
decided.

Memory. The framer never holds more than :attr:`Framer.hold_limit` =
``MAX_HELD_FRAMES`` (3) frame lengths + ``head_length`` undecided bytes:
with that many bytes it always decides (a frame, or damage). Bytes ruled out
are released as soon as one frame length of them has gathered (or a frame
start is confirmed after them). The buffer is ``2 × hold_limit`` plus one
receive chunk and never grows for received data. Each receive costs time
proportional to the bytes it brought: the head is looked at once per frame,
each byte is scanned for delimiters once.

Lost synchronisation. :meth:`Framer.sync_lost` tells when the stream has
produced no valid frame while ``lost_sync_frames`` (3) frame lengths of
damage were quarantined, or while damage has been seen for
``lost_sync_seconds`` (set by the caller from the acquisition time):
the caller then abandons the connection and starts MPUSH again.

Use: ``view = framer.writable(); n = sock.recv_into(view); del view;
framer.commit(n, received=t)`` (or ``framer.feed(data, received=t)``), then
call :meth:`Framer.next_event` until it returns :data:`NEED_DATA`. A
:class:`Frame`'s ``data`` is a view into the framer's buffer, valid until the
next :meth:`~Framer.writable` or :meth:`~Framer.feed`: decode or copy it
before receiving more.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from licelpush.wordlayout import FRAME_DELIMITER, HEAD_LENGTH

if TYPE_CHECKING:
    from licelpush.decode import FrameDecoder


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
"""Returned by :meth:`Framer.next_event` when more bytes are needed."""

DEFAULT_RECV_CHUNK = 1 << 18
MAX_HELD_FRAMES = 3
"""The framer holds at most this many frame lengths (+ one head) of undecided bytes."""
LOST_SYNC_FRAMES = 3
"""Frame lengths of damage without a valid frame that mean synchronisation is lost."""
LOST_SYNC_MIN_SECONDS = 5.0
"""Damage without a valid frame for this long at least means synchronisation is lost."""
MAX_ARRIVALS = 4096
"""Receive times kept at most; beyond, the newest entry is extended (times only get later)."""
SHOT_WORD_OFFSET = 6
"""Offset of the first dataset's shot word in a frame (after delimiter and timestamp)."""


@dataclass(frozen=True)
class Frame:
    """An accepted frame: ``data`` is exactly one frame length long."""

    data: memoryview
    stream_offset: int
    """Offset of the frame's first byte in the stream fed to this framer."""
    received: float | None = None
    """When the frame's last byte arrived (the time committed with its receive)."""


@dataclass(frozen=True)
class Quarantined:
    """Bytes that are not part of any accepted frame, and why."""

    data: bytes
    stream_offset: int
    reason: str
    received: float | None = None
    """When the span's last byte arrived."""


FrameCheck = Callable[[memoryview], "str | None"]
"""Why a complete frame is invalid, or None (e.g. FrameDecoder.problem)."""
BatchCheck = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Which of many frame starts (second argument) in a uint8 buffer (first) can pass the
check: a bool array (e.g. FrameDecoder.shots_plausible); a cheap vectorised pre-check."""
HeadCheck = Callable[[memoryview, memoryview], bool]
"""Whether the first ``head_length`` bytes (second argument) can start the frame that
follows the frame given as first argument (e.g. FrameDecoder.follows)."""

_NO_CANDIDATES = np.empty(0, dtype=np.int64)
_LOST = ("no frame start (FF FF, plausible timestamp and shot word) right after the frame "
         "nor one frame later: bytes lost or added within {} bytes")


class Framer:
    """Splits a push stream into fixed-length frames, quarantining damage."""

    def __init__(self, frame_length: int, check: FrameCheck | None = None,
                 recv_chunk: int = DEFAULT_RECV_CHUNK, head_check: HeadCheck | None = None,
                 head_length: int = HEAD_LENGTH, *,
                 shot_word_range: tuple[int, int] | None = None,
                 batch_check: BatchCheck | None = None,
                 lost_sync_frames: int = LOST_SYNC_FRAMES,
                 lost_sync_seconds: float | None = None) -> None:
        if frame_length < 8:
            raise ValueError(f"frame length {frame_length} is too short for a pushed frame")
        self.frame_length = frame_length
        self._check = check
        self._head_check = head_check
        self._head_length = head_length if head_check is not None else 2
        self._shot_range = shot_word_range
        self._batch_check = batch_check
        self._pruned = 0
        """Stream offset below which candidates have passed ``batch_check``."""
        self._recv_chunk = max(4096, recv_chunk)
        self.hold_limit = MAX_HELD_FRAMES * frame_length + self._head_length
        """Most undecided bytes the framer holds (it decides with this many)."""
        self._capacity = 2 * self.hold_limit + self._recv_chunk
        self._buf = bytearray(self._capacity)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._end = 0
        self._offset = 0
        """Stream offset of ``_buf[0]``."""
        self._eos = False
        self._pending_reason: str | None = None
        """Set while bytes from ``_pos`` are damage awaiting a confirmed frame start."""
        self._scanned = 0
        """Stream offset up to which resynchronisation has looked for frame starts."""
        self._candidates = _NO_CANDIDATES
        """Stream offsets of possible frame starts found by the scan, sorted."""
        self._next = 0
        """Index in ``_candidates`` of the first one not decided yet."""
        """Stream offsets of possible frame starts found by the scan, not yet decided."""
        self._arrivals: collections.deque[tuple[int, float | None]] = collections.deque()
        """(stream offset after a receive, its time), oldest first."""
        self.lost_sync_bytes = lost_sync_frames * frame_length
        self.lost_sync_seconds = lost_sync_seconds
        self._damage_since_frame = 0
        self._damage_since: float | None = None
        self.peak_held = 0
        """Most bytes held undecided when more data was asked for (for benchmarks)."""
        self._wait: tuple[int, int] | None = None
        """(stream offset of a frame start, stream offset its verdict waits for)."""
        self.final = False
        """Set when the caller wants no frame after the next one: a complete frame with
        nothing beyond it is then accepted without looking for signs of lost bytes."""

    # -- input ---------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in an event."""
        return self._end - self._pos

    @property
    def stream_position(self) -> int:
        """Total bytes received so far."""
        return self._offset + self._end

    @property
    def capacity(self) -> int:
        """Size of the receive buffer in bytes."""
        return self._capacity

    def writable(self, min_free: int | None = None) -> memoryview:
        """Free buffer space to receive into (compacting first when needed)."""
        need = self._recv_chunk if min_free is None else min_free
        if self._capacity - self._end < need:
            self._compact(need)
        return self._view[self._end:]

    def commit(self, n: int, received: float | None = None) -> None:
        """Declare that ``n`` bytes arrived, at time ``received``, in the last
        :meth:`writable` view."""
        if n < 0 or self._end + n > self._capacity:
            raise ValueError(f"commit({n}) exceeds the writable space")
        if self._eos and n:
            raise ValueError("bytes received after end of stream")
        if not n:
            return
        self._end += n
        end = self._offset + self._end
        if len(self._arrivals) >= MAX_ARRIVALS:
            self._arrivals[-1] = (end, received)
        else:
            self._arrivals.append((end, received))

    def feed(self, data: bytes | bytearray | memoryview, received: float | None = None) -> None:
        """Copy ``data`` into the buffer as one receive (for tests and adapters).

        Feeding more than one receive chunk without taking the events in
        between grows the buffer to hold it.
        """
        data = memoryview(data).cast("B")
        view = self.writable(len(data))
        view[:len(data)] = data
        del view
        self.commit(len(data), received)

    def end_of_stream(self) -> None:
        """The connection closed: the next events decide everything still buffered."""
        self._eos = True

    def _compact(self, need: int) -> None:
        live = self._end - self._pos
        if self._capacity - live < need:  # grow (feed of a large block): views stay valid
            self._capacity = live + need + 2 * self.hold_limit
            buf = bytearray(self._capacity)
            buf[:live] = self._view[self._pos:self._end]
            self._buf = buf
            self._view = memoryview(buf)
        elif self._pos:
            self._buf[:live] = self._buf[self._pos:self._end]
        self._offset += self._pos
        self._pos, self._end = 0, live

    # -- times and synchronisation --------------------------------------------

    def _arrival(self, stream_end: int) -> float | None:
        """Time of the receive that brought the byte before stream offset ``stream_end``."""
        for end, received in self._arrivals:
            if end >= stream_end:
                return received
        return self._arrivals[-1][1] if self._arrivals else None

    def _release(self, stream_end: int) -> None:
        """Forget receive times of bytes before ``stream_end`` (all handed out)."""
        arrivals = self._arrivals
        while len(arrivals) > 1 and arrivals[0][0] <= stream_end:
            arrivals.popleft()

    def sync_lost(self, now: float | None = None) -> str | None:
        """Why synchronisation is lost (no valid frame among much damage), or None."""
        damage = self._damage_since_frame
        if damage >= self.lost_sync_bytes:
            return (f"no valid frame in {damage} bytes of damaged push data "
                    f"({damage / self.frame_length:.1f} frame lengths)")
        since = self._damage_since
        limit = self.lost_sync_seconds
        if damage and limit is not None and since is not None and now is not None \
                and now - since >= limit:
            return f"no valid frame for {now - since:.1f} s of damaged push data"
        return None

    # -- output --------------------------------------------------------------

    def next_event(self) -> Frame | Quarantined | _NeedData:
        """The next accepted frame or quarantined span, or :data:`NEED_DATA`."""
        event = self._resync() if self._pending_reason is not None else self._aligned()
        if event is NEED_DATA:
            self.peak_held = max(self.peak_held, self._end - self._pos)
        return event

    def _aligned(self) -> Frame | Quarantined | _NeedData:
        """The bytes at ``_pos`` should start a frame."""
        pos = self._pos
        available = self._end - pos
        if available == 0:
            return NEED_DATA
        if not FRAME_DELIMITER.startswith(self._buf[pos:pos + min(2, available)]):
            return self._start_resync("no frame delimiter FF FF where a frame should start")
        if available < self.frame_length:
            if self._eos:
                return self._quarantine(self._end, "incomplete frame at end of stream")
            return NEED_DATA
        verdict = self._verdict(pos, aligned=True)
        if verdict is None:
            return NEED_DATA
        if verdict is True:
            return self._accept(pos)
        return self._start_resync(verdict)

    def _verdict(self, start: int, aligned: bool) -> bool | str | None:
        """True: a frame starts at buffer index ``start``; a reason: it does not; None: need
        data. The frame's bytes must all be there. A verdict that waits is not worked
        out again before the bytes it waits for have arrived (cost per new byte)."""
        stream_start = self._offset + start
        wait = self._wait
        if (wait is not None and wait[0] == stream_start and not self._eos
                and self._offset + self._end < wait[1]):
            return None
        verdict, needed = self._judge(start, aligned)
        self._wait = (stream_start, self._offset + needed) if verdict is None else None
        return verdict

    def _judge(self, start: int, aligned: bool) -> tuple[bool | str | None, int]:
        """The verdict of :meth:`_verdict` and, when it is None, the buffer index up to
        which bytes are needed."""
        problem = self._checked(start)
        if problem is not True:
            return problem, 0
        length = self.frame_length
        end = start + length
        following = self._follows_at(end, start)
        beyond = self._end - end
        if following and beyond < self._head_length and not (self._eos or self.final):
            # Part of a head beyond it: wait for the rest (it comes with the same frame).
            if beyond:
                return None, end + self._head_length
            # Nothing beyond it yet: a frame that lost bytes would end inside the next
            # frame, whose bytes came in a later receive. With the start of a head inside
            # (or a last byte FF) that came in a later receive than the bytes before it,
            # wait for the bytes beyond.
            if self._suspect_tail(start):
                return None, end + 1
        if following:
            return True, 0
        # Ambiguous: the next frame's head is damaged, or this frame lost or gained bytes.
        if self._confirmed_inside(start):
            return _LOST.format(length), 0
        after_next = start + 2 * length
        if self._end - after_next < self._head_length and not self._eos:
            return None, after_next + self._head_length  # a whole head there, or the end
        if self._follows_at(after_next, start):
            return True, 0
        if aligned and self._buf[end] == 0xFF and not self._head_inside(start):
            after = self._next_confirmed_start(start)
            if after is None:
                return None, self._end + 1
            if after >= end + length // 2:
                return True, 0
        return _LOST.format(length), 0

    def _confirmed_inside(self, start: int) -> bool:
        """Does a frame with its own evidence (check passes, a plausible head or nothing
        follows it) start inside the frame at ``start``?"""
        length = self.frame_length
        for candidate in self._starts(start + 1, start + length):
            candidate = int(candidate)
            if (self._end >= candidate + length and self._checked(candidate) is True
                    and self._follows_at(candidate + length, candidate)):
                return True
        return False

    def _follows_at(self, pos: int, previous: int) -> bool | None:
        """May a frame following the frame at ``previous`` start at ``pos``? None: need data.

        True when nothing was received from ``pos`` on yet (or the stream ended
        there) and when the bytes there begin a plausible head.
        """
        available = self._end - pos
        if available < 0:
            return False if self._eos else None
        if available == 0:
            return True
        if available < self._head_length:
            return FRAME_DELIMITER.startswith(self._buf[pos:pos + min(2, available)])
        if self._buf[pos:pos + 2] != FRAME_DELIMITER:
            return False
        if self._head_check is None:
            return True
        return self._head_check(self._view[previous:previous + self.frame_length],
                                self._view[pos:pos + self._head_length])

    def _starts(self, first: int, last: int) -> np.ndarray:
        """Buffer indices in [first, last) where ``FF FF`` and, with ``shot_word_range``, a
        plausible first shot word begin (all their bytes received)."""
        stop = min(last, self._end - (SHOT_WORD_OFFSET + 2 if self._shot_range else 2) + 1)
        if stop <= first:
            return np.empty(0, dtype=np.intp)
        width = SHOT_WORD_OFFSET + 2 if self._shot_range else 2
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=stop - first + width - 1,
                            offset=first)
        n = stop - first
        mask = (raw[:n] == 0xFF) & (raw[1:n + 1] == 0xFF)
        if self._shot_range is not None and mask.any():
            lo, hi = self._shot_range
            word = raw[SHOT_WORD_OFFSET:SHOT_WORD_OFFSET + n].astype(np.uint16)
            word |= raw[SHOT_WORD_OFFSET + 1:SHOT_WORD_OFFSET + 1 + n].astype(np.uint16) << 8
            mask &= (word >= lo) & (word <= hi)
        return np.flatnonzero(mask) + first

    def _suspect_tail(self, start: int) -> bool:
        """Could the end of the frame at ``start`` be the start of the next frame (it lost
        bytes)? A last byte FF or a plausible head inside it that came in a later receive
        than the bytes before it, or in a receive that began within the frame's last
        ``head_length`` bytes."""
        end = start + self.frame_length
        stream_end = self._offset + end
        boundaries = [e - self._offset for e, _ in self._arrivals
                      if self._offset + start < e < stream_end]
        if not boundaries:
            return False  # the whole frame came in one receive
        late = boundaries[-1] >= end - self._head_length
        if self._buf[end - 1] == 0xFF and late:
            return True
        last = end if late else boundaries[-1] + 1
        return any(self._follows_at(int(candidate), start)
                   for candidate in self._plain_starts(start + 1, last))

    def _head_inside(self, start: int) -> bool:
        """Is there a plausible head of a following frame inside the frame at ``start``?"""
        end = start + self.frame_length
        return any(self._follows_at(int(candidate), start)
                   for candidate in self._plain_starts(start + 1, end))

    def _plain_starts(self, first: int, last: int) -> np.ndarray:
        """Buffer indices in [first, last) where ``FF FF`` begins (both bytes received)."""
        stop = min(last, self._end - 1)
        if stop <= first:
            return np.empty(0, dtype=np.intp)
        found = []  # usually none or a few: bytes.find is far cheaper than a numpy pass
        pos = self._buf.find(FRAME_DELIMITER, first, stop + 1)
        while 0 <= pos and len(found) < 16:
            found.append(pos)
            pos = self._buf.find(FRAME_DELIMITER, pos + 1, stop + 1)
        if pos < 0:
            return np.array(found, dtype=np.intp)
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=stop - first + 1, offset=first)
        return np.flatnonzero((raw[:-1] == 0xFF) & (raw[1:] == 0xFF)) + first

    def _next_confirmed_start(self, start: int) -> int | None:
        """The first index up to two frames after ``start`` where a frame starts with its
        own evidence (check passes, a plausible head or nothing follows it); -1 when
        there is none; None: need data."""
        length = self.frame_length
        limit = start + 2 * length + 1
        if self._end < limit + SHOT_WORD_OFFSET + 1 and not self._eos:
            return None
        for candidate in self._starts(start + 1, limit):
            candidate = int(candidate)
            if self._end - candidate < length:
                return -1 if self._eos else None
            if self._checked(candidate) is not True:
                continue
            following = self._follows_at(candidate + length, candidate)
            if following is None:
                return None
            if following:
                return candidate
        return -1

    def _checked(self, start: int) -> bool | str:
        if self._check is not None:
            problem = self._check(self._view[start:start + self.frame_length])
            if problem:
                return problem
        return True

    # -- resynchronisation -----------------------------------------------------

    def _start_resync(self, reason: str) -> Frame | Quarantined | _NeedData:
        self._pending_reason = reason
        self._scanned = self._offset + self._pos + 1
        self._candidates, self._next = _NO_CANDIDATES, 0
        return self._resync()

    def _scan(self) -> None:
        """Find possible frame starts among the bytes not scanned yet (each byte once)."""
        first = self._scanned - self._offset
        found = self._starts(first, self._end)
        if len(found):
            self._candidates = np.concatenate((self._candidates[self._next:],
                                               found + self._offset))
            self._next = 0
        width = SHOT_WORD_OFFSET + 2 if self._shot_range else 2
        self._scanned = self._offset + max(first, self._end - width + 1)
        if self._eos:
            self._scanned = self._offset + self._end

    def _has_candidate(self) -> bool:
        return self._next < len(self._candidates)

    def _prune(self) -> None:
        """Drop, in one vectorised pass, the candidates whose complete frames fail
        ``batch_check`` (each candidate is looked at once)."""
        if self._batch_check is None or not self._has_candidate():
            return
        starts = self._candidates[self._next:]
        first = int(np.searchsorted(starts, self._pruned))
        last = int(np.searchsorted(starts, self._offset + self._end - self.frame_length,
                                   side="right"))
        if last <= first:
            return
        todo = starts[first:last]
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=self._end)
        keep = self._batch_check(raw, todo - self._offset)
        self._pruned = int(todo[-1]) + 1
        if not keep.all():
            self._candidates = np.concatenate((starts[:first], todo[keep], starts[last:]))
            self._next = 0

    def _resync(self) -> Frame | Quarantined | _NeedData:
        """Find the next confirmed frame start after damage at ``_pos``."""
        reason = self._pending_reason or "damaged data"
        length = self.frame_length
        self._prune()
        while True:
            if not self._has_candidate():
                self._scan()
                self._prune()
            if not self._has_candidate():
                ruled_out = self._scanned - self._offset
                if self._eos:
                    return self._quarantine(self._end, reason, keep_pending=True)
                if ruled_out - self._pos >= length:
                    return self._quarantine(ruled_out, reason, keep_pending=True)
                return NEED_DATA
            candidate = int(self._candidates[self._next]) - self._offset
            if candidate - self._pos >= length:
                return self._quarantine(candidate, reason, keep_pending=True)
            if self._end - candidate < length:
                if self._eos:
                    self._next += 1
                    continue
                return NEED_DATA
            verdict = self._verdict(candidate, aligned=False)
            if verdict is None:
                return NEED_DATA
            self._next += 1
            if verdict is True:
                self._candidates, self._next = _NO_CANDIDATES, 0
                return self._quarantine(candidate, reason)

    # -- events ------------------------------------------------------------------

    def _accept(self, pos: int) -> Frame:
        end = pos + self.frame_length
        stream_end = self._offset + end
        frame = Frame(self._view[pos:end], self._offset + pos, self._arrival(stream_end))
        self._pos = end
        self._release(stream_end)
        self._damage_since_frame = 0
        self._damage_since = None
        return frame

    def _quarantine(self, upto: int, reason: str,
                    keep_pending: bool = False) -> Frame | Quarantined | _NeedData:
        """Emit bytes ``_pos..upto`` as damage; resynchronisation ends unless ``keep_pending``."""
        if not keep_pending:
            self._pending_reason = None
        if upto <= self._pos:  # nothing pending: a confirmed frame starts here
            return NEED_DATA if keep_pending else self.next_event()
        start = self._offset + self._pos
        stream_end = self._offset + upto
        if self._damage_since is None:
            self._damage_since = self._arrival(start + 1)
        received = self._arrival(stream_end)
        event = Quarantined(bytes(self._buf[self._pos:upto]), start, reason, received)
        self._pos = upto
        self._release(stream_end)
        self._damage_since_frame += len(event.data)
        return event


def lost_sync_seconds(duration_s: float | None) -> float:
    """Seconds of damage without a valid frame that mean lost synchronisation: three
    acquisitions (``duration_s`` each), at least :data:`LOST_SYNC_MIN_SECONDS`; 60 s when
    the acquisition time is unknown. One damaged frame between good ones never counts."""
    if duration_s is None:
        return 60.0
    return max(LOST_SYNC_FRAMES * duration_s, LOST_SYNC_MIN_SECONDS)


def decoder_framer(decoder: FrameDecoder, *, recv_chunk: int = DEFAULT_RECV_CHUNK,
                   lost_sync_seconds: float | None = None) -> Framer:
    """A framer with every check of ``decoder``'s plan (§3.3): shot words, next head,
    candidate prefilter and the vectorised pre-check."""
    return Framer(decoder.frame_length, decoder.problem, recv_chunk=recv_chunk,
                  head_check=decoder.follows, head_length=decoder.head_length,
                  shot_word_range=decoder.shot_word_range,
                  batch_check=decoder.shots_plausible, lost_sync_seconds=lost_sync_seconds)

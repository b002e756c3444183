"""What the head of a vendor-style ``pushBuffer`` holds, decided by licelpush's framer.

Spec: PROTOCOL.md §3.2-3.3. The vendor API keeps received push bytes in a
plain ``bytearray`` that scripts can see and change (``pushBuffer``), and
consumes it from the front: one acquisition at a time, or a span of invalid
data. To keep that contract while deciding validity exactly like licelpush's
acquisition, every question about the buffer is answered by a fresh
:class:`~licelpush.framing.Framer` fed with the buffer's current bytes: its
first event says whether the buffer starts with an accepted frame, with a
span of damage (and how long it is), or whether more bytes are needed to
tell. Nothing here keeps state between calls, so a script that edits or
replaces ``pushBuffer`` cannot get it out of step. The framer decides its
first event from at most :attr:`~licelpush.framing.Framer.hold_limit` bytes
(three frames and a head), so only those are copied, however long the buffer.
"""

from __future__ import annotations

from licelpush.decode import FrameDecoder
from licelpush.framing import NEED_DATA, Frame, Quarantined, decoder_framer
from licelpush.wordlayout import FRAME_DELIMITER

ANALYSIS_CHUNK = 4096
"""Receive chunk of the throw-away framers (their buffers grow to what is fed)."""


def head_event(buffer: bytes | bytearray | memoryview, decoder: FrameDecoder, *,
               end_of_stream: bool = False) -> Frame | Quarantined | None:
    """The framer's first event for ``buffer``: a frame, damage, or None (need more bytes).

    ``end_of_stream``: no byte will follow (the connection ended), so a
    complete frame at the end is accepted without the next frame's delimiter
    and an incomplete one is damage. A returned :class:`Frame`'s ``data`` is a
    view into a private copy, valid until the next call.
    """
    framer = decoder_framer(decoder, recv_chunk=ANALYSIS_CHUNK)
    head = memoryview(buffer)[:framer.hold_limit]
    if head:
        framer.feed(head)
    del head
    if end_of_stream and len(buffer) <= framer.hold_limit:
        framer.end_of_stream()
    event = framer.next_event()
    if event is NEED_DATA:
        return None
    assert isinstance(event, (Frame, Quarantined))
    return event


def may_decide(buffer: bytes | bytearray, decoder: FrameDecoder) -> bool:
    """Cheap pre-check: can :func:`head_event` decide without more bytes?

    False while the buffer starts with a delimiter but holds less than a
    frame; True otherwise (the framer may still ask for more when the bytes
    after a complete frame are ambiguous).
    """
    if len(buffer) < 2:
        return False
    if buffer[:2] == FRAME_DELIMITER:
        return len(buffer) >= decoder.frame_length
    return True


def fallback_cut(buffer: bytes | bytearray) -> int:
    """Bytes to drop from the front when no plan is known: up to the next ``FF FF``
    after the first byte (the vendor's rule; used only before MPUSH started)."""
    start = 2 if buffer[:2] == FRAME_DELIMITER else 0
    found = bytes(buffer).find(FRAME_DELIMITER, start)
    return len(buffer) if found < 0 else max(found, 1)

"""The sans-IO push-stream framer (PROTOCOL §3.2-3.3)."""

from __future__ import annotations

import numpy as np
from factories import config, recorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licelpush.decode import FrameDecoder
from licelpush.encode import FrameEncoder
from licelpush.framing import NEED_DATA, Frame, Framer, Quarantined
from licelpush.hardware import RecorderHardware
from licelpush.plan import make_plan

PLAN = make_plan(config(recorder(0, {"A": (True, True)}, 12, 8)), {0: RecorderHardware()}, 300)
L = PLAN.frame_length


def make_frames(n, seed=0, saturate=True):
    """n distinct frames whose data words are full of 0xFFFF (delimiter look-alikes)."""
    rng = np.random.default_rng(seed)
    enc = FrameEncoder(PLAN)
    frames = []
    for i in range(n):
        profiles = []
        for c in PLAN.channels:
            top = (1 << 31) - 1 if c.analogue else (1 << 15) - 1
            v = rng.integers(0, top, c.values)
            if saturate:
                v[rng.random(c.values) < 0.5] = top
            profiles.append(v)
        frames.append(enc.encode(1000 + i, 300 - (i % 3), profiles))
    return frames


def new_framer():
    dec = FrameDecoder(PLAN)
    return Framer(L, dec.problem, recv_chunk=4096, head_check=dec.follows,
                  head_length=dec.head_length)


def run(stream, chunks=None, eos=True):
    """Feed ``stream`` in chunks; return the events."""
    framer = new_framer()
    events = []
    pos = 0
    sizes = chunks or [len(stream)]
    i = 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        i += 1
        framer.feed(stream[pos:pos + n])
        pos += n
        while (e := framer.next_event()) is not NEED_DATA:
            events.append((e.stream_offset, bytes(e.data), e))
    if eos:
        framer.end_of_stream()
        while (e := framer.next_event()) is not NEED_DATA:
            events.append((e.stream_offset, bytes(e.data), e))
    return events


def accepted(events):
    return [data for _, data, e in events if isinstance(e, Frame)]


def test_clean_stream_in_any_chunking():
    frames = make_frames(6)
    stream = b"".join(frames)
    for chunks in ([1], [7], [L], [L + 1, 3], [len(stream)]):
        events = run(stream, chunks)
        assert accepted(events) == frames
        assert not any(isinstance(e, Quarantined) for _, _, e in events)


def test_frame_is_accepted_as_soon_as_its_last_byte_arrived():
    frames = make_frames(3)
    framer = new_framer()
    framer.feed(frames[0][:-1], received=1.0)
    assert framer.next_event() is NEED_DATA
    framer.feed(frames[0][-1:], received=2.0)
    first = framer.next_event()  # nothing beyond it yet: no wait for the next frame
    assert isinstance(first, Frame) and bytes(first.data) == frames[0]
    assert first.received == 2.0
    framer.feed(frames[1] + frames[2][:3], received=3.0)
    assert framer.next_event() is NEED_DATA  # part of a head beyond it: the rest is near
    framer.feed(frames[2][3:8], received=4.0)  # beyond it: a plausible head
    second = framer.next_event()
    assert isinstance(second, Frame) and bytes(second.data) == frames[1]
    assert second.received == 3.0  # its own bytes' time, not the decision's
    assert framer.next_event() is NEED_DATA


def test_each_frame_gets_the_time_of_the_receive_with_its_last_byte():
    frames = make_frames(4)
    stream = b"".join(frames)
    framer = new_framer()
    cuts = [0, L // 2, L + 10, 3 * L - 1, len(stream)]
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        framer.feed(stream[a:b], received=float(i))
    got = []
    while (e := framer.next_event()) is not NEED_DATA:
        got.append(e)
    # receives: 0 = [0, L/2), 1 = [L/2, L+10), 2 = [L+10, 3L-1), 3 = [3L-1, 4L); frame k
    # ends at (k+1)L: frame 0 in receive 1, frame 1 in 2, frames 2 and 3 in 3
    assert [bytes(e.data) for e in got] == frames
    assert [e.received for e in got] == [1.0, 2.0, 3.0, 3.0]


def test_complete_frame_then_close_is_accepted_and_partial_is_quarantined():
    frames = make_frames(3)
    events = run(frames[0] + frames[1] + frames[2][:50])
    assert accepted(events) == frames[:2]
    quarantined = [e for _, _, e in events if isinstance(e, Quarantined)]
    assert len(quarantined) == 1 and quarantined[0].data == frames[2][:50]
    assert "end of stream" in quarantined[0].reason
    assert quarantined[0].stream_offset == 2 * L


def test_lost_bytes_quarantine_only_the_damaged_frame():
    frames = make_frames(5)
    damaged = frames[2][:40] + frames[2][47:]
    events = run(b"".join(frames[:2]) + damaged + b"".join(frames[3:]), [100])
    assert accepted(events) == frames[:2] + frames[3:]
    q = [e for _, _, e in events if isinstance(e, Quarantined)]
    assert [x.data for x in q] == [damaged]
    assert "shot word" in q[0].reason  # the shift put data where a shot word should be


def test_garbage_between_frames_is_quarantined():
    frames = make_frames(3)
    junk = b"\xff\xff\x00\x01\xff\xff" * 5
    events = run(frames[0] + frames[1] + junk + frames[2], [33])
    # frame 1 cannot be told from a frame with bytes added inside it: the next
    # confirmed start is only 30 bytes after its end, so it goes to quarantine
    assert accepted(events) == [frames[0], frames[2]]
    # ruled-out bytes are released once a frame length of them has gathered
    assert b"".join(d for _, d, e in events if isinstance(e, Quarantined)) == frames[1] + junk


def test_garbage_that_does_not_look_like_a_frame_costs_the_frame_before_it():
    frames = make_frames(3)
    junk = bytes(range(1, 31))  # no 0xFF at all: nothing says where frame 1 ends
    events = run(frames[0] + frames[1] + junk + frames[2], [33])
    assert accepted(events) == [frames[0], frames[2]]
    assert [d for _, d, e in events if isinstance(e, Quarantined)] == [frames[1] + junk]


def test_a_frame_that_lost_bytes_is_not_taken_when_its_tail_came_in_small_receives():
    frames = make_frames(3)
    for cut in (1, 2, 3, 5):  # the window ends `cut` bytes into the next frame's head
        shortened = frames[0][:50] + frames[0][50 + cut:]
        events = run(shortened + frames[1] + frames[2], [2])
        assert shortened + frames[1][:cut] not in accepted(events), cut
        assert accepted(events)[-1] == frames[2]


def test_lost_bytes_at_the_head_of_the_next_frame_do_not_cost_this_one():
    frames = make_frames(5)
    for cut in (1, 2, 3, 5, 7):  # bytes lost right after the first delimiter byte
        damaged = frames[2][:1] + frames[2][1 + cut:]
        events = run(frames[0] + frames[1] + damaged + frames[3] + frames[4], [50])
        assert accepted(events) == [frames[0], frames[1], frames[3], frames[4]], cut
        assert [d for _, d, e in events if isinstance(e, Quarantined)] == [damaged]


def test_delimiter_lookalike_in_data_does_not_start_a_frame():
    frames = make_frames(3)
    # a data word FF FF right where the next frame should start, with lost bytes before it
    cut = bytearray(frames[1])
    lost = 10
    damaged = bytes(cut[:L - lost - 2]) + b"\xff\xff" + bytes(cut[L - lost:])
    events = run(frames[0] + damaged + frames[2][lost:], [17])
    assert frames[0] in accepted(events)
    for data in accepted(events):
        assert data in frames


def test_damaged_delimiter_of_the_next_frame_does_not_cost_this_one():
    frames = make_frames(4)
    hit = bytearray(frames[2])
    hit[1] = 0x7F
    events = run(frames[0] + frames[1] + bytes(hit) + frames[3])
    assert accepted(events) == [frames[0], frames[1], frames[3]]
    assert [d for _, d, e in events if isinstance(e, Quarantined)] == [bytes(hit)]


def test_damaged_head_of_the_next_frame_does_not_cost_this_one():
    frames = make_frames(5)
    for byte in (0, 1, 2, 5, 6, 7):  # delimiter, timestamp, first shot word of frame 3
        hit = bytearray(frames[3])
        hit[byte] ^= 0xA5
        events = run(b"".join(frames[:3]) + bytes(hit) + frames[4], [50])
        assert accepted(events)[:3] == frames[:3], byte
        assert frames[4] in accepted(events)
        # every byte accounted for; the damaged frame is either quarantined or, when only
        # its timestamp changed (undetectable, §3.3), accepted as it arrived
        assert b"".join(d for _, d, _ in events) == b"".join(frames[:3]) + bytes(hit) + frames[4]


def test_inconsistent_shot_words_are_quarantined():
    frames = make_frames(3)
    bad = bytearray(frames[1])
    bad[PLAN.datasets[1].offset] ^= 0x01
    events = run(frames[0] + bytes(bad) + frames[2])
    assert accepted(events) == [frames[0], frames[2]]
    q = [e for _, _, e in events if isinstance(e, Quarantined)]
    assert len(q) == 1 and "shot word" in q[0].reason


def test_long_garbage_is_released_in_bounded_pieces():
    framer = new_framer()
    junk = bytes(range(256)) * 20  # no FF FF pair anywhere
    framer.feed(junk)
    event = framer.next_event()
    assert isinstance(event, Quarantined)
    assert framer.buffered <= 2 * L + 2


def test_zero_copy_receive_interface():
    frames = make_frames(2)
    stream = b"".join(frames)
    framer = new_framer()
    view = framer.writable()
    view[:len(stream)] = stream
    framer.commit(len(stream))
    framer.end_of_stream()
    got = [framer.next_event(), framer.next_event(), framer.next_event()]
    assert [bytes(g.data) for g in got[:2]] == frames
    assert got[2] is NEED_DATA
    assert framer.stream_position == len(stream)


# Damage a TCP push stream really shows: bytes lost (a sender or receiver dropping
# part of a buffer) and bytes changed, in frames with intact frames between them
# (as the emulator's faults with every=N >= 2). Bytes added are not a real fault of
# TCP; the framer's handling of them is shown by the garbage tests above. Losses in
# two adjacent frames are ambiguous (see Framer._verdict) and not generated here.
damage = st.lists(
    st.tuples(st.sampled_from(["delete", "flip"]), st.integers(0, 10**6),
              st.integers(1, 40)),
    max_size=4,
)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1000), n=st.integers(1, 9), ops=damage,
       chunks=st.lists(st.integers(1, 3 * L), min_size=1, max_size=4))
def test_every_byte_accounted_and_no_false_frames(seed, n, ops, chunks):
    frames = make_frames(n, seed)
    rng = np.random.default_rng(seed)
    damaged: dict[int, bytes] = {}
    for op, where, size in ops:
        index = where % n
        if any(abs(index - other) == 1 for other in damaged):
            continue  # keep an intact frame between damaged ones
        frame = bytearray(damaged.get(index, frames[index]))
        if not frame:
            continue
        pos = (where // n) % len(frame)
        if op == "delete":
            del frame[pos:pos + size]
        else:
            frame[pos] ^= int(rng.integers(1, 256))
        damaged[index] = bytes(frame)
    stream = b"".join(damaged.get(i, f) for i, f in enumerate(frames))
    events = run(stream, chunks)
    # where receives end: a shortened frame whose L bytes end exactly there, with nothing
    # beyond them yet and no other receive ending in its last 8 bytes, looks complete (its
    # misalignment shows only with the next bytes; real receives end there by coincidence)
    ends, pos, k = set(), 0, 0
    while pos < len(stream):
        pos += chunks[k % len(chunks)]
        k += 1
        ends.add(min(pos, len(stream)))
    blind = {bytes(stream[e - L:e]) for e in ends
             if e >= L and not any(e - 8 <= other < e for other in ends)}
    # every byte is in exactly one event, in stream order
    assert b"".join(d for _, d, _ in events) == stream
    offsets = [off for off, _, _ in events]
    assert offsets == sorted(offsets)
    # accepted frames are original frames, never a mix; a changed byte inside a timestamp or
    # data word cannot be detected (§3.3): a damaged frame of full length may be accepted
    # with its changed bytes, a shortened one never
    for data in accepted(events):
        assert data in frames or data in [d for d in damaged.values() if len(d) == L] \
            or data in blind
    # every intact frame followed by an intact frame (or by nothing) is accepted; one
    # followed by a damaged frame usually is too (test_lost_bytes_at_the_head_...),
    # but with data words full of FF FF the evidence can be ambiguous, and the framer
    # then quarantines rather than guesses
    for i, frame in enumerate(frames):
        if i not in damaged and i + 1 not in damaged:
            assert frame in accepted(events), i


# Hostile streams: arbitrary garbage between valid frames. Frames arrive as a controller
# pushes them (one acquisition at a time: a frame's last byte ends a receive); garbage
# arrives in any pieces and may hold delimiters, plausible heads and runs of 0xFF.
def clean_frames(n, seed):
    """Valid frames whose data and timestamps never look like a delimiter or a shot word."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        frame = bytearray(rng.integers(0x80, 0xFF, L, dtype=np.uint8).tobytes())
        frame[:2] = b"\xff\xff"
        for d in PLAN.datasets:
            frame[d.offset:d.offset + 2] = (PLAN.shots + 2).to_bytes(2, "little")
        frames.append(bytes(frame))
    return frames


garbage_piece = st.one_of(
    st.binary(max_size=3 * L),
    st.integers(1, 4 * L).map(lambda n: b"\xff" * n),
    st.binary(max_size=L).map(lambda b: b"\xff\xff\x81\x82\x83\x84" + (PLAN.shots + 2)
                              .to_bytes(2, "little") + b),
)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1000), n=st.integers(1, 6),
       garbage=st.lists(st.lists(garbage_piece, max_size=3), min_size=7, max_size=7),
       cuts=st.lists(st.integers(1, 4096), min_size=1, max_size=5))
def test_garbage_between_valid_frames_every_frame_saved_memory_bounded(seed, n, garbage, cuts):
    frames = clean_frames(n, seed)
    framer = new_framer()
    capacity = framer.capacity
    receives = []  # (bytes, stream offset where a valid frame ends or None)
    stream = b""
    for i in range(n + 1):
        junk = b"".join(garbage[i])
        for k in range(0, len(junk), cuts[i % len(cuts)]):
            receives.append(junk[k:k + cuts[i % len(cuts)]])
        if i < n:
            receives.append(frames[i])
        stream += junk + (frames[i] if i < n else b"")
    events = []
    for t, data in enumerate(receives):
        view = framer.writable()
        view[:len(data)] = data
        del view
        framer.commit(len(data), received=float(t))
        while (e := framer.next_event()) is not NEED_DATA:
            events.append((bytes(e.data), e))  # a frame's view is valid until the next receive
        assert framer.buffered <= framer.hold_limit
        assert framer.capacity == capacity  # the buffer never grew
    framer.end_of_stream()
    while (e := framer.next_event()) is not NEED_DATA:
        events.append((bytes(e.data), e))
    # every byte in exactly one event, in order
    assert b"".join(d for d, _ in events) == stream
    assert all(a.stream_offset + len(d) == b.stream_offset
               for (d, a), (_, b) in zip(events, events[1:]))
    # every valid frame saved where it was, with the time of the receive that ended it
    saved = {e.stream_offset: (d, e) for d, e in events if isinstance(e, Frame)}
    offset = 0
    for i in range(n):
        offset += len(b"".join(garbage[i]))
        assert offset in saved and saved[offset][0] == frames[i], i
        assert receives[int(saved[offset][1].received)] == frames[i]
        offset += L


def test_random_bytes_are_released_at_once_and_signal_lost_synchronisation():
    rng = np.random.default_rng(5)
    dec = FrameDecoder(PLAN)
    framer = Framer(L, dec.problem, recv_chunk=4096, head_check=dec.follows,
                    head_length=dec.head_length, shot_word_range=dec.shot_word_range,
                    lost_sync_seconds=5.0)
    released = 0
    lost_at = None
    for t in range(200):
        framer.feed(rng.integers(0, 256, 1000, dtype=np.uint8).tobytes(), received=t * 0.01)
        while (e := framer.next_event()) is not NEED_DATA:
            assert isinstance(e, Quarantined)
            released += len(e.data)
        assert framer.buffered <= framer.hold_limit
        if lost_at is None and framer.sync_lost(t * 0.01):
            lost_at = framer.stream_position
    assert framer.stream_position - released <= framer.hold_limit
    assert lost_at is not None and lost_at <= 3 * L + 1000 + framer.hold_limit
    assert "no valid frame" in framer.sync_lost(2.0)


def test_lost_synchronisation_after_seconds_of_slow_damage():
    framer = new_framer()
    framer.lost_sync_seconds = 3.0
    framer.feed(b"\x00" * 10, received=100.0)
    assert framer.next_event() is NEED_DATA  # less than a frame length: held
    framer.feed(b"\x00" * L, received=101.0)
    assert isinstance(framer.next_event(), Quarantined)
    assert framer.sync_lost(102.9) is None
    assert "3.0 s" in framer.sync_lost(103.0)
    frames = make_frames(1)
    framer.feed(frames[0], received=104.0)
    while framer.next_event() is not NEED_DATA:
        pass
    assert framer.sync_lost(200.0) is None  # a valid frame resets it


def test_peak_buffer_stays_within_the_bound_for_a_stream_of_ff():
    framer = new_framer()
    for _ in range(100):
        framer.feed(b"\xff" * 1000)
        while framer.next_event() is not NEED_DATA:
            pass
    assert framer.peak_held <= framer.hold_limit

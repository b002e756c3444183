"""Decoding pushed frames into 32-bit accumulated profiles (vectorised numpy).

Spec: PROTOCOL.md §3.2 (frame layout), §3.3 (validity: shot words), §4
(raw words -> counts, clip flags); physical units are in
:mod:`licelpush.physical`. A :class:`FrameDecoder` is
built once per :class:`~licelpush.plan.MPushPlan` and precomputes every index,
so checking and decoding a frame is a handful of numpy operations per channel
on a zero-copy ``'<u2'`` view of the frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from licelpush.plan import SHOT_COUNTER_OFFSET, Channel, MPushPlan
from licelpush.wordlayout import (
    FRAME_DELIMITER,
    HEAD_LENGTH,
    MSW_HIGH_MASK,
    PC_DATA_MASK,
    PHM_ANALOGUE_BIT,
    PHM_PC_MASK,
    TIMESTAMP,
    U16,
    U32,
    AnalogueWords,
    frame_timestamp,
)

MAX_FRAME_INTERVAL_MS = 86_400_000
"""Assumed: consecutive frames of one push connection are at most a day apart
(65533 shots at 1 Hz take 18 h)."""


@dataclass(frozen=True)
class DecodedFrame:
    """One acquisition: controller timestamp, shot words and a profile per channel."""

    timestamp_ms: int
    shot_words: tuple[int, ...]
    """Raw shot word of every dataset, in plan order (true shots + 2)."""
    profiles: tuple[np.ndarray, ...]
    """uint32 accumulated counts per plan channel, ``bins - 1`` values each."""
    clipped_bins: tuple[int, ...]
    """Number of bins with the clip flag set, per channel (0 for photon counting)."""
    shots: tuple[int, ...]
    """True shot count per channel (shot word of its first dataset - 2)."""


class FrameDecoder:
    """Checks and decodes frames of one plan."""

    def __init__(self, plan: MPushPlan) -> None:
        self.plan = plan
        self.frame_length = plan.frame_length
        first = np.empty(len(plan.datasets), dtype=np.intp)
        for group in plan.memory_groups:
            first[list(group)] = group[0]
        self._group_first_list = first.tolist()
        self._big_endian = plan.big_endian_timestamp
        self._group_first = first
        self._shot_offsets = np.array([d.offset for d in plan.datasets], dtype=np.intp)
        self._max_shot_word = plan.shots + SHOT_COUNTER_OFFSET
        # All shot words in one C call: skip to each dataset's shot word, read it.
        layout, position = ["<"], 0
        for d in plan.datasets:
            layout.append(f"{d.offset - position}xH")
            position = d.offset + 2
        self._shot_struct = struct.Struct("".join(layout))
        self._channel_first = tuple(c.sources[0] for c in plan.channels)
        tables: dict[int, np.ndarray] = {}
        decoders = []
        for c in plan.channels:
            slices = self._channel_slices(c)
            if not c.analogue:
                decoders.append((_decode_pc, 0, slices))
            elif c.values <= TABLE_DECODE_MAX_VALUES and len(slices) == 2:
                adc = c.hardware.adc_bits
                if adc not in tables:
                    tables[adc] = _upper_word_table(adc)
                clip_bit = AnalogueWords(adc).clip_bit
                decoders.append((_decode_analogue_table, (tables[adc], clip_bit), slices))
            else:
                decoders.append((_decode_analogue, AnalogueWords(c.hardware.adc_bits), slices))
        self._decoders = tuple(decoders)

    def _channel_slices(self, channel: Channel) -> tuple[slice, ...]:
        """Word slices of the channel's raw datasets, raw word 0 dropped (§4)."""
        slices = []
        for index in channel.sources:
            d = self.plan.datasets[index]
            start = d.data_offset // 2 + 1
            slices.append(slice(start, start + d.bins - 1))
        return tuple(slices)

    def problem(self, frame: bytes | bytearray | memoryview) -> str | None:
        """Why ``frame`` is not a valid frame of this plan, or ``None`` (§3.3)."""
        if len(frame) != self.frame_length:
            return f"frame is {len(frame)} bytes, expected {self.frame_length}"
        if frame[:2] != FRAME_DELIMITER:
            return "frame does not start with FF FF"
        shot_words = self._shot_struct.unpack_from(frame)
        first = shot_words[0]
        if (shot_words.count(first) == len(shot_words)
                and SHOT_COUNTER_OFFSET <= first <= self._max_shot_word):
            return None  # the usual case: one plausible shot count throughout
        return self._shot_problem(frame)

    def _shot_problem(self, frame: bytes | bytearray | memoryview) -> str | None:
        """The full shot-word check of :meth:`problem` (§3.3), with the first culprit.

        Plain Python over the unpacked words: a hostile stream asks this of every
        candidate frame start, so it must stay cheap.
        """
        shot_words = self._shot_struct.unpack_from(frame)
        top = self._max_shot_word
        for i, word in enumerate(shot_words):
            if not SHOT_COUNTER_OFFSET <= word <= top:
                return (f"shot word {word} of {self._describe(i)} is outside "
                        f"{SHOT_COUNTER_OFFSET}..{top} (shots + 2)")
        for i, j in enumerate(self._group_first_list):
            if shot_words[i] != shot_words[j]:
                return (f"inconsistent shot words in one memory: {self._describe(j)} has "
                        f"{shot_words[j]}, {self._describe(i)} has {shot_words[i]}")
        return None

    def shots_plausible(self, buffer: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Vectorised shot-word check (§3.3) of frames starting at each of ``starts`` in
        ``buffer`` (uint8; every frame complete): a bool per start. Lets the framer
        rule out a run of candidate frame starts in one numpy pass."""
        alive = np.arange(len(starts))
        for offset in self._shot_offsets:  # range first, one dataset at a time: most fail early
            where = starts[alive] + offset
            word = buffer[where].astype(np.uint16) | buffer[where + 1].astype(np.uint16) << 8
            alive = alive[(word >= SHOT_COUNTER_OFFSET) & (word <= self._max_shot_word)]
            if not len(alive):
                break
        good = np.zeros(len(starts), dtype=bool)
        if len(alive):
            index = starts[alive][:, None] + self._shot_offsets[None, :]
            words = buffer[index].astype(np.uint16) | buffer[index + 1].astype(np.uint16) << 8
            good[alive] = (words == words[:, self._group_first]).all(axis=1)
        return good

    @property
    def shot_word_range(self) -> tuple[int, int]:
        """Plausible raw shot words: 2 (no shot yet) to shots + 2 (§3.3)."""
        return SHOT_COUNTER_OFFSET, self._max_shot_word

    @property
    def big_endian_timestamp(self) -> bool:
        """Byte order :meth:`timestamp` reads (the plan's, until :meth:`use_byte_order`)."""
        return self._big_endian

    def use_byte_order(self, big_endian: bool) -> None:
        """Read timestamps in this byte order from now on (when the data contradict the IDN)."""
        self._big_endian = big_endian

    @property
    def head_length(self) -> int:
        """Bytes :meth:`follows` needs: delimiter, timestamp, first shot word."""
        return HEAD_LENGTH

    def follows(self, frame: bytes | bytearray | memoryview,
                head: bytes | bytearray | memoryview) -> bool:
        """Can the 8 bytes ``head`` start the frame that follows ``frame``?

        Delimiter, a plausible first shot word, and a controller timestamp at
        most :data:`MAX_FRAME_INTERVAL_MS` after the one of ``frame`` (modulo
        2**32) in either byte order, so that a controller whose IDN names the
        wrong order never makes a good frame invalid. The framer asks this of
        the bytes after a frame, so that an ``FF FF`` inside data words is not
        taken for the next delimiter (§3.3).
        """
        if head[:2] != FRAME_DELIMITER:
            return False
        word = head[TIMESTAMP.stop] | head[TIMESTAMP.stop + 1] << 8
        if not SHOT_COUNTER_OFFSET <= word <= self._max_shot_word:
            return False
        for order in ("big", "little"):
            delta = (int.from_bytes(head[TIMESTAMP], order)
                     - int.from_bytes(frame[TIMESTAMP], order))
            if delta & 0xFFFFFFFF <= MAX_FRAME_INTERVAL_MS:
                return True
        return False

    def _describe(self, index: int) -> str:
        d = self.plan.datasets[index]
        return f"TR{d.recorder} {d.kind} {d.memory} (dataset {index}, byte {d.offset})"

    def timestamp(self, frame: bytes | bytearray | memoryview) -> int:
        """Controller timestamp in ms (big-endian for ColdFireEthernet, §3.2)."""
        return frame_timestamp(frame, self._big_endian)

    def decode(self, frame: bytes | bytearray | memoryview) -> DecodedFrame:
        """Decode a frame that :meth:`problem` accepted (§4)."""
        words = np.frombuffer(frame, dtype=U16, count=self.frame_length // 2)
        shot_words = self._shot_struct.unpack_from(frame)
        profiles: list[np.ndarray] = []
        clipped: list[int] = []
        for fn, layout, slices in self._decoders:
            value, clips = fn(layout, words, slices)
            profiles.append(value)
            clipped.append(clips)
        return DecodedFrame(
            self.timestamp(frame),
            shot_words,
            tuple(profiles),
            tuple(clipped),
            tuple([shot_words[i] - SHOT_COUNTER_OFFSET for i in self._channel_first]),
        )


TABLE_DECODE_MAX_VALUES = 4096
"""Analogue channels up to this many values are decoded through a lookup table
of the MSW (fewer numpy calls); longer ones arithmetically (less memory traffic)."""


def _upper_word_table(adc_bits: int) -> np.ndarray:
    """value bits 16-31 contributed by each possible MSW (§4), as uint32."""
    layout = AnalogueWords(adc_bits)
    msw = np.arange(1 << 16, dtype=U32)
    table = (msw & layout.msw_low_mask) << 16
    if adc_bits != 12:
        table |= (msw & MSW_HIGH_MASK) << 15
    return table


def _decode_analogue_table(table_and_clip: tuple[np.ndarray, int], words: np.ndarray,
                           slices: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    table, clip_bit = table_and_clip
    msw = words[slices[1]]
    value = table.take(msw)
    value |= words[slices[0]]
    return value, int(np.count_nonzero(msw & clip_bit))


# The arithmetic decoders build the upper 16 bits of each value in uint16 arithmetic
# (half the memory traffic of uint32), widen once and merge the LSW.


def _decode_analogue(layout: AnalogueWords, words: np.ndarray,
                     slices: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    msw = words[slices[1]]
    clips = np.count_nonzero(msw & layout.clip_bit)
    if layout.adc_bits == 12:
        high = msw & layout.msw_low_mask  # value bits 16-23
    else:
        high = msw >> 1  # MSW bits 13-15 -> value bits 28-30
        high &= MSW_HIGH_MASK >> 1
        high |= msw & layout.msw_low_mask  # MSW bits 0-11 -> value bits 16-27
        if len(slices) > 2:
            phm = words[slices[2]] & PHM_ANALOGUE_BIT  # PHM bit 8 -> value bit 31
            phm <<= 7
            high |= phm
    value = high.astype(U32)
    value <<= 16
    value |= words[slices[0]]
    return value, int(clips)


def _decode_pc(_layout: object, words: np.ndarray,
               slices: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    if len(slices) > 1:
        value = (words[slices[1]] & PHM_PC_MASK).astype(U32)  # PHM bits 0-7 -> bits 16-23
        value <<= 16
        value |= words[slices[0]]
        return value, 0
    value = words[slices[0]].astype(U32)
    value &= PC_DATA_MASK  # bit 15 is a flag, not data
    return value, 0


def decode_raw_words(adc_bits: int, analogue: bool,
                     raw: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Combine the raw datasets of one memory read with ``DATA?`` (§2, §4).

    ``raw`` holds equally long uint16 arrays, word 0 included: (LSW, MSW[, PHM])
    for analogue, (PC[, PHM]) for photon counting. Returns the uint32 values
    (word 0 dropped) and a uint32 array of per-value clip flags (1 where the
    MSW clip bit is set; all 0 for photon counting). The push decoder's layout
    functions do the work.
    """
    lengths = {len(r) for r in raw}
    if len(lengths) != 1 or not raw or len(raw) > 3:
        raise ValueError(f"raw datasets of one memory must be 1-3 arrays of one length, "
                         f"got lengths {[len(r) for r in raw]}")
    n = lengths.pop()
    words = np.concatenate([np.asarray(r, dtype=U16) for r in raw])
    slices = tuple(slice(i * n + 1, (i + 1) * n) for i in range(len(raw)))
    if analogue:
        layout = AnalogueWords(adc_bits)
        value, _ = _decode_analogue(layout, words, slices)
        clips = (words[slices[1]] & layout.clip_bit) != 0
    else:
        value, _ = _decode_pc(None, words, slices)
        clips = np.zeros(max(n - 1, 0), dtype=bool)
    return value, clips.astype(U32)


def combine_squared(raw: tuple[np.ndarray, ...]) -> np.ndarray:
    """Sums of squares from raw words, low word first (A2L/A2M/A2H or P2L/P2M, §2).

    Each array includes word 0, which is dropped; returns uint64 values.
    """
    value = np.zeros(max(len(raw[0]) - 1, 0), dtype=np.uint64)
    for i, words in enumerate(raw):
        value |= np.asarray(words[1:], dtype=np.uint64) << np.uint64(16 * i)
    return value

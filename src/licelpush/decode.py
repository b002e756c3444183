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

from licelpush.plan import FRAME_DELIMITER, SHOT_COUNTER_OFFSET, Channel, MPushPlan

U16 = np.dtype("<u2")
U32 = np.dtype("<u4")

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
        self._shot_index = np.array([d.offset // 2 for d in plan.datasets], dtype=np.intp)
        first = np.empty(len(plan.datasets), dtype=np.intp)
        for group in plan.memory_groups:
            first[list(group)] = group[0]
        self._group_first = first
        self._max_shot_word = plan.shots + SHOT_COUNTER_OFFSET
        self._byteorder = "big" if plan.big_endian_timestamp else "little"
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
                decoders.append((_decode_analogue_table, (tables[adc], _clip_bit(adc)), slices))
            else:
                decoders.append((_decode_analogue, c.hardware.adc_bits, slices))
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
        """The full shot-word check of :meth:`problem` (§3.3), with the first culprit."""
        words = np.frombuffer(frame, dtype=U16)
        shot_words = words[self._shot_index]
        bad = (shot_words > self._max_shot_word) | (shot_words < SHOT_COUNTER_OFFSET)
        if bad.any():
            i = int(np.argmax(bad))
            return (f"shot word {int(shot_words[i])} of {self._describe(i)} is outside "
                    f"{SHOT_COUNTER_OFFSET}..{self._max_shot_word} (shots + 2)")
        mismatch = shot_words != shot_words[self._group_first]
        if mismatch.any():
            i = int(np.argmax(mismatch))
            j = int(self._group_first[i])
            return (f"inconsistent shot words in one memory: {self._describe(j)} has "
                    f"{int(shot_words[j])}, {self._describe(i)} has {int(shot_words[i])}")
        return None

    @property
    def head_length(self) -> int:
        """Bytes :meth:`head_ok` needs: delimiter, timestamp, first shot word."""
        return 8

    def follows(self, frame: bytes | bytearray | memoryview,
                head: bytes | bytearray | memoryview) -> bool:
        """Can the 8 bytes ``head`` start the frame that follows ``frame``?

        Delimiter, a plausible first shot word, and a controller timestamp at
        most :data:`MAX_FRAME_INTERVAL_MS` after the one of ``frame`` (modulo
        2**32). The framer asks this of the bytes after a frame, so that an
        ``FF FF`` inside data words is not taken for the next delimiter (§3.3).
        """
        if head[:2] != FRAME_DELIMITER:
            return False
        word = head[6] | head[7] << 8
        if not SHOT_COUNTER_OFFSET <= word <= self._max_shot_word:
            return False
        delta = (self.timestamp(head) - self.timestamp(frame)) & 0xFFFFFFFF
        return delta <= MAX_FRAME_INTERVAL_MS

    def _describe(self, index: int) -> str:
        d = self.plan.datasets[index]
        return f"TR{d.recorder} {d.kind} {d.memory} (dataset {index}, byte {d.offset})"

    def timestamp(self, frame: bytes | bytearray | memoryview) -> int:
        """Controller timestamp in ms (big-endian for ColdFireEthernet, §3.2)."""
        return int.from_bytes(frame[2:6], self._byteorder)

    def decode(self, frame: bytes | bytearray | memoryview) -> DecodedFrame:
        """Decode a frame that :meth:`problem` accepted (§4)."""
        words = np.frombuffer(frame, dtype=U16, count=self.frame_length // 2)
        shot_words = self._shot_struct.unpack_from(frame)
        profiles: list[np.ndarray] = []
        clipped: list[int] = []
        for fn, adc_bits, slices in self._decoders:
            value, clips = fn(adc_bits, words, slices)
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


def _clip_bit(adc_bits: int) -> int:
    """The MSW clip flag (§4): bit 8 for a 12-bit ADC, bit 12 for 16 bits."""
    return 0x0100 if adc_bits == 12 else 0x1000


def _upper_word_table(adc_bits: int) -> np.ndarray:
    """value bits 16-31 contributed by each possible MSW (§4), as uint32."""
    msw = np.arange(1 << 16, dtype=U32)
    if adc_bits == 12:
        return (msw & 0x00FF) << 16
    return ((msw & 0x0FFF) << 16) | ((msw & 0xE000) << 15)


def _decode_analogue_table(table_and_clip: tuple[np.ndarray, int], words: np.ndarray,
                           slices: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    table, clip_bit = table_and_clip
    msw = words[slices[1]]
    value = table.take(msw)
    value |= words[slices[0]]
    return value, int(np.count_nonzero(msw & clip_bit))


# The arithmetic decoders build the upper 16 bits of each value in uint16 arithmetic
# (half the memory traffic of uint32), widen once and merge the LSW.


def _decode_analogue(adc_bits: int, words: np.ndarray,
                     slices: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    msw = words[slices[1]]
    if adc_bits == 12:
        high = msw & 0x00FF  # value bits 16-23
        clips = np.count_nonzero(msw & 0x0100)
    else:
        high = msw >> 1  # MSW bits 13-15 -> value bits 28-30
        high &= 0x7000
        high |= msw & 0x0FFF  # MSW bits 0-11 -> value bits 16-27
        clips = np.count_nonzero(msw & 0x1000)
        if len(slices) > 2:
            phm = words[slices[2]] & 0x0100  # PHM bit 8 -> value bit 31
            phm <<= 7
            high |= phm
    value = high.astype(U32)
    value <<= 16
    value |= words[slices[0]]
    return value, int(clips)


def _decode_pc(_adc_bits: int, words: np.ndarray,
               slices: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    if len(slices) > 1:
        value = (words[slices[1]] & 0x00FF).astype(U32)  # PHM bits 0-7 -> value bits 16-23
        value <<= 16
        value |= words[slices[0]]
        return value, 0
    value = words[slices[0]].astype(U32)
    value &= 0x7FFF  # bit 15 is a flag, not data
    return value, 0

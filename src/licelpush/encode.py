"""Encoding accumulated profiles into a pushed frame: the inverse of :mod:`licelpush.decode`.

Spec: PROTOCOL.md §3.2 (frame layout) and §4 read backwards. The emulator
builds its frames with :class:`FrameEncoder`, and tests and benchmarks use it
to prepare byte streams; because it follows the same plan as the decoder, a
frame it builds decodes back to exactly the profiles it was given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from licelpush.plan import SHOT_COUNTER_OFFSET, MPushPlan
from licelpush.wordlayout import (
    MSW_HIGH_MASK,
    PHM_ANALOGUE_BIT,
    PHM_PC_MASK,
    U16,
    AnalogueWords,
    frame_head,
    pc_limit,
)


def analogue_limit(adc_bits: int, with_phm: bool) -> int:
    """Largest accumulated analogue value the raw words can carry (§4)."""
    return AnalogueWords(adc_bits).limit(with_phm)


class FrameEncoder:
    """Builds frames of one plan from per-channel profiles."""

    def __init__(self, plan: MPushPlan) -> None:
        self.plan = plan

    def encode(
        self,
        timestamp_ms: int,
        shots: Sequence[int] | int,
        profiles: Sequence[np.ndarray],
        clipped: Sequence[np.ndarray | None] | None = None,
    ) -> bytes:
        """The frame bytes.

        ``shots`` is the true shot count, one for all channels or one per plan
        channel; ``profiles`` holds ``channel.values`` accumulated counts per
        plan channel (clipped to what the raw words can carry); ``clipped``
        optionally holds a boolean clip-flag array per channel (analogue only).
        Raw word 0 of every dataset is written as 0.
        """
        plan = self.plan
        words = np.zeros(plan.frame_length // 2, dtype=U16)
        head = frame_head(timestamp_ms, plan.big_endian_timestamp)
        per_channel = [shots] * len(plan.channels) if isinstance(shots, int) else list(shots)
        for ci, channel in enumerate(plan.channels):
            value = np.asarray(profiles[ci], dtype=np.int64)
            if value.shape != (channel.values,):
                raise ValueError(f"{channel.label}: profile has shape {value.shape}, "
                                 f"expected ({channel.values},)")
            shot_word = per_channel[ci] + SHOT_COUNTER_OFFSET
            for index in channel.sources:
                words[plan.datasets[index].offset // 2] = shot_word
            flags = None if clipped is None else clipped[ci]
            if channel.analogue:
                layout = AnalogueWords(channel.hardware.adc_bits)
                v = np.clip(value, 0, layout.limit(channel.uses_phm)).astype(np.uint64)
                lsw = v & 0xFFFF
                msw = (v >> 16) & layout.msw_low_mask
                if layout.adc_bits != 12:
                    msw |= (v >> 15) & MSW_HIGH_MASK
                if flags is not None:
                    flag_bits = np.where(np.asarray(flags, dtype=bool), layout.clip_bit, 0)
                    msw = msw | flag_bits.astype(np.uint64)
                self._put(words, channel.sources[0], lsw)
                self._put(words, channel.sources[1], msw)
                if channel.uses_phm:
                    self._phm(words, channel.sources[2], (v >> 23) & PHM_ANALOGUE_BIT)
            else:
                v = np.clip(value, 0, pc_limit(channel.uses_phm)).astype(np.uint64)
                self._put(words, channel.sources[0], v & 0xFFFF)
                if channel.uses_phm:
                    self._phm(words, channel.sources[1], (v >> 16) & PHM_PC_MASK)
        body = words.tobytes()
        return head + body[len(head):]

    def _put(self, words: np.ndarray, index: int, values: np.ndarray) -> None:
        start = self.plan.datasets[index].data_offset // 2 + 1
        words[start:start + len(values)] = values

    def _phm(self, words: np.ndarray, index: int, bits: np.ndarray) -> None:
        """PHM words carry the analogue bit 8 and the PC bits 0-7 of one memory (§4).

        When analogue and photon counting of one memory both need PHM, the
        plan requests the memory's PHM dataset twice; each copy carries both parts.
        """
        d = self.plan.datasets[index]
        for other in self.plan.datasets:
            if other.kind == "PHM" and other.recorder == d.recorder and other.memory == d.memory:
                start = other.data_offset // 2 + 1
                n = min(len(bits), other.bins - 1)
                words[start:start + n] |= bits[:n].astype(U16)

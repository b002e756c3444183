"""Encoding accumulated profiles into a pushed frame: the inverse of :mod:`licelpush.decode`.

Spec: PROTOCOL.md §3.2 (frame layout) and §4 read backwards. The emulator
builds its frames with :class:`FrameEncoder`, and tests and benchmarks use it
to prepare byte streams; because it follows the same plan as the decoder, a
frame it builds decodes back to exactly the profiles it was given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from licelpush.plan import FRAME_DELIMITER, SHOT_COUNTER_OFFSET, MPushPlan

U16 = np.dtype("<u2")


def analogue_limit(adc_bits: int, with_phm: bool) -> int:
    """Largest accumulated analogue value the raw words can carry (§4)."""
    if adc_bits == 12:
        return (1 << 24) - 1
    return (1 << 32) - 1 if with_phm else (1 << 31) - 1


def pc_limit(with_phm: bool) -> int:
    """Largest accumulated photon count the raw words can carry (§4)."""
    return (1 << 24) - 1 if with_phm else (1 << 15) - 1


class FrameEncoder:
    """Builds frames of one plan from per-channel profiles."""

    def __init__(self, plan: MPushPlan) -> None:
        self.plan = plan
        self._byteorder = "big" if plan.big_endian_timestamp else "little"

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
        stamp = (timestamp_ms & 0xFFFFFFFF).to_bytes(4, self._byteorder)
        frame_head = FRAME_DELIMITER + stamp
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
                adc = channel.hardware.adc_bits
                v = np.clip(value, 0, analogue_limit(adc, channel.uses_phm)).astype(np.uint64)
                lsw = v & 0xFFFF
                if adc == 12:
                    msw = (v >> 16) & 0x00FF
                    clip_bit = 0x0100
                else:
                    msw = ((v >> 16) & 0x0FFF) | ((v >> 15) & 0xE000)
                    clip_bit = 0x1000
                if flags is not None:
                    flag_bits = np.where(np.asarray(flags, dtype=bool), clip_bit, 0)
                    msw = msw | flag_bits.astype(np.uint64)
                self._put(words, channel.sources[0], lsw)
                self._put(words, channel.sources[1], msw)
                if channel.uses_phm:
                    self._phm(words, channel.sources[2], (v >> 23) & 0x0100)
            else:
                v = np.clip(value, 0, pc_limit(channel.uses_phm)).astype(np.uint64)
                self._put(words, channel.sources[0], v & 0xFFFF)
                if channel.uses_phm:
                    self._phm(words, channel.sources[1], (v >> 16) & 0x00FF)
        body = words.tobytes()
        return frame_head + body[len(frame_head):]

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

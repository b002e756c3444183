"""The layout of a pushed frame's head and of its raw words, stated once.

Spec: PROTOCOL.md §3.2 (frame: ``FF FF``, 4-byte controller timestamp, then
per raw dataset a shot word and its uint16 words) and §4 (how an accumulated
value is split over LSW, MSW and PHM words, and the clip flag). The decoder,
the encoder, the framer and the emulator all use these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

U16 = np.dtype("<u2")
"""Raw words and shot words: little-endian uint16."""
U32 = np.dtype("<u4")
FRAME_DELIMITER = b"\xff\xff"
"""Every pushed frame starts with these two bytes (§3.2)."""
TIMESTAMP = slice(2, 6)
"""Bytes of the controller timestamp (ms, uint32; big-endian on ColdFireEthernet)."""
FRAME_HEADER_BYTES = TIMESTAMP.stop
"""Delimiter (2) + controller timestamp (4)."""
HEAD_LENGTH = FRAME_HEADER_BYTES + U16.itemsize
"""Bytes that tell whether a frame starts here: delimiter, timestamp, first shot word."""
PHM_ANALOGUE_BIT = 0x0100
"""PHM bit 8 carries analogue value bit 31 (16-bit ADC, §4)."""
PHM_PC_MASK = 0x00FF
"""PHM bits 0-7 carry photon-count bits 16-23 (§4)."""
PC_DATA_MASK = 0x7FFF
"""A PC word without PHM: bit 15 is a flag, not data."""
MSW_HIGH_MASK = 0xE000
"""16-bit ADC: MSW bits 13-15 carry value bits 28-30 (§4)."""


@dataclass(frozen=True)
class AnalogueWords:
    """How one ADC width splits an accumulated analogue value over LSW and MSW (§4)."""

    adc_bits: int

    @property
    def clip_bit(self) -> int:
        """The MSW clip flag: bit 8 for a 12-bit ADC, bit 12 for 16 bits."""
        return 0x0100 if self.adc_bits == 12 else 0x1000

    @property
    def msw_low_mask(self) -> int:
        """MSW bits that carry value bits 16 and up (from bit 0)."""
        return 0x00FF if self.adc_bits == 12 else 0x0FFF

    def limit(self, with_phm: bool) -> int:
        """Largest accumulated value the raw words can carry."""
        if self.adc_bits == 12:
            return (1 << 24) - 1
        return (1 << 32) - 1 if with_phm else (1 << 31) - 1


def pc_limit(with_phm: bool) -> int:
    """Largest accumulated photon count the raw words can carry (§4)."""
    return (1 << 24) - 1 if with_phm else (1 << 15) - 1


def frame_head(timestamp_ms: int, big_endian: bool) -> bytes:
    """Delimiter and controller timestamp (modulo 2**32) of a frame."""
    return FRAME_DELIMITER + (timestamp_ms & 0xFFFFFFFF).to_bytes(
        TIMESTAMP.stop - TIMESTAMP.start, "big" if big_endian else "little")


def frame_timestamp(frame: bytes | bytearray | memoryview, big_endian: bool) -> int:
    """The controller timestamp (ms) of a frame."""
    return int.from_bytes(frame[TIMESTAMP], "big" if big_endian else "little")

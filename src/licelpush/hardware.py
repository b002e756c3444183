"""Hardware description of a transient recorder, as ``TRTYPE?`` reports it.

Spec: PROTOCOL.md §2 (``TRTYPE?`` row) and §5 (HWCAP bits). The reply is
split on spaces; tokens 3, 6, 8, 10, 12, 14 and 16 carry ADC bits, PC bits,
FIFO length, bin width (m), ID, HWCAP and bin shift. The labels between them
are assumed wordings; :func:`format_trtype` and :func:`parse_trtype` are the
one place that knows the layout, for both the client and the emulator.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from licelpush.limits import MAX_BIN_SHIFT, MAX_RECORDER_ADDRESS, MAX_TRTYPE_BIN_WIDTH_M

_TOKENS: tuple[tuple[str, int], ...] = (
    ("adc_bits", 3), ("pc_bits", 6), ("fifo_length", 8), ("bin_width_m", 10),
    ("id", 12), ("hwcap", 14), ("bin_shift", 16),
)
"""(field, token index) of the TRTYPE? reply (§2)."""


@dataclass(frozen=True)
class RecorderHardware:
    """What ``TRTYPE?`` says of one recorder."""

    adc_bits: int = 16
    pc_bits: int = 4
    fifo_length: int = 16384
    bin_width_m: float = 3.75
    id: int = 1
    hwcap: int = 0x7F
    bin_shift: float = 3.5

    def __post_init__(self) -> None:
        if self.adc_bits not in (12, 16):
            raise ValueError(f"ADC bits must be 12 or 16, not {self.adc_bits}")
        if self.pc_bits not in (0, 4, 6, 8):
            raise ValueError(f"PC bits must be 0, 4, 6 or 8, not {self.pc_bits}")
        if self.fifo_length < 2:
            raise ValueError(f"FIFO length must be at least 2, not {self.fifo_length}")
        if not 0 < self.bin_width_m <= MAX_TRTYPE_BIN_WIDTH_M:
            raise ValueError(f"bin width must be above 0 and at most {MAX_TRTYPE_BIN_WIDTH_M:g} m, "
                             f"not {self.bin_width_m}")
        if not (math.isfinite(self.bin_shift) and 0 <= self.bin_shift <= MAX_BIN_SHIFT):
            raise ValueError(f"bin shift must be 0 to {MAX_BIN_SHIFT}, not {self.bin_shift}")


def format_trtype(hw: RecorderHardware) -> str:
    """The ``TRTYPE?`` reply text for ``hw`` (without CRLF)."""
    return (
        f"TRTYPE ADC Bits {hw.adc_bits} PC Bits {hw.pc_bits} FIFOLength {hw.fifo_length} "
        f"binwidth {hw.bin_width_m:g} ID {hw.id} HWCAP 0x{hw.hwcap:02X} "
        f"binshift {hw.bin_shift:g} raw 0"
    )


def parse_trtype(reply: str) -> RecorderHardware:
    """Parse a ``TRTYPE?`` reply; raises ``ValueError`` naming the bad token."""
    tokens = reply.split()
    if len(tokens) <= max(index for _, index in _TOKENS):
        raise ValueError(f"TRTYPE reply has {len(tokens)} tokens, expected at least 17: {reply!r}")
    values: dict[str, int | float] = {}
    for field, index in _TOKENS:
        token = tokens[index]
        try:
            if field == "hwcap":
                values[field] = int(token, 16) if token.lower().startswith("0x") else int(token)
            elif field in ("bin_width_m", "bin_shift"):
                values[field] = float(token.replace(",", "."))
            else:
                values[field] = int(token)
        except ValueError:
            raise ValueError(
                f"TRTYPE reply token {index} ({field}) is {token!r}, not a number: {reply!r}"
            ) from None
    try:
        return RecorderHardware(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"TRTYPE reply {reply!r}: {exc}") from None


_RECORDER_ITEM = re.compile(
    r"\s*(\d+)\s*:\s*(\d+)\s*/\s*(\d+)(?:\s*/\s*([0-9.]+))?(?:\s*/\s*(\d+))?\s*")
RECORDER_SPEC_SYNTAX = "ADDRESS:ADCBITS/PCBITS[/BINWIDTH_M[/FIFOLENGTH]], e.g. 0:16/4 or 1:12/4/7.5"


def parse_recorder_spec(spec: str, default: RecorderHardware = RecorderHardware()
                        ) -> dict[int, RecorderHardware]:
    """``addr:ADCbits/PCbits[/binwidth_m[/FIFOlength]]``, comma separated -> hardware.

    Example ``0:16/4,1:12/4/7.5`` = TR0 16-bit ADC 4-bit PC, TR1 12-bit 4-bit
    with 7.5 m bins; what an item leaves out comes from ``default``, ``id`` is
    address + 1. Empty items are skipped. Raises ``ValueError`` naming the bad
    item.
    """
    recorders: dict[int, RecorderHardware] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        match = _RECORDER_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"recorder {item!r}: expected {RECORDER_SPEC_SYNTAX}")
        address = int(match[1])
        if not 0 <= address <= MAX_RECORDER_ADDRESS:
            raise ValueError(f"recorder {item!r}: address {address} is outside "
                             f"0..{MAX_RECORDER_ADDRESS}")
        if address in recorders:
            raise ValueError(f"recorder {item!r}: address {address} given twice")
        fields: dict[str, Any] = {"adc_bits": int(match[2]), "pc_bits": int(match[3]),
                                  "id": address + 1}
        if match[4]:
            fields["bin_width_m"] = float(match[4])
        if match[5]:
            fields["fifo_length"] = int(match[5])
        try:
            recorders[address] = replace(default, **fields)
        except ValueError as exc:
            raise ValueError(f"recorder {item!r}: {exc}") from None
    return recorders

"""Hardware description of a transient recorder, as ``TRTYPE?`` reports it.

Spec: PROTOCOL.md §2 (``TRTYPE?`` row) and §5 (HWCAP bits). The reply is
split on spaces; tokens 3, 6, 8, 10, 12, 14 and 16 carry ADC bits, PC bits,
FIFO length, bin width (m), ID, HWCAP and bin shift. The labels between them
are assumed wordings; :func:`format_trtype` and :func:`parse_trtype` are the
one place that knows the layout, for both the client and the emulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from licelpush.headerlimits import MAX_BIN_SHIFT, MAX_TRTYPE_BIN_WIDTH_M

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

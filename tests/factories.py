"""Small builders of configurations and plans for tests (no files needed)."""

from __future__ import annotations

from pathlib import Path

from licelpush.config import (
    MEMORIES,
    AcquisConfig,
    GlobalInfo,
    Laser,
    MemoryConfig,
    RecorderConfig,
)


def memory(letter: str, analogue: bool = False, pc: bool = False, a_bins: int = 100,
           p_bins: int = 100, laser: int = 1, wavelength: float = 532.0,
           polarisation: int = 0) -> MemoryConfig:
    """A memory with the given datasets enabled."""
    return MemoryConfig(letter, analogue, pc, a_bins, p_bins, wavelength, wavelength,
                        polarisation, polarisation, laser, 800.0, 850.0)


def recorder(address: int, enabled: dict[str, tuple[bool, bool]] | None = None,
             a_bins: int = 100, p_bins: int = 100, **kw: object) -> RecorderConfig:
    """A recorder; ``enabled`` maps memory letter -> (analogue, pc)."""
    enabled = enabled if enabled is not None else {"A": (True, True)}
    mems = tuple(memory(m, *enabled.get(m, (False, False)), a_bins=a_bins, p_bins=p_bins)
                 for m in MEMORIES)
    fields = dict(range=1, discriminator=8, threshold=0, pretrigger=False, freq_divider=0,
                  shot_limit=4096)
    fields.update(kw)
    return RecorderConfig(address=address, memories=mems, **fields)  # type: ignore[arg-type]


def config(*recorders: RecorderConfig) -> AcquisConfig:
    """A whole configuration around the given recorders."""
    return AcquisConfig(
        Path("Acquis.ini"),
        GlobalInfo("Leipzig", 12.43, 51.35, 125.0, ".", "lp", 0.0, 0.0),
        (Laser(1, 20.0), Laser(2, 20.0), Laser(3, 10.0), Laser(4, 0.0)),
        recorders or (recorder(0),),
    )

"""Which recorder memory each dataset of a Licel record comes from.

A Licel file names a dataset by its device id (``BT``/``BC`` + recorder in
hex, ``LICEL_FILE_FORMAT.md``, "Dataset lines"), not by its memory. licelpush
writes the datasets of a recorder in memory order A-D, analogue before photon
counting (the MPUSH plan order, PROTOCOL.md §3.1), so the n-th dataset with a
device id belongs to the n-th memory of that recorder with that detection
mode enabled. With the station's Acquis.ini (:func:`memories_of`) that gives
the memory exactly; without it the memories are taken as A, B, C, D in order
(right whenever the enabled memories have no gaps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from licelpush.config import AcquisConfig
from licelpush.licelfile import DatasetHeader
from licelpush.physical import recorder_of

ALL_MEMORIES = "ABCD"

Memories = Mapping[tuple[int, bool], Sequence[str]]
"""(recorder, analogue) -> letters of the memories with that mode enabled, in order."""


@dataclass(frozen=True, order=True)
class ChannelKey:
    """One signal of a station: recorder address, memory letter, analogue or PC."""

    recorder: int
    memory: str
    analogue: bool

    @property
    def name(self) -> str:
        """Variable-name form, e.g. ``tr0_A_an`` / ``tr10_B_pc``."""
        return f"tr{self.recorder}_{self.memory}_{'an' if self.analogue else 'pc'}"

    @property
    def label(self) -> str:
        """Message form, e.g. ``TR0 memory A analogue``."""
        return f"TR{self.recorder} memory {self.memory} {'analogue' if self.analogue else 'PC'}"


def memories_of(config: AcquisConfig) -> dict[tuple[int, bool], tuple[str, ...]]:
    """Enabled memories per (recorder, analogue) of a configuration."""
    out: dict[tuple[int, bool], tuple[str, ...]] = {}
    for recorder in config.active_recorders:
        for analogue in (True, False):
            out[(recorder.address, analogue)] = tuple(
                m.memory for m in recorder.memories
                if (m.analogue if analogue else m.photon_counting))
    return out


def channel_keys(datasets: Sequence[DatasetHeader],
                 memories: Memories | None = None) -> list[ChannelKey | None]:
    """The key of each dataset (None when its device id names no recorder or it has more
    datasets than the recorder has memories)."""
    seen: dict[tuple[int, bool], int] = {}
    keys: list[ChannelKey | None] = []
    for ds in datasets:
        recorder = recorder_of(ds.device_id)
        if recorder is None:
            keys.append(None)
            continue
        n = seen.get((recorder, ds.analogue), 0)
        seen[(recorder, ds.analogue)] = n + 1
        letters = ALL_MEMORIES if memories is None else memories.get((recorder, ds.analogue), ())
        keys.append(ChannelKey(recorder, letters[n], ds.analogue) if n < len(letters) else None)
    return keys

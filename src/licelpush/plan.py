"""The MPUSH plan: which raw datasets are pushed, the command, the frame layout.

Spec: PROTOCOL.md §3.1 (which datasets), §3.2 (frame layout). This module is
the one place that decides them; the client's command, the framer's frame
length, the decoder and the emulator's frame builder all read the plan.

Order (§3.1): per active recorder in configuration order, first its analogue
memories A-D (each ``LSW``, ``MSW`` and, for a 16-bit ADC beyond
:data:`ANALOGUE_PHM_ABOVE` shots, ``PHM``), then its photon-counting memories
(each ``PC`` and, beyond the PC-bits threshold, ``PHM``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from licelpush.config import MEMORIES, AcquisConfig, RecorderConfig
from licelpush.errors import PlanError
from licelpush.hardware import RecorderHardware

FRAME_DELIMITER = b"\xff\xff"
"""Every pushed frame starts with these two bytes (§3.2)."""
FRAME_HEADER_BYTES = 6
"""Delimiter (2) + controller timestamp (4)."""
SHOT_COUNTER_OFFSET = 2
"""Shot counts reported by the controller include +2 (two clearing cycles, §2)."""
MAX_SHOTS = 65535 - SHOT_COUNTER_OFFSET
"""Assumed: the uint16 shot word must hold shots + 2."""

ANALOGUE_PHM_ABOVE = 32764
"""A 16-bit analogue sum needs its PHM word beyond this many shots (§3.1)."""
PC_PHM_ABOVE: Mapping[int, int] = MappingProxyType({4: 4096, 6: 1024, 8: 256})
"""Photon counting needs PHM beyond this many shots, by PC bits (§3.1)."""

RAW_KINDS = ("LSW", "MSW", "PHM", "PC")

DEFAULT_SHOTS = 150
"""Shots per acquisition when none are given (the documented workflow's example)."""


@dataclass(frozen=True)
class RawDataset:
    """One raw dataset of a frame: a shot word followed by ``bins`` uint16 words."""

    recorder: int
    memory: str
    kind: str
    """``LSW``, ``MSW``, ``PHM`` or ``PC``."""
    bins: int
    """Words requested (word 0 is not valid data)."""
    offset: int
    """Byte offset of the dataset's shot word within the frame."""

    @property
    def data_offset(self) -> int:
        """Byte offset of the first raw word (word 0, dropped when decoding)."""
        return self.offset + 2


@dataclass(frozen=True)
class Channel:
    """One decoded profile: the analogue or photon-counting signal of one memory.

    ``sources`` are indices into :attr:`MPushPlan.datasets`: (LSW, MSW[, PHM])
    for analogue, (PC[, PHM]) for photon counting.
    """

    recorder: int
    memory: str
    analogue: bool
    bins: int
    """Requested words; the decoded profile has ``bins - 1`` values."""
    sources: tuple[int, ...]
    hardware: RecorderHardware

    @property
    def uses_phm(self) -> bool:
        """True when a PHM dataset extends the sum (§4)."""
        return len(self.sources) == (3 if self.analogue else 2)

    @property
    def values(self) -> int:
        """Number of decoded values (word 0 dropped)."""
        return self.bins - 1

    @property
    def label(self) -> str:
        """Short name for messages, e.g. ``TR0 A analogue``."""
        return f"TR{self.recorder} {self.memory} {'analogue' if self.analogue else 'PC'}"


@dataclass(frozen=True)
class MPushPlan:
    """Everything that follows from a configuration, the hardware and the shot count."""

    shots: int
    datasets: tuple[RawDataset, ...]
    channels: tuple[Channel, ...]
    command: str
    frame_length: int
    big_endian_timestamp: bool = False
    """Old ``ColdFireEthernet`` controllers push the timestamp big-endian (§2)."""

    @property
    def recorders(self) -> tuple[int, ...]:
        """Recorder addresses in plan order."""
        seen: dict[int, None] = {}
        for d in self.datasets:
            seen.setdefault(d.recorder, None)
        return tuple(seen)

    @property
    def memory_groups(self) -> tuple[tuple[int, ...], ...]:
        """Dataset indices grouped by (recorder, memory): their shot words must agree (§3.3)."""
        groups: dict[tuple[int, str], list[int]] = {}
        for i, d in enumerate(self.datasets):
            groups.setdefault((d.recorder, d.memory), []).append(i)
        return tuple(tuple(g) for g in groups.values())


def analogue_needs_phm(hw: RecorderHardware, shots: int) -> bool:
    """§3.1: a 16-bit ADC sum overflows 31 bits beyond 32764 shots."""
    return hw.adc_bits == 16 and shots > ANALOGUE_PHM_ABOVE


def pc_needs_phm(hw: RecorderHardware, shots: int) -> bool:
    """§3.1: the 15-bit PC sum needs PHM beyond the threshold of its PC bits."""
    threshold = PC_PHM_ABOVE.get(hw.pc_bits)
    return threshold is not None and shots > threshold


def make_plan(
    config: AcquisConfig,
    hardware: Mapping[int, RecorderHardware],
    shots: int,
    *,
    big_endian_timestamp: bool = False,
) -> MPushPlan:
    """Decide the raw datasets, the MPUSH command and the frame length (§3.1).

    ``hardware`` maps each active recorder's address to its ``TRTYPE?``
    description. Raises :class:`PlanError` naming the recorder and memory when
    the configuration cannot be pushed (no active recorder, missing hardware
    description, more bins than the FIFO holds, shots out of range).
    """
    _check_shots(shots)
    recorders = config.active_recorders
    if not recorders:
        raise PlanError(f"{config.path}: no recorder has an enabled dataset; nothing to acquire")
    problems: list[str] = []
    requested: list[tuple[int, int, str, str]] = []
    for rec in recorders:
        hw = hardware.get(rec.address)
        if hw is None:
            problems.append(f"TR{rec.address}: no hardware description (TRTYPE?)")
            continue
        problems.extend(_check_recorder(rec, hw))
        for letter in MEMORIES:
            mem = rec.memory(letter)
            if mem.analogue:
                requested.append((rec.address, mem.analogue_bins, "LSW", letter))
                requested.append((rec.address, mem.analogue_bins, "MSW", letter))
                if analogue_needs_phm(hw, shots):
                    requested.append((rec.address, mem.analogue_bins, "PHM", letter))
        for letter in MEMORIES:
            mem = rec.memory(letter)
            if mem.photon_counting:
                requested.append((rec.address, mem.pc_bins, "PC", letter))
                if pc_needs_phm(hw, shots):
                    requested.append((rec.address, mem.pc_bins, "PHM", letter))
    if problems:
        raise PlanError("; ".join(problems))
    return plan_from_datasets(shots, requested, hardware,
                              big_endian_timestamp=big_endian_timestamp)


def plan_from_datasets(
    shots: int,
    requested: Sequence[tuple[int, int, str, str]],
    hardware: Mapping[int, RecorderHardware],
    *,
    big_endian_timestamp: bool = False,
) -> MPushPlan:
    """The plan of an explicit dataset list ``(recorder, bins, kind, memory)`` in push order.

    Used by :func:`make_plan` and by the emulator, which receives the list in
    an ``MPUSH`` command. Channels follow §3.1: ``LSW`` and ``MSW`` (and a
    ``PHM`` right after them) of one memory form an analogue channel; ``PC``
    (and a ``PHM`` right after it) a photon-counting channel. Raises
    :class:`PlanError` when the list cannot be decoded that way.
    """
    _check_shots(shots)
    datasets: list[RawDataset] = []
    offset = FRAME_HEADER_BYTES
    for recorder, bins, kind, memory in requested:
        if kind not in RAW_KINDS:
            raise PlanError(f"TR{recorder} memory {memory}: unknown raw dataset type {kind!r}")
        datasets.append(RawDataset(recorder, memory, kind, bins, offset))
        offset += 2 + 2 * bins
    channels: list[Channel] = []
    i = 0
    while i < len(datasets):
        d = datasets[i]
        hw = hardware.get(d.recorder)
        if hw is None:
            raise PlanError(f"TR{d.recorder}: no hardware description (TRTYPE?)")
        if d.kind == "LSW":
            kinds = ("LSW", "MSW")
        elif d.kind == "PC":
            kinds = ("PC",)
        else:
            raise PlanError(f"dataset {i} ({d.kind} {d.memory} of TR{d.recorder}) does not "
                            "follow an LSW/MSW pair or a PC dataset of its memory")
        width = len(kinds)
        if (i + width < len(datasets) and datasets[i + width].kind == "PHM"
                and datasets[i + width].memory == d.memory
                and datasets[i + width].recorder == d.recorder):
            width += 1
        members = datasets[i:i + width]
        if (tuple(m.kind for m in members[:len(kinds)]) != kinds
                or any((m.recorder, m.memory, m.bins) != (d.recorder, d.memory, d.bins)
                       for m in members)):
            raise PlanError(f"datasets {i}..{i + width - 1} of TR{d.recorder} memory {d.memory} "
                            f"do not form a channel: {[m.kind for m in members]}")
        channels.append(Channel(d.recorder, d.memory, d.kind == "LSW", d.bins,
                                tuple(range(i, i + width)), hw))
        i += width
    command = format_mpush_command(shots, datasets)
    return MPushPlan(shots, tuple(datasets), tuple(channels), command, offset,
                     big_endian_timestamp)


def shot_limit_notes(config: AcquisConfig, shots: int) -> list[str]:
    """Active recorders whose ``ShotLimit`` is below ``shots`` (a warning, not an
    error: assumed, the MPUSH shot count governs the push, PROTOCOL.md §3.4)."""
    return [
        f"{config.path} [TR{r.address}] ShotLimit = {r.shot_limit} is below {shots} shots "
        f"per acquisition: the recorder may stop accumulating at {r.shot_limit} shots "
        "(files record the true count)"
        for r in config.active_recorders if r.shot_limit and shots > r.shot_limit
    ]


def overflow_notes(plan: MPushPlan) -> list[str]:
    """Channels whose accumulated sum can outgrow the raw words at full scale (§4).

    The PHM rules of §3.1 leave two gaps: a 12-bit analogue sum has 24 bits and
    no PHM, so it can overflow above 4097 shots of full-scale signal; a photon
    count without PHM has 15 bits, which a counter of ``PC bits`` can fill
    before the PHM threshold at very high count rates.
    """
    notes = []
    for recorder in plan.recorders:
        channels = [c for c in plan.channels if c.recorder == recorder]
        hw = channels[0].hardware
        if any(c.analogue for c in channels) and hw.adc_bits == 12 and \
                plan.shots * ((1 << 12) - 1) > (1 << 24) - 1:
            notes.append(f"TR{recorder}: 12-bit analogue sums of {plan.shots} shots can exceed "
                         "the 24 bits the raw words carry at full-scale signal (no PHM for "
                         "12-bit recorders); stay at or below 4097 shots to be safe")
        pc = [c for c in channels if not c.analogue and not c.uses_phm]
        if pc and hw.pc_bits and plan.shots * ((1 << hw.pc_bits) - 1) > (1 << 15) - 1:
            safe = ((1 << 15) - 1) // ((1 << hw.pc_bits) - 1)
            notes.append(f"TR{recorder}: photon counts of {plan.shots} shots can exceed 15 bits "
                         f"at the highest count rates ({hw.pc_bits}-bit counter, no PHM below "
                         f"{PC_PHM_ABOVE.get(hw.pc_bits, 0) + 1} shots); at most {safe} shots "
                         "cannot overflow")
    return notes


def _check_shots(shots: int) -> None:
    if not 1 <= shots <= MAX_SHOTS:
        raise PlanError(f"shots = {shots}: must be 1 to {MAX_SHOTS} for MPUSH")


def format_mpush_command(shots: int, datasets: list[RawDataset] | tuple[RawDataset, ...]) -> str:
    """``MPUSH shots dev bins TYPE MEM [...]`` for the datasets, in order (§2)."""
    parts = [f"MPUSH {shots}"]
    parts.extend(f"{d.recorder} {d.bins} {d.kind} {d.memory}" for d in datasets)
    return " ".join(parts)


def _check_recorder(rec: RecorderConfig, hw: RecorderHardware) -> list[str]:
    problems = []
    for letter in MEMORIES:
        mem = rec.memory(letter)
        if mem.analogue and mem.analogue_bins > hw.fifo_length:
            problems.append(f"TR{rec.address} memory {letter}: {mem.analogue_bins} analogue bins "
                            f"exceed the recorder's FIFO length {hw.fifo_length}")
        if mem.photon_counting and mem.pc_bins > hw.fifo_length:
            problems.append(f"TR{rec.address} memory {letter}: {mem.pc_bins} PC bins "
                            f"exceed the recorder's FIFO length {hw.fifo_length}")
        if mem.photon_counting and hw.pc_bits == 0:
            problems.append(f"TR{rec.address} memory {letter}: photon counting enabled but the "
                            "recorder has no photon-counting channel (PC bits 0)")
    return problems

"""Fault injection for the controller emulator: parsing, schedule, byte damage.

Spec: the emulator issue (``--fault KIND[:key=value,...]``) and PROTOCOL.md
§3.2/§3.3 (what a damaged frame looks like to a client). Pure: no sockets and
no clock; the server asks the schedule which faults fire after a frame and
lets :meth:`FaultSchedule.damage` change the frame bytes.

Frame numbers are the 1-based sequence numbers of frames put on the wire
(the ledger's ``seq``). ``every=N`` fires after frames N, 2N, 3N, ...;
``at=N`` once after frame N. ``corrupt`` and ``lose`` damage frame N itself;
the others act right after frame N has been written. ``refuse`` without
``every``/``at`` acts when the emulator starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from licelpush.wordlayout import FRAME_HEADER_BYTES

if TYPE_CHECKING:
    import numpy as np

    from licelpush.plan import MPushPlan

FAULT_KINDS: tuple[str, ...] = (
    "disconnect", "corrupt", "lose", "pad", "noise", "byteorder", "stall", "hang", "reboot",
    "refuse",
)
"""Every fault the emulator can inject."""

BYTE_FAULTS: frozenset[str] = frozenset({"corrupt", "lose", "pad", "noise", "byteorder"})
"""Faults that change the bytes of the frame they fire on."""

TIMED_FAULTS: frozenset[str] = frozenset({"stall", "hang", "reboot", "refuse"})
"""Faults that last ``seconds`` (real seconds, not scaled by ``--speed``)."""

DEFAULT_SECONDS: Mapping[str, float] = MappingProxyType(
    {"stall": 6.0, "hang": 6.0, "reboot": 2.0, "refuse": 2.0})
"""Duration when ``seconds=`` is not given: stall and hang outlast the vendor's 5 s timeout."""

CORRUPT_WHERE: tuple[str, ...] = ("any", "delimiter", "timestamp", "shots", "data")
"""Regions ``corrupt`` may be restricted to with ``where=``."""

DEFAULT_BYTES: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {"pad": {"nbytes": 2}, "noise": {"nbytes": 0}})
"""``bytes=`` when not given, where it is not 1."""

_ALLOWED_KEYS: Mapping[str, frozenset[str]] = MappingProxyType({
    "disconnect": frozenset({"every", "at"}),
    "corrupt": frozenset({"every", "at", "bytes", "where"}),
    "lose": frozenset({"every", "at", "bytes"}),
    "pad": frozenset({"every", "at", "bytes"}),
    "noise": frozenset({"every", "at", "bytes"}),
    "byteorder": frozenset({"every", "at"}),
    "stall": frozenset({"every", "at", "seconds"}),
    "hang": frozenset({"every", "at", "seconds"}),
    "reboot": frozenset({"every", "at", "seconds"}),
    "refuse": frozenset({"every", "at", "seconds"}),
})

FAULT_SYNTAX_HELP = """\
fault syntax: KIND[:key=value,...]; frame numbers are the 1-based seq of frames put on the wire
  disconnect:every=N|at=N            close command and push connections right after frame N
  corrupt:every=N|at=N[,bytes=K][,where=any|delimiter|timestamp|shots|data]
                                     flip K (default 1) bytes of frame N at seeded positions
  lose:every=N|at=N[,bytes=K]        leave K (default 1) contiguous bytes out of frame N
  pad:every=N|at=N[,bytes=K]         send frame N K (default 2) seeded random bytes too long
  noise:every=N|at=N[,bytes=K]       send K seeded random bytes (default: one frame length)
                                     instead of frame N (every=1: nothing but random bytes)
  byteorder:every=N|at=N             frame N's timestamp in the other byte order than the
                                     IDN implies (e.g. with --idn ...ColdFireEthernet...)
  stall:every=N|at=N[,seconds=T]     push nothing for T s (default 6) after frame N;
                                     commands are still answered
  hang:every=N|at=N[,seconds=T]      neither socket answers for T s (default 6)
  reboot:every=N|at=N[,seconds=T]    close everything, refuse connections for T s (default 2),
                                     come back at power-up state (push mode off)
  refuse[:seconds=T]                 refuse connections for the first T s (default 2);
                                     with every=N|at=N: for T s after frame N
examples: --fault disconnect:every=50 --fault corrupt:every=23,bytes=3 --fault pad:every=1
          --fault reboot:at=150,seconds=2 --fault refuse:seconds=3"""


@dataclass(frozen=True)
class FaultSpec:
    """One ``--fault`` option."""

    kind: str
    every: int | None = None
    at: int | None = None
    seconds: float = 0.0
    nbytes: int = 1
    """Bytes of a byte fault; 0 with ``noise``: one frame length."""
    where: str = "any"

    def fires_after(self, seq: int) -> bool:
        """True when this fault acts on / right after frame ``seq``."""
        if self.every is not None and seq % self.every == 0:
            return True
        return self.at is not None and seq == self.at

    @property
    def at_start(self) -> bool:
        """A ``refuse`` without a frame number acts when the emulator starts."""
        return self.every is None and self.at is None

    def text(self) -> str:
        """The option text that gives this fault back."""
        parts = []
        if self.every is not None:
            parts.append(f"every={self.every}")
        if self.at is not None:
            parts.append(f"at={self.at}")
        if self.kind in TIMED_FAULTS:
            parts.append(f"seconds={self.seconds:g}")
        if self.kind in BYTE_FAULTS - {"byteorder"} and self.nbytes:
            parts.append(f"bytes={self.nbytes}")
        if self.kind == "corrupt" and self.where != "any":
            parts.append(f"where={self.where}")
        return self.kind + (":" + ",".join(parts) if parts else "")


def parse_fault(text: str) -> FaultSpec:
    """Parse ``KIND[:key=value,...]``; ``ValueError`` names the bad part and what is allowed."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault {text!r}: unknown kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
    values: dict[str, str] = {}
    for item in (p.strip() for p in rest.split(",")):
        if not item:
            continue
        key, equals, value = item.partition("=")
        key = key.strip().lower()
        if not equals or not value.strip():
            raise ValueError(f"fault {text!r}: {item!r} is not key=value")
        if key not in _ALLOWED_KEYS[kind]:
            allowed = ", ".join(sorted(_ALLOWED_KEYS[kind]))
            raise ValueError(f"fault {text!r}: {kind} takes no {key!r}; allowed keys: {allowed}")
        values[key] = value.strip()
    spec: dict[str, Any] = {"kind": kind, **DEFAULT_BYTES.get(kind, {})}
    for key in ("every", "at"):
        if key in values:
            spec[key] = _positive_int(text, key, values[key])
    if "bytes" in values:
        spec["nbytes"] = _positive_int(text, "bytes", values["bytes"])
    if "where" in values:
        where = values["where"].lower()
        if where not in CORRUPT_WHERE:
            raise ValueError(f"fault {text!r}: where={values['where']!r}; one of "
                             f"{', '.join(CORRUPT_WHERE)}")
        spec["where"] = where
    if kind in TIMED_FAULTS:
        spec["seconds"] = DEFAULT_SECONDS[kind]
        if "seconds" in values:
            try:
                seconds = float(values["seconds"])
            except ValueError:
                seconds = -1.0
            if not seconds >= 0:
                raise ValueError(f"fault {text!r}: seconds={values['seconds']!r} must be a "
                                 "number >= 0")
            spec["seconds"] = seconds
    if kind != "refuse" and "every" not in spec and "at" not in spec:
        raise ValueError(f"fault {text!r}: {kind} needs every=N or at=N (frame number, 1-based)")
    return FaultSpec(**spec)


def _positive_int(text: str, key: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"fault {text!r}: {key}={value!r} must be an integer >= 1")
    return number


@dataclass
class FaultSchedule:
    """Which faults fire after which frame, and the seeded byte damage (deterministic)."""

    specs: Sequence[FaultSpec] = ()
    seed: int = 0
    _extra: list[FaultSpec] = field(default_factory=list)

    def add(self, spec: FaultSpec) -> None:
        """Add a fault while running (test helper)."""
        self._extra.append(spec)

    @property
    def all_specs(self) -> tuple[FaultSpec, ...]:
        return tuple(self.specs) + tuple(self._extra)

    def at_start(self) -> tuple[FaultSpec, ...]:
        """Faults acting when the emulator starts (``refuse`` without a frame number)."""
        return tuple(s for s in self.all_specs if s.kind == "refuse" and s.at_start)

    def frame_faults(self, seq: int) -> tuple[FaultSpec, ...]:
        """Byte faults (corrupt, lose) that damage frame ``seq``, in option order."""
        return tuple(s for s in self.all_specs if s.kind in BYTE_FAULTS and s.fires_after(seq))

    def after_faults(self, seq: int) -> tuple[FaultSpec, ...]:
        """Faults acting right after frame ``seq`` was written, in option order."""
        return tuple(s for s in self.all_specs
                     if s.kind not in BYTE_FAULTS and not (s.kind == "refuse" and s.at_start)
                     and s.fires_after(seq))

    def damage(self, frame: bytes | bytearray | memoryview, seq: int,
               faults: Iterable[FaultSpec],
               plan: MPushPlan | None = None) -> tuple[bytes, list[dict[str, Any]]]:
        """Apply byte faults to ``frame``; returns the bytes to send and one record per fault.

        Positions come from an RNG seeded with (seed, seq, fault index), so the
        same seed damages the same frames the same way. ``plan`` locates shot
        and data words for ``where=shots|data`` (without it the whole frame is used).
        """
        import numpy as np  # lazily: the fault help text is read by ``--help``

        data = bytearray(frame)
        records: list[dict[str, Any]] = []
        for index, spec in enumerate(faults):
            rng = np.random.default_rng([self.seed, 0xFA17, seq, index])
            if spec.kind == "corrupt":
                positions = _corrupt_positions(rng, len(data), spec, plan)
                xors = rng.integers(1, 256, size=len(positions))
                for pos, xor in zip(positions, xors):
                    data[pos] ^= int(xor)
                records.append({"kind": "corrupt", "where": spec.where,
                                "positions": [int(p) for p in positions],
                                "xor": [int(x) for x in xors]})
            elif spec.kind == "lose":
                count = min(spec.nbytes, len(data))
                start = int(rng.integers(0, len(data) - count + 1))
                del data[start:start + count]
                records.append({"kind": "lose", "offset": start, "bytes": count})
            else:
                data = _reshape(data, spec, rng, records)
        return bytes(data), records


def _reshape(data: bytearray, spec: FaultSpec, rng: np.random.Generator,
             records: list[dict[str, Any]]) -> bytearray:
    """The hostile-stream faults: ``pad``, ``noise``, ``byteorder``."""
    if spec.kind == "pad":
        extra = rng.integers(0, 256, size=spec.nbytes, dtype="u1").tobytes()
        records.append({"kind": "pad", "bytes": spec.nbytes})
        return data + extra
    if spec.kind == "noise":
        count = spec.nbytes or len(data)
        records.append({"kind": "noise", "bytes": count})
        return bytearray(rng.integers(0, 256, size=count, dtype="u1").tobytes())
    data[2:FRAME_HEADER_BYTES] = data[2:FRAME_HEADER_BYTES][::-1]
    records.append({"kind": "byteorder"})
    return data


def _corrupt_positions(rng: np.random.Generator, length: int, spec: FaultSpec,
                       plan: MPushPlan | None) -> np.ndarray:
    """Distinct byte offsets to flip, drawn over the region ``spec.where``."""
    import numpy as np

    if spec.where == "delimiter":
        candidates = np.arange(0, min(2, length))
    elif spec.where == "timestamp":
        candidates = np.arange(2, min(FRAME_HEADER_BYTES, length))
    elif spec.where == "shots" and plan is not None:
        offsets = np.array([d.offset for d in plan.datasets], dtype=np.int64)
        candidates = np.sort(np.concatenate([offsets, offsets + 1]))
        candidates = candidates[candidates < length]
    elif spec.where == "data" and plan is not None:
        sizes = np.array([2 * d.bins for d in plan.datasets], dtype=np.int64)
        starts = np.array([d.data_offset for d in plan.datasets], dtype=np.int64)
        total = int(sizes.sum())
        count = min(spec.nbytes, total)
        flat = np.sort(rng.choice(total, size=count, replace=False))
        ends = np.cumsum(sizes)
        which = np.searchsorted(ends, flat, side="right")
        positions = starts[which] + flat - (ends[which] - sizes[which])
        return positions[positions < length]
    else:
        count = min(spec.nbytes, length)
        return np.sort(rng.choice(length, size=count, replace=False))
    count = min(spec.nbytes, len(candidates))
    return np.sort(rng.choice(candidates, size=count, replace=False))

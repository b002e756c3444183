"""PMT high voltage: which tube gets which voltage, limits, and confirmation by read-back.

Spec: PROTOCOL.md §2 (``PMTG dev volts`` sets, ``PMT? dev`` reads back
``PMT <volts> on remote``), ACQUIS_INI.md (``PM``, ``PM2``-``PM4``,
``PM1pc``-``PM4pc``: the voltage of each dataset, 0-2000 V).

Assumptions, in one place:

- **PMT device = recorder address.** ``Acquis.ini`` gives a voltage per
  dataset but no PMT device number; licelpush takes the PMT in front of
  recorder ``[TRn]`` to be PMT device ``n``. The enabled datasets of one
  recorder must therefore agree on their non-zero voltages; 0 means "not
  given" (the file's default).
- **Empty slot.** The vendor library tells an empty PMT slot by its read-back
  after setting 0 V: about 356 V (:data:`EMPTY_SLOT_BAND`). licelpush uses the
  same band to explain a failed confirmation; the emulator answers that way.

Pure module: the controller and the clock are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from licelpush.commands import MAX_PMT_VOLTS
from licelpush.config import AcquisConfig
from licelpush.errors import ConfigError, LicelpushError

PMT_DEVICES = range(16)
"""PMT device numbers a controller may address (as recorders, 0-15)."""
EMPTY_SLOT_BAND = (350.0, 360.0)
"""Read-back of a slot without a PMT module (vendor library: "around 356 V")."""
DEFAULT_TOLERANCE_V = 10.0
"""Largest difference between set and read-back voltage that confirms a setting."""
DEFAULT_SETTLE_S = 5.0
"""How long a read-back may take to reach the set voltage (the supply ramps)."""
POLL_INTERVAL_S = 0.5
"""Pause between read-backs while a voltage settles."""


class HvUsageError(LicelpushError):
    """A PMT voltage or device given on the command line is not allowed (exit 2)."""


class PmtController(Protocol):
    """What :func:`apply_voltages` needs of a controller client."""

    def set_pmt(self, device: int, volts: int) -> str: ...

    def pmt_voltage(self, device: int) -> float: ...


def looks_empty(volts: float) -> bool:
    """True when a read-back lies in the band of an empty slot."""
    low, high = EMPTY_SLOT_BAND
    return low < volts < high


def parse_assignment(text: str) -> tuple[int, int]:
    """``DEV=V`` (e.g. ``0=700``) -> ``(0, 700)``; ``HvUsageError`` naming what is wrong."""
    device_text, sep, volts_text = text.partition("=")
    if not sep:
        raise HvUsageError(f"--set {text!r}: expected DEV=VOLTS, e.g. 0=700")
    try:
        device, volts = int(device_text), int(volts_text)
    except ValueError:
        raise HvUsageError(f"--set {text!r}: DEV and VOLTS must be integers") from None
    if device not in PMT_DEVICES:
        raise HvUsageError(f"--set {text!r}: PMT device must be 0-15")
    return device, volts


def check_limits(targets: Mapping[int, int], max_volts: int = MAX_PMT_VOLTS) -> None:
    """Every voltage within 0..``max_volts`` (at most 2000 V); ``HvUsageError`` listing all."""
    if not 0 <= max_volts <= MAX_PMT_VOLTS:
        raise HvUsageError(f"the maximum voltage must be 0-{MAX_PMT_VOLTS} V, not {max_volts}")
    bad = [f"PMT {d}: {v} V" for d, v in sorted(targets.items()) if not 0 <= v <= max_volts]
    if bad:
        raise HvUsageError(f"outside 0-{max_volts} V: " + ", ".join(bad))


def voltages_from_config(config: AcquisConfig) -> dict[int, int]:
    """PMT device -> voltage from the enabled datasets of each active recorder.

    Raises :class:`ConfigError` naming the recorder when its datasets ask for
    different non-zero voltages. Recorders whose datasets give only 0 V are left out.
    """
    targets: dict[int, int] = {}
    problems = []
    for recorder in config.active_recorders:
        wanted: dict[int, list[str]] = {}
        for memory in recorder.memories:
            if memory.analogue and memory.analogue_pmt_voltage:
                wanted.setdefault(int(round(memory.analogue_pmt_voltage)), []).append(
                    f"analogue {memory.memory}")
            if memory.photon_counting and memory.pc_pmt_voltage:
                wanted.setdefault(int(round(memory.pc_pmt_voltage)), []).append(
                    f"photon counting {memory.memory}")
        if len(wanted) > 1:
            listed = "; ".join(f"{v} V ({', '.join(d)})" for v, d in sorted(wanted.items()))
            problems.append(f"{config.path}: [TR{recorder.address}]: one PMT per recorder, "
                            f"but its datasets ask for {listed}")
        elif wanted:
            targets[recorder.address] = next(iter(wanted))
    if problems:
        raise ConfigError(problems)
    return targets


@dataclass(frozen=True)
class TubeResult:
    """The outcome of setting (or reading) one PMT."""

    device: int
    target: int | None
    """The voltage set; ``None`` when only read."""
    readback: float | None
    """The last voltage read back; ``None`` when the controller did not answer usably."""
    problem: str = ""
    """Empty when confirmed (or read); otherwise what went wrong."""

    @property
    def ok(self) -> bool:
        return not self.problem

    def describe(self) -> str:
        """One line for the user."""
        reads = "no reading" if self.readback is None else f"reads {self.readback:g} V"
        if self.target is None:
            text = f"PMT {self.device}: {reads}"
            if self.readback is not None and looks_empty(self.readback):
                text += " (like an empty slot)"
            return text
        text = f"PMT {self.device}: set {self.target} V, {reads}"
        return f"{text}: {self.problem}" if self.problem else text


def apply_voltages(controller: PmtController, targets: Mapping[int, int], *,
                   tolerance: float = DEFAULT_TOLERANCE_V, settle: float = DEFAULT_SETTLE_S,
                   clock: Callable[[], float], sleep: Callable[[float], None],
                   failure: type[Exception] = Exception) -> list[TubeResult]:
    """Set each PMT and confirm it by read-back within ``tolerance`` V.

    Each tube is read back until it agrees or ``settle`` seconds passed since
    its setting (polling every :data:`POLL_INTERVAL_S`). A failing tube does
    not stop the others; its :class:`TubeResult` says why. Exceptions of type
    ``failure`` (the client's controller errors) are caught per tube.
    """
    results = []
    for device, volts in targets.items():
        results.append(_apply_one(controller, device, volts, tolerance, settle, clock, sleep,
                                  failure))
    return results


def _apply_one(controller: PmtController, device: int, volts: int, tolerance: float,
               settle: float, clock: Callable[[], float], sleep: Callable[[float], None],
               failure: type[Exception]) -> TubeResult:
    readback: float | None = None
    try:
        controller.set_pmt(device, volts)
        deadline = clock() + settle
        while True:
            readback = controller.pmt_voltage(device)
            if abs(readback - volts) <= tolerance or clock() >= deadline:
                break
            sleep(POLL_INTERVAL_S)
    except failure as exc:
        return TubeResult(device, volts, readback, str(exc))
    if abs(readback - volts) <= tolerance:
        return TubeResult(device, volts, readback)
    problem = f"differs by more than {tolerance:g} V after {settle:g} s"
    if looks_empty(readback):
        problem += (f" (a slot without a PMT module reads {EMPTY_SLOT_BAND[0]:g}-"
                    f"{EMPTY_SLOT_BAND[1]:g} V)")
    return TubeResult(device, volts, readback, problem)


def read_voltages(controller: PmtController, devices: Iterable[int],
                  failure: type[Exception] = Exception) -> list[TubeResult]:
    """Read back each PMT in ``devices`` (nothing is set)."""
    results = []
    for device in devices:
        try:
            results.append(TubeResult(device, None, controller.pmt_voltage(device)))
        except failure as exc:
            results.append(TubeResult(device, None, None, str(exc)))
    return results

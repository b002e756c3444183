"""The emulated Licel Ethernet controller: recorders, shot clock, answers, push sessions.

Spec: PROTOCOL.md §2 (commands and replies), §3 (MPUSH frames), §4 (raw
words), §5 (power-up defaults). Pure: every method takes the emulated time
``now`` (seconds since an arbitrary origin, already scaled by ``--speed``)
and returns values; the asyncio server (:mod:`licelpush.emulator.server`)
moves the bytes. Requests are parsed and answered with the command table of
:mod:`licelpush.commands` that the client uses, so both sides share one
vocabulary. MPUSH frames follow :func:`licelpush.plan.plan_from_datasets` and
are built by :class:`licelpush.encode.FrameEncoder`.

Undocumented hardware behaviour is fixed by the assumptions gathered in
:mod:`licelpush.emulator.assumptions`, so each can be corrected in one place.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from licelpush.commands import Command, CommandSyntaxError, error_reply, parse_request
from licelpush.config import MEMORIES, AcquisConfig
from licelpush.encode import FrameEncoder
from licelpush.errors import PlanError
from licelpush.hardware import RecorderHardware, format_trtype
from licelpush.limits import big_endian_timestamps
from licelpush.plan import (
    FRAME_DELIMITER,
    SHOT_COUNTER_OFFSET,
    MPushPlan,
    plan_from_datasets,
)

from .assumptions import (
    DEFAULT_CAPS,
    DEFAULT_HARDWARE,
    DEFAULT_IDN,
    DEFAULT_RATE_HZ,
    DEFAULT_RECORDERS,
    LIMIT_SHOTS,
    NOT_INSTALLED_STATUS,
    POWER_UP_MAX_SHOTS,
    POWER_UP_RANGE,
    SHOT_COUNTER_RESET_BY_TRTYPE,
)
from .signals import RecorderSettings, SignalSynthesizer

log = logging.getLogger(__name__)

# --- recorder specifications ---------------------------------------------------------------

_RECORDER_ITEM = re.compile(
    r"\s*(\d+)\s*:\s*(\d+)\s*/\s*(\d+)(?:\s*/\s*([0-9.]+))?(?:\s*/\s*(\d+))?\s*")


def parse_recorders(spec: str) -> dict[int, RecorderHardware]:
    """Parse ``--recorders``: ``addr:ADCbits/PCbits[/binwidth_m[/FIFOlength]]``, comma separated.

    Example ``0:16/4,1:12/4/7.5`` = TR0 16-bit ADC 4-bit PC, TR1 12-bit 4-bit
    with 7.5 m bins. Raises ``ValueError`` naming the bad item.
    """
    recorders: dict[int, RecorderHardware] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        match = _RECORDER_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"recorder {item.strip()!r}: expected ADDRESS:ADCBITS/PCBITS"
                             "[/BINWIDTH_M[/FIFOLENGTH]], e.g. 0:16/4 or 1:12/4/7.5")
        address = int(match[1])
        if not 0 <= address <= 15:
            raise ValueError(f"recorder {item.strip()!r}: address {address} is outside 0..15")
        if address in recorders:
            raise ValueError(f"recorder {item.strip()!r}: address {address} given twice")
        fields: dict[str, Any] = {"adc_bits": int(match[2]), "pc_bits": int(match[3]),
                                  "id": address + 1}
        if match[4]:
            fields["bin_width_m"] = float(match[4])
        if match[5]:
            fields["fifo_length"] = int(match[5])
        try:
            recorders[address] = replace(DEFAULT_HARDWARE, **fields)
        except ValueError as exc:
            raise ValueError(f"recorder {item.strip()!r}: {exc}") from None
    if not recorders:
        raise ValueError(f"no recorder in {spec!r}; expected e.g. {DEFAULT_RECORDERS}")
    return recorders


def installed_hardware(config: AcquisConfig | None = None,
                       recorders: Mapping[int, RecorderHardware] | None = None
                       ) -> dict[int, RecorderHardware]:
    """The recorders the emulator installs.

    Every ``[TRn]`` section of ``config`` (active or not) installs TRn with
    :data:`DEFAULT_HARDWARE`; ``recorders`` (from ``--recorders``) adds
    recorders and overrides the hardware of those it names. With neither,
    :data:`DEFAULT_RECORDERS`.
    """
    installed: dict[int, RecorderHardware] = {}
    if config is not None:
        for rec in config.recorders:
            installed[rec.address] = replace(DEFAULT_HARDWARE, id=rec.address + 1)
    if recorders:
        installed.update(recorders)
    if not installed:
        installed = parse_recorders(DEFAULT_RECORDERS)
    return dict(sorted(installed.items()))


# --- recorder state and shot counter -----------------------------------------------------


@dataclass
class RecorderState:
    """One installed recorder: configuration set by commands and its shot counter."""

    address: int
    hardware: RecorderHardware
    range_index: int = POWER_UP_RANGE
    discriminator: int = 0
    threshold: int = 0
    pretrigger: bool = False
    max_shots: int = POWER_UP_MAX_SHOTS
    max_bins: int = 0
    freqdiv: int = 0
    blocked: frozenset[str] = frozenset()
    shots_before: int = 0
    """True shots accumulated before ``armed_at``."""
    armed_at: float | None = None
    """Emulated time the recorder was (re)armed; None while idle."""
    stop_at_shots: int = POWER_UP_MAX_SHOTS
    """An armed acquisition stops by itself at this many shots."""
    epoch: int = 0
    """Increases at every clear, so ``DATA?`` noise differs between acquisitions."""

    def __post_init__(self) -> None:
        if not self.max_bins:
            self.max_bins = self.hardware.fifo_length

    @property
    def settings(self) -> RecorderSettings:
        """What shapes the recorder's signals."""
        return RecorderSettings(self.hardware, self.range_index, self.discriminator,
                                self.threshold, self.freqdiv, self.pretrigger)

    def shots(self, now: float, rate: float) -> int:
        """True shots in memory (the controller reports this + 2)."""
        if self.armed_at is None:
            return self.shots_before
        counted = self.shots_before + int(max(now - self.armed_at, 0.0) * rate)
        return min(counted, max(self.stop_at_shots, self.shots_before))

    def armed(self, now: float, rate: float) -> bool:
        """True while acquiring (STAT? says ``Armed``)."""
        return self.armed_at is not None and self.shots(now, rate) < self.stop_at_shots

    def clear(self, now: float, rate: float) -> None:
        """Memories cleared: the counter restarts (reported 2); an armed recorder stays armed."""
        self.armed_at = now if self.armed(now, rate) else None
        self.shots_before = 0
        self.epoch += 1

    def arm(self, now: float, rate: float, *, clear: bool, limit: int | None = None) -> None:
        """START (clear) / CONTINUE (keep) / SINGLE (limit = one more shot)."""
        if clear:
            self.shots_before = 0
            self.epoch += 1
        else:
            self.shots_before = self.shots(now, rate)
        self.armed_at = now
        self.stop_at_shots = self.max_shots if limit is None else limit

    def stop(self, now: float, rate: float) -> None:
        """STOP: freeze the counter."""
        self.shots_before = self.shots(now, rate)
        self.armed_at = None

    def hold(self, shots: int) -> None:
        """End of push mode: keep ``shots`` of the interrupted acquisition, idle."""
        self.shots_before = shots
        self.armed_at = None


# --- push sessions --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EmittedFrame:
    """One pushed frame as built, before any fault (§3.2)."""

    plan: MPushPlan | None
    """None for the single-dataset ``PUSH`` mode."""
    timestamp_ms: int
    shots: int
    head: bytes
    """Delimiter and timestamp (6 bytes)."""
    body: bytes | memoryview
    """Everything after the head: shot words and raw words."""
    profiles: tuple[np.ndarray, ...] = ()
    """Accumulated uint32 profile per plan channel, exactly what the frame decodes to."""
    clipped: tuple[np.ndarray | None, ...] = ()
    """Clip flags per plan channel (analogue), None for photon counting."""

    @property
    def length(self) -> int:
        return len(self.head) + len(self.body)

    def crc32(self) -> int:
        """zlib CRC-32 of the whole frame (as built, before faults)."""
        return zlib.crc32(self.body, zlib.crc32(self.head))

    def to_bytes(self) -> bytes:
        return self.head + bytes(self.body)


def frame_head(timestamp_ms: int, big_endian: bool) -> bytes:
    """``FF FF`` + uint32 controller ms (big-endian for ColdFireEthernet, §3.2)."""
    return FRAME_DELIMITER + (timestamp_ms & 0xFFFFFFFF).to_bytes(4, "big" if big_endian
                                                                  else "little")


class FrameSource:
    """Builds the frames of one MPUSH plan from the recorders' current settings.

    Fresh mode (``bank_size`` 0) synthesises new profiles for every frame
    from an RNG seeded with (seed, frame key). Bank mode (``--max-speed``)
    synthesises ``bank_size`` encoded variants once per settings and sends one
    of them (chosen by the seeded RNG) with only the timestamp patched.
    """

    def __init__(self, plan: MPushPlan, synth: SignalSynthesizer,
                 settings: Callable[[], Mapping[int, RecorderSettings]], seed: int,
                 bank_size: int = 0) -> None:
        self.plan = plan
        self.synth = synth
        self.settings = settings
        self.seed = seed
        self.bank_size = bank_size
        self.encoder = FrameEncoder(plan)
        self._bank_key: tuple[object, ...] | None = None
        self._bank: list[tuple[bytes, tuple[np.ndarray, ...], tuple[np.ndarray | None, ...]]] = []

    def frame(self, key: int, timestamp_ms: int) -> EmittedFrame:
        """The frame with frame key ``key`` (the wire seq) completed at ``timestamp_ms``."""
        plan = self.plan
        settings = {a: s for a, s in self.settings().items() if a in plan.recorders}
        rng = np.random.default_rng([self.seed, 0xF7A3E, key])
        head = frame_head(timestamp_ms, plan.big_endian_timestamp)
        if not self.bank_size:
            profiles, clipped = self.synth.profiles(plan, settings, plan.shots, rng)
            data = self.encoder.encode(timestamp_ms, plan.shots, profiles, clipped)
            return EmittedFrame(plan, timestamp_ms & 0xFFFFFFFF, plan.shots, head,
                                memoryview(data)[len(head):], profiles, clipped)
        bank_key = tuple(sorted(settings.items(), key=lambda item: item[0]))
        if bank_key != self._bank_key:
            self._bank = []
            for variant in range(self.bank_size):
                vrng = np.random.default_rng([self.seed, 0xBA4C, variant])
                profiles, clipped = self.synth.profiles(plan, settings, plan.shots, vrng)
                data = self.encoder.encode(0, plan.shots, profiles, clipped)
                self._bank.append((data, profiles, clipped))
            self._bank_key = bank_key
        data, profiles, clipped = self._bank[int(rng.integers(self.bank_size))]
        return EmittedFrame(plan, timestamp_ms & 0xFFFFFFFF, plan.shots, head,
                            memoryview(data)[len(head):], profiles, clipped)


class RawPushSource:
    """Frames of the single-dataset ``PUSH`` mode: one raw dataset of one recorder (assumed
    layout: delimiter, timestamp, shot word, ``bins`` raw words, as one MPUSH dataset)."""

    def __init__(self, recorder: RecorderState, shots: int, bins: int, kind: str, memory: str,
                 synth: SignalSynthesizer, seed: int, big_endian: bool) -> None:
        self.recorder = recorder
        self.shots = shots
        self.bins = bins
        self.kind = kind
        self.memory = memory
        self.synth = synth
        self.seed = seed
        self.big_endian = big_endian
        self.plan = None
        self.frame_length = 6 + 2 + 2 * bins

    def frame(self, key: int, timestamp_ms: int) -> EmittedFrame:
        rng = np.random.default_rng([self.seed, 0x9054, key])
        words = self.synth.dataset_words(self.recorder.address, self.memory, self.kind,
                                         self.bins, self.recorder.settings, self.shots, rng)
        shot_word = (self.shots + SHOT_COUNTER_OFFSET).to_bytes(2, "little")
        return EmittedFrame(None, timestamp_ms & 0xFFFFFFFF, self.shots,
                            frame_head(timestamp_ms, self.big_endian),
                            shot_word + words.tobytes())


@dataclass
class PushSession:
    """Timing of push mode (§3.2: one frame per completed acquisition of ``shots`` shots).

    Acquisition k completes at ``due``; with the double-buffered push memory (:mod:`.assumptions`)
    the next one starts when k completes or, if later, when frame k-1 has been
    handed over. ``period`` 0 (``--max-speed``) makes frames as fast as the
    client takes them.
    """

    source: FrameSource | RawPushSource
    shots: int
    period: float
    """Emulated seconds per acquisition (shots / rate), 0 at max speed."""
    start: float
    recorders: tuple[int, ...]
    due: float = 0.0
    previous_handover: float = 0.0
    completed: int = 0
    """Acquisitions completed (sent or dropped)."""
    dropped: int = 0

    def __post_init__(self) -> None:
        self.due = self.start + self.period
        self.previous_handover = self.start

    @property
    def plan(self) -> MPushPlan | None:
        return self.source.plan

    def progress(self, now: float, rate: float) -> int:
        """True shots of the acquisition in progress (for STAT?)."""
        if now >= self.due or self.period <= 0:
            return self.shots
        started = self.due - self.period
        return max(0, min(self.shots, int((now - started) * rate)))

    def frame(self, key: int, millis: Callable[[float], int]) -> EmittedFrame:
        """Build the frame of the acquisition completed at :attr:`due`."""
        return self.source.frame(key, millis(self.due))

    def handed_over(self, now: float) -> None:
        """The frame of the completed acquisition was written at ``now``: schedule the next."""
        completed = self.due
        start = max(completed, self.previous_handover)
        self.previous_handover = now
        self.due = start + self.period
        self.completed += 1

    def drop_due(self, now: float) -> int:
        """Drop acquisitions completed by ``now`` (no push client): returns how many."""
        if self.period <= 0:
            self.due = max(self.due, now)
            self.previous_handover = self.due
            return 0
        count = 0
        while self.due <= now:
            self.previous_handover = self.due
            self.due += self.period
            count += 1
        self.completed += count
        self.dropped += count
        return count


# --- the controller -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """The controller's answer to one request line."""

    text: str | None = None
    data: bytes | None = None
    """Binary reply (``DATA?``)."""
    delay: float = 0.0
    """Emulated seconds to wait before answering (``MWAIT``)."""
    push_changed: bool = False
    """Push mode started, restarted or stopped."""

    def wire(self) -> bytes:
        """The bytes to send: the binary data, or the text line + CRLF."""
        if self.data is not None:
            return self.data
        return (self.text or "").encode("ascii", "replace") + b"\r\n"


@dataclass
class EmulatedController:
    """The emulated controller's state (pure; times are emulated seconds)."""

    hardware: Mapping[int, RecorderHardware]
    idn: str = DEFAULT_IDN
    caps: str = DEFAULT_CAPS
    rate_hz: float = DEFAULT_RATE_HZ
    seed: int = 0
    clock_start_ms: int = 0
    """Value of the ms clock at power-up (set near 2**32 to test the wrap)."""
    max_speed: bool = False
    bank_size: int = 4
    """Encoded variants cached per plan at max speed."""
    recorders: dict[int, RecorderState] = field(default_factory=dict)
    selected: tuple[int, ...] = ()
    pmt_volts: dict[int, int] = field(default_factory=dict)
    push: PushSession | None = None
    powered_at: float = 0.0
    sessions: int = 0
    synth: SignalSynthesizer = field(init=False)

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ValueError(f"laser repetition rate must be > 0 Hz, not {self.rate_hz}")
        self.synth = SignalSynthesizer(self.seed)
        self.power_up(self.powered_at)

    @property
    def big_endian_timestamp(self) -> bool:
        return big_endian_timestamps(self.idn)

    def power_up(self, now: float) -> None:
        """Power-up state: recorders at defaults, nothing selected, push mode off, clock reset."""
        self.recorders = {a: RecorderState(a, hw) for a, hw in sorted(self.hardware.items())}
        self.selected = ()
        self.pmt_volts = {}
        self.push = None
        self.powered_at = now

    def millis(self, now: float) -> int:
        """The controller ms timer (uint32, wraps)."""
        return (self.clock_start_ms + int((now - self.powered_at) * 1000.0)) & 0xFFFFFFFF

    def settings(self) -> dict[int, RecorderSettings]:
        return {a: r.settings for a, r in self.recorders.items()}

    # --- requests ---

    def handle(self, line: str, now: float) -> Reply:
        """Answer one request line (CR/LF stripped or not); never raises for bad input."""
        try:
            command, args = parse_request(line)
        except CommandSyntaxError as exc:
            return Reply(exc.reply)
        handler = CONTROLLER_COMMANDS.get(command.name)
        if handler is None:
            return self._simple(command, args, now)
        return handler(self, command, args, now)

    def stop_push(self, now: float, reason: str) -> bool:
        """End push mode (SLAVE, dropped or killed connection); True if it was on."""
        session = self.push
        if session is None:
            return False
        for address in session.recorders:
            rec = self.recorders.get(address)
            if rec is not None:
                rec.hold(session.progress(now, self.rate_hz))
        self.push = None
        log.info("push mode off (%s) after %d acquisitions", reason, session.completed)
        return True

    # --- helpers ---

    def _installed_selected(self) -> list[RecorderState]:
        return [self.recorders[a] for a in self.selected if a in self.recorders]

    def _targets(self, command: Command) -> list[RecorderState] | Reply:
        targets = self._installed_selected()
        if targets:
            return targets
        if not self.selected:
            return Reply(error_reply(command.name, "no recorder selected (SELECT n first)"))
        return Reply(error_reply(command.name, f"no installed recorder selected "
                                 f"(selected {_addresses(self.selected)}, installed "
                                 f"{_addresses(self.recorders)})"))

    def _first(self, command: Command) -> RecorderState | Reply:
        targets = self._targets(command)
        return targets if isinstance(targets, Reply) else targets[0]

    def _shots(self, rec: RecorderState, now: float) -> int:
        session = self.push
        if session is not None and rec.address in session.recorders:
            return session.progress(now, self.rate_hz)
        return rec.shots(now, self.rate_hz)

    def _armed(self, rec: RecorderState, now: float) -> bool:
        session = self.push
        if session is not None and rec.address in session.recorders:
            return True
        return rec.armed(now, self.rate_hz)

    def _simple(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        """Configuration and acquisition commands applied to each selected installed recorder."""
        targets = self._targets(command)
        if isinstance(targets, Reply):
            return targets
        apply = RECORDER_COMMANDS.get(command.name)
        if apply is None:  # pragma: no cover - every table command has an entry
            return Reply(error_reply(command.name, "not supported by the emulator"))
        for rec in targets:
            apply(rec, args, now, self.rate_hz)
        return Reply(command.reply(args))

    # --- commands with their own handler ---

    def _cmd_idn(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        return Reply(command.reply(args, idn=self.idn))

    def _cmd_cap(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        return Reply(command.reply(args, caps=self.caps))

    def _cmd_millisec(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        return Reply(command.reply(args, ms=self.millis(now)))

    def _cmd_select(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        self.selected = tuple(args["recorders"])
        return Reply(command.reply(args))

    def _cmd_stat(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        if not self.selected:
            return Reply(error_reply(command.name, "no recorder selected (SELECT n first)"))
        rec = self.recorders.get(self.selected[0])
        if rec is None:
            return Reply(command.reply(args, status=NOT_INSTALLED_STATUS))
        status = f"Shots {self._shots(rec, now) + SHOT_COUNTER_OFFSET}"
        if self._armed(rec, now):
            status += " Armed"
        return Reply(command.reply(args, status=status + " MemA"))

    def _cmd_trtype(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        rec = self._first(command)
        if isinstance(rec, Reply):
            return rec
        if SHOT_COUNTER_RESET_BY_TRTYPE:
            rec.clear(now, self.rate_hz)
        return Reply(command.reply(args, trtype=format_trtype(rec.hardware)))

    def _cmd_freqdiv_query(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        rec = self._first(command)
        if isinstance(rec, Reply):
            return rec
        return Reply(command.reply(args, exponent=rec.freqdiv))

    def _cmd_slave(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        changed = self.stop_push(now, "SLAVE")
        return Reply(command.reply(args), push_changed=changed)

    def _cmd_mwait(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        targets = self._targets(command)
        if isinstance(targets, Reply):
            return targets
        timeout = args["milliseconds"] / 1000.0
        remaining = 0.0
        for rec in targets:
            if self._armed(rec, now):
                if self.push is not None and rec.address in self.push.recorders:
                    remaining = float("inf")
                else:
                    left = rec.stop_at_shots - rec.shots(now, self.rate_hz)
                    remaining = max(remaining, left / self.rate_hz)
        if remaining <= timeout:
            return Reply(command.reply(args), delay=remaining)
        return Reply(error_reply(command.name, "timeout, a selected recorder is still armed"),
                     delay=timeout)

    def _cmd_data(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        words = args["words"]
        rec = self.recorders.get(args["recorder"])
        if rec is None:
            return Reply(data=bytes(2 * words))
        shots = self._shots(rec, now)
        memory = args["memory"]
        rng = np.random.default_rng([self.seed, 0xDA7A, rec.address, MEMORIES.index(memory),
                                     rec.epoch, shots])
        data = self.synth.dataset_words(rec.address, memory, args["type"], words,
                                        rec.settings, shots, rng)
        return Reply(data=data.tobytes())

    def _shot_list(self, now: float) -> str:
        return " ".join(str(self._shots(r, now) + SHOT_COUNTER_OFFSET)
                        for r in self._installed_selected())

    def _cmd_shotab(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        rec = self._first(command)
        if isinstance(rec, Reply):
            return rec
        return Reply(command.reply(args, shots=self._shots(rec, now) + SHOT_COUNTER_OFFSET))

    def _cmd_mshotab(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        targets = self._targets(command)
        if isinstance(targets, Reply):
            return targets
        return Reply(command.reply(args, shots=self._shot_list(now)))

    _cmd_mshots = _cmd_mshotab

    def _cmd_pmtg(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        self.pmt_volts[args["recorder"]] = args["volts"]
        return Reply(command.reply(args))

    def _cmd_pmt(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        return Reply(command.reply(args, volts=self.pmt_volts.get(args["recorder"], 0)))

    def _cmd_mpush(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        requested = [(g["recorder"], g["bins"], g["type"], g["memory"]) for g in args["groups"]]
        problems = []
        for recorder, bins, _kind, memory in requested:
            rec = self.recorders.get(recorder)
            if rec is None:
                problems.append(f"TR{recorder} is not installed")
            elif bins > rec.hardware.fifo_length:
                problems.append(f"TR{recorder} memory {memory}: {bins} bins exceed the FIFO "
                                f"length {rec.hardware.fifo_length}")
        if problems:
            return Reply(error_reply(command.name, "; ".join(dict.fromkeys(problems))))
        try:
            plan = plan_from_datasets(args["shots"], requested, self.hardware,
                                      big_endian_timestamp=self.big_endian_timestamp)
        except PlanError as exc:
            return Reply(error_reply(command.name, exc.message))
        self.stop_push(now, "new MPUSH")
        source = FrameSource(plan, self.synth, self.settings, self.seed,
                             self.bank_size if self.max_speed else 0)
        self._start_push(source, plan.shots, plan.recorders, now)
        return Reply(command.reply(args), push_changed=True)

    def _cmd_push(self, command: Command, args: dict[str, Any], now: float) -> Reply:
        rec = self._first(command)
        if isinstance(rec, Reply):
            return rec
        if args["bins"] > rec.hardware.fifo_length:
            return Reply(error_reply(command.name, f"TR{rec.address}: {args['bins']} bins "
                                     f"exceed the FIFO length {rec.hardware.fifo_length}"))
        self.stop_push(now, "new PUSH")
        source = RawPushSource(rec, args["shots"], args["bins"], args["type"], args["memory"],
                               self.synth, self.seed, self.big_endian_timestamp)
        self._start_push(source, args["shots"], (rec.address,), now)
        return Reply(command.reply(args), push_changed=True)

    def _start_push(self, source: FrameSource | RawPushSource, shots: int,
                    recorders: tuple[int, ...], now: float) -> None:
        for address in recorders:
            self.recorders[address].clear(now, self.rate_hz)
        period = 0.0 if self.max_speed else shots / self.rate_hz
        self.sessions += 1
        self.push = PushSession(source, shots, period, now, recorders)
        log.info("push mode on: %d shots per frame, recorders %s, %s", shots,
                 _addresses(recorders),
                 f"{source.plan.frame_length} bytes per frame" if source.plan else "PUSH")


def _block(rec: RecorderState, trigger: str) -> None:
    rec.blocked = frozenset() if trigger == "OFF" else rec.blocked | {trigger}


RecorderCommand = Callable[[RecorderState, dict[str, Any], float, float], None]
RECORDER_COMMANDS: Mapping[str, RecorderCommand] = MappingProxyType({
    "DISC": lambda rec, a, now, rate: setattr(rec, "discriminator", a["level"]),
    "PRETRIG": lambda rec, a, now, rate: setattr(rec, "pretrigger", bool(a["enabled"])),
    "THRESHOLD": lambda rec, a, now, rate: setattr(rec, "threshold", a["mode"]),
    "SETMAXSHOTS": lambda rec, a, now, rate: setattr(rec, "max_shots", a["shots"]),
    "SETMAXBINS": lambda rec, a, now, rate: setattr(rec, "max_bins", a["bins"]),
    "LIMIT": lambda rec, a, now, rate: setattr(rec, "max_shots", LIMIT_SHOTS[a["limit"]]),
    "RANGE": lambda rec, a, now, rate: setattr(rec, "range_index", a["range"]),
    "FREQDIV": lambda rec, a, now, rate: setattr(rec, "freqdiv", a["exponent"]),
    "BLOCK": lambda rec, a, now, rate: _block(rec, a["trigger"]),
    "CLEAR": lambda rec, a, now, rate: rec.clear(now, rate),
    "MCLEAR": lambda rec, a, now, rate: rec.clear(now, rate),
    "START": lambda rec, a, now, rate: rec.arm(now, rate, clear=True),
    "MSTART": lambda rec, a, now, rate: rec.arm(now, rate, clear=True),
    "CONTINUE": lambda rec, a, now, rate: rec.arm(now, rate, clear=False),
    "MCONTINUE": lambda rec, a, now, rate: rec.arm(now, rate, clear=False),
    "SINGLE": lambda rec, a, now, rate: rec.arm(now, rate, clear=False,
                                                limit=rec.shots(now, rate) + 1),
    "STOP": lambda rec, a, now, rate: rec.stop(now, rate),
    "MSTOP": lambda rec, a, now, rate: rec.stop(now, rate),
})
"""Commands applied to each selected installed recorder: what each one does to it."""

ControllerCommand = Callable[[EmulatedController, Command, dict[str, Any], float], Reply]
CONTROLLER_COMMANDS: Mapping[str, ControllerCommand] = MappingProxyType({
    "*IDN?": EmulatedController._cmd_idn, "CAP?": EmulatedController._cmd_cap,
    "MILLISEC?": EmulatedController._cmd_millisec, "SELECT": EmulatedController._cmd_select,
    "STAT?": EmulatedController._cmd_stat, "TRTYPE?": EmulatedController._cmd_trtype,
    "FREQDIV?": EmulatedController._cmd_freqdiv_query, "SLAVE": EmulatedController._cmd_slave,
    "MWAIT": EmulatedController._cmd_mwait, "DATA?": EmulatedController._cmd_data,
    "SHOTAB?": EmulatedController._cmd_shotab, "MSHOTAB?": EmulatedController._cmd_mshotab,
    "MSHOTS?": EmulatedController._cmd_mshots, "PMTG": EmulatedController._cmd_pmtg,
    "PMT?": EmulatedController._cmd_pmt, "MPUSH": EmulatedController._cmd_mpush,
    "PUSH": EmulatedController._cmd_push,
})
"""Commands answered by the controller as a whole: their handlers."""


def _addresses(addresses: Mapping[int, object] | tuple[int, ...]) -> str:
    return ", ".join(str(a) for a in addresses) or "none"

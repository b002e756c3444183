"""The one table of controller commands, shared by the client and the emulator.

Spec: PROTOCOL.md §1-2. Each :class:`Command` knows its arguments (with
validators), the reply the controller sends (a template the emulator fills)
and the check a client applies to a reply. The client formats a request with
:meth:`Command.request` and checks the answer with :meth:`Command.check_reply`;
the emulator parses a request line with :func:`parse_request` and answers
with :meth:`Command.reply` or :func:`error_reply`.

Reply checks follow the clients' habits (§1): a reply may carry extra text
after the expected content, so checks match by start (``prefix``), by
substring (``contains``) or by the token after the command name (``token1``),
never by whole-line equality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from licelpush.config import RANGE_MILLIVOLTS
from licelpush.limits import (
    MAX_BINS,
    MAX_RECORDER_ADDRESS,
    MAX_SHOT_LIMIT,
    MAX_SHOTS,
    MEMORIES,
    PUSH_KINDS,
)

EOL = b"\r\n"
"""Every command and every text reply ends in CRLF (§1)."""

DATA_TYPES = ("LSW", "MSW", "PHM", "PC", "A2L", "A2M", "A2H", "P2L", "P2M")
MAX_DATA_WORDS = 32768

Values = Mapping[str, Any]


class CommandSyntaxError(ValueError):
    """A request line the controller cannot parse; ``reply`` is what it answers."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason

    @property
    def reply(self) -> str:
        """The error reply line (assumed wording, §2: contains no ``executed``)."""
        return error_reply(self.name, self.reason)


class ReplyMismatch(ValueError):
    """A reply did not pass the client's check for its command."""


@dataclass(frozen=True)
class Param:
    """One argument: its name and a parser that raises ``ValueError`` with what is allowed."""

    name: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(token: str) -> int:
        try:
            value = int(token)
        except ValueError:
            raise ValueError(f"{token!r} is not an integer") from None
        if not lo <= value <= hi:
            raise ValueError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(token: str) -> str:
        value = token.upper()
        if value not in choices:
            raise ValueError(f"{token!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _recorder_list(token: str) -> tuple[int, ...]:
    """``SELECT`` argument: ``n``, ``a,b,c`` or ``-1`` (none)."""
    if token.strip() == "-1":
        return ()
    parse = _int_range(0, MAX_RECORDER_ADDRESS)
    parts = [p for p in token.split(",") if p.strip()]
    if not parts:
        raise ValueError("no recorder number")
    return tuple(parse(p.strip()) for p in parts)


def _format_recorder_list(value: Sequence[int]) -> str:
    return ",".join(str(v) for v in value) if value else "-1"


def _block(token: str) -> str:
    return _choice("A", "B", "C", "D", "OFF")(token)


@dataclass(frozen=True)
class Command:
    """One controller command (§2)."""

    name: str
    params: tuple[Param, ...] = ()
    repeat: tuple[Param, ...] = ()
    """A group of parameters given one or more times after ``params`` (``MPUSH``)."""
    optional: int = 0
    """How many trailing ``params`` may be left out."""
    reply_template: str = "{name} executed"
    """What the controller answers; filled with the arguments and the values the
    emulator supplies (assumed wordings except where the spec says exact)."""
    expect: str = "{name} executed"
    """What a client requires in the reply (filled like ``reply_template``)."""
    match: str = "prefix"
    """``prefix``, ``contains``, ``token1`` or ``any``."""
    binary: bool = False
    """The reply is raw binary (``DATA?``), not a text line."""
    derive: Callable[[Values], Values] | None = None
    """Extra template values computed from the arguments."""

    def request(self, *args: Any) -> str:
        """The request line (without CRLF) for these arguments, validated."""
        fixed = self.params
        if self.repeat:
            if len(args) < len(fixed) + len(self.repeat) or (len(args) - len(fixed)) % len(
                self.repeat
            ):
                raise ValueError(f"{self.name}: wrong number of arguments {args!r}")
            groups = (len(args) - len(fixed)) // len(self.repeat)
            specs = fixed + self.repeat * groups
        else:
            if not len(fixed) - self.optional <= len(args) <= len(fixed):
                raise ValueError(f"{self.name}: wrong number of arguments {args!r}")
            specs = fixed[: len(args)]
        tokens = [self.name]
        for spec, value in zip(specs, args):
            text = spec.format(value)
            spec.parse(text)  # validate what we send with the same rules the controller applies
            tokens.append(text)
        return " ".join(tokens)

    def parse_args(self, tokens: Sequence[str]) -> dict[str, Any]:
        """Arguments of a request line (tokens after the name); raises CommandSyntaxError."""
        fixed = self.params
        values: dict[str, Any] = {}
        if self.name == "SELECT":  # the list may be written with spaces after commas
            tokens = ["".join(tokens)] if tokens else []
        if len(tokens) < len(fixed) - self.optional:
            raise CommandSyntaxError(self.name, f"missing argument {fixed[len(tokens)].name}")
        if not self.repeat and len(tokens) > len(fixed):
            raise CommandSyntaxError(self.name, f"unexpected argument {tokens[len(fixed)]!r}")
        for spec, token in zip(fixed, tokens):
            try:
                values[spec.name] = spec.parse(token)
            except ValueError as exc:
                raise CommandSyntaxError(self.name, f"{spec.name} {exc}") from None
        if self.repeat:
            rest = tokens[len(fixed):]
            if not rest or len(rest) % len(self.repeat):
                raise CommandSyntaxError(
                    self.name,
                    f"expected groups of {len(self.repeat)} arguments "
                    f"({' '.join(p.name for p in self.repeat)}), got {len(rest)} tokens",
                )
            groups = []
            for start in range(0, len(rest), len(self.repeat)):
                group = {}
                for spec, token in zip(self.repeat, rest[start:start + len(self.repeat)]):
                    try:
                        group[spec.name] = spec.parse(token)
                    except ValueError as exc:
                        raise CommandSyntaxError(
                            self.name, f"group {start // len(self.repeat) + 1} {spec.name} {exc}"
                        ) from None
                groups.append(group)
            values["groups"] = tuple(groups)
        return values

    def _values(self, args: Values, extra: Values) -> dict[str, Any]:
        values: dict[str, Any] = {"name": self.name}
        values.update(args)
        if self.derive is not None:
            values.update(self.derive(args))
        values.update(extra)
        return values

    def reply(self, args: Values, **extra: Any) -> str:
        """The controller's reply line (without CRLF) to a request with ``args``."""
        return self.reply_template.format(**self._values(args, extra))

    def check_reply(self, reply: str, args: Values) -> None:
        """Raise :class:`ReplyMismatch` when ``reply`` is not an acceptable answer."""
        text = reply.strip()
        if not text or " error" in text:
            raise ReplyMismatch(f"{self.name}: unexpected reply {reply!r}")
        if self.match == "any":
            return
        expected = self.expect.format(**self._values(args, {}))
        if self.match == "prefix":
            ok = text.startswith(expected)
        elif self.match == "contains":
            ok = expected in text
        elif self.match == "token1":
            tokens = text.split()
            ok = len(tokens) > 1 and tokens[1] == expected
        else:  # pragma: no cover - table error
            raise AssertionError(self.match)
        if not ok:
            raise ReplyMismatch(
                f"{self.name}: expected a reply {self.match} {expected!r}, got {reply!r}"
            )


def error_reply(name: str, reason: str) -> str:
    """The assumed error reply (§2): a line without ``executed``."""
    return f"{name} error: {reason}"


def _simple(name: str, expect: str | None = None) -> Command:
    return Command(name, expect=expect or f"{name} executed")


_DEV = Param("recorder", _int_range(0, MAX_RECORDER_ADDRESS))
_MEM = Param("memory", _choice(*MEMORIES))

_TABLE: tuple[Command, ...] = (
    Command("*IDN?", reply_template="{idn}", expect=" ", match="contains"),
    Command("CAP?", reply_template="CAP {caps}", expect="CAP", match="contains"),
    Command("MILLISEC?", reply_template="MILLISEC {ms}", expect="MILLISEC", match="prefix"),
    Command("SELECT", (Param("recorders", _recorder_list, _format_recorder_list),),
            reply_template="SELECT executed", expect="executed", match="contains"),
    Command("STAT?", reply_template="{status}", match="any"),
    Command("TRTYPE?", reply_template="{trtype}", expect="TRTYPE", match="prefix"),
    Command("SLAVE"),
    Command("CLEAR", reply_template="CLEAR Memory executed", expect="CLEAR Memory executed"),
    Command("DISC", (Param("level", _int_range(0, 63)),),
            reply_template="Discriminator set to {level}", expect="set to", match="contains"),
    Command("PRETRIG", (Param("enabled", _int_range(0, 1)),)),
    Command("THRESHOLD", (Param("mode", _int_range(0, 1)),),
            reply_template="Damping set to {mode}", expect="Damping", match="contains"),
    Command("SETMAXSHOTS", (Param("shots", _int_range(1, MAX_SHOT_LIMIT)),),
            expect="executed", match="contains"),
    Command("SETMAXBINS", (Param("bins", _int_range(2, MAX_BINS)),),
            expect="executed", match="contains"),
    Command("LIMIT", (Param("limit", _choice("4K", "64K")),)),
    Command("RANGE", (Param("range", _int_range(0, 2)),),
            reply_template="Input range set to -{millivolts}mV",
            expect="set to -{millivolts}mV", match="contains",
            derive=lambda a: {"millivolts": RANGE_MILLIVOLTS[a["range"]]}),
    Command("FREQDIV", (Param("exponent", _int_range(0, 7)), Param("reserved", _int_range(0, 0))),
            optional=1, reply_template="FREQDIV {exponent} executed",
            expect="{exponent}", match="token1"),
    Command("FREQDIV?", reply_template="FREQDIV {exponent}", expect="FREQDIV"),
    Command("BLOCK", (Param("trigger", _block),)),
    _simple("START"), _simple("STOP"), _simple("CONTINUE"), _simple("SINGLE"),
    _simple("MSTART"), _simple("MSTOP"), _simple("MCLEAR"), _simple("MCONTINUE"),
    Command("MWAIT", (Param("milliseconds", _int_range(0, 10_000_000)),)),
    Command("DATA?", (_DEV, Param("words", _int_range(1, MAX_DATA_WORDS)),
                      Param("type", _choice(*DATA_TYPES)), _MEM), binary=True),
    Command("SHOTAB?", reply_template="SHOTAB {shots}", expect="SHOTAB"),
    Command("MSHOTAB?", reply_template="MSHOTAB {shots}", expect="MSHOTAB"),
    Command("MSHOTS?", reply_template="MSHOTS {shots}", expect="MSHOTS"),
    Command("MPUSH", (Param("shots", _int_range(1, MAX_SHOTS)),),
            repeat=(_DEV, Param("bins", _int_range(2, MAX_BINS)),
                    Param("type", _choice(*PUSH_KINDS)), _MEM),
            expect="executed", match="contains"),
    Command("PUSH", (Param("shots", _int_range(1, MAX_SHOTS)),
                     Param("bins", _int_range(2, MAX_BINS)),
                     Param("type", _choice(*PUSH_KINDS)), _MEM)),
    Command("PMTG", (_DEV, Param("volts", _int_range(0, 2000))),
            expect="executed", match="contains"),
    Command("PMT?", (_DEV,), reply_template="PMT {volts} on remote", expect="PMT"),
)

COMMANDS: Mapping[str, Command] = MappingProxyType({c.name: c for c in _TABLE})
"""Every command by name (upper case, with ``?`` where it has one)."""


def command(name: str) -> Command:
    """The table entry for ``name``; ``KeyError`` when there is none."""
    return COMMANDS[name.upper()]


def parse_request(line: str) -> tuple[Command, dict[str, Any]]:
    """Parse one request line (CRLF stripped or not) as the controller does.

    Tokens are separated by one or more spaces; extra and trailing spaces are
    accepted (§1). Raises :class:`CommandSyntaxError` for an empty line, an
    unknown command or bad arguments.
    """
    tokens = line.split()
    if not tokens:
        raise CommandSyntaxError("", "empty command")
    name = tokens[0].upper()
    entry = COMMANDS.get(name)
    if entry is None:
        raise CommandSyntaxError(name, "unknown command")
    return entry, entry.parse_args(tokens[1:])


# ---------------------------------------------------------------- PMT high voltage (§2)

MAX_PMT_VOLTS = 2000
"""Highest voltage ``PMTG`` accepts (the table's range, ACQUIS_INI.md ``PM`` keys)."""


def parse_pmt_reply(reply: str) -> float:
    """The voltage of a ``PMT?`` reply ``PMT <volts> on remote`` (§2); ``ValueError`` else."""
    tokens = reply.split()
    if len(tokens) < 2 or tokens[0] != "PMT":
        raise ValueError(f"expected 'PMT <volts> ...', got {reply!r}")
    try:
        return float(tokens[1])
    except ValueError:
        raise ValueError(f"expected a voltage after 'PMT', got {reply!r}") from None


# ---------------------------------------------------------------- discovery (§5)

DISCOVERY_PORT = 2000
"""UDP port controllers listen on for the discovery request (§5)."""
DISCOVERY_REQUEST = bytes([0x01, 0, 0, 0, 0, 0, 0, 0])
"""The discovery datagram (§5)."""
DISCOVERY_HEADER_BYTES = 5
"""Binary header before the controller's text in a discovery reply (§5)."""
MAX_DISCOVERY_REPLY = 100
"""Largest discovery reply (§5)."""


def discovery_reply(header: bytes, text: str) -> bytes:
    """A discovery reply: the 5-byte header, then the text (ASCII), at most 100 bytes (§5)."""
    if len(header) != DISCOVERY_HEADER_BYTES:
        raise ValueError(f"the discovery header has {DISCOVERY_HEADER_BYTES} bytes, "
                         f"not {len(header)}")
    return (header + text.encode("ascii", "replace"))[:MAX_DISCOVERY_REPLY]


def parse_discovery_reply(data: bytes) -> str:
    """The controller's text in a discovery reply (after the 5-byte header, §5).

    Raises ``ValueError`` for a datagram too short to hold the header.
    """
    if len(data) <= DISCOVERY_HEADER_BYTES:
        raise ValueError(f"a discovery reply of {len(data)} bytes holds no text "
                         f"(header {DISCOVERY_HEADER_BYTES} bytes)")
    text = data[DISCOVERY_HEADER_BYTES:MAX_DISCOVERY_REPLY].decode("ascii", "replace")
    return text.rstrip("\x00\r\n ")

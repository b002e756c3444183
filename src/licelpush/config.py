"""Acquis.ini -> frozen dataclasses (spec: docs/spec/ACQUIS_INI.md).

The data model of a station configuration, and its loading and validation:
:func:`load_config` reads a file, :func:`parse_config` turns its text into an
:class:`AcquisConfig` or raises :class:`~licelpush.errors.ConfigError` listing
every problem of the file at once.
"""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from licelpush.errors import ConfigError
from licelpush.limits import (  # noqa: F401 - MEMORIES re-exported
    ALTITUDE_RANGE_M,
    MAX_LASER_RATE_HZ,
    MAX_SHOT_LIMIT,
    MAX_WAVELENGTH_NM,
    MEMORIES,
    MIN_LASER_RATE_HZ,
)
from licelpush.workdir import is_windows_path

log = logging.getLogger(__name__)


POLARISATION_LETTERS: tuple[str, ...] = ("o", "p", "s", "r", "l")
"""Licel file polarisation letter by Acquis.ini polarisation number 0-4."""

RANGE_MILLIVOLTS: tuple[int, ...] = (500, 100, 20)
"""Input range in mV by Acquis.ini ``Range`` 0, 1, 2."""


def is_foreign_path(text: str) -> bool:
    """True for a Windows path in ``working_directory`` (``D:\\data``, ``C:data``,
    ``\\\\server\\share``) when running on another system, where it cannot be used
    (the rules: :mod:`licelpush.workdir`)."""
    return os.name != "nt" and is_windows_path(text)


@dataclass(frozen=True)
class GlobalInfo:
    """``[global_info]``: site, pointing and output settings."""

    location: str
    longitude: float
    latitude: float
    height_asl: float
    working_directory: str
    first_letter: str
    zenith: float
    azimuth: float


@dataclass(frozen=True)
class Laser:
    """Laser N (1-4): repetition rate (``frequencyN``) and emitted lines.

    Line 3 of a Licel file has shot and rate fields for lasers 1-3 only; a
    dataset of laser 4 carries its number in its dataset line (as the vendor's
    software writes it) and is not counted on line 3."""

    number: int
    frequency_hz: float
    lines: tuple[tuple[float, int], ...] = ()
    """(wavelength nm, polarisation number) pairs from ``[global_info_LaserN]``."""


@dataclass(frozen=True)
class MemoryConfig:
    """One memory (A-D) of a recorder: its analogue and photon-counting datasets."""

    memory: str
    analogue: bool
    photon_counting: bool
    analogue_bins: int
    pc_bins: int
    analogue_wavelength: float
    pc_wavelength: float
    analogue_polarisation: int
    pc_polarisation: int
    laser: int
    analogue_pmt_voltage: float
    pc_pmt_voltage: float


@dataclass(frozen=True)
class RecorderConfig:
    """``[TRn]``: one transient recorder at address ``address`` (0-15)."""

    address: int
    range: int
    discriminator: int
    threshold: int
    pretrigger: bool
    freq_divider: int
    """Divider factor as written in the file: 0 or 1, 2, 4, ..., 128."""
    shot_limit: int
    """0 = leave the recorder's setting as it is."""
    memories: tuple[MemoryConfig, ...]
    """Always four, for memories A, B, C, D in that order."""
    blocked_triggers: tuple[str, ...] = ()
    """Rack triggers (letters A-D) blocked for this recorder."""

    @property
    def active(self) -> bool:
        """A recorder is active when at least one of its datasets is enabled."""
        return any(m.analogue or m.photon_counting for m in self.memories)

    @property
    def freq_divider_exponent(self) -> int:
        """Exponent e of the divider 2**e, as sent with ``FREQDIV``."""
        return max(self.freq_divider, 1).bit_length() - 1

    @property
    def range_millivolts(self) -> int:
        """Input range in mV (500, 100 or 20)."""
        return RANGE_MILLIVOLTS[self.range]

    def memory(self, letter: str) -> MemoryConfig:
        """The configuration of memory ``letter`` (A-D)."""
        return self.memories[MEMORIES.index(letter)]


@dataclass(frozen=True)
class AcquisConfig:
    """A whole Acquis.ini."""

    path: Path
    global_info: GlobalInfo
    lasers: tuple[Laser, ...]
    """Lasers 1, 2, 3, 4 in that order (always four)."""
    recorders: tuple[RecorderConfig, ...]
    """Every ``[TRn]`` section in file order."""

    @property
    def active_recorders(self) -> tuple[RecorderConfig, ...]:
        """Recorders with at least one enabled dataset, in file order."""
        return tuple(r for r in self.recorders if r.active)

    def laser(self, number: int) -> Laser:
        """Laser ``number`` (1-4)."""
        return self.lasers[number - 1]


# ---------------------------------------------------------------------------
# Loading and validation (ACQUIS_INI.md: "General rules", the key tables and
# "What a bad file must produce").

MAX_RECORDER_ADDRESS = 15
"""Highest transient recorder address, i.e. ``[TR15]``."""

LASER_NUMBERS: tuple[int, ...] = (1, 2, 3, 4)
"""Lasers described by ``frequencyN`` and ``[global_info_LaserN]``."""

ANALOGUE_ENABLE_KEYS: tuple[str, ...] = ("AnalogA", "Analog B", "Analog C", "AnalogD")
"""Keys enabling the analogue dataset of memory A-D (the spaces are significant)."""

PC_ENABLE_KEYS: tuple[str, ...] = ("PC A", "PC B", "PC C", "PC D")
"""Keys enabling the photon-counting dataset of memory A-D."""

ANALOGUE_PMT_KEYS: tuple[str, ...] = ("PM", "PM2", "PM3", "PM4")
"""PMT high voltage keys of the analogue datasets of memory A-D."""

PC_PMT_KEYS: tuple[str, ...] = ("PM1pc", "PM2pc", "PM3pc", "PM4pc")
"""PMT high voltage keys of the photon-counting datasets of memory A-D."""

_IGNORED_GLOBAL_KEYS = frozenset(
    {"info", "nosafeincompletefiles", "saveoverflow", "syncviewer"}
)
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_RECORDER_LIKE = re.compile(r"tr\s*[+-]?\s*\d+", re.IGNORECASE)
_RECORDER_NAME = re.compile(r"tr(0|[1-9]\d*)", re.IGNORECASE)
_LASER_SECTION = re.compile(r"global_info_laser(\d+)", re.IGNORECASE)
_LASER_KEY = re.compile(r"laser(\d+)_(wavelength|polari[sz]ation)(\d+)", re.IGNORECASE)
_FIRST_LETTER = re.compile(r"[A-Za-z]{1,2}")

_T = TypeVar("_T")
_Rule = tuple[Callable[[str], _T | None], str]
"""How to read one key: a conversion returning None for invalid text, and what is allowed."""


def decode_config_bytes(data: bytes) -> str:
    """Decode the bytes of an Acquis.ini file.

    UTF-16 when the file starts with a UTF-16 byte order mark, else UTF-8 (a
    UTF-8 byte order mark is dropped), falling back to cp1252 (what the vendor's
    Windows software writes) and finally latin-1, which accepts any bytes.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            log.debug("configuration is not %s, trying the next encoding", encoding)
    return data.decode("latin-1")


def load_config(path: str | Path) -> AcquisConfig:
    """Read and validate the Acquis.ini at ``path`` (see :func:`parse_config`).

    Raises :class:`ConfigError` with a single problem when the file is missing
    or unreadable, else with every problem found in it.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not an Acquis.ini file"]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([f"{path}: cannot read the file: {reason}"]) from None
    return parse_config(decode_config_bytes(data), path)


def parse_config(text: str, source: str | Path) -> AcquisConfig:
    """Turn the text of an Acquis.ini into an :class:`AcquisConfig` (no IO).

    ``source`` names the file in problem messages and becomes
    :attr:`AcquisConfig.path`. The text is read as the stations write it:
    CRLF or LF, comma or dot decimals, double quotes around values stripped,
    key and section names case-insensitive (spaces inside key names count),
    ``;``/``#`` comment lines, unknown keys and sections ignored (debug log;
    a warning for keys that differ from a known key only by spaces), the last
    of duplicate keys wins. No interpolation: ``%`` and ``\\`` are literal.

    Required: a ``[global_info]`` section with ``Location`` and
    ``first_letter``, and at least one ``[TRn]`` section. An active recorder
    (one with an enabled dataset) needs ``Range`` and ``Discriminator``; an
    enabled dataset needs its bins and wavelength, and its memory a ``LaserX``.

    Defaults for absent keys:

    - ``[global_info]``: ``Longitude``, ``Latitude``, ``Height_asl``,
      ``Zenith``, ``Azimuth`` -> 0 (with a warning, they go into every data
      file); ``working_directory`` -> ``""`` (not set: the caller decides);
      ``frequency1``..``4`` -> 0.
    - ``[TRn]``: dataset enables (``AnalogA``, ``PC A``, ...) -> off;
      ``Threshold`` 0, ``Pretrigger`` off, ``FreqDivider`` 0, ``ShotLimit`` 0,
      ``BlockTrigX`` off, PMT voltages 0, polarisations 0; for an inactive
      recorder ``Range`` and ``Discriminator`` 0; for disabled datasets bins 0,
      wavelength 0 and laser 1.

    Every value present is validated. Keys of a disabled dataset (bins,
    wavelength, polarisation, PMT voltage; the laser of a memory with no
    enabled dataset) never make the file invalid: a bad value there is a
    warning and the default is used (the vendor's sample file has
    ``LaserD = 4`` with memory D disabled).
    Raises :class:`ConfigError` listing all problems, sorted by line, each as
    ``<source>:<line> [<section>] <key> = <value as written>: <what is allowed>``.
    """
    label = str(source)
    problems = _Problems(label)
    if "\x00" in text:
        raise ConfigError([f"{label}: contains NUL characters; not an Acquis.ini text file"])
    sections = _split_sections(text, problems)

    global_section: _Section | None = None
    recorder_sections: dict[int, _Section] = {}
    laser_sections: dict[int, _Section] = {}
    for section in sections:
        lowered = section.name.lower()
        if lowered == "global_info":
            if global_section is None:
                global_section = section
            else:
                problems.duplicate_section(section, global_section)
            continue
        if _RECORDER_LIKE.fullmatch(section.name):
            address = _recorder_address(section, problems)
            if address is None:
                continue
            if address in recorder_sections:
                problems.duplicate_section(section, recorder_sections[address])
            else:
                recorder_sections[address] = section
            continue
        laser_match = _LASER_SECTION.fullmatch(section.name)
        if laser_match and int(laser_match[1]) in LASER_NUMBERS:
            number = int(laser_match[1])
            if number in laser_sections:
                problems.duplicate_section(section, laser_sections[number])
            else:
                laser_sections[number] = section
            continue
        log.debug("%s:%d: section [%s] is not used, ignored", label, section.line, section.name)

    if global_section is None:
        problems.add(
            None, "no [global_info] section; it must give at least Location and first_letter"
        )
        global_info, frequencies = _default_global_info(), (0.0,) * len(LASER_NUMBERS)
    else:
        global_info, frequencies = _read_global_info(global_section, problems)
    if not recorder_sections:
        problems.add(None, "no recorder section; at least one of [TR0] to [TR15] is required")
    recorders = tuple(
        _read_recorder(address, section, problems)
        for address, section in recorder_sections.items()
    )
    lasers = tuple(
        Laser(
            number=number,
            frequency_hz=frequencies[number - 1],
            lines=_read_laser_lines(number, laser_sections[number], problems)
            if number in laser_sections
            else (),
        )
        for number in LASER_NUMBERS
    )
    if problems:
        raise ConfigError(problems.sorted())
    log.debug(
        "%s: %d recorder(s), %d active", label, len(recorders), sum(r.active for r in recorders)
    )
    return AcquisConfig(
        path=Path(source), global_info=global_info, lasers=lasers, recorders=recorders
    )


# --- the INI layer -----------------------------------------------------------


@dataclass
class _Entry:
    key: str
    """Key as written (surrounding whitespace removed)."""
    value: str
    """Value as written (surrounding whitespace removed, quotes kept)."""
    line: int


@dataclass
class _Section:
    name: str
    line: int
    entries: dict[str, _Entry] = field(default_factory=dict)
    """By lower-case key."""


class _Problems:
    """The problems of one file, each kept with its line number for sorting."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._items: list[tuple[int, str]] = []

    def add(self, line: int | None, text: str) -> None:
        where = f"{self.label}:{line}" if line else self.label
        separator = " " if text.startswith("[") else ": "
        self._items.append((line or 0, f"{where}{separator}{text}"))

    def duplicate_section(self, section: _Section, first: _Section) -> None:
        self.add(
            section.line,
            f"[{section.name}]: duplicate section, [{first.name}] already starts at line "
            f"{first.line}; each section may appear only once",
        )

    def sorted(self) -> list[str]:
        return [text for _, text in sorted(self._items, key=lambda item: item[0])]

    def __bool__(self) -> bool:
        return bool(self._items)


def _split_sections(text: str, problems: _Problems) -> list[_Section]:
    """Split INI text into sections of key/value entries, in file order."""
    sections: list[_Section] = []
    current: _Section | None = None
    text = text.removeprefix("\ufeff")
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]") and line[1:-1].strip():
            current = _Section(line[1:-1].strip(), number)
            sections.append(current)
            continue
        key, equals, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key or key.startswith("["):
            problems.add(
                number,
                f"cannot read line {line!r}: expected a [section], key = value, "
                "a ; or # comment, or a blank line",
            )
            continue
        if current is None:
            problems.add(
                number,
                f"{key} = {value}: key before the first section; "
                "keys belong in [global_info] or a [TRn] section",
            )
            continue
        lowered = key.lower()
        if lowered in current.entries:
            log.debug(
                "%s:%d [%s] %s: repeated key, line %d replaces line %d",
                problems.label, number, current.name, key, number,
                current.entries[lowered].line,
            )
        current.entries[lowered] = _Entry(key, value, number)
    return sections


def _recorder_address(section: _Section, problems: _Problems) -> int | None:
    """The address n of a ``[TRn]`` section, or None (problem reported)."""
    match = _RECORDER_NAME.fullmatch(section.name)
    if match is None:
        problems.add(
            section.line,
            f"[{section.name}]: not a valid recorder section name; recorder sections are "
            "[TR0] to [TR15] (no spaces, signs or leading zeros)",
        )
        return None
    address = int(match[1])
    if address > MAX_RECORDER_ADDRESS:
        problems.add(
            section.line,
            f"[{section.name}]: recorder address {address} is out of range; "
            f"recorder sections are [TR0] to [TR{MAX_RECORDER_ADDRESS}]",
        )
        return None
    return address


def _unquote(value: str) -> str:
    """Strip one pair of surrounding double quotes."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


# --- value conversions: each returns None for an invalid value ---------------


def _number(text: str) -> float | None:
    if _NUMBER.fullmatch(text) is None:
        return None
    value = float(text.replace(",", "."))
    return value if math.isfinite(value) else None


def _whole(text: str) -> int | None:
    value = _number(text)
    if value is None or not value.is_integer():
        return None
    return int(value)


def _boolean(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    return None


def _switch(text: str) -> bool | None:
    """A boolean spelling, or a whole number 0/1 (``1,000000`` too)."""
    value = _boolean(text)
    if value is not None:
        return value
    whole = _whole(text)
    return bool(whole) if whole in (0, 1) else None


def _switch_number(text: str) -> int | None:
    value = _switch(text)
    return None if value is None else int(value)


def _whole_in(low: int, high: int) -> Callable[[str], int | None]:
    def convert(text: str) -> int | None:
        value = _whole(text)
        return value if value is not None and low <= value <= high else None

    return convert


def _whole_of(allowed: tuple[int, ...]) -> Callable[[str], int | None]:
    def convert(text: str) -> int | None:
        value = _whole(text)
        return value if value in allowed else None

    return convert


def _shot_limit(text: str) -> int | None:
    value = _whole(text)
    return value if value is not None and (value == 0 or 2 <= value <= MAX_SHOT_LIMIT) else None


def _number_in(
    low: float = -math.inf, high: float = math.inf, *, above_low: bool = False
) -> Callable[[str], float | None]:
    def convert(text: str) -> float | None:
        value = _number(text)
        if value is None or value > high or value < low or (above_low and value == low):
            return None
        return value

    return convert


def _one_line_text(text: str) -> str | None:
    if any(unicodedata.category(char) == "Cc" for char in text):
        return None
    return text


def _first_letter(text: str) -> str | None:
    return text if _FIRST_LETTER.fullmatch(text) else None


_BOOL: _Rule[bool] = (_boolean, "must be TRUE or FALSE (also 1/0, yes/no, on/off)")
_SWITCH: _Rule[bool] = (_switch, "must be 0 (off) or 1 (on) (also TRUE/FALSE, yes/no, on/off)")
_SWITCH_NUMBER: _Rule[int] = (_switch_number, _SWITCH[1])
_RANGE: _Rule[int] = (_whole_in(0, 2), "must be 0 (-500 mV), 1 (-100 mV) or 2 (-20 mV)")
_DISCRIMINATOR: _Rule[int] = (_whole_in(0, 63), "must be a whole number from 0 to 63")
_FREQ_DIVIDER: _Rule[int] = (
    _whole_of((0, 1, 2, 4, 8, 16, 32, 64, 128)),
    "must be 0 or a power of two from 1 to 128 (1, 2, 4, 8, 16, 32, 64, 128)",
)
_SHOT_LIMIT: _Rule[int] = (
    _shot_limit, f"must be 0 (leave as is) or a whole number from 2 to {MAX_SHOT_LIMIT}"
)
_BINS: _Rule[int] = (_whole_in(2, 16380), "must be a whole number from 2 to 16380")
_POLARISATION: _Rule[int] = (
    _whole_in(0, 4),
    "must be 0 (none), 1 (parallel), 2 (crossed), 3 (right circular) or 4 (left circular)",
)
_WAVELENGTH: _Rule[float] = (
    _number_in(0.0, MAX_WAVELENGTH_NM, above_low=True),
    f"must be a number > 0 and at most {MAX_WAVELENGTH_NM:g} (nm)",
)
_LASER: _Rule[int] = (_whole_in(1, 4), "must be 1, 2, 3 or 4 (laser number)")
_PMT_VOLTAGE: _Rule[float] = (_number_in(0.0, 2000.0), "must be a number from 0 to 2000 (V)")
def _site_name(text: str) -> str | None:
    return _one_line_text(text) if text.strip() else None


_LOCATION: _Rule[str] = (_site_name,
                         "must be a site name (not empty, no control characters)")
_DIRECTORY: _Rule[str] = (_one_line_text, "must be a path without control characters")
_FIRST_LETTER_RULE: _Rule[str] = (
    _first_letter, "must be 1 or 2 ASCII letters (the data file name prefix)"
)
_LONGITUDE: _Rule[float] = (
    _number_in(-180.0, 180.0), "must be a number from -180 to 180 (degrees)"
)
_LATITUDE: _Rule[float] = (_number_in(-90.0, 90.0), "must be a number from -90 to 90 (degrees)")
_HEIGHT: _Rule[float] = (
    _number_in(*ALTITUDE_RANGE_M),
    f"must be a number from {ALTITUDE_RANGE_M[0]:g} to {ALTITUDE_RANGE_M[1]:g} "
    "(m above sea level)",
)
_ZENITH: _Rule[float] = (_number_in(0.0, 180.0), "must be a number from 0 to 180 (degrees)")
_AZIMUTH: _Rule[float] = (_number_in(0.0, 360.0), "must be a number from 0 to 360 (degrees)")
def _frequency(text: str) -> float | None:
    value = _number_in(0.0, MAX_LASER_RATE_HZ)(text)
    return value if value == 0.0 or (value or 0.0) >= MIN_LASER_RATE_HZ else None


_FREQUENCY: _Rule[float] = (
    _frequency,
    f"must be 0 (not used) or a number from {MIN_LASER_RATE_HZ:g} to {MAX_LASER_RATE_HZ:g} (Hz)",
)


# --- section readers -----------------------------------------------------------


class _SectionReader:
    """Looks up and validates the keys of one section, recording problems."""

    def __init__(self, section: _Section, problems: _Problems) -> None:
        self.section = section
        self.problems = problems
        self._looked_up: dict[str, str] = {}

    def has(self, key: str) -> bool:
        return key.lower() in self.section.entries

    def get(self, key: str, rule: _Rule[_T], default: _T, required: str | None = None,
            *, used: bool = True) -> _T:
        """The value of ``key``; ``default`` when absent (a problem if ``required``).

        A bad value is a problem, or only a warning when the key is not ``used``
        (it belongs to a disabled dataset)."""
        self._looked_up[key.lower()] = key
        entry = self.section.entries.get(key.lower())
        convert, allowed = rule
        if entry is None:
            if required is not None:
                self.problems.add(
                    self.section.line,
                    f"[{self.section.name}] {key}: missing, {required}; {allowed}",
                )
            return default
        value = convert(_unquote(entry.value))
        if value is None:
            text = f"[{self.section.name}] {entry.key} = {entry.value}: {allowed}"
            if used:
                self.problems.add(entry.line, text)
            else:
                log.warning("%s:%d %s; ignored, its dataset is disabled",
                            self.problems.label, entry.line, text)
            return default
        return value

    def report_unused(self, ignored: frozenset[str] = frozenset()) -> None:
        """Log the keys of the section nobody looked up."""
        label, name = self.problems.label, self.section.name
        squeezed = {lower.replace(" ", ""): key for lower, key in self._looked_up.items()}
        for lowered, entry in self.section.entries.items():
            if lowered in self._looked_up:
                continue
            known = squeezed.get(lowered.replace(" ", ""))
            if lowered not in ignored and known is not None:
                log.warning(
                    "%s:%d [%s] %s: unknown key, ignored; did you mean %r? "
                    "(spaces in key names matter)", label, entry.line, name, entry.key, known,
                )
            else:
                log.debug("%s:%d [%s] %s: not used, ignored", label, entry.line, name, entry.key)


def _default_global_info() -> GlobalInfo:
    return GlobalInfo(
        location="", longitude=0.0, latitude=0.0, height_asl=0.0, working_directory="",
        first_letter="", zenith=0.0, azimuth=0.0,
    )


def _read_global_info(
    section: _Section, problems: _Problems
) -> tuple[GlobalInfo, tuple[float, ...]]:
    """``[global_info]`` and the laser repetition rates ``frequency1``..``4``."""
    reader = _SectionReader(section, problems)
    absent = [
        key for key in ("Longitude", "Latitude", "Height_asl", "Zenith", "Azimuth")
        if not reader.has(key)
    ]
    if absent:
        log.warning(
            "%s:%d [%s] %s missing, using 0",
            problems.label, section.line, section.name, ", ".join(absent),
        )
    info = GlobalInfo(
        location=reader.get(
            "Location", _LOCATION, "", "required (the site name)"
        ),
        longitude=reader.get("Longitude", _LONGITUDE, 0.0),
        latitude=reader.get("Latitude", _LATITUDE, 0.0),
        height_asl=reader.get("Height_asl", _HEIGHT, 0.0),
        working_directory=reader.get("working_directory", _DIRECTORY, ""),
        first_letter=reader.get(
            "first_letter", _FIRST_LETTER_RULE, "", "required"
        ),
        zenith=reader.get("Zenith", _ZENITH, 0.0),
        azimuth=reader.get("Azimuth", _AZIMUTH, 0.0),
    )
    frequencies = tuple(reader.get(f"frequency{n}", _FREQUENCY, 0.0) for n in LASER_NUMBERS)
    reader.report_unused(_IGNORED_GLOBAL_KEYS)
    return info, frequencies


def _because(keys: list[str]) -> str | None:
    if not keys:
        return None
    verb = "is" if len(keys) == 1 else "are"
    return f"required because {' and '.join(keys)} {verb} enabled"


def _read_memory(reader: _SectionReader, index: int, analogue_on: bool, pc_on: bool
                 ) -> MemoryConfig:
    """Memory ``MEMORIES[index]`` of a ``[TRn]`` section; keys of its disabled datasets
    only warn."""
    letter = MEMORIES[index]
    if_analogue = _because([ANALOGUE_ENABLE_KEYS[index]] if analogue_on else [])
    if_pc = _because([PC_ENABLE_KEYS[index]] if pc_on else [])
    if_either = _because(
        [key for key, on in ((ANALOGUE_ENABLE_KEYS[index], analogue_on),
                             (PC_ENABLE_KEYS[index], pc_on)) if on]
    )
    on_a, on_pc = {"used": analogue_on}, {"used": pc_on}
    return MemoryConfig(
        memory=letter,
        analogue=analogue_on,
        photon_counting=pc_on,
        analogue_bins=reader.get(f"A-bins{letter}", _BINS, 0, if_analogue, **on_a),
        pc_bins=reader.get(f"P-bins{letter}", _BINS, 0, if_pc, **on_pc),
        analogue_wavelength=reader.get(f"Wavelength{letter}", _WAVELENGTH, 0.0, if_analogue,
                                       **on_a),
        pc_wavelength=reader.get(f"Wavelength{letter}pc", _WAVELENGTH, 0.0, if_pc, **on_pc),
        analogue_polarisation=reader.get(f"Polarisation{letter}", _POLARISATION, 0, **on_a),
        pc_polarisation=reader.get(f"Polarisation{letter}pc", _POLARISATION, 0, **on_pc),
        laser=reader.get(f"Laser{letter}", _LASER, 1, if_either, used=analogue_on or pc_on),
        analogue_pmt_voltage=reader.get(ANALOGUE_PMT_KEYS[index], _PMT_VOLTAGE, 0.0, **on_a),
        pc_pmt_voltage=reader.get(PC_PMT_KEYS[index], _PMT_VOLTAGE, 0.0, **on_pc),
    )


def _read_recorder(address: int, section: _Section, problems: _Problems) -> RecorderConfig:
    """One ``[TRn]`` section."""
    reader = _SectionReader(section, problems)
    analogue = [reader.get(key, _BOOL, False) for key in ANALOGUE_ENABLE_KEYS]
    photon_counting = [reader.get(key, _BOOL, False) for key in PC_ENABLE_KEYS]
    enabled = [
        key for key, on in zip(ANALOGUE_ENABLE_KEYS + PC_ENABLE_KEYS, analogue + photon_counting)
        if on
    ]
    if_active = "required for an active recorder" if enabled else None
    range_ = reader.get("Range", _RANGE, 0, if_active)
    discriminator = reader.get("Discriminator", _DISCRIMINATOR, 0, if_active)
    threshold = reader.get("Threshold", _SWITCH_NUMBER, 0)
    pretrigger = reader.get("Pretrigger", _SWITCH, False)
    freq_divider = reader.get("FreqDivider", _FREQ_DIVIDER, 0)
    shot_limit = reader.get("ShotLimit", _SHOT_LIMIT, 0)
    memories = [_read_memory(reader, index, analogue[index], photon_counting[index])
                for index in range(len(MEMORIES))]
    blocked = tuple(
        letter for letter in MEMORIES if reader.get(f"BlockTrig{letter}", _BOOL, False)
    )
    reader.report_unused()
    return RecorderConfig(
        address=address,
        range=range_,
        discriminator=discriminator,
        threshold=threshold,
        pretrigger=pretrigger,
        freq_divider=freq_divider,
        shot_limit=shot_limit,
        memories=tuple(memories),
        blocked_triggers=blocked,
    )


def _read_laser_lines(
    number: int, section: _Section, problems: _Problems
) -> tuple[tuple[float, int], ...]:
    """``LaserN_WavelengthK`` / ``LaserN_PolarizationK`` pairs sorted by K.

    A wavelength without a polarisation has polarisation 0; a polarisation
    without a wavelength is a problem.
    """
    wavelengths: dict[int, float] = {}
    polarisations: dict[int, int] = {}
    wavelength_keys: set[int] = set()
    orphans: list[tuple[int, _Entry]] = []
    for lowered, entry in section.entries.items():
        match = _LASER_KEY.fullmatch(lowered)
        if match is None or int(match[1]) != number:
            log.debug(
                "%s:%d [%s] %s: not used, ignored",
                problems.label, entry.line, section.name, entry.key,
            )
            continue
        index = int(match[3])
        is_wavelength = match[2] == "wavelength"
        convert, allowed = _WAVELENGTH if is_wavelength else _POLARISATION
        value = convert(_unquote(entry.value))
        if is_wavelength:
            wavelength_keys.add(index)
        else:
            orphans.append((index, entry))
        if value is None:
            problems.add(entry.line, f"[{section.name}] {entry.key} = {entry.value}: {allowed}")
        elif is_wavelength:
            wavelengths[index] = float(value)
        else:
            polarisations[index] = int(value)
    for index, entry in orphans:
        if index not in wavelength_keys:
            problems.add(
                entry.line,
                f"[{section.name}] {entry.key} = {entry.value}: has no matching "
                f"Laser{number}_Wavelength{index}",
            )
    return tuple((wavelengths[k], polarisations.get(k, 0)) for k in sorted(wavelengths))

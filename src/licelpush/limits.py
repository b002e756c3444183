"""Fixed limits and protocol constants, each stated once.

Spec: PROTOCOL.md §1 (ports P, P+1, P+2; the kill password). Modules that
check or use these values import them from here.
"""

from __future__ import annotations

MEMORIES: tuple[str, ...] = ("A", "B", "C", "D")
"""Memory letters of a transient recorder, in the order they are read."""
PUSH_KINDS: tuple[str, ...] = ("LSW", "MSW", "PHM", "PC")
"""Raw dataset kinds an MPUSH frame can carry (PROTOCOL.md §3.1)."""
MAX_RECORDER_ADDRESS = 15
"""Recorder addresses are 0-15 (PROTOCOL.md §2 ``SELECT``)."""
MAX_BINS = 32768
"""Most raw words one dataset request may ask for."""
SHOT_COUNTER_OFFSET = 2
"""Shot counts reported by the controller include +2 (two clearing cycles, §2)."""
MAX_SHOTS = 65535 - SHOT_COUNTER_OFFSET
"""Most shots per acquisition (assumed: the uint16 shot word must hold shots + 2)."""
MAX_SHOT_LIMIT = 65534
"""Largest ``SETMAXSHOTS`` / ``ShotLimit`` / ``LIMIT 64K`` value."""
MAX_PORT = 65535
"""Highest TCP port number."""
DEFAULT_PORT = 2055
"""Command port; the push port is P + 1 and the kill port P + 2 (PROTOCOL.md §1)."""
MAX_COMMAND_PORT = MAX_PORT - 2
"""Highest command port P: P + 1 (push) and P + 2 (kill) must be ports too."""
KILL_PASSWORD = "Administrator"
"""What the vendor client sends with ``KILL SOCKETS`` (PROTOCOL.md §1)."""
COLDFIRE_MARKER = "ColdFireEthernet"
"""An IDN containing this marks an old board with big-endian push timestamps (PROTOCOL.md §2)."""
MAX_LISTED_FILES = 1000
"""Files named in a run's summary or a writer's list (the most recent; all are counted)."""


# Largest values the fixed-width fields of a Licel file header hold
# (docs/spec/LICEL_FILE_FORMAT.md, record layout). Every value that reaches one of
# these fields is range-checked where it enters licelpush (the configuration, a
# TRTYPE? reply) and the encoder refuses anything beyond them, so no header line
# can overflow a field.

MAX_WAVELENGTH_NM = 99999.0
"""Wavelength field ``nnnnn.p`` of a dataset line: five digits."""
ALTITUDE_RANGE_M: tuple[float, float] = (-999.0, 9999.0)
"""Altitude field of line 2: four characters."""
MAX_LASER_RATE_HZ = 9999.0
"""Repetition rate fields of line 3: four digits."""
MIN_LASER_RATE_HZ = 0.001
"""Slowest repetition rate taken (0 means "not used"): slower rates make the
duration of one acquisition absurd."""
MAX_BIN_SHIFT = 99.999
"""Bin shift fields ``ww ttt`` of an analogue dataset line: two digits, thousandths."""
MAX_TRTYPE_BIN_WIDTH_M = 100.0
"""Largest bin width a ``TRTYPE?`` reply may report; times the largest frequency
divider (128) it stays within :data:`MAX_BIN_WIDTH_M`."""
MAX_BIN_WIDTH_M = 99999.99
"""Bin width field (m, two decimals) of a dataset line."""


def big_endian_timestamps(idn: str) -> bool:
    """True when a controller with this ``*IDN?`` pushes big-endian timestamps (§2)."""
    return COLDFIRE_MARKER in idn


def command_port_problem(port: object, *, allow_zero: bool = False) -> str | None:
    """Why ``port`` cannot be a command port P (None when it can; 0 = any free port when
    ``allow_zero``)."""
    low = 0 if allow_zero else 1
    if isinstance(port, bool) or not isinstance(port, int) or not low <= port <= MAX_COMMAND_PORT:
        wanted = "expected 0 (free ports) or" if allow_zero else "must be"
        return (f"{wanted} an integer from 1 to {MAX_COMMAND_PORT} "
                "(P, P+1 and P+2 are used)")
    return None

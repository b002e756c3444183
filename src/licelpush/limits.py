"""Fixed limits and protocol constants, each stated once.

Spec: PROTOCOL.md §1 (ports P, P+1, P+2; the kill password). Modules that
check or use these values import them from here.
"""

from __future__ import annotations

DEFAULT_PORT = 2055
"""Command port; the push port is P + 1 and the kill port P + 2 (PROTOCOL.md §1)."""
MAX_COMMAND_PORT = 65533
"""Highest command port P: P + 1 (push) and P + 2 (kill) must be ports too."""
KILL_PASSWORD = "Administrator"
"""What the vendor client sends with ``KILL SOCKETS`` (PROTOCOL.md §1)."""
COLDFIRE_MARKER = "ColdFireEthernet"
"""An IDN containing this marks an old board with big-endian push timestamps (PROTOCOL.md §2)."""
MAX_LISTED_FILES = 1000
"""Files named in a run's summary or a writer's list (the most recent; all are counted)."""


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

"""Defaults and assumptions of the emulator, in one place (PROTOCOL.md: "keep every such
assumption in one place in the code").

PROTOCOL.md fixes some undocumented hardware behaviour as **assumed**; the
emulator adds a few more of its own. Each is a constant here, used by
:mod:`licelpush.emulator.model` and :mod:`licelpush.emulator.server`, so it can
be corrected without a hunt. No heavy imports: ``licelpush emulate --help``
reads the defaults from here.

Behaviour the emulator always has (assumed, not switchable):

- an MPUSH frame holds the MPUSH shot count even when it exceeds the
  recorder's max shots (SETMAXSHOTS); the max shots applies to START/CONTINUE;
- push mode belongs to the controller: frames completed while no push client
  is connected are dropped (no ledger seq);
- ``DATA?`` for an address without a recorder answers 2n zero bytes, so the
  binary reply keeps the command stream in step;
- push memory is double-buffered: while frame k is transferred, acquisition
  k+1 runs in the other memory; k+2 starts only when frame k has been handed
  over, so a slow client delays acquisitions instead of losing frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from licelpush import __version__
from licelpush.hardware import RecorderHardware
from licelpush.limits import KILL_PASSWORD

DEFAULT_IDN = f"Licel Ethernet Controller (licelpush emulator {__version__})"
"""``*IDN?`` reply unless ``--idn`` is given; it has no ``ColdFireEthernet``, so
push timestamps are little-endian."""
DEFAULT_CAPS = "TR PMT"
"""``CAP?`` reply after ``CAP `` (assumed)."""
DEFAULT_RATE_HZ = 20.0
"""Laser repetition rate of the shot clock."""
DEFAULT_KILL_PASSWORD = KILL_PASSWORD
"""Password of ``KILL SOCKETS`` on the kill port (the vendor's)."""
DEFAULT_RECORDERS = "0:16/4"
"""Installed recorders when neither ``--config`` nor ``--recorders`` is given:
one TR at address 0 with a 16-bit ADC, 4-bit photon counting, 3.75 m bins,
FIFO 16384, HWCAP 0x7F."""
DEFAULT_HARDWARE = RecorderHardware()
"""Hardware of a recorder that ``--recorders`` does not describe (16/4, 3.75 m)."""
POWER_UP_MAX_SHOTS = 4096
"""§5: max shots at power-up (pretrigger off, too)."""
POWER_UP_RANGE = 0
"""Assumed: input range -500 mV at power-up."""
NOT_INSTALLED_STATUS = "TR not installed"
"""Assumed ``STAT?`` reply for a selected slot without a recorder (§2)."""
LIMIT_SHOTS: Mapping[str, int] = MappingProxyType({"4K": 4096, "64K": 65534})
"""Max shots set by ``LIMIT 4K`` / ``LIMIT 64K`` (assumed)."""
SHOT_COUNTER_RESET_BY_TRTYPE = True
"""§2: ``TRTYPE?`` also resets the shot counter of the recorder it describes."""
PUSH_ENDS_WITH_COMMAND_CONNECTION = True
"""Assumed (§3.4 "a dropped connection ends push mode"): push mode also ends when
the command connection that started it closes, not only the push connection."""
KILL_SPARES_NEWER_CONNECTIONS = True
"""Assumed: a kill drops the command and push connections opened before the kill
connection, so a client that reconnects right after sending its kill request
(as the vendor library does) keeps its new connections."""

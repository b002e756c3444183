"""The largest values the fixed-width fields of a Licel file header hold.

Spec: docs/spec/LICEL_FILE_FORMAT.md (record layout). Every value that reaches
one of these fields is range-checked where it enters licelpush — the
configuration (:mod:`licelpush.config`) or a ``TRTYPE?`` reply
(:mod:`licelpush.hardware`) — and the encoder (:mod:`licelpush.licelfile`)
refuses anything beyond them, so no header line can overflow a field.
"""

from __future__ import annotations

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

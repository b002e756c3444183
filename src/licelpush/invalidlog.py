"""The human-readable log of invalid push data (``--log``; the vendor's ``pushDataLog``).

One entry per invalid span: when, then one ``label: value`` row per line,
labels padded to one column, and a blank line. The acquisition and the
``Licel`` adapter write their entries through :func:`append_entry`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from licelpush.errors import OutputError

HEAD_BYTES = 32
"""Bytes of an invalid span shown in hex."""


def format_entry(when: str, rows: Sequence[tuple[str, str]], width: int) -> str:
    """``when invalid push data`` and the rows, values starting at column ``width`` + 3."""
    lines = [f"{when} invalid push data"]
    lines += [f"  {label + ':':<{width}} {value}" for label, value in rows]
    return "\n".join(lines) + "\n\n"


def head_hex(data: bytes | bytearray | memoryview) -> str:
    """The first :data:`HEAD_BYTES` bytes in hex, space-separated."""
    return bytes(data[:HEAD_BYTES]).hex(" ")


def append_entry(path: str | os.PathLike[str], text: str) -> None:
    """Append one formatted entry to the log at ``path`` (:class:`OutputError` on failure)."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the invalid data log: "
                          f"{exc.strerror or exc}") from exc

"""Checks of output paths given on the command line, before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

from licelpush.errors import LicelpushError

MAX_NAME_BYTES = 255
"""Longest file or directory name (one path component) on common file systems
(ext4, XFS, NTFS, APFS)."""


def check_output_path(option: str, path: Path) -> Path:
    """``path`` unchanged, or a usage error (exit 2) naming ``option`` when one of its
    components is longer than :data:`MAX_NAME_BYTES` bytes."""
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > MAX_NAME_BYTES:
            shown = part if len(part) <= 40 else part[:20] + "…" + part[-12:]
            raise LicelpushError(f"{option} {shown!r}: a path component of {size} bytes; "
                                 f"names may have at most {MAX_NAME_BYTES} bytes")
    return path

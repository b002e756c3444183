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


def check_not_inside_inputs(out_dir: Path, names: list[str]) -> None:
    """A usage error (exit 2) when ``out_dir`` is a directory named among the inputs or lies
    inside one: walking it again would read the files written there with the originals."""
    target = out_dir.resolve()
    for name in names:
        directory = Path(name)
        if directory.is_dir() and (target == directory.resolve()
                                   or directory.resolve() in target.parents):
            raise LicelpushError(f"-o {out_dir}: inside the input directory {name}, which is "
                                 "walked; choose a directory outside it")

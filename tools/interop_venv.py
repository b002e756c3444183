"""Build (or reuse) the separate virtual environment holding the public Licel readers.

The readers (atmospheric-lidar, licelformat, linc) pin dependencies that clash
with the project's, so they live in their own venv and
``tools/interop_readers.py`` runs there as a subprocess.

Location: ``$LICELPUSH_INTEROP_VENV`` or ``~/.cache/licelpush/interop-venv``.
Wheels are first downloaded into ``<venv>-wheels`` and installed from there
with ``--no-index``, so a machine that built the venv once can rebuild it
offline; a fresh machine needs PyPI once.

    python tools/interop_venv.py          # build or reuse, print the venv's python
    python tools/interop_venv.py --rebuild
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
READERS_SCRIPT = HERE / "interop_readers.py"

REQUIREMENTS = (
    "atmospheric-lidar==0.5.4",
    "licelformat==1.6.0",
    "linc==3.0.6",
    # linc imports pandas without declaring it
    "pandas>=2",
)


class InteropVenvError(RuntimeError):
    """The readers' venv could not be built; the message says which step failed."""


def venv_dir() -> Path:
    env = os.environ.get("LICELPUSH_INTEROP_VENV")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "licelpush" / "interop-venv"


def venv_python(directory: Path) -> Path:
    return directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def check(python: Path) -> subprocess.CompletedProcess[str]:
    """Run the readers' import check in the venv."""
    return _run([str(python), str(READERS_SCRIPT), "--check"], timeout=300)


def ensure_venv(rebuild: bool = False) -> Path:
    """Return the python of a venv in which all readers import; build it if needed."""
    directory = venv_dir()
    python = venv_python(directory)
    if python.exists() and not rebuild:
        result = check(python)
        if result.returncode == 0:
            return python
    if directory.exists():
        shutil.rmtree(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    wheels = Path(str(directory) + "-wheels")
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    download = _run(pip + ["download", "--dest", str(wheels), *REQUIREMENTS], timeout=1800)
    install = _run(pip + ["install", "--no-index", "--find-links", str(wheels), *REQUIREMENTS],
                   timeout=1800)
    if install.returncode != 0:
        raise InteropVenvError(
            f"cannot install the public Licel readers into {directory}.\n"
            f"pip download (needs PyPI unless {wheels} already holds the wheels) said:\n"
            f"{download.stdout[-2000:]}{download.stderr[-2000:]}\n"
            f"pip install said:\n{install.stdout[-2000:]}{install.stderr[-2000:]}"
        )
    result = check(python)
    if result.returncode != 0:
        raise InteropVenvError(
            f"readers installed in {directory} but do not import:\n{result.stdout}{result.stderr}"
        )
    return python


def main(argv: list[str]) -> int:
    try:
        python = ensure_venv(rebuild="--rebuild" in argv)
    except InteropVenvError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(python)
    print(check(python).stdout, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Shared pytest set-up: make tests/ importable for the small factories module.

With ``LICELPUSH_PORTABLE=1`` in the environment the whole run is in portable
mode (``.ci/run`` runs the file, acquisition, crash and disk-full tests a
second time so): before licelpush is imported, ``os.writev``, ``os.statvfs``
and ``os.O_DIRECTORY`` are removed from :mod:`os` (``tests/portable/
sitecustomize.py``, which child Pythons load through ``PYTHONPATH``), so
:mod:`licelpush.platform` takes its portable form, as on Windows.
"""

import importlib.util
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PORTABLE = os.environ.get("LICELPUSH_PORTABLE") == "1"
PORTABLE_SITE = HERE / "portable"
"""Holds the ``sitecustomize`` that strips :mod:`os` in child Pythons."""

if PORTABLE:
    early = sorted(m for m in sys.modules if m == "licelpush" or m.startswith("licelpush."))
    if early:
        raise RuntimeError(f"portable mode: {early} imported before os was stripped")
    spec = importlib.util.spec_from_file_location("portable_site",
                                                  PORTABLE_SITE / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    portable_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(portable_site)  # strips os now
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PORTABLE_SITE), os.environ.get("PYTHONPATH", "")) if p)


def pytest_report_header(config):  # noqa: ARG001 - pytest hook signature
    """Say in which mode the run is."""
    if PORTABLE:
        return "licelpush portable mode: os.writev, os.statvfs, os.O_DIRECTORY removed"
    return None

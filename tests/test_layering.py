"""The core is sans-IO: its modules import no IO module, of the project or of Python.

The layer map is in ``licelpush/__init__.py`` and docs/ARCHITECTURE.md; this
test walks every import statement of the core modules with :mod:`ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import licelpush

PACKAGE = Path(licelpush.__file__).parent
CORE = ("config", "hardware", "plan", "commands", "framing", "decode", "encode", "licelfile",
        "records", "recordtimes", "readers", "session", "limits", "notices", "errors",
        "wordlayout", "events", "physical", "channelkey", "sccmap", "rewrite", "hv",
        "layout", "diskguard", "schedule", "status", "curtain", "monitorstate", "workdir")
"""Modules that compute only; they take bytes, text and times and give back values."""
IO_STDLIB = {"socket", "asyncio", "threading", "signal", "select", "selectors", "queue",
             "subprocess"}
"""Standard-library modules that wait on or talk to the outside world."""
IO_PROJECT = {"client", "acquisition", "filewriter", "journal", "runlink", "runoutput",
              "runrecords", "invalidlog", "testing", "emulator", "cli", "platform",
              "datafiles", "netcdflib", "cfnetcdf", "scc", "tailrepair", "discovery",
              "runpoll", "runend", "station", "statusfile", "sdnotify", "layoutwriter", "quicklook",
              "monitorserver"}
"""The project's IO edges (and the packages that hold them)."""


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names (absolute, dotted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside the licelpush package
                base = "licelpush" + (f".{node.module}" if node.module else "")
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def violations(modules: set[str]) -> list[str]:
    bad = []
    for name in sorted(modules):
        parts = name.split(".")
        if parts[0] in IO_STDLIB:
            bad.append(name)
        elif parts[0] == "licelpush" and len(parts) > 1 and parts[1] in IO_PROJECT:
            bad.append(name)
    return bad


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_io(module):
    path = PACKAGE / f"{module}.py"
    assert path.is_file(), f"core module {module} is missing"
    assert violations(imported_modules(path)) == []


def test_the_check_finds_io_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import socket\nfrom licelpush.client import Controller\n"
                      "from licelpush import acquisition\nfrom .journal import Journal\n"
                      "import numpy\nfrom licelpush.plan import make_plan\n")
    assert violations(imported_modules(sample)) == [
        "licelpush.acquisition", "licelpush.client", "licelpush.client.Controller",
        "licelpush.journal", "licelpush.journal.Journal", "socket"]


def test_every_module_of_the_package_is_placed_in_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    unplaced = (modules | packages) - set(CORE) - IO_PROJECT
    assert unplaced == set(), "add new modules to CORE or IO_PROJECT (and the layer map)"


def test_the_layer_map_names_every_core_module():
    doc = licelpush.__doc__ or ""
    assert all(f"``{m}``" in doc for m in CORE)


MAX_FUNCTION_LINES = 60
"""Every function of src/ is shorter, except parsers and argument tables (names with
``parse`` or ``register``, ``main``, ``*_arguments``)."""


def long_functions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name = node.name
            if "parse" in name or "register" in name or name == "main" \
                    or name.endswith("_arguments"):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines >= MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(root)}:{node.lineno} {name} ({lines} lines)")
    return found


def test_every_function_is_under_60_lines():
    assert long_functions(PACKAGE.parent) == []


def test_the_run_loop_stays_small():
    """The run's IO loop carries out the session's decisions; the rest lives in the
    modules around it (docs/ARCHITECTURE.md)."""
    lines = (PACKAGE / "acquisition.py").read_text(encoding="utf-8").count("\n")
    assert lines < 350, f"acquisition.py has {lines} lines"


def test_the_length_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "m.py").write_text(f"def long():\n{body}\n\n\ndef parse_long():\n{body}\n")
    assert long_functions(tmp_path) == ["m.py:1 long (61 lines)"]

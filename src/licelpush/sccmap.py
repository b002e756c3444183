"""The SCC channel map: which licelpush channel is which SCC channel (TOML).

Each ``[[channel]]`` table maps one signal of the station, named by recorder
address, memory letter and detection mode (:class:`~licelpush.channelkey.ChannelKey`),
to the id the Single Calculus Chain database gives that channel. Because the
key is the memory and not the wavelength, two recorders with the same
wavelength, or two memories of one recorder, are distinct channels. Optional
top-level keys: ``molecular_calc`` (0: standard atmosphere from
``--pressure``/``--temperature``, the default; 1: radiosounding), ``system``
and ``location`` (global attributes ``System``/``Location``)::

    molecular_calc = 0
    [[channel]]
    recorder = 0
    memory = "A"
    mode = "analogue"   # or "pc"
    scc_id = 101

:func:`load_channel_map` reports every problem of the file at once, each line
naming the file, the table and the key; :meth:`ChannelMap.indices` checks
the map against the datasets of a record.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from licelpush.channelkey import ALL_MEMORIES, ChannelKey
from licelpush.errors import ConfigError, LicelpushError

MODES = {"analogue": True, "analog": True, "pc": False, "photon_counting": False}
_CHANNEL_KEYS = ("recorder", "memory", "mode", "scc_id")
_TOP_KEYS = ("molecular_calc", "system", "location", "channel")


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:
        raise LicelpushError("reading the channel map needs tomli on Python 3.10: "
                             "pip install 'licelpush[netcdf]'") from None
    return tomli


@dataclass(frozen=True)
class ChannelMap:
    """A validated channel map: SCC ids in file order and the global options."""

    path: str
    channels: tuple[tuple[ChannelKey, int], ...]
    molecular_calc: int = 0
    system: str | None = None
    location: str | None = None

    def indices(self, keys: Sequence[ChannelKey | None], where: str) -> list[int]:
        """The dataset index of each mapped channel among ``keys`` (a record's
        datasets); raises LicelpushError naming the missing channels and ``where``."""
        position = {key: i for i, key in enumerate(keys) if key is not None}
        missing = [key.label for key, _ in self.channels if key not in position]
        if missing:
            present = ", ".join(k.label for k in keys if k is not None) or "none"
            raise LicelpushError(f"{where}: channel map {self.path} maps {', '.join(missing)}, "
                                 f"not in the record (it has {present})")
        return [position[key] for key, _ in self.channels]


def _channel(entry: Any, where: str, problems: list[str]) -> tuple[ChannelKey, int] | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be a table with {', '.join(_CHANNEL_KEYS)}")
        return None
    for key in entry:
        if key not in _CHANNEL_KEYS:
            problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(_CHANNEL_KEYS)})")
    missing = [k for k in _CHANNEL_KEYS if k not in entry]
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
        return None
    recorder, memory, mode, scc_id = (entry[k] for k in _CHANNEL_KEYS)
    count = len(problems)
    if type(recorder) is not int or not 0 <= recorder <= 15:
        problems.append(f"{where}: recorder = {recorder!r}, expected an integer 0-15")
    if not isinstance(memory, str) or memory.upper() not in ALL_MEMORIES or len(memory) != 1:
        problems.append(f"{where}: memory = {memory!r}, expected one of A, B, C, D")
    if mode not in MODES:
        problems.append(f"{where}: mode = {mode!r}, expected \"analogue\" or \"pc\"")
    if type(scc_id) is not int or scc_id < 0:
        problems.append(f"{where}: scc_id = {scc_id!r}, expected a non-negative integer")
    if len(problems) > count:
        return None
    return ChannelKey(recorder, memory.upper(), MODES[mode]), scc_id


def parse_channel_map(text: str, path: str = "<channel map>") -> ChannelMap:
    """A channel map from TOML text; raises ConfigError listing every problem."""
    try:
        data = _toml().loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    problems = [f"{path}: unknown key {key!r} (allowed: {', '.join(_TOP_KEYS)})"
                for key in data if key not in _TOP_KEYS]
    entries = data.get("channel", [])
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path}: no [[channel]] tables")
        entries = []
    channels: list[tuple[ChannelKey, int]] = []
    for i, entry in enumerate(entries):
        where = f"{path}: [[channel]] {i + 1}"
        item = _channel(entry, where, problems)
        if item is None:
            continue
        for key, scc_id in channels:
            if key == item[0]:
                problems.append(f"{where}: {key.label} is mapped twice")
            elif scc_id == item[1]:
                problems.append(f"{where}: scc_id {scc_id} is already used for {key.label}")
        channels.append(item)
    molecular = data.get("molecular_calc", 0)
    if molecular not in (0, 1) or type(molecular) is not int:
        problems.append(f"{path}: molecular_calc = {molecular!r}, expected 0 (standard "
                        "atmosphere) or 1 (radiosounding)")
    for key in ("system", "location"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{path}: {key} = {data[key]!r}, expected a string")
    if problems:
        raise ConfigError(problems)
    return ChannelMap(path, tuple(channels), molecular, data.get("system"), data.get("location"))


def load_channel_map(path: str | Path) -> ChannelMap:
    """The channel map in the TOML file ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the channel map: "
                           f"{getattr(exc, 'strerror', None) or exc}"]) from None
    return parse_channel_map(text, str(path))

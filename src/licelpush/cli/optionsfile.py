"""Option profiles: ``acquire --options station.toml`` (TOML read with the standard library).

Every acquire flag can be a top-level key named like its long flag with
underscores (``acq = -1``, ``shots = 300``, ``output = "data"``,
``min_free = "5%"``, ``local_time = true``, ``emulator_fault = ["..."]``).
The profile becomes command-line arguments placed before the real ones, so
flags given on the command line override it. Unknown keys and values of the
wrong kind are errors naming the file and the key.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from licelpush.errors import LicelpushError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

NOT_IN_PROFILE = frozenset({"help", "options"})


def load_toml(path: Path) -> dict[str, Any]:
    """The TOML table in ``path``; a missing or broken file is a usage error."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise LicelpushError(f"--options {path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LicelpushError(f"--options {path}: not valid TOML: {exc}") from exc


def _actions(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    by_key: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs or action.dest in NOT_IN_PROFILE:
            continue
        for key in {action.dest, *(s[2:].replace("-", "_") for s in longs)}:
            by_key.setdefault(key, []).append(action)
    return by_key


def _flag_for_bool(actions: list[argparse.Action], value: bool) -> list[str]:
    for action in actions:
        if isinstance(action, argparse.BooleanOptionalAction):
            flag = action.option_strings[0]
            return [flag if value else "--no-" + flag[2:]]
        if isinstance(action, argparse._StoreConstAction) and action.const is value:  # noqa: SLF001
            return [action.option_strings[-1]]
        if isinstance(action, argparse._StoreConstAction) and not value \
                and action.const is True:  # noqa: SLF001
            return []
    raise ValueError("is not a switch (true/false)")


def _check_value(action: argparse.Action, text: str) -> None:
    if action.type is not None:
        try:
            action.type(text)  # type: ignore[operator]
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            raise ValueError(str(exc) or "has the wrong kind of value") from exc
    if action.choices is not None and text not in action.choices:
        raise ValueError(f"must be one of {', '.join(map(str, action.choices))}")


def _tokens(actions: list[argparse.Action], value: Any) -> list[str]:
    if isinstance(value, bool):
        return _flag_for_bool(actions, value)
    action = actions[0]
    flag = next(s for s in action.option_strings if s.startswith("--"))
    if action.nargs == 0:
        raise ValueError("is a switch: give true or false")
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not isinstance(action, argparse._AppendAction):  # noqa: SLF001
        raise ValueError("takes one value, not a list")
    tokens: list[str] = []
    for item in values:
        if isinstance(item, (dict, list)):
            raise ValueError("must be a number, a string or a list of them")
        text = str(item)
        _check_value(action, text)
        tokens += [flag, text]
    return tokens


def profile_arguments(path: Path, parser: argparse.ArgumentParser,
                      given: Sequence[str] = ()) -> list[str]:
    """The command-line arguments the profile in ``path`` stands for (checked), without
    the keys whose setting the arguments ``given`` on the command line make."""
    table = load_toml(path)
    known = _actions(parser)
    on_command_line = {token.split("=", 1)[0] for token in given if token.startswith("-")}
    set_by_hand = {action.dest for action in parser._actions  # noqa: SLF001
                   if on_command_line.intersection(action.option_strings)}
    arguments: list[str] = []
    for key, value in table.items():
        if key not in known:
            raise LicelpushError(f"--options {path}: unknown key {key!r} (keys are the long "
                                 "acquire flags with underscores, e.g. min_free)")
        try:
            tokens = _tokens(known[key], value)
        except ValueError as exc:
            raise LicelpushError(f"--options {path}: {key} = {value!r} {exc}") from exc
        if known[key][0].dest not in set_by_hand:
            arguments += tokens
    return arguments

"""``licelpush check``: validate an Acquis.ini and print the MPUSH plan."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from licelpush.plan import DEFAULT_SHOTS

log = logging.getLogger(__name__)

DEFAULT_HARDWARE = "16/4"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``check`` subcommand."""
    p = subparsers.add_parser(
        "check", parents=[common],
        help="validate an Acquis.ini and print the MPUSH plan",
        description="Validate a station configuration (all problems at once) and print, per "
        "recorder and memory, the raw datasets and bins, then the MPUSH command and the frame "
        "size. Recorders are assumed to have a 16-bit ADC and 4-bit photon counting unless "
        "--hardware says otherwise. Exit status 0 when valid, 2 when not.",
    )
    p.add_argument("config", metavar="CONFIG", nargs="?",
                   help="the Acquis.ini to check (with --options: default the profile's "
                   "config)")
    p.add_argument("--shots", type=int, default=DEFAULT_SHOTS, metavar="N",
                   help=f"shots per acquisition (default {DEFAULT_SHOTS}, as acquire)")
    p.add_argument("--hardware", metavar="SPEC", default="",
                   help="recorder hardware as ADDR:ADC/PC[/BINWIDTH_M[/FIFO]][,...], e.g. "
                   "0:16/4,1:12/4; "
                   f"unlisted recorders are {DEFAULT_HARDWARE}")
    p.add_argument("--big-endian-timestamp", action="store_true",
                   help="plan for an old ColdFireEthernet controller (big-endian timestamps)")
    p.add_argument("--options", metavar="FILE",
                   help="also validate an acquire option profile (TOML, see acquire --options) "
                   "and plan with its shots")
    p.set_defaults(run=run)


def read_profile(path: str) -> argparse.Namespace:
    """The acquire flags an option profile stands for (checked: a usage error names the key)."""
    from pathlib import Path

    from licelpush.cli.acquire import acquire_parser
    from licelpush.cli.optionsfile import profile_arguments

    parser = acquire_parser()
    return parser.parse_args(profile_arguments(Path(path), parser))


def check_profile(path: str, profile: argparse.Namespace, config: Any) -> int:
    """Validate an acquire option profile against ``config``; returns its shots."""
    from pathlib import Path

    from licelpush.cli.acquire import acquire_options, station_options
    from licelpush.errors import LicelpushError

    station_options(profile, config)
    problems = acquire_options(profile, profile.ip, profile.port, Path(".")).problems(config)
    if problems:
        raise LicelpushError(f"--options {path}: " + "; ".join(problems))
    sys.stdout.write(f"{path}: valid acquire options\n")
    return int(profile.shots)


def config_path(given: str | None, options: str | None,
                profile: argparse.Namespace | None) -> str:
    """CONFIG, else the profile's ``config``; a CONFIG other than the profile's is named."""
    from licelpush.errors import LicelpushError

    if profile is None:
        if given is None:
            raise LicelpushError("give the CONFIG to check (or --options FILE with its config)")
        return given
    if given is not None and os.path.abspath(given) != os.path.abspath(profile.config):
        log.warning("checking %s, but the profile %s runs acquire with --config %s",
                    given, options, profile.config)
    return given or profile.config


def check_working_directory(config: Any, flavour: str | None = None) -> None:
    """A drive-relative ``working_directory`` (``D:data``) is an error on every system
    (:mod:`licelpush.workdir`; ``flavour`` defaults to this system's)."""
    from licelpush.errors import ConfigError
    from licelpush.workdir import drive_relative_problem, native_flavour

    text = config.global_info.working_directory
    problem = drive_relative_problem(text, flavour or native_flavour()) if text else None
    if problem:
        raise ConfigError([f"{config.path} [global_info] working_directory = {text!r} "
                           f"{problem}"])


def run(args: argparse.Namespace) -> int:
    """Validate, plan and print."""
    from licelpush.config import load_config
    from licelpush.errors import PlanError
    from licelpush.hardware import RecorderHardware, parse_recorder_spec
    from licelpush.plan import make_plan, overflow_notes, shot_limit_notes
    from licelpush.readers import reader_limits

    profile = read_profile(args.options) if args.options else None
    config = load_config(config_path(args.config, args.options, profile))
    check_working_directory(config)
    if profile is not None:
        args.shots = check_profile(args.options, profile, config)
    try:
        spec = parse_recorder_spec(args.hardware)
    except ValueError as exc:
        raise PlanError(f"--hardware: {exc}") from None
    unknown = sorted(set(spec) - {r.address for r in config.active_recorders})
    if unknown:
        raise PlanError(f"--hardware names TR{', TR'.join(map(str, unknown))}, which "
                        f"{config.path} has no active section for")
    hardware = {rec.address: spec.get(rec.address, RecorderHardware())
                for rec in config.active_recorders}
    plan = make_plan(config, hardware, args.shots, big_endian_timestamp=args.big_endian_timestamp)
    out = sys.stdout
    g = config.global_info
    out.write(f"{config.path}: valid\n")
    out.write(f"site {g.location!r} lat {g.latitude:.6f} lon {g.longitude:.6f} "
              f"alt {g.height_asl:g} m, files {g.first_letter}* in {g.working_directory}\n")
    active = len(config.active_recorders)
    out.write(f"{len(config.recorders)} recorder section(s), {active} active; "
              f"{args.shots} shots per acquisition\n\n")
    for address in plan.recorders:
        hw = hardware[address]
        out.write(f"TR{address} ({hw.adc_bits}-bit ADC, {hw.pc_bits}-bit PC)\n")
        for channel in (c for c in plan.channels if c.recorder == address):
            kinds = "+".join(plan.datasets[i].kind for i in channel.sources)
            signal = "analogue" if channel.analogue else "photon"
            out.write(f"  memory {channel.memory} {signal:8s} "
                      f"{kinds:11s} {channel.bins:6d} bins -> {channel.values} values\n")
    out.write(f"\nraw datasets: {len(plan.datasets)}, channels: {len(plan.channels)}\n")
    out.write(f"frame size: {plan.frame_length} bytes\n")
    out.write(f"command: {plan.command}\n")
    notes = shot_limit_notes(config, args.shots) + overflow_notes(plan) + [
        f"public readers: {limit}" for limit in reader_limits(config)]
    if notes:
        out.write("\nwarnings:\n")
        out.writelines(f"  {note}\n" for note in notes)
    return 0

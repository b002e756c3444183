"""``licelpush emulate``: run the Licel Ethernet controller emulator (docs/EMULATOR.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_DESCRIPTION = """\
Run an emulated Licel Ethernet controller: command port P, push port P+1, kill
port P+2, on 127.0.0.1 unless --host says otherwise. It answers every command
of the protocol from the same command table the client uses, pushes MPUSH
frames of plausible lidar signals (analogue and photon counting), and can
inject faults on purpose. It runs until Ctrl-C or SIGTERM. On start it prints
one line to stdout, for scripts:

  emulator listening on 127.0.0.1 command 2055 push 2056 kill 2057

Installed recorders: every [TRn] section of --config (active or not) and every
recorder of --recorders (which also sets their hardware); unlisted hardware is a
16-bit ADC with 4-bit photon counting, 3.75 m bins, FIFO 16384, HWCAP 0x7F.
With neither option: one recorder, 0:16/4."""

_LEDGER_HELP = """\
ledger (--ledger FILE), JSON Lines, each line flushed when written:
  {"event":"frame","seq":N,"connection":ID,"timestamp":MS,"shots":S,"length":BYTES,
   "crc32":CRC,"sent":BYTES,"faults":[...],"time":T}
      one per frame put on the wire; crc32 = zlib CRC-32 of the frame as built
      (FF FF through its last raw word) before any fault; faults lists
      {"kind":"corrupt","where":..,"positions":[..],"xor":[..]} or
      {"kind":"lose","offset":..,"bytes":..}, empty when the frame went out intact
  {"event":"open"|"close","connection":ID,"socket":"command"|"push"|"kill",
   "peer":..,"reason":"client"|"kill"|"fault:disconnect"|"fault:reboot"|"stop"|"error"}
  {"event":"fault","kind":..,"after_seq":N,"seconds":T}   faults acting between frames
  {"event":"push","state":"on"|"off",...}                  push mode changes
  {"event":"power-up","ms":MS}                              after a reboot fault
  "time" is seconds since the emulator started."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``emulate`` subcommand."""
    from licelpush.emulator.assumptions import (
        DEFAULT_CAPS,
        DEFAULT_IDN,
        DEFAULT_KILL_PASSWORD,
        DEFAULT_RATE_HZ,
    )
    from licelpush.emulator.faults import FAULT_SYNTAX_HELP

    p = subparsers.add_parser(
        "emulate", parents=[common],
        help="run a Licel Ethernet controller emulator (no hardware needed)",
        description=_DESCRIPTION,
        epilog=FAULT_SYNTAX_HELP + "\n\n" + _LEDGER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", metavar="IP",
                   help="address to listen on (default 127.0.0.1; a warning for non-loopback)")
    p.add_argument("--port", type=_port, default=2055, metavar="P",
                   help="command port P; push is P+1, kill P+2 (default 2055); 0 = find three "
                   "free consecutive ports and print them")
    p.add_argument("--config", metavar="ACQUIS_INI",
                   help="install a recorder for every [TRn] section of this Acquis.ini")
    p.add_argument("--recorders", type=_recorders, metavar="SPEC",
                   help="recorders as ADDR:ADCBITS/PCBITS[/BINWIDTH_M[/FIFOLENGTH]], comma "
                   "separated, e.g. 0:16/4,1:12/4/7.5 (overrides the hardware of --config "
                   "recorders)")
    p.add_argument("--idn", default=DEFAULT_IDN, metavar="TEXT",
                   help=f"*IDN? reply (default {DEFAULT_IDN!r}); one containing "
                   "'ColdFireEthernet' makes push timestamps big-endian")
    p.add_argument("--caps", default=DEFAULT_CAPS, metavar="TEXT",
                   help=f"CAP? reply after 'CAP ' (default {DEFAULT_CAPS!r})")
    p.add_argument("--rate", type=positive_float, default=DEFAULT_RATE_HZ, metavar="HZ",
                   help=f"laser repetition rate (default {DEFAULT_RATE_HZ:g} Hz)")
    p.add_argument("--speed", type=positive_float, default=1.0, metavar="X",
                   help="run the emulated clock (shots, MILLISEC?, frame timestamps) X times "
                   "faster than real time (default 1)")
    p.add_argument("--max-speed", action="store_true",
                   help="push frames as fast as the client takes them (benchmarks; frames "
                   "come from a small bank of pre-encoded variants with the timestamp patched)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of signals and faults: the same seed gives the same frames "
                   "(default 0)")
    p.add_argument("--fault", type=fault_arg, action="append", default=[], metavar="KIND[:K=V,...]",
                   help="inject a fault (repeatable); syntax below")
    p.add_argument("--ledger", type=ledger_file, metavar="FILE",
                   help="write a JSON Lines ledger of frames and connections (format below)")
    p.add_argument("--kill-password", default=DEFAULT_KILL_PASSWORD, metavar="TEXT",
                   help=f"password of KILL SOCKETS on the kill port (default "
                   f"{DEFAULT_KILL_PASSWORD!r})")
    p.add_argument("--clock-start", type=_clock_start, default=0, metavar="MS",
                   help="controller ms timer at power-up (default 0; e.g. 4294960000 to see "
                   "the uint32 wrap after about 7 s)")
    p.add_argument("--duration", type=positive_float, metavar="S",
                   help="stop by itself after S seconds (default: run until Ctrl-C/SIGTERM)")
    p.set_defaults(run=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    from licelpush.limits import command_port_problem

    problem = command_port_problem(port, allow_zero=True)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return port


MAX_OPTION_NUMBER = 1e6
"""Largest --rate, --speed or --duration (and --emulator-speed): beyond it the
emulator's clocks overflow."""


def ledger_file(text: str) -> Path:
    """A ledger file whose directory exists (argparse type: else a usage error)."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: directory {path.parent} does not exist")
    return path


def positive_float(text: str) -> float:
    """A number > 0 and at most :data:`MAX_OPTION_NUMBER` (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_OPTION_NUMBER:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number > 0 and at most {MAX_OPTION_NUMBER:g}")
    return value


def _clock_start(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer 0..4294967295")
    return value


def _recorders(text: str) -> Any:
    from licelpush.emulator.model import parse_recorders

    try:
        return parse_recorders(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fault_arg(text: str) -> Any:
    from licelpush.emulator.faults import parse_fault

    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, SIGTERM or --duration."""
    import asyncio

    from licelpush.config import load_config
    from licelpush.emulator.model import installed_hardware
    from licelpush.emulator.server import EmulatorOptions

    config = load_config(args.config) if args.config else None
    options = EmulatorOptions(
        host=args.host, port=args.port, hardware=installed_hardware(config, args.recorders),
        idn=args.idn, caps=args.caps, rate_hz=args.rate, speed=args.speed,
        max_speed=args.max_speed, seed=args.seed, faults=tuple(args.fault),
        kill_password=args.kill_password,
        ledger_path=args.ledger,
        clock_start_ms=args.clock_start)
    return asyncio.run(_serve(options, args.duration))


async def _serve(options: Any, duration: float | None) -> int:
    import asyncio
    import contextlib
    import signal
    import sys

    from licelpush.emulator.server import EmulatorServer
    from licelpush.errors import LicelpushError, OutputError

    server = EmulatorServer(options)
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise LicelpushError(f"cannot start the emulator: {exc}") from None
    command, push, kill = server.ports
    print(f"emulator listening on {server.host} command {command} push {push} kill {kill}",
          flush=True)
    recorders = ", ".join(f"TR{a} {hw.adc_bits}/{hw.pc_bits} {hw.bin_width_m:g} m"
                          for a, hw in options.hardware.items())
    print(f"recorders: {recorders}; laser {options.rate_hz:g} Hz"
          f"{f', clock x{options.speed:g}' if options.speed != 1 else ''}"
          f"{', max speed' if options.max_speed else ''}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        await server.stop()
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    sys.stdout.write(f"emulator stopped: {server.frames_sent} frame(s) sent\n")
    sys.stdout.flush()
    if server.ledger.error:
        raise OutputError(server.ledger.error)
    return 0

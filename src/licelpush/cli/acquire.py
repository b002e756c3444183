"""``licelpush acquire``: MPUSH acquisition from a controller (or the built-in emulator).

The flags of the vendor's documented mpush program keep their names and
meaning (``--ip --port --acq --shots --acquis_per_file --log/--no-log``);
see docs/ACQUIRE.md for the output files, the journal and the exit statuses.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from licelpush.plan import DEFAULT_SHOTS

log = logging.getLogger(__name__)

DEFAULT_IP = "10.49.234.234"
"""The vendor's factory address of the Ethernet controller (its examples' default)."""
DEFAULT_EMULATOR_SPEED = 20.0
"""With --emulator, the shot clock runs this many times faster than real lasers."""
PLAIN_PROGRESS_INTERVAL = 10.0
"""Seconds between progress log lines when stderr is not a terminal."""


EPILOG = """\
exit status: 0 every requested acquisition saved (or an endless --acq -1 run stopped
with Ctrl-C, Ctrl-Break or SIGTERM); 1 stopped early (reconnection attempts exhausted, or stopped by
the user before --acq N was reached) with everything acquired saved; 2 bad command
line or configuration, nothing sent; 3 controller unreachable, answered an error, has
no recorder or lacks a recorder the configuration uses; 5 output not writable or disk
full, or free space below --min-free (what was saved before is kept).

files in the output directory: Licel raw data files (<first_letter>YYMDDhh.mmsscc),
journal-<run>.jsonl (every acquisition, quarantine, reconnection), quarantine-<run>.bin
(bytes not part of an accepted frame, if any), invalid-<run>.log with --log, status.json
(state of the run: licelpush status DIR). Data files go into --layout sub-folders
(below dark/ with --dark); the other files stay at the top.
"""


DESCRIPTION = (
    "Read Acquis.ini, configure the transient recorders, run MPUSH and save every acquisition "
    "as a Licel raw data file, reconnecting after connection losses. With --emulator the "
    "built-in controller emulator is started on loopback with the recorders of the "
    "configuration: no hardware needed.")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``acquire`` subcommand."""
    p = subparsers.add_parser(
        "acquire", parents=[common],
        help="acquire MPUSH data from a Licel controller (or --emulator) into Licel files",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    acquire_arguments(p)
    p.set_defaults(run=run, acquire_parser=p)


def acquire_parser() -> argparse.ArgumentParser:
    """A stand-alone parser of the acquire flags (for profiles, checks and unit files)."""
    from licelpush.cli import common_parser

    p = argparse.ArgumentParser(prog="licelpush acquire", parents=[common_parser()],
                                description=DESCRIPTION)
    acquire_arguments(p)
    return p


def acquire_arguments(p: argparse.ArgumentParser) -> None:
    """The acquire flags (the vendor's mpush flags, timing, emulator, station service)."""
    p.add_argument("--config", default="Acquis.ini", metavar="FILE",
                   help="station configuration (default: Acquis.ini in the current directory)")
    p.add_argument("--ip", default=DEFAULT_IP, metavar="ADDR",
                   help=f"controller address (default {DEFAULT_IP})")
    p.add_argument("--port", type=int, default=2055, metavar="P",
                   help="command port P; push is P+1, kill P+2 (default 2055)")
    p.add_argument("--acq", type=int, default=10, metavar="N",
                   help="acquisitions to save; -1 = until stopped with Ctrl-C, Ctrl-Break "
                   "(Windows) or SIGTERM (default 10)")
    p.add_argument("--shots", type=int, default=DEFAULT_SHOTS, metavar="N",
                   help=f"laser shots summed per acquisition (default {DEFAULT_SHOTS})")
    p.add_argument("--acquis_per_file", "--acquis-per-file", dest="acquis_per_file", type=int,
                   default=1, metavar="N",
                   help="acquisitions per file (default 1: every public reader of Licel "
                   "files reads only the first record of a file)")
    p.add_argument("--log", action=argparse.BooleanOptionalAction, default=False,
                   help="also write invalid-<run>.log, a readable log of invalid push data "
                   "(default: --no-log; invalid data is always quarantined and journalled)")
    p.add_argument("--mode", choices=("mpush", "poll"), default="mpush",
                   help="mpush: the controller pushes every acquisition (default); poll: "
                   "START, wait for the shots, STOP and DATA? per dataset, for controllers "
                   "without MPUSH (same files, journal and reconnection)")
    p.add_argument("--apply-hv", action="store_true",
                   help="set the PMT voltages of the configuration (PM..., PMT n = [TRn]) at "
                   "every set-up and confirm them by read-back; the headers then carry the "
                   "read-back voltages (off by default: a safety action)")
    p.add_argument("--hv-max", type=int, default=2000, metavar="V",
                   help="highest PMT voltage --apply-hv may set (default 2000)")
    p.add_argument("--output", metavar="DIR",
                   help="output directory (default: working_directory of the configuration)")
    p.add_argument("--retries", type=int, default=5, metavar="N",
                   help="reconnection attempts in a row without new data before giving up "
                   "(default 5; -1 = forever, also waits for the controller at start)")
    zone = p.add_mutually_exclusive_group()
    zone.add_argument("--utc", dest="local_time", action="store_false", default=False,
                      help="times in files and file names in UTC (default)")
    zone.add_argument("--local-time", dest="local_time", action="store_true",
                      help="times in files and file names in the computer's local time")
    tuning = p.add_argument_group("timing")
    tuning.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds to connect and to wait for each reply (default 5)")
    tuning.add_argument("--probe-after", type=float, metavar="S",
                        help="seconds without push data before probing with *IDN? "
                        "(default 2 x shots/laser rate + 5, within 5..60)")
    tuning.add_argument("--stall-timeout", type=float, metavar="S",
                        help="seconds without push data before reconnecting even though the "
                        "controller answers (default 3 x shots/laser rate + 60)")
    tuning.add_argument("--backoff", type=float, default=0.5, metavar="S",
                        help="wait before the second reconnection attempt, doubling after "
                        "(default 0.5)")
    tuning.add_argument("--backoff-max", type=float, default=30.0, metavar="S",
                        help="longest wait between reconnection attempts (default 30)")
    tuning.add_argument("--sync-interval", type=float, default=1.0, metavar="S",
                        help="data and journal are on disk (fsync) at most S seconds after "
                        "being written (default 1)")
    p.add_argument("--controller-timestamp", action="store_true",
                   help="append the controller timestamp to line 3 of each record (some "
                   "readers refuse such files)")
    emu = p.add_argument_group("built-in emulator")
    emu.add_argument("--emulator", action="store_true",
                     help="start the emulator on free loopback ports with the recorders of "
                     "the configuration and acquire from it (--ip/--port are ignored)")
    from licelpush.cli.emulate import fault_arg, ledger_file, positive_float

    emu.add_argument("--emulator-speed", type=positive_float, default=DEFAULT_EMULATOR_SPEED,
                     metavar="X",
                     help=f"run the emulated lasers X times faster (default "
                     f"{DEFAULT_EMULATOR_SPEED:g})")
    emu.add_argument("--emulator-max-speed", action="store_true",
                     help="push frames as fast as they are taken")
    emu.add_argument("--emulator-fault", type=fault_arg, action="append", default=[],
                     metavar="SPEC",
                     help="inject a fault, e.g. disconnect:every=50 (see licelpush emulate "
                     "--help); repeatable")
    emu.add_argument("--emulator-seed", type=int, default=1, metavar="N",
                     help="seed of the emulated signals and faults (default 1)")
    emu.add_argument("--emulator-ledger", type=ledger_file, metavar="FILE",
                     help="write the emulator's ledger of pushed frames to FILE")
    station_arguments(p)


def layout_arg(text: str) -> str:
    """argparse type of ``--layout``."""
    from licelpush.layout import layout_problem

    problem = layout_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem.split(": ", 1)[-1])
    return text


def min_free_arg(text: str) -> Any:
    """argparse type of ``--min-free``."""
    from licelpush.diskguard import parse_min_free

    try:
        return parse_min_free(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from exc


def schedule_arg(text: str) -> str:
    """argparse type of ``--schedule`` (checked here, parsed again by :func:`run`)."""
    from licelpush.schedule import ScheduleError, parse_schedule

    try:
        parse_schedule([text])
    except ScheduleError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from exc
    return text


def station_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of an unattended station: layout, disk guard, schedule, dark runs, profiles."""
    g = p.add_argument_group("station service (README: Running a station)")
    g.add_argument("--options", metavar="FILE",
                   help="read flags from a TOML profile (keys: long flags with underscores, "
                   "e.g. min_free = \"5%%\"); flags given here override it")
    g.add_argument("--layout", type=layout_arg, default="flat", metavar="PATTERN",
                   help="sub-folders of the output directory from each file's start time, "
                   "e.g. '%%Y/%%m/%%d' (codes %%Y %%y %%m %%d %%j %%H %%M %%G %%V); "
                   "default flat")
    g.add_argument("--min-free", type=min_free_arg, default=None, metavar="SIZE",
                   help="stop cleanly (exit 5) when the output's file system has less free "
                   "space, warn below twice it: 20M, 1G, 5%%; 0 = off (default: 1 GiB or "
                   "5%% of the file system, whichever is smaller)")
    g.add_argument("--schedule", type=schedule_arg, action="append", default=[],
                   metavar="WINDOWS",
                   help="acquire only within these windows: UTC '18:00-06:00' or "
                   "sun-relative 'sunset+30m..sunrise-30m' (station latitude/longitude); "
                   "comma-separated or repeated; outside them the controller rests in SLAVE")
    g.add_argument("--dark", action="store_true",
                   help="a dark measurement (laser blocked): data files go below dark/ in "
                   "the output directory; journal and status say so")
    g.add_argument("--status-interval", type=float, default=5.0, metavar="S",
                   help="rewrite status.json at least every S seconds (default 5)")


def with_profile(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the ``--options`` profile applied below the command line's flags."""
    from licelpush.cli.optionsfile import profile_arguments

    if not getattr(args, "options", None):
        return args
    parser = getattr(args, "acquire_parser", None) or acquire_parser()
    given = list(getattr(args, "argv", []))
    if args.command in given:
        given = given[given.index(args.command) + 1:]
    merged = parser.parse_args(profile_arguments(Path(args.options), parser, given) + given)
    for key in ("run", "command", "acquire_parser", "argv"):
        if hasattr(args, key):
            setattr(merged, key, getattr(args, key))
    return merged


def output_directory(arg: str | None, working_directory: str, config_path: Path,
                     flavour: str | None = None) -> Path:
    """--output, else the configuration's working_directory (else the current directory).

    The rules of :mod:`licelpush.workdir` for a ``flavour`` of system (default: this
    one): on Windows ``D:\\Licel\\data`` and UNC shares are used as written; a
    drive-relative path, or a Windows path on another system, is a usage error.
    """
    from licelpush.cli.paths import check_output_path
    from licelpush.errors import LicelpushError
    from licelpush.workdir import WorkingDirectoryError, native_flavour, usable_working_directory

    if arg:
        return check_output_path("--output", Path(arg))
    try:
        usable = usable_working_directory(working_directory, flavour or native_flavour())
    except WorkingDirectoryError as exc:
        raise LicelpushError(f"{config_path} [global_info] {exc}; give the output "
                             "directory with --output DIR") from None
    if not usable:
        return Path(".")
    return check_output_path(f"{config_path} [global_info] working_directory", Path(usable))


class ProgressDisplay:
    """Live bar on a terminal, periodic log lines otherwise, nothing when quiet."""

    def __init__(self, stream: TextIO, quiet: bool, interval: float = PLAIN_PROGRESS_INTERVAL
                 ) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval
        self._last_line = time.monotonic()  # the first plain line after one interval
        self._drawn = False

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        text = self.text(p)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            self.stream.flush()
            self._drawn = True
        else:
            now = time.monotonic()
            if now - self._last_line >= self.interval:
                self._last_line = now
                log.info("progress: %s", text)

    @staticmethod
    def text(p: Any) -> str:
        """One line: done/total with a bar, rate, reconnects, quarantined bytes."""
        if p.requested > 0:
            width = 24
            filled = min(width, int(width * p.saved / p.requested))
            head = f"[{'#' * filled}{'.' * (width - filled)}] {p.saved}/{p.requested}"
        else:
            head = f"{p.saved} acquisitions"
        return (f"{head}  {p.rate:.2f}/s  reconnects {p.reconnects}  "
                f"quarantined {_size(p.quarantined_bytes)}  {p.state}")

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT, SIGTERM and (Windows) SIGBREAK set ``stop`` (a clean stop); a second
    Ctrl-C or Ctrl-Break interrupts at once (:data:`licelpush.platform.STOP_SIGNALS`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    from licelpush.platform import INTERRUPT_SIGNALS, install_signal_handlers, signal_name

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum in INTERRUPT_SIGNALS:
            raise KeyboardInterrupt
        log.warning("%s received: stopping after SLAVE and closing the files "
                    "(Ctrl-C again to interrupt at once)", signal_name(signum))
        stop.set()

    restore = install_signal_handlers(handler)
    try:
        yield
    finally:
        restore()


@contextmanager
def emulator_for(config: Any, args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """Start the built-in emulator on free loopback ports; yields (host, port)."""
    from licelpush.errors import OutputError
    from licelpush.testing import running_emulator

    kwargs: dict[str, Any] = dict(config=config, faults=list(args.emulator_fault),
                                  seed=args.emulator_seed, speed=args.emulator_speed)
    rates = [laser.frequency_hz for laser in config.lasers if laser.frequency_hz > 0]
    if rates:
        kwargs["rate"] = max(rates)  # the emulated shot clock follows the station's lasers
    if not args.verbose:
        logging.getLogger("licelpush.emulator").setLevel(logging.WARNING)
    if args.mode == "poll":
        for fault in (f for f in args.emulator_fault if not f.at_start):
            log.warning("--emulator-fault %s never acts with --mode poll: frame numbers "
                        "count pushed frames, and a polled run has none", fault.text())
    if args.emulator_max_speed:
        kwargs["max_speed"] = True
    if args.emulator_ledger:
        kwargs["ledger_path"] = args.emulator_ledger
    with running_emulator(**kwargs) as emu:
        log.info("emulator listening on %s:%d", emu.host, emu.port)
        yield emu.host, emu.port
    if emu.ledger_error:
        raise OutputError(f"the emulator could not write its ledger: {emu.ledger_error} "
                          "(the acquired data files are not affected)")


def acquire_options(args: argparse.Namespace, host: str, port: int, output: Path) -> Any:
    """The :class:`~licelpush.session.AcquireOptions` of the acquire flags."""
    from licelpush.layout import Layout
    from licelpush.session import AcquireOptions

    return AcquireOptions(
        host=host, port=port, acquisitions=args.acq, shots=args.shots,
        acquis_per_file=args.acquis_per_file, output=output, retries=args.retries,
        local_time=args.local_time, log_invalid=args.log, timeout=args.timeout,
        probe_after=args.probe_after, stall_limit=args.stall_timeout,
        backoff=args.backoff, backoff_max=args.backoff_max,
        sync_interval=args.sync_interval, controller_timestamp=args.controller_timestamp,
        apply_hv=args.apply_hv, hv_max_volts=args.hv_max, mode=args.mode,
        layout=Layout(args.layout, args.dark))


def run(args: argparse.Namespace) -> int:
    """Acquire; returns the exit status (errors are raised as LicelpushError)."""
    from licelpush.acquisition import Acquisition
    from licelpush.config import load_config
    from licelpush.readers import reader_limits

    args = with_profile(args)
    config = load_config(args.config)
    station = station_options(args, config)
    output = output_directory(args.output, config.global_info.working_directory, config.path)
    for limit in reader_limits(config, controller_timestamp=args.controller_timestamp):
        log.warning("public readers: %s (docs/READERS.md)", limit)
    stop = threading.Event()
    display = ProgressDisplay(sys.stderr, args.quiet)

    def acquire(host: str, port: int) -> int:
        options = acquire_options(args, host, port, output)
        acquisition = Acquisition(config, options, stop_requested=stop, progress=display,
                                  station=station)
        try:
            with stop_on_signals(stop):
                summary = acquisition.run()
        except BaseException:
            display.close()
            partial = acquisition.summary
            if partial is not None and (partial.saved or partial.received_bytes):
                print_summary(partial)
            raise
        display.close()
        print_summary(summary)
        return summary.exit_status

    if args.emulator:
        with emulator_for(config, args) as (host, port):
            return acquire(host, port)
    return acquire(args.ip, args.port)


def station_options(args: argparse.Namespace, config: Any) -> Any:
    """The station service's options from the flags (schedule at the station's position)."""
    from licelpush.diskguard import DEFAULT_MIN_FREE
    from licelpush.errors import LicelpushError
    from licelpush.schedule import Schedule, parse_schedule
    from licelpush.station import StationOptions

    if not 0 < args.status_interval < float("inf"):
        raise LicelpushError(f"--status-interval {args.status_interval}: must be a positive "
                             "number of seconds")
    windows = parse_schedule(args.schedule)
    info = config.global_info
    if any(w.sun_relative for w in windows) and info.latitude == 0 and info.longitude == 0:
        log.warning("%s: Latitude and Longitude are 0; sun-relative --schedule windows are "
                    "computed for that place", config.path)
    schedule = Schedule(windows, info.latitude, info.longitude) if windows else None
    if schedule is not None:
        state = schedule.state(datetime.now(timezone.utc))
        if not state.inside and state.until is None:
            raise LicelpushError(f"--schedule {', '.join(args.schedule)}: no window opens "
                                 "within a year at this station")
    return StationOptions(min_free=args.min_free or DEFAULT_MIN_FREE, schedule=schedule,
                          status_interval=args.status_interval)


def print_summary(summary: Any, out: TextIO | None = None) -> None:
    """The end-of-run summary on stdout."""
    out = out or sys.stdout
    for line in summary.lines():
        out.write(line + "\n")
    out.flush()

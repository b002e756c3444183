"""``licelpush acquire``: MPUSH acquisition from a controller (or the built-in emulator).

The flags of the vendor's documented mpush program keep their names and
meaning (``--ip --port --acq --shots --acquis_per_file --log/--no-log``);
see docs/ACQUIRE.md for the output files, the journal and the exit statuses.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
with Ctrl-C/SIGTERM); 1 stopped early (reconnection attempts exhausted, or stopped by
the user before --acq N was reached) with everything acquired saved; 2 bad command
line or configuration, nothing sent; 3 controller unreachable, answered an error, has
no recorder or lacks a recorder the configuration uses; 5 output not writable or disk
full (what was saved before is kept).

files in the output directory: Licel raw data files (<first_letter>YYMDDhh.mmsscc),
journal-<run>.jsonl (every acquisition, quarantine, reconnection), quarantine-<run>.bin
(bytes not part of an accepted frame, if any), invalid-<run>.log with --log.
"""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``acquire`` subcommand."""
    p = subparsers.add_parser(
        "acquire", parents=[common],
        help="acquire MPUSH data from a Licel controller (or --emulator) into Licel files",
        description="Read Acquis.ini, configure the transient recorders, run MPUSH and save "
        "every acquisition as a Licel raw data file, reconnecting after connection losses. "
        "With --emulator the built-in controller emulator is started on loopback with the "
        "recorders of the configuration: no hardware needed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="Acquis.ini", metavar="FILE",
                   help="station configuration (default: Acquis.ini in the current directory)")
    p.add_argument("--ip", default=DEFAULT_IP, metavar="ADDR",
                   help=f"controller address (default {DEFAULT_IP})")
    p.add_argument("--port", type=int, default=2055, metavar="P",
                   help="command port P; push is P+1, kill P+2 (default 2055)")
    p.add_argument("--acq", type=int, default=10, metavar="N",
                   help="acquisitions to save; -1 = until stopped with Ctrl-C or SIGTERM "
                   "(default 10)")
    p.add_argument("--shots", type=int, default=DEFAULT_SHOTS, metavar="N",
                   help=f"laser shots summed per acquisition (default {DEFAULT_SHOTS})")
    p.add_argument("--acquis_per_file", "--acquis-per-file", dest="acquis_per_file", type=int,
                   default=1, metavar="N",
                   help="acquisitions per file (default 1: every public reader of Licel "
                   "files reads only the first record of a file)")
    p.add_argument("--log", action=argparse.BooleanOptionalAction, default=False,
                   help="also write invalid-<run>.log, a readable log of invalid push data "
                   "(default: --no-log; invalid data is always quarantined and journalled)")
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
    p.set_defaults(run=run)


def output_directory(arg: str | None, working_directory: str, config_path: Path) -> Path:
    """--output, else the configuration's working_directory (else the current directory).

    A Windows path (``D:\\Licel\\data``) cannot be used on other systems: that is a
    usage error asking for --output.
    """
    from licelpush.cli.paths import check_output_path
    from licelpush.config import is_foreign_path
    from licelpush.errors import LicelpushError

    if arg:
        return check_output_path("--output", Path(arg))
    if not working_directory:
        return Path(".")
    if is_foreign_path(working_directory):
        raise LicelpushError(
            f"{config_path} [global_info] working_directory = {working_directory!r} is a "
            "Windows path; give the output directory with --output DIR")
    return check_output_path(f"{config_path} [global_info] working_directory",
                             Path(working_directory))


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
    """SIGINT/SIGTERM set ``stop`` (a clean stop); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        log.warning("%s received: stopping after SLAVE and closing the files "
                    "(Ctrl-C again to interrupt at once)", name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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


def run(args: argparse.Namespace) -> int:
    """Acquire; returns the exit status (errors are raised as LicelpushError)."""
    from licelpush.acquisition import AcquireOptions, Acquisition
    from licelpush.config import load_config
    from licelpush.readers import reader_limits

    config = load_config(args.config)
    output = output_directory(args.output, config.global_info.working_directory, config.path)
    for limit in reader_limits(config, controller_timestamp=args.controller_timestamp):
        log.warning("public readers: %s (docs/READERS.md)", limit)
    stop = threading.Event()
    display = ProgressDisplay(sys.stderr, args.quiet)

    def acquire(host: str, port: int) -> int:
        options = AcquireOptions(
            host=host, port=port, acquisitions=args.acq, shots=args.shots,
            acquis_per_file=args.acquis_per_file, output=output, retries=args.retries,
            local_time=args.local_time, log_invalid=args.log, timeout=args.timeout,
            probe_after=args.probe_after, stall_limit=args.stall_timeout,
            backoff=args.backoff, backoff_max=args.backoff_max,
            sync_interval=args.sync_interval, controller_timestamp=args.controller_timestamp,
        )
        acquisition = Acquisition(config, options, stop_requested=stop, progress=display)
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


def print_summary(summary: Any, out: TextIO | None = None) -> None:
    """The end-of-run summary on stdout."""
    out = out or sys.stdout
    for line in summary.lines():
        out.write(line + "\n")
    out.flush()

"""The ``licelpush`` command line: subcommands, logging set-up, exit statuses.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``run`` (a callable
taking the parsed arguments and returning an exit status). Subcommand modules
import the heavy parts of licelpush inside ``run`` so that ``--help`` is fast.

Errors derived from :class:`licelpush.errors.LicelpushError` are reported as
one line (a traceback only with ``-v``) and mapped to their exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "check",
    "inspect_cmd",
    "split",
    "emulate",
    "acquire",
    "export",
    "hv",
    "discover",
    "status",
    "service",
    "profile_cmd",
    "quicklook_cmd",
    "monitor_cmd",
)

log = logging.getLogger("licelpush")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="licelpush",
        description="Lidar station acquisition with Licel transient recorders "
        "(MPUSH client, controller emulator, Licel raw data files).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    common = common_parser()
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"licelpush.cli.{name}")
        module.register(subparsers, common)
    return parser


def common_parser() -> argparse.ArgumentParser:
    """The options every subcommand has (-v, -q, --log-file)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="more log output; -v also shows tracebacks of errors",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    common.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")
    return common


def setup_logging(verbose: int, quiet: bool, log_file: str | None) -> None:
    """Configure the root logger for a CLI run."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``licelpush`` console script; returns the exit status."""
    from licelpush.errors import EXIT_OUTPUT, EXIT_USAGE, LicelpushError

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.version:
        from licelpush import __version__

        print(__version__)
        return 0
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    # a command that writes flags for another (service unit) does not log into their file
    log_file = None if getattr(args, "forwards_flags", False) else args.log_file
    try:
        setup_logging(args.verbose, args.quiet, log_file)
    except OSError as exc:
        print(f"licelpush {args.command}: --log-file {log_file}: cannot open: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_OUTPUT
    try:
        return int(args.run(args))
    except LicelpushError as exc:
        if args.verbose:
            log.exception("error")
        problems = getattr(exc, "problems", None)
        if problems and len(problems) > 1:
            print(f"licelpush {args.command}: {len(problems)} problems:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"licelpush {args.command}: {exc.message}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"licelpush {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (``licelpush inspect ... | head``): stop
        # quietly, and keep Python from complaining again when it flushes stdout
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

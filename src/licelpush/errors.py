"""Errors a user can cause or meet, and the exit status each one maps to.

Every error carries one clear message that names what was wrong and where.
The CLI prints that message (a traceback only with ``-v``) and exits with the
error's ``exit_status``.
"""

from __future__ import annotations

EXIT_OK = 0
"""Everything asked for was done."""
EXIT_STOPPED_EARLY = 1
"""An acquisition stopped before the requested count; what was acquired is saved."""
EXIT_USAGE = 2
"""Bad command line or bad configuration; nothing was sent to the controller."""
EXIT_CONTROLLER = 3
"""The controller could not be reached, or answered something unusable."""
EXIT_DAMAGED_FILE = 4
"""A data file is truncated or damaged."""
EXIT_OUTPUT = 5
"""Output could not be written (directory not writable, disk full)."""


class LicelpushError(Exception):
    """Base of all errors licelpush reports to a user."""

    exit_status: int = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(LicelpushError):
    """A configuration file is unreadable or has invalid values.

    ``problems`` holds one line per problem, each naming file, section, key,
    bad value and what is allowed.
    """

    exit_status = EXIT_USAGE

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PlanError(LicelpushError):
    """A configuration cannot be turned into an MPUSH plan."""

    exit_status = EXIT_USAGE


class ControllerError(LicelpushError):
    """The controller is unreachable, or replied something unusable."""

    exit_status = EXIT_CONTROLLER


class DamagedFileError(LicelpushError):
    """A Licel raw data file is truncated or damaged at a byte offset."""

    exit_status = EXIT_DAMAGED_FILE

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: byte {offset}: {reason}")


class OutputError(LicelpushError):
    """Data could not be written to the output directory."""

    exit_status = EXIT_OUTPUT


class StopRequestedError(LicelpushError):
    """A stop was requested (Ctrl-C, SIGTERM) while waiting for the controller."""

    exit_status = EXIT_STOPPED_EARLY

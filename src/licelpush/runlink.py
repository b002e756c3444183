"""One connection of an acquisition run (IO edge): the set-up sequence up to ``MPUSH``.

Spec: ``mpush-workflow.rst`` sections 4-7, PROTOCOL.md §2-3: list the
installed recorders 0-15, refuse to start when an active recorder of the
configuration is missing (:func:`licelpush.session.missing_recorders_problem`),
configure every active recorder, ``*IDN?`` (timestamp byte order),
``TRTYPE?`` per recorder, plan, ``MPUSH``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from licelpush.client import Controller, big_endian_timestamps
from licelpush.config import AcquisConfig
from licelpush.decode import FrameDecoder
from licelpush.errors import ControllerError
from licelpush.framing import Framer
from licelpush.hardware import RecorderHardware
from licelpush.plan import MPushPlan, make_plan, overflow_notes
from licelpush.records import RecordBuilder
from licelpush.session import AcquireOptions, missing_recorders_problem

log = logging.getLogger(__name__)

STOP_SLAVE_TIMEOUT = 1.0
"""Longest wait for the reply to ``SLAVE`` after a stop request."""


class RecorderMissingError(ControllerError):
    """An active recorder of the configuration is not installed in the controller."""


@dataclass
class Link:
    """One established connection: controller, plan and the per-plan machinery."""

    controller: Controller
    number: int
    plan: MPushPlan
    decoder: FrameDecoder
    framer: Framer
    builder: RecordBuilder
    hardware: dict[int, RecorderHardware]
    idn: str
    received: int = 0
    frames: int = 0
    quarantined: int = 0

    @classmethod
    def started(cls, controller: Controller, number: int, config: AcquisConfig,
                prefix: str | None, idn: str, hardware: dict[int, RecorderHardware],
                plan: MPushPlan) -> Link:
        """The link of a connection whose ``MPUSH`` was just answered."""
        decoder = FrameDecoder(plan)
        framer = Framer(plan.frame_length, decoder.problem, head_check=decoder.follows,
                        head_length=decoder.head_length)
        return cls(controller, number, plan, decoder, framer,
                   RecordBuilder(config, plan, prefix), hardware, idn)

    def start_fields(self, run_id: str, config: AcquisConfig, options: AcquireOptions
                     ) -> dict[str, object]:
        """The fields of the journal's ``start`` event (written with the first connection)."""
        return dict(
            run=run_id, configuration=str(config.path),
            controller=f"{options.host}:{options.port}", shots=options.shots,
            acquisitions=options.acquisitions, acquis_per_file=options.acquis_per_file,
            output=str(options.output), command=self.plan.command,
            frame_length=self.plan.frame_length, idn=self.idn,
            big_endian_timestamp=self.plan.big_endian_timestamp,
            time_zone="local" if options.local_time else "UTC",
            recorders={str(a): vars(hw) for a, hw in self.hardware.items()})

    def journal_fields(self) -> dict[str, object]:
        """The fields of the journal's ``connect`` event."""
        local, remote = self.controller.push_addresses()
        return dict(connection=self.number, idn=self.idn, command=self.plan.command,
                    frame_length=self.plan.frame_length, push_local=local,
                    push_remote=remote)


def start_mpush(controller: Controller, config: AcquisConfig, shots: int, *,
                first: bool) -> tuple[str, dict[int, RecorderHardware], MPushPlan]:
    """Run the set-up sequence on a connected controller; (IDN, hardware, plan).

    ``first``: warn about sums that can overflow (once per run).
    """
    installed = controller.installed_recorders()
    active = config.active_recorders
    if not installed:
        raise ControllerError(
            f"controller {controller.address}: no transient recorder installed "
            "(STAT? reports no 'Shots' at addresses 0-15)")
    problem = missing_recorders_problem(config.path, [r.address for r in active],
                                        installed, controller.address)
    if problem:
        raise RecorderMissingError(problem + "; refusing to start")
    idle = [r.address for r in config.recorders if not r.active and r.address not in installed]
    if idle:
        log.info("inactive [TR%s] of the configuration not installed (not used)",
                 ", TR".join(str(a) for a in idle))
    for recorder in active:
        controller.configure(recorder)
    idn = controller.idn()
    hardware = {r.address: controller.trtype(r.address) for r in active}
    plan = make_plan(config, hardware, shots, big_endian_timestamp=big_endian_timestamps(idn))
    if first:
        for note in overflow_notes(plan):
            log.warning("%s", note)
    controller.start_mpush(plan)
    return idn, hardware, plan


def send_slave(controller: Controller, *, bounded: bool) -> None:
    """``SLAVE`` when the command connection is usable (failures are logged).

    ``bounded`` (after a stop request): wait at most :data:`STOP_SLAVE_TIMEOUT`
    for the reply, and do not let the stop request cut the wait short.
    """
    if not controller.command_connected:
        return
    controller.interrupt = None
    if bounded:
        controller.timeout = min(controller.timeout, STOP_SLAVE_TIMEOUT)
    try:
        controller.slave()
    except ControllerError as exc:
        log.warning("SLAVE failed: %s", exc.message)

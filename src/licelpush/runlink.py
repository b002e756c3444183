"""One connection of an acquisition run (IO edge): the set-up sequence up to ``MPUSH``.

Spec: ``mpush-workflow.rst`` sections 4-7, PROTOCOL.md §2-3: list the
installed recorders 0-15, refuse to start when an active recorder of the
configuration is missing (:func:`licelpush.session.missing_recorders_problem`),
configure every active recorder, ``*IDN?`` (timestamp byte order),
``TRTYPE?`` per recorder, plan, ``MPUSH``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from licelpush.client import Controller, ControllerReplyError, big_endian_timestamps
from licelpush.config import AcquisConfig
from licelpush.decode import FrameDecoder
from licelpush.errors import ControllerError
from licelpush.events import ConnectEvent, StartEvent
from licelpush.framing import Framer, decoder_framer, lost_sync_seconds
from licelpush.hardware import RecorderHardware
from licelpush.hv import apply_voltages, check_limits, voltages_from_config
from licelpush.plan import MPushPlan, make_plan, overflow_notes
from licelpush.records import RecordBuilder, acquisition_seconds
from licelpush.recordtimes import ConnectionClock
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
    clock: ConnectionClock
    """Record times of this push connection (:mod:`licelpush.recordtimes`)."""
    pmt_voltages: dict[int, float] | None = None
    """Read-back PMT voltage per recorder when the set-up applied them (``--apply-hv``)."""
    received: int = 0
    frames: int = 0
    quarantined: int = 0

    @classmethod
    def started(cls, controller: Controller, number: int, config: AcquisConfig,
                prefix: str | None, idn: str, hardware: dict[int, RecorderHardware],
                plan: MPushPlan, mpush_time: datetime,
                pmt_voltages: dict[int, float] | None = None) -> Link:
        """The link of a connection whose ``MPUSH`` (or first poll) was sent at
        ``mpush_time`` (UTC)."""
        decoder = FrameDecoder(plan)
        duration = acquisition_seconds(config, plan)
        framer = decoder_framer(decoder, lost_sync_seconds=lost_sync_seconds(duration))
        return cls(controller, number, plan, decoder, framer,
                   RecordBuilder(config, plan, prefix, pmt_voltages), hardware, idn,
                   ConnectionClock(mpush_time, duration), pmt_voltages)

    def start_event(self, run_id: str, config: AcquisConfig, options: AcquireOptions
                    ) -> StartEvent:
        """The journal's ``start`` event (written with the first connection)."""
        return StartEvent(
            run=run_id, configuration=str(config.path),
            controller=f"{options.host}:{options.port}", shots=options.shots,
            acquisitions=options.acquisitions, acquis_per_file=options.acquis_per_file,
            output=str(options.output), layout=options.layout.pattern,
            dark=options.layout.dark, mode=options.mode, command=self.plan.command,
            frame_length=self.plan.frame_length, idn=self.idn,
            big_endian_timestamp=self.plan.big_endian_timestamp,
            time_zone="local" if options.local_time else "UTC",
            recorders={str(a): vars(hw) for a, hw in self.hardware.items()})

    def connect_event(self) -> ConnectEvent:
        """The journal's ``connect`` event."""
        local, remote = self.controller.push_addresses()
        volts = (None if self.pmt_voltages is None
                 else {str(d): v for d, v in self.pmt_voltages.items()})
        return ConnectEvent(connection=self.number, idn=self.idn, command=self.plan.command,
                            frame_length=self.plan.frame_length, push_local=local,
                            push_remote=remote, pmt_voltages=volts)


def prepare(controller: Controller, config: AcquisConfig, shots: int, *,
            first: bool) -> tuple[str, dict[int, RecorderHardware], MPushPlan]:
    """Run the set-up sequence up to (not including) ``MPUSH``; (IDN, hardware, plan).

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
    return idn, hardware, plan


def start_mpush(controller: Controller, config: AcquisConfig, shots: int, *,
                first: bool) -> tuple[str, dict[int, RecorderHardware], MPushPlan]:
    """:func:`prepare`, then ``MPUSH``; (IDN, hardware, plan).

    A controller that refuses ``MPUSH`` (it may predate it) raises a
    :class:`ControllerReplyError` suggesting ``--mode poll``.
    """
    idn, hardware, plan = prepare(controller, config, shots, first=first)
    try:
        controller.start_mpush(plan)
    except ControllerReplyError as exc:
        raise ControllerReplyError(
            f"{exc.message}; a controller without MPUSH can be read with --mode poll "
            "(START, STOP and DATA? per acquisition)") from None
    return idn, hardware, plan


class HighVoltageError(ControllerError):
    """A PMT did not confirm the voltage the configuration asks for."""


def apply_hv(controller: Controller, config: AcquisConfig,
             max_volts: int) -> dict[int, float]:
    """Set the configuration's PMT voltages and confirm each by read-back (``--apply-hv``).

    Returns the read-back voltage per PMT device (= recorder address,
    :mod:`licelpush.hv`). A tube that does not confirm raises
    :class:`HighVoltageError` naming every failing tube; a broken connection
    raises the client's error, so the run reconnects as for any set-up failure.
    """
    targets = voltages_from_config(config)
    check_limits(targets, max_volts)
    if not targets:
        log.warning("--apply-hv: %s gives no PMT voltage for an enabled dataset; none set",
                    config.path)
        return {}
    results = apply_voltages(controller, targets, clock=time.monotonic, sleep=time.sleep,
                             failure=ControllerReplyError)
    for result in results:
        log.info("%s", result.describe())
    failed = [r.describe() for r in results if not r.ok]
    if failed:
        raise HighVoltageError("; ".join(failed) + "; refusing to start")
    return {r.device: float(r.readback) for r in results if r.readback is not None}


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

"""``EthernetController``: the vendor API of the controller client, on licelpush's client.

Spec: mpush-workflow.rst sections 4-10 (the calls and their contracts),
PROTOCOL.md §1-3. Requests, replies, socket handling and the kill port are
:class:`licelpush.client.Controller`'s; the MPUSH plan (which raw datasets, the
command, the frame length) is :func:`licelpush.plan.make_plan`'s; whether the
received bytes hold a complete frame is decided by licelpush's framer
(:mod:`Licel._pushbuffer`). This module keeps the vendor's names, arguments,
return values and the ``pushBuffer`` the vendor program consumes.

Exceptions: transport failures (refused, reset, closed, no reply in time) and
unusable replies raise :class:`EthernetControllerConnectionError`, a
``ConnectionError``; a push stream that went silent raises
:class:`EthernetControllerTimeoutError`, also a ``TimeoutError``; so the
documented program's ``except (ConnectionError, ConnectionResetError,
TimeoutError)`` reconnects in every case. Everything else the documented
contract calls a ``RuntimeError`` is an :class:`EthernetControllerError`.

Behaviour that differs from the vendor library (docs/VENDOR_API.md):

- :meth:`~EthernetController.recvPushData` returns as soon as the buffer starts
  with a decidable frame or span of damage; when the connection ends it first
  hands out every complete frame still buffered, and raises only once the
  buffer is empty, so no received acquisition is lost to a reconnection;
- :meth:`~EthernetController.reconnection` retries with exponential back-off,
  refuses a controller that lacks a configured recorder, and really raises
  ``RuntimeError`` when the attempts are exhausted;
- the PHM datasets follow PROTOCOL.md §3.1 in one place (the plan), so command,
  frame length and decoding always agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from licelpush.client import (
    DEFAULT_TIMEOUT,
    RECORDER_ADDRESSES,
    Controller,
    ControllerConnectionError,
    ControllerReplyError,
    big_endian_timestamps,
)
from licelpush.decode import FrameDecoder
from licelpush.errors import PlanError
from licelpush.hardware import RecorderHardware
from licelpush.limits import DEFAULT_PORT, command_port_problem
from licelpush.plan import MPushPlan, make_plan
from licelpush.records import acquisition_seconds
from licelpush.session import (
    Abandon,
    Abandoned,
    Action,
    AttemptFailed,
    Connected,
    ConnectionLost,
    DataReceived,
    Log,
    Probe,
    ProbeAnswered,
    ReconnectAfter,
    ReplyTimedOut,
    RunPolicy,
    RunSession,
    Stop,
    Tick,
    missing_recorders_problem,
)

from . import _pushbuffer
from .licel_Config import Config

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
"""Longest single wait on the push socket before the silence is checked."""
RECEIVE_CHUNK = 1 << 16
"""Bytes asked of the push socket per receive, at least (a frame when larger)."""


class EthernetControllerError(RuntimeError):
    """The controller or the configuration does not allow what was asked."""


class EthernetControllerConnectionError(EthernetControllerError, ConnectionError):
    """The connection to the controller failed, closed, timed out or answered garbage."""


class EthernetControllerTimeoutError(EthernetControllerConnectionError, TimeoutError):
    """No push data arrived for too long."""


class PushConnectionClosedError(EthernetControllerConnectionError, ConnectionResetError):
    """The controller closed the push connection."""


class MPushPlanError(PlanError, ValueError):
    """The configuration and shot count cannot be pushed (e.g. more bins than the FIFO)."""


class HardwareInfo(dict):  # type: ignore[type-arg]
    """The vendor's hardware description of one recorder (``'ADC Bits'``, ``'PC Bits'``,
    ``'FIFOLength'``, ``'binWidth'``, ``'ID'``, ``'HWCAP'``, ``'binShift'``, ``'raw'``),
    carrying the parsed :class:`~licelpush.hardware.RecorderHardware` in ``hardware``."""

    __slots__ = ("hardware",)

    def __init__(self, hardware: RecorderHardware) -> None:
        super().__init__({
            "ADC Bits": hardware.adc_bits,
            "PC Bits": hardware.pc_bits,
            "FIFOLength": hardware.fifo_length,
            "binWidth": hardware.bin_width_m,
            "ID": hardware.id,
            "HWCAP": hardware.hwcap,
            "binShift": hardware.bin_shift,
            "raw": 0,
        })
        self.hardware = hardware


def recorder_hardware(info: Any) -> RecorderHardware:
    """The :class:`RecorderHardware` of a ``hardwareInfos`` entry (also a plain vendor dict)."""
    hardware = getattr(info, "hardware", None)
    if isinstance(hardware, RecorderHardware):
        return hardware
    return RecorderHardware(
        adc_bits=int(info["ADC Bits"]), pc_bits=int(info["PC Bits"]),
        fifo_length=int(info["FIFOLength"]), bin_width_m=float(info["binWidth"]),
        id=int(info.get("ID", 0)), hwcap=int(info.get("HWCAP", 0)),
        bin_shift=float(info.get("binShift", 0.0)),
    )


@contextmanager
def _translated() -> Iterator[None]:
    """Turn licelpush client errors into the exceptions vendor scripts catch."""
    try:
        yield
    except ControllerConnectionError as exc:
        raise EthernetControllerConnectionError(exc.message) from exc
    except ControllerReplyError as exc:
        raise EthernetControllerConnectionError(exc.message) from exc


class EthernetController:
    """Command and push connections to one Licel Ethernet controller (vendor API).

    ``EthernetController(ip, port)`` connects nothing yet; ``port`` is the
    command port P (push P + 1, kill P + 2). ``timeout`` bounds every connect
    and every reply (the vendor's 5 s).
    """

    MAX_RECONNECTION_ATTEMPTS = 5
    """Documented default of :meth:`reconnection` (instance attribute ``reconnectAttempts``)."""
    RECONNECTION_BACKOFF_S = 0.5
    """Delay before the second attempt of a reconnection; doubles per attempt."""
    RECONNECTION_BACKOFF_MAX_S = 30.0

    def __init__(self, ip: str, port: int = DEFAULT_PORT, *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        problem = command_port_problem(port)
        if problem:
            raise ValueError(f"port {port!r}: {problem}")
        self.ip = ip
        self.port = port
        self.pushPort = port + 1
        self.killPort = port + 2
        self.controller = Controller(ip, port, timeout=timeout)
        """The licelpush client doing the work."""
        self.pushBuffer = bytearray()
        """Received push bytes not yet consumed (vendor API)."""
        self.hardwareInfos: dict[int, HardwareInfo] = {}
        """Per active recorder address, its ``TRTYPE?`` description (vendor dict keys)."""
        self.bigEndianTimeStamp = False
        self.BufferSize = 0
        """Bytes of one pushed frame of the running MPUSH plan."""
        self.exceptedByte = 0
        """Same as :attr:`BufferSize` (vendor name)."""
        self.plan: MPushPlan | None = None
        """The MPUSH plan sent by :meth:`MPushStartFromConfig`."""
        self.decoder: FrameDecoder | None = None
        self.installedTr: list[int] | None = None
        """Addresses found by :meth:`listInstalledTr`."""
        self.reconnectAttempts = self.MAX_RECONNECTION_ATTEMPTS
        """Attempts of one :meth:`reconnection` call; -1 = until it succeeds."""
        self.probeAfter: float | None = None
        """Seconds without push data before ``*IDN?`` checks the controller;
        None: from the shots and the laser rate (at least 5 s)."""
        self.stallLimit: float | None = None
        """Seconds without push data before the stream counts as lost although the
        controller answers; None: from the shots and the laser rate."""
        self.pushStreamEnded = False
        """The push connection ended; what is buffered is all that will come."""
        self._end: tuple[type[EthernetControllerConnectionError], str] | None = None
        self._duration: float | None = None
        self._chunk = bytearray(RECEIVE_CHUNK)
        self._session = self._fresh_session()

    # ------------------------------------------------------------------ compatibility

    @property
    def Tr(self) -> EthernetController:  # noqa: N802 - vendor name
        """Newer vendor scripts reach the recorder calls through ``ethernetController.Tr``."""
        return self

    # ------------------------------------------------------------------ connections

    def openConnection(self) -> None:  # noqa: N802 - vendor API name
        """Connect the command socket (port P); the push socket (P + 1) is opened with it.

        Raises :class:`EthernetControllerConnectionError` (a ``ConnectionError``).
        """
        if not self.controller.command_connected:
            self._connect()

    def openPushConnection(self) -> None:  # noqa: N802
        """Make sure the push socket (port P + 1) is connected (it opens with the command
        socket; after :meth:`shutdownPushConnection` both are reopened)."""
        if not (self.controller.push_connected and self.controller.command_connected):
            self._connect()

    def _connect(self) -> None:
        with _translated():
            self.controller.connect()
        self._new_stream()

    def _new_stream(self) -> None:
        self.pushStreamEnded = False
        self._end = None
        self._session = self._fresh_session()

    def _policy(self) -> RunPolicy:
        """The run rules with this object's (script-settable) attributes."""
        return RunPolicy(retries=self.reconnectAttempts, backoff=self.RECONNECTION_BACKOFF_S,
                         backoff_max=self.RECONNECTION_BACKOFF_MAX_S,
                         probe_after=self.probeAfter, stall_limit=self.stallLimit)

    def _fresh_session(self) -> RunSession:
        """A run session whose push stream has just started (liveness counts from now)."""
        now = time.monotonic()
        session = RunSession(self._policy(), now)
        session.handle(Connected(now, self._duration))
        return session

    def shutdownConnection(self) -> None:  # noqa: N802
        """Close the command socket (idempotent)."""
        self.controller.close_command()

    def shutdownPushConnection(self) -> None:  # noqa: N802
        """Close the push socket (idempotent)."""
        self.controller.close_push()

    # ------------------------------------------------------------------ queries

    def getID(self) -> str:  # noqa: N802
        """``*IDN?``: the controller's identification text."""
        with _translated():
            return self.controller.idn()

    def getMilliSecs(self) -> str:  # noqa: N802
        """``MILLISEC?``: the reply ``MILLISEC <n>`` with the controller's ms timer (vendor:
        the reply text)."""
        with _translated():
            return self.controller.request("MILLISEC?")

    def getCapabilities(self) -> str:  # noqa: N802
        """``CAP?``: the controller's sub-components."""
        with _translated():
            return self.controller.request("CAP?")

    def listInstalledTr(self) -> dict[str, str]:  # noqa: N802
        """Probe addresses 0-15; ``{'TR0': 'installed' | 'not installed', ...}``.

        Raises ``RuntimeError`` (:class:`EthernetControllerError`) when no
        recorder answers, :class:`EthernetControllerConnectionError` when the
        connection fails.
        """
        with _translated():
            installed = self.controller.installed_recorders(RECORDER_ADDRESSES)
        self.installedTr = installed
        if not installed:
            raise EthernetControllerError(
                f"no transient recorder detected at addresses 0-15 of the controller "
                f"{self.ip}:{self.port} (STAT? reports no 'Shots')")
        return {f"TR{a}": "installed" if a in installed else "not installed"
                for a in RECORDER_ADDRESSES}

    # ------------------------------------------------------------------ configuration

    def configureHardware(self, ConfigInfo: Config) -> None:  # noqa: N802, N803
        """Send discriminator, pretrigger, threshold, frequency divider, max shots, input
        range and blocked triggers to every active recorder of the configuration.

        Raises ``RuntimeError`` (:class:`EthernetControllerError`) when the
        configuration has no active recorder, or names one that
        :meth:`listInstalledTr` did not find.
        """
        config = ConfigInfo.require()
        active = config.active_recorders
        if not active:
            raise EthernetControllerError(
                f"{config.path}: no recorder has an enabled dataset; nothing to configure")
        if self.installedTr is not None:
            problem = missing_recorders_problem(config.path, [r.address for r in active],
                                                self.installedTr, f"{self.ip}:{self.port}")
            if problem:
                raise EthernetControllerError(problem)
        with _translated():
            for recorder in active:
                self.controller.configure(recorder)

    # ------------------------------------------------------------------ MPUSH

    def MPushStartFromConfig(self, shots: int, ConfigInfo: Config) -> str:  # noqa: N802, N803
        """Start MPUSH for the configuration; returns the controller's reply.

        Reads the timestamp byte order (``*IDN?``) and each active recorder's
        ``TRTYPE?`` (kept in :attr:`hardwareInfos`), decides the plan (kept in
        :attr:`plan`; :attr:`BufferSize` is its frame length) and sends its
        ``MPUSH`` command. Raises :class:`MPushPlanError` (a ``ValueError``) when
        the configuration cannot be pushed with ``shots``.
        """
        config = ConfigInfo.require()
        active = config.active_recorders
        with _translated():
            idn = self.controller.idn()
            hardware = {r.address: self.controller.trtype(r.address) for r in active}
        big_endian = big_endian_timestamps(idn)
        try:
            plan = make_plan(config, hardware, shots, big_endian_timestamp=big_endian)
        except PlanError as exc:
            raise MPushPlanError(exc.message) from None
        self.usePlan(ConfigInfo, plan)
        log.info("%s (frames of %d bytes)", plan.command, plan.frame_length)
        with _translated():
            reply = self.controller.start_mpush(plan)
        self._session = self._fresh_session()
        return reply

    def usePlan(self, ConfigInfo: Config, plan: MPushPlan) -> None:  # noqa: N802, N803
        """Adopt an MPUSH plan without sending anything (done by :meth:`MPushStartFromConfig`;
        also for replaying recorded push data into :attr:`pushBuffer`).

        Sets :attr:`plan`, :attr:`hardwareInfos`, :attr:`bigEndianTimeStamp`,
        :attr:`BufferSize` and the configuration's ``BufferSize``/``numDataSets``.
        """
        config = ConfigInfo.require()
        self.hardwareInfos = {c.recorder: HardwareInfo(c.hardware) for c in plan.channels}
        self.bigEndianTimeStamp = plan.big_endian_timestamp
        self.plan = plan
        self.decoder = FrameDecoder(plan)
        self.BufferSize = self.exceptedByte = plan.frame_length
        ConfigInfo.BufferSize = ConfigInfo.exceptedByte = plan.frame_length
        ConfigInfo.numDataSets = len(plan.channels)
        self._duration = acquisition_seconds(config, plan)

    def MPushStop(self) -> str:  # noqa: N802
        """``SLAVE``: leave push mode; returns the controller's reply.

        When the connection is already gone (the controller closed it, or does
        not answer), the controller's push mode ended with it (PROTOCOL.md
        §3.4): the kill port is asked to close any half-open connection, a
        warning is logged and the returned text says so, so that a program
        whose data are all saved still ends normally. A controller that answers
        ``SLAVE`` with something else raises :class:`EthernetControllerConnectionError`.
        """
        try:
            return self.controller.slave()
        except ControllerReplyError as exc:
            raise EthernetControllerConnectionError(exc.message) from exc
        except ControllerConnectionError as exc:
            self.controller.kill()
            text = (f"SLAVE not sent ({exc.message}); push mode ended with the connection")
            log.warning("%s", text)
            return text

    def recvPushData(self) -> None:  # noqa: N802
        """Receive push data into :attr:`pushBuffer` until its head can be decided.

        Returns when the buffer starts with a complete frame confirmed by the
        start of the next one (or by the end of the connection), or with a span
        of damage that the framer has delimited. While nothing arrives, the
        controller is probed with ``*IDN?`` after :attr:`probeAfter` seconds.

        When the connection ends, complete frames still buffered are handed out
        first; once the buffer is empty the end is raised:
        :class:`PushConnectionClosedError` (``ConnectionResetError``),
        :class:`EthernetControllerTimeoutError` (``TimeoutError``) or
        :class:`EthernetControllerConnectionError` (``ConnectionError``).
        """
        decoder = self._require_decoder()
        while True:
            buffer = self.pushBuffer
            if self.pushStreamEnded:
                if buffer:
                    return  # at the end of the stream the framer decides any bytes
                assert self._end is not None
                cls, message = self._end
                raise cls(message)
            if (_pushbuffer.may_decide(buffer, decoder)
                    and _pushbuffer.head_event(buffer, decoder) is not None):
                return
            self._receive()

    def _require_decoder(self) -> FrameDecoder:
        if self.decoder is None:
            raise EthernetControllerError("MPUSH has not been started: call "
                                          "MPushStartFromConfig(shots, ConfigInfo) first")
        return self.decoder

    def _receive(self) -> None:
        size = max(RECEIVE_CHUNK, self.BufferSize)
        if len(self._chunk) < size:
            self._chunk = bytearray(size)
        try:
            n = self.controller.recv_push_into(memoryview(self._chunk), POLL_INTERVAL_S)
        except TimeoutError:
            self._idle()
            return
        except ControllerConnectionError:
            self._end_stream(EthernetControllerConnectionError,
                             f"the push connection to {self.ip}:{self.pushPort} is not open")
            return
        except OSError as exc:
            self._end_stream(EthernetControllerConnectionError,
                             f"the push connection to {self.ip}:{self.pushPort} failed: "
                             f"{exc.strerror or exc!r}")
            return
        if not n:
            self._end_stream(PushConnectionClosedError,
                             f"the controller {self.ip}:{self.pushPort} closed the push "
                             "connection")
            return
        self.pushBuffer += memoryview(self._chunk)[:n]
        self._session.handle(DataReceived(time.monotonic(), n))

    def _idle(self) -> None:
        """Nothing arrived within the poll interval: check the controller when it is due."""
        self._session.policy = self._policy()
        self._carry_out(self._session.handle(Tick(time.monotonic())))

    def _carry_out(self, actions: list[Action]) -> None:
        """The session's liveness decisions: probe, log, or end the stream."""
        for action in actions:
            if isinstance(action, Probe):
                try:
                    with _translated():
                        self.controller.idn()
                except EthernetControllerConnectionError as exc:
                    self._carry_out(self._session.handle(
                        ReplyTimedOut(time.monotonic(), str(exc))))
                else:
                    self._carry_out(self._session.handle(ProbeAnswered(time.monotonic())))
            elif isinstance(action, Log):
                log.info("%s", action.message)
            elif isinstance(action, Abandon):
                self._end_stream(EthernetControllerTimeoutError, action.reason)

    def _end_stream(self, cls: type[EthernetControllerConnectionError], message: str) -> None:
        self.pushStreamEnded = True
        self._end = (cls, message)
        log.warning("%s (%d bytes still buffered)", message, len(self.pushBuffer))

    # ------------------------------------------------------------------ reconnection

    def reconnection(self, ConfigInfo: Config) -> None:  # noqa: N803
        """Renew the connection: kill, reconnect, re-list recorders, reconfigure, clear
        :attr:`pushBuffer`. MPUSH is not restarted (call :meth:`MPushStartFromConfig`).

        Attempts up to :attr:`reconnectAttempts` times (-1: until it works),
        waiting :attr:`RECONNECTION_BACKOFF_S` before the second and doubling up
        to :attr:`RECONNECTION_BACKOFF_MAX_S`. Raises ``RuntimeError``
        (:class:`EthernetControllerError`) naming the last problem when every
        attempt failed.
        """
        ConfigInfo.require()
        if self.pushBuffer:
            log.warning("reconnection discards %d buffered push bytes", len(self.pushBuffer))
        self.controller.close()
        session = self._session
        session.policy = self._policy()
        session.handle(ConnectionLost("reconnection requested"))
        actions = session.handle(Abandoned())
        while True:
            action = next(a for a in actions if isinstance(a, (ReconnectAfter, Stop)))
            if isinstance(action, Stop):
                raise EthernetControllerError(
                    f"failed to reconnect to {self.ip}:{self.port} after {session.attempt} "
                    f"attempt(s); last problem: {session.last_error}")
            if action.delay_s:
                log.info("reconnection attempt %d in %.1f s", action.attempt, action.delay_s)
                time.sleep(action.delay_s)
            problem = self._reconnect_once(ConfigInfo)
            if problem is None:
                log.info("reconnected to %s:%d (attempt %d)", self.ip, self.port,
                         action.attempt)
                return
            actions = session.handle(AttemptFailed(
                f"to {self.ip}:{self.port}: {problem}"))
            for note in actions:
                if isinstance(note, Log):
                    log.warning("%s", note.message)

    def _reconnect_once(self, ConfigInfo: Config) -> str | None:  # noqa: N803
        """One attempt: kill, connect, list, configure; None when it worked, else why not."""
        self.controller.kill()
        try:
            self._connect()
            self.listInstalledTr()
            self.configureHardware(ConfigInfo)
        except (EthernetControllerError, OSError) as exc:
            self.controller.close()
            return str(exc)
        del self.pushBuffer[:]
        self._new_stream()
        return None

"""The emulator's network edge: asyncio command, push and kill servers.

Spec: PROTOCOL.md §1 (sockets: command P, push P+1, kill P+2), §3.2 and §3.4
(push stream, back-pressure, a dropped or killed connection ends push mode)
and the emulator issue (faults, ledger). The controller itself is the pure
:class:`~licelpush.emulator.model.EmulatedController`; this module only moves bytes,
keeps the clock and carries out the faults of the
:class:`~licelpush.emulator.faults.FaultSchedule`.

Behaviour worth knowing:

- Several clients may connect, one after another or at once; controller state
  (selection, recorders, push mode) is shared, as on the hardware.
- Frames go to the newest push connection. Push mode ends on ``SLAVE``, when
  that push connection or the command connection that started push mode
  closes, on a kill and on a reboot.
- A kill (``KILL SOCKETS <password>`` + CRLF on P+2) aborts, without
  flushing, every command and push connection opened before the kill
  connection, ends push mode and closes the kill connection; a wrong password
  is logged and ignored. No reply is sent.
- ``disconnect`` and ``reboot`` faults close connections gracefully, after the
  frames already written are flushed.
- "Refusing connections" closes the listening sockets (connect() then gets
  ECONNREFUSED) and reopens them on the same ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from licelpush.hardware import RecorderHardware
from licelpush.limits import MAX_PORT, command_port_problem
from licelpush.plan import MPushPlan
from licelpush.platform import REUSE_ADDRESS

from .assumptions import (
    DEFAULT_CAPS,
    DEFAULT_IDN,
    DEFAULT_KILL_PASSWORD,
    DEFAULT_RATE_HZ,
    KILL_SPARES_NEWER_CONNECTIONS,
    PUSH_ENDS_WITH_COMMAND_CONNECTION,
)
from .faults import FaultSchedule, FaultSpec
from .ledger import (
    FaultActed,
    FrameSent,
    Ledger,
    PoweredUp,
    PushChanged,
    SocketClosed,
    SocketOpened,
)
from .model import EmittedFrame, EmulatedController, installed_hardware

log = logging.getLogger(__name__)

COMMAND_LINE_LIMIT = 1 << 20
"""Longest accepted request line; a longer one is answered with an error and dropped."""
PORT_SEARCH_ATTEMPTS = 200
"""Tries to find three consecutive free ports for ``--port 0``."""
GRACEFUL_CLOSE_TIMEOUT_S = 5.0
"""How long a graceful close waits for written frames to be flushed."""
PUSH_WRITE_HIGH_WATER = 1 << 20
"""Push transport buffer above which writing waits for the client (back-pressure)."""
SENT_FRAMES_MAX_BYTES = 256 << 20
"""At most this much memory of profiles is kept for :meth:`SentFrames.get`."""


@dataclass(frozen=True)
class EmulatorOptions:
    """Everything ``licelpush emulate`` can be told (see ``licelpush emulate --help``)."""

    host: str = "127.0.0.1"
    port: int = 2055
    """Command port P (push P+1, kill P+2); 0 = find three free consecutive ports."""
    hardware: Mapping[int, RecorderHardware] = field(default_factory=installed_hardware)
    idn: str = DEFAULT_IDN
    caps: str = DEFAULT_CAPS
    rate_hz: float = DEFAULT_RATE_HZ
    speed: float = 1.0
    """The emulated clock (shots and ms timer) runs this many times faster than real time."""
    max_speed: bool = False
    """Push frames as fast as the client takes them (benchmarks)."""
    seed: int = 0
    faults: tuple[FaultSpec, ...] = ()
    kill_password: str = DEFAULT_KILL_PASSWORD
    ledger_path: Path | None = None
    clock_start_ms: int = 0
    """Controller ms timer at power-up (e.g. 4294960000 to see the uint32 wrap soon)."""
    bank_size: int = 4
    """Encoded frame variants cached per plan at max speed."""
    pmt_slots: frozenset[int] | None = None
    """PMT devices with a module; None: one at each recorder address."""
    discovery_port: int | None = None
    """UDP port answering the discovery request (PROTOCOL.md §5) on ``host``; None: off."""

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, not {self.speed}")
        if not self.rate_hz > 0:
            raise ValueError(f"rate must be > 0 Hz, not {self.rate_hz}")
        problem = command_port_problem(self.port, allow_zero=True)
        if problem:
            raise ValueError(f"port {self.port}: {problem}")
        if not self.hardware:
            raise ValueError("no recorder installed")
        if self.bank_size < 1:
            raise ValueError(f"bank size must be >= 1, not {self.bank_size}")


@dataclass(frozen=True, eq=False)
class SentFrame:
    """A frame put on the wire, as built (before faults), kept for tests."""

    seq: int
    connection: int
    timestamp_ms: int
    shots: int
    plan: MPushPlan | None
    profiles: tuple[np.ndarray, ...]
    """uint32 accumulated profile per plan channel: what the intact frame decodes to."""
    clipped: tuple[np.ndarray | None, ...]
    crc32: int
    length: int
    faults: tuple[dict[str, Any], ...]

    @property
    def nbytes(self) -> int:
        """Memory held by the profiles and clip flags (shared arrays counted each time)."""
        return (sum(p.nbytes for p in self.profiles)
                + sum(c.nbytes for c in self.clipped if c is not None))


class SentFrames:
    """Thread-safe record of the last ``keep`` frames sent (for the test fixture).

    Also bounded by ``max_bytes`` of profiles (the newest frame is always kept),
    so a long run with large frames does not hoard memory.
    """

    def __init__(self, keep: int, max_bytes: int = SENT_FRAMES_MAX_BYTES) -> None:
        self.keep = keep
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._frames: OrderedDict[int, SentFrame] = OrderedDict()
        self._bytes = 0

    def add(self, frame: SentFrame) -> None:
        with self._lock:
            self._frames[frame.seq] = frame
            self._bytes += frame.nbytes
            while len(self._frames) > 1 and (len(self._frames) > self.keep
                                             or self._bytes > self.max_bytes):
                _, old = self._frames.popitem(last=False)
                self._bytes -= old.nbytes

    def get(self, seq: int) -> SentFrame | None:
        with self._lock:
            return self._frames.get(seq)

    def seqs(self) -> list[int]:
        with self._lock:
            return list(self._frames)


@dataclass(eq=False)
class _Connection:
    id: int
    kind: str
    """``command``, ``push`` or ``kill``."""
    writer: asyncio.StreamWriter
    peer: str
    closed: bool = False


class EmulatorServer:
    """Serves one emulated controller on three consecutive ports until :meth:`stop`."""

    def __init__(self, options: EmulatorOptions, *, sent: SentFrames | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.sent = sent
        self._clock = clock
        self._t0 = clock()
        self.controller = EmulatedController(
            options.hardware, idn=options.idn, caps=options.caps, rate_hz=options.rate_hz,
            seed=options.seed, clock_start_ms=options.clock_start_ms,
            max_speed=options.max_speed, bank_size=options.bank_size, powered_at=0.0,
            pmt_slots=options.pmt_slots)
        self._discovery: asyncio.DatagramTransport | None = None
        self.schedule = FaultSchedule(options.faults, options.seed)
        self.ledger = Ledger(options.ledger_path, clock)
        self.host = options.host
        self.port = options.port
        self.frames_sent = 0
        self._connections: dict[int, _Connection] = {}
        self._next_id = 1
        self._push_conn: _Connection | None = None
        self._push_owner: int | None = None
        self._servers: list[asyncio.Server] = []
        self._listeners_down = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._awake: asyncio.Event | None = None
        self._push_changed: asyncio.Event | None = None
        self._stopped = False

    # --- clock ---

    def now(self) -> float:
        """Emulated seconds since start (real time × speed)."""
        return (self._clock() - self._t0) * self.options.speed

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.port, self.port + 1, self.port + 2

    # --- life cycle ---

    async def start(self) -> None:
        """Bind the three ports (finding free ones for port 0) and start pushing when asked."""
        self._awake = asyncio.Event()
        self._awake.set()
        self._push_changed = asyncio.Event()
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            log.warning("listening on %s, not loopback: anyone who can reach this host can "
                        "drive the emulator", self.host)
        await self._bind()
        log.info("emulator listening on %s command %d push %d kill %d", self.host, *self.ports)
        if self.options.discovery_port is not None:
            await self._start_discovery(self.options.discovery_port)
        self._spawn(self._push_loop())
        for spec in self.schedule.at_start():
            self.ledger.write(FaultActed(spec.kind, 0, spec.seconds))
            self._close_listeners()  # now, before anyone is told the ports
            self._spawn(self._reopen_after(spec.seconds))

    async def stop(self) -> None:
        """Close everything and wait for the tasks; the ledger is closed last."""
        if self._stopped:
            return
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._close_listeners(force=True)
        if self._discovery is not None:
            self._discovery.close()
        for conn in list(self._connections.values()):
            await self._close(conn, "stop", graceful=False)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        self.ledger.close()

    async def _start_discovery(self, port: int) -> None:
        """Answer the UDP discovery request (PROTOCOL.md §5) on ``host:port``."""
        server = self

        class _Discovery(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = server.controller.discovery_answer(data, server.ports[0])
                if reply is None:
                    log.info("discovery port: ignored %d bytes from %s", len(data), addr[0])
                    return
                self.transport.sendto(reply, addr)  # type: ignore[attr-defined]
                log.info("discovery request from %s:%d answered", *addr[:2])

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            _Discovery, local_addr=(self.host, port))
        self._discovery = transport
        log.info("discovery answered on UDP %s:%d", self.host, self.discovery_port)

    @property
    def discovery_port(self) -> int | None:
        """The UDP port answering discovery (the bound one for ``--discovery-port 0``)."""
        if self._discovery is None:
            return None
        return int(self._discovery.get_extra_info("sockname")[1])

    def inject(self, spec: FaultSpec) -> None:
        """Add a fault while running (call in the loop's thread)."""
        self.schedule.add(spec)
        if spec.kind == "refuse" and spec.at_start:
            self.ledger.write(FaultActed(spec.kind, self.frames_sent, spec.seconds))
            self._close_listeners()
            self._spawn(self._reopen_after(spec.seconds))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator task failed", exc_info=task.exception())

    # --- listening sockets ---

    def _handler_functions(self) -> tuple[Callable[..., Any], ...]:
        return self._serve_command, self._serve_push, self._serve_kill

    async def _listen(self, base: int) -> list[asyncio.Server]:
        servers: list[asyncio.Server] = []
        try:
            for offset, handler in enumerate(self._handler_functions()):
                servers.append(await asyncio.start_server(
                    handler, self.host, base + offset, limit=COMMAND_LINE_LIMIT,
                    reuse_address=REUSE_ADDRESS))
        except OSError:
            for server in servers:
                server.close()
            raise
        return servers

    async def _bind(self) -> None:
        if self.port:
            try:
                self._servers = await self._listen(self.port)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on {self.host} ports {self.port}.."
                              f"{self.port + 2}: {exc.strerror}") from None
            return
        for _ in range(PORT_SEARCH_ATTEMPTS):
            probe = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            try:
                probe.bind((self.host, 0))
                base = probe.getsockname()[1]
            finally:
                probe.close()
            if base + 2 > MAX_PORT:
                continue
            try:
                self._servers = await self._listen(base)
            except OSError:
                continue
            self.port = base
            return
        raise OSError(f"no three consecutive free ports found on {self.host}")

    def _close_listeners(self, force: bool = False) -> None:
        self._listeners_down += 0 if force else 1
        for server in self._servers:
            server.close()
        self._servers = []

    async def _reopen_listeners(self) -> None:
        self._listeners_down = max(0, self._listeners_down - 1)
        if self._listeners_down or self._stopped:
            return
        for attempt in range(50):
            try:
                self._servers = await self._listen(self.port)
                return
            except OSError as exc:
                if attempt == 49:
                    log.error("cannot listen again on ports %d..%d: %s", self.port,
                              self.port + 2, exc)
                    return
                await asyncio.sleep(0.1)

    # --- connections ---

    def _open(self, writer: asyncio.StreamWriter, kind: str) -> _Connection:
        peer_info = writer.get_extra_info("peername")
        peer = f"{peer_info[0]}:{peer_info[1]}" if peer_info else "?"
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(self._next_id, kind, writer, peer)
        self._next_id += 1
        self._connections[conn.id] = conn
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self.ledger.write(SocketOpened(conn.id, kind, peer))
        log.info("%s connection %d from %s", kind, conn.id, peer)
        return conn

    async def _close(self, conn: _Connection, reason: str, *, graceful: bool = True) -> None:
        """Close ``conn`` once (the first reason wins); end push mode if it carried it."""
        if conn.closed:
            return
        conn.closed = True
        self._connections.pop(conn.id, None)
        self.ledger.write(SocketClosed(conn.id, conn.kind, reason))
        log.info("%s connection %d closed (%s)", conn.kind, conn.id, reason)
        if conn is self._push_conn:
            self._push_conn = None
            self._end_push(f"push connection {conn.id} closed ({reason})")
        elif PUSH_ENDS_WITH_COMMAND_CONNECTION and conn.id == self._push_owner:
            self._end_push(f"command connection {conn.id} closed ({reason})")
        writer = conn.writer
        if graceful and not writer.is_closing():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), GRACEFUL_CLOSE_TIMEOUT_S)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), GRACEFUL_CLOSE_TIMEOUT_S)
        else:
            writer.transport.abort()

    async def _close_clients(self, reason: str, *, graceful: bool,
                             before: int | None = None, kinds: tuple[str, ...] = (
                                 "command", "push")) -> int:
        victims = [c for c in list(self._connections.values())
                   if c.kind in kinds and (before is None or c.id < before)]
        self._end_push(reason)
        await asyncio.gather(*(self._close(c, reason, graceful=graceful) for c in victims))
        return len(victims)

    def _end_push(self, reason: str) -> None:
        if self.controller.stop_push(self.now(), reason):
            self.ledger.write(PushChanged("off", reason=reason))
        self._push_owner = None
        self._notify()

    def _notify(self) -> None:
        if self._push_changed is not None:
            self._push_changed.set()

    # --- the three servers ---

    async def _readline(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request line, or None at end of stream."""
        try:
            return await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial or None

    async def _serve_command(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        conn = self._open(writer, "command")
        reason = "client"
        assert self._awake is not None
        try:
            while not conn.closed:
                try:
                    line = await self._readline(reader)
                except asyncio.LimitOverrunError:
                    writer.write(b"error: request line longer than "
                                 + str(COMMAND_LINE_LIMIT).encode() + b" bytes\r\n")
                    reason = "error"
                    break
                if line is None:
                    break
                await self._awake.wait()
                text = line.decode("latin-1").strip()
                if conn.closed or not text:
                    continue
                reply = self.controller.handle(text, self.now())
                if reply.delay > 0:
                    await asyncio.sleep(reply.delay / self.options.speed)
                    await self._awake.wait()
                if conn.closed:
                    break
                writer.write(reply.wire())
                if reply.push_changed:
                    self._push_started_or_stopped(conn, text)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly (stop)
        finally:
            await self._close(conn, reason)

    def _push_started_or_stopped(self, conn: _Connection, request: str) -> None:
        session = self.controller.push
        if session is None:
            self._push_owner = None
            self.ledger.write(PushChanged("off", reason="SLAVE", connection=conn.id))
        else:
            self._push_owner = conn.id
            plan = session.plan
            self.ledger.write(PushChanged(
                "on", connection=conn.id, shots=session.shots,
                frame_length=plan.frame_length if plan else
                session.source.frame_length,  # type: ignore[union-attr]
                command=" ".join(request.split())))
        self._notify()

    async def _serve_push(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        conn = self._open(writer, "push")
        writer.transport.set_write_buffer_limits(high=PUSH_WRITE_HIGH_WATER)
        self._push_conn = conn
        self._notify()
        try:
            while await reader.read(1 << 16):
                pass  # the push socket carries nothing from the client
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly (stop)
        finally:
            await self._close(conn, "client")

    async def _serve_kill(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        conn = self._open(writer, "kill")
        before = conn.id
        reason = "client"
        assert self._awake is not None
        try:
            while True:
                try:
                    line = await self._readline(reader)
                except asyncio.LimitOverrunError:
                    reason = "error"
                    break
                if line is None:
                    break
                await self._awake.wait()
                tokens = line.decode("latin-1").split()
                if (len(tokens) == 3 and tokens[0].upper() == "KILL"
                        and tokens[1].upper() == "SOCKETS"
                        and tokens[2] == self.options.kill_password):
                    count = await self._close_clients(
                        "kill", graceful=False,
                        before=before if KILL_SPARES_NEWER_CONNECTIONS else None)
                    log.info("kill request: %d connection(s) dropped", count)
                    reason = "kill"
                    break
                if tokens:
                    log.warning("kill port: ignored %r (expected KILL SOCKETS <password>)",
                                " ".join(tokens[:2] + ["***"] * (len(tokens) > 2)))
                before = self._next_id
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly (stop)
        finally:
            await self._close(conn, reason)

    # --- push mode ---

    async def _wait_change(self, timeout: float | None) -> None:
        """Wait until push mode or the push connection changes, or ``timeout`` real seconds.

        (``asyncio.wait`` rather than ``wait_for``: on Python 3.11 ``wait_for``
        can swallow a cancellation that coincides with the event.)
        """
        assert self._push_changed is not None
        if timeout is not None and timeout <= 0:
            await asyncio.sleep(0)
        else:
            waiter = asyncio.ensure_future(self._push_changed.wait())
            try:
                await asyncio.wait({waiter}, timeout=timeout)
            finally:
                waiter.cancel()
        self._push_changed.clear()

    async def _push_loop(self) -> None:
        controller = self.controller
        speed = self.options.speed
        assert self._awake is not None
        while not self._stopped:
            await self._awake.wait()
            session = controller.push
            if session is None:
                await self._wait_change(None)
                continue
            now = self.now()
            conn = self._push_conn
            if conn is None or conn.closed:
                dropped = session.drop_due(now)
                if dropped:
                    log.debug("no push client: %d frame(s) dropped", dropped)
                timeout = None if session.period <= 0 else (session.due - now) / speed
                await self._wait_change(timeout)
                continue
            if session.due > now:
                await self._wait_change((session.due - now) / speed)
                continue
            seq = self.frames_sent + 1
            frame = session.frame(seq, controller.millis)
            await self._send(conn, seq, frame)
            if controller.push is session:
                session.handed_over(self.now())
            await self._after_frame(seq)
            await asyncio.sleep(0)

    async def _send(self, conn: _Connection, seq: int, frame: EmittedFrame) -> None:
        """Write one frame (damaged by the byte faults due), ledger it, wait for the client.

        The ledger line and the sent-frame record are written before the bytes,
        so whoever has received a frame can find it in the ledger.
        """
        damage = self.schedule.frame_faults(seq)
        crc = frame.crc32()
        records: list[dict[str, Any]] = []
        parts: tuple[bytes | memoryview, ...] = (frame.head, frame.body)
        if damage:
            data, records = self.schedule.damage(frame.to_bytes(), seq, damage, frame.plan)
            parts = (data,)
        self.frames_sent = seq
        self.ledger.write(FrameSent(seq, conn.id, frame.timestamp_ms, frame.shots,
                                    frame.length, crc, sum(len(p) for p in parts), records))
        if self.sent is not None:
            self.sent.add(SentFrame(seq, conn.id, frame.timestamp_ms, frame.shots, frame.plan,
                                    frame.profiles, frame.clipped, crc, frame.length,
                                    tuple(records)))
        writer = conn.writer
        for part in parts:
            writer.write(part)
        try:
            await writer.drain()
        except (ConnectionError, OSError):
            await self._close(conn, "client", graceful=False)

    async def _after_frame(self, seq: int) -> None:
        for spec in self.schedule.after_faults(seq):
            seconds = spec.seconds if spec.kind != "disconnect" else None
            self.ledger.write(FaultActed(spec.kind, seq, seconds))
            log.info("fault %s after frame %d", spec.text(), seq)
            if spec.kind == "disconnect":
                await self._close_clients("fault:disconnect", graceful=True)
            elif spec.kind == "stall":
                await asyncio.sleep(spec.seconds)
            elif spec.kind == "hang":
                assert self._awake is not None
                self._awake.clear()
                try:
                    await asyncio.sleep(spec.seconds)
                finally:
                    self._awake.set()
            elif spec.kind == "reboot":
                await self._reboot(spec.seconds)
            elif spec.kind == "refuse":
                self._close_listeners()
                self._spawn(self._reopen_after(spec.seconds))

    async def _reboot(self, seconds: float) -> None:
        self._close_listeners()  # first: a client seeing its connection close is refused
        await self._close_clients("fault:reboot", graceful=True,
                                  kinds=("command", "push", "kill"))
        try:
            await asyncio.sleep(seconds)
        finally:
            self.controller.power_up(self.now())
            self.ledger.write(PoweredUp(self.controller.millis(self.now())))
            await self._reopen_listeners()

    async def _reopen_after(self, seconds: float) -> None:
        """Reopen the listeners closed by a ``refuse`` fault after ``seconds``."""
        try:
            await asyncio.sleep(seconds)
        finally:
            await self._reopen_listeners()

"""Blocking client of a Licel Ethernet controller (IO edge: sockets and timeouts).

Spec: PROTOCOL.md §1 (command, push and kill sockets; replies matched by
their start or a substring), §2 (the commands, via the shared table in
:mod:`licelpush.commands`), §3 (MPUSH). Every network wait is bounded: connects
use ``connect_timeout``, each command reply must arrive within ``timeout``
(the vendor client uses 5 s).

Two kinds of failure are told apart because the acquisition treats them
differently:

- :class:`ControllerConnectionError` — the transport failed: refused,
  unreachable, reset, closed, or no reply in time. Worth reconnecting.
- :class:`ControllerReplyError` — the controller answered, but not what the
  command table accepts (an error reply or garbage). The message names the
  command sent and the reply received.

The acquisition loop receives push data straight into its framer's buffer
with :meth:`Controller.recv_push_into`. Every wait (connect, reply, kill)
checks ``interrupt`` at least every :data:`INTERRUPT_SLICE` seconds and raises
:class:`~licelpush.errors.StopRequestedError` once it returns True, so that a
stop request is honoured within a fraction of a second in every phase.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import time
from collections.abc import Callable, Iterable

from licelpush.commands import EOL, ReplyMismatch, command, parse_pmt_reply, parse_request
from licelpush.config import MEMORIES, RecorderConfig
from licelpush.errors import ControllerError, StopRequestedError
from licelpush.hardware import RecorderHardware, parse_trtype
from licelpush.limits import (  # noqa: F401 - big_endian_timestamps: part of the client API
    DEFAULT_PORT,
    KILL_PASSWORD,
    MAX_RECORDER_ADDRESS,
    big_endian_timestamps,
)
from licelpush.plan import MPushPlan

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
"""Seconds to wait for a connection or a reply (the vendor client's value, §1)."""
INTERRUPT_SLICE = 0.1
"""Longest single socket wait before ``interrupt`` is asked again (seconds)."""
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR,
                getattr(errno, "WSAEWOULDBLOCK", errno.EWOULDBLOCK)}
RECORDER_ADDRESSES = range(MAX_RECORDER_ADDRESS + 1)
"""Addresses probed for installed recorders (§2 ``SELECT``: clients probe 0-15)."""
MAX_REPLY_BYTES = 65536
"""A text reply line longer than this is garbage, not a reply."""


class ControllerConnectionError(ControllerError):
    """The connection to the controller failed, closed or timed out."""


class ControllerReplyError(ControllerError):
    """The controller answered something the command table does not accept."""


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or exc.__class__.__name__


class Controller:
    """Command and push connections to one controller at ``host:port``."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float | None = None,
                 kill_password: str = KILL_PASSWORD,
                 interrupt: Callable[[], bool] | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.kill_password = kill_password
        self.command_socket: socket.socket | None = None
        self.push_socket: socket.socket | None = None
        self._rx = bytearray()
        self.idn_text: str | None = None
        self.interrupt = interrupt
        """Asked during every wait; True ends the wait with StopRequestedError."""

    # ------------------------------------------------------------------ connections

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _check_interrupt(self) -> None:
        if self.interrupt is not None and self.interrupt():
            raise StopRequestedError(f"controller {self.address}: stop requested")

    def _slice(self, remaining: float) -> float:
        return min(remaining, INTERRUPT_SLICE) if self.interrupt is not None else remaining

    def _connect(self, port: int, what: str) -> socket.socket:
        try:
            return self._open(port)
        except OSError as exc:
            raise ControllerConnectionError(
                f"cannot connect to the controller's {what} port {self.host}:{port}: "
                f"{_describe(exc)}"
            ) from exc

    def _open(self, port: int) -> socket.socket:
        """Connect to ``port`` within ``connect_timeout``, asking ``interrupt`` meanwhile."""
        if self.interrupt is None:
            return socket.create_connection((self.host, port), timeout=self.connect_timeout)
        deadline = time.monotonic() + self.connect_timeout
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            error = sock.connect_ex(address)
            while error in _IN_PROGRESS:
                self._check_interrupt()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                _, writable, failed = select.select([], [sock], [sock], self._slice(remaining))
                if writable or failed:
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error not in (0, errno.EISCONN):
                raise OSError(error, os.strerror(error))
            sock.settimeout(self.connect_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self, *, push: bool = True) -> None:
        """Open the command socket (port P) and, unless ``push`` is False (commands
        only, e.g. PMT voltages), the push socket (port P + 1)."""
        self.close()
        command_sock = self._connect(self.port, "command")
        push_sock = None
        try:
            command_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            command_sock.settimeout(self.timeout)
            if push:
                push_sock = self._connect(self.port + 1, "push")
                push_sock.settimeout(self.timeout)
        except BaseException:
            command_sock.close()
            raise
        self.command_socket, self.push_socket = command_sock, push_sock
        self._rx.clear()
        log.debug("connected to %s%s", self.address,
                  f" (push port {self.port + 1})" if push else " (commands only)")

    def close(self) -> None:
        """Close both sockets (idempotent; errors ignored)."""
        for sock in (self.command_socket, self.push_socket):
            if sock is not None:
                try:
                    sock.close()
                except OSError:  # pragma: no cover - close never fails on Linux
                    pass
        self.command_socket = self.push_socket = None
        self._rx.clear()

    def recv_push_into(self, view: memoryview, timeout: float | None) -> int:
        """Receive push bytes into ``view``: the count, 0 at the end of the stream.

        ``timeout`` None: do not wait (``BlockingIOError`` when nothing is
        there). Raises ``TimeoutError`` when nothing arrives in time, and
        :class:`ControllerConnectionError` when there is no push connection.
        """
        sock = self.push_socket
        if sock is None:
            raise ControllerConnectionError(f"controller {self.address}: no push connection")
        sock.settimeout(0.0 if timeout is None else timeout)
        return sock.recv_into(view)

    @property
    def push_connected(self) -> bool:
        """True while the push connection is open."""
        return self.push_socket is not None

    @property
    def command_connected(self) -> bool:
        """True while the command connection is open."""
        return self.command_socket is not None

    def push_addresses(self) -> tuple[str, str]:
        """``host:port`` of the push connection's local and remote end."""
        sock = self.push_socket
        if sock is None:
            raise ControllerConnectionError(f"controller {self.address}: no push connection")
        local, remote = sock.getsockname(), sock.getpeername()
        return f"{local[0]}:{local[1]}", f"{remote[0]}:{remote[1]}"

    def close_push(self) -> None:
        """Shut down and close the push connection (idempotent)."""
        self._shut(self.push_socket)
        self.push_socket = None

    def close_command(self) -> None:
        """Shut down and close the command connection (idempotent)."""
        self._shut(self.command_socket)
        self.command_socket = None
        self._rx.clear()

    @staticmethod
    def _shut(sock: socket.socket | None) -> None:
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def kill(self, wait: float | None = None) -> bool:
        """Send ``KILL SOCKETS <password>`` to the kill port (P + 2), §1.

        The controller then closes all its client connections. No reply is
        read, but up to ``wait`` seconds (default: the timeout, at most 1 s) are
        spent waiting for the controller to close the kill connection too, so
        that connections opened afterwards are not caught by the kill. Returns
        whether the request was sent; failures are logged, not raised.
        """
        wait = min(self.timeout, 1.0) if wait is None else wait
        try:
            sock = self._open(self.port + 2)
        except OSError as exc:
            log.info("kill port %s:%d: %s", self.host, self.port + 2, _describe(exc))
            return False
        try:
            sock.sendall(f"KILL SOCKETS {self.kill_password}".encode("ascii") + EOL)
            deadline = time.monotonic() + wait
            while (remaining := deadline - time.monotonic()) > 0:
                self._check_interrupt()
                sock.settimeout(self._slice(remaining))
                try:
                    if not sock.recv(4096):
                        break
                except TimeoutError:
                    continue
        except OSError as exc:
            log.debug("kill port: %s", _describe(exc))
        finally:
            sock.close()
        return True

    # ------------------------------------------------------------------ requests

    def send_line(self, line: str) -> str:
        """Send one request line (validated by the command table) and check its reply.

        Returns the reply text without CRLF. Raises
        :class:`ControllerReplyError` when the reply fails the table's check and
        :class:`ControllerConnectionError` when the connection fails or no
        reply arrives within the timeout.
        """
        entry, args = parse_request(line)
        if entry.binary:
            raise ValueError(f"{entry.name}: binary replies are not handled by send_line")
        reply = self._exchange(line)
        try:
            entry.check_reply(reply, args)
        except ReplyMismatch as exc:
            raise ControllerReplyError(
                f"controller {self.address}: {line!r} was answered {reply!r} ({exc})"
            ) from None
        return reply

    def request(self, name: str, *args: object) -> str:
        """Format ``name`` with ``args`` through the command table, send it, check the reply."""
        return self.send_line(command(name).request(*args))

    def _ready_command_socket(self) -> socket.socket:
        """The command socket, cleared of stray bytes, before a request (none asked to stop)."""
        sock = self.command_socket
        if sock is None:
            raise ControllerConnectionError(f"controller {self.address}: not connected")
        if self._rx:
            log.debug("discarding unexpected bytes on the command socket: %r", bytes(self._rx))
            self._rx.clear()
        self._check_interrupt()
        return sock

    def _exchange(self, line: str) -> str:
        sock = self._ready_command_socket()
        try:
            try:
                sock.sendall(line.encode("ascii") + EOL)
            except OSError as exc:
                raise ControllerConnectionError(
                    f"controller {self.address}: sending {line!r} failed: {_describe(exc)}"
                ) from exc
            return self._read_line(line)
        except BaseException as exc:
            if isinstance(exc, ControllerReplyError):
                raise
            # Whatever cut the exchange short (no reply, a stop request, an error of the
            # caller's ``interrupt``, Ctrl-C): a reply that comes late would be taken for
            # the answer to the next command, so the command connection is unusable.
            self._drop_command_socket()
            raise

    def _drop_command_socket(self) -> None:
        if self.command_socket is not None:
            self.command_socket.close()
            self.command_socket = None
        self._rx.clear()

    def _read_line(self, line: str) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            end = self._rx.find(b"\n")
            if end >= 0:
                raw = bytes(self._rx[:end])
                del self._rx[:end + 1]
                return raw.rstrip(b"\r").decode("latin-1")
            if len(self._rx) > MAX_REPLY_BYTES:
                raise ControllerReplyError(
                    f"controller {self.address}: reply to {line!r} has no line end within "
                    f"{MAX_REPLY_BYTES} bytes"
                )
            self._receive_more(line, deadline)

    def _receive_more(self, line: str, deadline: float, chunk_size: int = 4096) -> None:
        """Receive the next bytes of the reply to ``line`` into the reply buffer, waiting
        at most until ``deadline`` (in slices, so a stop request is honoured)."""
        sock = self.command_socket
        assert sock is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ControllerConnectionError(
                    f"controller {self.address}: no reply to {line!r} within {self.timeout:g} s"
                )
            self._check_interrupt()
            try:
                sock.settimeout(self._slice(remaining))
                chunk = sock.recv(chunk_size)
            except OSError as exc:
                if isinstance(exc, TimeoutError):
                    continue
                raise ControllerConnectionError(
                    f"controller {self.address}: connection failed waiting for the reply to "
                    f"{line!r}: {_describe(exc)}"
                ) from exc
            if not chunk:
                raise ControllerConnectionError(
                    f"controller {self.address}: closed the command connection instead of "
                    f"answering {line!r}"
                )
            self._rx += chunk
            return

    def read_data(self, recorder: int, words: int, kind: str, memory: str) -> bytes:
        """``DATA? recorder words kind memory``: exactly ``2 × words`` bytes of uint16
        little-endian raw words, word 0 not valid data (§2).

        The whole reply must arrive within the timeout, counted from the request.
        Raises :class:`ControllerConnectionError` like :meth:`send_line`.
        """
        line = command("DATA?").request(recorder, words, kind, memory)
        sock = self._ready_command_socket()
        wanted = 2 * words
        deadline = time.monotonic() + self.timeout
        try:
            try:
                sock.sendall(line.encode("ascii") + EOL)
            except OSError as exc:
                raise ControllerConnectionError(
                    f"controller {self.address}: sending {line!r} failed: {_describe(exc)}"
                ) from exc
            while len(self._rx) < wanted:
                self._receive_more(line, deadline, max(4096, wanted - len(self._rx)))
        except (ControllerConnectionError, StopRequestedError):
            self._drop_command_socket()
            raise
        data = bytes(self._rx[:wanted])
        del self._rx[:wanted]
        return data

    # ------------------------------------------------------------------ the workflow

    def idn(self) -> str:
        """``*IDN?``: the identification text (also kept in :attr:`idn_text`)."""
        self.idn_text = self.request("*IDN?")
        return self.idn_text

    def millisec(self) -> int:
        """``MILLISEC?``: the controller's millisecond timer."""
        reply = self.request("MILLISEC?")
        tokens = reply.split()
        try:
            return int(tokens[1])
        except (IndexError, ValueError):
            raise ControllerReplyError(
                f"controller {self.address}: MILLISEC? was answered {reply!r}, "
                "expected 'MILLISEC <n>'"
            ) from None

    def installed_recorders(self, addresses: Iterable[int] = RECORDER_ADDRESSES) -> list[int]:
        """Addresses whose ``STAT?`` reports ``Shots`` (an installed recorder, §2)."""
        found = []
        for address in addresses:
            self.request("SELECT", (address,))
            if "Shots" in self.request("STAT?"):
                found.append(address)
        return found

    def configure(self, recorder: RecorderConfig) -> None:
        """Send the recorder's settings (ACQUIS_INI.md ``[TRn]``)."""
        self.request("SELECT", (recorder.address,))
        self.request("DISC", recorder.discriminator)
        self.request("PRETRIG", 1 if recorder.pretrigger else 0)
        self.request("THRESHOLD", recorder.threshold)
        self.request("FREQDIV", recorder.freq_divider_exponent, 0)
        if recorder.shot_limit:
            self.request("SETMAXSHOTS", recorder.shot_limit)
        self.request("RANGE", recorder.range)
        self.request("BLOCK", "OFF")
        for letter in recorder.blocked_triggers:
            if letter in MEMORIES:
                self.request("BLOCK", letter)

    def trtype(self, address: int) -> RecorderHardware:
        """``SELECT address`` + ``TRTYPE?``, parsed."""
        self.request("SELECT", (address,))
        reply = self.request("TRTYPE?")
        try:
            return parse_trtype(reply)
        except ValueError as exc:
            raise ControllerReplyError(f"controller {self.address}: TR{address}: {exc}") from None

    def start_mpush(self, plan: MPushPlan) -> str:
        """Send the plan's ``MPUSH`` command; the controller starts pushing frames."""
        return self.send_line(plan.command)

    def slave(self) -> str:
        """``SLAVE``: leave push mode."""
        return self.request("SLAVE")

    def set_pmt(self, device: int, volts: int) -> str:
        """``PMTG device volts``: set a PMT high voltage (§2)."""
        return self.request("PMTG", device, volts)

    def pmt_voltage(self, device: int) -> float:
        """``PMT? device``: the PMT high voltage the controller reads back (§2)."""
        reply = self.request("PMT?", device)
        try:
            return parse_pmt_reply(reply)
        except ValueError as exc:
            raise ControllerReplyError(
                f"controller {self.address}: PMT? {device}: {exc}") from None

    def wait_ready(self, milliseconds: int) -> str:
        """``MWAIT ms``: wait until the selected recorders left the armed state (§2).

        The reply comes when they did or the time is up, so the reply timeout
        is extended by ``milliseconds`` for this command.
        """
        saved = self.timeout
        self.timeout = saved + milliseconds / 1000.0
        try:
            return self.request("MWAIT", milliseconds)
        finally:
            self.timeout = saved

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

The push socket is exposed as :attr:`Controller.push_socket`: the acquisition
loop receives straight into its framer's buffer with ``recv_into``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable

from licelpush.commands import EOL, ReplyMismatch, command, parse_pmt_reply, parse_request
from licelpush.config import MEMORIES, RecorderConfig
from licelpush.errors import ControllerError
from licelpush.hardware import RecorderHardware, parse_trtype
from licelpush.plan import MPushPlan

log = logging.getLogger(__name__)

DEFAULT_PORT = 2055
"""Command port; the push port is P + 1 and the kill port P + 2 (§1)."""
DEFAULT_TIMEOUT = 5.0
"""Seconds to wait for a connection or a reply (the vendor client's value, §1)."""
KILL_PASSWORD = "Administrator"
"""What the vendor client sends with ``KILL SOCKETS`` (§1)."""
RECORDER_ADDRESSES = range(16)
"""Addresses probed for installed recorders (§2 ``SELECT``: clients probe 0-15)."""
MAX_REPLY_BYTES = 65536
"""A text reply line longer than this is garbage, not a reply."""
COLDFIRE_MARKER = "ColdFireEthernet"
"""An IDN containing this marks an old board with big-endian push timestamps (§2)."""


class ControllerConnectionError(ControllerError):
    """The connection to the controller failed, closed or timed out."""


class ControllerReplyError(ControllerError):
    """The controller answered something the command table does not accept."""


def big_endian_timestamps(idn: str) -> bool:
    """True when the controller pushes big-endian timestamps (``ColdFireEthernet``, §2)."""
    return COLDFIRE_MARKER in idn


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or exc.__class__.__name__


class Controller:
    """Command and push connections to one controller at ``host:port``."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float | None = None,
                 kill_password: str = KILL_PASSWORD) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.kill_password = kill_password
        self.command_socket: socket.socket | None = None
        self.push_socket: socket.socket | None = None
        self._rx = bytearray()
        self.idn_text: str | None = None

    # ------------------------------------------------------------------ connections

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self, port: int, what: str) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, port), timeout=self.connect_timeout)
        except OSError as exc:
            raise ControllerConnectionError(
                f"cannot connect to the controller's {what} port {self.host}:{port}: "
                f"{_describe(exc)}"
            ) from exc
        return sock

    def connect(self) -> None:
        """Open the command socket (port P) and the push socket (port P + 1)."""
        self.close()
        command_sock = self._connect(self.port, "command")
        try:
            command_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            command_sock.settimeout(self.timeout)
            push_sock = self._connect(self.port + 1, "push")
        except BaseException:
            command_sock.close()
            raise
        push_sock.settimeout(self.timeout)
        self.command_socket, self.push_socket = command_sock, push_sock
        self._rx.clear()
        log.debug("connected to %s (push port %d)", self.address, self.port + 1)

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
            sock = socket.create_connection((self.host, self.port + 2),
                                            timeout=self.connect_timeout)
        except OSError as exc:
            log.info("kill port %s:%d: %s", self.host, self.port + 2, _describe(exc))
            return False
        try:
            sock.sendall(f"KILL SOCKETS {self.kill_password}".encode("ascii") + EOL)
            sock.settimeout(wait)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not sock.recv(4096):
                    break
        except OSError as exc:
            if not isinstance(exc, TimeoutError):
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

    def _exchange(self, line: str) -> str:
        sock = self.command_socket
        if sock is None:
            raise ControllerConnectionError(f"controller {self.address}: not connected")
        if self._rx:
            log.debug("discarding unexpected bytes on the command socket: %r", bytes(self._rx))
            self._rx.clear()
        try:
            try:
                sock.sendall(line.encode("ascii") + EOL)
            except OSError as exc:
                raise ControllerConnectionError(
                    f"controller {self.address}: sending {line!r} failed: {_describe(exc)}"
                ) from exc
            return self._read_line(line)
        except ControllerConnectionError:
            # A reply that comes late would be taken for the answer to the next
            # command: the command connection is unusable from here on.
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
        """Receive what the command socket has into the reply buffer, waiting at most
        until ``deadline``; raises :class:`ControllerConnectionError` on timeout or close."""
        sock = self.command_socket
        assert sock is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ControllerConnectionError(
                f"controller {self.address}: no reply to {line!r} within {self.timeout:g} s"
            )
        try:
            sock.settimeout(remaining)
            chunk = sock.recv(chunk_size)
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                raise ControllerConnectionError(
                    f"controller {self.address}: no reply to {line!r} within "
                    f"{self.timeout:g} s"
                ) from exc
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

    def read_data(self, recorder: int, words: int, kind: str, memory: str) -> bytes:
        """``DATA? recorder words kind memory``: exactly ``2 × words`` bytes of uint16
        little-endian raw words, word 0 not valid data (§2).

        The whole reply must arrive within the timeout, counted from the request.
        Raises :class:`ControllerConnectionError` like :meth:`send_line`.
        """
        line = command("DATA?").request(recorder, words, kind, memory)
        sock = self.command_socket
        if sock is None:
            raise ControllerConnectionError(f"controller {self.address}: not connected")
        if self._rx:
            log.debug("discarding unexpected bytes on the command socket: %r", bytes(self._rx))
            self._rx.clear()
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
        except ControllerConnectionError:
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

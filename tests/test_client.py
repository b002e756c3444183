"""The blocking controller client (PROTOCOL §1-2) against a scripted fake on loopback.

:class:`FakeController` is a deliberately small, scripted stand-in for a
controller: it answers command lines through the shared command table, lets a
test override any answer, and on ``MPUSH`` pushes exactly the bytes a test
script gives it. The acquisition tests reuse it for byte-exact scenarios.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from factories import config, recorder

from licelpush.client import (
    Controller,
    ControllerConnectionError,
    ControllerReplyError,
    big_endian_timestamps,
)
from licelpush.commands import CommandSyntaxError, error_reply, parse_request
from licelpush.hardware import RecorderHardware, format_trtype
from licelpush.plan import make_plan

Answer = Callable[[str], "str | None"]
PushScript = Callable[[int], Iterable[Any]]
"""connection number (1, 2, ...) -> actions: bytes to send, ``("sleep", s)``,
``("close",)`` to close command and push connections, ``("hold",)`` to keep
the connection open until the client goes."""


def free_port_triple() -> tuple[socket.socket, socket.socket, socket.socket]:
    """Listening sockets on three consecutive loopback ports P, P+1, P+2."""
    for _ in range(200):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        if port > 65533:
            first.close()
            continue
        others = []
        try:
            for offset in (1, 2):
                s = socket.socket()
                others.append(s)
                s.bind(("127.0.0.1", port + offset))
        except OSError:
            first.close()
            for s in others:
                s.close()
            continue
        trio = (first, others[0], others[1])
        for s in trio:
            s.listen(8)
        return trio
    raise RuntimeError("no three consecutive free ports")


def closed_port() -> int:
    """A loopback port nobody listens on (bound then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakeController:
    """Scripted controller on 127.0.0.1 (see the module docstring)."""

    def __init__(self, recorders: dict[int, RecorderHardware] | None = None,
                 idn: str = "Licel fake controller 1.0", answer: Answer | None = None,
                 push: PushScript | None = None) -> None:
        self.recorders = recorders if recorders is not None else {0: RecorderHardware()}
        self.idn = idn
        self.answer = answer
        self.push = push
        self.lines: list[str] = []
        self.kills: list[str] = []
        self.mpush_count = 0
        self._listeners = free_port_triple()
        self.port = self._listeners[0].getsockname()[1]
        self.host = "127.0.0.1"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._push_conns: list[socket.socket] = []
        self._push_ready = threading.Condition(self._lock)
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._accept, args=(i,), daemon=True)
                         for i in range(3)]
        for t in self._threads:
            t.start()

    # -- lifecycle
    def __enter__(self) -> FakeController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopped.set()
        for s in self._listeners:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.drop_all()

    def drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
            self._push_conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    # -- accepting
    def _accept(self, which: int) -> None:
        listener = self._listeners[which]
        while not self._stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
                if which == 1:
                    self._push_conns.append(conn)
                    self._push_ready.notify_all()
            handler = (self._serve_commands, None, self._serve_kill)[which]
            if handler is not None:
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

    def _serve_kill(self, conn: socket.socket) -> None:
        data = b""
        conn.settimeout(2)
        try:
            while b"\n" not in data:
                chunk = conn.recv(100)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        self.kills.append(data.decode("latin-1").strip())
        self.drop_all()

    def _serve_commands(self, conn: socket.socket) -> None:
        selected: tuple[int, ...] = ()
        buf = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n" in buf:
                raw, buf = buf.split(b"\r\n", 1)
                line = raw.decode("latin-1")
                self.lines.append(line)
                reply = self.answer(line) if self.answer is not None else None
                if reply is None:
                    reply, selected = self._default(line, selected)
                if reply == "":  # scripted silence
                    continue
                try:
                    conn.sendall(reply.encode("latin-1") + b"\r\n")
                except OSError:
                    return
                if line.split()[0].upper() == "MPUSH" and self.push is not None:
                    number = self.mpush_count
                    threading.Thread(target=self._run_push, args=(number,), daemon=True).start()

    def _default(self, line: str, selected: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
        try:
            entry, args = parse_request(line)
        except CommandSyntaxError as exc:
            return exc.reply, selected
        name = entry.name
        if name == "SELECT":
            return entry.reply(args), args["recorders"]
        if name == "STAT?":
            ok = len(selected) == 1 and selected[0] in self.recorders
            return ("Shots 2 MemA" if ok else "TR not installed"), selected
        if name == "TRTYPE?":
            if len(selected) != 1 or selected[0] not in self.recorders:
                return error_reply(name, "no recorder selected"), selected
            return format_trtype(self.recorders[selected[0]]), selected
        if name == "*IDN?":
            return self.idn, selected
        if name == "MILLISEC?":
            return entry.reply(args, ms=int(time.monotonic() * 1000)), selected
        if name == "MPUSH":
            self.mpush_count += 1  # pushing starts once the reply is sent
            return entry.reply(args), selected
        return entry.reply(args), selected

    def _run_push(self, number: int) -> None:
        with self._lock:
            ok = self._push_ready.wait_for(lambda: self._push_conns or self._stopped.is_set(),
                                           timeout=5)
            if not ok or not self._push_conns:
                return
            conn = self._push_conns[-1]
        assert self.push is not None
        for action in self.push(number):
            try:
                if isinstance(action, (bytes, bytearray)):
                    conn.sendall(action)
                elif action[0] == "sleep":
                    time.sleep(action[1])
                elif action[0] == "close":
                    self.drop_all()
                    return
                elif action[0] == "hold":
                    return
            except OSError:
                return


# ---------------------------------------------------------------------------- tests


def test_request_reply_and_installed_recorders():
    hw = {0: RecorderHardware(), 3: RecorderHardware(adc_bits=12)}
    with FakeController(recorders=hw, idn="Licel ColdFireEthernet 2.1") as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        assert ctl.installed_recorders() == [0, 3]
        assert ctl.trtype(3) == RecorderHardware(adc_bits=12)
        idn = ctl.idn()
        assert big_endian_timestamps(idn)
        assert ctl.millisec() >= 0
        ctl.close()
    probes = [line for line in fake.lines if line.startswith("SELECT")]
    assert probes[:16] == [f"SELECT {n}" for n in range(16)]


def test_configure_sends_the_recorder_settings():
    rec = recorder(2, discriminator=17, threshold=1, pretrigger=True, freq_divider=8,
                   shot_limit=1000, range=0, blocked_triggers=("B", "D"))
    with FakeController(recorders={2: RecorderHardware()}) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        ctl.configure(rec)
        ctl.close()
    assert fake.lines == ["SELECT 2", "DISC 17", "PRETRIG 1", "THRESHOLD 1", "FREQDIV 3 0",
                          "SETMAXSHOTS 1000", "RANGE 0", "BLOCK OFF", "BLOCK B", "BLOCK D"]


def test_shot_limit_zero_is_left_alone():
    rec = recorder(0, shot_limit=0)
    with FakeController() as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        ctl.configure(rec)
    assert not any(line.startswith("SETMAXSHOTS") for line in fake.lines)


def test_error_reply_names_command_and_reply():
    def answer(line):
        return "RANGE error: hardware fault" if line.startswith("RANGE") else None

    with FakeController(answer=answer) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        with pytest.raises(ControllerReplyError) as info:
            ctl.configure(recorder(0))
    assert "'RANGE 1'" in info.value.message and "hardware fault" in info.value.message
    assert info.value.exit_status == 3


def test_reply_with_extra_text_is_accepted():
    def answer(line):
        if line == "SLAVE":
            return "SLAVE executed  debug: 12 frames"
        if line.startswith("RANGE"):
            return "Input range set to -100mV (was -500mV)"
        return None

    with FakeController(answer=answer) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        ctl.request("RANGE", 1)
        assert ctl.slave().startswith("SLAVE executed")


def test_silence_times_out_and_the_command_connection_is_dropped():
    with FakeController(answer=lambda line: "" if line == "*IDN?" else None) as fake:
        ctl = Controller(fake.host, fake.port, timeout=0.3)
        ctl.connect()
        t0 = time.monotonic()
        with pytest.raises(ControllerConnectionError, match="no reply to '\\*IDN\\?'"):
            ctl.idn()
        assert time.monotonic() - t0 < 2
        assert ctl.command_socket is None
        with pytest.raises(ControllerConnectionError, match="not connected"):
            ctl.request("STAT?")


def test_an_error_of_the_interrupt_hook_drops_the_command_connection():
    # the hook (the run's keep-alive) fails while a reply is awaited: the late reply
    # must not be taken for the answer to the next command (SLAVE)
    class DiskFull(Exception):
        pass

    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) > 1:  # the first is asked before the request is sent
            raise DiskFull
        return False

    with FakeController(answer=lambda line: "" if line == "*IDN?" else None) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        ctl.interrupt = interrupt
        with pytest.raises(DiskFull):
            ctl.idn()
        assert ctl.command_socket is None and not ctl.command_connected


def test_unreachable_controller_is_a_connection_error():
    port = closed_port()
    ctl = Controller("127.0.0.1", port, timeout=1)
    with pytest.raises(ControllerConnectionError, match=f"127.0.0.1:{port}"):
        ctl.connect()


def test_closed_command_connection_while_waiting():
    with FakeController() as fake:
        fake.answer = lambda line: (fake.drop_all(), "")[1] if line == "STAT?" else None
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        ctl.request("SELECT", (0,))
        with pytest.raises(ControllerConnectionError):
            ctl.request("STAT?")


def test_garbage_trtype_is_a_reply_error():
    with FakeController(answer=lambda line: "TRTYPE ADC Bits x" if line == "TRTYPE?"
                        else None) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        with pytest.raises(ControllerReplyError, match="TR0"):
            ctl.trtype(0)


def test_endless_reply_line_is_garbage():
    with FakeController(answer=lambda line: "x" * 70000 if line == "*IDN?" else None) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        with pytest.raises(ControllerReplyError, match="no line end"):
            ctl.idn()


def test_mpush_sends_the_plan_command_and_frames_arrive_on_the_push_socket():
    plan = make_plan(config(recorder(0, {"A": (True, False)}, 4, 4)),
                     {0: RecorderHardware()}, 10)
    with FakeController(push=lambda n: [b"\xff\xff" + bytes(10), ("hold",)]) as fake:
        ctl = Controller(fake.host, fake.port, timeout=2)
        ctl.connect()
        ctl.start_mpush(plan)
        assert ctl.push_socket is not None
        got = b""
        while len(got) < 12:
            got += ctl.push_socket.recv(100)
        assert got == b"\xff\xff" + bytes(10)
    assert fake.lines[-1] == plan.command


def test_kill_sends_the_password_and_drops_connections():
    with FakeController() as fake:
        ctl = Controller(fake.host, fake.port, timeout=2, kill_password="secret")
        ctl.connect()
        ctl.request("*IDN?")  # the fake has accepted the command connection before the kill
        assert ctl.kill(wait=5)  # generous: the fake may be slow on a loaded machine
        assert fake.kills == ["KILL SOCKETS secret"]
        with pytest.raises(ControllerConnectionError):
            ctl.request("STAT?")


def test_kill_without_controller_is_not_fatal():
    ctl = Controller("127.0.0.1", closed_port(), timeout=0.5)
    assert ctl.kill() is False


def test_binary_commands_are_not_sent_as_text():
    ctl = Controller("127.0.0.1", 1)
    with pytest.raises(ValueError):
        ctl.send_line("DATA? 0 10 LSW A")

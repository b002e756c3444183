"""The controller emulator over loopback, driven by a plain socket client that follows
PROTOCOL.md literally (§1 sockets, §2 commands, §3 MPUSH frames), and its faults.

Every test starts its own emulator on free ports of 127.0.0.1 through
:mod:`licelpush.testing`.
"""

from __future__ import annotations

import socket
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from licelpush.config import load_config
from licelpush.decode import FrameDecoder
from licelpush.encode import FrameEncoder
from licelpush.hardware import RecorderHardware, parse_trtype
from licelpush.plan import MPushPlan, make_plan, plan_from_datasets
from licelpush.testing import EmulatorFactory, running_emulator

TESTDATA = Path(__file__).resolve().parent / "data" / "acquis"
TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def close_sockets(monkeypatch):
    """Close every socket a test opened (they are many and short-lived)."""
    opened: list[socket.socket] = []
    real_socket = socket.socket

    class TrackedSocket(real_socket):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(socket, "socket", TrackedSocket)
    yield
    for sock in opened:
        sock.close()


@pytest.fixture
def emulator(tmp_path):
    """The factory of :mod:`licelpush.testing` (also a pytest plugin there)."""
    with EmulatorFactory(tmp_path) as factory:
        yield factory


class Client:
    """Command connection: one CRLF line per request, one line (or 2n bytes) per reply."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send(self, text: str, eol: bytes = b"\r\n") -> None:
        self.sock.sendall(text.encode("ascii") + eol)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("command connection closed")
        self.buffer += chunk

    def line(self) -> str:
        while b"\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii").rstrip("\r")

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def cmd(self, text: str) -> str:
        self.send(text)
        return self.line()

    def close(self) -> None:
        self.sock.close()


def connect_push(host: str, port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect((host, port))
    return sock


def read_exactly(sock: socket.socket, count: int, chunk: int = 1 << 20) -> bytes:
    data = bytearray()
    while len(data) < count:
        part = sock.recv(min(chunk, count - len(data)))
        if not part:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += part
    return bytes(data)


def read_until_closed(sock: socket.socket) -> bytes:
    data = bytearray()
    while True:
        try:
            part = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(data)
        if not part:
            return bytes(data)
        data += part


def is_closed(sock: socket.socket) -> bool:
    """True when the peer closed (EOF or reset); waits up to the socket timeout."""
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        return True
    return True


def hardware_of(client: Client, addresses) -> dict[int, RecorderHardware]:
    hardware = {}
    for address in addresses:
        assert client.cmd(f"SELECT {address}") == "SELECT executed"
        hardware[address] = parse_trtype(client.cmd("TRTYPE?"))
    client.cmd("SELECT -1")
    return hardware


def simple_plan(client: Client, shots: int = 10, bins: int = 100,
                big_endian: bool = False) -> MPushPlan:
    hardware = hardware_of(client, [0])
    return plan_from_datasets(shots, [(0, bins, "LSW", "A"), (0, bins, "MSW", "A"),
                                      (0, bins, "PC", "A")], hardware,
                              big_endian_timestamp=big_endian)


def start_push(client: Client, plan: MPushPlan) -> None:
    assert client.cmd(plan.command) == "MPUSH executed"


def frame_lines(emu) -> list[dict]:
    return [r for r in emu.ledger() if r["event"] == "frame"]


def wait_for(predicate, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def intact_bytes(emu, seq: int) -> bytes:
    """Rebuild frame ``seq`` from the profiles the emulator says it sent."""
    sent = emu.sent_frame(seq)
    return FrameEncoder(sent.plan).encode(sent.timestamp_ms, sent.shots, sent.profiles,
                                          sent.clipped)


# --- a whole session as PROTOCOL.md describes it ------------------------------------------


def test_literal_client_session_lists_configures_pushes_and_decodes():
    with running_emulator(recorders="0:16/4,1:12/4/7.5,3:16/8", speed=200, seed=11) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        assert " " in client.cmd("*IDN?")
        assert "CAP" in client.cmd("CAP?")
        assert client.cmd("SELECT -1") == "SELECT executed"
        installed = []
        for address in range(16):
            assert "executed" in client.cmd(f"SELECT {address}")
            if "Shots" in client.cmd("STAT?"):
                installed.append(address)
        assert installed == [0, 1, 3]
        for address in installed:
            client.cmd(f"SELECT {address}")
            assert client.cmd("SLAVE") == "SLAVE executed"
            assert client.cmd("CLEAR") == "CLEAR Memory executed"
            assert "set to" in client.cmd("DISC 8")
            assert client.cmd("PRETRIG 0") == "PRETRIG executed"
            assert "Damping" in client.cmd("THRESHOLD 0")
            assert "executed" in client.cmd("SETMAXSHOTS 4096")
            assert "set to -100mV" in client.cmd("RANGE 1")
            assert client.cmd("FREQDIV 0 0").split()[1] == "0"
            assert client.cmd("BLOCK OFF") == "BLOCK executed"
        hardware = hardware_of(client, installed)
        assert hardware[1] == RecorderHardware(adc_bits=12, pc_bits=4, bin_width_m=7.5, id=2)
        assert hardware[3].pc_bits == 8
        shots = 10
        requested = [(0, 300, "LSW", "A"), (0, 300, "MSW", "A"), (0, 250, "PC", "B"),
                     (1, 120, "LSW", "C"), (1, 120, "MSW", "C"), (3, 64, "PC", "D")]
        plan = plan_from_datasets(shots, requested, hardware)
        # the vendor library pads device numbers: "MPUSH 10  0 300 LSW A ..."
        padded = "MPUSH 10" + "".join(f" {r:2d} {b} {k} {m}" for r, b, k, m in requested) + " "
        assert client.cmd(padded) == "MPUSH executed"
        data = read_exactly(push, 5 * plan.frame_length)
        decoder = FrameDecoder(plan)
        ledger_frames = frame_lines(emu)[:5]
        push_open = [r for r in emu.ledger() if r["event"] == "open" and r["socket"] == "push"]
        stamps = []
        for k in range(5):
            frame = data[k * plan.frame_length:(k + 1) * plan.frame_length]
            assert decoder.problem(frame) is None
            decoded = decoder.decode(frame)
            assert set(decoded.shot_words) == {shots + 2}
            sent = emu.sent_frame(k + 1)
            for got, expected in zip(decoded.profiles, sent.profiles):
                np.testing.assert_array_equal(got, expected)
            record = ledger_frames[k]
            assert record["seq"] == k + 1 and record["faults"] == []
            assert record["crc32"] == zlib.crc32(frame)
            assert record["length"] == plan.frame_length
            assert record["timestamp"] == decoded.timestamp_ms
            assert record["connection"] == push_open[0]["connection"]
            stamps.append(decoded.timestamp_ms)
        period_ms = shots / 20.0 * 1000  # an acquisition takes at least its shots / rate
        assert all(b - a >= period_ms - 1 for a, b in zip(stamps, stamps[1:])), stamps
        client.cmd("SELECT 0")
        assert "Armed" in client.cmd("STAT?")  # commands are answered while pushing
        assert client.cmd("SLAVE") == "SLAVE executed"
        push.settimeout(0.3)
        tail = b""
        with pytest.raises(socket.timeout):
            while True:
                tail += read_exactly(push, 1)
        assert (len(data) + len(tail)) == emu.frames_sent() * plan.frame_length
        assert "Armed" not in client.cmd("STAT?")
        assert [r["state"] for r in emu.ledger() if r["event"] == "push"] == ["on", "off"]


def test_configuration_file_and_make_plan_like_the_acquisition_client():
    config = load_config(TESTDATA / "two-recorders.ini")
    with running_emulator(config=config, speed=1000, seed=2) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        hardware = hardware_of(client, [r.address for r in config.active_recorders])
        plan = make_plan(config, hardware, 40)
        start_push(client, plan)
        decoder = FrameDecoder(plan)
        for seq in (1, 2):
            frame = read_exactly(push, plan.frame_length)
            assert decoder.problem(frame) is None
            for got, sent in zip(decoder.decode(frame).profiles, emu.sent_profiles(seq)):
                np.testing.assert_array_equal(got, sent)
        assert client.cmd("SLAVE") == "SLAVE executed"


def test_line_ends_spaces_and_several_requests_in_one_packet():
    with running_emulator() as emu:
        client = Client(emu.host, emu.port)
        client.send("SELECT 0", eol=b"\n")
        assert client.line() == "SELECT executed"
        client.send("  RANGE   2  ")
        assert client.line() == "Input range set to -20mV"
        client.sock.sendall(b"*idn?\r\nMILLISEC?\nSTAT?\r\n")
        assert " " in client.line()
        assert client.line().startswith("MILLISEC ")
        assert client.line().startswith("Shots 2")


def test_error_replies_keep_the_connection_open():
    with running_emulator() as emu:
        client = Client(emu.host, emu.port)
        for request in ("HELLO", "RANGE 9", "DISC", "SELECT x", "MPUSH 10 0 100 LSW A",
                        "MPUSH 10 7 100 LSW A 7 100 MSW A"):
            reply = client.cmd(request)
            assert " error" in reply and "executed" not in reply, (request, reply)
        assert " " in client.cmd("*IDN?")
        client.sock.sendall(b"X" * ((1 << 20) + 10))  # no end of line in sight
        assert client.line().startswith("error: request line longer than")
        assert is_closed(client.sock)


def test_data_query_replies_exactly_2n_bytes_then_text_again():
    with running_emulator(recorders="0:16/4", speed=1000, rate=100) as emu:
        client = Client(emu.host, emu.port)
        client.cmd("SELECT 0")
        client.cmd("RANGE 1")
        assert client.cmd("START") == "START executed"
        wait_for(lambda: int(client.cmd("STAT?").split()[1]) > 200, "shots")
        assert client.cmd("STOP") == "STOP executed"
        shots = int(client.cmd("STAT?").split()[1]) - 2
        client.send("DATA? 0 1001 LSW A")
        lsw = np.frombuffer(client.exactly(2002), "<u2")
        client.send("DATA? 0 1001 MSW A")
        msw = np.frombuffer(client.exactly(2002), "<u2")
        assert client.cmd("*IDN?").startswith("Licel")  # the stream is still in step
        assert lsw[0] == 0 and msw[0] == 0
        values = lsw[1:].astype(np.uint64) | ((msw[1:].astype(np.uint64) & 0x0FFF) << 16)
        mean_counts = values / shots
        assert 0 < mean_counts.min() and mean_counts.max() < 65536
        client.send("DATA? 9 50 PC B")  # no recorder at 9
        assert client.exactly(100) == bytes(100)
        assert client.cmd("SELECT 0") == "SELECT executed"


# --- sockets: kill, several clients, no push client -----------------------------------------


def test_kill_port_drops_every_connection_and_ends_push_mode():
    with running_emulator(speed=200, kill_password="secret") as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        plan = simple_plan(client)
        start_push(client, plan)
        read_exactly(push, plan.frame_length)
        wrong = socket.create_connection((emu.host, emu.kill_port), timeout=TIMEOUT)
        wrong.sendall(b"KILL SOCKETS Administrator\r\n")
        assert " " in client.cmd("*IDN?")  # wrong password: ignored
        killer = socket.create_connection((emu.host, emu.kill_port), timeout=TIMEOUT)
        killer.sendall(b"KILL SOCKETS secret\r\n")
        assert is_closed(client.sock)
        read_until_closed(push)
        closes = wait_for(lambda: [r for r in emu.ledger() if r["event"] == "close"
                                   and r["reason"] == "kill"], "kill in ledger")
        assert {r["socket"] for r in closes} >= {"command", "push"}
        again = Client(emu.host, emu.port)
        again.cmd("SELECT 0")
        assert "Armed" not in again.cmd("STAT?")  # push mode ended
        assert [(r["state"], r.get("reason")) for r in emu.ledger() if r["event"] == "push"] == [
            ("on", None), ("off", "kill")]
        wrong.close()
        killer.close()


def test_clients_one_after_another_and_the_ledger_connection_ids():
    with running_emulator(speed=500) as emu:
        for closes in (2, 4):
            client = Client(emu.host, emu.port)
            push = connect_push(emu.host, emu.push_port)
            plan = simple_plan(client)
            start_push(client, plan)
            data = read_exactly(push, 2 * plan.frame_length)
            assert FrameDecoder(plan).problem(data[:plan.frame_length]) is None
            assert client.cmd("SLAVE") == "SLAVE executed"
            client.close()
            push.close()
            wait_for(lambda n=closes: sum(r["event"] == "close" for r in emu.ledger()) == n,
                     "closes")
        ledger = emu.ledger()
        opens = [r for r in ledger if r["event"] == "open"]
        assert [r["socket"] for r in opens] == ["command", "push", "command", "push"]
        pushes = {r["connection"] for r in frame_lines(emu)}
        assert pushes == {opens[1]["connection"], opens[3]["connection"]}
        seqs = [r["seq"] for r in frame_lines(emu)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_frames_are_not_buffered_without_a_push_client():
    with running_emulator(speed=100) as emu:
        client = Client(emu.host, emu.port)
        plan = simple_plan(client, shots=2)  # one acquisition = 100 ms emulated = 1 ms real
        start_push(client, plan)
        time.sleep(0.2)
        assert frame_lines(emu) == []
        before = emu.millis()
        push = connect_push(emu.host, emu.push_port)
        frame = read_exactly(push, plan.frame_length)
        first = FrameDecoder(plan).decode(frame)
        assert first.timestamp_ms >= before - 100  # dropped acquisitions were not queued
        assert frame_lines(emu)[0]["seq"] == 1


def test_mpush_single_dataset_push_and_shots_over_max_shots():
    with running_emulator(speed=1000, rate=100) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        client.cmd("SELECT 0")
        client.cmd("SETMAXSHOTS 10")
        assert client.cmd("PUSH 30 100 PC A") == "PUSH executed"
        frame = read_exactly(push, 6 + 2 + 200)
        assert frame[:2] == b"\xff\xff"
        assert int.from_bytes(frame[6:8], "little") == 32  # PUSH shots govern, + 2
        assert frame[8:10] == b"\x00\x00"  # word 0
        client.cmd("SLAVE")


def test_big_endian_timestamps_for_a_coldfire_idn():
    with running_emulator(idn="Licel ColdFireEthernet 0.9", clock_start_ms=0x01020304,
                          speed=100) as emu:
        client = Client(emu.host, emu.port)
        assert "ColdFireEthernet" in client.cmd("*IDN?")
        push = connect_push(emu.host, emu.push_port)
        plan = simple_plan(client, big_endian=True)
        start_push(client, plan)
        frame = read_exactly(push, plan.frame_length)
        stamp = frame_lines(emu)[0]["timestamp"]
        assert frame[2:6] == stamp.to_bytes(4, "big") != stamp.to_bytes(4, "little")
        assert FrameDecoder(plan).decode(frame).timestamp_ms == stamp


def test_little_endian_timestamps_by_default():
    with running_emulator(clock_start_ms=0x01020304, speed=100) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        plan = simple_plan(client)
        start_push(client, plan)
        frame = read_exactly(push, plan.frame_length)
        assert frame[2:6] == frame_lines(emu)[0]["timestamp"].to_bytes(4, "little")


# --- back-pressure, determinism, max speed ----------------------------------------------------


def test_slow_reader_gets_every_frame_through_back_pressure():
    with running_emulator(max_speed=True, seed=3) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port, rcvbuf=16384)
        plan = simple_plan(client, shots=5, bins=16000)  # ~96 kB frames
        start_push(client, plan)
        decoder = FrameDecoder(plan)
        frames = []
        for _ in range(12):
            frame = bytearray()
            while len(frame) < plan.frame_length:
                frame += push.recv(min(4096, plan.frame_length - len(frame)))
                time.sleep(0.0005)
            frames.append(bytes(frame))
        written = emu.frames_sent()
        # without back-pressure a max-speed emulator would have written thousands by now
        assert written < 12 + 100
        records = frame_lines(emu)
        for seq, frame in enumerate(frames, start=1):
            assert decoder.problem(frame) is None
            assert records[seq - 1]["seq"] == seq
            assert records[seq - 1]["crc32"] == zlib.crc32(frame)
        client.cmd("SLAVE")


def collect(seed: int, count: int = 4) -> list[bytes]:
    with running_emulator(seed=seed, speed=500) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        client.cmd("SELECT 0")
        client.cmd("RANGE 2")
        plan = simple_plan(client, bins=500)
        start_push(client, plan)
        data = read_exactly(push, count * plan.frame_length)
        client.cmd("SLAVE")
    return [data[k * plan.frame_length + 6:(k + 1) * plan.frame_length] for k in range(count)]


def test_same_seed_same_frames():
    first, again, other = collect(5), collect(5), collect(6)
    assert first == again  # everything but the timestamps
    assert len(set(first)) == len(first)  # frames differ from one another
    assert first != other


def test_max_speed_frames_decode_to_the_sent_profiles():
    config = load_config(TESTDATA / "two-recorders.ini")
    with running_emulator(config=config, max_speed=True, seed=4) as emu:
        client = Client(emu.host, emu.port)
        push = connect_push(emu.host, emu.push_port)
        hardware = hardware_of(client, [0, 1])
        plan = make_plan(config, hardware, 100)
        start_push(client, plan)
        decoder = FrameDecoder(plan)
        stamps = []
        for seq in range(1, 21):
            frame = read_exactly(push, plan.frame_length)
            decoded = decoder.decode(frame)
            stamps.append(decoded.timestamp_ms)
            for got, sent in zip(decoded.profiles, emu.sent_profiles(seq)):
                np.testing.assert_array_equal(got, sent)
        assert stamps == sorted(stamps)
        client.cmd("SLAVE")


# --- faults -----------------------------------------------------------------------------------


def test_fault_disconnect_closes_both_connections_after_the_frame(emulator):
    emu = emulator(faults=["disconnect:at=3"], speed=500)
    client = Client(emu.host, emu.port)
    push = connect_push(emu.host, emu.push_port)
    plan = simple_plan(client)
    start_push(client, plan)
    data = read_until_closed(push)
    assert len(data) == 3 * plan.frame_length  # flushed, then closed
    assert is_closed(client.sock)
    ledger = emu.ledger()
    fault = [r for r in ledger if r["event"] == "fault"]
    assert fault == [{**fault[0], "kind": "disconnect", "after_seq": 3}]
    reasons = {(r["socket"], r["reason"]) for r in ledger if r["event"] == "close"}
    assert reasons == {("command", "fault:disconnect"), ("push", "fault:disconnect")}
    assert [r["state"] for r in ledger if r["event"] == "push"] == ["on", "off"]


def test_fault_corrupt_and_lose_damage_the_stream_as_the_ledger_says(emulator):
    emu = emulator(faults=["corrupt:at=2,bytes=3", "lose:at=4,bytes=5"], speed=500, seed=8)
    client = Client(emu.host, emu.port)
    push = connect_push(emu.host, emu.push_port)
    plan = simple_plan(client)
    start_push(client, plan)
    length = plan.frame_length
    data = read_exactly(push, 5 * length - 5)
    client.cmd("SLAVE")
    records = frame_lines(emu)
    intact = [intact_bytes(emu, seq) for seq in range(1, 6)]
    assert [r["crc32"] for r in records[:5]] == [zlib.crc32(f) for f in intact]
    frame2 = data[length:2 * length]
    corrupt = records[1]["faults"]
    assert [f["kind"] for f in corrupt] == ["corrupt"]
    assert [i for i in range(length) if frame2[i] != intact[1][i]] == corrupt[0]["positions"]
    lose = records[3]["faults"][0]
    assert (lose["kind"], lose["bytes"], records[3]["sent"]) == ("lose", 5, length - 5)
    start = lose["offset"]
    assert data[3 * length:4 * length - 5] == intact[3][:start] + intact[3][start + 5:]
    assert data[:length] == intact[0] and data[2 * length:3 * length] == intact[2]
    assert data[4 * length - 5:] == intact[4]
    assert all(r["faults"] == [] for i, r in enumerate(records[:5]) if i not in (1, 3))


def test_fault_stall_pushes_nothing_while_commands_are_answered(emulator):
    emu = emulator(faults=["stall:at=2,seconds=1.5"], speed=500)
    client = Client(emu.host, emu.port, timeout=1.0)
    push = connect_push(emu.host, emu.push_port)
    plan = simple_plan(client)
    start_push(client, plan)
    read_exactly(push, 2 * plan.frame_length)
    push.settimeout(0.5)
    with pytest.raises(socket.timeout):
        push.recv(1)
    assert " " in client.cmd("*IDN?")
    push.settimeout(TIMEOUT)
    frame3 = read_exactly(push, plan.frame_length)
    assert FrameDecoder(plan).problem(frame3) is None
    stall = [r for r in emu.ledger() if r["event"] == "fault"]
    assert (stall[0]["kind"], stall[0]["after_seq"], stall[0]["seconds"]) == ("stall", 2, 1.5)


def test_fault_hang_silences_both_sockets(emulator):
    emu = emulator(faults=["hang:at=2,seconds=1.5"], speed=500)
    client = Client(emu.host, emu.port)
    push = connect_push(emu.host, emu.push_port)
    plan = simple_plan(client)
    start_push(client, plan)
    read_exactly(push, 2 * plan.frame_length)
    client.sock.settimeout(0.5)
    client.send("*IDN?")
    with pytest.raises(socket.timeout):
        client.line()
    push.settimeout(0.2)
    with pytest.raises(socket.timeout):
        push.recv(1)
    client.sock.settimeout(TIMEOUT)
    assert " " in client.line()  # answered once the hang is over
    push.settimeout(TIMEOUT)
    read_exactly(push, plan.frame_length)
    assert [(r["kind"], r["after_seq"]) for r in emu.ledger() if r["event"] == "fault"] == [
        ("hang", 2)]


def connect_when_back(host: str, port: int) -> Client:
    return wait_for(lambda: _try_connect(host, port), "the emulator to accept again")


def _try_connect(host: str, port: int) -> Client | None:
    try:
        return Client(host, port)
    except ConnectionRefusedError:
        return None


def test_fault_reboot_closes_refuses_and_comes_back_at_power_up(emulator):
    emu = emulator(faults=["reboot:at=2,seconds=1"], speed=50)
    client = Client(emu.host, emu.port)
    push = connect_push(emu.host, emu.push_port)
    client.cmd("SELECT 0")
    client.cmd("FREQDIV 2 0")
    plan = simple_plan(client, shots=2)
    start_push(client, plan)
    assert len(read_until_closed(push)) == 2 * plan.frame_length
    assert is_closed(client.sock)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((emu.host, emu.port), timeout=TIMEOUT)
    again = connect_when_back(emu.host, emu.port)
    again.cmd("SELECT 0")
    assert again.cmd("FREQDIV?") == "FREQDIV 0"  # power-up state
    assert again.cmd("STAT?") == "Shots 2 MemA"  # push mode off
    ledger = emu.ledger()
    assert {(r["socket"], r["reason"]) for r in ledger if r["event"] == "close"} == {
        ("command", "fault:reboot"), ("push", "fault:reboot")}
    assert [r["event"] for r in ledger].count("power-up") == 1
    assert emu.frames_sent() == 2


def test_fault_refuse_at_start(emulator):
    emu = emulator(faults=["refuse:seconds=1"])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((emu.host, emu.port), timeout=TIMEOUT)
    client = connect_when_back(emu.host, emu.port)
    assert " " in client.cmd("*IDN?")
    assert [(r["kind"], r["after_seq"]) for r in emu.ledger() if r["event"] == "fault"] == [
        ("refuse", 0)]


def test_fault_injected_while_running(emulator):
    emu = emulator(speed=500)
    client = Client(emu.host, emu.port)
    push = connect_push(emu.host, emu.push_port)
    plan = simple_plan(client)
    emu.inject("disconnect:every=4")
    start_push(client, plan)
    assert len(read_until_closed(push)) == 4 * plan.frame_length

"""Run the controller emulator in-process for tests: :func:`running_emulator`, ``emulator``.

The emulator (:mod:`licelpush.emulator`) runs its asyncio server in a
background thread with its own event loop, on free consecutive ports of
127.0.0.1. The handle gives the ports, the ledger, the number of frames sent
and, for the last ``keep_sent`` frames, the profiles each frame was built from
(:meth:`RunningEmulator.sent_frame`), so a test can compare what a client
saved with what was synthesised::

    with running_emulator(recorders="0:16/4", speed=100, seed=1) as emu:
        sock = socket.create_connection((emu.host, emu.port))
        ...
        sent = emu.sent_frame(seq)        # SentFrame: plan, profiles, clipped, crc32
        emu.ledger()                      # list of dicts (JSON Lines)

The pytest fixture ``emulator`` is a factory (:class:`EmulatorFactory`) taking
the same keyword arguments; every emulator it started is stopped after the
test. Load it with ``pytest_plugins = ["licelpush.testing"]`` in the root
conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from licelpush.config import AcquisConfig, load_config
from licelpush.emulator.assumptions import DEFAULT_IDN, DEFAULT_KILL_PASSWORD, DEFAULT_RATE_HZ
from licelpush.emulator.faults import FaultSpec, parse_fault
from licelpush.emulator.ledger import read_ledger
from licelpush.emulator.model import installed_hardware, parse_recorders
from licelpush.emulator.server import EmulatorOptions, EmulatorServer, SentFrame, SentFrames
from licelpush.hardware import RecorderHardware

log = logging.getLogger(__name__)

_T = TypeVar("_T")

START_TIMEOUT_S = 30.0
"""How long :meth:`RunningEmulator.start` waits for the server to listen."""


def emulator_options(
    *,
    recorders: str | Mapping[int, RecorderHardware] | None = None,
    config: str | Path | AcquisConfig | None = None,
    faults: Iterable[str | FaultSpec] = (),
    seed: int = 0,
    speed: float = 1.0,
    max_speed: bool = False,
    idn: str | None = None,
    rate: float = DEFAULT_RATE_HZ,
    ledger_path: str | Path | None = None,
    kill_password: str = DEFAULT_KILL_PASSWORD,
    clock_start_ms: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    bank_size: int = 4,
) -> EmulatorOptions:
    """:class:`EmulatorOptions` from test-friendly arguments (port 0 = free ports)."""
    if isinstance(config, (str, Path)):
        config = load_config(config)
    if isinstance(recorders, str):
        recorders = parse_recorders(recorders)
    specs = tuple(f if isinstance(f, FaultSpec) else parse_fault(f) for f in faults)
    return EmulatorOptions(
        host=host, port=port, hardware=installed_hardware(config, recorders),
        idn=idn if idn is not None else DEFAULT_IDN, rate_hz=rate, speed=speed,
        max_speed=max_speed, seed=seed, faults=specs, kill_password=kill_password,
        ledger_path=Path(ledger_path) if ledger_path is not None else None,
        clock_start_ms=clock_start_ms, bank_size=bank_size)


class RunningEmulator:
    """An emulator served from a background thread (see the module docstring)."""

    def __init__(self, options: EmulatorOptions, *, keep_sent: int = 64) -> None:
        self._own_ledger: str | None = None
        if options.ledger_path is None:
            fd, name = tempfile.mkstemp(prefix="licelpush-emulator-", suffix=".jsonl")
            os.close(fd)
            self._own_ledger = name
            options = EmulatorOptions(**{**options.__dict__, "ledger_path": Path(name)})
        self.options = options
        self.ledger_path: Path = options.ledger_path  # type: ignore[assignment]
        self.sent = SentFrames(keep_sent)
        self.server: EmulatorServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._final_ledger: list[dict[str, Any]] | None = None

    # --- life cycle ---

    def start(self) -> RunningEmulator:
        """Start the server thread and wait until it listens; returns self."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._thread = threading.Thread(target=self._run, name="licelpush-emulator",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"emulator did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self) -> None:
        """Stop the server, join the thread; the ledger stays readable."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._cleanup()
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT_S)
        if thread.is_alive():  # pragma: no cover - a stuck server is a bug
            raise RuntimeError("emulator thread did not stop")
        self._cleanup()

    def _cleanup(self) -> None:
        if self._own_ledger is not None and self._final_ledger is None:
            with contextlib.suppress(OSError):
                self._final_ledger = read_ledger(self._own_ledger)
                os.unlink(self._own_ledger)

    def __enter__(self) -> RunningEmulator:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("emulator thread failed")
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = EmulatorServer(self.options, sent=self.sent)
        self.server = server
        try:
            await server.start()
        except BaseException:
            await server.stop()
            raise
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()

    # --- what tests use ---

    @property
    def host(self) -> str:
        return self.options.host

    @property
    def port(self) -> int:
        """Command port P."""
        assert self.server is not None, "emulator not started"
        return self.server.port

    @property
    def push_port(self) -> int:
        return self.port + 1

    @property
    def kill_port(self) -> int:
        return self.port + 2

    def ledger(self) -> list[dict[str, Any]]:
        """Every ledger line written so far, as dicts."""
        if self._final_ledger is not None:
            return list(self._final_ledger)
        return read_ledger(self.ledger_path)

    @property
    def ledger_error(self) -> str | None:
        """Why the ledger could not be written completely (None when it was)."""
        return self.server.ledger.error if self.server is not None else None

    def frames_sent(self) -> int:
        """Frames put on the wire so far (the last ledger seq)."""
        return self.server.frames_sent if self.server is not None else 0

    def sent_frame(self, seq: int) -> SentFrame:
        """The frame with ledger ``seq`` as built (profiles, clip flags, plan, CRC).

        Raises ``KeyError`` when ``seq`` was not sent or is older than the last
        ``keep_sent`` frames.
        """
        frame = self.sent.get(seq)
        if frame is None:
            raise KeyError(f"frame {seq} not kept (kept: {self.sent.seqs()[:1]}.."
                           f"{self.sent.seqs()[-1:]})")
        return frame

    def sent_profiles(self, seq: int) -> tuple[Any, ...]:
        """The uint32 profiles (one per plan channel) frame ``seq`` was built from."""
        return self.sent_frame(seq).profiles

    def call(self, function: Callable[[EmulatorServer], _T]) -> _T:
        """Run ``function(server)`` in the emulator's thread and return its result."""
        assert self._loop is not None and self.server is not None, "emulator not started"
        server = self.server

        async def run() -> _T:
            return function(server)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(START_TIMEOUT_S)

    def inject(self, fault: str | FaultSpec) -> None:
        """Add a fault while running, e.g. ``emu.inject("disconnect:at=12")``."""
        spec = fault if isinstance(fault, FaultSpec) else parse_fault(fault)
        self.call(lambda server: server.inject(spec))

    def millis(self) -> int:
        """The controller's ms timer now."""
        return self.call(lambda server: server.controller.millis(server.now()))


@contextlib.contextmanager
def running_emulator(*, keep_sent: int = 64, **kwargs: Any) -> Iterator[RunningEmulator]:
    """Start an emulator (arguments of :func:`emulator_options`), yield it, stop it."""
    emu = RunningEmulator(emulator_options(**kwargs), keep_sent=keep_sent)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


class EmulatorFactory:
    """Starts emulators on demand and stops them all at exit (the ``emulator`` fixture).

    ``ledger_dir`` holds each emulator's ledger (``emulator-ledger-N.jsonl``)
    unless a ``ledger_path`` is given.
    """

    def __init__(self, ledger_dir: str | Path | None = None) -> None:
        self.ledger_dir = Path(ledger_dir) if ledger_dir is not None else None
        self.started: list[RunningEmulator] = []

    def __call__(self, *, keep_sent: int = 64, **kwargs: Any) -> RunningEmulator:
        """Start an emulator (arguments of :func:`emulator_options`)."""
        if self.ledger_dir is not None:
            kwargs.setdefault("ledger_path",
                              self.ledger_dir / f"emulator-ledger-{len(self.started)}.jsonl")
        emu = RunningEmulator(emulator_options(**kwargs), keep_sent=keep_sent).start()
        self.started.append(emu)
        return emu

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()

    def __enter__(self) -> EmulatorFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


try:  # the fixture is only defined where pytest is installed
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def emulator(tmp_path: Path) -> Iterator[EmulatorFactory]:
        """Factory fixture: ``emu = emulator(recorders="0:16/4", speed=50)``; all stopped after.

        Load it with ``pytest_plugins = ["licelpush.testing"]`` in the root conftest.py.
        """
        with EmulatorFactory(tmp_path) as factory:
            yield factory

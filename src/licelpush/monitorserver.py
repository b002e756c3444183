"""The live station monitor: follows an output directory, serves a read-only page (IO edge).

A :class:`DirectoryFollower` polls the directory: it tails the newest
``journal-<run>.jsonl``, reads ``status.json`` where the station writes one,
and decodes only the newest record each poll (at 20 Hz most records are
counted from the journal, not read: the page shows the latest profile, the
curtain samples the records). Without a journal it finds new data files by
walking the directory every few polls. It never writes into the directory.

The server is the standard library's ``ThreadingHTTPServer``: a handful of
local clients polling a cached JSON document twice a second and four static
files is well within what it does, it needs no dependency on a station
computer, and each request runs in its own thread, so a slow browser delays
nobody but itself. Documents are built by the follower and swapped in whole;
request threads only send prepared bytes.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from licelpush.datafiles import (
    below_dark,
    find_data_files,
    read_intact,
    record_seconds,
    utc_seconds,
)
from licelpush.monitorstate import JournalDigest, SignalView, health, parse_utc_text
from licelpush.platform import CURRENT

log = logging.getLogger(__name__)

POLL_S = 0.5
"""Seconds between two looks at the directory."""
WALK_EVERY = 10
"""Without a journal the directory is walked every this many polls."""
CURTAIN_EVERY_S = 5.0
"""The curtain document is rebuilt at most this often (and at most three times per
curtain column)."""
MAX_JOURNAL_READ = 16 << 20
"""Bytes of journal read per poll at most (a long journal is caught up over several polls)."""
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/monitor.js": ("monitor.js", "text/javascript; charset=utf-8"),
          "/monitor.css": ("monitor.css", "text/css; charset=utf-8")}


@dataclass
class Documents:
    """The prepared responses, replaced whole by the follower."""

    live: bytes = b"{}"
    curtain: bytes = b'{"curtains": []}'
    health: bytes = b"{}"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, **docs: bytes) -> None:
        with self.lock:
            for name, value in docs.items():
                setattr(self, name, value)

    def get(self, name: str) -> bytes:
        with self.lock:
            return getattr(self, name)


class DirectoryFollower:
    """Keeps :class:`Documents` up to date with what appears in ``directory``."""

    def __init__(self, directory: Path, view: SignalView, docs: Documents) -> None:
        self.directory = directory
        self.view = view
        self.docs = docs
        self.digest: JournalDigest | None = None
        self._journal: Path | None = None
        self._offset = 0
        self._partial = b""
        self._shown: tuple[str, int] | None = None
        self._polls = 0
        self._curtain_built = 0.0

    # ------------------------------------------------------------------ journal

    def _newest_journal(self) -> Path | None:
        journals = sorted(self.directory.glob("journal-*.jsonl"))
        return journals[-1] if journals else None

    def _tail_journal(self) -> None:
        newest = self._newest_journal()
        if newest is None:
            return
        if newest != self._journal:
            self._journal, self._offset, self._partial = newest, 0, b""
            self.digest = JournalDigest()
        try:
            with open(newest, "rb") as f:
                f.seek(self._offset)
                chunk = f.read(MAX_JOURNAL_READ)
        except OSError as exc:
            log.warning("%s: cannot read the journal: %s", newest, exc.strerror or exc)
            return
        unwritten = chunk.find(b"\0")  # the journal's reserve: zero bytes not yet written
        if unwritten >= 0:
            chunk = chunk[:unwritten]
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        assert self.digest is not None
        for line in lines:
            if line.strip():
                self.digest.feed(line)

    # ------------------------------------------------------------------ records

    def _newest_from_journal(self) -> tuple[Path, int] | None:
        latest = self.digest.latest() if self.digest else None
        if not latest or "file" not in latest:
            return None
        return self.directory / str(latest["file"]), int(latest.get("record", 0))

    def _sample_recent(self) -> None:
        """Add to the curtains one of the acquisitions since the last poll per curtain
        column (the newest is shown by :meth:`poll`), so that short columns have no holes."""
        if self.digest is None:
            return
        column_s = self.view.window_s / self.view.columns
        columns: set[int] = set()
        for event in self.digest.take_recent()[:-1]:
            t = parse_utc_text(event.get("received_utc") or event.get("utc"))
            if t is None or "file" not in event or int(t // column_s) in columns:
                continue
            columns.add(int(t // column_s))
            self._show(self.directory / str(event["file"]), int(event.get("record", 0)),
                       latest=False)

    def _newest_from_walk(self) -> tuple[Path, int] | None:
        if self._polls % WALK_EVERY != 1:
            return None
        files = find_data_files([self.directory])
        return (files[-1].path, -1) if files else None

    def _show(self, path: Path, index: int, *, latest: bool = True) -> bool:
        records, _ = read_intact(path)
        if not records or not -len(records) <= index < len(records):
            return False
        record = records[index]
        self.view.add(record, record_seconds(record.header), path.name, latest=latest,
                      dark=below_dark(path, self.directory))
        return True

    def backfill(self) -> int:
        """Sample the files of the curtain's window (one per column); returns how many."""
        files = [f for f in find_data_files([self.directory]) if f.when is not None]
        if not files:
            return 0
        column_s = self.view.window_s / self.view.columns
        newest = utc_seconds(files[-1].when)
        chosen: dict[int, Path] = {}
        for f in files:
            t = utc_seconds(f.when)
            if newest - t <= self.view.window_s:
                chosen.setdefault(int(t // column_s), f.path)
        paths = list(chosen.values())
        for path in paths[:-1]:
            self._show(path, 0, latest=False)
        self._show(files[-1].path, -1)
        return len(paths)

    # ------------------------------------------------------------------ one poll

    def poll(self, now: float | None = None) -> None:
        """Look at the directory once and refresh the documents."""
        now = time.time() if now is None else now
        self._polls += 1
        self._tail_journal()
        self._sample_recent()
        newest = self._newest_from_journal() if self.digest else self._newest_from_walk()
        if newest is not None and (str(newest[0]), newest[1]) != self._shown:
            if self._show(*newest):
                self._shown = (str(newest[0]), newest[1])
        report = health(self.digest, self._status(), now, self._free_bytes())
        live = dict(self.view.live(), health=report, directory=str(self.directory),
                    updated_utc=now)
        self.docs.set(live=_json(live), health=_json(report))  # the newest record first
        column_s = self.view.window_s / self.view.columns
        if now - self._curtain_built >= max(CURTAIN_EVERY_S, column_s / 3):
            self.docs.set(curtain=_json(self.view.curtain_doc()))
            self._curtain_built = now

    def _status(self) -> dict[str, Any] | None:
        path = self.directory / "status.json"
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return status if isinstance(status, dict) else None

    def _free_bytes(self) -> int | None:
        try:
            return CURRENT.disk_usage(self.directory)[1]
        except OSError:
            return None


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")


def static_file(name: str) -> bytes:
    """An asset of the page, shipped inside the package (no CDN: stations are offline)."""
    return resources.files("licelpush").joinpath("web", name).read_bytes()


def make_handler(docs: Documents) -> type[BaseHTTPRequestHandler]:
    """A read-only request handler serving the page and the JSON documents."""
    assets = {path: (static_file(name), kind) for path, (name, kind) in STATIC.items()}
    api = {"/api/live": "live", "/api/curtain": "curtain", "/api/health": "health"}

    class Handler(BaseHTTPRequestHandler):
        server_version = "licelpush-monitor"
        timeout = 30  # a browser that stops reading is dropped

        def _send(self, body: bytes, kind: str, head: bool) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _get(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path in assets:
                self._send(*assets[path], head)
            elif path in api:
                self._send(docs.get(api[path]), "application/json", head)
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._get(head=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._get(head=True)

        def _read_only(self) -> None:
            self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "the monitor is read-only")

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


def start_server(host: str, port: int, docs: Documents) -> ThreadingHTTPServer:
    """Bind and serve in a daemon thread; returns the server (``server_address`` has the port)."""
    server_class = ThreadingHTTPServer
    if ":" in host:  # an IPv6 address such as ::1
        server_class = type("ThreadingHTTPServerV6", (ThreadingHTTPServer,),
                            {"address_family": socket.AF_INET6})
    server = server_class((host, port), make_handler(docs))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="monitor-http", daemon=True).start()
    return server


def follow(follower: DirectoryFollower, stop: threading.Event, poll_s: float = POLL_S,
           duration_s: float | None = None) -> None:
    """Poll until ``stop`` is set (or ``duration_s`` has passed)."""
    end = None if duration_s is None else time.monotonic() + duration_s
    while not stop.is_set() and (end is None or time.monotonic() < end):
        started = time.monotonic()
        try:
            follower.poll()
        except Exception:  # the monitor keeps serving what it has
            log.exception("monitor: poll failed")
        stop.wait(max(poll_s - (time.monotonic() - started), 0.05))

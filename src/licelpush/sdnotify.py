"""The systemd notification protocol (``sd_notify``) with the standard library (IO edge).

When systemd starts a ``Type=notify`` service it sets ``NOTIFY_SOCKET`` to
the path of a datagram socket (``@name`` for the abstract namespace) and,
with ``WatchdogSec=``, ``WATCHDOG_USEC``. Each message is one datagram of
``KEY=VALUE`` lines: ``READY=1``, ``STATUS=<one line>``, ``WATCHDOG=1``,
``STOPPING=1`` (see sd_notify(3)). Without ``NOTIFY_SOCKET``, or where
the system has no Unix sockets (Windows), :class:`Notifier` does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from licelpush.platform import has_unix_sockets, unix_datagram_socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; a no-op when the service manager did not ask for them."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address or None
        self.watchdog_s = watchdog_usec / 1e6 if watchdog_usec else None
        """The watchdog period systemd expects pings within (None: no watchdog)."""
        self._clock = clock
        self._last_ping: float | None = None
        self._socket: socket.socket | None = None
        self._broken = False
        if self.address and not has_unix_sockets():
            log.warning("NOTIFY_SOCKET is set but this system has no Unix sockets; "
                        "not notifying the service manager")
            self.address = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """From ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` (``WATCHDOG_PID`` must be ours)."""
        env = os.environ if environ is None else environ
        usec: int | None = None
        pid = env.get("WATCHDOG_PID")
        if env.get("WATCHDOG_USEC") and (not pid or pid == str(os.getpid())):
            try:
                usec = int(env["WATCHDOG_USEC"])
            except ValueError:
                log.warning("WATCHDOG_USEC=%r is not a number; ignored", env["WATCHDOG_USEC"])
        return cls(env.get("NOTIFY_SOCKET"), usec)

    @property
    def enabled(self) -> bool:
        """True when messages are sent."""
        return self.address is not None and not self._broken

    def send(self, *lines: str) -> bool:
        """Send one message of ``lines``; False when not sent (disabled or failed)."""
        if not self.enabled:
            return False
        assert self.address is not None
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = unix_datagram_socket()  # non-blocking: never stall the run
            self._socket.sendto("\n".join(lines).encode("utf-8"), target)
        except BlockingIOError:
            log.debug("service manager busy; %s dropped", lines[0])
            return False
        except OSError as exc:
            log.warning("cannot notify the service manager at %s: %s", self.address, exc)
            self._broken = True
            return False
        return True

    def ready(self, status: str) -> bool:
        """``READY=1`` with a status line."""
        return self.send("READY=1", status_line(status))

    def status(self, status: str) -> bool:
        """``STATUS=...``."""
        return self.send(status_line(status))

    def watchdog(self) -> bool:
        """``WATCHDOG=1`` when half the watchdog period has passed since the last one."""
        if self.watchdog_s is None or not self.enabled:
            return False
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_s / 2:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def stopping(self, status: str) -> bool:
        """``STOPPING=1`` with a status line."""
        return self.send("STOPPING=1", status_line(status))

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def status_line(text: str) -> str:
    """``STATUS=`` with ``text`` on one line."""
    return "STATUS=" + " ".join(text.split())

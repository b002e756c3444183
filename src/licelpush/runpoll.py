"""Polled acquisition (IO edge): START, wait for the shots, STOP, ``DATA?`` per dataset.

For controllers without MPUSH (``acquire --mode poll``). Spec: PROTOCOL.md §2
(``MSTART``, ``MWAIT``, ``MSTOP``, ``STAT?``, ``MILLISEC?``, ``DATA?``), §3.1-3.2.

At set-up every active recorder is configured as for MPUSH and its shot limit
(``SETMAXSHOTS``) set to the shots per acquisition, so an armed recorder stops
by itself after them. One acquisition: ``SELECT`` the active recorders,
``MSTART`` (clears and arms them), ``MWAIT`` until all are idle, ``MSTOP``,
``MILLISEC?``, then per recorder ``STAT?`` (its shot count) and per raw dataset
of the plan (§3.1) ``DATA?``. The replies are laid out exactly as a pushed
frame (§3.2: ``FF FF``, timestamp, per dataset its shot word and words), so
the decoder, the frame checks, records, journal and files are those of MPUSH.
"""

from __future__ import annotations

import logging

from licelpush.client import Controller, ControllerConnectionError, ControllerReplyError
from licelpush.config import AcquisConfig
from licelpush.hardware import RecorderHardware
from licelpush.plan import MPushPlan
from licelpush.runlink import prepare
from licelpush.wordlayout import FRAME_DELIMITER

log = logging.getLogger(__name__)

MWAIT_MARGIN_S = 5.0
"""Added to twice the nominal acquisition time before ``MWAIT`` gives up."""
MWAIT_UNKNOWN_RATE_S = 60.0
"""``MWAIT`` limit when no laser repetition rate is configured."""
MAX_MWAIT_MS = 10_000_000
"""Largest ``MWAIT`` argument of the command table."""


def start_poll(controller: Controller, config: AcquisConfig, shots: int, *,
               first: bool) -> tuple[str, dict[int, RecorderHardware], MPushPlan]:
    """The set-up of a polled run: as for MPUSH (without sending it), then each active
    recorder's shot limit = ``shots``; returns (IDN, hardware, plan)."""
    idn, hardware, plan = prepare(controller, config, shots, first=first)
    for address in plan.recorders:
        controller.request("SELECT", (address,))
        controller.request("SETMAXSHOTS", min(shots, 65534))
    return idn, hardware, plan


def mwait_milliseconds(duration_s: float | None) -> int:
    """How long ``MWAIT`` may wait for one acquisition of ``duration_s`` nominal seconds."""
    seconds = MWAIT_UNKNOWN_RATE_S if duration_s is None else 2 * duration_s + MWAIT_MARGIN_S
    return int(min(seconds * 1000, MAX_MWAIT_MS))


def _shot_count(controller: Controller, address: int) -> int:
    controller.request("SELECT", (address,))
    reply = controller.request("STAT?")
    tokens = reply.split()
    if len(tokens) < 2 or tokens[0] != "Shots" or not tokens[1].isdigit():
        raise ControllerReplyError(f"controller {controller.address}: TR{address}: STAT? was "
                                   f"answered {reply!r}, expected 'Shots <n> ...'")
    return int(tokens[1])


def poll_frame(controller: Controller, plan: MPushPlan, duration_s: float | None) -> bytes:
    """One polled acquisition, as the bytes of a pushed frame of ``plan``.

    Raises :class:`ControllerConnectionError` when the recorders are still armed
    after :func:`mwait_milliseconds` (no triggers: the run reconnects, as for a
    silent push stream) and the client's errors otherwise.
    """
    recorders = plan.recorders
    controller.request("SELECT", recorders)
    controller.request("MSTART")
    wait_ms = mwait_milliseconds(duration_s)
    try:
        controller.wait_ready(wait_ms)
    except ControllerReplyError as exc:
        raise ControllerConnectionError(
            f"recorders {', '.join(f'TR{a}' for a in recorders)} still armed after "
            f"{wait_ms / 1000:g} s (no triggers?): {exc.message}") from None
    controller.request("MSTOP")
    stamp = controller.millisec() & 0xFFFFFFFF
    shot_words = {a: _shot_count(controller, a) for a in recorders}
    parts = [FRAME_DELIMITER, stamp.to_bytes(4, "big" if plan.big_endian_timestamp
                                             else "little")]
    for dataset in plan.datasets:
        parts.append((shot_words[dataset.recorder] & 0xFFFF).to_bytes(2, "little"))
        parts.append(controller.read_data(dataset.recorder, dataset.bins, dataset.kind,
                                          dataset.memory))
    frame = b"".join(parts)
    if len(frame) != plan.frame_length:  # pragma: no cover - read_data returns exact sizes
        raise ControllerReplyError(f"polled {len(frame)} bytes, a frame has "
                                   f"{plan.frame_length}")
    return frame

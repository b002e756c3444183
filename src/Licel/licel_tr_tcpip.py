"""``TransientRecorder``: the vendor API of the transient-recorder commands, on licelpush's client.

Spec: PROTOCOL.md §2 (the commands and their replies), §4 (raw words ->
counts). Every call sends one request of licelpush's command table
(:mod:`licelpush.commands`) through :class:`licelpush.client.Controller` and
returns the reply text (without CR LF); the four ``DATA?`` readers decode with
:func:`licelpush.decode.decode_raw_words`. Method and parameter names are the
vendor's, so positional and keyword calls of station scripts work.

The class is a base of :class:`Licel.licel_tcpip.EthernetController`, whose
``Tr`` is the controller itself: ``ethernetController.selectTR(0)`` and
``ethernetController.Tr.TRtype()`` reach the same object. The controller
supplies :meth:`_request` and :meth:`_read_raw`.

Exceptions: a value the vendor rejects raises ``ValueError`` before anything
is sent; a reply the command table does not accept raises ``RuntimeError``
(``EthernetControllerError``); a failed connection raises ``ConnectionError``.

Differences from the vendor library (docs/VENDOR_API.md): ``stopAcquisition``
and ``continueAcquisition`` send their command once (the vendor sends it
twice); ``getStatus`` reports ``'MEM_A'`` without a trailing space; the
``DATA?`` readers use PHM exactly as PROTOCOL.md §3.1 asks (16-bit analogue
beyond 32764 shots), and the squared photon-counting words are combined low
word first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from licelpush.commands import command
from licelpush.decode import combine_squared, decode_raw_words
from licelpush.plan import analogue_needs_phm, pc_needs_phm

DATASETSTYPE = MappingProxyType({t: t for t in ("PC", "PHM", "LSW", "MSW", "P2L", "P2M",
                                                "A2L", "A2M", "A2H")})
"""Raw data types of ``DATA?`` (vendor name)."""
MEMORY = MappingProxyType({"MEM_A": "A", "MEM_B": "B", "MEM_C": "C", "MEM_D": "D"})
"""Memory names of the vendor API and their letters."""
INPUTRANGE = MappingProxyType({"-500mV": 0, "-100mV": 1, "-20mV": 2})
"""Input ranges of ``setInputRange`` and the ``RANGE`` argument of each."""
THRESHOLD_LOW = 0
THRESHOLD_HIGH = 1
SHOT_LIMITS = ("4K", "64K")
"""Arguments of ``setShotLimit``."""
WAIT_POLL_S = 0.01
"""Pause between ``STAT?`` polls of :meth:`TransientRecorder.waitForReady`."""


def _memory_letter(memory: str) -> str:
    try:
        return MEMORY[memory]
    except KeyError:
        raise ValueError(f"memory {memory!r}: must be one of {', '.join(MEMORY)}") from None


def _hardware_value(TRType: Any, key: str) -> Any:  # noqa: N803 - vendor name
    try:
        return TRType[key]
    except (KeyError, TypeError):
        raise ValueError(f"TRType has no {key!r}: pass the dict TRtype() returned") from None


class TransientRecorder:
    """Transient-recorder calls of the vendor API (mixed into ``EthernetController``)."""

    def _request(self, name: str, *args: Any) -> str:
        """Send one command of the table and return its checked reply (the controller's)."""
        raise NotImplementedError

    def _read_raw(self, device: int, words: int, datatype: str, memory: str) -> np.ndarray:
        """``DATA? device words datatype memory`` (memory letter A-D): the raw uint16
        words (the controller's)."""
        raise NotImplementedError

    def _checked(self, method: str, name: str, *args: Any) -> str:
        """Validate the arguments with the command table first, then send."""
        try:
            command(name).request(*args)
        except ValueError as exc:
            raise ValueError(f"{method}: {exc}") from None
        return self._request(name, *args)

    # ------------------------------------------------------------------ selection, status

    def selectTR(self, numTR: int) -> str:  # noqa: N802, N803 - vendor names
        """``SELECT numTR``; -1 selects none. Returns the reply."""
        if isinstance(numTR, bool) or not isinstance(numTR, int):
            raise ValueError(f"selectTR: numTR must be an integer, not {numTR!r}")
        return self._checked("selectTR", "SELECT", () if numTR == -1 else (numTR,))

    def selectMultipleTR(self, devicelist: Sequence[int]) -> str:  # noqa: N802
        """``SELECT a,b,c``: select several recorders."""
        return self._checked("selectMultipleTR", "SELECT", tuple(int(d) for d in devicelist))

    def getStatus(self) -> tuple[bool, bool, str, int]:  # noqa: N802
        """``STAT?``: ``(acquisitionState, recording, memory, shots)``.

        ``shots`` is the count as reported (true shots + 2, PROTOCOL.md §2);
        ``memory`` is ``'MEM_A'`` or ``'MEM_B'``.
        """
        reply = self._request("STAT?")
        tokens = reply.split()
        if len(tokens) < 2 or tokens[0] != "Shots" or not tokens[1].isdigit():
            raise self._reply_problem(f"STAT? was answered {reply!r}, expected 'Shots <n> ...' "
                                      "(is a recorder selected and installed?)")
        armed = "Armed" in tokens
        return armed, armed, "MEM_B" if "MemB" in tokens else "MEM_A", int(tokens[1])

    def _reply_problem(self, text: str) -> Exception:
        """The exception for an unusable reply (the controller's: a ``RuntimeError``)."""
        return RuntimeError(text)

    def TRtype(self) -> dict[str, Any]:  # noqa: N802
        """``TRTYPE?`` of the selected recorder: ``{'ADC Bits', 'PC Bits', 'FIFOLength',
        'binWidth', 'ID', 'HWCAP', 'binShift', 'raw'}`` (it also resets the shot counter)."""
        from licelpush.hardware import parse_trtype

        from .licel_tcpip import HardwareInfo

        reply = self._request("TRTYPE?")
        try:
            return HardwareInfo(parse_trtype(reply))
        except ValueError as exc:
            raise self._reply_problem(f"TRTYPE? was answered {reply!r}: {exc}") from None

    # ------------------------------------------------------------------ settings

    def setInputRange(self, Range: str) -> str:  # noqa: N802, N803
        """``RANGE``: ``'-500mV'``, ``'-100mV'`` or ``'-20mV'``."""
        if Range not in INPUTRANGE:
            raise ValueError(f"setInputRange: Range {Range!r} must be one of "
                             f"{', '.join(INPUTRANGE)}")
        return self._request("RANGE", INPUTRANGE[Range])

    def setThresholdMode(self, thresholdMode: str) -> str:  # noqa: N802, N803
        """``THRESHOLD 1`` for ``'ON'`` (damping high), ``THRESHOLD 0`` for ``'OFF'``."""
        if thresholdMode not in ("ON", "OFF"):
            raise ValueError(f"setThresholdMode: thresholdMode {thresholdMode!r} must be "
                             "'ON' or 'OFF'")
        return self._request("THRESHOLD", THRESHOLD_HIGH if thresholdMode == "ON"
                             else THRESHOLD_LOW)

    def setDiscriminatorLevel(self, discriminatorLevel: int) -> str:  # noqa: N802, N803
        """``DISC n`` (0-63)."""
        return self._checked("setDiscriminatorLevel", "DISC", discriminatorLevel)

    def setMaxShots(self, maxShots: int) -> str:  # noqa: N802, N803
        """``SETMAXSHOTS n`` (1-65534)."""
        return self._checked("setMaxShots", "SETMAXSHOTS", maxShots)

    def setMaxBins(self, numMaxBins: int) -> str:  # noqa: N802, N803
        """``SETMAXBINS n`` (2-32768)."""
        return self._checked("setMaxBins", "SETMAXBINS", numMaxBins)

    def setShotLimit(self, limit: str) -> str:  # noqa: N802
        """``LIMIT 4K`` / ``LIMIT 64K``."""
        if limit not in SHOT_LIMITS:
            raise ValueError(f"setShotLimit: limit {limit!r} must be '4K' or '64K'")
        return self._request("LIMIT", limit)

    def enablePretrigger(self) -> str:  # noqa: N802
        """``PRETRIG 1``."""
        return self._request("PRETRIG", 1)

    def disablePretrigger(self) -> str:  # noqa: N802
        """``PRETRIG 0``."""
        return self._request("PRETRIG", 0)

    def blockRackTrigger(self, trig: str) -> str:  # noqa: N802
        """``BLOCK A`` ... ``BLOCK D``."""
        if trig not in ("A", "B", "C", "D"):
            raise ValueError(f"blockRackTrigger: trig {trig!r} must be 'A', 'B', 'C' or 'D'")
        return self._request("BLOCK", trig)

    def unblockRackTrigger(self) -> str:  # noqa: N802
        """``BLOCK OFF``."""
        return self._request("BLOCK", "OFF")

    def setSlaveMode(self) -> str:  # noqa: N802
        """``SLAVE``: end push mode."""
        return self._request("SLAVE")

    # ------------------------------------------------------------------ acquisition control

    def clearMemory(self) -> str:  # noqa: N802
        """``CLEAR``."""
        return self._request("CLEAR")

    def startAcquisition(self) -> str:  # noqa: N802
        """``START``."""
        return self._request("START")

    def stopAcquisition(self) -> str:  # noqa: N802
        """``STOP`` (sent once)."""
        return self._request("STOP")

    def continueAcquisition(self) -> str:  # noqa: N802
        """``CONTINUE`` (sent once)."""
        return self._request("CONTINUE")

    def singleShot(self) -> str:  # noqa: N802
        """``SINGLE``."""
        return self._request("SINGLE")

    def multipleClearMemory(self) -> str:  # noqa: N802
        """``MCLEAR``."""
        return self._request("MCLEAR")

    def multipleStartAcquisition(self) -> str:  # noqa: N802
        """``MSTART``."""
        return self._request("MSTART")

    def multipleStopAcquisition(self) -> str:  # noqa: N802
        """``MSTOP``."""
        return self._request("MSTOP")

    def multipleContinueAcquisition(self) -> str:  # noqa: N802
        """``MCONTINUE``."""
        return self._request("MCONTINUE")

    def multipleWaitForReady(self, milliSec: int) -> str:  # noqa: N802, N803
        """``MWAIT ms``: the reply comes once the selected recorders are idle (or the
        time is up, then ``RuntimeError``)."""
        return self._checked("multipleWaitForReady", "MWAIT", milliSec)

    def waitForReady(self, delay: int) -> str:  # noqa: N802
        """Poll ``STAT?`` until the selected recorder left the armed state, at most
        ``delay`` ms; ``RuntimeError`` when it is still armed."""
        deadline = time.monotonic() + max(0, delay) / 1000.0
        while True:
            if not self.getStatus()[0]:
                return "Device returned from armed state"
            if time.monotonic() >= deadline:
                raise self._reply_problem(
                    f"transient recorder did not return from the armed state within {delay} ms")
            time.sleep(WAIT_POLL_S)

    # ------------------------------------------------------------------ shot counters

    def getShotsAB(self) -> str:  # noqa: N802
        """``SHOTAB?``."""
        return self._request("SHOTAB?")

    def getMultipleShotsAB(self) -> str:  # noqa: N802
        """``MSHOTAB?``."""
        return self._request("MSHOTAB?")

    def getMultipleShots(self) -> str:  # noqa: N802
        """``MSHOTS?``."""
        return self._request("MSHOTS?")

    # ------------------------------------------------------------------ DATA? readers

    def getCombinedRawAnalogueData(self, TRType: Any, dataParser: Any, bins: int,  # noqa: N802, N803
                                   shots: int, device: int,
                                   memory: str) -> tuple[np.ndarray, np.ndarray]:
        """Read ``bins + 1`` words of LSW, MSW (and PHM when §3.1 needs it) and combine
        them: ``(values, clipping)``, uint32 arrays of ``bins`` values. ``dataParser``
        is accepted for the vendor signature and not used."""
        from .licel_tcpip import recorder_hardware

        hardware = recorder_hardware(TRType)
        kinds = ["LSW", "MSW"] + (["PHM"] if analogue_needs_phm(hardware, shots) else [])
        raw = self._read_sets(device, bins + 1, kinds, memory)
        return decode_raw_words(int(_hardware_value(TRType, "ADC Bits")), True, raw)

    def getRawPhotonCountingData(self, TRType: Any, dataParser: Any, bins: int,  # noqa: N802, N803
                                 shots: int, device: int, memory: str) -> np.ndarray:
        """Read ``bins + 1`` words of PC (and PHM beyond the threshold of the PC bits,
        §3.1) and combine them: uint32 array of ``bins`` values."""
        from .licel_tcpip import recorder_hardware

        hardware = recorder_hardware(TRType)
        kinds = ["PC"] + (["PHM"] if pc_needs_phm(hardware, shots) else [])
        raw = self._read_sets(device, bins + 1, kinds, memory)
        return decode_raw_words(hardware.adc_bits, False, raw)[0]

    def getCombinedRawAnalogueSquaredData(self, dataParser: Any, binsSqd: int,  # noqa: N802, N803
                                          device: int, memory: str) -> np.ndarray:
        """Read ``binsSqd + 1`` words of A2L, A2M, A2H: uint64 sums of squares."""
        return combine_squared(self._read_sets(device, binsSqd + 1, ("A2L", "A2M", "A2H"),
                                               memory))

    def getRawPhotonCountingSquaredData(self, dataParser: Any, binsSqd: int,  # noqa: N802, N803
                                        device: int, memory: str) -> np.ndarray:
        """Read ``binsSqd + 1`` words of P2L, P2M: uint64 sums of squares."""
        return combine_squared(self._read_sets(device, binsSqd + 1, ("P2L", "P2M"), memory))

    def _read_sets(self, device: int, words: int, kinds: Sequence[str],
                   memory: str) -> tuple[np.ndarray, ...]:
        """One ``DATA?`` per raw data type of ``memory`` (``'MEM_A'``...)."""
        letter = _memory_letter(memory)
        return tuple(self._read_raw(device, words, kind, letter) for kind in kinds)

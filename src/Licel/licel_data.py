"""``DataParser``: the vendor API that consumes ``pushBuffer`` and saves Licel files.

Spec: mpush-workflow.rst section 9 (``parseDataFromBuffer``,
``savePushDataToFile``, ``removeInvalidDataFromBuffer``, ``pushDataLog``),
PROTOCOL.md §3.3-4, LICEL_FILE_FORMAT.md. Validity and resynchronisation are
licelpush's framer's (:mod:`Licel._pushbuffer`), decoding is
:class:`licelpush.decode.FrameDecoder`'s, records are built by
:class:`licelpush.records.RecordBuilder` and written by
:class:`licelpush.filewriter.RecordWriter` (whole records, no overwriting,
``records_per_file``, fsync).

Differences from the vendor library, all on the side of correct data:

- the head of ``pushBuffer`` is a valid acquisition only when its shot words
  agree and the next frame (or the end of the connection) starts exactly
  after it; damage is removed up to the next *confirmed* frame start, not up to
  the first ``FF FF``, which may lie inside data words;
- 12-bit analogue data are decoded with the 12-bit layout, and PHM words are
  used exactly when they were requested (PROTOCOL.md §3.1, §4);
- files follow the Licel format that readers accept (CRLF, padded header
  lines, a space before the name, bins = values written, bin width × divider,
  true shot counts, no controller timestamp on line 3).
"""

from __future__ import annotations

import collections
import logging
import os
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from licelpush.config import AcquisConfig, is_foreign_path
from licelpush.decode import DecodedFrame, FrameDecoder
from licelpush.errors import OutputError
from licelpush.filewriter import MAX_LISTED_FILES, RecordWriter
from licelpush.framing import Frame, Quarantined
from licelpush.invalidlog import append_entry, format_entry, head_hex
from licelpush.plan import SHOT_COUNTER_OFFSET, MPushPlan, make_plan
from licelpush.records import RecordBuilder

from . import _pushbuffer
from .licel_Config import Config
from .licel_tcpip import EthernetController, recorder_hardware

log = logging.getLogger(__name__)

ShotDict = dict[int, dict[str, int]]
"""``{recorder address: {memory letter: shot count as reported (true shots + 2)}}``."""


class DataParser:
    """Parses ``ethernetController.pushBuffer`` and saves acquisitions (vendor API).

    Keeps the data file open between calls (``ACQUISPERFILE`` records per
    file); :meth:`close` (or the end of the program) closes it.
    """

    def __init__(self) -> None:
        self._source: EthernetController | None = None
        self._shots_warned = False
        self._builder: RecordBuilder | None = None
        self._builder_acquis: AcquisConfig | None = None
        self._writer: RecordWriter | None = None
        self._writer_key: tuple[str, str, int] | None = None
        self._finalizer: weakref.finalize | None = None
        self._files: collections.deque[Path] = collections.deque(maxlen=MAX_LISTED_FILES)
        self.clippedBins: tuple[int, ...] = ()
        """Bins with the clip flag set, per dataset, of the last parsed acquisition."""
        self.lastProblem = ""
        """Why the last :meth:`parseDataFromBuffer` reported invalid data."""

    # ------------------------------------------------------------------ parsing

    def parseDataFromBuffer(self, Config: Config, ethernetController: EthernetController,  # noqa: N802, N803
                            shots: int) -> tuple[bool, list[np.ndarray], int, ShotDict, ShotDict]:
        """Take one acquisition from the head of ``ethernetController.pushBuffer``.

        Returns ``(dataValid, dataSets, time_stamp, analogue_shots, pc_shots)``:
        when the buffer starts with a valid frame, it is removed from the buffer
        and ``dataSets`` holds one uint32 array (``bins - 1`` values) per enabled
        dataset in the vendor's order (per recorder: analogue A-D, then photon
        counting A-D), ``time_stamp`` the controller's ms timer and the shot
        dicts ``{recorder: {memory: shots + 2}}`` as the controller reports them.
        Otherwise ``dataValid`` is False, the buffer is unchanged and
        :meth:`removeInvalidDataFromBuffer` drops the damaged span (or nothing,
        when more bytes are needed to tell). ``Config`` and ``shots`` are those
        given to ``MPushStartFromConfig``, whose plan decides the layout.
        """
        decoder = self._decoder(ethernetController)
        plan = decoder.plan
        if shots != plan.shots and not self._shots_warned:
            self._shots_warned = True
            log.warning("parseDataFromBuffer(shots=%s): MPUSH was started with %d shots; "
                        "the frames follow the started plan", shots, plan.shots)
        buffer = ethernetController.pushBuffer
        event = _pushbuffer.head_event(buffer, decoder,
                                       end_of_stream=ethernetController.pushStreamEnded)
        if not isinstance(event, Frame):
            self.lastProblem = (event.reason if isinstance(event, Quarantined)
                                else f"incomplete: {len(buffer)} bytes buffered, a frame and "
                                     f"the head of the next need {plan.frame_length + 8}")
            stamp = decoder.timestamp(buffer) if len(buffer) >= 6 else 0
            return False, [], stamp, {}, {}
        decoded = decoder.decode(event.data)
        del buffer[:plan.frame_length]
        self.lastProblem = ""
        self.clippedBins = decoded.clipped_bins
        analogue: ShotDict = {}
        pc: ShotDict = {}
        for channel, true_shots in zip(plan.channels, decoded.shots):
            target = analogue if channel.analogue else pc
            target.setdefault(channel.recorder, {})[channel.memory] = (
                true_shots + SHOT_COUNTER_OFFSET)
        return True, list(decoded.profiles), decoded.timestamp_ms, analogue, pc

    def _decoder(self, ethernetController: EthernetController) -> FrameDecoder:  # noqa: N803
        decoder = getattr(ethernetController, "decoder", None)
        if decoder is None:
            raise RuntimeError("MPUSH has not been started: call "
                               "ethernetController.MPushStartFromConfig(shots, ConfigInfo) first")
        self._source = ethernetController
        return decoder

    def removeInvalidDataFromBuffer(self, pushBuffer: bytearray) -> int:  # noqa: N802, N803
        """Drop the span of invalid data at the head of ``pushBuffer``; returns its length.

        The span ends where the framer confirmed the next frame start (a
        delimiter, consistent shot words and another delimiter one frame
        later), so an ``FF FF`` inside data words is skipped. Nothing is dropped
        when the buffer starts with a valid frame or more bytes are needed.
        Before MPUSH started (no plan known) the vendor's rule applies: drop up
        to the next ``FF FF``.
        """
        source = self._source
        decoder = source.decoder if source is not None else None
        if decoder is None:
            cut = _pushbuffer.fallback_cut(pushBuffer)
            del pushBuffer[:cut]
            return cut
        end = source is not None and pushBuffer is source.pushBuffer and source.pushStreamEnded
        event = _pushbuffer.head_event(pushBuffer, decoder, end_of_stream=end)
        if not isinstance(event, Quarantined):
            return 0
        length = len(event.data)
        del pushBuffer[:length]
        log.warning("dropped %d bytes of invalid push data: %s", length, event.reason)
        return length

    # ------------------------------------------------------------------ saving

    def savePushDataToFile(self, dataSets: list[np.ndarray], Config: Config,  # noqa: N802, N803
                           startTime: datetime, stopTime: datetime,  # noqa: N803
                           hardwareInfos: dict[int, Any], time_stamp: int,  # noqa: N803
                           analogue_shots: ShotDict, pc_shots: ShotDict, shots: int,
                           ACQUISPERFILE: int) -> Path:  # noqa: N803
        """Append one acquisition as a Licel record; returns the file written.

        Files go into the configuration's ``working_directory``
        (``measurementInfo['szOutPath']``); a Windows path on another system, an
        unset or an unusable directory falls back to the current directory with
        a warning. ``ACQUISPERFILE`` records go into one file; file names are
        the ``first_letter`` prefix and ``startTime``, never overwriting a file.
        """
        acquis = Config.require()
        plan = self._plan(acquis, hardwareInfos, shots)
        if len(dataSets) != len(plan.channels):
            raise ValueError(f"{len(dataSets)} data sets given, the MPUSH plan has "
                             f"{len(plan.channels)}: {[c.label for c in plan.channels]}")
        true_shots = []
        for channel in plan.channels:
            counts = analogue_shots if channel.analogue else pc_shots
            try:
                true_shots.append(int(counts[channel.recorder][channel.memory])
                                  - SHOT_COUNTER_OFFSET)
            except (KeyError, TypeError):
                raise ValueError(f"no shot count for {channel.label} in "
                                 f"{'analogue_shots' if channel.analogue else 'pc_shots'}"
                                 ) from None
        decoded = DecodedFrame(int(time_stamp), np.empty(0, dtype=np.uint16),
                               tuple(np.asarray(d) for d in dataSets),
                               (0,) * len(plan.channels), tuple(true_shots))
        record = self._record_builder(Config, acquis, plan).build(decoded, startTime, stopTime)
        writer = self._record_writer(Config, acquis, int(ACQUISPERFILE))
        path, index = writer.write(record)
        if index == 0:
            self._files.append(path)
        return path

    savePushDataToLicelFileFormat = savePushDataToFile
    """The name of :meth:`savePushDataToFile` in other vendor versions."""

    def _plan(self, acquis: AcquisConfig, hardwareInfos: dict[int, Any],  # noqa: N803
              shots: int) -> MPushPlan:
        source = self._source
        if source is not None and source.plan is not None:
            return source.plan
        hardware = {int(a): recorder_hardware(info) for a, info in hardwareInfos.items()}
        return make_plan(acquis, hardware, shots)

    def _prefix(self, config: Config, acquis: AcquisConfig) -> str:
        return str(config.measurementInfo.get("cFirstLetter") or acquis.global_info.first_letter)

    def _record_builder(self, config: Config, acquis: AcquisConfig,
                        plan: MPushPlan) -> RecordBuilder:
        prefix = self._prefix(config, acquis)
        builder = self._builder
        if (builder is None or builder.plan != plan or builder.prefix != prefix
                or self._builder_acquis is not acquis):
            builder = RecordBuilder(acquis, plan, prefix)
            self._builder, self._builder_acquis = builder, acquis
        return builder

    def _record_writer(self, config: Config, acquis: AcquisConfig,
                       per_file: int) -> RecordWriter:
        wanted = str(config.measurementInfo.get("szOutPath")
                     or acquis.global_info.working_directory or "")
        prefix = self._prefix(config, acquis)
        key = (wanted, prefix, per_file)
        if self._writer is not None and self._writer_key == key:
            return self._writer
        self.close()
        writer = self._open_writer(wanted, prefix, per_file)
        self._writer, self._writer_key = writer, key
        self._finalizer = weakref.finalize(self, writer.close)
        return writer

    def _open_writer(self, wanted: str, prefix: str, per_file: int) -> RecordWriter:
        here = Path.cwd()
        if not wanted:
            log.warning("the configuration sets no working_directory; writing data files "
                        "into the current directory %s", here)
            return RecordWriter(here, prefix, records_per_file=per_file, sync_interval=0.0)
        if is_foreign_path(wanted):
            log.warning("working_directory %r is a Windows path, not usable on this system; "
                        "writing data files into the current directory %s", wanted, here)
            return RecordWriter(here, prefix, records_per_file=per_file, sync_interval=0.0)
        directory = (here / Path(wanted).expanduser()).resolve()
        try:
            return RecordWriter(directory, prefix, records_per_file=per_file, sync_interval=0.0)
        except OutputError as exc:
            log.warning("%s; writing data files into the current directory %s",
                        exc.message, here)
            return RecordWriter(here, prefix, records_per_file=per_file, sync_interval=0.0)

    @property
    def files(self) -> list[Path]:
        """Data files created so far, in order (the most recent ones, bounded)."""
        return list(self._files)

    def close(self) -> None:
        """Close the current data file (idempotent); the next save starts a new file."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._writer = None
        self._writer_key = None

    def __enter__(self) -> DataParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ logging

    def pushDataLog(self, logFilePath: str | os.PathLike[str], pushBuffer: Any,  # noqa: N802, N803
                    Idn: str, controllerTimeMs: Any, ConfigInfo: Config) -> None:  # noqa: N803
        """Append a human-readable entry about invalid push data to ``logFilePath``.

        The entry names the local time, the controller's IDN and ms timer, the
        buffer length, the expected length (one frame), the invalid span and
        why it is invalid, and its first bytes in hex. ``pushBuffer`` may also
        be the controller (older vendor signature).
        """
        buffer = getattr(pushBuffer, "pushBuffer", pushBuffer)
        source = self._source
        expected = source.BufferSize if source is not None else 0
        span, reason = len(buffer), self.lastProblem or "unknown"
        decoder = source.decoder if source is not None else None
        if decoder is not None:
            end = buffer is source.pushBuffer and source.pushStreamEnded  # type: ignore[union-attr]
            event = _pushbuffer.head_event(buffer, decoder, end_of_stream=end)
            if isinstance(event, Quarantined):
                span, reason = len(event.data), event.reason
        millis = str(controllerTimeMs).strip()
        if millis.upper().startswith("MILLISEC"):
            millis = millis.split(None, 1)[1] if " " in millis else ""
        path = getattr(ConfigInfo, "acquisIniConfigPath", None)
        text = format_entry(datetime.now().isoformat(timespec="milliseconds"), [
            ("controller IDN", str(Idn).strip()), ("controller time", f"{millis} ms"),
            ("buffer length", f"{len(buffer)} bytes"),
            ("expected length", f"{expected} bytes (one frame)"),
            ("invalid span", f"{span} bytes: {reason}"), ("configuration", str(path)),
            ("first bytes", head_hex(buffer))], width=18)
        try:
            append_entry(logFilePath, text)
        except OutputError as exc:
            raise OSError(exc.message) from exc

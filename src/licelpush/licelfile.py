"""Licel raw data files: data model, header encoding, tolerant record parsing.

Follows ``docs/spec/LICEL_FILE_FORMAT.md``. This module is pure: it turns
records into bytes and bytes into records; :func:`read_records` is the only
function that opens a file. The durable writer lives in
:mod:`licelpush.filewriter`.

What is written (section "Record layout"): CRLF line ends, every header line
starts with a space and is padded with spaces to 78 characters like the
vendor's Windows software, long coordinates (``%011.6f``), azimuth on line 2,
laser 3 on line 3, and only on request the controller timestamp
(``0000000 0000 <ms>`` at the end of line 3, which some readers refuse).

What is read: every record of a buffer, in the layout above, in the older
layout of real files (short coordinates, no azimuth, five fields on line 3,
extra fields on line 2) and in the vendor Python writer's LF variant (section
"Vendor Python writer deviations"). A truncated or damaged record raises
:class:`~licelpush.errors.DamagedFileError` with the byte offset and the field
that is wrong; nothing half-parsed is ever returned as data.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from licelpush.config import POLARISATION_LETTERS
from licelpush.errors import DamagedFileError
from licelpush.headerlimits import (
    ALTITUDE_RANGE_M,
    MAX_BIN_SHIFT,
    MAX_BIN_WIDTH_M,
    MAX_LASER_RATE_HZ,
    MAX_WAVELENGTH_NM,
)

log = logging.getLogger(__name__)

LINE_WIDTH = 78
"""Header lines are padded with spaces to this many characters before CRLF."""
POLARISATIONS = POLARISATION_LETTERS
"""Polarisation letters: none, parallel, crossed, right circular, left circular."""
SITE_WIDTH = 8
DATE_FORMAT = "%d/%m/%Y %H:%M:%S"
MAX_HEADER_LINE = 4096
"""A header line longer than this (without line end) is damage, not a header."""
MAX_DATASETS = 4096

_CRLF = b"\r\n"
_DATE_RE = re.compile(r"(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)")
_TOKEN_RE = re.compile(r"\S+")
_NON_BLANK = re.compile(rb"[^ \r\n]")
_NAME_RE = re.compile(
    r"^(?P<prefix>[A-Za-z]{1,2})(?P<yy>\d\d)(?P<month>[1-9A-Ca-c])(?P<dd>\d\d)(?P<hh>\d\d)"
    r"\.(?P<mm>\d\d)(?P<ss>\d\d)(?P<frac>\d{2,3})$"
)
_DATASET_FIELDS = (
    "active", "type", "laser", "bins", "constant 1", "PMT voltage", "bin width",
    "wavelength.polarisation", "reserved", "reserved", "bin shift",
    "bin shift thousandths", "ADC bits", "shots", "input range/discriminator", "device id",
)


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class DatasetHeader:
    """One dataset line (spec "Dataset lines")."""

    analogue: bool
    """T field: 0 analogue, 1 photon counting."""
    laser: int
    """Laser assignment 1..3."""
    bins: int
    """Number of int32 values that follow."""
    pmt_voltage: int
    """PMT high voltage, V."""
    bin_width_m: float
    """Bin width in m, already multiplied by the frequency divider."""
    wavelength_nm: int
    polarisation: str
    """One of ``o p s r l``."""
    bin_shift: float
    """Analogue only; 0 for photon counting."""
    adc_bits: int
    """Analogue; 0 for photon counting."""
    shots: int
    """True shot count."""
    input_range_mv: float
    """Analogue: 500, 100 or 20 (written in V: ``0.500``). 0 for photon counting."""
    discriminator_mv: float
    """Photon counting: see :func:`discriminator_mv`. 0 for analogue."""
    device_id: str
    """``BT0``, ``BC1``, ``BTA`` … (see :func:`device_id`)."""


@dataclass(frozen=True)
class RecordHeader:
    """Header lines 1–3 plus the dataset lines of one record."""

    name: str
    """Line 1: file name, e.g. ``b2651321.051986``."""
    site: str
    start: datetime
    """Naive datetime as it goes in the file (seconds resolution in the file)."""
    stop: datetime
    altitude_m: float
    longitude: float
    latitude: float
    zenith: float
    azimuth: float | None
    """``None``: older layout without azimuth."""
    laser_shots: tuple[int, int, int]
    laser_rates_hz: tuple[int, int, int]
    datasets: tuple[DatasetHeader, ...]
    timestamp_ms: int | None = None
    """Controller timestamp; written only when the layout option asks for it."""
    extra: str = ""
    """Unparsed extra text at the end of line 2 (custom info, extra fields)."""


@dataclass(frozen=True, eq=False)
class Record:
    """One acquisition: header plus one int32 array per dataset.

    ``eq=False``: records hold numpy arrays, compare their parts instead.
    """

    header: RecordHeader
    data: tuple[np.ndarray, ...]
    """int32 per dataset, ``len == dataset.bins``."""
    offset: int = 0
    """Byte offset of the record in its file (filled by the reader)."""
    length: int = 0
    """Byte length of the record in its file (filled by the reader)."""


# --------------------------------------------------------------------------- helpers


def file_name(prefix: str, when: datetime) -> str:
    """Licel file name (spec "Line 1"): prefix YY M DD HH . MM SS cc.

    ``M`` is the month as one hex digit (1–9, A–C), ``cc`` the centiseconds.
    """
    if not (1 <= len(prefix) <= 2 and prefix.isascii() and prefix.isalpha()):
        raise ValueError(f"file name prefix must be 1 or 2 letters, got {prefix!r}")
    return (
        f"{prefix}{when.year % 100:02d}{when.month:X}{when.day:02d}{when.hour:02d}."
        f"{when.minute:02d}{when.second:02d}{when.microsecond // 10000:02d}"
    )


def parse_file_name(name: str) -> tuple[str, datetime] | None:
    """Prefix and time of a Licel file name, or ``None`` if it is not one.

    Accepts 2 or 3 digits of fractional seconds (the vendor Python writer).
    Years are taken as 20YY.
    """
    m = _NAME_RE.match(name)
    if m is None:
        return None
    frac = m["frac"]
    micro = int(frac) * (10000 if len(frac) == 2 else 1000)
    try:
        when = datetime(
            2000 + int(m["yy"]), int(m["month"], 16), int(m["dd"]), int(m["hh"]),
            int(m["mm"]), int(m["ss"]), micro,
        )
    except ValueError:
        return None
    return m["prefix"], when


def discriminator_mv(level: int, damping_high: bool) -> float:
    """Photon-counting discriminator in mV: level × 25/63, or × 100/63 with damping high."""
    return level * (100.0 if damping_high else 25.0) / 63.0


def device_id(analogue: bool, recorder: int) -> str:
    """Dataset device id: ``BT``/``BC`` plus the transient recorder number in hex."""
    if recorder < 0:
        raise ValueError(f"transient recorder number must be >= 0, got {recorder}")
    return f"{'BT' if analogue else 'BC'}{recorder:X}"


def laser_shots_of(datasets: Sequence[DatasetHeader]) -> tuple[int, int, int]:
    """Per-laser shots for line 3: the (largest) true shot count of the datasets
    assigned to each laser, 0 for a laser no dataset uses."""
    shots = [0, 0, 0]
    for ds in datasets:
        if 1 <= ds.laser <= 3:
            shots[ds.laser - 1] = max(shots[ds.laser - 1], ds.shots)
    return shots[0], shots[1], shots[2]


def site_field(site: str) -> str:
    """The site as written: CR/LF removed, surrounding blanks dropped, blanks inside,
    ``/`` and characters outside printable ASCII replaced by ``_``, truncated or
    space-padded to 8. atmospheric-lidar finds the start date by the first ``/``;
    licelformat and linc split line 2 on blanks (docs/READERS.md)."""
    text = site.replace("\r", "").replace("\n", "").strip()[:SITE_WIDTH]
    text = "".join(c if " " < c <= "~" and c != "/" else "_" for c in text)
    return text.ljust(SITE_WIDTH)


# --------------------------------------------------------------------------- encoding


def _pad(text: str) -> bytes:
    return text.ljust(LINE_WIDTH).encode("ascii") + _CRLF


def _check_text(what: str, text: str) -> None:
    if not text.isascii() or "\r" in text or "\n" in text:
        raise ValueError(f"{what} must be ASCII without line breaks, got {text!r}")


def _dataset_line(ds: DatasetHeader) -> bytes:
    if ds.laser not in (1, 2, 3, 4):
        raise ValueError(f"{ds.device_id}: laser must be 1, 2, 3 or 4, got {ds.laser}")
    if ds.polarisation not in POLARISATIONS:
        raise ValueError(
            f"{ds.device_id}: polarisation must be one of {', '.join(POLARISATIONS)}, "
            f"got {ds.polarisation!r}"
        )
    for what, value in (("bins", ds.bins), ("shots", ds.shots), ("PMT voltage", ds.pmt_voltage),
                        ("wavelength", ds.wavelength_nm), ("ADC bits", ds.adc_bits)):
        if value < 0:
            raise ValueError(f"{ds.device_id}: {what} must be >= 0, got {value}")
    for what, value, high in (("wavelength", ds.wavelength_nm, MAX_WAVELENGTH_NM),
                              ("bin shift", ds.bin_shift, MAX_BIN_SHIFT),
                              ("bin width", ds.bin_width_m, MAX_BIN_WIDTH_M)):
        if not 0 <= value <= high:
            raise ValueError(f"{ds.device_id}: {what} must be 0 to {high:g}, got {value}")
    _check_text("device id", ds.device_id)
    if not ds.device_id or " " in ds.device_id:
        raise ValueError(f"device id must be one word, got {ds.device_id!r}")
    if ds.analogue:
        thousandths = round(ds.bin_shift * 1000)
        shift = f"{thousandths // 1000:02d} {thousandths % 1000:03d}"
        scale = f"{ds.input_range_mv / 1000:.3f}"
        adc = ds.adc_bits
    else:
        shift = "00 000"
        scale = f"{ds.discriminator_mv:6.4f}"
        adc = 0
    return _pad(
        f" 1 {0 if ds.analogue else 1} {ds.laser} {ds.bins:05d} 1 {ds.pmt_voltage:04d}"
        f" {ds.bin_width_m:.2f} {ds.wavelength_nm:05d}.{ds.polarisation} 0 0 {shift}"
        f" {adc:02d} {ds.shots:06d} {scale} {ds.device_id}"
    )


def _time_text(when: datetime) -> str:
    """``dd/mm/YYYY HH:MM:SS`` (line 2)."""
    return (f"{when.day:02d}/{when.month:02d}/{when.year:04d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}")


class HeaderEncoder:
    """Encodes record headers: the name line, line 2 (site and time), line 3
    (lasers), the dataset lines and the empty line (CRLF, padded).

    Consecutive records of one acquisition differ only in name and times, so
    the encoder keeps the parts that did not change from the previous header
    (line 2 without the times, line 3, the dataset lines) instead of
    formatting them again. With ``controller_timestamp`` line 3 ends in
    ``0000000 0000 <ms>`` (``timestamp_ms``, 0 when unknown).
    """

    def __init__(self, *, controller_timestamp: bool = False) -> None:
        self.controller_timestamp = controller_timestamp
        self._place_key: tuple[object, ...] | None = None
        self._place: tuple[str, str] = ("", "")
        self._lasers_key: tuple[object, ...] | None = None
        self._lasers = ""
        self._datasets: tuple[DatasetHeader, ...] | None = None
        self._dataset_lines = b""

    def encode(self, header: RecordHeader) -> bytes:
        """The header bytes of one record."""
        _check_text("record name", header.name)
        place_key = (header.site, header.altitude_m, header.longitude, header.latitude,
                     header.zenith, header.azimuth, header.extra)
        if place_key != self._place_key:
            self._place = _line2_parts(header)
            self._place_key = place_key
        before, after = self._place
        line2 = f"{before}{_time_text(header.start)} {_time_text(header.stop)}{after}"
        lasers_key = (header.laser_shots, header.laser_rates_hz, len(header.datasets))
        if lasers_key != self._lasers_key:
            (s1, s2, s3), (r1, r2, r3) = header.laser_shots, header.laser_rates_hz
            if not all(0 <= r <= MAX_LASER_RATE_HZ for r in header.laser_rates_hz):
                raise ValueError(f"laser rates must be 0 to {MAX_LASER_RATE_HZ:g} Hz, got "
                                 f"{header.laser_rates_hz}")
            self._lasers = (f" {s1:07d} {r1:04d} {s2:07d} {r2:04d} {len(header.datasets):02d}"
                            f" {s3:07d} {r3:04d}")
            self._lasers_key = lasers_key
        line3 = self._lasers
        if self.controller_timestamp:
            line3 += f" 0000000 0000 {header.timestamp_ms or 0:d}"
        if header.datasets != self._datasets:
            self._dataset_lines = b"".join([_dataset_line(ds) for ds in header.datasets]) + _CRLF
            self._datasets = header.datasets
        return b"".join((_pad(" " + header.name), _pad(line2), _pad(line3),
                         self._dataset_lines))


def _line2_parts(header: RecordHeader) -> tuple[str, str]:
    """Line 2 before and after the start and stop times."""
    _check_text("extra text of line 2", header.extra)
    low, high = ALTITUDE_RANGE_M
    if not low <= round(header.altitude_m) <= high:
        raise ValueError(f"altitude must be {low:g} to {high:g} m, got {header.altitude_m}")
    after = (f" {round(header.altitude_m):04d} {header.longitude:011.6f}"
             f" {header.latitude:011.6f} {header.zenith:04.1f}")
    if header.azimuth is not None:
        after += f" {header.azimuth:04.1f}"
    if header.extra:
        after += f" {header.extra}"
    return f" {site_field(header.site)} ", after


def encode_header(header: RecordHeader, *, controller_timestamp: bool = False) -> bytes:
    """Header lines, dataset lines and the empty line of one record (CRLF, padded);
    see :class:`HeaderEncoder`."""
    return HeaderEncoder(controller_timestamp=controller_timestamp).encode(header)


_INT32 = np.dtype("<i4")
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


def _data_buffer(ds: DatasetHeader, values: np.ndarray) -> memoryview:
    """The dataset's values as little-endian int32 bytes, without a copy when they
    already are a contiguous int32 array."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != ds.bins:
        raise ValueError(
            f"{ds.device_id}: data has shape {arr.shape}, header says {ds.bins} bins"
        )
    if arr.dtype != _INT32:
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{ds.device_id}: data must be integers, got {arr.dtype}")
        if arr.dtype.itemsize >= 4 and arr.size and (
            int(arr.min()) < _I32_MIN or int(arr.max()) > _I32_MAX
        ):
            raise ValueError(f"{ds.device_id}: data values outside the int32 range")
        arr = arr.astype(_INT32)
    return memoryview(np.ascontiguousarray(arr)).cast("B")


def record_buffers(record: Record, *, controller_timestamp: bool = False,
                   encoder: HeaderEncoder | None = None) -> list[bytes | memoryview]:
    """The record as a list of buffers whose concatenation is :func:`encode_record`.

    The data buffers are views of the record's arrays (no copy), so a writer can
    hand the whole record to the OS in one ``os.writev``. A writer passes its
    :class:`HeaderEncoder` (whose ``controller_timestamp`` then applies).
    """
    header = record.header
    if len(record.data) != len(header.datasets):
        raise ValueError(
            f"record {header.name}: {len(record.data)} data arrays for "
            f"{len(header.datasets)} dataset lines"
        )
    if encoder is None:
        encoder = HeaderEncoder(controller_timestamp=controller_timestamp)
    parts: list[bytes | memoryview] = [encoder.encode(header)]
    for ds, values in zip(header.datasets, record.data):
        parts.append(_data_buffer(ds, values))
        parts.append(_CRLF)
    return parts


def encode_record(record: Record, *, controller_timestamp: bool = False) -> bytes:
    """Complete bytes of one record: header (see :func:`encode_header`), then each
    dataset as little-endian int32 followed by CRLF."""
    return b"".join(record_buffers(record, controller_timestamp=controller_timestamp))


def replace_name(raw: bytes, name: str) -> bytes:
    """Record bytes with the name on line 1 replaced, everything else unchanged.

    Keeps the line's style: padded CRLF line with a leading space, or the
    unpadded LF line of the vendor Python writer.
    """
    _check_text("record name", name)
    end = raw.find(b"\n")
    if end < 0:
        raise ValueError("record bytes have no line 1")
    line = raw[: end + 1]
    lead = " " if line.startswith(b" ") else ""
    if line.endswith(_CRLF):
        body = lead + name
        new = (body.ljust(LINE_WIDTH) if len(line) - 2 >= LINE_WIDTH else body).encode() + _CRLF
    else:
        new = (lead + name).encode() + b"\n"
    return new + raw[end + 1 :]


# --------------------------------------------------------------------------- parsing


class _Cursor:
    """Reads one record's lines from a buffer; every error names source and offset."""

    def __init__(self, buf: bytes, pos: int, source: str) -> None:
        self.buf = buf
        self.pos = pos
        self.source = source

    def damaged(self, offset: int, reason: str) -> DamagedFileError:
        return DamagedFileError(self.source, offset, reason)

    def line(self, what: str) -> tuple[str, bytes, int]:
        """Next line as (text without line end, line end, offset of the line)."""
        start = self.pos
        end = self.buf.find(b"\n", start, start + MAX_HEADER_LINE + 2)
        if end < 0:
            if len(self.buf) - start <= MAX_HEADER_LINE + 1:
                raise self.damaged(start, f"{what}: truncated, no line end before end of file")
            raise self.damaged(start, f"{what}: no line end within {MAX_HEADER_LINE} bytes")
        if end > start and self.buf[end - 1] == 0x0D:
            text_end, eol = end - 1, _CRLF
        else:
            text_end, eol = end, b"\n"
        self.pos = end + 1
        return self.buf[start:text_end].decode("latin-1"), eol, start


def _number(cur: _Cursor, offset: int, what: str, token: str, kind: type) -> float | int:
    try:
        value = kind(token)
    except ValueError:
        value = None
    if value is None or (kind is float and not math.isfinite(value)):
        expected = "an integer" if kind is int else "a finite number"
        raise cur.damaged(offset, f"{what} is {token!r}, expected {expected}")
    return value


def _datetime(cur: _Cursor, offset: int, what: str, date: str, time: str) -> datetime:
    try:
        return datetime.strptime(f"{date} {time}", DATE_FORMAT)
    except ValueError:
        raise cur.damaged(
            offset, f"line 2: {what} {date} {time!r} is not a valid dd/mm/YYYY HH:MM:SS"
        ) from None


def _parse_line2(cur: _Cursor, text: str, offset: int) -> dict:
    if (len(text) >= 29 and text[0] == " " and text[9] == " "
            and _DATE_RE.fullmatch(text, 10, 29)):
        site, rest_at = text[1:9], 10
    else:
        m = _DATE_RE.search(text)
        if m is None:
            raise cur.damaged(offset, "line 2: no start time dd/mm/YYYY HH:MM:SS")
        prefix = text[: m.start()]
        site = prefix[1:] if prefix.startswith(" ") else prefix
        rest_at = m.start()
    tokens = [(m.start(), m.group()) for m in _TOKEN_RE.finditer(text, rest_at)]
    names = ("start date", "start time", "stop date", "stop time", "altitude",
             "longitude", "latitude", "zenith")
    if len(tokens) < len(names):
        missing = names[len(tokens)]
        raise cur.damaged(
            offset, f"line 2: {missing} missing (only {len(tokens)} fields after the site)"
        )
    values = [tok for _, tok in tokens]
    out: dict = {
        "site": site.rstrip(),
        "start": _datetime(cur, offset, "start", values[0], values[1]),
        "stop": _datetime(cur, offset, "stop", values[2], values[3]),
    }
    for key, i in (("altitude_m", 4), ("longitude", 5), ("latitude", 6), ("zenith", 7)):
        out[key] = _number(cur, offset + tokens[i][0], f"line 2: {names[i]}", values[i], float)
    azimuth = None
    extra_from = 8
    if len(tokens) > 8:
        try:
            azimuth = float(values[8])
            extra_from = 9
        except ValueError:
            azimuth = None
    out["azimuth"] = azimuth
    out["extra"] = text[tokens[extra_from][0]:].rstrip() if len(tokens) > extra_from else ""
    return out


def _parse_line3(cur: _Cursor, text: str, offset: int) -> dict:
    values = text.split()
    if len(values) not in (5, 7, 8, 9, 10):
        raise cur.damaged(
            offset, f"line 3: {len(values)} fields, expected 5, 7, 8, 9 or 10 "
            "(shots/rate of lasers 1 and 2, dataset count, laser 3, timestamp)"
        )
    names = ("laser 1 shots", "laser 1 rate", "laser 2 shots", "laser 2 rate",
             "dataset count", "laser 3 shots", "laser 3 rate")
    ints = [int(_number(cur, offset, f"line 3: {names[i]}", values[i], int))
            for i in range(min(len(values), 7))]
    if len(values) == 5:
        ints += [0, 0]
    timestamp = None
    if len(values) in (8, 10):
        timestamp = int(_number(cur, offset, "line 3: controller timestamp", values[-1], int))
    return {
        "laser_shots": (ints[0], ints[2], ints[5]),
        "laser_rates_hz": (ints[1], ints[3], ints[6]),
        "count": ints[4],
        "timestamp_ms": timestamp,
    }


def _parse_dataset_line(cur: _Cursor, text: str, offset: int, index: int) -> DatasetHeader:
    where = f"dataset line {index + 1}"
    values = text.split()
    if len(values) < len(_DATASET_FIELDS):
        raise cur.damaged(
            offset, f"{where}: {len(values)} fields, expected {len(_DATASET_FIELDS)} "
            f"(first missing: {_DATASET_FIELDS[len(values)]}): {text.strip()[:60]!r}"
        )

    def num(i: int, kind: type) -> float | int:
        return _number(cur, offset, f"{where}: field {i + 1} ({_DATASET_FIELDS[i]})",
                       values[i], kind)

    kind = values[1]
    if kind not in ("0", "1"):
        raise cur.damaged(offset, f"{where}: field 2 (type) is {kind!r}, expected 0 or 1")
    analogue = kind == "0"
    num(0, int)
    wl_text, _, pol = values[7].partition(".")
    if not pol or pol.isdigit():
        wl_text, pol = values[7], "o"
    elif not pol.isalpha():
        raise cur.damaged(
            offset, f"{where}: field 8 (wavelength.polarisation) is {values[7]!r}, "
            "expected e.g. 00532.p"
        )
    wavelength = round(float(_number(cur, offset, f"{where}: field 8 (wavelength)",
                                     wl_text, float)))
    bins = int(num(3, int))
    if bins < 0:
        raise cur.damaged(offset, f"{where}: field 4 (bins) is negative: {bins}")
    scale = float(num(14, float))
    if analogue:
        whole, thousandths = int(num(10, int)), int(num(11, int))
        if not 0 <= thousandths <= 999:
            raise cur.damaged(offset, f"{where}: field 12 (bin shift thousandths) is "
                              f"{thousandths}, expected 0..999")
        shift = float(f"{whole}.{thousandths:03d}")
        input_range, discr = round(scale * 1000, 6), 0.0
    else:
        num(10, int), num(11, int)
        shift, input_range, discr = 0.0, 0.0, scale
    return DatasetHeader(
        analogue=analogue,
        laser=int(num(2, int)),
        bins=bins,
        pmt_voltage=int(num(5, float)),
        bin_width_m=float(num(6, float)),
        wavelength_nm=wavelength,
        polarisation=pol,
        bin_shift=shift,
        adc_bits=int(num(12, int)),
        shots=int(num(13, int)),
        input_range_mv=input_range,
        discriminator_mv=discr,
        device_id=values[15],
    )


def _parse_record(buf: bytes, pos: int, source: str) -> Record:
    cur = _Cursor(buf, pos, source)
    text1, eol1, _ = cur.line("line 1 (file name)")
    lf_variant = eol1 != _CRLF
    name = text1.strip()
    if len(name.split()) != 1 or not name.isprintable():
        raise cur.damaged(pos, f"line 1 (file name) is {text1.strip()[:40]!r}, expected one "
                          "file name (bytes that are not a Licel record)")
    text2, _, off2 = cur.line("line 2 (site and time)")
    line2 = _parse_line2(cur, text2, off2)
    text3, _, off3 = cur.line("line 3 (lasers)")
    line3 = _parse_line3(cur, text3, off3)
    count = line3["count"]
    quirk = lf_variant and count == 1
    datasets: list[DatasetHeader] = []
    while True:
        text, _, off = cur.line(f"dataset line {len(datasets) + 1}"
                                if len(datasets) < count or quirk else "empty line")
        if not text.strip():
            break
        if len(datasets) >= count and not quirk:
            raise cur.damaged(
                off, f"expected the empty line after {count} dataset line(s) "
                f"(line 3 dataset count), found {text.strip()[:40]!r}"
            )
        if len(datasets) >= MAX_DATASETS:
            raise cur.damaged(off, f"more than {MAX_DATASETS} dataset lines")
        datasets.append(_parse_dataset_line(cur, text, off, len(datasets)))
    if len(datasets) < count:
        raise cur.damaged(
            off, f"line 3 announces {count} datasets, found {len(datasets)} dataset line(s) "
            "before the empty line"
        )
    if quirk and len(datasets) != 1:
        log.debug("%s: record at byte %d: dataset count 01 with %d dataset lines "
                  "(vendor Python writer quirk)", source, pos, len(datasets))
    data: list[np.ndarray] = []
    for i, ds in enumerate(datasets):
        at = cur.pos
        need = ds.bins * 4
        what = (f"dataset {i + 1} of {len(datasets)} "
                f"({ds.device_id} {ds.wavelength_nm}.{ds.polarisation})")
        if at + need > len(buf):
            raise cur.damaged(
                at, f"{what}: {ds.bins} int32 values need {need} bytes, only "
                f"{len(buf) - at} left (truncated)"
            )
        data.append(np.frombuffer(buf, dtype=_INT32, count=ds.bins, offset=at))
        end = at + need
        tail = buf[end:end + 2]
        if tail == _CRLF:
            cur.pos = end + 2
        elif lf_variant and tail[:1] == b"\n":
            cur.pos = end + 1
        elif len(tail) < 2 and _CRLF.startswith(tail):
            raise cur.damaged(end, f"{what}: truncated, CRLF after the data missing")
        else:
            raise cur.damaged(
                end, f"{what}: expected CRLF after {ds.bins} values, found {bytes(tail)!r} "
                "(bins field does not match the data)"
            )
    header = RecordHeader(
        name=name,
        site=line2["site"],
        start=line2["start"],
        stop=line2["stop"],
        altitude_m=line2["altitude_m"],
        longitude=line2["longitude"],
        latitude=line2["latitude"],
        zenith=line2["zenith"],
        azimuth=line2["azimuth"],
        laser_shots=line3["laser_shots"],
        laser_rates_hz=line3["laser_rates_hz"],
        datasets=tuple(datasets),
        timestamp_ms=line3["timestamp_ms"],
        extra=line2["extra"],
    )
    return Record(header=header, data=tuple(data), offset=pos, length=cur.pos - pos)


def parse_header(buf: bytes | memoryview, source: str = "<buffer>") -> RecordHeader:
    """Header of the first record of ``buf`` (the buffer must hold the whole record)."""
    return parse_records(buf, source)[0].header


def scan_records(
    buf: bytes | memoryview, source: str = "<buffer>"
) -> tuple[list[Record], DamagedFileError | None]:
    """Every intact record of ``buf`` up to the first damage, and that damage (or None).

    Blank bytes (spaces, CR, LF) after the last record are accepted. An empty
    buffer is damage (no record); so is anything between two records. ``buf``
    may be any buffer with ``find`` and slicing (``bytes``, a read-only
    ``mmap``, which keeps the memory used bounded whatever the file's size);
    a ``memoryview`` is copied.
    """
    data = bytes(buf) if isinstance(buf, memoryview) else buf
    records: list[Record] = []
    pos = 0
    while pos < len(data):
        if _NON_BLANK.search(data, pos) is None:
            break
        try:
            record = _parse_record(data, pos, source)
        except DamagedFileError as exc:
            return records, exc
        records.append(record)
        pos += record.length
    if not records:
        return records, DamagedFileError(source, 0, "no Licel record (empty file)")
    return records, None


def parse_records(buf: bytes | memoryview, source: str = "<buffer>") -> list[Record]:
    """All records of ``buf``; raises DamagedFileError at the first damage.

    Data arrays are read-only int32 views on the buffer; each record carries
    its byte ``offset`` and ``length``.
    """
    records, error = scan_records(buf, source)
    if error is not None:
        raise error
    return records


def read_records(path: str | Path) -> list[Record]:
    """All records of the Licel file at ``path`` (see :func:`parse_records`)."""
    p = Path(path)
    return parse_records(p.read_bytes(), str(p))


def next_name(name: str, step: timedelta = timedelta(milliseconds=10)) -> str | None:
    """The Licel file name ``step`` later than ``name``, or None if ``name`` is not
    a Licel file name (used to find a free name when files would collide)."""
    parsed = parse_file_name(name)
    if parsed is None:
        return None
    prefix, when = parsed
    return file_name(prefix, when + step)

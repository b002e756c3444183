"""CF-1.8 netCDF files of Licel records, streamed with bounded memory.

One file holds the records of a run, a day or any period, in the order they
are given (:class:`licelpush.datafiles.RecordStream`). Layout:

- ``time`` (unlimited): record start, ``seconds since 1970-01-01 00:00:00``
  (UTC), with ``time_bnds`` = (start, stop) from the Licel headers;
- one range axis per bin width, ``range_<width>m`` (e.g. ``range_7.5m``),
  coordinate in m: the centre of bin ``i``, ``(i + 1/2) × width``, bin 0
  first (an analogue channel's bin shift, an attribute, is not applied). Its
  length is the most bins of a channel with that width; channels with fewer
  bins are padded with the fill value, which reads as masked (xarray: NaN);
- per channel (named ``tr<recorder>_<memory>_<an|pc>``, e.g. ``tr0_A_an``):
  ``<ch>_raw`` (time, range) int32, the raw sums exactly as in the Licel file;
  ``<ch>`` (time, range) float32, the physical value (analogue mV, photon
  counting MHz, :mod:`licelpush.physical`); ``<ch>_shots`` (time);
  ``<ch>_clipped_bins`` (time, from the acquisition journal; fill where no
  journal names the record); ``<ch>_full_scale_bins`` (time, analogue bins at
  full scale in every shot, from the data). The channel's wavelength,
  polarisation, detection mode, recorder, memory, device id, laser, PMT
  voltage, input range or discriminator, bin width, bin shift and ADC bits
  are attributes of both data variables (those of the first record; a later
  change is logged);
- station: ``latitude``, ``longitude``, ``altitude`` (first record),
  ``zenith_angle`` and ``azimuth_angle`` per record;
- trace to the frame: ``source_file``, ``source_record``, and from the
  journal ``run``, ``connection``, ``crc32`` (CRC-32 of the frame).

Global attribute ``Conventions = "CF-1.8"``. Data variables are compressed
(:data:`COMPRESSIONS`: blosc-lz4 by default, zstd or zlib; with shuffle) in
chunks of :data:`BLOCK` records; records are buffered :data:`BLOCK` at a time
and each full chunk goes straight to the file (a small chunk cache), so memory
does not grow with the number of records. The file is written as ``OUT.part``
and renamed when complete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from licelpush import __version__
from licelpush.channelkey import ChannelKey, Memories, channel_keys
from licelpush.datafiles import SourceRecord
from licelpush.errors import LicelpushError, OutputError
from licelpush.licelfile import DatasetHeader
from licelpush.netcdflib import PartFile
from licelpush.physical import dataset_signal, range_axis, saturated_bins

log = logging.getLogger(__name__)

BLOCK = 64
"""Records buffered before they are written; also the chunk length along time."""
COMPRESSIONS: dict[str, dict[str, Any]] = {
    "blosc_lz4": {"compression": "blosc_lz4", "complevel": 1, "blosc_shuffle": 1},
    "zstd": {"compression": "zstd", "complevel": 1, "shuffle": True},
    "zlib": {"compression": "zlib", "complevel": 1, "shuffle": True},
}
"""Compressions of the data variables. ``blosc_lz4`` and ``zstd`` are read by netCDF-C
>= 4.9 with its filter plugins, which the netCDF4 wheels (and so xarray) include; with
lidar profiles on a two-core machine ``blosc_lz4`` took about half the CPU time of
``zstd`` (output 0.9 x and 1.2 x the input, raw and physical values together) and
``zlib`` (DEFLATE, read by every netCDF-4 reader) five times more. The blosc filter
fails on a chunk it cannot compress (e.g. noise over the full int32 range):
:class:`CompressionError`."""


class CompressionError(OutputError):
    """The netCDF library could not write a block with the chosen compression."""
_EPOCH = datetime(1970, 1, 1)
_INT_FILL = -2147483647
_POLARISATIONS = {"o": "none", "p": "parallel", "s": "crossed", "r": "right circular",
                  "l": "left circular"}


def range_dim(width_m: float) -> str:
    """Name of the range axis of a bin width: ``range_7.5m``, ``range_3.75m``."""
    return f"range_{width_m:g}m"


def channel_attributes(key: ChannelKey, ds: DatasetHeader) -> dict[str, Any]:
    """The per-channel metadata written as attributes of its data variables."""
    attrs: dict[str, Any] = {
        "wavelength_nm": ds.wavelength_nm,
        "polarisation": _POLARISATIONS.get(ds.polarisation, ds.polarisation),
        "detection_mode": "analogue" if ds.analogue else "photon counting",
        "recorder": key.recorder, "memory": key.memory, "device_id": ds.device_id,
        "laser": ds.laser, "pmt_voltage_V": ds.pmt_voltage, "bin_width_m": ds.bin_width_m,
        "bin_shift": ds.bin_shift, "adc_bits": ds.adc_bits,
    }
    if ds.analogue:
        attrs["input_range_mV"] = ds.input_range_mv
    else:
        attrs["discriminator_mV"] = ds.discriminator_mv
    return attrs


@dataclass
class _Buffers:
    """One block of a channel's values, filled record by record."""

    raw: np.ndarray
    phys: np.ndarray
    shots: np.ndarray
    clipped: np.ndarray
    full_scale: np.ndarray

    @classmethod
    def empty(cls, length: int) -> _Buffers:
        return cls(np.full((BLOCK, length), _INT_FILL, np.int32),
                   np.full((BLOCK, length), np.nan, np.float32),
                   *(np.full(BLOCK, _INT_FILL, np.int32) for _ in range(3)))

    def clear(self, n: int) -> None:
        """Back to the fill value in the first ``n`` rows."""
        for buf in (self.raw, self.shots, self.clipped, self.full_scale):
            buf[:n] = _INT_FILL
        self.phys[:n] = np.nan


@dataclass
class _Channel:
    key: ChannelKey
    dim: str
    length: int
    meta: dict[str, Any]
    buf: _Buffers
    """The block being filled."""
    spare: _Buffers
    """The block being written by the writer thread (or free)."""
    changed: bool = False


@dataclass
class _Rows:
    """Per-record values of the current block."""

    time: list[list[float]] = field(default_factory=list)
    zenith: list[float] = field(default_factory=list)
    azimuth: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)


class CfWriter(PartFile):
    """Streams records into one CF netCDF file; use ``with`` or :meth:`close`."""

    def __init__(self, out: str | Path, memories: Memories | None = None,
                 compression: str = "blosc_lz4") -> None:
        super().__init__(out)
        if compression not in COMPRESSIONS:
            raise LicelpushError(f"compression {compression!r}: expected one of "
                                 f"{', '.join(COMPRESSIONS)}")
        self.compression = COMPRESSIONS[compression]
        self.memories = memories
        self.channels: dict[ChannelKey, _Channel] = {}
        # one block is written (and compressed by the library, outside the GIL) while
        # the next is read and converted; the file is only touched by one thread at a time
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfnetcdf")
        self._pending: Future[None] | None = None
        self.rows = 0
        self._block = _Rows()
        self._keys: tuple[tuple[DatasetHeader, ...] | None, list[ChannelKey | None]] = (None, [])

    def write_all(self, records: Iterable[SourceRecord]) -> int:
        """Append every record; returns the number of records written so far."""
        for item in records:
            self.append(item)
        return self.rows + len(self._block.time)

    # ------------------------------------------------------------------ structure

    def _open(self, item: SourceRecord) -> None:
        nc = self.create()
        h = item.record.header
        nc.setncatts({
            "Conventions": "CF-1.8",
            "title": f"Lidar raw signals of {h.site or 'the station'}",
            "source": f"Licel transient recorders, Licel raw data files; licelpush {__version__}",
            "site": h.site,
            "comment": "Raw sums per channel (<channel>_raw) and physical values "
                       "(<channel>: analogue mV, photon counting MHz); one range axis per "
                       "bin width, shorter channels padded with the fill value.",
        })
        nc.createDimension("time", None)
        nc.createDimension("nv", 2)
        t = nc.createVariable("time", "f8", ("time",))
        t.setncatts({"standard_name": "time", "long_name": "start of the acquisition",
                     "units": "seconds since 1970-01-01 00:00:00", "calendar": "standard",
                     "bounds": "time_bnds", "comment": "UTC, from the Licel file headers"})
        nc.createVariable("time_bnds", "f8", ("time", "nv"))
        for name, std, units in (("latitude", "latitude", "degrees_north"),
                                 ("longitude", "longitude", "degrees_east"),
                                 ("altitude", "altitude", "m")):
            v = nc.createVariable(name, "f8")
            v.setncatts({"standard_name": std, "units": units})
        nc["latitude"][...] = h.latitude
        nc["longitude"][...] = h.longitude
        nc["altitude"][...] = h.altitude_m
        self._per_record_variables()

    def _per_record_variables(self) -> None:
        nc = self.nc
        for name, kind, attrs in (
            ("zenith_angle", "f8", {"standard_name": "sensor_zenith_angle", "units": "degree"}),
            ("azimuth_angle", "f8", {"standard_name": "sensor_azimuth_angle",
                                     "units": "degree"}),
            ("source_file", str, {"long_name": "Licel file holding the record"}),
            ("source_record", "i4", {"long_name": "index of the record in its file"}),
            ("run", str, {"long_name": "acquisition run id (journal)"}),
            ("connection", "i4", {"long_name": "push connection number (journal)"}),
            ("crc32", "i8", {"long_name": "CRC-32 of the MPUSH frame (journal)"}),
        ):
            fill = {"fill_value": _INT_FILL} if kind in ("i4", "i8") else {}
            nc.createVariable(name, kind, ("time",), **fill).setncatts(attrs)

    def _add_channel(self, key: ChannelKey, ds: DatasetHeader) -> _Channel:
        self._wait()
        nc, dim = self.nc, range_dim(ds.bin_width_m)
        if dim not in nc.dimensions:
            nc.createDimension(dim, ds.bins)
            axis = nc.createVariable(dim, "f8", (dim,))
            axis.setncatts({"long_name": "range of the centre of the bin", "units": "m",
                            "comment": "bin i is centred at (i + 1/2) x bin width; an analogue "
                            "channel's range is this minus its bin_shift x bin width"})
            axis[:] = range_axis(ds.bins, ds.bin_width_m)
        length = len(nc.dimensions[dim])
        if ds.bins > length:
            raise LicelpushError(f"{key.label}: {ds.bins} bins, more than the {length} of the "
                                 f"{dim} axis set by the first record; export the periods "
                                 "before and after the change separately (--from/--to)")
        meta = channel_attributes(key, ds)
        chunks = (BLOCK, length)
        raw = nc.createVariable(f"{key.name}_raw", "i4", ("time", dim), fill_value=_INT_FILL,
                                chunksizes=chunks, **self.compression)
        raw.setncatts({**meta, "long_name": f"{key.label}: raw sum over the shots",
                       "units": "1"})
        phys = nc.createVariable(key.name, "f4", ("time", dim), fill_value=np.float32(np.nan),
                                 chunksizes=chunks, **self.compression)
        phys.setncatts({**meta, "long_name": f"{key.label}: mean signal per shot",
                        "units": dataset_signal(ds, np.zeros(1, np.int32))[1]})
        for suffix, long_name in (("shots", "laser shots summed"),
                                  ("clipped_bins", "bins flagged as clipped (journal)"),
                                  ("full_scale_bins", "analogue bins at full scale in every "
                                   "shot (from the data)")):
            nc.createVariable(f"{key.name}_{suffix}", "i4", ("time",),
                              fill_value=_INT_FILL).setncatts({"long_name": long_name})
        channel = _Channel(key, dim, length, meta, _Buffers.empty(length),
                           _Buffers.empty(length))
        self.channels[key] = channel
        return channel

    # ------------------------------------------------------------------ data

    def _channel_keys(self, datasets: tuple[DatasetHeader, ...]) -> list[ChannelKey | None]:
        if self._keys[0] != datasets:  # same layout as the record before: same keys
            self._keys = (datasets, channel_keys(datasets, self.memories))
        return self._keys[1]

    def append(self, item: SourceRecord) -> None:
        """Buffer one record; a full block is written to the file."""
        if self.nc is None:
            self._open(item)
        header, data = item.record.header, item.record.data
        row = len(self._block.time)
        clipped = item.trace.clipped
        for i, key in enumerate(self._channel_keys(header.datasets)):
            if key is None:
                log.warning("%s record %d: dataset %d (%s) names no recorder memory, skipped",
                            item.path, item.index, i + 1, header.datasets[i].device_id)
                continue
            ds = header.datasets[i]
            channel = self.channels.get(key) or self._add_channel(key, ds)
            self._check_meta(channel, ds, item)
            buf = channel.buf
            buf.raw[row, :ds.bins] = data[i]
            buf.phys[row, :ds.bins] = dataset_signal(ds, data[i])[0]
            if ds.analogue:
                buf.full_scale[row] = np.count_nonzero(
                    saturated_bins(data[i], ds.shots, ds.adc_bits))
            buf.shots[row] = ds.shots
            if item.trace.run is not None:
                buf.clipped[row] = clipped[i] if clipped and i < len(clipped) else 0
        self._note_record(item)
        if len(self._block.time) == BLOCK:
            self._flush()

    def _check_meta(self, channel: _Channel, ds: DatasetHeader, item: SourceRecord) -> None:
        if channel.changed or ds.bins <= channel.length and (
                channel_attributes(channel.key, ds) == channel.meta):
            return
        if ds.bins > channel.length:
            raise LicelpushError(f"{item.path} record {item.index}: {channel.key.label} has "
                                 f"{ds.bins} bins, the file's {channel.dim} axis "
                                 f"{channel.length}; export the periods separately "
                                 "(--from/--to)")
        channel.changed = True
        log.warning("%s record %d: %s settings differ from the first record's; the file's "
                    "attributes give the first", item.path, item.index, channel.key.label)

    def _note_record(self, item: SourceRecord) -> None:
        h, b, trace = item.record.header, self._block, item.trace
        b.time.append([(h.start - _EPOCH).total_seconds(), (h.stop - _EPOCH).total_seconds()])
        b.zenith.append(h.zenith)
        b.azimuth.append(np.nan if h.azimuth is None else h.azimuth)
        b.files.append(item.path.name)
        b.records.append(item.index)
        b.runs.append(trace.run or "")
        b.connections.append(_INT_FILL if trace.connection is None else trace.connection)
        b.crcs.append(_INT_FILL if trace.crc32 is None else trace.crc32)

    def _flush(self) -> None:
        """Hand the buffered block to the writer thread (after the previous block is
        written) and fill the other set of buffers next."""
        b = self._block
        n = len(b.time)
        if n == 0:
            return
        rows = slice(self.rows, self.rows + n)
        times = np.asarray(b.time)
        writes: list[tuple[str, Any, np.ndarray]] = [
            ("time", rows, times[:, 0]), ("time_bnds", rows, times)]
        writes += [(name, rows, np.asarray(values)) for name, values in (
            ("zenith_angle", b.zenith), ("azimuth_angle", b.azimuth),
            ("source_record", b.records), ("connection", b.connections), ("crc32", b.crcs))]
        writes += [(name, rows, np.asarray(texts, dtype=object))
                   for name, texts in (("source_file", b.files), ("run", b.runs))]
        for ch in self.channels.values():
            name, buf = ch.key.name, ch.buf
            writes += [(f"{name}_raw", rows, buf.raw[:n]), (name, rows, buf.phys[:n]),
                       (f"{name}_shots", rows, buf.shots[:n]),
                       (f"{name}_clipped_bins", rows, buf.clipped[:n]),
                       (f"{name}_full_scale_bins", rows, buf.full_scale[:n])]
        self._wait()  # the previous block is written: the spare buffers are free
        self._pending = self._executor.submit(self._write, writes)
        for ch in self.channels.values():
            ch.buf, ch.spare = ch.spare, ch.buf
            ch.buf.clear(BLOCK)
        self.rows += n
        self._block = _Rows()

    def _write(self, writes: list[tuple[str, Any, np.ndarray]]) -> None:
        """Write one block (in the writer thread; the library compresses there)."""
        nc = self.nc
        for name, index, values in writes:
            nc[name][index] = values

    def _wait(self) -> None:
        """Wait until the block in flight is written (its error is raised here)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except RuntimeError as exc:  # netCDF4 reports HDF5 filter failures so
            raise self.library_error(exc) from None

    def library_error(self, exc: RuntimeError) -> OutputError:
        """A failed write: with a blosc filter, most likely data it cannot compress."""
        return CompressionError(
            f"{self.out}: writing with {self.compression['compression']} compression failed "
            f"({exc}); try --compression zstd")

    def finish(self) -> None:
        """Write the last, partly filled block and the list of channels."""
        self._flush()
        self._wait()
        self._executor.shutdown()
        self.nc.setncattr("channels", " ".join(k.name for k in self.channels))

    def abort(self) -> None:
        """Stop the writer thread, then drop the unfinished file."""
        try:
            self._wait()
        except Exception:  # noqa: BLE001 - the file is dropped; the first error is reported
            log.debug("writing %s failed", self.part, exc_info=True)
        self._executor.shutdown()
        super().abort()

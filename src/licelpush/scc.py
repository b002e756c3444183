"""SCC raw-data netCDF files from Licel records (the ACTRIS/EARLINET Single Calculus Chain).

Layout (SCC documentation, "The SCC input netCDF file format"): dimensions
``time`` (unlimited), ``channels``, ``points``, ``nb_of_time_scales`` and
``scan_angles`` (and ``time_bck`` with dark measurements); global attributes
``Measurement_ID``, ``RawData_Start_Date`` (``YYYYMMDD``),
``RawData_Start_Time_UT`` and ``RawData_Stop_Time_UT`` (``HHMMSS``),
``RawBck_*`` for the dark measurement, ``Location``, ``System``,
``Latitude_degrees_north``, ``Longitude_degrees_east``,
``Altitude_meter_asl``; variables ``channel_ID``, ``id_timescale``,
``Raw_Lidar_Data`` (time, channels, points), ``Laser_Shots`` (time, channels),
``Raw_Data_Start_Time``/``Raw_Data_Stop_Time`` (time, nb_of_time_scales;
seconds after the start attributes), ``Laser_Pointing_Angle`` (scan_angles,
degrees from zenith), ``Laser_Pointing_Angle_of_Profiles``, ``DAQ_Range``
(analogue input range, mV), ``Molecular_Calc``, and with the standard
atmosphere ``Pressure_at_Lidar_Station`` (hPa) and
``Temperature_at_Lidar_Station`` (degrees C); ``Background_Profile``,
``Raw_Bck_Start_Time``/``Raw_Bck_Stop_Time`` from dark measurements.

Values: ``Raw_Lidar_Data`` and ``Background_Profile`` hold for analogue
channels the mean signal per shot in mV (:func:`licelpush.physical.analogue_millivolts`)
and for photon-counting channels the summed counts of the profile (what the
SCC expects with ``Laser_Shots``);
shorter channels are padded with the fill value. All channels of a record
share one time scale. Times are the header times of the Licel files (UTC).
Records stream into the file; it is written as ``OUT.part`` and renamed when
complete, so a failed export leaves no half file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from licelpush.channelkey import ChannelKey, Memories, channel_keys
from licelpush.datafiles import SourceRecord
from licelpush.errors import LicelpushError
from licelpush.licelfile import DatasetHeader
from licelpush.netcdflib import PartFile
from licelpush.physical import analogue_millivolts
from licelpush.sccmap import ChannelMap

log = logging.getLogger(__name__)

MEASUREMENT_ID_RE = re.compile(r"^(\d{8})[a-z0-9]{2,3}\d{2}$")


def check_measurement_id(text: str) -> str:
    """``text`` if it is an SCC measurement id (date, call sign, two digits)."""
    m = MEASUREMENT_ID_RE.match(text)
    ok = m is not None
    if m is not None:
        try:
            datetime.strptime(m[1], "%Y%m%d")
        except ValueError:
            ok = False
    if not ok:
        raise LicelpushError(f"--measurement-id {text!r}: expected YYYYMMDD, the station's "
                             "call sign (2-3 lower-case letters) and two digits, e.g. "
                             "20261130lei01")
    return text


@dataclass(frozen=True)
class Atmosphere:
    """Station pressure (hPa) and temperature (degrees C) for the standard atmosphere."""

    pressure_hpa: float
    temperature_c: float


def scc_values(ds: DatasetHeader, raw: np.ndarray) -> np.ndarray:
    """One profile as the SCC takes it: analogue mean per shot in mV, photon counts summed."""
    if ds.analogue:
        return analogue_millivolts(raw, ds.shots, ds.input_range_mv, ds.adc_bits)
    return np.asarray(raw, dtype=np.float64)


@dataclass
class _Block:
    """One of the two time series of an SCC file: the measurement or the dark one."""

    data_var: str
    time_dim: str
    start_var: str
    stop_var: str
    t0: datetime | None = None
    t1: datetime | None = None
    rows: int = 0
    keys_cache: dict[tuple[DatasetHeader, ...], list[int]] = field(default_factory=dict)
    """Mapped dataset indices of the last dataset layout seen."""


class SccWriter(PartFile):
    """Streams records into an SCC raw-data file; use :meth:`close` or ``with``."""

    def __init__(self, out: Path, channel_map: ChannelMap, measurement_id: str,
                 atmosphere: Atmosphere | None, memories: Memories | None = None) -> None:
        if channel_map.molecular_calc == 0 and atmosphere is None:
            raise LicelpushError("the standard atmosphere (molecular_calc = 0 in the channel "
                                 "map) needs --pressure and --temperature at the station")
        super().__init__(out)
        self.map = channel_map
        self.memories = memories
        self.atmosphere = atmosphere
        self.measurement_id = measurement_id
        self.points = 0
        self.bins: list[int] = []
        self.angles: list[float] = []
        self._site = ""
        self._place: tuple[float, float, float] | None = None
        self.main = _Block("Raw_Lidar_Data", "time", "Raw_Data_Start_Time", "Raw_Data_Stop_Time")
        self.dark = _Block("Background_Profile", "time_bck", "Raw_Bck_Start_Time",
                           "Raw_Bck_Stop_Time")

    def write_all(self, records: Iterable[SourceRecord], *, dark: bool = False) -> int:
        """Append every record (to the dark series when ``dark``); returns the count."""
        block = self.dark if dark else self.main
        for item in records:
            self._append(block, item)
        return block.rows

    def _open(self, item: SourceRecord, indices: list[int]) -> None:
        datasets = item.record.header.datasets
        self.bins = [datasets[i].bins for i in indices]
        self.points = max(self.bins)
        nc = self.create()
        for name, size in (("points", self.points), ("channels", len(indices)),
                           ("time", None), ("nb_of_time_scales", 1)):
            nc.createDimension(name, size)
        nc.createVariable("channel_ID", "i4", ("channels",))[:] = [
            scc_id for _, scc_id in self.map.channels]
        nc.createVariable("id_timescale", "i4", ("channels",))[:] = 0
        daq = nc.createVariable("DAQ_Range", "f8", ("channels",))
        daq[:] = np.ma.masked_array(
            [datasets[i].input_range_mv for i in indices],
            mask=[not datasets[i].analogue for i in indices])
        self._series_variables(self.main, item.record.header.datasets)
        nc.createVariable("Laser_Shots", "i4", ("time", "channels"))
        nc.createVariable("Laser_Pointing_Angle_of_Profiles", "i4",
                          ("time", "nb_of_time_scales"))

    def _series_variables(self, block: _Block, datasets: tuple[DatasetHeader, ...]) -> None:
        nc = self.nc
        if block.time_dim not in nc.dimensions:
            nc.createDimension(block.time_dim, None)
        nc.createVariable(block.data_var, "f8", (block.time_dim, "channels", "points"),
                          zlib=True, complevel=4, shuffle=True,
                          chunksizes=(1, len(self.bins), self.points))
        for var in (block.start_var, block.stop_var):
            nc.createVariable(var, "i4", (block.time_dim, "nb_of_time_scales"))

    def _indices(self, block: _Block, item: SourceRecord) -> list[int]:
        datasets = item.record.header.datasets
        cached = block.keys_cache.get(datasets)
        if cached is not None:
            return cached
        keys: list[ChannelKey | None] = channel_keys(datasets, self.memories)
        where = f"{item.path} record {item.index}"
        indices = self.map.indices(keys, where)
        if self.nc is not None:
            bins = [datasets[i].bins for i in indices]
            if bins != self.bins:
                raise LicelpushError(f"{where}: bins per channel {bins} differ from the first "
                                     f"record's {self.bins}; an SCC file needs one range axis")
        block.keys_cache.clear()
        block.keys_cache[datasets] = indices
        return indices

    def _append(self, block: _Block, item: SourceRecord) -> None:
        header = item.record.header
        if block is self.dark and self.nc is None:
            raise LicelpushError("dark measurements need measurement records first")
        indices = self._indices(block, item)
        if self.nc is None:
            self._open(item, indices)
        if block is self.dark and block.rows == 0:
            self._series_variables(block, header.datasets)
        if block.t0 is None:
            block.t0 = header.start
        row = np.ma.masked_all((len(indices), self.points))
        for n, i in enumerate(indices):
            ds = header.datasets[i]
            row[n, :ds.bins] = scc_values(ds, item.record.data[i])
        nc, t = self.nc, block.rows
        nc.variables[block.data_var][t] = row
        nc.variables[block.start_var][t, 0] = round((header.start - block.t0).total_seconds())
        nc.variables[block.stop_var][t, 0] = round((header.stop - block.t0).total_seconds())
        block.t1 = header.stop if block.t1 is None else max(block.t1, header.stop)
        block.rows += 1
        if block is self.main:
            nc.variables["Laser_Shots"][t] = [header.datasets[i].shots for i in indices]
            if header.zenith not in self.angles:
                self.angles.append(header.zenith)
            nc.variables["Laser_Pointing_Angle_of_Profiles"][t, 0] = self.angles.index(
                header.zenith)
            self._note_place(item)

    def _note_place(self, item: SourceRecord) -> None:
        h = item.record.header
        place = (h.latitude, h.longitude, h.altitude_m)
        if self._place is None:
            self._place, self._site = place, h.site
        elif place != self._place:
            log.warning("%s record %d: station position %s differs from the first record's "
                        "%s; the file gives the first", item.path, item.index, place, self._place)

    def finish(self) -> None:
        """Write the pointing, atmosphere and global attributes."""
        nc, main, dark = self.nc, self.main, self.dark
        assert main.t0 is not None and main.t1 is not None and self._place is not None
        nc.createDimension("scan_angles", len(self.angles))
        nc.createVariable("Laser_Pointing_Angle", "f8", ("scan_angles",))[:] = self.angles
        nc.createVariable("Molecular_Calc", "i4")[...] = self.map.molecular_calc
        if self.atmosphere is not None:
            nc.createVariable("Pressure_at_Lidar_Station", "f8")[...] = (
                self.atmosphere.pressure_hpa)
            nc.createVariable("Temperature_at_Lidar_Station", "f8")[...] = (
                self.atmosphere.temperature_c)
        lat, lon, alt = self._place
        attrs: dict[str, Any] = {
            "Measurement_ID": self.measurement_id,
            "RawData_Start_Date": main.t0.strftime("%Y%m%d"),
            "RawData_Start_Time_UT": main.t0.strftime("%H%M%S"),
            "RawData_Stop_Time_UT": main.t1.strftime("%H%M%S"),
            "Location": self.map.location or self._site,
            "Latitude_degrees_north": lat,
            "Longitude_degrees_east": lon,
            "Altitude_meter_asl": alt,
        }
        if self.map.system:
            attrs["System"] = self.map.system
        if dark.t0 is not None and dark.t1 is not None:
            attrs.update(RawBck_Start_Date=dark.t0.strftime("%Y%m%d"),
                         RawBck_Start_Time_UT=dark.t0.strftime("%H%M%S"),
                         RawBck_Stop_Time_UT=dark.t1.strftime("%H%M%S"))
        nc.setncatts(attrs)

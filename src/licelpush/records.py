"""Licel records from decoded MPUSH frames (pure: no IO, no clock).

Spec: LICEL_FILE_FORMAT.md ("Record layout", "Dataset lines"), PROTOCOL.md §4
(bin width × 2^FREQDIV exponent, true shot counts) and ACQUIS_INI.md (which
key describes which dataset). A :class:`RecordBuilder` is made once per MPUSH
plan; it precomputes everything about a channel that does not change from one
acquisition to the next, so turning a :class:`~licelpush.decode.DecodedFrame`
into a :class:`~licelpush.licelfile.Record` costs a few attribute look-ups.

Per plan channel, in plan order (which is the order of the datasets in the
file):

- laser: the memory's ``LaserX``;
- wavelength, polarisation and PMT voltage: the analogue keys
  (``WavelengthX``, ``PolarisationX``, ``PM``/``PM2``..) or the photon-counting
  keys (``WavelengthXpc``, ``PolarisationXpc``, ``PMnpc``);
- bin width: ``TRTYPE?`` bin width × 2^FREQDIV exponent; bin shift and ADC
  bits from ``TRTYPE?`` (analogue only);
- input range in mV (analogue) or discriminator in mV by damping mode
  (photon counting);
- device id ``BT``/``BC`` + recorder address in hex;
- shots: the true count from the channel's shot word (reported − 2).

Line 3 carries per laser the shots of the datasets assigned to it and the
repetition rates ``frequency1..3`` (rounded to whole Hz); line 2 the site,
altitude, coordinates and pointing of ``[global_info]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from licelpush.config import POLARISATION_LETTERS, AcquisConfig, RecorderConfig
from licelpush.decode import DecodedFrame
from licelpush.licelfile import (
    DatasetHeader,
    Record,
    RecordHeader,
    device_id,
    discriminator_mv,
    file_name,
    laser_shots_of,
)
from licelpush.plan import Channel, MPushPlan

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
_I32 = np.dtype("<i4")


@dataclass(frozen=True)
class _ChannelInfo:
    """Everything of one dataset line except the shot count."""

    template: DatasetHeader
    may_exceed_int32: bool
    """Only a 16-bit analogue sum with PHM can exceed the int32 range of the file."""


def effective_bin_width(recorder: RecorderConfig, hardware_bin_width_m: float) -> float:
    """Bin width in m as written in the file: ``TRTYPE?`` width × 2^FREQDIV exponent (§4)."""
    return hardware_bin_width_m * (1 << recorder.freq_divider_exponent)


def channel_header(config: AcquisConfig, channel: Channel, shots: int) -> DatasetHeader:
    """The dataset line of ``channel`` for an acquisition of ``shots`` true shots."""
    recorder = _recorder(config, channel.recorder)
    memory = recorder.memory(channel.memory)
    hw = channel.hardware
    analogue = channel.analogue
    return DatasetHeader(
        analogue=analogue,
        laser=memory.laser,
        bins=channel.values,
        pmt_voltage=int(round(memory.analogue_pmt_voltage if analogue
                              else memory.pc_pmt_voltage)),
        bin_width_m=effective_bin_width(recorder, hw.bin_width_m),
        wavelength_nm=int(round(memory.analogue_wavelength if analogue
                                else memory.pc_wavelength)),
        polarisation=POLARISATION_LETTERS[memory.analogue_polarisation if analogue
                                          else memory.pc_polarisation],
        bin_shift=hw.bin_shift if analogue else 0.0,
        adc_bits=hw.adc_bits if analogue else 0,
        shots=shots,
        input_range_mv=float(recorder.range_millivolts) if analogue else 0.0,
        discriminator_mv=0.0 if analogue else discriminator_mv(recorder.discriminator,
                                                               recorder.threshold == 1),
        device_id=device_id(analogue, recorder.address),
    )


def _recorder(config: AcquisConfig, address: int) -> RecorderConfig:
    for recorder in config.recorders:
        if recorder.address == address:
            return recorder
    raise ValueError(f"the plan names TR{address}, which the configuration does not describe")


def acquisition_seconds(config: AcquisConfig, plan: MPushPlan) -> float | None:
    """Nominal duration of one acquisition: shots / repetition rate of the lasers in use.

    The fastest laser used by any channel sets the pace; ``None`` when none of
    them has a repetition rate (``frequencyN`` missing or 0).
    """
    rates = []
    for channel in plan.channels:
        laser = _recorder(config, channel.recorder).memory(channel.memory).laser
        rate = config.laser(laser).frequency_hz
        if rate > 0:
            rates.append(rate)
    if not rates:
        return None
    return plan.shots / max(rates)


class RecordBuilder:
    """Turns decoded frames of one plan into records (LICEL_FILE_FORMAT.md)."""

    def __init__(self, config: AcquisConfig, plan: MPushPlan, prefix: str | None = None,
                 pmt_voltages: Mapping[int, float] | None = None) -> None:
        """``pmt_voltages``: read-back PMT voltage per recorder address (PMT device =
        recorder, :mod:`licelpush.hv`); it replaces the configuration's value in the
        dataset lines of that recorder."""
        self.config = config
        self.plan = plan
        info = config.global_info
        self.prefix = prefix or info.first_letter
        file_name(self.prefix, datetime(2000, 1, 1))  # validates the prefix early
        self._rates = tuple(int(round(laser.frequency_hz)) for laser in config.lasers[:3])
        volts = pmt_voltages or {}
        self._infos = tuple(
            _ChannelInfo(_with_voltage(channel_header(config, c, plan.shots),
                                       volts.get(c.recorder)),
                         c.analogue and c.uses_phm and c.hardware.adc_bits == 16)
            for c in plan.channels
        )
        self._headers: dict[tuple[int, ...],
                            tuple[tuple[DatasetHeader, ...], tuple[int, int, int]]] = {}
        self.saturated_values = 0
        """Values above the int32 range of the file, written as 2^31 − 1 (see :meth:`build`)."""

    def dataset_headers(self, shots: tuple[int, ...]) -> tuple[DatasetHeader, ...]:
        """Dataset lines for these true shot counts (one per channel), cached."""
        return self._lines(shots)[0]

    def _lines(self, shots: tuple[int, ...]) -> tuple[tuple[DatasetHeader, ...],
                                                       tuple[int, int, int]]:
        """Dataset lines and per-laser shots for these shot counts, cached."""
        cached = self._headers.get(shots)
        if cached is None:
            if len(shots) != len(self._infos):
                raise ValueError(f"{len(shots)} shot counts for {len(self._infos)} channels")
            headers = tuple(
                info.template if info.template.shots == n
                else _with_shots(info.template, n)
                for info, n in zip(self._infos, shots)
            )
            if len(self._headers) > 64:  # shots normally never change; stay bounded anyway
                self._headers.clear()
            cached = self._headers[shots] = (headers, laser_shots_of(headers))
        return cached

    def build(self, decoded: DecodedFrame, start: datetime, stop: datetime,
              name_time: datetime | None = None) -> Record:
        """The record of one acquisition.

        ``start``/``stop`` are naive datetimes as they go into the file (UTC or
        local time, the caller decides); the record's name is
        ``file_name(prefix, name_time or start)``. Profiles are written as
        int32 without copying; a 16-bit analogue value beyond 2^31 − 1 (only
        possible with PHM, above 32764 shots) is saturated there and counted in
        :attr:`saturated_values`.
        """
        datasets, laser_shots = self._lines(decoded.shots)
        data = []
        for info, profile in zip(self._infos, decoded.profiles):
            if info.may_exceed_int32 and profile.size and int(profile.max()) > INT32_MAX:
                over = int(np.count_nonzero(profile > INT32_MAX))
                self.saturated_values += over
                log.warning("%s: %d value(s) exceed the int32 range of Licel files; "
                            "written as %d", info.template.device_id, over, INT32_MAX)
                profile = np.minimum(profile, INT32_MAX)
            data.append(profile.view(_I32) if profile.dtype.itemsize == 4
                        else profile.astype(_I32))
        info = self.config.global_info
        header = RecordHeader(
            name=file_name(self.prefix, name_time or start),
            site=info.location,
            start=start,
            stop=stop,
            altitude_m=info.height_asl,
            longitude=info.longitude,
            latitude=info.latitude,
            zenith=info.zenith,
            azimuth=info.azimuth,
            laser_shots=laser_shots,
            laser_rates_hz=self._rates,  # type: ignore[arg-type]
            datasets=datasets,
            timestamp_ms=decoded.timestamp_ms,
        )
        return Record(header=header, data=tuple(data))


def _with_voltage(template: DatasetHeader, volts: float | None) -> DatasetHeader:
    return template if volts is None else replace(template, pmt_voltage=int(round(volts)))


def _with_shots(template: DatasetHeader, shots: int) -> DatasetHeader:
    return replace(template, shots=shots)

"""Sample Licel records for the tests (shared by the file, writer, CLI and interop tests)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from licelpush.licelfile import (
    DatasetHeader,
    Record,
    RecordHeader,
    device_id,
    discriminator_mv,
    file_name,
    laser_shots_of,
)


def analogue(recorder: int, wavelength: int, pol: str = "o", *, laser: int = 1,
             bins: int = 16380, shots: int = 1000, adc_bits: int = 12,
             input_range_mv: float = 500.0, bin_width_m: float = 7.5,
             bin_shift: float = 0.0, pmt_voltage: int = 850) -> DatasetHeader:
    return DatasetHeader(
        analogue=True, laser=laser, bins=bins, pmt_voltage=pmt_voltage,
        bin_width_m=bin_width_m, wavelength_nm=wavelength, polarisation=pol,
        bin_shift=bin_shift, adc_bits=adc_bits, shots=shots,
        input_range_mv=input_range_mv, discriminator_mv=0.0,
        device_id=device_id(True, recorder),
    )


def photon(recorder: int, wavelength: int, pol: str = "o", *, laser: int = 1,
           bins: int = 16380, shots: int = 1000, level: int = 8, damping_high: bool = False,
           bin_width_m: float = 7.5, pmt_voltage: int = 850) -> DatasetHeader:
    return DatasetHeader(
        analogue=False, laser=laser, bins=bins, pmt_voltage=pmt_voltage,
        bin_width_m=bin_width_m, wavelength_nm=wavelength, polarisation=pol,
        bin_shift=0.0, adc_bits=0, shots=shots, input_range_mv=0.0,
        discriminator_mv=round(discriminator_mv(level, damping_high), 4),
        device_id=device_id(False, recorder),
    )


def profile(ds: DatasetHeader, rng: np.random.Generator) -> np.ndarray:
    """A lidar-like int32 profile: background + 1/r^2 decay + noise, scaled by shots."""
    r = np.arange(1, ds.bins + 1, dtype=np.float64)
    full = (1 << ds.adc_bits) - 1 if ds.analogue else 20
    shape = 0.6 * full * np.exp(-r / max(ds.bins / 3, 1)) / (1 + (r / 400) ** 2) + 0.05 * full
    values = shape * ds.shots + rng.normal(0, 3 * full, ds.bins)
    return np.clip(values, 0, 2**31 - 1).astype(np.int32)


def make_record(datasets: list[DatasetHeader], *, site: str = "Vladivos",
                start: datetime = datetime(2026, 5, 13, 21, 3, 45, 120000),
                prefix: str = "b", seed: int = 0, azimuth: float | None = 0.0,
                rates: tuple[int, int, int] = (20, 10, 10), timestamp_ms: int | None = None,
                extra: str = "", duration_s: int = 60) -> Record:
    rng = np.random.default_rng(seed)
    header = RecordHeader(
        name=file_name(prefix, start), site=site, start=start.replace(microsecond=0),
        stop=(start + timedelta(seconds=duration_s)).replace(microsecond=0),
        altitude_m=20.0, longitude=131.891234, latitude=43.112345, zenith=0.0,
        azimuth=azimuth, laser_shots=laser_shots_of(datasets), laser_rates_hz=rates,
        datasets=tuple(datasets), timestamp_ms=timestamp_ms, extra=extra,
    )
    return Record(header=header, data=tuple(profile(ds, rng) for ds in datasets))

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


def vendor_layout(record: Record, *, timestamp: int = 0) -> bytes:
    """``record`` as the vendor's Python library writes it (LICEL_FILE_FORMAT.md, "Vendor
    Python writer deviations"): LF header lines without padding or leading space on line 1,
    unpadded bins and shots, the polarisation number in field 5, the bin-shift thousandths
    as %3d, dataset count ``01`` when there is no controller timestamp."""
    h = record.header
    (s1, s2, s3), (r1, r2, r3) = h.laser_shots, h.laser_rates_hz
    when = "%d/%m/%Y %H:%M:%S"
    lines = [
        h.name,
        f" {h.site:8s} {h.start.strftime(when)} {h.stop.strftime(when)} "
        f"{round(h.altitude_m):04d} {h.longitude:011.6f} {h.latitude:011.6f} {h.zenith:04.1f} "
        f"{h.azimuth or 0.0:04.1f}",
        f" {s1} {r1:04d} {s2:07d} {r2:04d} "
        + (f"{len(h.datasets):02d} {s3:07d} {r3:04d} {timestamp:d}" if timestamp
           else f"01 {s3:07d} {r3:04d}"),
    ]
    for ds in h.datasets:
        whole, thousandths = divmod(round(ds.bin_shift * 1000), 1000)
        scale = f"{ds.input_range_mv / 1000:.3f}" if ds.analogue else f"{ds.discriminator_mv:.4f}"
        lines.append(
            f" 1 {0 if ds.analogue else 1} {ds.laser} {ds.bins} {'opsrl'.index(ds.polarisation)}"
            f" {ds.pmt_voltage:04d} {ds.bin_width_m:.2f} {ds.wavelength_nm:05d}.{ds.polarisation}"
            f" 0 0 {whole:02d} {thousandths:3d} {ds.adc_bits if ds.analogue else 0:02d}"
            f" {ds.shots} {scale} {ds.device_id}"
        )
    text = "\n".join(lines) + "\n\n"
    body = b"".join(np.asarray(v, dtype="<i4").tobytes() + b"\r\n" for v in record.data)
    return text.encode("ascii") + body

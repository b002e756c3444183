"""``Config``: the station's Acquis.ini, read by licelpush, shown with the vendor's names.

Spec: ACQUIS_INI.md (the file), mpush-workflow.rst section 4 (``readConfig``).
:meth:`Config.readConfig` reads the file with :func:`licelpush.config.load_config`
(every problem of the file reported at once, stations' quirks handled) and keeps
the result in :attr:`Config.acquis`; :attr:`Config.measurementInfo` and
:attr:`Config.TrConfigs` are views of it under the vendor library's field names,
readable both as attributes (``ConfigInfo.measurementInfo.szLocation``) and as
dict items (``ConfigInfo.TrConfigs[0]["analogueBins"]["A"]``).

The views are snapshots taken by :meth:`~Config.readConfig`. Acquisition and
file writing follow :attr:`Config.acquis`; two fields of ``measurementInfo`` are
also honoured when changed by a script, as scripts do to redirect output:
``szOutPath`` (output directory) and ``cFirstLetter`` (file name prefix).
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

from licelpush.config import MEMORIES, AcquisConfig, RecorderConfig, load_config
from licelpush.errors import ConfigError

log = logging.getLogger(__name__)

VENDOR_LASER_OFFSET = 1
"""The vendor names laser N of the file (``frequencyN``, ``[global_info_LaserN]``)
``repRateL{N-1}`` / ``Laser{N-1}_globalInfo``."""


class AcquisIniError(ConfigError, ValueError):
    """The Acquis.ini has invalid values; ``problems`` lists every one of them.

    A :class:`~licelpush.errors.ConfigError` that vendor scripts can also catch
    as ``ValueError``.
    """


class ConfigView(dict):  # type: ignore[type-arg]
    """A dict whose items can also be read and set as attributes (vendor field names)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class MeasureInfo(ConfigView):
    """``[global_info]`` under the vendor's names (``szLocation``, ``nAltitude``, ...)."""

    __slots__ = ()


class TrConfig(ConfigView):
    """One ``[TRn]`` section under the vendor's names (``nTransientRecorder``, ...)."""

    __slots__ = ()


def _per_memory(values: list[Any]) -> dict[str, Any]:
    return dict(zip(MEMORIES, values))


def measure_info(config: AcquisConfig) -> MeasureInfo:
    """The vendor's ``measurementInfo`` fields for ``config``."""
    info = config.global_info
    fields: dict[str, Any] = {
        "szLocation": info.location,
        "nAltitude": int(round(info.height_asl)),
        "dLongitude": info.longitude,
        "dLatitude": info.latitude,
        "Zenith": info.zenith,
        "Azimuth": info.azimuth,
        "cFirstLetter": info.first_letter,
        "szOutPath": info.working_directory,
        "nDataSetNumber": sum(
            m.analogue + m.photon_counting for r in config.recorders for m in r.memories
        ),
    }
    for index in range(4):
        fields[f"nMaxShotsL{index}"] = 0
    for index in range(4):
        number = index + VENDOR_LASER_OFFSET
        laser = config.laser(number) if number <= len(config.lasers) else None
        fields[f"repRateL{index}"] = int(round(laser.frequency_hz)) if laser else 0
    for index in range(4):
        number = index + VENDOR_LASER_OFFSET
        laser = config.laser(number) if number <= len(config.lasers) else None
        fields[f"Laser{index}_globalInfo"] = (
            {wavelength: polarisation for wavelength, polarisation in laser.lines}
            if laser else {}
        )
    return MeasureInfo(fields)


def tr_config(recorder: RecorderConfig) -> TrConfig:
    """The vendor's ``TrConfig`` fields for one recorder section."""
    mems = recorder.memories
    return TrConfig({
        "nTransientRecorder": recorder.address,
        "nRange": recorder.range_millivolts,
        "discriminator": recorder.discriminator,
        "shotLimit": recorder.shot_limit,
        "pretrigger": int(recorder.pretrigger),
        "freqDivider": recorder.freq_divider,
        "threshold": recorder.threshold,
        "analoguePolarisation": _per_memory([m.analogue_polarisation for m in mems]),
        "pcPolarisation": _per_memory([m.pc_polarisation for m in mems]),
        "analogueEnabled": _per_memory([m.analogue for m in mems]),
        "pcEnabled": _per_memory([m.photon_counting for m in mems]),
        "analogueBins": _per_memory([m.analogue_bins for m in mems]),
        "pcBins": _per_memory([m.pc_bins for m in mems]),
        "analogueWavelength": _per_memory([m.analogue_wavelength for m in mems]),
        "pcWavelength": _per_memory([m.pc_wavelength for m in mems]),
        "laserAssignment": _per_memory([m.laser for m in mems]),
        "pmVoltageAnalogue": _per_memory([m.analogue_pmt_voltage for m in mems]),
        "pmVoltagePC": _per_memory([m.pc_pmt_voltage for m in mems]),
        "blockedTrig": _per_memory([letter in recorder.blocked_triggers for letter in MEMORIES]),
    })


class Config:
    """The acquisition configuration of one Acquis.ini (vendor API).

    ``Config("Acquis.ini")`` only remembers the path (relative paths are taken
    from the current directory when :meth:`readConfig` runs).
    """

    def __init__(self, acquisIniPath: str | Path | None = None) -> None:  # noqa: N803
        self.acquisIniConfigPath = acquisIniPath
        """Path of the Acquis.ini (vendor name)."""
        self.acquis: AcquisConfig | None = None
        """The configuration as licelpush reads it (set by :meth:`readConfig`)."""
        self.measurementInfo = MeasureInfo()
        """``[global_info]`` view (vendor field names); empty before :meth:`readConfig`."""
        self.TrConfigs: list[TrConfig] = []
        """One view per ``[TRn]`` section, in file order (active or not)."""
        self.numDataSets = 0
        """Datasets per acquisition (one per enabled analogue or photon-counting memory);
        set by :meth:`readConfig`."""
        self.BufferSize = 0
        """Bytes of one pushed frame; set when MPUSH starts (``MPushStartFromConfig``)."""
        self.exceptedByte = 0
        """Same as :attr:`BufferSize` (vendor name)."""

    @property
    def measurmentInfo(self) -> MeasureInfo:  # noqa: N802 - the vendor's spelling
        """The vendor library's spelling of :attr:`measurementInfo`."""
        return self.measurementInfo

    @measurmentInfo.setter
    def measurmentInfo(self, value: MeasureInfo) -> None:  # noqa: N802
        self.measurementInfo = value

    def readConfig(self) -> list[TrConfig]:  # noqa: N802 - vendor API name
        """Read and validate the Acquis.ini; returns :attr:`TrConfigs`.

        Raises ``FileNotFoundError`` when the file does not exist and
        :class:`AcquisIniError` (a ``ValueError``) listing every invalid value
        (file, line, section, key, what is allowed) otherwise. Reading again
        replaces the previous values (the vendor library appended duplicates).
        """
        if self.acquisIniConfigPath is None:
            raise FileNotFoundError(errno.ENOENT, "Config() was given no Acquis.ini path")
        path = Path(self.acquisIniConfigPath)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, f"cannot open the configuration file {path}",
                                    str(path))
        try:
            acquis = load_config(path)
        except ConfigError as exc:
            raise AcquisIniError(exc.problems) from None
        self.acquis = acquis
        self.measurementInfo = measure_info(acquis)
        self.TrConfigs = [tr_config(r) for r in acquis.recorders]
        self.numDataSets = self.measurementInfo["nDataSetNumber"]
        log.debug("%s: %d recorder section(s), %d dataset(s) per acquisition", path,
                  len(self.TrConfigs), self.numDataSets)
        return self.TrConfigs

    def require(self) -> AcquisConfig:
        """The configuration read by :meth:`readConfig`; ``RuntimeError`` if it was not read."""
        if self.acquis is None:
            raise RuntimeError(
                f"the configuration {self.acquisIniConfigPath} has not been read: "
                "call readConfig() first")
        return self.acquis

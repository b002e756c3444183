"""Known limits of the public Licel readers, checked against what a configuration will write.

The limits are those of ``docs/READERS.md`` (each pinned by a sample in
``tests/test_interop.py``): they do not make a file wrong, but a station
should know before it acquires for months that a reader will merge, refuse
or mis-name some of its channels.
"""

from __future__ import annotations

from collections import defaultdict

from licelpush.config import POLARISATION_LETTERS, AcquisConfig
from licelpush.licelfile import device_id

LICELFORMAT_MAX_RECORDER = 9
"""licelformat parses the number after BT/BC as decimal: recorders 10-15 (BTA-BTF) fail."""


def reader_limits(config: AcquisConfig, *, controller_timestamp: bool = False) -> list[str]:
    """One line per known public-reader limit the files of ``config`` will hit."""
    problems: list[str] = []
    by_id: dict[str, list[str]] = defaultdict(list)
    by_id_laser: dict[tuple[str, int], list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    high_recorders: set[int] = set()
    for recorder in config.active_recorders:
        for memory in recorder.memories:
            for analogue, enabled in ((True, memory.analogue), (False, memory.photon_counting)):
                if not enabled:
                    continue
                ident = device_id(analogue, recorder.address)
                if analogue:
                    wavelength, pol = memory.analogue_wavelength, memory.analogue_polarisation
                else:
                    wavelength, pol = memory.pc_wavelength, memory.pc_polarisation
                label = f"TR{recorder.address} memory {memory.memory}"
                by_id[ident].append(label)
                by_id_laser[(ident, memory.laser)].append(label)
                suffix = "an" if analogue else "ph"
                name = f"{round(wavelength):05d}.{POLARISATION_LETTERS[pol]}_{suffix}"
                by_name[name].append(label)
                if recorder.address > LICELFORMAT_MAX_RECORDER:
                    high_recorders.add(recorder.address)
    merged = _clashes(by_id)
    if merged:
        problems.append(f"linc merges channels with the same device id: {merged}")
    refused = _clashes({f"{ident} laser {laser}": labels
                        for (ident, laser), labels in by_id_laser.items()})
    if refused:
        problems.append("atmospheric-lidar LicelFileV2 refuses the files (channels must differ "
                        f"by device id or laser): {refused}")
    named = _clashes(by_name)
    if named:
        problems.append("atmospheric-lidar LicelFile refuses the files unless it names "
                        f"channels by device id (use_id_as_name): {named}")
    if high_recorders:
        listed = ", ".join(f"TR{a}" for a in sorted(high_recorders))
        problems.append(f"{listed}: licelformat reads only recorders 0-9 "
                        "(device ids BTA-BTF fail)")
    if controller_timestamp:
        problems.append("the controller timestamp on line 3 makes linc refuse the files")
    return problems


def _clashes(groups: dict[str, list[str]], shown: int = 3) -> str:
    """``BT0 (TR0 memory A, TR0 memory B); ...`` for groups of more than one, the
    first ``shown`` of them named, the rest counted."""
    clashing = [(key, labels) for key, labels in groups.items() if len(labels) > 1]
    text = "; ".join(f"{key} ({', '.join(labels)})" for key, labels in clashing[:shown])
    if len(clashing) > shown:
        text += f"; and {len(clashing) - shown} more"
    return text

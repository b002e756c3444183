"""The three station configurations of tests/data/acquis and data acquired from them."""

from __future__ import annotations

from pathlib import Path

from licelpush import cli

STATIONS = Path(__file__).resolve().parent / "data" / "acquis"
STATION_CONFIGS = ("station.ini", "two-recorders.ini", "eight-recorders.ini")


def acquire(ini: str, output: Path, acquisitions: int, *extra: str) -> Path:
    """Run ``licelpush acquire --emulator`` on a station configuration into ``output``."""
    status = cli.main(["acquire", "--config", str(STATIONS / ini), "--emulator",
                       "--emulator-speed", "200", "--acq", str(acquisitions),
                       "--output", str(output), "-q", *extra])
    assert status == 0
    return output

"""``photomultiplier``: the vendor API of the PMT high-voltage commands, on licelpush's client.

Spec: PROTOCOL.md §2 (``PMTG dev volts``, ``PMT? dev`` -> ``PMT <volts> on
remote``). ``photomultiplier(ethernetController)`` talks through the
controller's command connection (open it first); voltages are checked by
licelpush's command table (0-2000 V) before anything is sent. How an empty
slot is recognised (its read-back after 0 V lies in
:data:`licelpush.hv.EMPTY_SLOT_BAND`) is licelpush's, from the vendor's rule.

``licelpush hv`` does the same from the command line, with per-station limits
and confirmation of every setting by read-back.
"""

from __future__ import annotations

from typing import Any

from licelpush.commands import parse_pmt_reply
from licelpush.hv import PMT_DEVICES, looks_empty


class photomultiplier:  # noqa: N801 - the vendor's class name
    """PMT high voltage through an ``EthernetController`` (vendor API)."""

    def __init__(self, ethernetController: Any) -> None:  # noqa: N803
        self.ethernetController = ethernetController

    def setHV(self, device: int, voltage: int) -> str:  # noqa: N802
        """``PMTG device voltage``: set the high voltage; returns the reply."""
        return self.ethernetController._checked("setHV", "PMTG", device, voltage)

    def getHV(self, device: int) -> str:  # noqa: N802
        """``PMT? device``: returns the reply ``PMT <volts> on remote``."""
        return self.ethernetController._checked("getHV", "PMT?", device)

    def isPMTinstalled(self, device: int) -> bool:  # noqa: N802
        """Set PMT ``device`` to 0 V and read it back: ``False`` when the reading is
        that of an empty slot (about 356 V) or unusable. Leaves the tube at 0 V."""
        self.setHV(device, 0)
        try:
            volts = parse_pmt_reply(self.getHV(device))
        except ValueError:
            return False
        except RuntimeError as exc:
            if isinstance(exc, ConnectionError):
                raise
            return False  # the controller refused PMT? for this device
        return not looks_empty(volts)

    def listInstalledPMT(self) -> dict[int, str]:  # noqa: N802
        """``{0: 'Installed' | 'Not installed', ..., 15: ...}``; sets every PMT to 0 V."""
        return {device: "Installed" if self.isPMTinstalled(device) else "Not installed"
                for device in PMT_DEVICES}

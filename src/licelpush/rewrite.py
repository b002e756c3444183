"""Re-encoding records in licelpush's layout, with header times moved to UTC.

Files written by the vendor's Python library (``shared/docs/LICEL_FILE_FORMAT.md``,
"Vendor Python writer deviations": LF line ends, no padding, dataset count
``01``, several records per file, PC local time) are read by
:mod:`licelpush.licelfile`; :func:`rewritten` gives each record back with the
same values, ready to be written by :class:`licelpush.filewriter.RecordWriter`
in the layout every public reader accepts (section "Record layout").

Time zones (:func:`parse_time_zone`): ``UTC``, a fixed offset (``+01:00``,
``-0530``) or an IANA name (``Europe/Berlin``; on Windows this needs the
``tzdata`` package). A local time that occurs twice at the end of summer time
is taken as its first occurrence (``fold=0``); a local time skipped at the
start of summer time is moved on by the gap, as :mod:`zoneinfo` does.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone, tzinfo

from licelpush.licelfile import Record, file_name, parse_file_name

_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d\d):?(\d\d)$")


def parse_time_zone(text: str) -> tzinfo:
    """The time zone named by ``text``; raises ValueError with a one-line reason."""
    name = text.strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = _OFFSET_RE.match(name)
    if m:
        hours, minutes = int(m[2]), int(m[3])
        if hours > 23 or minutes > 59:
            raise ValueError(f"time zone {text!r}: offset out of range")
        sign = -1 if m[1] == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    except ImportError:  # pragma: no cover - Python >= 3.9 has zoneinfo
        raise ValueError(f"time zone {text!r}: zoneinfo unavailable, use an offset "
                         "like +01:00") from None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {text!r} is unknown (use UTC, an offset like +01:00 "
                         "or a name like Europe/Berlin; on Windows install tzdata)") from None


def to_utc(local: datetime, zone: tzinfo) -> datetime:
    """The naive UTC time of the naive local time ``local`` in ``zone``."""
    aware = local.replace(tzinfo=zone, fold=0)
    return aware.astimezone(timezone.utc).replace(tzinfo=None)


def rewritten(record: Record, zone: tzinfo | None = None, prefix: str = "") -> Record:
    """``record`` with start, stop and name in UTC (when ``zone`` is given) and a
    name in licelpush's form (prefix, centiseconds); data arrays unchanged."""
    header = record.header
    parsed = parse_file_name(header.name)
    name_prefix, name_time = parsed if parsed else (prefix or "L", header.start)
    start, stop = header.start, header.stop
    if zone is not None:
        start, stop, name_time = (to_utc(t, zone) for t in (start, stop, name_time))
    new_header = dataclasses.replace(
        header, name=file_name(name_prefix, name_time), start=start, stop=stop,
    )
    return dataclasses.replace(record, header=new_header, offset=0, length=0)

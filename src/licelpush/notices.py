"""Rate-limited warnings of a run: clipping per channel, quarantined spans.

The journal lists every clipped acquisition and every quarantined span; the
log only warns now and then so that a noisy station does not flood it. Pure:
the caller passes its monotonic clock's time.
"""

from __future__ import annotations

from collections.abc import Iterable

CLIP_WARNING_INTERVAL = 60.0
"""Seconds between repeated clipping warnings of one channel."""
QUARANTINE_WARNING_INTERVAL = 5.0
"""Seconds between quarantine warnings in the log (the journal lists every one)."""


class ClipNotices:
    """Counts clipped acquisitions per channel; says when a channel is due a warning."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        """Acquisitions with clipped bins per channel label (shared with the summary)."""
        self._last: dict[str, float] = {}

    def note(self, labels: Iterable[str], clipped: Iterable[int], now: float, saved: int
             ) -> list[str]:
        """Count this acquisition's clipping; the warnings to log now."""
        out = []
        for label, bins in zip(labels, clipped):
            if not bins:
                continue
            self.counts[label] = self.counts.get(label, 0) + 1
            last = self._last.get(label)
            if last is None or now - last >= CLIP_WARNING_INTERVAL:
                self._last[label] = now
                out.append(f"{label} clips: {bins} bin(s) flagged in acquisition {saved} "
                           f"({self.counts[label]} acquisition(s) with clipping so far); "
                           "check the input range or the signal")
        return out


class QuarantineNotices:
    """Says when a quarantined span is due a warning, and how many went unmentioned."""

    def __init__(self) -> None:
        self._last = -QUARANTINE_WARNING_INTERVAL
        self._unwarned = 0

    def note(self, now: float) -> str | None:
        """None: stay quiet; else the text to append to the warning (may be empty)."""
        if now - self._last < QUARANTINE_WARNING_INTERVAL:
            self._unwarned += 1
            return None
        more = (f" ({self._unwarned} more span(s) quarantined since the last warning; "
                "see the journal)" if self._unwarned else "")
        self._last = now
        self._unwarned = 0
        return more

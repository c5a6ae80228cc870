"""How the command line writes quantities: bytes and clocks."""

from __future__ import annotations

__all__ = ["byte_size", "clock"]


def byte_size(count: int) -> str:
    """A count of bytes as kB or MB, one decimal."""
    return f"{count / 1e3:.1f} kB" if count < 1e6 else f"{count / 1e6:.1f} MB"


def clock(seconds: float) -> str:
    """Seconds as ``m:ss``, or ``h:mm:ss`` from an hour on; never negative."""
    minutes, secs = divmod(int(max(0.0, seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

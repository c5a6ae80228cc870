"""A per-client pace: at most a given number of events per second."""

from __future__ import annotations

import asyncio

__all__ = ["Pacer"]


class Pacer:
    """Space acquisitions at least ``1 / per_second`` seconds apart.

    A burst of one, not a window of N: two full windows back to back can land
    2N requests inside one second of the server's clock once delivery delays
    differ, while even spacing keeps a margin for them. Waiters are served first
    come, first served; a cancelled waiter takes no slot.
    """

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for the next free slot, then take it."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            # Looped: a hold() while we sleep moves the slot further away.
            while (delay := self._next - loop.time()) > 0:  # noqa: ASYNC110  # a timer
                await asyncio.sleep(delay)
            self._next = loop.time() + self._interval

    def hold(self, seconds: float) -> None:
        """Let no one through for ``seconds`` from now (after a 429, say)."""
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)

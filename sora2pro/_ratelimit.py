"""A per-client limit on how often something may happen: at most N in any window."""

from __future__ import annotations

import asyncio
import collections

__all__ = ["WindowLimiter"]


class WindowLimiter:
    """Allow at most ``limit`` acquisitions in any sliding window of ``window`` seconds.

    Waiters are served first come, first served; a cancelled waiter leaves no trace.
    """

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._stamps: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more acquisition fits in the window, then take it."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                now = loop.time()
                while self._stamps and now - self._stamps[0] >= self._window:
                    self._stamps.popleft()
                if len(self._stamps) < self._limit:
                    self._stamps.append(now)
                    return
                await asyncio.sleep(self._stamps[0] + self._window - now)

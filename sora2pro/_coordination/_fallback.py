"""A shared pacer with a local stand-in, for status reads while Redis does not answer.

A status read pays for nothing, so a wait need not stop when the shared pace is
away: it goes on at a small share of the budget, paced in this process alone, and
takes the shared pace again once Redis answers. Creates have no stand-in: one never
goes out unpaced.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import typing

from sora2pro._coordination._pacer import PriorityPacer
from sora2pro._errors import CoordinationError

if typing.TYPE_CHECKING:
    from sora2pro._coordination._redis_pacer import RedisPacer

__all__ = ["FallbackPacer"]

logger = logging.getLogger("sora2pro")

#: The share of the budget a process takes alone while Redis is away. The processes
#: of an account fall back together when their Redis goes: up to four of them still
#: send no more than the budget together.
SHARE = 0.25
#: Seconds between two tries of Redis while it is away; callers use the local pace
#: meanwhile, and while a try is under way.
RETRY = 1.0

#: Which pacer handed out the slot the current task holds, so that its ``sent()``
#: goes to that one (the task's own context: the transport calls it from there).
_HANDED: contextvars.ContextVar[object] = contextvars.ContextVar("sora2pro_handed")


class FallbackPacer:
    """The shared pace when Redis answers, else a local one at :data:`SHARE` of it.

    While Redis answers, this is the :class:`RedisPacer` itself. When it fails its
    callers with :class:`CoordinationError`, they (and the callers after them)
    queue on a :class:`PriorityPacer` of this process instead, in the same order of
    urgency, and one caller every :data:`RETRY` seconds tries Redis again; the first
    that gets a slot from it brings every caller back. A warning is logged when the
    fallback begins, and a note when it ends.
    """

    def __init__(self, shared: RedisPacer, per_second: float) -> None:
        self._shared = shared
        self._local = PriorityPacer(per_second * SHARE)
        self._away_until: float | None = None  # loop time of the next try; None: Redis answers
        self._trying = False
        self._closed = False

    async def acquire(self, urgency: float = 0.0) -> None:
        """Wait for a slot, shared or (while Redis is away) local; the most urgent first.

        Raises:
            CoordinationError: the coordination was closed.

        """
        if self._closed:
            raise CoordinationError("the Redis coordination was closed; nothing was sent")
        now = asyncio.get_running_loop().time()
        away = self._away_until
        if (away is None or (now >= away and not self._trying)) and await self._from_redis(urgency):
            return
        await self._local.acquire(urgency)
        _HANDED.set(self._local)

    async def _from_redis(self, urgency: float) -> bool:
        """Try for a shared slot; whether one was had (if not, Redis is away)."""
        trying = self._away_until is not None
        self._trying = self._trying or trying
        try:
            await self._shared.acquire(urgency)
        except CoordinationError as error:
            if self._closed:
                raise
            if self._away_until is None:
                logger.warning(
                    "Redis does not answer (%s): status queries go on at %d%% of the budget, "
                    "paced in this process, until it does",
                    error,
                    SHARE * 100,
                    extra={"event": "redis_fallback"},
                )
            self._away_until = asyncio.get_running_loop().time() + RETRY
            return False
        finally:
            if trying:
                self._trying = False
        if self._away_until is not None:
            self._away_until = None
            logger.info(
                "Redis answers again: status queries share its pace",
                extra={"event": "redis_rejoined"},
            )
        _HANDED.set(self._shared)
        return True

    def sent(self) -> None:
        """The request of the slot this task holds leaves now: tell the pacer that gave it."""
        if _HANDED.get(None) is self._local:
            self._local.sent()
        else:
            self._shared.sent()

    def hold(self, seconds: float) -> None:
        """Pause every caller for ``seconds``: here at once, and on Redis while it answers."""
        self._local.hold(seconds)
        if self._away_until is None:
            self._shared.hold(seconds)

    async def close(self) -> None:
        """Stop: the shared pacer's waiters and every later caller get CoordinationError."""
        self._closed = True
        await self._shared.close()

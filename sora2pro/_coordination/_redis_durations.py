"""The running times of finished tasks, learned by every process of an account together."""

from __future__ import annotations

import asyncio
import collections
import math
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis.asyncio

    from sora2pro._coordination._redis_pacer import Tasks

__all__ = ["RedisDurations"]


class RedisDurations:
    """A :class:`~sora2pro._coordination._protocols.DurationLog` kept in Redis lists.

    The log is read synchronously, by the poll schedule, many times a second, so it
    reads from a copy in this process and never waits for Redis:

    - :meth:`record` adds the time to the copy at once and sends it in the
      background (``RPUSH`` then ``LTRIM`` to the last :data:`KEPT`, in one
      transaction that also reads the list back, so the copy takes in what the
      other processes noted meanwhile);
    - :meth:`recent` answers from the copy and, at most every :data:`REFRESH`
      seconds for each shape, fetches the list again in the background.

    So a process learns from the others within seconds, and a Redis that does not
    answer only delays that (the failure is logged): the schedule goes on with what
    the copy holds. Lists expire :data:`EXPIRE` seconds after their last write.
    Each use first calls ``on_use`` (the coordination's first use checks Redis).
    """

    #: Running times kept per shape, as in the local log.
    KEPT = 256
    #: Seconds between two background reads of one shape's list.
    REFRESH = 5.0
    #: Seconds a shape's list outlives its last write (30 days).
    EXPIRE = 30 * 24 * 3600

    def __init__(
        self, client: redis.asyncio.Redis, prefix: str, tasks: Tasks, on_use: Callable[[], None]
    ) -> None:
        self._client = client
        self._on_use = on_use
        self._prefix = prefix
        self._tasks = tasks
        self._copy: dict[str, collections.deque[float]] = {}
        self._read_at: dict[str, float] = {}

    def record(self, shape: str, seconds: float) -> None:
        """Note that a task of ``shape`` ran ``seconds``; Redis learns it in the background."""
        self._on_use()
        self._kept(shape).append(seconds)
        self._read_at[shape] = asyncio.get_running_loop().time()
        self._tasks.spawn(self._push(shape, seconds), "noting a running time on Redis")

    def recent(self, shape: str) -> Sequence[float]:
        """The running times last noted for ``shape`` by any process, oldest first."""
        self._on_use()
        now = asyncio.get_running_loop().time()
        if now - self._read_at.get(shape, -math.inf) >= self.REFRESH:
            self._read_at[shape] = now
            self._tasks.spawn(self._fetch(shape), "reading running times from Redis")
        return self._copy.get(shape, ())

    def _kept(self, shape: str) -> collections.deque[float]:
        kept = self._copy.get(shape)
        if kept is None:
            kept = self._copy[shape] = collections.deque(maxlen=self.KEPT)
        return kept

    async def _push(self, shape: str, seconds: float) -> None:
        key = self._prefix + shape
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, repr(seconds))
            pipe.ltrim(key, -self.KEPT, -1)
            pipe.expire(key, self.EXPIRE)
            pipe.lrange(key, 0, -1)
            answers = await pipe.execute()
        self._replace(shape, answers[-1])

    async def _fetch(self, shape: str) -> None:
        self._replace(shape, await self._client.lrange(self._prefix + shape, 0, -1))

    def _replace(self, shape: str, values: list[bytes | str]) -> None:
        kept = self._kept(shape)
        kept.clear()
        kept.extend(float(value) for value in values)

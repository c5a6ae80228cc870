"""The pending tasks of every process of an account, on Redis, and their adoption.

Each process (each :class:`RedisRegistry`) has a token. Its pending tasks live in
one hash, ``tasks:<token>`` (task id to the create body, ``_wire.encode_create``;
never the API key), and its lease in the sorted set ``owners`` (token to the end of
the lease, in microseconds of Redis's clock), renewed every third of the lease while
the process lives. A process whose lease ran out died: :meth:`RedisRegistry.adopt`
moves its hash into the caller's, in one Lua script, so two adopters never share a
task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import types
import typing
import uuid

import redis.asyncio
import redis.exceptions

from sora2pro._coordination._outage import Outage
from sora2pro._errors import CoordinationError
from sora2pro._wire import decode_create, encode_create

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

    from sora2pro._model._requests import Request

__all__ = ["RedisRegistry"]

logger = logging.getLogger("sora2pro")

#: The background work whose failures are told once per outage.
_WRITING = "writing pending tasks to Redis"
_RENEWING = "renewing the lease of this process's pending tasks"
#: Seconds between two tries of a write Redis did not take, at first and at most.
_FIRST_RETRY = 0.05
_LAST_RETRY = 2.0

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""
# KEYS: owners. ARGV: token, lease (microseconds). Returns 1 if the lease was still held.
_RENEW = (
    _NOW
    + """
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if held and tonumber(held) > now then return 1 end
return 0
"""
)
# KEYS: owners, the caller's hash. ARGV: the caller's token, its lease, the prefix of
# the hashes. Moves the tasks of every owner whose lease ended into the caller's hash
# (renewing the caller's lease first, so the tasks are never in an unowned hash), and
# returns the caller's whole hash as a flat list: id, body, id, body... (so that tasks
# an earlier adoption moved there, whose answer was lost, are found too).
_ADOPT = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
for _, owner in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  if owner ~= ARGV[1] then
    local hash = ARGV[3] .. owner
    local tasks = redis.call('HGETALL', hash)
    for i = 1, #tasks, 2 do
      redis.call('HSET', KEYS[2], tasks[i], tasks[i + 1])
    end
    redis.call('DEL', hash)
    redis.call('ZREM', KEYS[1], owner)
  end
end
return redis.call('HGETALL', KEYS[2])
"""
)


class RedisRegistry:
    """A :class:`~sora2pro._coordination._protocols.TaskRegistry` written behind to Redis.

    The registry is called synchronously (from a create's done callback), so
    :meth:`add` and :meth:`finish` act on a dict of this process at once and queue
    the write; one writer task sends the queue (a pipeline) and, when Redis does not
    answer, logs it and tries again, backing off. A task stays in the dict until it
    finishes, so its id is never lost here; :meth:`close` sends what is queued once
    more and logs the ids Redis never got.
    """

    def __init__(
        self, client: redis.asyncio.Redis, prefix: str, converter: cattrs.Converter, lease: float
    ) -> None:
        self._client = client
        self._token = uuid.uuid4().hex
        self._owners = f"{prefix}owners"
        self._hashes = f"{prefix}tasks:"
        self._mine = self._hashes + self._token
        self._converter = converter
        self._lease = lease
        self._lease_us = math.ceil(lease * 1e6)
        self._renew = client.register_script(_RENEW)
        self._adopt = client.register_script(_ADOPT)
        self._tasks: dict[str, Request] = {}
        # Writes not yet taken by Redis, by task id: the body to keep, or None to forget.
        self._unwritten: dict[str, str | None] = {}
        # Adopted tasks whose request this version cannot read: returned once, and left
        # in this process's hash (not in its pending tasks).
        self._unknown: set[str] = set()
        self._wake = asyncio.Event()
        # Set by close: the background tasks end between two commands, never cancelled
        # in one (a cancel inside a pipeline can be lost in the Redis client).
        self._stopping = asyncio.Event()
        self._writing = asyncio.Lock()  # one pipeline at a time: a forget never overtakes a keep
        self._writer: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._registered = False
        self._outage = Outage()

    def add(self, task_id: str, request: Request) -> None:
        """Keep a task at once; Redis gets it in the background."""
        self._tasks[task_id] = request
        self._queue(task_id, json.dumps(encode_create(self._converter, request)))

    def finish(self, task_id: str) -> Request | None:
        """Forget a task seen to end, here at once and on Redis in the background."""
        request = self._tasks.pop(task_id, None)
        if request is not None:
            self._queue(task_id, None)
        return request

    def get(self, task_id: str) -> Request | None:
        """The request of a kept task, or None."""
        return self._tasks.get(task_id)

    def pending(self) -> Mapping[str, Request]:
        """A read-only view of this process's tasks, by id."""
        return types.MappingProxyType(self._tasks)

    async def adopt(self) -> list[str]:
        """Take over the tasks of the processes whose lease ended; their ids.

        Also the tasks an earlier call moved here but never reported (its answer
        was lost): those in this process's hash that it does not know.

        Raises:
            CoordinationError: Redis did not answer; nothing was taken.

        """
        self._start()
        try:
            taken = await self._adopt(
                keys=[self._owners, self._mine], args=[self._token, self._lease_us, self._hashes]
            )
        except redis.exceptions.RedisError as exc:
            raise CoordinationError(
                f"Redis did not answer ({exc}); no orphaned task was adopted"
            ) from exc
        adopted = []
        for raw_id, body in zip(taken[0::2], taken[1::2], strict=True):
            task_id = raw_id.decode()
            if task_id in self._tasks or task_id in self._unwritten or task_id in self._unknown:
                continue  # this process's own, one it finished (forgotten behind), or told
            adopted.append(task_id)
            request = _decode(self._converter, body)
            if request is None:
                self._unknown.add(task_id)
                logger.warning(
                    "adopted task %s names a request this version does not know",
                    adopted[-1],
                    extra={"event": "adopt_unknown_request", "task_id": adopted[-1]},
                )
            else:
                self._tasks[adopted[-1]] = request
        return adopted

    async def flush(self) -> None:
        """Send what is queued now (a failure is logged; the writer tries again)."""
        if self._unwritten:
            try:
                await self._write()
            except redis.exceptions.RedisError as exc:
                logger.warning(
                    "writing pending tasks to Redis failed: %s",
                    exc,
                    extra={"event": "coordination_failed"},
                )

    async def close(self) -> None:
        """Stop renewing the lease and send what is queued, once more.

        The tasks still pending stay on Redis: once the lease ends, another process
        may adopt them.
        """
        self._stopping.set()
        self._wake.set()
        for task in (self._renewer, self._writer):
            if task is not None:
                await task
        if self._unwritten:
            try:
                await self._write()
            except redis.exceptions.RedisError as exc:
                logger.warning(
                    "pending tasks not written to Redis at close (%s): %s",
                    exc,
                    ", ".join(self._unwritten),
                    extra={"event": "coordination_failed"},
                )

    def _queue(self, task_id: str, body: str | None) -> None:
        self._unwritten[task_id] = body
        self._start()
        self._wake.set()

    def _start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_behind())
            self._renewer = asyncio.ensure_future(self._keep_lease())

    async def _write_behind(self) -> None:
        """Send the queued writes as they come; after a failure, try again later."""
        pause = _FIRST_RETRY
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                await self._write()
            except redis.exceptions.RedisError as exc:
                self._outage.failed(_WRITING, exc)
                if await self._stopped_within(pause):
                    return
                pause = min(2 * pause, _LAST_RETRY)
                self._wake.set()
            else:
                self._outage.worked(_WRITING)
                pause = _FIRST_RETRY

    async def _write(self) -> None:
        """Renew the lease and send every queued write, in one transaction.

        The lease goes first so that a task is never in a hash no lease names (one
        no process could adopt). Those writes Redis took leave the queue.
        """
        async with self._writing:
            await self._write_now()

    async def _write_now(self) -> None:
        batch = dict(self._unwritten)
        registered = self._registered
        async with self._client.pipeline(transaction=True) as pipe:
            await self._renew(keys=[self._owners], args=[self._token, self._lease_us], client=pipe)
            for task_id, body in batch.items():
                if body is None:
                    pipe.hdel(self._mine, task_id)
                else:
                    pipe.hset(self._mine, task_id, body)
            answers = await pipe.execute()
        for task_id, body in batch.items():
            if task_id in self._unwritten and self._unwritten[task_id] is body:
                del self._unwritten[task_id]
        self._renewed(held=bool(answers[0]), registered=registered)

    async def _keep_lease(self) -> None:
        """Renew the lease every third of it until close."""
        while True:
            registered = self._registered
            try:
                held = await self._renew(keys=[self._owners], args=[self._token, self._lease_us])
            except redis.exceptions.RedisError as exc:
                self._outage.failed(_RENEWING, exc)
            else:
                self._outage.worked(_RENEWING)
                self._renewed(held=bool(held), registered=registered)
            if await self._stopped_within(self._lease / 3):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if close() comes first; whether it came."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()

    def _renewed(self, *, held: bool, registered: bool) -> None:
        """After a renewal: a lease found lapsed has every pending task written again.

        Another process may have adopted them meanwhile: two waits on a task are
        harmless, a task in no hash would be lost to the others. Only a renewal
        that began once the lease was ``registered`` can find it lapsed: the first
        two may be answered in either order.
        """
        if held or not registered:
            self._registered = True
            return
        logger.warning(
            "the lease of this process's pending tasks had lapsed; writing them again",
            extra={"event": "coordination_lapsed"},
        )
        for task_id, request in self._tasks.items():
            self._unwritten[task_id] = json.dumps(encode_create(self._converter, request))
        self._wake.set()


def _decode(converter: cattrs.Converter, body: bytes) -> Request | None:
    """The request a task's body on Redis names; None if not one this version reads."""
    try:
        return decode_create(converter, json.loads(body))
    except ValueError:  # not JSON: written by something else
        return None

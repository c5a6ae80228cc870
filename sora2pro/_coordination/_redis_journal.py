"""A batch's journal on Redis, shared by the processes that run the same batch.

Each item is one hash, ``journal:<name>:item:<digest>:<occurrence>``, with the
fields of the SQLite journal's row (``status``, ``task_id``, ``error``, ``idx``,
``request``: the create body, never the API key) and ``owner``: the run that
claimed it. Each run of the batch (a :class:`RedisLedger`) has a token, and a
lease in the sorted set ``journal:<name>:runs`` (token to the end of the lease,
in microseconds of Redis's clock), renewed every third of the lease while it runs
and dropped when it ends. An item is claimed in one Lua script, so two runs never
both take it: a run takes an item nobody holds (no owner, or an owner whose lease
ended), and leaves one a live run holds to that run. A run writes only the rows it
holds (and a task id a row lacks): one whose lease lapsed while it lived finds its
items taken, and sends none of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import math
import typing
import uuid

import redis.asyncio
import redis.exceptions

from sora2pro._coordination._outage import Outage
from sora2pro._coordination._protocols import Elsewhere, Entry, Status
from sora2pro._errors import CoordinationError

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["RedisJournal", "RedisLedger"]

logger = logging.getLogger("sora2pro")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""
# KEYS: the runs, the item. ARGV: token, lease (microseconds), time to live (seconds),
# "1" for a second look at an item a live run held. Returns {"running"} or {"done"}
# when a live run holds the item (done: that run ended it, its outcome handed over),
# or, on a second look, when the run that held it ended it before it died; else
# {"mine", status, task id} ("" for none), the item now the caller's.
_CLAIM = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local row = redis.call('HMGET', KEYS[2], 'owner', 'status', 'task_id', 'ended')
local owner, status, task_id = row[1], row[2], row[3]
local ended = owner and row[4] == owner
if owner and owner ~= ARGV[1] then
  local lease = redis.call('ZSCORE', KEYS[1], owner)
  if lease and tonumber(lease) > now then
    if ended then return {'done'} end
    return {'running'}
  end
end
if ARGV[4] == '1' and ended then return {'done'} end
redis.call('HSET', KEYS[2], 'owner', ARGV[1])
redis.call('HDEL', KEYS[2], 'ended')
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {'mine', status or '', task_id or ''}
"""
)
# KEYS: the item. ARGV: index, request, status, task id ("" keeps the one kept), error
# ("" for none), time to live (seconds), token. Returns 0, writing nothing, when the
# caller no longer holds the item (its lease lapsed and another run took it, or the
# row is gone), unless it writes the row's own task id or one the row lacks; else 1.
_RECORD = """
local row = redis.call('HMGET', KEYS[1], 'owner', 'task_id')
if row[1] ~= ARGV[7] and (ARGV[4] == '' or (row[2] and row[2] ~= ARGV[4])) then
  return 0
end
redis.call('HSET', KEYS[1], 'idx', ARGV[1], 'request', ARGV[2], 'status', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'task_id', ARGV[4]) end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'error', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'error')
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
"""
# KEYS: the item. ARGV: token. Marks the item ended by the caller, if it holds it.
_END = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'ended', ARGV[1])
end
"""
# KEYS: the runs. ARGV: token, lease (microseconds), time to live (seconds). Drops the
# runs whose lease ended: an item they claimed is nobody's.
_RENEW = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""
)


class RedisJournal:
    """A batch journal kept in Redis: pass it as ``client.batch(items, journal=...)``.

    Made by :meth:`RedisCoordination.journal`. Several processes may run the same
    batch with it at once: each item is claimed by exactly one of them (which
    yields it), an item claimed by a process that died is taken over by a live one
    once the dead one's lease ended, and a later run yields every item's outcome
    without paying again (a task is re-attached by one status query; an item whose
    create went out unanswered is uncertain, as with a SQLite journal).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        name: str,
        prefix: Callable[[], str],
        *,
        lease: float,
        ttl: float,
    ) -> None:
        self._client = client
        self._name = name
        self._prefix = prefix
        self._lease = lease
        self._ttl = ttl

    def __repr__(self) -> str:
        return f"<sora2pro.RedisJournal {self._name!r}>"

    @property
    def name(self) -> str:
        """The journal's name, as given to :meth:`RedisCoordination.journal`."""
        return self._name

    async def open_run(self) -> RedisLedger:
        """Start a run on the journal: its lease is taken at once.

        Raises:
            CoordinationError: Redis did not answer.

        """
        ledger = RedisLedger(
            self._client, f"{self._prefix()}journal:{self._name}:", self._lease, self._ttl
        )
        await ledger.start()
        return ledger


class RedisLedger:
    """One run's hold on a :class:`RedisJournal`: a ``Ledger`` shared with other runs."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str, lease: float, ttl: float) -> None:
        self._client = client
        self._prefix = prefix
        self._runs = f"{prefix}runs"
        self._token = uuid.uuid4().hex
        self._lease = lease
        self._lease_us = math.ceil(lease * 1e6)
        self._ttl = max(1, math.ceil(ttl))
        self._claim = client.register_script(_CLAIM)
        self._record = client.register_script(_RECORD)
        self._renew = client.register_script(_RENEW)
        self._end = client.register_script(_END)
        # The last write of each item: the next one goes after it, so rows change in order.
        self._last: dict[tuple[str, int], asyncio.Future[None]] = {}
        self._stopping = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._outage = Outage()

    @property
    def recheck(self) -> float:
        """Seconds between two looks at an item another live run holds: a third of a lease."""
        return self._lease / 3

    async def start(self) -> None:
        """Take this run's lease, and keep renewing it until :meth:`close`."""
        await self._renew_lease()
        self._renewer = asyncio.ensure_future(self._keep_lease())

    async def claim(
        self, digest: str, occurrence: int, *, again: bool = False
    ) -> Entry | Elsewhere | None:
        """Take the item for this run: its row (None when it has none yet), or where it is.

        Raises:
            CoordinationError: Redis did not answer, or its row does not read; the
                item was not taken.

        """
        answer = await self._call(
            self._claim,
            [self._runs, self._item((digest, occurrence))],
            [self._token, self._lease_us, self._ttl, "1" if again else "0"],
        )
        outcome = answer[0].decode()
        if outcome != "mine":
            return Elsewhere(outcome)
        status, task_id = (part.decode() for part in answer[1:])
        if not status:
            return None
        try:
            return Entry(Status(status), task_id or None)
        except ValueError:
            raise CoordinationError(
                f"the journal on Redis holds an item in state {status!r}, which this "
                "version does not know; it was not taken"
            ) from None

    def record_soon(
        self,
        key: tuple[str, int],
        index: int,
        request: dict[str, object],
        status: Status,
        *,
        task_id: str | None = None,
        error: str | None = None,
    ) -> concurrent.futures.Future[None]:
        """Queue a write of an item's state after its earlier ones; a task id is never erased.

        The future ends with :class:`CoordinationError` when Redis did not take it
        (a lost task id is logged: it is still in the client's ``pending``), or when
        this run no longer holds the item: its lease lapsed while it lived and another
        run took the item. Then only a row with a task id the row lacks (or has) is
        written, and a ``SENDING`` row is refused, so that its create is not sent a
        second time.
        """
        row = (index, json.dumps(request), status.value, task_id or "", error or "")
        args: list[object] = [*row, self._ttl, self._token]
        return self._chain(key, lambda: self._write(self._item(key), args, status, task_id))

    def end_soon(self, key: tuple[str, int]) -> concurrent.futures.Future[None]:
        """Queue the mark that this run ended the item (its outcome is handed over).

        Other live runs then leave it for good, whatever the outcome: a timeout or
        an error ends an item as a success does.
        """
        return self._chain(key, lambda: self._call(self._end, [self._item(key)], [self._token]))

    def _chain(
        self, key: tuple[str, int], work: Callable[[], Awaitable[object]]
    ) -> concurrent.futures.Future[None]:
        """Run ``work`` after the item's earlier writes; its future, for any thread."""
        before = self._last.get(key)
        written = asyncio.ensure_future(_after(before, work))
        self._last[key] = written
        written.add_done_callback(lambda done: self._forget(key, done))
        landed: concurrent.futures.Future[None] = concurrent.futures.Future()
        written.add_done_callback(lambda done: _copy(done, landed))
        return landed

    async def close(self) -> None:
        """Finish the writes queued, then end this run's lease: its items are nobody's."""
        if self._last:
            await asyncio.gather(*self._last.values(), return_exceptions=True)
        self._stopping.set()
        if self._renewer is not None:
            await self._renewer
        try:
            await self._client.zrem(self._runs, self._token)
        except redis.exceptions.RedisError as exc:
            logger.warning(
                "ending a journal run's lease failed (%s); its items are free once it lapses",
                exc,
                extra={"event": "coordination_failed"},
            )

    def _item(self, key: tuple[str, int]) -> str:
        digest, occurrence = key
        return f"{self._prefix}item:{digest}:{occurrence}"

    def _forget(self, key: tuple[str, int], done: asyncio.Future[None]) -> None:
        if self._last.get(key) is done:
            del self._last[key]

    async def _write(
        self, item: str, args: list[object], status: Status, task_id: str | None
    ) -> None:
        try:
            written = await self._call(self._record, [item], args)
        except CoordinationError:
            if task_id is not None:
                logger.warning(
                    "the journal on Redis did not get task %s (it stays in client.pending)",
                    task_id,
                    extra={"event": "coordination_failed", "task_id": task_id},
                )
            raise
        if not written:  # another run holds the item
            if task_id is not None:
                logger.warning(
                    "the journal on Redis did not take task %s: another run took its item, "
                    "whose row names another task (it stays in client.pending)",
                    task_id,
                    extra={"event": "coordination_failed", "task_id": task_id},
                )
            raise CoordinationError(
                "another run of the batch holds this item now (this run's lease lapsed, "
                "or Redis lost the row): the journal kept its row as it was"
                + ("; the create was not sent" if status is Status.SENDING else "")
            )

    async def _keep_lease(self) -> None:
        """Renew the run's lease every third of it until close."""
        while not await self._stopped_within(self._lease / 3):
            try:
                await self._call(
                    self._renew, [self._runs], [self._token, self._lease_us, self._ttl]
                )
            except CoordinationError as exc:
                self._outage.failed("renewing a journal run's lease", exc)
            else:
                self._outage.worked("renewing a journal run's lease")

    async def _renew_lease(self) -> None:
        await self._call(self._renew, [self._runs], [self._token, self._lease_us, self._ttl])

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()

    async def _call(
        self, script: Callable[..., Awaitable[typing.Any]], keys: list[str], args: list[object]
    ) -> typing.Any:
        try:
            return await script(keys=keys, args=args)
        except redis.exceptions.RedisError as exc:
            raise CoordinationError(
                f"Redis did not answer ({exc}); the journal was not read or written"
            ) from exc


async def _after(
    before: asyncio.Future[None] | None, work: Callable[[], Awaitable[object]]
) -> None:
    """Run ``work`` once ``before`` ended, however it ended."""
    if before is not None:
        with contextlib.suppress(Exception):
            await before
    await work()


def _copy(done: asyncio.Future[None], landed: concurrent.futures.Future[None]) -> None:
    if done.cancelled():
        landed.cancel()
    elif (error := done.exception()) is not None:
        landed.set_exception(error)
    else:
        landed.set_result(None)

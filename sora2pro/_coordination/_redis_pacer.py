"""A pace shared by every process of an account: slots handed out by a Lua script on Redis.

The script spaces slots on Redis's own clock (``TIME``), so hosts whose clocks
disagree still share one pace. Within a process, waiters queue locally by how
overdue they are (as in :class:`~sora2pro._coordination._pacer.PriorityPacer`) and
one task, the driver, asks Redis for the next slot on behalf of the one due longest.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import typing
import uuid

import redis.asyncio
import redis.exceptions

from sora2pro._errors import CoordinationError

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["STOP_WITHIN", "RedisPacer", "Tasks"]

#: Seconds a close waits for a background call to Redis under way when the Redis client
#: swallowed its cancel: what the coordination's timeouts allow one call, twice.
STOP_WITHIN = 15.0

logger = logging.getLogger("sora2pro")

#: How long a slot handed out may go unsent before the next is handed out anyway, in
#: intervals (at least a second): its process died, or its caller gave up silently.
_UNSENT_GRACE = 8

# Times are whole microseconds of Redis's clock. One hash per limit holds the next
# slot ("next"), the end of a pause ("held"), and the slot handed out whose request
# has not left yet ("unsent", its token, until "unsent_until"). Each script returns
# the microseconds until the next slot could be had (0: granted, or nothing to wait).
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('HMGET', KEYS[1], 'next', 'held', 'unsent', 'unsent_until')
local nxt = tonumber(v[1]) or 0
local held = tonumber(v[2]) or 0
local unsent_until = 0
if v[3] then unsent_until = tonumber(v[4]) or 0 end
local function keep(fields)
  for name, value in pairs(fields) do
    redis.call('HSET', KEYS[1], name, string.format('%d', value))
  end
  local last = math.max(nxt, held, unsent_until)
  redis.call('PEXPIREAT', KEYS[1], math.floor(last / 1000) + 60000)
end
"""
# ARGV: interval, lead (how early an urgent caller may take the coming slot), grace,
# token.
_SLOT = (
    _PRELUDE
    + """
local interval, lead, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if held > now then return held - now end
if unsent_until > now then
  return math.max(1, math.min(unsent_until, math.max(nxt, now + interval)) - now)
end
if nxt - lead > now then return nxt - lead - now end
nxt = math.max(nxt, now) + interval
unsent_until = now + grace
keep({next = nxt, unsent_until = unsent_until})
redis.call('HSET', KEYS[1], 'unsent', ARGV[4])
return 0
"""
)
# ARGV: token, interval. The next slot comes a full interval after this request left.
_SENT = (
    _PRELUDE
    + """
nxt = math.max(nxt, now + tonumber(ARGV[2]))
if v[3] == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'unsent', 'unsent_until')
  unsent_until = 0
end
keep({next = nxt})
return nxt - now
"""
)
# ARGV: token. A slot handed out and given up: the next may be handed out.
_VOID = (
    _PRELUDE
    + """
if v[3] == ARGV[1] then redis.call('HDEL', KEYS[1], 'unsent', 'unsent_until') end
return 0
"""
)
# ARGV: pause. No slot until the pause has passed, in any process.
_HOLD = (
    _PRELUDE
    + """
held = math.max(held, now + tonumber(ARGV[1]))
nxt = math.max(nxt, held)
keep({held = held, next = nxt})
return held - now
"""
)


def _micro(seconds: float) -> int:
    return math.ceil(seconds * 1e6)


class Tasks:
    """The background writes of a coordination: kept, logged when they fail, awaited at close."""

    def __init__(self) -> None:
        self._running: set[asyncio.Future[object]] = set()

    def spawn(
        self, work: Awaitable[object], what: str, then: Callable[[object], None] | None = None
    ) -> None:
        """Run ``work`` in the background; ``then`` gets its result, a failure is logged."""
        future = asyncio.ensure_future(work)
        self._running.add(future)

        def done(future: asyncio.Future[object]) -> None:
            self._running.discard(future)
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                logger.warning("%s failed: %s", what, error, extra={"event": "coordination_failed"})
            elif then is not None:
                then(future.result())

        future.add_done_callback(done)

    async def settle(self) -> None:
        """Wait for every write started so far to end."""
        while self._running:
            await asyncio.wait(set(self._running))


class RedisPacer:
    """Slots ``1 / per_second`` apart for every process of a namespace together.

    The contract of the local pacer holds across processes: slots are evenly spaced
    (a burst of one), the next is handed out only once the last one's request left
    (:meth:`sent`) or after a grace of 8 intervals (at least a second), and a
    :meth:`hold` after a 429 pauses every process. An urgent caller (``urgency``
    infinite) may take the coming slot up to one interval early. Within the
    process, the waiter due longest gets the slot the driver obtained.

    When Redis cannot be reached, every waiter gets :class:`CoordinationError`:
    a request is never sent unpaced. The next caller tries Redis again. Each
    caller first calls ``on_use`` (the coordination's first use checks Redis).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key: str,
        per_second: float,
        tasks: Tasks,
        on_use: Callable[[], None],
    ) -> None:
        self._key = key
        self._on_use = on_use
        self._closed = False
        self._interval = 1.0 / per_second
        self._grace = max(1.0, _UNSENT_GRACE * self._interval)
        self._scripts = {
            name: client.register_script(source)
            for name, source in (("slot", _SLOT), ("sent", _SENT), ("void", _VOID))
        }
        self._hold_script = client.register_script(_HOLD)
        self._tasks = tasks
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._held_until = 0.0  # loop time: a pause this process saw
        self._not_before = 0.0  # loop time: Redis said no slot before then
        self._unsent: str | None = None  # the token of the slot handed out, not yet sent
        self._unsent_until = 0.0

    async def acquire(self, urgency: float = 0.0) -> None:
        """Wait until a slot is handed to this caller; ``urgency`` seconds overdue go first.

        Raises:
            CoordinationError: Redis could not be reached, or the pacer was closed; no
                slot was taken.

        """
        if self._closed:
            raise CoordinationError("the Redis coordination was closed; nothing was sent")
        self._on_use()
        loop = asyncio.get_running_loop()
        while True:
            slot: asyncio.Future[None] = loop.create_future()
            due = -math.inf if urgency == math.inf else loop.time() - urgency
            heapq.heappush(self._waiters, (due, next(self._order), slot))
            if due == -math.inf:
                self._wake.set()  # the driver may take the coming slot early for it
            if self._driver is None:
                self._driver = asyncio.ensure_future(self._drive())
            try:
                await slot
            except asyncio.CancelledError:
                if slot.done() and not slot.cancelled():
                    self._void()  # handed out, then cancelled before its use
                self._wake.set()  # the driver stops if nobody waits any more
                raise
            if self._held_until <= loop.time():
                return
            self._void()  # a 429 came back between the grant and now

    def sent(self) -> None:
        """Note that a slot's request leaves now: the next slot comes a full interval later."""
        loop = asyncio.get_running_loop()
        self._not_before = max(self._not_before, loop.time() + self._interval)
        token, self._unsent = self._unsent, None
        started = loop.time()

        def landed(wait: object) -> None:
            self._not_before = max(self._not_before, started + typing.cast("int", wait) / 1e6)
            self._wake.set()

        work = self._scripts["sent"](keys=[self._key], args=[token or "", _micro(self._interval)])
        self._tasks.spawn(work, "noting a request sent on Redis", landed)

    def hold(self, seconds: float) -> None:
        """Hand out no slot for ``seconds`` from now, in every process of the namespace."""
        self._held_until = max(self._held_until, asyncio.get_running_loop().time() + seconds)
        self._wake.set()
        work = self._hold_script(keys=[self._key], args=[_micro(seconds)])
        self._tasks.spawn(work, "sharing a pause after a 429 on Redis")

    async def close(self) -> None:
        """Stop asking for slots: waiters left and later callers get CoordinationError."""
        self._closed = True
        if self._driver is not None:
            driver = self._driver
            driver.cancel()
            # The Redis client may swallow the cancel of a call under way: the driver
            # then stops once that call returns (it looks at _closed each turn).
            await asyncio.wait({driver}, timeout=STOP_WITHIN)
        self._fail(CoordinationError("the Redis coordination was closed; nothing was sent"))

    def _void(self) -> None:
        """The slot handed out is given up unused: the next may be handed out."""
        token, self._unsent = self._unsent, None
        self._unsent_until = 0.0
        self._wake.set()
        if token is not None:
            work = self._scripts["void"](keys=[self._key], args=[token])
            self._tasks.spawn(work, "giving back a slot on Redis")

    def _someone_waits(self) -> bool:
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)  # cancelled meanwhile
        return bool(self._waiters)

    def _fail(self, error: CoordinationError) -> None:
        while self._waiters:
            _, _, slot = heapq.heappop(self._waiters)
            if not slot.done():
                slot.set_exception(error)

    async def _drive(self) -> None:
        """Ask Redis for slots while someone of this process waits; hand them out."""
        loop = asyncio.get_running_loop()
        try:
            while not self._closed:
                self._wake.clear()
                if not self._someone_waits():
                    return
                now = loop.time()
                # An urgent caller may take the coming slot up to one interval early.
                lead = self._interval if self._waiters[0][0] == -math.inf else 0.0
                ready = max(self._held_until, self._not_before - lead)
                if self._unsent is not None:
                    ready = max(ready, self._unsent_until)
                if ready > now:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(ready - now):
                            await self._wake.wait()
                    continue
                await self._ask(loop)
        except CoordinationError as error:
            self._fail(error)
        except Exception as exc:  # noqa: BLE001  # a waiter must never hang on a lost driver
            self._fail(CoordinationError(f"the Redis pacer failed ({exc!r}); nothing was sent"))
        finally:
            self._driver = None

    async def _ask(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ask Redis for the next slot once; hand it to the waiter due longest."""
        urgent = self._waiters[0][0] == -math.inf
        token = uuid.uuid4().hex
        lead = _micro(self._interval) if urgent else 0
        args: list[int | str] = [_micro(self._interval), lead, _micro(self._grace), token]
        asked = loop.time()
        try:
            wait = await self._scripts["slot"](keys=[self._key], args=args)
        except redis.exceptions.RedisError as exc:
            raise CoordinationError(
                f"Redis did not answer ({exc}); the request was not sent, since it "
                "could not be paced with the other processes of the account"
            ) from exc
        if wait:
            self._not_before = asyncio.get_running_loop().time() + int(wait) / 1e6
            return
        self._unsent, self._unsent_until = token, asked + self._grace
        if self._closed or not self._someone_waits():
            self._void()  # closed, or every waiter left, while Redis answered
            return
        _, _, slot = heapq.heappop(self._waiters)
        slot.set_result(None)

"""Idempotency keys shared by every process of an account: one hash per key on Redis.

Each step is a Lua script run on Redis's clock (``TIME``), so hosts whose clocks
disagree still agree on leases and times to live. A key's hash holds the request's
fingerprint, the holder's token, its state ("flight" while the create is being sent,
"done" once its outcome is known), the task id ("" for a lost answer) and, in flight,
the end of the holder's lease. The holder renews its lease while it lives; a claim
that finds a lease run out turns the key into a lost answer, so a holder that died
costs its waiters a :class:`SubmitUncertainError`, never a second create.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import typing
import uuid

import redis.asyncio
import redis.exceptions

from sora2pro._coordination._outage import Outage
from sora2pro._coordination._protocols import KeyEntry
from sora2pro._coordination._redis_pacer import STOP_WITHIN
from sora2pro._errors import CoordinationError

__all__ = ["RedisKeys"]

logger = logging.getLogger("sora2pro")

#: Seconds between two reads of a key whose create another process is sending, at
#: first and at most (the gap doubles from one to the other).
_FIRST_POLL = 0.02
_LAST_POLL = 0.25

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function keep_for(ttl)
  if ttl < 0 then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ttl) end
end
local function lease_for(lease, ttl)
  redis.call('HSET', KEYS[1], 'lease', string.format('%d', now + lease))
  if ttl < 0 then redis.call('PERSIST', KEYS[1])
  else redis.call('PEXPIRE', KEYS[1], math.ceil(lease / 1000) + ttl) end
end
"""
# ARGV: fingerprint, token, lease (microseconds), ttl (milliseconds; -1: for good).
# Returns {"held"}, {"wait", microseconds until the lease ends}, or {"kept", fp, task}.
_CLAIM = (
    _PRELUDE
    + """
local lease, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'fp', 'state', 'task', 'lease', 'token')
if not v[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'token', ARGV[2], 'state', 'flight', 'task', '')
  lease_for(lease, ttl)
  return {'held'}
end
if v[2] == 'flight' then
  local left = tonumber(v[4]) - now
  -- This very claim, sent again after its answer was lost: it holds the key already.
  if v[5] == ARGV[2] and left > 0 then
    lease_for(lease, ttl)
    return {'held'}
  end
  if left <= 0 then
    redis.call('HSET', KEYS[1], 'state', 'done', 'task', '')
    keep_for(ttl)
    return {'kept', v[1], ''}
  end
  if v[1] == ARGV[1] then return {'wait', left} end
end
return {'kept', v[1], v[3]}
"""
)
# ARGV: token, lease, ttl. Returns 1 while the caller still holds the key in flight.
_RENEW = (
    _PRELUDE
    + """
local v = redis.call('HMGET', KEYS[1], 'token', 'state')
if v[1] ~= ARGV[1] or v[2] ~= 'flight' then return 0 end
lease_for(tonumber(ARGV[2]), tonumber(ARGV[3]))
return 1
"""
)
# ARGV: token, task id ("" for a lost answer), ttl. The holder's outcome, even after a
# waiter turned its lapsed lease into a lost answer: a task id is worth keeping.
_SETTLE = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'task', ARGV[2])
redis.call('HDEL', KEYS[1], 'lease')
keep_for(tonumber(ARGV[3]))
return 1
"""
)
# ARGV: token. The holder's create surely did not run: the key is free again.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class _Held:
    """A key this instance holds: its token, the task renewing its lease, its local waiters."""

    def __init__(self, token: str, renewing: asyncio.Task[None]) -> None:
        self.token = token
        self.renewing = renewing
        self.over = asyncio.Event()


class RedisKeys:
    """An :class:`~sora2pro._coordination._protocols.Idempotency` kept on Redis.

    A key is stored under a hash of it (the key itself is not written), kept for
    ``ttl`` seconds (None: for good) from its create's answer, and free again then.
    A holder's claim lasts ``lease`` seconds, renewed every third of it while this
    instance lives; past it, the key holds a lost answer. A waiter in this process
    wakes as soon as the holder here settles; one elsewhere reads the key again
    every 20 to 250 ms.

    Redis unreachable: :meth:`claim` raises :class:`CoordinationError` (the caller
    sends nothing); a failed :meth:`settle` leaves the key to its lease.
    """

    def __init__(
        self, client: redis.asyncio.Redis, prefix: str, *, lease: float, ttl: float | None
    ) -> None:
        self._prefix = prefix
        self._lease = lease
        self._lease_us = math.ceil(lease * 1e6)
        self._ttl_ms = -1 if ttl is None else math.ceil(ttl * 1e3)
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("claim", _CLAIM),
                ("renew", _RENEW),
                ("settle", _SETTLE),
                ("release", _RELEASE),
            )
        }
        self._held: dict[str, _Held] = {}
        self._leaving: set[asyncio.Future[None]] = set()
        self._outage = Outage()
        self._closing = False

    async def claim(self, key: str, fingerprint: str) -> KeyEntry | None:
        """Take ``key``, wait for the holder's outcome, or return what the key holds."""
        token = uuid.uuid4().hex
        gap = _FIRST_POLL
        while True:
            answer = await self._claim_once(key, fingerprint, token)
            kind = answer[0].decode()
            if kind == "held":
                renewing = asyncio.ensure_future(self._renew(key, token))
                self._held[key] = _Held(token, renewing)
                return None
            if kind == "kept":
                return KeyEntry(answer[1].decode(), answer[2].decode() or None)
            # Another holds it for this request: wait for its outcome, or its lease's end.
            pause = min(gap, int(answer[1]) / 1e6)
            gap = min(2 * gap, _LAST_POLL)
            here = self._held.get(key)
            if here is None:
                await asyncio.sleep(pause)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await here.over.wait()

    async def settle(self, key: str, task_id: str | None) -> None:
        """Keep the outcome of a held key's create for the time to live."""
        held = self._stop(key)
        try:
            await self._run("settle", key, held.token, task_id or "", self._ttl_ms)
        finally:
            held.over.set()

    async def release(self, key: str) -> None:
        """Free a held key whose create surely did not run."""
        held = self._stop(key)
        try:
            await self._run("release", key, held.token)
        finally:
            held.over.set()

    async def close(self) -> None:
        """Stop renewing: the keys still held become lost answers after their lease."""
        self._closing = True
        for held in self._held.values():
            held.renewing.cancel()
        renewing = {held.renewing for held in self._held.values()}
        if renewing:
            # A cancel the Redis client swallowed: the renewal stops after its call.
            await asyncio.wait(renewing, timeout=STOP_WITHIN)
        if self._leaving:
            await asyncio.wait(set(self._leaving))

    async def _claim_once(self, key: str, fingerprint: str, token: str) -> typing.Any:
        """Run the claim script; a caller cancelled meanwhile lets go a key it got."""
        claiming = asyncio.ensure_future(
            self._run("claim", key, fingerprint, token, self._lease_us, self._ttl_ms)
        )
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            claiming.add_done_callback(lambda done: self._abandon(done, key, token))
            raise

    def _abandon(self, claiming: asyncio.Future[typing.Any], key: str, token: str) -> None:
        """A claim whose caller left: the key it got is let go (no create was sent)."""
        if claiming.cancelled() or claiming.exception() is not None:
            return
        if claiming.result()[0] == b"held":
            releasing = asyncio.ensure_future(self._run("release", key, token))
            self._leaving.add(releasing)
            releasing.add_done_callback(self._left)

    def _left(self, releasing: asyncio.Future[None]) -> None:
        self._leaving.discard(releasing)
        if not releasing.cancelled() and releasing.exception() is not None:
            logger.warning(
                "letting go an idempotency key failed: %s",
                releasing.exception(),
                extra={"event": "coordination_failed"},
            )

    def _stop(self, key: str) -> _Held:
        held = self._held.pop(key)
        held.renewing.cancel()
        return held

    async def _renew(self, key: str, token: str) -> None:
        """Extend the lease of a held key every third of it, until it is settled."""
        while not self._closing:
            await asyncio.sleep(self._lease / 3)
            try:
                still = await self._run("renew", key, token, self._lease_us, self._ttl_ms)
            except CoordinationError as error:
                self._outage.failed("renewing an idempotency key's lease", error)
                continue
            self._outage.worked("renewing an idempotency key's lease")
            if not still:
                return

    async def _run(self, script: str, key: str, *args: str | int) -> typing.Any:
        name = self._prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()
        try:
            return await self._scripts[script](keys=[name], args=list(args))
        except redis.exceptions.RedisError as exc:
            raise CoordinationError(f"Redis did not answer ({exc}); {_FAILED[script]}") from exc


_FAILED = {
    "claim": "the idempotency key could not be claimed, and the create was not sent",
    "renew": "the lease of an idempotency key could not be renewed",
    "settle": "the outcome of an idempotency key could not be kept; it stays in flight "
    "until its lease ends, then holds a lost answer",
    "release": "an idempotency key could not be let go; it stays in flight until its "
    "lease ends, then holds a lost answer",
}

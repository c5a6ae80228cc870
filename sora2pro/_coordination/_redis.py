"""The coordination of several processes sharing one account, on Redis (``sora2pro[redis]``).

Imported only when ``sora2pro.RedisCoordination`` is first used, so the library
runs without the ``redis`` package.
"""

from __future__ import annotations

import asyncio
import math
import typing
import urllib.parse

import redis.asyncio
import redis.asyncio.retry
import redis.backoff

from sora2pro._config import check_redis_url
from sora2pro._coordination._fallback import FallbackPacer
from sora2pro._coordination._local import KeyStore, LocalCoordination
from sora2pro._coordination._redis_durations import RedisDurations
from sora2pro._coordination._redis_pacer import RedisPacer, Tasks
from sora2pro._coordination._redis_settings import check_settings
from sora2pro._errors import InvalidInputError, Sora2ProError

if typing.TYPE_CHECKING:
    import os

    from sora2pro._coordination._journal import Journal
    from sora2pro._coordination._protocols import TaskRegistry

__all__ = ["RedisCoordination"]

#: Seconds to open a connection to Redis, and to wait for one answer: past them the
#: request that waited for Redis fails with CoordinationError instead of hanging.
_CONNECT_TIMEOUT = 2.0
_ANSWER_TIMEOUT = 5.0
#: Tries of one Redis command after a dropped connection (a restart, an idle close).
_TRIES = 2
#: The limits whose callers go on at a local pace while Redis is away: status reads,
#: which pay for nothing. A create is never sent unpaced.
_FALLS_BACK = frozenset({"recordInfo"})
#: Seconds before Redis's settings are read again when Redis did not answer.
_CHECK_AGAIN = 60.0


class RedisCoordination:
    """Limits shared by every process of one account, on Redis.

    ``pip install 'sora2pro[redis]'``, then ``Client(coordination=RedisCoordination(url))``
    in each process (one instance may serve several clients of a process). Every
    process of the same namespace shares:

    - the create pace and the status budget (:class:`RateLimits`), counted on
      Redis's clock; a 429 seen by one process pauses them all. Within a process,
      the most overdue wait still gets that process's next slot first;
    - the running times the poll schedule learns from.

    While Redis cannot be reached, a create raises :class:`CoordinationError` and
    is not sent: a create never goes out unpaced. Waits go on polling at a quarter
    of the status budget, paced in the process alone (so that a few processes
    falling back together stay under the API's limit), and share the pace on Redis
    again once it answers.

    On first use, it reads Redis's settings (``CONFIG GET``) and logs one warning
    (event ``redis_settings``) when they could lose its state: no persistence, or
    a ``maxmemory-policy`` that may evict keys. A Redis that refuses ``CONFIG``
    (as managed services do) is used without a word.

    Not shared yet: the pending tasks (``client.pending``), idempotency keys and
    batch journals stay in this process (a :class:`LocalCoordination`'s).

    Args:
        url: Where Redis is: ``redis://[[user]:password@]host[:port][/db]``,
            ``rediss://...`` (TLS) or ``unix:///path/to/socket``.
        namespace: The name under which the processes of one account meet. None
            means a hash of the API key of the first client that uses this
            instance (the key itself is never written to Redis); then every client
            of the instance must use that key.

    Raises:
        InvalidInputError: ``url`` is not a Redis URL, or ``namespace`` is empty or
            holds braces.

    Use it as ``async with RedisCoordination(url) as coordination:``, or await
    :meth:`close` when every client using it is closed.

    """

    def __init__(self, url: str, *, namespace: str | None = None) -> None:
        check_redis_url("url", url)
        if namespace is not None and (
            not isinstance(namespace, str) or not namespace or {"{", "}"} & set(namespace)
        ):
            raise InvalidInputError("namespace", "must be a non-empty string without braces")
        self._where = _redacted(url)
        self._client = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_ANSWER_TIMEOUT,
            retry=redis.asyncio.retry.Retry(
                redis.backoff.ExponentialBackoff(cap=0.05, base=0.01), _TRIES - 1
            ),
        )
        self._namespace = namespace
        self._named = namespace is not None
        self._tasks = Tasks()
        self._pacers: dict[str, RedisPacer | FallbackPacer] = {}
        # When Redis's settings may be read next (loop time); None once they were.
        self._check_at: float | None = 0.0
        self._durations: RedisDurations | None = None
        self._local = LocalCoordination()

    def __repr__(self) -> str:
        return f"<sora2pro.RedisCoordination {self._where} namespace={self._namespace!r}>"

    async def __aenter__(self) -> typing.Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def namespace(self) -> str | None:
        """The name the processes of the account meet under (None until a client binds it)."""
        return self._namespace

    def bind(self, account: str) -> None:
        """Take the account's hash as the namespace, unless one was given.

        Raises:
            InvalidInputError: the instance already serves another account.

        """
        if self._named:
            return
        if self._namespace is not None and self._namespace != account:
            raise InvalidInputError(
                "coordination",
                "this RedisCoordination serves another API key already: give each account "
                "its own, or name a namespace",
            )
        self._namespace = account

    def pacer(self, name: str, per_second: float) -> RedisPacer | FallbackPacer:
        """The pacer of the limit ``name``, shared by the namespace; ``per_second`` on first use.

        Status reads ("recordInfo") fall back to a local pace while Redis is away.
        """
        if name not in self._pacers:
            key = f"{self._prefix()}pacer:{name}"
            shared = RedisPacer(self._client, key, per_second, self._tasks, self._first_use)
            fallback = FallbackPacer(shared, per_second) if name in _FALLS_BACK else None
            self._pacers[name] = fallback or shared
        return self._pacers[name]

    def registry(self) -> TaskRegistry:
        """The pending tasks: kept in this process for now (not yet shared)."""
        return self._local.registry()

    def durations(self) -> RedisDurations:
        """The running times every process of the namespace saw."""
        if self._durations is None:
            prefix = f"{self._prefix()}durations:"
            self._durations = RedisDurations(self._client, prefix, self._tasks, self._first_use)
        return self._durations

    def idempotency(self) -> KeyStore:
        """Idempotency keys: kept in this process for now (not yet shared)."""
        return self._local.idempotency()

    async def open_ledger(self, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the SQLite journal at ``path``, for this run alone (local for now)."""
        return await self._local.open_ledger(path)

    async def close(self) -> None:
        """Stop the pacers (their waiters get CoordinationError), finish writes, disconnect."""
        for pacer in self._pacers.values():
            await pacer.close()
        await self._tasks.settle()
        await self._client.aclose()

    async def settle(self) -> None:
        """Wait until every write sent to Redis so far has landed (or failed)."""
        await self._tasks.settle()

    def _first_use(self) -> None:
        """Read Redis's settings in the background, once it answers."""
        now = asyncio.get_running_loop().time()
        if self._check_at is not None and now >= self._check_at:
            self._check_at = math.inf  # one read at a time
            self._tasks.spawn(self._check(now), "reading Redis's settings")

    async def _check(self, now: float) -> None:
        read = await check_settings(self._client, self._where)
        self._check_at = None if read else now + _CHECK_AGAIN

    def _prefix(self) -> str:
        if self._namespace is None:
            raise Sora2ProError(
                "RedisCoordination has no namespace yet: pass namespace=..., or give it to "
                "a Client first"
            )
        # The braces keep a namespace's keys on one node of a Redis Cluster, as its
        # scripts need.
        return f"sora2pro:{{{self._namespace}}}:"


def _redacted(url: str) -> str:
    """Where ``url`` points, without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

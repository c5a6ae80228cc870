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

from sora2pro._config import DEFAULT_IDEMPOTENCY_TTL, check_redis_url, check_timeout
from sora2pro._coordination._fallback import FallbackPacer
from sora2pro._coordination._local import LocalCoordination
from sora2pro._coordination._redis_bus import RedisBus
from sora2pro._coordination._redis_durations import RedisDurations
from sora2pro._coordination._redis_journal import RedisJournal
from sora2pro._coordination._redis_keys import RedisKeys
from sora2pro._coordination._redis_pacer import RedisPacer, Tasks
from sora2pro._coordination._redis_registry import RedisRegistry
from sora2pro._coordination._redis_settings import check_settings
from sora2pro._errors import InvalidInputError, Sora2ProError
from sora2pro._wire import make_converter

if typing.TYPE_CHECKING:
    import os

    from sora2pro._coordination._journal import Journal

__all__ = ["RedisCoordination"]

#: Seconds to open a connection to Redis, and to wait for one answer: past them the
#: request that waited for Redis fails with CoordinationError instead of hanging.
_CONNECT_TIMEOUT = 2.0
_ANSWER_TIMEOUT = 5.0
#: Seconds a process's claim on an idempotency key lasts unless renewed.
DEFAULT_LEASE = 30.0
#: Tries of one Redis command after a dropped connection (a restart, an idle close).
_TRIES = 2
#: The limits whose callers go on at a local pace while Redis is away: status reads,
#: which pay for nothing. A create is never sent unpaced.
_FALLS_BACK = frozenset({"recordInfo"})
#: How long a journal on Redis keeps its items after their last change: 30 days.
DEFAULT_JOURNAL_TTL = 30 * 24 * 3600.0
#: The longest a lease or a time to live may be, 100 years: far below what Redis's
#: EXPIRE and PX take.
_LONGEST = 100 * 365.25 * 24 * 3600
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
    - the running times the poll schedule learns from;
    - callbacks: one received by any process (its Client has a receiver) is
      confirmed there by one status request and ends the wait for its task in
      whichever process waits, through a Redis stream.
    - idempotency keys: a key given in any process returns the task its first
      create made, for ``idempotency_ttl`` seconds from that create's answer. A
      submit holding a key whose create is on the wire holds a lease on it,
      renewed while its process lives; a process that died leaves its keys
      holding a lost answer (:class:`SubmitUncertainError`) once the lease ends,
      never a second create. Keys are stored under their hash;
    - the pending tasks: each process keeps its own (``client.pending``), written
      to Redis in the background, under a lease renewed while it lives. When a
      process dies, another takes its tasks over with ``client.adopt_orphans()``
      once its lease ended.

    While Redis cannot be reached, a create (or a submit with an idempotency key)
    raises :class:`CoordinationError` and is not sent: a create never goes out
    unpaced or unclaimed. Waits go on polling at a quarter of the status budget,
    paced in the process alone (so that a few processes falling back together stay
    under the API's limit), and share the pace on Redis again once it answers.

    On first use, it reads Redis's settings (``CONFIG GET``) and logs one warning
    (event ``redis_settings``) when they could lose its state: no persistence, or
    a ``maxmemory-policy`` that may evict keys. A Redis that refuses ``CONFIG``
    (as managed services do) is used without a word.

    - batches: :meth:`journal` names a journal kept in Redis, which several
      processes may run one batch with at once (``client.batch(items,
      journal=coordination.journal("campaign-7"))``); a journal given as a file path
      stays a SQLite file of this process.

    Args:
        url: Where Redis is: ``redis://[[user]:password@]host[:port][/db]``,
            ``rediss://...`` (TLS) or ``unix:///path/to/socket``.
        namespace: The name under which the processes of one account meet. None
            means a hash of the API key of the first client that uses this
            instance (the key itself is never written to Redis); then every client
            of the instance must use that key.
        lease: Seconds a process's claim on an idempotency key, and its hold on
            its pending tasks, last without being renewed (they are renewed every
            third of it while the process lives).
        idempotency_ttl: How long an idempotency key keeps its outcome, in seconds
            from its create's answer; None keeps keys for good. 24 hours by default.

    Raises:
        InvalidInputError: ``url`` is not a Redis URL, ``namespace`` is empty or
            holds braces, or ``lease`` or ``idempotency_ttl`` is not a positive
            number of at most 100 years (or None, for ``idempotency_ttl``).

    Use it as ``async with RedisCoordination(url) as coordination:``, or await
    :meth:`close` when every client using it is closed.

    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str | None = None,
        lease: float = DEFAULT_LEASE,
        idempotency_ttl: float | None = DEFAULT_IDEMPOTENCY_TTL,
    ) -> None:
        check_redis_url("url", url)
        if namespace is not None and (
            not isinstance(namespace, str) or not namespace or {"{", "}"} & set(namespace)
        ):
            raise InvalidInputError("namespace", "must be a non-empty string without braces")
        _check_span("idempotency_ttl", idempotency_ttl, optional=True)
        _check_span("lease", lease)
        try:
            self._where = _redacted(url)
            self._client = redis.asyncio.Redis.from_url(
                url,
                socket_connect_timeout=_CONNECT_TIMEOUT,
                socket_timeout=_ANSWER_TIMEOUT,
                retry=redis.asyncio.retry.Retry(
                    redis.backoff.ExponentialBackoff(cap=0.05, base=0.01), _TRIES - 1
                ),
            )
        except ValueError as exc:
            # What urllib and redis-py say names the part, never the URL (nor its password).
            raise InvalidInputError("url", f"is not a Redis URL that can be read: {exc}") from None
        self._namespace = namespace
        self._named = namespace is not None
        self._tasks = Tasks()
        self._pacers: dict[str, RedisPacer | FallbackPacer] = {}
        # When Redis's settings may be read next (loop time); None once they were.
        self._check_at: float | None = 0.0
        self._durations: RedisDurations | None = None
        self._bus: RedisBus | None = None
        self._lease = lease
        self._ttl = idempotency_ttl
        self._keys: RedisKeys | None = None
        self._registry: RedisRegistry | None = None
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

    def registry(self) -> RedisRegistry:
        """The pending tasks of this process, kept on Redis too, for adoption if it dies."""
        if self._registry is None:
            self._registry = RedisRegistry(
                self._client, self._prefix(), make_converter(), self._lease
            )
        return self._registry

    def durations(self) -> RedisDurations:
        """The running times every process of the namespace saw."""
        if self._durations is None:
            prefix = f"{self._prefix()}durations:"
            self._durations = RedisDurations(self._client, prefix, self._tasks, self._first_use)
        return self._durations

    def idempotency(self) -> RedisKeys:
        """The idempotency keys every process of the namespace shares."""
        if self._keys is None:
            prefix = f"{self._prefix()}key:"
            self._keys = RedisKeys(self._client, prefix, lease=self._lease, ttl=self._ttl)
        return self._keys

    def callback_bus(self) -> RedisBus:
        """The confirmed ends of tasks, told to every process of the namespace (a stream)."""
        if self._bus is None:
            self._bus = RedisBus(self._client, f"{self._prefix()}callbacks", self._tasks)
        return self._bus

    def journal(self, name: str, *, ttl: float = DEFAULT_JOURNAL_TTL) -> RedisJournal:
        """A batch journal on Redis, shared by the processes of the namespace.

        Every process that runs ``client.batch(items, journal=coordination.journal(name))``
        with the same items splits them with the others: each item is taken by one
        process (which yields it), an item taken by a process that died is taken
        over by a live one once the dead one's lease ended, and a run after the
        others ended yields every item's outcome without paying again. Every
        guarantee of a SQLite journal holds: a create is recorded before it is
        sent, its task id the instant it comes back, and an item whose create went
        out unanswered is never sent again unless ``resubmit_uncertain``.

        Args:
            name: The journal's name: printable text of up to 200 characters.
            ttl: Seconds the journal keeps an item after its last change (at most
                100 years).

        Raises:
            InvalidInputError: ``name`` or ``ttl`` is not valid.

        """
        if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
            raise InvalidInputError("name", "must be printable text of 1 to 200 characters")
        _check_span("ttl", ttl)
        return RedisJournal(self._client, name, self._prefix, lease=self._lease, ttl=ttl)

    async def open_ledger(self, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the SQLite journal at ``path``, for this run of this process alone."""
        return await self._local.open_ledger(path)

    async def close(self) -> None:
        """Stop the pacers (their waiters get CoordinationError), finish writes, disconnect.

        Idempotency keys still held (their creates on the wire) are no longer
        renewed: they hold a lost answer once their lease ends.
        """
        for pacer in self._pacers.values():
            await pacer.close()
        if self._bus is not None:
            await self._bus.close()
        if self._keys is not None:
            await self._keys.close()
        if self._registry is not None:
            await self._registry.close()
        await self._tasks.settle()
        await self._client.aclose()

    async def settle(self) -> None:
        """Wait until every write sent to Redis so far has landed (or failed)."""
        await self._tasks.settle()
        if self._registry is not None:
            await self._registry.flush()

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


def _check_span(name: str, seconds: float | None, *, optional: bool = False) -> None:
    """Refuse a lease or time to live Redis cannot take: not positive, or over 100 years.

    None is refused too, unless ``optional`` (then it means "for good").
    """
    if seconds is None:
        if optional:
            return
        raise InvalidInputError(name, "must be a positive number of seconds, not None")
    check_timeout(name, seconds)
    if seconds > _LONGEST:
        raise InvalidInputError(name, f"must be at most 100 years, not {seconds!r} seconds")


def _redacted(url: str) -> str:
    """Where ``url`` points, without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

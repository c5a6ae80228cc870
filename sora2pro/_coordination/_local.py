"""The coordination of one process: today's behaviour, and the default of every client."""

from __future__ import annotations

import asyncio
import collections
import time
import types
import typing

import attrs

from sora2pro._config import DEFAULT_IDEMPOTENCY_TTL, check_timeout
from sora2pro._coordination._bus import LocalBus
from sora2pro._coordination._journal import Journal
from sora2pro._coordination._pacer import PriorityPacer
from sora2pro._coordination._protocols import KeyEntry

if typing.TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping, Sequence

    from sora2pro._model._requests import Request

__all__ = ["KeyStore", "LocalCoordination"]

#: Slots of a lifted budget that callers may take at once in one turn of the loop, by
#: limit. Status reads go without a timer each. Creates keep one a turn even when
#: lifted: each starts a task whose wait then polls, and 64 creates started together
#: doubled the status queries answered 429 in the scale benchmark (10,000 creates).
_AT_ONCE = {"recordInfo": 64}


class _Registry:
    """Pending tasks in a dict of this process."""

    def __init__(self) -> None:
        self._tasks: dict[str, Request] = {}

    def add(self, task_id: str, request: Request) -> None:
        self._tasks[task_id] = request

    def finish(self, task_id: str) -> Request | None:
        return self._tasks.pop(task_id, None)

    def get(self, task_id: str) -> Request | None:
        return self._tasks.get(task_id)

    def pending(self) -> Mapping[str, Request]:
        return types.MappingProxyType(self._tasks)

    async def adopt(self) -> list[str]:
        return []  # nothing outlives the one process that holds these tasks


class _Durations:
    """The last running times of each request shape, in a dict of this process."""

    #: Running times kept per shape: enough for a stable median and spread, and the
    #: oldest go, so the model follows the service when it speeds up or slows down.
    KEPT = 256
    #: Shapes kept, those recorded last: a server naming a new model in each answer
    #: must not grow them without end.
    SHAPES = 256

    def __init__(self) -> None:
        self._seen: dict[str, collections.deque[float]] = {}

    def record(self, shape: str, seconds: float) -> None:
        kept = self._seen.pop(shape, None)
        if kept is None:
            kept = collections.deque(maxlen=self.KEPT)
            if len(self._seen) >= self.SHAPES:
                del self._seen[next(iter(self._seen))]
        self._seen[shape] = kept
        kept.append(seconds)

    def recent(self, shape: str) -> Sequence[float]:
        return self._seen.get(shape, ())


@attrs.frozen
class _Flight:
    """A key whose create is being sent: its request, and who waits for its outcome."""

    fingerprint: str
    over: asyncio.Event = attrs.Factory(asyncio.Event)


@attrs.frozen
class _Kept:
    """A settled key: what it holds, and until when (``clock`` time; None: for good)."""

    entry: KeyEntry
    until: float | None


class KeyStore:
    """Idempotency keys in dicts of this process.

    A key is kept for ``ttl`` seconds (None: for good) from the answer of its create,
    and is free again at that very moment; keys in flight never expire.
    """

    def __init__(self, ttl: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._flying: dict[str, _Flight] = {}
        # In the order they were settled, which is the order they expire in.
        self._kept: dict[str, _Kept] = {}

    async def claim(self, key: str, fingerprint: str) -> KeyEntry | None:
        while True:
            self._forget_expired()
            kept = self._kept.get(key)
            if kept is not None:
                return kept.entry
            flight = self._flying.get(key)
            if flight is None:
                self._flying[key] = _Flight(fingerprint)
                return None
            if flight.fingerprint != fingerprint:
                return KeyEntry(flight.fingerprint, None)
            # Event.wait is safe to cancel: the holder and other waiters go on.
            await flight.over.wait()

    async def settle(self, key: str, task_id: str | None) -> None:
        flight = self._flying.pop(key)
        until = None if self._ttl is None else self._clock() + self._ttl
        self._kept.pop(key, None)
        self._kept[key] = _Kept(KeyEntry(flight.fingerprint, task_id), until)
        flight.over.set()

    async def release(self, key: str) -> None:
        self._flying.pop(key).over.set()

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._kept:
            key, kept = next(iter(self._kept.items()))
            if kept.until is None or now < kept.until:
                return
            del self._kept[key]


class LocalCoordination:
    """Limits, pending tasks and journals kept in this process.

    Every client makes its own unless given one: ``Client(coordination=shared)`` for
    several clients of one process that share an account, so that they pace their
    requests together, see each other's pending tasks and learn from each other's
    running times. A pacer is made at the rate of the first client that asks for it.
    Journals are SQLite files, locked so that one run at a time holds each.

    Args:
        idempotency_ttl: How long an idempotency key keeps the task its create made
            (or its lost answer), in seconds from that answer; None keeps keys for
            the coordination's life. 24 hours by default, as Stripe keeps them.

    Raises:
        InvalidInputError: ``idempotency_ttl`` is not a positive number or None.

    """

    def __init__(self, *, idempotency_ttl: float | None = DEFAULT_IDEMPOTENCY_TTL) -> None:
        check_timeout("idempotency_ttl", idempotency_ttl)
        self._pacers: dict[str, PriorityPacer] = {}
        self._registry = _Registry()
        self._durations = _Durations()
        self._keys = KeyStore(idempotency_ttl)
        self._bus = LocalBus()

    def __repr__(self) -> str:
        return f"<sora2pro.LocalCoordination pending={len(self._registry.pending())}>"

    def bind(self, account: str) -> None:
        """Nothing to do: the state of one process needs no name."""

    def pacer(self, name: str, per_second: float) -> PriorityPacer:
        """The pacer of the limit ``name``, made at ``per_second`` on first use."""
        if name not in self._pacers:
            self._pacers[name] = PriorityPacer(per_second, at_once=_AT_ONCE.get(name, 0))
        return self._pacers[name]

    def registry(self) -> _Registry:
        """The pending tasks of every client using this coordination."""
        return self._registry

    def durations(self) -> _Durations:
        """The running times of the tasks every client using this coordination saw end."""
        return self._durations

    async def open_ledger(self, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the SQLite journal at ``path``, for this run alone."""
        return await Journal.open(path)

    def idempotency(self) -> KeyStore:
        """The idempotency keys of every client using this coordination."""
        return self._keys

    def callback_bus(self) -> LocalBus:
        """The confirmed ends of tasks, among the clients using this coordination."""
        return self._bus

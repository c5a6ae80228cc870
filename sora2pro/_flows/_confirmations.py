"""Which callbacks handed to a client are confirmed, and how soon.

A callback is a hint until one status fetch confirms it, and anyone who can reach a
receiver without an HMAC key can send one for any task id. A wait confirms the
callbacks of its own task itself, at most one per interval. Callbacks no wait of
this client takes (``deliver_callback()``, and those relayed to other processes) go
through :class:`Confirmations`:

- the callbacks of one task are confirmed one after another, each by a fetch sent
  after it came, so none is answered by a fetch older than itself;
- the first callback of a task this client submitted and waits for takes the coming
  status slot; once the server said that task had not ended, its next callbacks for
  :attr:`Confirmations.RESTING` seconds go as those of any other task;
- any other takes the coming slot too within a pace below the status budget (a
  token bucket: a callback relayed to the process that waits is no slower for it),
  and goes behind the polls past it; at most :attr:`Confirmations.MOST_AT_ONCE` of
  those are in flight or in line, and past that a callback is not confirmed at all.

A flood of forged callbacks, even naming a task this client waits for, then costs a
share of the status budget, never all of it, nor memory without end; a wait's own
callbacks are never turned away.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import typing

import attrs

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["Confirmations"]

#: Tasks remembered as resting; past this many the memory starts again.
_KEPT = 4096
#: Seconds between two warnings about a flood.
_WARN_EVERY = 60.0


@attrs.define
class Confirmations:
    """The confirmations under way, by task, and the urgent slots left.

    Attributes:
        per_second: Confirmations that go ahead of the polls, a second.
        at_once: How many of those may go one after another after a lull.

    """

    #: Confirmations of tasks not known here under way at most (in line included).
    MOST_AT_ONCE: typing.ClassVar[int] = 32
    #: Seconds a task the server said had not ended loses its first place.
    RESTING: typing.ClassVar[float] = 2.0
    #: The urgency past the pace: behind the polls due within the next few seconds
    #: (a waiter is never starved).
    BEHIND_POLLS: typing.ClassVar[float] = -10.0

    per_second: float
    at_once: float
    _unknown: int = attrs.field(default=0, init=False)
    _lines: dict[str, tuple[asyncio.Lock, int]] = attrs.field(factory=dict, init=False)
    _resting: dict[str, float] = attrs.field(factory=dict, init=False)
    _urgent: float = attrs.field(init=False)
    _counted_at: float = attrs.field(default=-math.inf, init=False)
    _warned_at: float = attrs.field(default=-math.inf, init=False)

    def __attrs_post_init__(self) -> None:
        self._urgent = self.at_once

    @contextlib.asynccontextmanager
    async def turn(
        self, task_id: str, deadline: float | None, *, known: bool
    ) -> AsyncIterator[bool]:
        """Wait for ``task_id``'s turn; yields False (at once) if it is turned away.

        ``known``: this client submitted the task and has not seen it end.

        Raises:
            TimeoutError: ``deadline`` passed in line.

        """
        if not known and self._unknown >= self.MOST_AT_ONCE:
            yield False
            return
        self._unknown += not known
        lock, users = self._lines.get(task_id) or (asyncio.Lock(), 0)
        self._lines[task_id] = (lock, users + 1)
        try:
            # Safe as a scope: nothing inside sets timers of its own.
            async with asyncio.timeout_at(deadline):
                await lock.acquire()
            try:
                yield True
            finally:
                lock.release()
        finally:
            self._unknown -= not known
            lock, users = self._lines[task_id]
            if users > 1:
                self._lines[task_id] = (lock, users - 1)
            else:
                del self._lines[task_id]

    def urgency(self, task_id: str, now: float, *, known: bool) -> float:
        """Where the fetch for ``task_id``'s callback goes among the status queries."""
        if known and self._resting.get(task_id, -math.inf) <= now:
            return math.inf
        regained = (now - self._counted_at) * self.per_second
        self._urgent = min(self.at_once, self._urgent + regained)
        self._counted_at = now
        if self._urgent < 1:
            return self.BEHIND_POLLS
        self._urgent -= 1
        return math.inf

    def running(self, task_id: str, now: float) -> None:
        """The server said at ``now`` that ``task_id`` had not ended: it rests a while."""
        if len(self._resting) >= _KEPT:
            self._resting.clear()
        self._resting[task_id] = now + self.RESTING

    def warn(self, now: float) -> bool:
        """Whether a warning about a flood is due at ``now`` (one a minute at most)."""
        if now - self._warned_at < _WARN_EVERY:
            return False
        self._warned_at = now
        return True

    @property
    def under_way(self) -> int:
        """Callbacks being confirmed or in line for it."""
        return sum(users for _, users in self._lines.values())

"""Which callbacks handed to a client are confirmed, and which of them jump the queue.

A callback is a hint until one status fetch confirms it, and anyone who can reach a
receiver without an HMAC key can send one for any task id. A wait confirms the
callbacks of its own task itself, at most one per interval. Callbacks no wait of
this client takes (``deliver_callback()``, and those relayed to other processes) go
through :class:`Confirmations`:

- one confirmation of a task at a time: its answer is the truth for every callback
  of that task;
- a task this client submitted and waits for takes the coming status slot;
- any other task goes ahead of the polls within a pace below the status budget (a
  token bucket), and queues with them past it; at most :attr:`Confirmations.MOST_AT_ONCE` of
  those are in flight, and past that a callback is not confirmed at all.

A flood of forged callbacks then takes a share of the status budget, never all of
it, nor memory without end, and neither the waits' own callbacks nor those of tasks
this client is waiting for are ever turned away for it.
"""

from __future__ import annotations

import math
import typing

import attrs

__all__ = ["Confirmations"]

#: Seconds between two warnings that callbacks are being turned away.
_WARN_EVERY = 60.0


@attrs.define
class Confirmations:
    """The confirmations in flight, and the urgent slots left.

    Attributes:
        per_second: Confirmations of tasks not known here that go first, a second.
        at_once: How many of those may go first one after another after a lull.

    """

    #: Confirmations of tasks not known here in flight at most.
    MOST_AT_ONCE: typing.ClassVar[int] = 32
    #: The urgency of those within the pace: ahead of every poll (no poll is a
    #: century overdue), behind a caller that cannot wait (``math.inf``).
    AHEAD_OF_POLLS: typing.ClassVar[float] = 3e9

    per_second: float
    at_once: float
    _unknown: int = attrs.field(default=0, init=False)
    _busy: set[str] = attrs.field(factory=set, init=False)
    _urgent: float = attrs.field(init=False)
    _counted_at: float = attrs.field(default=-math.inf, init=False)
    _warned_at: float = attrs.field(default=-math.inf, init=False)

    def __attrs_post_init__(self) -> None:
        self._urgent = self.at_once

    def begin(self, task_id: str, now: float, *, known: bool) -> float | None:
        """Start confirming ``task_id`` at loop time ``now``: the urgency, or None for not.

        ``known``: this client submitted the task and has not seen it end.
        """
        if task_id in self._busy or (not known and self._unknown >= self.MOST_AT_ONCE):
            return None
        self._busy.add(task_id)
        if known:
            return math.inf
        self._unknown += 1
        regained = (now - self._counted_at) * self.per_second
        self._urgent = min(self.at_once, self._urgent + regained)
        self._counted_at = now
        if self._urgent < 1:
            return 0.0
        self._urgent -= 1
        return self.AHEAD_OF_POLLS

    def end(self, task_id: str, *, known: bool) -> None:
        """The confirmation of ``task_id`` begun (``known`` or not) has its answer."""
        self._busy.discard(task_id)
        self._unknown -= not known

    @property
    def in_flight(self) -> int:
        """Confirmations begun and not ended."""
        return len(self._busy)

    def turned_away(self, now: float) -> bool:
        """Note a callback turned away at ``now``: whether to warn (once a minute)."""
        if now - self._warned_at < _WARN_EVERY:
            return False
        self._warned_at = now
        return True

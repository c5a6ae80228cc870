"""How many callbacks a client confirms at once, and how many of them jump the queue.

A callback is a hint until one status fetch confirms it, and anyone who can reach a
receiver without an HMAC key can send one for any task id. A confirmation takes the
coming status slot at once (someone waits for that very answer), but the account's
own callbacks come no faster than it creates tasks (the client's create pace, 19 per
10 s by default). Past that pace, confirmations queue with the polls; past
:attr:`Confirmations.MOST_AT_ONCE` in flight, a callback is not confirmed at all and
the waits poll on. A flood of forged callbacks then costs a share of the status
budget, never all of it, and no memory without end.
"""

from __future__ import annotations

import math
import typing

import attrs

__all__ = ["Confirmations"]


@attrs.define
class Confirmations:
    """The confirmations in flight, and the urgent ones left (a token bucket).

    Attributes:
        per_second: Confirmations a second that take the coming slot.
        at_once: How many may take it one after another after a lull.
        in_flight: Confirmations begun and not ended.

    """

    #: Confirmations in flight at most; a callback past them is not confirmed.
    MOST_AT_ONCE: typing.ClassVar[int] = 32

    per_second: float
    at_once: float
    in_flight: int = 0
    _urgent: float = attrs.field(init=False)
    _counted_at: float = attrs.field(default=-math.inf, init=False)

    def __attrs_post_init__(self) -> None:
        self._urgent = self.at_once

    def begin(self, now: float) -> float | None:
        """Start one confirmation at loop time ``now``: its urgency, or None for none."""
        if self.in_flight >= self.MOST_AT_ONCE:
            return None
        self.in_flight += 1
        regained = (now - self._counted_at) * self.per_second
        self._urgent = min(self.at_once, self._urgent + regained)
        self._counted_at = now
        if self._urgent < 1:
            return 0.0
        self._urgent -= 1
        return math.inf

    def end(self) -> None:
        """A confirmation begun has its answer (or gave up)."""
        self.in_flight -= 1

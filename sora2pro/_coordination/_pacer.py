"""A per-client pace: at most a given number of events per second."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math

__all__ = ["PriorityPacer"]

#: How early a loop timer may fire (asyncio runs one within its clock's resolution).
_EARLY = 1e-6
#: How long a slot handed out may go unsent before the next one is handed out anyway,
#: in intervals (at least a second): its caller gave up without a word.
_UNSENT_GRACE = 8
#: Slots closer than this are no pace (a budget lifted far above the API's): no request
#: is built and written faster, so a caller finding nobody waiting needs no timer.
_UNPACED = 1e-5


class PriorityPacer:
    """Space slots ``1 / per_second`` apart; give each to the waiter due longest.

    A burst of one, not a window of N: two full windows back to back can land 2N
    requests inside one window of the server's clock once delivery delays differ,
    while even spacing keeps a margin for them.

    A waiter that arrives with ``urgency`` seconds has been due since ``urgency``
    seconds ago (negative: it will be due that much later). Earliest due goes
    first: overdue callers go ahead, and a caller not yet due still gets its turn
    once it has waited long enough, so nothing starves. Slots are handed out by loop
    timers, so there is no background task to start or stop; a cancelled waiter
    takes no slot.

    The next slot is handed out only once the request of the last one has left
    (:meth:`sent`): a request that waits for a connection (the pool full of slow
    creates, or the loop stalled) would otherwise leave together with the ones
    granted after it. A slot unsent for :data:`_UNSENT_GRACE` intervals (at least a
    second) no longer holds the next back.

    A caller that cannot wait (``urgency`` infinite: someone waits for this very
    answer) takes the coming slot at once when it is due within one interval; the
    slot after it stays where it was. Slots are then never more than one interval
    early, so any second holds at most one request more than the pace.

    An unpaced budget (slots under 10 us apart) may let callers who find nobody
    waiting take a slot at once, up to ``at_once`` in one turn of the loop. Past
    that, callers queue and get one slot a turn, as from a paced budget (and as
    every caller does with ``at_once`` 0); a pause after a 429 holds them all.
    """

    def __init__(self, per_second: float, *, at_once: int = 0) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._held_until = 0.0
        self._at_once = at_once if self._interval < _UNPACED else 0
        self._this_turn = 0  # slots taken at once in this turn of the loop
        # While a granted slot's request has not left, and until when at most.
        self._unsent_until = 0.0
        self._grace = max(1.0, _UNSENT_GRACE * self._interval)

    async def acquire(self, urgency: float = 0.0) -> None:
        """Wait until a slot is handed to this caller; ``urgency`` seconds overdue go first."""
        loop = asyncio.get_running_loop()
        if (
            self._this_turn < self._at_once
            and not self._waiters
            and self._held_until <= loop.time()
        ):
            if not self._this_turn:
                loop.call_soon(self._next_turn)
            self._this_turn += 1
            return
        if urgency == math.inf and self._early(loop.time()):
            return
        while True:
            slot: asyncio.Future[None] = loop.create_future()
            heapq.heappush(self._waiters, (loop.time() - urgency, next(self._order), slot))
            self._schedule()
            try:
                await slot
            except asyncio.CancelledError:
                if slot.done() and not slot.cancelled():
                    self._void()  # handed out, then cancelled before its use
                raise
            if self._held_until <= loop.time():
                return
            # A 429 came back between the grant and now: that slot is void. The hold
            # already pushed the next grant past its end.
            self._void()

    def sent(self) -> None:
        """Note that a slot's request leaves now: the next slot comes a full interval later.

        A caller late to use its slot (the loop stalled between the grant and the
        send) would otherwise send together with the next caller, whose timer fired
        on time, and the server would see two requests closer than the pace.
        """
        now = asyncio.get_running_loop().time()
        self._next = max(self._next, now + self._interval)
        if self._unsent_until:
            self._void()

    def _early(self, now: float) -> bool:
        """Take the coming slot now if it is due within one interval; whether it was."""
        if (
            self._unsent_until
            or self._held_until > now
            or self._interval < _UNPACED
            or self._next - now > self._interval
        ):
            return False
        self._next = max(self._next, now) + self._interval
        self._unsent_until = now + self._grace
        return True

    def _void(self) -> None:
        """The slot handed out is used or given up: the next may be handed out."""
        self._unsent_until = 0.0
        if self._timer is not None and self._timer.when() > self._next:
            self._timer.cancel()  # it waited for the grace: the slot is free sooner
            self._timer = None
        self._schedule()

    def hold(self, seconds: float) -> None:
        """Hand out no slot for ``seconds`` from now (after a 429, say)."""
        self._held_until = max(self._held_until, asyncio.get_running_loop().time() + seconds)
        self._next = max(self._next, self._held_until)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._schedule()

    def _ready(self) -> float:
        """When the next slot may be handed out (loop time)."""
        return max(self._next, self._unsent_until)

    def _schedule(self) -> None:
        if self._timer is None and self._waiters:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(loop.time(), self._ready()), self._grant)

    def _grant(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        if now + _EARLY < self._ready():
            self._schedule()  # a request sent late, or not yet, holds the next slot back
            return
        while self._waiters:
            _, _, slot = heapq.heappop(self._waiters)
            if not slot.done():  # skip waiters cancelled meanwhile
                slot.set_result(None)
                self._next = now + self._interval
                if self._interval >= _UNPACED:
                    self._unsent_until = now + self._grace
                break
        self._schedule()

    def _next_turn(self) -> None:
        self._this_turn = 0

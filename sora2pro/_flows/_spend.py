"""A batch's spend guard: no create once the balance would fall under a floor.

What a video costs is not known in advance (it depends on the model, the length and
the quality, and the API does not say), so the guard learns it and errs on the safe
side:

- It reads the balance (the credit endpoint) before the first create, again after
  every ``CHECK_EVERY`` creates, and once more before it stops.
- The cost of one create is the most a create was seen to cost, never lowered: the
  drop of the balance between two reads divided by the creates that may have been
  charged between them (so spending elsewhere on the account only raises it), and
  the ``credits_consumed`` of every task of the batch that succeeded.
- Until a cost is known, creates go one at a time: each waits for the answer of the
  one before and a fresh balance, and goes only while the balance is above the floor.
  The first create of a run, which tells the price, can therefore take the balance
  under the floor by at most its own price.
- Once a cost is known, a create goes only while the last balance, minus that cost
  for every create the balance may not show yet and for this one, stays at or above
  the floor. The balance is read again before stopping, in case the estimate was stale.

The guard assumes the API charges a task when it is created, as the balance readings
show; an account charged later keeps creates one at a time until a task of the batch
reports what it cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing

import attrs

from sora2pro._errors import CreditFloorError, Sora2ProError
from sora2pro._transport._retry import is_transient, retrying

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from sora2pro._flows._context import Context

__all__ = ["CHECK_EVERY", "CreditGuard", "Ticket", "balance_reader"]

logger = logging.getLogger("sora2pro")

#: Creates admitted between two reads of the balance, once the cost is known. Five
#: keeps the reads to a quarter of the creates (the API takes 20 creates per 10 s).
CHECK_EVERY = 5


@attrs.define
class Ticket:
    """One admitted create; its sender marks it when the create surely did not run."""

    charged: bool = True


class CreditGuard:
    """Admits a batch's creates while the balance stays at or above ``floor``."""

    def __init__(self, floor: float, read_balance: Callable[[], Awaitable[float]]) -> None:
        self._floor = floor
        self._read_balance = read_balance
        self._lock = asyncio.Lock()
        self._balance: float | None = None
        self._cost: float | None = None
        # Creates admitted that may be charged and that the last balance may not show.
        self._pending = 0
        self._since_read = 0
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._why: str | None = None
        self._cause: Sora2ProError | None = None

    @contextlib.asynccontextmanager
    async def create(self) -> AsyncIterator[Ticket]:
        """Hold one create's admission while it is sent and answered.

        Raises:
            CreditFloorError: the create may not go; nothing is sent.

        """
        ticket = await self._admit()
        try:
            yield ticket
        finally:
            self._open -= 1
            if not ticket.charged:
                self._pending -= 1
            if not self._open:
                self._idle.set()

    def observe(self, charged: float | None) -> None:
        """A task of the batch ended having cost ``charged`` credits (None: not reported)."""
        if charged:
            self._cost = max(self._cost or 0.0, charged)

    async def _admit(self) -> Ticket:
        async with self._lock:
            if self._why is None and self._cost is None:
                await self._idle.wait()  # one at a time until the price is known
            if self._why is None and (
                self._cost is None or self._balance is None or self._since_read >= CHECK_EVERY
            ):
                await self._read()
            if self._why is None and not self._affords() and self._since_read:
                await self._read()  # the estimate may be stale: look before stopping
            if self._why is None and not self._affords():
                self._stop()
            if self._why is not None:
                raise self._refusal()
            self._since_read += 1
            self._pending += 1
            self._open += 1
            self._idle.clear()
            return Ticket()

    def _affords(self) -> bool:
        assert self._balance is not None  # noqa: S101  # read before
        if self._cost is None:
            return self._balance > self._floor
        return self._balance - self._cost * (self._pending + 1) >= self._floor

    async def _read(self) -> None:
        try:
            balance = await self._read_balance()
        except Sora2ProError as error:
            self._why = f"the balance could not be read, so no create is sent ({error})"
            self._cause = error
            logger.warning(
                "credit floor: %s", self._why, extra={"event": "credit_floor", "floor": self._floor}
            )
            return
        if self._balance is not None and self._pending:
            drop = self._balance - balance
            if drop > 0:
                self._cost = max(self._cost or 0.0, drop / self._pending)
        self._balance = balance
        self._pending = self._open  # creates on the wire may be charged after this read
        self._since_read = 0

    def _stop(self) -> None:
        if self._cost is None:
            self._why = f"the balance {self._balance:g} is not above the floor {self._floor:g}"
        else:
            assert self._balance is not None  # noqa: S101  # read before
            after = self._balance - self._cost * (self._pending + 1)
            self._why = (
                f"the balance {self._balance:g}, less {self._cost:g} a video for this create "
                f"and the {self._pending} it may not show yet, would be {after:g}: under "
                f"the floor {self._floor:g}"
            )
        logger.warning(
            "credit floor reached: no more creates in this batch (%s)",
            self._why,
            extra={"event": "credit_floor", "balance": self._balance, "floor": self._floor},
        )

    def _refusal(self) -> CreditFloorError:
        assert self._why is not None  # noqa: S101  # set by _stop or _read
        error = CreditFloorError(
            self._why, floor=self._floor, balance=self._balance, cost=self._cost
        )
        error.__cause__ = self._cause
        return error


def balance_reader(ctx: Context) -> Callable[[], Awaitable[float]]:
    """Reads the account's balance, retried as :meth:`Client.credits` does."""

    async def read() -> float:
        return await retrying(
            ctx.api.credit,
            policy=ctx.retry,
            retryable=is_transient,
            deadline=None,
            operation="credit",
        )

    return read

"""A batch item's row in the journal: written before its create leaves, and after."""

from __future__ import annotations

import asyncio
import typing

import attrs

from sora2pro._coordination._protocols import Status

if typing.TYPE_CHECKING:
    from sora2pro._coordination._protocols import Entry, Ledger

__all__ = ["Book"]


@attrs.define
class Book:
    """One item's row in the journal."""

    journal: Ledger
    index: int
    request: dict[str, object]
    key: tuple[str, int]

    async def find(self) -> Entry | None:
        return await self.journal.find(*self.key)

    async def write(
        self, status: Status, *, task_id: str | None = None, error: object = None
    ) -> None:
        written = self.journal.record_soon(
            self.key,
            self.index,
            self.request,
            status,
            task_id=task_id,
            error=None if error is None else str(error),
        )
        await asyncio.shield(asyncio.wrap_future(written))

    async def sending(self) -> None:
        try:
            await self.write(Status.SENDING)
        except asyncio.CancelledError:
            # Cancelled before the create left: the (shielded) row lands anyway, so a
            # second row, queued behind it, says that nothing was sent.
            self.journal.record_soon(
                self.key, self.index, self.request, Status.REFUSED, error="cancelled unsent"
            )
            raise

    def submitted(self, task_id: str) -> None:
        # Queued at once, not awaited: nothing may come between a task id and its row.
        self.journal.record_soon(
            self.key, self.index, self.request, Status.SUBMITTED, task_id=task_id
        )

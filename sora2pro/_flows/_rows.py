"""A batch's items as its workers take them: requests, idempotency keys, journal rows."""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import typing

import attrs

from sora2pro._coordination._journal import request_digest
from sora2pro._coordination._protocols import Elsewhere, Entry, SharedJournal, Status
from sora2pro._errors import CoordinationError, InvalidInputError
from sora2pro._flows._items import BatchItem, item_key, to_request
from sora2pro._wire import encode_create

if typing.TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator

    import cattrs

    from sora2pro._coordination._protocols import Ledger
    from sora2pro._flows._context import Context
    from sora2pro._model._requests import Request

__all__ = ["MINE", "Book", "Mine", "Work", "open_journal", "prepare"]

logger = logging.getLogger("sora2pro")


@attrs.define
class Book:
    """One item's row in the journal."""

    journal: Ledger
    index: int
    request: dict[str, object]
    key: tuple[str, int]

    async def claim(self, *, again: bool) -> Entry | Elsewhere | None:
        return await self.journal.claim(*self.key, again=again)

    async def write(
        self, status: Status, *, task_id: str | None = None, error: object = None
    ) -> None:
        """Record the item's outcome; a journal Redis cannot reach is logged, not raised.

        The outcome is the item's result all the same; a rerun then finds the row
        as it was (an item sent is never taken for unsent).
        """
        try:
            await self._write(status, task_id=task_id, error=error)
        except CoordinationError as exc:
            logger.warning(
                "the journal did not record item %d as %s: %s",
                self.index,
                status.value,
                exc,
                extra={"event": "journal_failed", "index": self.index, "task_id": task_id},
            )

    async def _write(
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
            await self._write(Status.SENDING)
        except asyncio.CancelledError:
            # Cancelled before the create left: the (shielded) row lands anyway, so a
            # second row, queued behind it, says that nothing was sent.
            self.journal.record_soon(
                self.key, self.index, self.request, Status.REFUSED, error="cancelled unsent"
            )
            raise

    def ended(self) -> None:
        """Mark the item ended by this run (queued after its row): other live runs leave it."""
        self.journal.end_soon(self.key)

    def submitted(self, task_id: str) -> None:
        # Queued at once, not awaited: nothing may come between a task id and its row.
        self.journal.record_soon(
            self.key, self.index, self.request, Status.SUBMITTED, task_id=task_id
        )


#: An item as the feeder hands it to a worker: its index, its request (or why it is
#: none), its idempotency key and its journal row.
Work: typing.TypeAlias = "tuple[int, Request | InvalidInputError, str | None, Book | None]"


class Mine(enum.Enum):
    """An item this run holds with no row yet (or with no journal)."""

    MINE = "mine"


MINE = Mine.MINE


async def open_journal(
    ctx: Context, journal: str | os.PathLike[str] | SharedJournal | None
) -> Ledger | None:
    """The batch's journal: a shared one opened for this run, or the file at a path."""
    if journal is None:
        return None
    if isinstance(journal, SharedJournal):
        return await journal.open_run()
    return await ctx.coordination.open_ledger(journal)


def prepare(
    items: Iterable[BatchItem], journal: Ledger | None, converter: cattrs.Converter
) -> Iterator[Work]:
    """Each item as a request (or why it is not one), its key and its journal row, lazily.

    A row is keyed by the hash of the create body as sent (stable across versions of
    sora2pro) and by how many identical bodies came before it in this run.
    """
    seen: collections.Counter[str] = collections.Counter()
    for index, item in enumerate(items):
        try:
            request = to_request(item)
            key = item_key(item)
            body = encode_create(converter, request)
            digest = request_digest(body)
        except InvalidInputError as error:
            yield index, error, None, None
            continue
        except (TypeError, ValueError) as error:  # an item no check foresaw: still its own
            yield index, InvalidInputError("item", f"cannot be sent: {error}"), None, None
            continue
        book = None
        if journal is not None:
            book = Book(journal, index, body, (digest, seen[digest]))
            seen[digest] += 1
        yield index, request, key, book

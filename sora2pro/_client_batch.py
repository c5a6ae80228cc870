"""The Client's methods for many prompts at once: batch and gather.

A part of :class:`sora2pro.Client`, kept apart so that each file stays readable; the
methods delegate to the batch flow like every other method of the Client.
"""

from __future__ import annotations

import contextlib
import typing

from sora2pro._config import DEFAULT_WAIT_TIMEOUT
from sora2pro._flows._batch import run_batch
from sora2pro._wiring import check_batch

if typing.TYPE_CHECKING:
    import os
    from collections.abc import AsyncGenerator, Iterable

    from sora2pro._coordination._protocols import SharedJournal
    from sora2pro._flows._context import Context
    from sora2pro._flows._events import OnEvent
    from sora2pro._flows._items import BatchItem, BatchResult
    from sora2pro._flows._runs import Runs

__all__ = ["DEFAULT_CONCURRENCY", "BatchMethods"]

#: Items of a batch in flight at once by default (the API runs 100 or more at once).
DEFAULT_CONCURRENCY = 50


class BatchMethods:
    """Batches: the part of the Client that runs many items under one window."""

    if typing.TYPE_CHECKING:  # what these methods use of the Client they are part of
        _ctx: Context
        _batches: Runs

        def _check_open(self) -> None: ...

    def batch(
        self,
        items: Iterable[BatchItem],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ordered: bool = False,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_event: OnEvent | None = None,
        journal: str | os.PathLike[str] | SharedJournal | None = None,
        resubmit_uncertain: bool = False,
        keep_credits: float | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Generate many videos; yield a :class:`BatchResult` as each item ends.

        ::

            async for result in client.batch(prompts, concurrency=50):
                print(result.index, result.task_id, result.ok, result.error)

        One failure never stops the batch: every item ends with a task or an error.
        Creates and status queries go at the pace of the client's rate limits, and a
        429 pauses every submitter of the client together. Stopping the iteration
        stops new submits at once; tasks already created stay in :attr:`pending`.

        Args:
            items: Prompts, :class:`TextToVideo` values, or mappings of their fields
                (and of an ``idempotency_key``, as :meth:`submit` takes); read lazily.
            concurrency: Items in flight at most (submitted and not yet finished).
            ordered: Yield in input order rather than as items finish.
            timeout: Seconds each task may take once submitted; None for no limit.
            on_event: Receives :class:`Submitted`, :class:`StateChanged`,
                :class:`Finished`, :class:`Retried` and :class:`RateLimited` events;
                a plain function or a coroutine function.
            journal: A SQLite file recording each item before its create is sent and
                its task id right after. Run the same batch again with the same
                journal and it skips nothing it paid for: tasks already created are
                re-attached (one status query each), only items that surely never
                reached the server are sent. The file never holds the API key. A
                :meth:`RedisCoordination.journal` does the same on Redis, for a batch
                run by several processes at once: each item is taken by one of them,
                and each yields only the items it took.
            resubmit_uncertain: On a rerun, send again the items whose create went out
                without an answer (they may exist and be billed). Off by default:
                they end as uncertain results.
            keep_credits: Leave at least this many credits on the account: the
                balance is read before the first create and every few creates, and
                no create goes once it could take the balance under this floor. The
                items not sent end with a :class:`CreditFloorError`; a rerun with the
                same journal sends them. None (the default): no guard.

        Raises:
            InvalidInputError: ``concurrency``, ``timeout`` or ``keep_credits`` is not
                valid (at once, before anything is sent). Invalid items become results
                with an error.

        """
        self._check_open()
        check_batch(
            items,
            concurrency=concurrency,
            timeout=timeout,
            on_event=on_event,
            journal=journal,
            flags={"ordered": ordered, "resubmit_uncertain": resubmit_uncertain},
            keep_credits=keep_credits,
        )
        return run_batch(
            self._ctx,
            self._batches,
            items,
            concurrency=concurrency,
            ordered=ordered,
            timeout=timeout,
            on_event=on_event,
            journal_path=journal,
            resubmit_uncertain=resubmit_uncertain,
            keep_credits=keep_credits,
        )

    async def gather(
        self,
        items: Iterable[BatchItem],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_event: OnEvent | None = None,
        journal: str | os.PathLike[str] | SharedJournal | None = None,
        resubmit_uncertain: bool = False,
        keep_credits: float | None = None,
    ) -> list[BatchResult]:
        """Run :meth:`batch` to the end and return every result, in input order."""
        batch = self.batch(
            items,
            concurrency=concurrency,
            timeout=timeout,
            on_event=on_event,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
            keep_credits=keep_credits,
        )
        # Unordered inside: ordered streaming would hold the window behind a slow item.
        async with contextlib.aclosing(batch) as results:
            collected = [result async for result in results]
        return sorted(collected, key=lambda result: result.index)

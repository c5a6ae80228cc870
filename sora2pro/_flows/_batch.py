"""Many prompts at once: bounded concurrency, every item ends as a task or an error."""

from __future__ import annotations

import asyncio
import logging
import typing

import attrs

from sora2pro._coordination._protocols import Elsewhere, Entry, SharedJournal, Status
from sora2pro._errors import CreditFloorError, InvalidInputError, Sora2ProError
from sora2pro._flows._context import deadline_after
from sora2pro._flows._events import Finished, OnEvent, Submitted, emit, listen
from sora2pro._flows._items import BatchItem, BatchResult
from sora2pro._flows._keys import submit_keyed
from sora2pro._flows._rows import MINE, Book, Mine, open_journal, prepare
from sora2pro._flows._spend import CreditGuard, balance_reader
from sora2pro._flows._wait import wait
from sora2pro._model._failures import SubmitUncertainError, TaskFailedError
from sora2pro._transport._transport import retrieve_exception

if typing.TYPE_CHECKING:
    import os
    from collections.abc import AsyncGenerator, Iterable

    from sora2pro._coordination._protocols import Ledger
    from sora2pro._flows._context import Context
    from sora2pro._flows._runs import Runs
    from sora2pro._model._requests import Request

__all__ = ["run_batch"]

logger = logging.getLogger("sora2pro")

# Rows whose create went out without an answer: the task may exist.
_UNANSWERED = (Status.SENDING, Status.UNCERTAIN)


@attrs.define(eq=False)  # kept in a set: by identity
class _Run:
    """What one batch run shares between its workers and its consumer."""

    ctx: Context
    runs: Runs
    timeout: float | None
    resubmit_uncertain: bool
    on_event: OnEvent | None
    slots: asyncio.Semaphore
    journal: Ledger | None
    #: Admits each create while the balance stays above ``keep_credits``, if given.
    guard: CreditGuard | None
    ordered: bool
    #: Results for the consumer, a _Broken when a worker failed, an _Elsewhere for an
    #: item another run of a shared journal yields, None at the end.
    done: asyncio.Queue[BatchResult | _Broken | _Elsewhere | None] = attrs.Factory(asyncio.Queue)
    workers: set[asyncio.Task[None]] = attrs.Factory(set)
    #: Items another run of a shared journal held a while, which gave up their slot.
    unslotted: set[int] = attrs.Factory(set)
    #: Tasks created (or re-attached) whose result the consumer has not been handed.
    unseen: set[str] = attrs.Factory(set)
    feeder: asyncio.Task[None] | None = None
    #: Whether the consumer was handed every result.
    finished: bool = False
    #: The wind-down, once begun: it runs to its end whoever stops waiting for it.
    closing: asyncio.Future[None] | None = None

    def start(self, items: Iterable[BatchItem]) -> None:
        self.feeder = asyncio.create_task(self.feed(items, self.journal))

    def shut(self) -> asyncio.Future[None]:
        """Stop the run and release its journal, once; the future ends when that is done."""
        if self.closing is None:
            self.closing = asyncio.ensure_future(self.wind_down())
            self.closing.add_done_callback(retrieve_exception)
            self.closing.add_done_callback(lambda _: self.runs.discard(self))
        return self.closing

    async def wind_down(self) -> None:
        if self.feeder is not None:
            await self.stop(self.feeder)
        try:
            # The workers waited for the answers of creates on the wire: every task id
            # is in the journal's queue by now, and close() writes all of it.
            if self.journal is not None:
                await self.journal.close()
        finally:
            if self.unseen and not self.finished:
                _log_unseen(sorted(self.unseen))

    async def feed(self, items: Iterable[BatchItem], journal: Ledger | None) -> None:
        """Start a worker per item as slots free up; None on the queue at the end."""
        for work in prepare(items, journal, self.ctx.converter):
            await self.slots.acquire()
            worker = asyncio.create_task(self.work(*work))
            self.workers.add(worker)
            worker.add_done_callback(self.workers.discard)
        while self.workers:
            await asyncio.gather(*self.workers)
        self.done.put_nowait(None)

    async def work(
        self,
        index: int,
        request: Request | InvalidInputError,
        key: str | None,
        book: Book | None,
    ) -> None:
        listen(self.on_event, index)
        try:
            if isinstance(request, InvalidInputError):
                result = BatchResult(index=index, request=None, error=request)
            else:
                taken = await self.take(index, request, book)
                if taken is None:  # another run of a shared journal has it
                    self.free(index)
                    return
                result = await self.item(index, request, key, book, taken)
                if book is not None and not isinstance(taken, BatchResult):
                    book.ended()  # whatever the outcome: other runs leave the item to us
            await emit(Finished(index, result))
        except Exception as error:  # noqa: BLE001  # handed to the consumer, raised there
            self.done.put_nowait(_Broken(error))
        else:
            self.done.put_nowait(result)

    def hand_over(self, result: BatchResult) -> BatchResult:
        """Give a result to the consumer: only now may one more item start."""
        self.free(result.index)
        if result.task_id is not None:
            self.unseen.discard(result.task_id)
        return result

    def free(self, index: int) -> None:
        """Let one more item start, unless the item at ``index`` gave up its slot already."""
        if index in self.unslotted:
            self.unslotted.discard(index)
        else:
            self.slots.release()

    async def stop(self, feeder: asyncio.Task[None]) -> None:
        """Cancel the feeder and every worker, and wait until they are gone."""
        feeder.cancel()
        for worker in list(self.workers):
            worker.cancel()
        await asyncio.gather(feeder, *self.workers, return_exceptions=True)

    async def take(
        self, index: int, request: Request, book: Book | None
    ) -> Entry | BatchResult | Mine | None:
        """Claim the item's journal row for this run: what it held, or None if not ours.

        An item a live run of a shared journal holds is left to it: looked at again
        every ``recheck`` seconds, without a slot of this run (in an ordered run, every
        slot may be taken by results waiting for that very item), until it ended
        there or that run died. An unordered run takes a slot before each look again,
        so an item taken over goes on with one (an ordered run cannot wait for one:
        it takes the item without). A journal that cannot be read ends the item unsent.
        """
        if book is None:
            return MINE
        try:
            entry = await book.claim(again=False)
            while entry is Elsewhere.RUNNING and self.closing is None:
                if index not in self.unslotted:
                    self.free(index)
                    self.unslotted.add(index)
                await asyncio.sleep(book.journal.recheck)
                if not self.ordered:
                    # Each look again takes a slot first: an item taken over goes on
                    # with one, and this run never holds an item while it waits for one.
                    await self.slots.acquire()
                    self.unslotted.discard(index)
                entry = await book.claim(again=True)
        except Sora2ProError as error:
            return BatchResult(index=index, request=request, error=error)
        if entry is Elsewhere.RUNNING or self.closing is not None:
            return None  # the run winds down; the Redis client may have swallowed its cancel
        if entry is Elsewhere.DONE:
            self.done.put_nowait(_Elsewhere(index))
            return None
        return MINE if entry is None else entry

    async def item(
        self,
        index: int,
        request: Request,
        key: str | None,
        book: Book | None,
        taken: Entry | BatchResult | Mine,
    ) -> BatchResult:
        """Take one item from its journal row (if any) to its end."""
        if isinstance(taken, BatchResult):
            return taken
        entry = taken if isinstance(taken, Entry) else None
        task_id = None if entry is None else entry.task_id
        if task_id is None:
            if entry is not None and entry.status in _UNANSWERED and not self.resubmit_uncertain:
                unanswered = SubmitUncertainError(
                    "an earlier run sent this create but never got its answer; the task may "
                    "exist and be billed (pass resubmit_uncertain=True to send it again)",
                    request=request,
                )
                return BatchResult(index=index, request=request, error=unanswered)
            submitted = await self.admitted(index, request, key, book)
            if isinstance(submitted, BatchResult):
                return submitted
            task_id = submitted
        self.unseen.add(task_id)
        await emit(Submitted(index, task_id))
        return await self.wait(index, request, book, task_id)

    async def admitted(
        self, index: int, request: Request, key: str | None, book: Book | None
    ) -> str | BatchResult:
        """:meth:`submit`, if the spend guard admits the create; a BatchResult when not."""
        if self.guard is None:
            return await self.submit(index, request, key, book)
        try:
            async with self.guard.create() as ticket:
                submitted = await self.submit(index, request, key, book)
                # A refusal surely created nothing: the balance will not show it.
                ticket.charged = not isinstance(submitted, BatchResult) or submitted.uncertain
                return submitted
        except CreditFloorError as error:
            if book is not None:  # never sent: a rerun sends it
                await book.write(Status.REFUSED, error=error)
            return BatchResult(index=index, request=request, error=error)

    async def submit(
        self, index: int, request: Request, key: str | None, book: Book | None
    ) -> str | BatchResult:
        """Create the item's task, journaled; a BatchResult when it could not be."""

        def keep(task_id: str) -> None:
            self.unseen.add(task_id)
            if book is not None:
                book.submitted(task_id)

        try:
            return await submit_keyed(
                self.ctx,
                request,
                None,
                key,
                before_send=None if book is None else book.sending,
                on_task_id=keep,
            )
        except SubmitUncertainError as error:
            if book is not None:
                await book.write(Status.UNCERTAIN, error=error)
            return BatchResult(index=index, request=request, error=error)
        except Sora2ProError as error:
            if book is not None:
                await book.write(Status.REFUSED, error=error)
            return BatchResult(index=index, request=request, error=error)

    async def wait(
        self, index: int, request: Request, book: Book | None, task_id: str
    ) -> BatchResult:
        try:
            task = await wait(
                self.ctx,
                task_id,
                timeout=self.timeout,
                deadline=deadline_after(self.timeout),
                poll=None,
                on_update=None,  # the wait itself sends StateChanged to the batch's sink
            )
        except Sora2ProError as error:
            error.task_id = task_id
            last = getattr(error, "task", None) or getattr(error, "last", None)
            if book is not None and isinstance(error, TaskFailedError):
                await book.write(Status.FAILED, task_id=task_id, error=error)
            return BatchResult(
                index=index, request=request, task_id=task_id, task=last, error=error
            )
        if self.guard is not None:
            self.guard.observe(task.credits_consumed)
        if book is not None:
            await book.write(Status.SUCCEEDED, task_id=task_id)
        return BatchResult(index=index, request=request, task_id=task_id, task=task)


@attrs.frozen
class _Elsewhere:
    """An item another run of a shared journal ended (and yields): its index to skip."""

    index: int


@attrs.frozen
class _Broken:
    """A worker failed with something that is not an item's outcome (a bug in on_event)."""

    error: BaseException


async def run_batch(
    ctx: Context,
    runs: Runs,
    items: Iterable[BatchItem],
    *,
    concurrency: int,
    ordered: bool,
    timeout: float | None,
    on_event: OnEvent | None,
    journal_path: str | os.PathLike[str] | SharedJournal | None,
    resubmit_uncertain: bool,
    keep_credits: float | None = None,
) -> AsyncGenerator[BatchResult, None]:
    """Yield a :class:`BatchResult` for every item, as each finishes (or in order).

    At most ``concurrency`` items are in flight or finished and not yet handed to the
    consumer: a slot frees only when the consumer takes a result. A consumer that
    stops pulling (``break``, an exception, a cancel) therefore stops the paying at
    once, even before the generator is closed; tasks already created are logged.
    With ``ordered``, finished results wait for the earlier ones inside that window.
    With ``keep_credits``, a :class:`CreditGuard` admits each create (see ``_spend``).
    """
    # A run of this client stopped just before may still be releasing the same journal.
    await runs.settle()
    journal = await open_journal(ctx, journal_path)
    run = _Run(
        ctx,
        runs,
        timeout,
        resubmit_uncertain,
        on_event,
        asyncio.Semaphore(concurrency),
        journal,
        None if keep_credits is None else CreditGuard(keep_credits, balance_reader(ctx)),
        ordered,
    )
    runs.add(run)
    run.start(items)
    assert run.feeder is not None  # noqa: S101  # set by start()
    waiting: dict[int, BatchResult | _Elsewhere] = {}
    next_index = 0
    try:
        while (result := await _next(run.done, run.feeder)) is not None:
            if not ordered:
                if isinstance(result, BatchResult):
                    yield run.hand_over(result)
                continue
            waiting[result.index] = result
            while next_index in waiting:
                ready = waiting.pop(next_index)
                next_index += 1
                if isinstance(ready, BatchResult):
                    yield run.hand_over(ready)
        run.finished = True
    finally:
        # Shielded: a second cancel must not leave the journal locked or a worker running.
        await asyncio.shield(run.shut())


def _log_unseen(task_ids: list[str]) -> None:
    logger.warning(
        "batch stopped early; %d task(s) created for it were not delivered (they may "
        "still be running): %s",
        len(task_ids),
        ", ".join(task_ids),
        extra={"event": "batch_stopped", "task_ids": task_ids},
    )


async def _next(
    done: asyncio.Queue[BatchResult | _Broken | _Elsewhere | None], feeder: asyncio.Task[None]
) -> BatchResult | _Elsewhere | None:
    """The next finished result; raises what broke a worker or the feeder."""
    getter = asyncio.ensure_future(done.get())
    try:
        await asyncio.wait({getter, feeder}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            if feeder.cancelled():
                raise Sora2ProError("this batch was stopped: its client was closed")
            feeder.result()  # raises the feeder's exception, if any
            item = await getter  # the feeder ended well: its None is on the queue
        else:
            item = getter.result()
    finally:
        getter.cancel()
    if isinstance(item, _Broken):
        raise item.error
    return item

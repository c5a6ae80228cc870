"""Many prompts at once: bounded concurrency, every item ends as a task or an error."""

from __future__ import annotations

import asyncio
import collections
import logging
import typing
from collections.abc import Mapping

import attrs

from sora2pro._errors import (
    InvalidInputError,
    Sora2ProError,
    SubmitUncertainError,
    TaskFailedError,
)
from sora2pro._events import Finished, OnEvent, StateChanged, Submitted, emit, listen
from sora2pro._journal import Entry, Journal, Status, request_digest
from sora2pro._models import Task, TextToVideo

if typing.TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator, Iterable, Iterator

    from sora2pro._client import Client

__all__ = ["BatchItem", "BatchResult", "run_batch", "to_request"]

logger = logging.getLogger("sora2pro")

# Rows whose create went out without an answer: the task may exist.
_UNANSWERED = (Status.SENDING, Status.UNCERTAIN)

#: A prompt, a request, or a mapping with the fields of :class:`TextToVideo`.
BatchItem = str | TextToVideo | Mapping[str, typing.Any]


@attrs.frozen(kw_only=True)
class BatchResult:
    """How one item of a batch ended.

    Attributes:
        index: The item's position in the input, from 0.
        request: The request, or None when the item itself was not a valid request.
        task_id: The task id, once the server gave one.
        task: The last snapshot of the task (final when it ended), if any was seen.
        error: Why the item did not succeed, or None.

    """

    index: int
    request: TextToVideo | None
    task_id: str | None = None
    task: Task | None = None
    error: Sora2ProError | None = None

    @property
    def ok(self) -> bool:
        """Whether the item ended with a successful task."""
        return self.error is None and self.task is not None

    @property
    def uncertain(self) -> bool:
        """Whether the create may have run although its answer was lost."""
        return isinstance(self.error, SubmitUncertainError)


def to_request(item: BatchItem) -> TextToVideo:
    """Turn a batch item into a request.

    Raises:
        InvalidInputError: the item is not a prompt, a request or a mapping of its fields.

    """
    if isinstance(item, TextToVideo):
        return item
    if isinstance(item, str):
        return TextToVideo(item)
    if isinstance(item, Mapping):
        fields = dict(item)
        unknown = set(fields) - set(attrs.fields_dict(TextToVideo))
        if unknown:
            raise InvalidInputError("item", f"unknown fields: {', '.join(sorted(unknown))}")
        if "prompt" not in fields:
            raise InvalidInputError("prompt", "is required")
        return TextToVideo(**fields)
    raise InvalidInputError("item", f"must be a prompt, a TextToVideo or a mapping, not {item!r}")


@attrs.define
class _Book:
    """One item's row in the journal."""

    journal: Journal
    index: int
    request: dict[str, object]
    key: tuple[str, int]

    async def find(self) -> Entry | None:
        return await self.journal.find(*self.key)

    async def write(
        self, status: Status, *, task_id: str | None = None, error: object = None
    ) -> None:
        await self.journal.record(
            self.key,
            self.index,
            self.request,
            status,
            task_id=task_id,
            error=None if error is None else str(error),
        )

    async def sending(self) -> None:
        await self.write(Status.SENDING)


async def _submit(
    client: Client, index: int, request: TextToVideo, book: _Book | None
) -> str | BatchResult:
    """Create the item's task, journaled; a BatchResult when it could not be."""
    try:
        task_id = await client._submit(
            request, None, before_send=None if book is None else book.sending
        )
    except SubmitUncertainError as error:
        if book is not None:
            await book.write(Status.UNCERTAIN, error=error)
        return BatchResult(index=index, request=request, error=error)
    except Sora2ProError as error:
        if book is not None:
            await book.write(Status.REFUSED, error=error)
        return BatchResult(index=index, request=request, error=error)
    if book is not None:
        await book.write(Status.SUBMITTED, task_id=task_id)
    return task_id


async def _run_one(
    client: Client,
    index: int,
    request: TextToVideo,
    book: _Book | None,
    *,
    timeout: float | None,
    running: set[str],
    resubmit_uncertain: bool,
) -> BatchResult:
    entry = None if book is None else await book.find()
    task_id = None if entry is None else entry.task_id
    if task_id is None:
        if entry is not None and entry.status in _UNANSWERED and not resubmit_uncertain:
            unanswered = SubmitUncertainError(
                "an earlier run sent this create but never got its answer; the task may "
                "exist and be billed (pass resubmit_uncertain=True to send it again)",
                request=request,
            )
            return BatchResult(index=index, request=request, error=unanswered)
        submitted = await _submit(client, index, request, book)
        if isinstance(submitted, BatchResult):
            return submitted
        task_id = submitted
    running.add(task_id)
    await emit(Submitted(index, task_id))

    async def changed(task: Task) -> None:
        await emit(StateChanged(index, task))

    try:
        task = await client.wait(task_id, timeout=timeout, on_update=changed)
    except Sora2ProError as error:
        error.task_id = task_id
        last = getattr(error, "task", None) or getattr(error, "last", None)
        if book is not None and isinstance(error, TaskFailedError):
            await book.write(Status.FAILED, task_id=task_id, error=error)
        return BatchResult(index=index, request=request, task_id=task_id, task=last, error=error)
    if book is not None:
        await book.write(Status.SUCCEEDED, task_id=task_id)
    return BatchResult(index=index, request=request, task_id=task_id, task=task)


async def run_batch(
    client: Client,
    items: Iterable[BatchItem],
    *,
    concurrency: int,
    ordered: bool,
    timeout: float | None,
    on_event: OnEvent | None,
    journal_path: str | os.PathLike[str] | None,
    resubmit_uncertain: bool,
) -> AsyncIterator[BatchResult]:
    """Yield a :class:`BatchResult` for every item, as each finishes (or in order).

    At most ``concurrency`` items are in flight (submitted and not finished). The
    client's rate limits pace the creates and status queries of all of them.
    Stopping the iteration (``break``, cancel, Ctrl-C) stops new submits at once;
    tasks already created keep running on the server and their ids are logged.
    With a ``journal``, a rerun re-attaches to them instead of paying again.
    """
    journal = None if journal_path is None else await Journal.open(journal_path)
    slots = asyncio.Semaphore(concurrency)
    done: asyncio.Queue[BatchResult | None] = asyncio.Queue()
    workers: set[asyncio.Task[None]] = set()
    running: set[str] = set()

    async def work(
        index: int, request: TextToVideo | InvalidInputError, book: _Book | None
    ) -> None:
        listen(on_event, index)
        try:
            if isinstance(request, InvalidInputError):
                result = BatchResult(index=index, request=None, error=request)
            else:
                result = await _run_one(
                    client,
                    index,
                    request,
                    book,
                    timeout=timeout,
                    running=running,
                    resubmit_uncertain=resubmit_uncertain,
                )
            if result.task is not None and result.task.done:
                running.discard(result.task.id)
            await emit(Finished(index, result))
            done.put_nowait(result)
        finally:
            slots.release()

    async def feed() -> None:
        for index, request, book in _prepare(items, journal):
            await slots.acquire()
            worker = asyncio.create_task(work(index, request, book))
            workers.add(worker)
            worker.add_done_callback(workers.discard)
        while workers:
            await asyncio.gather(*workers)
        done.put_nowait(None)

    feeder = asyncio.create_task(feed())
    waiting: dict[int, BatchResult] = {}
    next_index = 0
    try:
        while (result := await _next(done, feeder)) is not None:
            if not ordered:
                yield result
                continue
            waiting[result.index] = result
            while next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
    finally:
        feeder.cancel()
        for worker in list(workers):
            worker.cancel()
        await asyncio.gather(feeder, *workers, return_exceptions=True)
        if journal is not None:
            await journal.close()
        if running:
            _log_still_running(sorted(running))


def _prepare(
    items: Iterable[BatchItem], journal: Journal | None
) -> Iterator[tuple[int, TextToVideo | InvalidInputError, _Book | None]]:
    """Each item as a request (or why it is not one) with its journal row, lazily."""
    seen: collections.Counter[str] = collections.Counter()
    for index, item in enumerate(items):
        try:
            request = to_request(item)
        except InvalidInputError as error:
            yield index, error, None
            continue
        book = None
        if journal is not None:
            fields = attrs.asdict(request)
            digest = request_digest(fields)
            book = _Book(journal, index, fields, (digest, seen[digest]))
            seen[digest] += 1
        yield index, request, book


def _log_still_running(task_ids: list[str]) -> None:
    logger.warning(
        "batch stopped with %d task(s) still running on the server: %s",
        len(task_ids),
        ", ".join(task_ids),
        extra={"event": "batch_stopped", "task_ids": task_ids},
    )


async def _next(
    done: asyncio.Queue[BatchResult | None], feeder: asyncio.Task[None]
) -> BatchResult | None:
    """The next finished result; re-raises what broke the feeder (such as on_event)."""
    if feeder.done():
        feeder.result()  # raises the feeder's exception, if any
        return await done.get()
    getter = asyncio.ensure_future(done.get())
    await asyncio.wait({getter, feeder}, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    feeder.result()  # raises the feeder's exception, if any
    return await done.get()

"""Watching a task: a wait's snapshots handed out one by one, as an async iterator."""

from __future__ import annotations

import asyncio
import typing

from sora2pro._flows._context import deadline_after
from sora2pro._flows._wait import until_done
from sora2pro._transport._transport import retrieve_exception

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from sora2pro._config import PollPolicy
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task

__all__ = ["watch"]


async def watch(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    poll: PollPolicy | None,
) -> AsyncGenerator[Task, None]:
    """Yield each snapshot of the task whose state or progress changed, the final one last.

    The wait runs as a task of its own, its ``on_update`` handing each change over
    through a queue of one: with a change the consumer has not taken, the wait holds
    (within its deadline) instead of polling further. Closing the iterator (``break``,
    ``aclose()``, a cancel) cancels the wait. A final snapshot is forgotten from
    pending as it is handed over.

    Raises:
        TaskFailedError: after the failed snapshot was yielded.
        WaitTimeoutError: the deadline passed first.

    """
    changes: asyncio.Queue[Task] = asyncio.Queue(maxsize=1)
    waiting = asyncio.ensure_future(
        until_done(
            ctx,
            task_id,
            timeout=timeout,
            deadline=deadline_after(timeout),  # from the first step, not from the call
            poll=poll,
            on_update=changes.put,
        )
    )
    waiting.add_done_callback(retrieve_exception)  # its consumer may be gone
    try:
        while True:
            change = await _next(changes, waiting)
            if change is None:
                waiting.result()  # raises what ended the wait: a failure, the deadline
                return
            if change.done:
                ctx.finished(task_id)
            yield change
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)


async def _next(changes: asyncio.Queue[Task], waiting: asyncio.Future[Task]) -> Task | None:
    """The next change; None once the wait ended and every change was handed out."""
    if changes.empty() and not waiting.done():
        getter = asyncio.ensure_future(changes.get())
        try:
            await asyncio.wait({getter, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
    return None if changes.empty() else changes.get_nowait()

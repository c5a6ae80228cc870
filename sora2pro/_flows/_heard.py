"""Task ends heard on the coordination's callback bus: confirmed by another client."""

from __future__ import annotations

import asyncio
import json
import logging
import typing

from sora2pro._errors import ResponseError
from sora2pro._wire import decode_task

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable

    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task

__all__ = ["polled_or_heard", "published"]

logger = logging.getLogger("sora2pro")


async def polled_or_heard(
    ctx: Context, task_id: str, polling: Awaitable[Task]
) -> tuple[Task, bool]:
    """What ``polling`` returns, or the task's end another client confirmed first.

    The second value says whether the end was heard on the bus (then nothing here
    asked for it, and the caller tells of it). Raises what ``polling`` raises; a
    cancel stops the polling too.
    """
    polled = asyncio.ensure_future(polling)
    ended = ctx.bus.expect(task_id)
    try:
        while True:
            racing: set[asyncio.Future[typing.Any]] = {polled, ended}
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if polled.done():
                return polled.result(), False
            task = published(ctx, task_id, ended.result())
            if task is not None:
                return task, True
            ended = asyncio.get_running_loop().create_future()  # never again
    finally:
        polled.cancel()
        ended.cancel()
        await asyncio.gather(polled, return_exceptions=True)


def published(ctx: Context, task_id: str, entry: str) -> Task | None:
    """The finished task another client confirmed and published; None if it does not read."""
    try:
        task = decode_task(ctx.converter, json.loads(entry))
    except (ValueError, RecursionError, ResponseError) as exc:
        logger.warning(
            "a confirmed end of task %s did not read (%s); polling on",
            task_id,
            exc,
            extra={"event": "callback_bus_bad", "task_id": task_id},
        )
        return None
    if task.id != task_id or not task.done:
        logger.warning(
            "a confirmed end of task %s named task %s in state %s; polling on",
            task_id,
            task.id,
            task.raw_state,
            extra={"event": "callback_bus_bad", "task_id": task_id},
        )
        return None
    return task

"""Task ends heard on the coordination's callback bus: confirmed by another client."""

from __future__ import annotations

import asyncio
import json
import logging
import typing

from sora2pro._errors import ResponseError
from sora2pro._wire import decode_task, encode_task

if typing.TYPE_CHECKING:
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task

__all__ = ["Heard", "publish", "published"]

logger = logging.getLogger("sora2pro")


class Heard:
    """Listens on the bus for the end of one task, and ends the current task's wait with it.

    A wait without a receiver polls in the task that waits: another client (or
    process) that confirms the end first interrupts whatever the wait awaits (a
    pause, a status slot, a request) by cancelling that task, as ``asyncio.timeout``
    does, and only while the wait is inside this scope; :meth:`interrupted` tells
    that cancel from any other. No second task and no race of futures per wait: ten
    thousand waits may be pending at once.

    Used as ``heard = Heard(ctx, task_id)``, then the wait in ``try``, an ``except
    asyncio.CancelledError`` asking :meth:`interrupted`, and :meth:`close` in
    ``finally``.
    """

    __slots__ = ("_ctx", "_ended", "_task_id", "_waiting", "task")

    def __init__(self, ctx: Context, task_id: str) -> None:
        self._ctx = ctx
        self._task_id = task_id
        #: The finished task another client confirmed, once heard (None until then).
        self.task: Task | None = None
        self._waiting: asyncio.Task[typing.Any] | None = None
        self._ended = ctx.bus.expect(task_id)
        if self._ended.done():  # confirmed before this wait began: no poll at all
            self._hear(self._ended)
        else:
            self._waiting = asyncio.current_task()
            self._ended.add_done_callback(self._hear)

    def _hear(self, ended: asyncio.Future[str]) -> None:
        if ended.cancelled():
            return
        self.task = published(self._ctx, self._task_id, ended.result())
        if self.task is not None and self._waiting is not None:
            self._waiting.cancel()  # only ever while the wait is suspended in its scope

    def interrupted(self) -> bool:
        """Whether the ``CancelledError`` being handled is this one's alone: the wait ends.

        A cancel from elsewhere, alone or with this one, goes on (False).
        """
        if self.task is None or self._waiting is None:
            return False
        waiting, self._waiting = self._waiting, None
        return waiting.uncancel() == 0

    def close(self) -> None:
        """Stop listening: nothing is cancelled any more (and a cancel of this one is undone)."""
        self._ended.cancel()
        if self.task is not None and self._waiting is not None:
            # The wait ended while the end was heard, and caught the cancel itself.
            self._waiting.uncancel()
        self._waiting = None


def publish(ctx: Context, task_id: str, task: Task) -> None:
    """Tell the coordination's clients that ``task_id`` ended as ``task`` (confirmed here)."""
    ctx.bus.publish(task_id, json.dumps(encode_task(ctx.converter, task)))


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

"""Typed progress events, for a UI to draw a batch's progress.

Events reach the ``on_event`` callable of the batch that caused them. The sink and
the item index travel in context variables, so that several batches on one client
never see each other's events and the retry machinery needs no extra arguments.
"""

from __future__ import annotations

import contextvars
import typing

import attrs

from sora2pro._transport import _instrument as instrument

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable

    from sora2pro._errors import Sora2ProError
    from sora2pro._flows._items import BatchResult
    from sora2pro._model._task import Task

__all__ = [
    "BatchEvent",
    "Finished",
    "OnEvent",
    "RateLimited",
    "Retried",
    "StateChanged",
    "Submitted",
    "emit",
    "listen",
]


@attrs.frozen
class Submitted:
    """Item ``index`` was created on the server as ``task_id``."""

    index: int
    task_id: str


@attrs.frozen
class StateChanged:
    """Item ``index``'s task changed state or progress."""

    index: int
    task: Task


@attrs.frozen
class Finished:
    """Item ``index`` ended, with a task or an error."""

    index: int
    result: BatchResult


@attrs.frozen
class Retried:
    """A request for item ``index`` failed and is tried again after ``delay`` seconds."""

    index: int | None
    operation: str
    attempt: int
    error: Sora2ProError
    delay: float


@attrs.frozen
class RateLimited:
    """The server answered 429: every ``operation`` of the client pauses ``pause`` seconds."""

    index: int | None
    operation: str
    pause: float


BatchEvent = Submitted | StateChanged | Finished | Retried | RateLimited
#: Receives each event; a plain function or a coroutine function.
OnEvent = typing.Callable[[BatchEvent], "Awaitable[None] | None"]

_sink: contextvars.ContextVar[OnEvent | None] = contextvars.ContextVar(
    "sora2pro_sink", default=None
)
_index: contextvars.ContextVar[int | None] = contextvars.ContextVar("sora2pro_index", default=None)


def listen(on_event: OnEvent | None, index: int) -> None:
    """Send the current task's events to ``on_event``, tagged with item ``index``.

    Call it at the start of a task: each asyncio task has its own context. The
    transport's reports of retries and pauses become :class:`Retried` and
    :class:`RateLimited` events of the item.
    """
    _sink.set(on_event)
    _index.set(index)
    instrument.listen(_as_event if on_event is not None else None)


async def _as_event(details: instrument.Report) -> None:
    """Turn one of the transport's reports into the event of the current item."""
    index = _index.get()
    if isinstance(details, instrument.RetryScheduled):
        await emit(Retried(index, details.operation, details.attempt, details.error, details.delay))
    else:
        await emit(RateLimited(index, details.operation, details.pause))


async def emit(event: BatchEvent) -> None:
    """Hand ``event`` to the sink listening in the current task, if any."""
    await instrument.call(_sink.get(), event)

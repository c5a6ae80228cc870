"""Typed events: a batch's progress for a UI, and everything a client does for metrics.

A batch's events reach the ``on_event`` of the batch that caused them: the batch's
sink and the item index travel in context variables, so that several batches on one
client never see each other's events and the retry machinery needs no extra
arguments. Every event of a client (its batches' too, but for :class:`Finished`)
also reaches the client's own ``on_event``, through its :class:`Events`.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import typing

import attrs

from sora2pro._transport import _instrument as instrument

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sora2pro._errors import Sora2ProError
    from sora2pro._flows._items import BatchResult
    from sora2pro._model._task import Callback, Task

__all__ = [
    "BatchEvent",
    "CallbackReceived",
    "Event",
    "Events",
    "Finished",
    "OnClientEvent",
    "OnEvent",
    "RateLimited",
    "Retried",
    "StateChanged",
    "Submitted",
    "emit",
    "listen",
]

logger = logging.getLogger("sora2pro")


@attrs.frozen
class Submitted:
    """A create made task ``task_id`` (for batch item ``index``; None outside a batch).

    A batch's own ``on_event`` also gets it for a task its journal re-attached.
    """

    index: int | None
    task_id: str


@attrs.frozen
class StateChanged:
    """A wait saw the task change state or progress (item ``index``; None outside a batch)."""

    index: int | None
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


@attrs.frozen
class CallbackReceived:
    """A wait took a callback (with ``index`` None: also deliver_callback, or a relay).

    ``confirmed`` tells whether it held up: the task had ended (by a status fetch, unless
    the receiver trusts bodies). One not confirmed is ignored, and polling goes on.
    """

    index: int | None
    callback: Callback
    confirmed: bool


BatchEvent = Submitted | StateChanged | Finished | Retried | RateLimited
#: Receives each event of a batch; a plain function or a coroutine function.
OnEvent = typing.Callable[[BatchEvent], "Awaitable[None] | None"]
#: Whatever a client's own ``on_event`` may receive.
Event = Submitted | StateChanged | Retried | RateLimited | CallbackReceived
#: Receives each event of a client: a plain function (what it returns is ignored),
#: called in the task that caused the event.
OnClientEvent = typing.Callable[[Event], object]

_sink: contextvars.ContextVar[OnEvent | None] = contextvars.ContextVar(
    "sora2pro_sink", default=None
)
_index: contextvars.ContextVar[int | None] = contextvars.ContextVar("sora2pro_index", default=None)


def listen(on_event: OnEvent | None, index: int) -> None:
    """Send the current task's batch events to ``on_event``, tagged with item ``index``.

    Call it at the start of a task: each asyncio task has its own context.
    """
    _sink.set(on_event)
    _index.set(index)


async def emit(event: BatchEvent) -> None:
    """Hand ``event`` to the batch sink listening in the current task, if any."""
    await instrument.call(_sink.get(), event)


@attrs.define(eq=False)
class Events:
    """Where a client's events go: its own ``on_event``, and the batch of the current task.

    The client's ``on_event`` is an observer: what it raises is logged (the first time
    as a warning, with its traceback; later ones at debug level) and never reaches
    the flow it observes.
    """

    on_event: OnClientEvent | None = None
    _failures: int = 0

    def notice(self, event: Event) -> None:
        """Hand ``event`` to the client's ``on_event`` (not to a batch's); never raises."""
        if self.on_event is None:
            return
        try:
            returned: object = self.on_event(event)
            if inspect.isawaitable(returned):
                if inspect.iscoroutine(returned):
                    returned.close()  # never awaited, and never a warning about it
                raise TypeError("on_event returned an awaitable: it must be a plain function")
        except Exception:
            self._failures += 1
            level = logging.WARNING if self._failures == 1 else logging.DEBUG
            logger.log(
                level,
                "on_event raised on %s (ignored; later failures are logged at debug level)",
                type(event).__name__,
                exc_info=True,
                extra={"event": "on_event_failed", "failures": self._failures},
            )

    async def emit(self, event: Submitted | StateChanged | Retried | RateLimited) -> None:
        """Hand ``event`` to the client's ``on_event``, then to the current batch's, if any."""
        self.notice(event)
        await emit(event)

    async def report(self, details: instrument.Report) -> None:
        """The transport's listener: its reports as events of the current batch item."""
        index = _index.get()
        if isinstance(details, instrument.RetryScheduled):
            retried = Retried(
                index, details.operation, details.attempt, details.error, details.delay
            )
            await self.emit(retried)
        else:
            await self.emit(RateLimited(index, details.operation, details.pause))

    def submitted(self, task_id: str) -> None:
        """Tell the client's ``on_event`` of a task a create made (the batch tells its own)."""
        self.notice(Submitted(_index.get(), task_id))

    def callback(self, callback: Callback, *, confirmed: bool) -> None:
        """Tell the client's ``on_event`` of a callback a wait (or a relay) took."""
        self.notice(CallbackReceived(_index.get(), callback, confirmed))

    def updates(
        self, on_update: Callable[[Task], Awaitable[None] | None] | None
    ) -> Callable[[Task], Awaitable[None]] | None:
        """``on_update`` of a wait, also sending each change as a :class:`StateChanged`.

        None when nobody listens: a wait then calls nothing.
        """
        if on_update is None and self.on_event is None and _sink.get() is None:
            return None

        async def changed(task: Task) -> None:
            await self.emit(StateChanged(_index.get(), task))
            await instrument.call(on_update, task)

        return changed

"""What the flows of one client share: its endpoints, policies and bookkeeping."""

from __future__ import annotations

import asyncio
import logging
import time
import typing

import attrs

from sora2pro._flows._events import Events
from sora2pro._flows._schedule import CallbackLosses, Prediction, predict

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    import cattrs

    from sora2pro._api._endpoints import Api
    from sora2pro._callbacks._receiver import CallbackReceiver
    from sora2pro._config import PollPolicy, RetryPolicy
    from sora2pro._coordination._protocols import (
        CallbackBus,
        Coordination,
        DurationLog,
        TaskRegistry,
    )
    from sora2pro._flows._confirmations import Confirmations
    from sora2pro._model._requests import Request
    from sora2pro._transport._transport import Transport

__all__ = ["Context", "deadline_after"]

#: How many finished tasks, and how many predictions, a context keeps.
_KEPT = 4096
#: With this many runs of a shape known, one more barely moves its prediction: it is
#: computed again at most every :data:`_FRESH_FOR` seconds, not at every task's end
#: (10,000 waits would each recompute it over 256 runs).
_SETTLED = 64
_FRESH_FOR = 1.0
logger = logging.getLogger("sora2pro")


@attrs.define(eq=False)
class Context:
    """The collaborators every flow gets passed in; no flow imports the Client.

    Attributes:
        api: The endpoints, with the transport and the wire converter they use.
        retry: How failed requests are retried.
        poll: How waits poll by default.
        coordination: Where shared state lives (pacers, pending tasks, journals).
        registry: The pending tasks.
        callbacks: The callback receiver, if the client has one.
        submitted_at: When each pending task of this client was submitted (loop time):
            live answers carry no useful updateTime, so running time is counted here.
        durations: How long finished videos ran, by request shape (from the
            coordination: shared with its other clients).
        bus: The confirmed ends of tasks, shared with the coordination's other clients.
        unhook: Stops relaying the receiver's unclaimed callbacks (a no-op if none are).
        losses: How often this client's callbacks were lost.
        confirmations: The callbacks being confirmed, and which go first.
        creates: Creates on the wire.
        cancelled_creates: Creates on the wire whose caller was cancelled meanwhile.
        chores: Steps left running by flows whose callers are gone (settling an
            idempotency key after a create's answer).
        closing: No create leaves once the client began to close.
        events: Where the client's events go (its ``on_event``, a batch's).

    """

    api: Api
    retry: RetryPolicy
    poll: PollPolicy
    coordination: Coordination
    registry: TaskRegistry
    callbacks: CallbackReceiver | None
    confirmations: Confirmations
    submitted_at: dict[str, float] = attrs.Factory(dict)
    durations: DurationLog = attrs.field(
        default=attrs.Factory(lambda self: self.coordination.durations(), takes_self=True)
    )
    bus: CallbackBus = attrs.field(
        default=attrs.Factory(lambda self: self.coordination.callback_bus(), takes_self=True)
    )
    unhook: Callable[[], None] = lambda: None
    losses: CallbackLosses = attrs.Factory(CallbackLosses)
    creates: set[asyncio.Future[str]] = attrs.Factory(set)
    cancelled_creates: set[asyncio.Future[str]] = attrs.Factory(set)
    chores: set[asyncio.Future[None]] = attrs.Factory(set)
    closing: bool = False
    events: Events = attrs.Factory(Events)
    #: By shape and prior: the runs' count and last run when computed, when, and what.
    _predictions: dict[
        tuple[str | None, float], tuple[tuple[int, float | None], float, Prediction]
    ] = attrs.field(factory=dict, init=False)
    _learned: dict[str, None] = attrs.field(factory=dict, init=False)

    @property
    def transport(self) -> Transport:
        """The exchange, for uploads and downloads."""
        return self.api.transport

    @property
    def converter(self) -> cattrs.Converter:
        """The wire converter."""
        return self.api.converter

    def run_chore(self, step: Coroutine[object, object, None], failure: str) -> None:
        """Run ``step`` to its end whoever waits for it; log ``failure`` if it raises."""

        def done(chore: asyncio.Future[None]) -> None:
            self.chores.discard(chore)
            error = None if chore.cancelled() else chore.exception()
            if error is not None:
                logger.warning("%s: %r", failure, error, extra={"event": "chore_failed"})

        chore = asyncio.ensure_future(step)
        self.chores.add(chore)
        chore.add_done_callback(done)

    async def drain(self) -> None:
        """Wait for the creates on the wire, then for the chores their answers left."""
        while self.creates or self.chores:
            pending: set[asyncio.Future[str] | asyncio.Future[None]] = {*self.creates, *self.chores}
            await asyncio.wait(pending)

    def finished(self, task_id: str) -> Request | None:
        """Forget a task seen to end and handed over; its request, if it was pending."""
        self.submitted_at.pop(task_id, None)
        return self.registry.finish(task_id)

    def learned(self, task_id: str) -> bool:
        """Whether the end of ``task_id`` was already seen (and note that it is now).

        A finished task read again must not count its run twice. The most recent
        :data:`_KEPT` ends are remembered.
        """
        if task_id in self._learned:
            return True
        if len(self._learned) >= _KEPT:
            del self._learned[next(iter(self._learned))]
        self._learned[task_id] = None
        return False

    def predict(self, shape: str | None, prior: float) -> Prediction:
        """The running time of a task of ``shape`` (None: unknown), from the ``prior`` median.

        Computed again only once the shape's runs changed; if it was computed from
        many runs, at most every :data:`_FRESH_FOR` seconds.
        """
        runs = self.durations.recent(shape) if shape is not None else ()
        mark = (len(runs), runs[-1] if runs else None)
        now = time.monotonic()
        cached = self._predictions.get((shape, prior))
        if cached is not None:
            seen, at, prediction = cached
            if seen == mark or (seen[0] >= _SETTLED and now - at < _FRESH_FOR):
                return prediction
        prediction = predict(prior, runs)
        if len(self._predictions) >= _KEPT:
            self._predictions.clear()  # shapes named by the server: no end of them
        self._predictions[shape, prior] = (mark, now, prediction)
        return prediction


def deadline_after(timeout: float | None) -> float | None:
    """The ``loop.time()`` at which ``timeout`` seconds from now end (None: no deadline)."""
    return None if timeout is None else asyncio.get_running_loop().time() + timeout

"""What the flows of one client share: its endpoints, policies and bookkeeping."""

from __future__ import annotations

import asyncio
import collections
import statistics
import typing

import attrs

if typing.TYPE_CHECKING:
    import cattrs

    from sora2pro._api._endpoints import Api
    from sora2pro._callbacks._receiver import CallbackReceiver
    from sora2pro._config import PollPolicy, RetryPolicy
    from sora2pro._coordination._protocols import Coordination, TaskRegistry
    from sora2pro._model._requests import Request
    from sora2pro._transport._transport import Transport

__all__ = ["Context", "deadline_after"]


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
        durations: How long this client's videos took, for polling the likely
            finished first.
        creates: Creates on the wire.
        cancelled_creates: Creates on the wire whose caller was cancelled meanwhile.
        closing: No create leaves once the client began to close.

    """

    api: Api
    retry: RetryPolicy
    poll: PollPolicy
    coordination: Coordination
    registry: TaskRegistry
    callbacks: CallbackReceiver | None
    submitted_at: dict[str, float] = attrs.Factory(dict)
    durations: collections.deque[float] = attrs.Factory(lambda: collections.deque(maxlen=256))
    creates: set[asyncio.Future[str]] = attrs.Factory(set)
    cancelled_creates: set[asyncio.Future[str]] = attrs.Factory(set)
    closing: bool = False

    @property
    def transport(self) -> Transport:
        """The exchange, for uploads and downloads."""
        return self.api.transport

    @property
    def converter(self) -> cattrs.Converter:
        """The wire converter."""
        return self.api.converter

    def finished(self, task_id: str) -> Request | None:
        """Forget a task seen to end and handed over; its request, if it was pending."""
        self.submitted_at.pop(task_id, None)
        return self.registry.finish(task_id)

    def typical_duration(self) -> float | None:
        """The median time this client's tasks took, once it has seen a few."""
        return statistics.median(self.durations) if len(self.durations) >= 3 else None


def deadline_after(timeout: float | None) -> float | None:
    """The ``loop.time()`` at which ``timeout`` seconds from now end (None: no deadline)."""
    return None if timeout is None else asyncio.get_running_loop().time() + timeout

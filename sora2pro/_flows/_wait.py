"""Waiting for a task's end: polls on a schedule, raced against its callback."""

from __future__ import annotations

import asyncio
import logging
import math
import typing

from sora2pro._errors import Sora2ProError, TaskNotVisibleError
from sora2pro._flows._confirm import RELAY_WITHIN, unconfirmed_as_none
from sora2pro._flows._heard import Heard, publish, published
from sora2pro._flows._polling import (
    OnSubmitted,
    OnUpdate,
    WaitModel,
    call_within,
    fetch_task,
    notify_within,
    polls,
)
from sora2pro._model._failures import TaskFailedError, WaitTimeoutError
from sora2pro._model._task import Task, TaskState

if typing.TYPE_CHECKING:
    from collections.abc import Coroutine

    from sora2pro._config import PollPolicy
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Callback

__all__ = [
    "published",
    "read_task",
    "relay",
    "until_done",
    "wait",
    "wait_submitted",
]

logger = logging.getLogger("sora2pro")


async def wait(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    deadline: float | None,
    poll: PollPolicy | None,
    on_update: OnUpdate | None,
) -> Task:
    """Wait for the task's end; forget it from pending only as it is handed over."""
    try:
        task = await _waiting(
            ctx, task_id, timeout=timeout, deadline=deadline, poll=poll, on_update=on_update
        )
    except TaskFailedError:
        ctx.finished(task_id)
        raise
    ctx.finished(task_id)
    return task


async def until_done(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    deadline: float | None,
    poll: PollPolicy | None,
    on_update: OnUpdate | None,
) -> Task:
    """The task once it succeeded (still pending); each change to ``on_update``, and as events.

    Raises:
        TaskFailedError: it failed (still pending too).
        WaitTimeoutError: the deadline passed first.

    """
    return await _waiting(
        ctx, task_id, timeout=timeout, deadline=deadline, poll=poll, on_update=on_update
    )


def _waiting(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    deadline: float | None,
    poll: PollPolicy | None,
    on_update: OnUpdate | None,
) -> Coroutine[object, object, Task]:
    """:func:`until_done`'s wait, with no frame of its own (see :func:`_without_receiver`)."""
    on_update = ctx.events.updates(on_update)
    policy = poll or ctx.poll
    if ctx.callbacks is None:
        return _without_receiver(
            ctx, task_id, timeout=timeout, deadline=deadline, policy=policy, on_update=on_update
        )
    return _with_receiver(
        ctx, task_id, timeout=timeout, deadline=deadline, policy=policy, on_update=on_update
    )


async def _with_receiver(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    deadline: float | None,
    policy: PollPolicy,
    on_update: OnUpdate | None,
) -> Task:
    """Race the task's callback, its end confirmed by another client, and polling."""
    assert ctx.callbacks is not None  # noqa: S101  # only with a receiver
    # The callback is the fast path; polling only needs to catch a lost callback.
    # Only a task this client submitted, with its callBackUrl, owes it a callback.
    model = WaitModel(ctx, task_id, policy, patient=task_id in ctx.submitted_at)
    polling = asyncio.ensure_future(
        polls(model, timeout=timeout, deadline=deadline, on_update=on_update)
    )
    polling.add_done_callback(model.settled)
    seen: Callback | None = None
    # Another process (or client) may confirm the end first: no request of our own then.
    ended = ctx.bus.expect(task_id)
    try:
        while True:
            hint = ctx.callbacks.expect(task_id, newer_than=seen)
            try:
                racing: set[asyncio.Future[typing.Any]] = {hint, polling, ended}
                await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                if ended.done():
                    task = published(ctx, task_id, ended.result())
                    if task is not None:
                        break
                    ended = asyncio.get_running_loop().create_future()  # never again
                    continue
                if not hint.done():
                    return _caught(ctx, task_id, polling.result())
                seen = hint.result()
            finally:
                hint.cancel()
            task = await unconfirmed_as_none(
                ctx, seen, deadline, fetch=not ctx.callbacks.trust_body, waited=True
            )
            ctx.events.callback(seen, confirmed=task is not None)
            if task is not None:
                if not ctx.callbacks.trust_body:
                    publish(ctx, task_id, task)
                break
            # It did not hold up (forged?): at most one confirmation per interval,
            # so a flood of forgeries cannot turn into a flood of status queries.
            ctx.callbacks.refute(seen)
            pausing: set[asyncio.Future[typing.Any]] = {polling, ended}
            await asyncio.wait(pausing, timeout=policy.min_interval)
            if polling.done():
                return _caught(ctx, task_id, polling.result())
        ctx.losses.count(lost=False)
        await notify_within(on_update, task, deadline, timeout)
        if task.state is TaskState.FAIL:
            raise TaskFailedError(task)
        return task
    finally:
        polling.cancel()
        ended.cancel()
        await asyncio.gather(polling, return_exceptions=True)


async def relay(ctx: Context, callback: Callback) -> None:
    """Confirm a callback no wait of this process took, and publish the task for the others."""
    assert ctx.callbacks is not None  # noqa: S101  # only relayed from a receiver
    deadline = asyncio.get_running_loop().time() + RELAY_WITHIN
    task = await unconfirmed_as_none(ctx, callback, deadline, fetch=True)
    ctx.events.callback(callback, confirmed=task is not None)
    if task is None:
        ctx.callbacks.refute(callback)
        return
    publish(ctx, task.id, task)


async def _without_receiver(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    deadline: float | None,
    policy: PollPolicy,
    on_update: OnUpdate | None,
) -> Task:
    """Poll; but another client (or process) may have a receiver for the task, and tell.

    The polls run in this task, with the bus's word as an interrupt (:class:`Heard`):
    this is the wait most callers have, thousands at once, so it keeps few frames.
    """
    heard = Heard(ctx, task_id)
    try:
        if heard.task is None:
            return await polls(
                WaitModel(ctx, task_id, policy, patient=False),
                timeout=timeout,
                deadline=deadline,
                on_update=on_update,
            )
    except asyncio.CancelledError:
        if not heard.interrupted():
            raise
    finally:
        heard.close()
    task = heard.task
    assert task is not None  # noqa: S101  # heard, or it returned or raised above
    await notify_within(on_update, task, deadline, timeout)
    if task.state is TaskState.FAIL:
        raise TaskFailedError(task)
    return task


def _caught(ctx: Context, task_id: str, task: Task) -> Task:
    """A poll learned of the end first: a lost callback, if this client submitted it."""
    if task_id in ctx.submitted_at:
        ctx.losses.count(lost=True)
    return task


async def read_task(ctx: Context, task_id: str) -> Task:
    """The task's current state, asked for by the user: ahead of every poll.

    A task this client submitted that the server does not show yet reads as waiting.
    """
    try:
        task = await fetch_task(ctx, task_id, None, math.inf)
    except TaskNotVisibleError:
        request = ctx.registry.get(task_id)
        if request is None:
            raise
        return Task(
            id=task_id,
            model=request.model,
            state=TaskState.WAITING,
            raw_state="",
            request=request,
        )
    if task.done:
        ctx.finished(task_id)
    return task


async def wait_submitted(
    ctx: Context,
    task_id: str,
    *,
    timeout: float | None,
    deadline: float | None,
    on_update: OnUpdate | None,
    on_submitted: OnSubmitted | None = None,
) -> Task:
    """Hand the id of a task ``generate()`` just submitted to ``on_submitted``, then wait.

    Every error names the task id; the task stays pending until it is seen to end.
    What :func:`wait` does, without its frame: each pending ``generate()`` holds these.
    """
    try:
        await _announce(on_submitted, task_id, deadline, timeout)
        task = await _waiting(
            ctx, task_id, timeout=timeout, deadline=deadline, poll=None, on_update=on_update
        )
    except Sora2ProError as exc:
        if isinstance(exc, TaskFailedError):
            ctx.finished(task_id)  # seen to end, and handed over with the error
        exc.task_id = task_id
        raise
    except asyncio.CancelledError:
        logger.warning(
            "generate() cancelled; task %s keeps running on the server",
            task_id,
            extra={"event": "abandoned", "task_id": task_id},
        )
        raise
    ctx.finished(task_id)
    return task


async def _announce(
    on_submitted: OnSubmitted | None, task_id: str, deadline: float | None, timeout: float | None
) -> None:
    """Call ``on_submitted`` within the wait's deadline; what it raises says the task runs on."""
    try:
        await call_within(on_submitted, task_id, deadline, timeout, task_id=task_id, last=None)
    except WaitTimeoutError:
        raise
    except Exception as exc:
        exc.add_note(
            f"raised by on_submitted: task {task_id} was created and runs on "
            "(it stays in client.pending)"
        )
        raise

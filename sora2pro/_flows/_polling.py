"""Waiting for a task: the loop that polls on its schedule until the end, and its polls."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
import typing
from collections.abc import Awaitable, Callable

import attrs

from sora2pro._errors import Sora2ProError, TaskNotVisibleError
from sora2pro._flows._schedule import Schedule, expected_remaining, shape_of
from sora2pro._model._failures import TaskFailedError, WaitTimeoutError
from sora2pro._model._requests import CharacterRequest
from sora2pro._model._task import Task, TaskState
from sora2pro._transport._instrument import call
from sora2pro._transport._retry import is_transient, retrying

if typing.TYPE_CHECKING:
    from collections.abc import Coroutine

    from sora2pro._config import PollPolicy
    from sora2pro._flows._context import Context
    from sora2pro._flows._schedule import Prediction

__all__ = [
    "LONGEST_RUN",
    "OnSubmitted",
    "OnUpdate",
    "WaitModel",
    "call_within",
    "fetch_task",
    "notify",
    "notify_within",
    "poll_until_done",
    "polls",
    "urgency",
]

logger = logging.getLogger("sora2pro")

#: The longest a task is taken to have run before a wait first saw it: a month, against
#: a createTime far off this machine's clock.
LONGEST_RUN = 30 * 24 * 3600.0

#: Called with each snapshot whose state or progress changed; may be a coroutine function.
OnUpdate = Callable[[Task], Awaitable[None] | None]
#: Called with a task id the moment the server gives it; may be a coroutine function.
OnSubmitted = Callable[[str], Awaitable[None] | None]

T = typing.TypeVar("T")


def urgency(last: Task | None, elapsed: float, age: float, typical: float) -> float:
    """How many seconds the task is likely overdue: who gets the next status query.

    ``elapsed`` is how long the task had run when ``last`` was seen, ``age`` the time
    since. Past its predicted finish (from progress), or else past the ``typical``
    running time of its shape; 0 before anything is known of it, negative when it
    surely still runs.
    """
    if last is None:
        return 0.0
    remaining = expected_remaining(last, elapsed)
    if remaining is not None:
        return age - remaining
    return elapsed + age - typical


async def notify(on_update: OnUpdate | None, task: Task) -> None:
    """Call ``on_update`` with ``task``, awaiting it if it is a coroutine function."""
    await call(on_update, task)


async def poll_until_done(
    fetch: Callable[[float | None, float], Awaitable[Task]],
    task_id: str,
    *,
    policy: PollPolicy,
    schedule: Schedule,
    timeout: float | None,
    deadline: float | None,
    on_update: OnUpdate | None,
    started_at: float | None = None,
) -> Task:
    """Poll ``fetch(deadline, urgency)`` until the task succeeds, fails or ``deadline`` passes.

    ``deadline`` is a ``loop.time()`` value; ``timeout`` is only named in the error.
    ``started_at`` is the ``loop.time()`` the task was submitted, when this client
    did it: the first poll waits for the ``schedule``. Otherwise the task may have
    ended long ago: it is polled at once, and its running time counted from its
    ``createTime`` (or from the start of this wait, without one).

    A task not visible yet (422, or data null, right after create) is polled for up to
    ``policy.not_visible_for``; transient errors that outlive ``fetch``'s own
    retries are logged and polled through until the deadline.

    Raises:
        TaskFailedError: the task ended in state ``fail``.
        WaitTimeoutError: ``timeout`` passed first.

    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    origin = started if started_at is None else started_at
    last: Task | None = None
    seen = started
    due_now = started_at is None
    end = math.inf if deadline is None else deadline

    # No timeout scope around the polls: aiohttp's own timers fire at the same instant
    # (a request's total is cut to the time left) and can swallow the scope's cancel,
    # which would leave the loop running past the deadline. Every step is bounded by
    # ``deadline`` itself instead, and the deadline is checked before each poll.
    # No closures and no helper coroutines either: thousands of waits sleep here.
    while loop.time() < end:
        schedule.waiting(loop.time() - origin)
        if not due_now and (pause := _pause(origin + schedule.due(), policy, end)) is not None:
            await asyncio.sleep(pause)
            continue
        due_now = False
        try:
            level = _urgency(policy, schedule, last, seen - origin, loop.time() - seen)
            task = await fetch(deadline, level)
        except TaskNotVisibleError:
            if last is not None or loop.time() - started > policy.not_visible_for:
                raise
            logger.debug("task %s not visible yet", task_id)
            schedule.polled(loop.time() - origin, None)
        except Sora2ProError as exc:
            if not is_transient(exc):
                raise
            if loop.time() >= end:
                raise _timed_out(task_id, last, timeout) from None
            logger.warning(
                "polling task %s failed (%s); polling on",
                task_id,
                exc,
                extra={"event": "poll_error", "task_id": task_id},
            )
            schedule.polled(loop.time() - origin, None)
        else:
            if last is None or (task.state, task.progress) != (last.state, last.progress):
                await notify_within(on_update, task, deadline, timeout)
            if last is None and started_at is None:
                origin = _submitted(task, started)
            last = task
            seen = loop.time()
            if task.state is TaskState.SUCCESS:
                return task
            if task.state is TaskState.FAIL:
                raise TaskFailedError(task)
            schedule.polled(seen - origin, task)
    raise _timed_out(task_id, last, timeout)


def _timed_out(task_id: str, last: Task | None, timeout: float | None) -> WaitTimeoutError:
    assert timeout is not None  # noqa: S101  # only a deadline expires
    return WaitTimeoutError(task_id, last, timeout)


def _urgency(
    policy: PollPolicy, schedule: Schedule, last: Task | None, elapsed: float, age: float
) -> float:
    """The poll's place in the status budget's queue (see :func:`urgency`).

    A poll of the model's schedule is already due: first come, first served, so a
    short task's polls are not put off behind long tasks that have run longer. The
    backoff's polls go to the task likely overdue first, but never later than
    max_interval past the ask: a pessimistic prediction must not starve a wait.
    """
    if policy.adaptive:
        return 0.0
    return max(urgency(last, elapsed, age, schedule.typical()), -policy.max_interval)


def _pause(due: float, policy: PollPolicy, end: float) -> float | None:
    """How long to sleep toward ``due`` (loop time), within ``end``; None when it is there.

    At most ``max_interval`` at a time: the model may learn meanwhile (a shape's
    runs, a lost callback) and bring the poll sooner.
    """
    now = asyncio.get_running_loop().time()
    if due <= now:
        return None
    return min(due - now, policy.max_interval, end - now)


def _submitted(task: Task, seen: float) -> float:
    """When a task first seen at ``seen`` was submitted (loop time), by its createTime.

    Live answers' createTime is usable (their updateTime is not); without it, or
    from a clock ahead of this one, the task counts as submitted when first seen.
    """
    if task.created_at is None:
        return seen
    ran = time.time() - task.created_at.timestamp()
    return seen - min(max(0.0, ran), LONGEST_RUN)


async def notify_within(
    on_update: OnUpdate | None, task: Task, deadline: float | None, timeout: float | None
) -> None:
    """Call ``on_update``, but no later than ``deadline``: it is the caller's code.

    Raises:
        WaitTimeoutError: ``on_update`` was still running at the deadline.

    """
    await call_within(on_update, task, deadline, timeout, task_id=task.id, last=task)


async def call_within(
    function: Callable[[T], Awaitable[None] | None] | None,
    value: T,
    deadline: float | None,
    timeout: float | None,
    *,
    task_id: str,
    last: Task | None,
) -> None:
    """Call the caller's ``function`` with ``value`` (if any), but no later than ``deadline``.

    Raises:
        WaitTimeoutError: ``function`` was still running at the deadline (naming
            ``task_id`` and the ``last`` snapshot seen).

    """
    if function is None:
        return
    scope = asyncio.timeout_at(deadline)
    try:
        async with scope:
            await call(function, value)
    except TimeoutError:
        if scope.expired():
            assert timeout is not None  # noqa: S101  # only a deadline expires
            raise WaitTimeoutError(task_id, last, timeout) from None
        raise


async def fetch_task(ctx: Context, task_id: str, deadline: float | None, urgency: float) -> Task:
    """Fetch a task with the status budget's slot for ``urgency``, retried within ``deadline``."""
    # The first try is made here, and the retry machinery built only on a failure:
    # thousands of waits queue for a slot, each with this chain of frames alive.
    failed: Sora2ProError | None = None
    try:
        task = await ctx.api.record_info(task_id, deadline, urgency)
    except Sora2ProError as error:
        failed = error
    if failed is not None:
        task = await retrying(
            functools.partial(ctx.api.record_info, task_id, deadline, urgency),
            policy=ctx.retry,
            retryable=is_transient,
            deadline=deadline,
            operation="recordInfo",
            listener=ctx.transport.listener,
            failed=failed,
        )
    if task.state is TaskState.SUCCESS:
        _learn(ctx, task)
    return task


def _learn(ctx: Context, task: Task) -> None:
    """Note how long a video ran, for the poll schedule of its shape.

    By the server's createTime and completeTime, and at most what this client's
    clock saw from its submit; each task once. Only videos: a character takes far less.
    """
    # Kept in pending until the caller has it: a cancel in between must not lose it
    # (the waits and get_task() forget it when they hand it over).
    request = ctx.registry.get(task.id) or task.request
    if isinstance(request, CharacterRequest) or ctx.learned(task.id):
        return
    runs = []
    if task.created_at is not None and task.completed_at is not None:
        runs.append((task.completed_at - task.created_at).total_seconds())
    if task.id in ctx.submitted_at:
        # The server's times cannot tell of a longer run than this client saw.
        runs.append(asyncio.get_running_loop().time() - ctx.submitted_at[task.id])
    # Nil, negative or past a month: a clock is wrong, and such a run teaches nonsense.
    plausible = [run for run in runs if 0 < run <= LONGEST_RUN]
    if plausible:
        ctx.durations.record(shape_of(task.model, request), min(plausible))


@attrs.define(eq=False)
class WaitModel:
    """What one wait's polls use: its fetch, the duration model, what a late end costs.

    Methods, not closures: one object of a few slots per wait, thousands at once.
    """

    ctx: Context
    task_id: str
    policy: PollPolicy
    #: A callback is due (a receiver, and a task this client submitted with its URL).
    patient: bool

    def fetch(self, deadline: float | None, urgency: float) -> Awaitable[Task]:
        return fetch_task(self.ctx, self.task_id, deadline, urgency)

    def predict(self, shape: str | None) -> Prediction:
        return self.ctx.predict(shape, self.policy.expected_duration)

    def cost(self) -> float:
        # With a receiver, a late end only costs when the callback is lost.
        return self.policy.delay_cost * (self.ctx.losses.rate() if self.patient else 1.0)

    def silent(self, surprise: float) -> None:
        self.ctx.losses.silent(id(self), surprise)

    def settled(self, _polling: object) -> None:
        """The wait ended: its silence no longer counts."""
        self.ctx.losses.settled(id(self))


def polls(
    model: WaitModel,
    *,
    timeout: float | None,
    deadline: float | None,
    on_update: OnUpdate | None,
) -> Coroutine[object, object, Task]:
    """The wait's polls, on a schedule of the ``model``; no frame of its own."""
    ctx = model.ctx
    request = ctx.registry.get(model.task_id)
    schedule = Schedule(
        model.policy,
        model.predict,
        model.cost,
        patient=model.patient,
        silent=model.silent if model.patient else None,
        shape=None if request is None else shape_of(request.model, request),
    )
    return poll_until_done(
        model.fetch,
        model.task_id,
        policy=model.policy,
        schedule=schedule,
        timeout=timeout,
        deadline=deadline,
        on_update=on_update,
        started_at=ctx.submitted_at.get(model.task_id),
    )

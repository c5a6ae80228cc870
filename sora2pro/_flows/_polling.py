"""Waiting for a task: when to poll next, and the loop that polls until the end."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import typing
from collections.abc import Awaitable, Callable

from sora2pro._errors import Sora2ProError, TaskNotVisibleError
from sora2pro._model._failures import TaskFailedError, WaitTimeoutError
from sora2pro._model._task import Task, TaskState
from sora2pro._transport._instrument import call
from sora2pro._transport._retry import is_transient

if typing.TYPE_CHECKING:
    from sora2pro._config import PollPolicy

__all__ = [
    "OnUpdate",
    "expected_remaining",
    "next_delay",
    "notify",
    "notify_within",
    "poll_until_done",
    "urgency",
]

logger = logging.getLogger("sora2pro")

#: Called with each snapshot whose state or progress changed; may be a coroutine function.
OnUpdate = Callable[[Task], Awaitable[None] | None]


def expected_remaining(task: Task, elapsed: float) -> float | None:
    """Seconds until the task likely ends, judged from its progress, or None.

    ``elapsed`` is how long the task had run when ``task`` was seen, by the client's
    own clock: live answers carry no useful ``updateTime`` (API.md section 8).
    """
    if task.progress is None or not 0 < task.progress < 100 or elapsed <= 0:
        return None
    return elapsed * (100 - task.progress) / task.progress


def urgency(last: Task | None, elapsed: float, age: float, typical: float | None) -> float:
    """How many seconds the task is likely overdue: who gets the next status query.

    ``elapsed`` is how long the task had run when ``last`` was seen, ``age`` the time
    since. Past its predicted finish (from progress), or else past the ``typical``
    duration this client has seen tasks take; 0 when nothing is known, negative
    when the task is surely still running.
    """
    if last is None:
        return 0.0
    remaining = expected_remaining(last, elapsed)
    if remaining is not None:
        return age - remaining
    if typical is not None:
        return elapsed + age - typical
    return 0.0


def next_delay(policy: PollPolicy, attempt: int, task: Task | None, elapsed: float = 0.0) -> float:
    """The pause before poll number ``attempt + 1``, within the policy's bounds.

    Progress (seen after ``elapsed`` seconds of running) can only bring the next poll
    sooner than the backoff alone: one noisy early reading, such as 3 % after 2 s,
    would otherwise push it to ``max_interval`` for a task about to end.
    """
    # In log space: multiplier**attempt overflows a float after a few thousand polls.
    ceiling = math.log(policy.max_interval / policy.min_interval)
    growth = min(attempt * math.log(policy.multiplier), ceiling)
    delay = policy.min_interval * math.exp(growth)
    if policy.use_progress and task is not None:
        remaining = expected_remaining(task, elapsed)
        if remaining is not None:
            delay = min(delay, remaining)
    delay = min(policy.max_interval, max(policy.min_interval, delay))
    spread = delay * policy.jitter
    delay = random.uniform(delay - spread, delay + spread)
    return min(policy.max_interval, max(policy.min_interval, delay))


async def notify(on_update: OnUpdate | None, task: Task) -> None:
    """Call ``on_update`` with ``task``, awaiting it if it is a coroutine function."""
    await call(on_update, task)


async def poll_until_done(
    fetch: Callable[[float | None, float], Awaitable[Task]],
    task_id: str,
    *,
    policy: PollPolicy,
    timeout: float | None,
    deadline: float | None,
    on_update: OnUpdate | None,
    typical: Callable[[], float | None],
    started_at: float | None = None,
    sleep_first: bool = False,
) -> Task:
    """Poll ``fetch(deadline, urgency)`` until the task succeeds, fails or ``deadline`` passes.

    ``deadline`` is a ``loop.time()`` value; ``timeout`` is only named in the error.
    ``started_at`` is the ``loop.time()`` the task was submitted, when this client
    did it; otherwise its running time is counted from the start of this wait.
    With ``sleep_first`` the first poll waits one interval (a callback is expected).

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
    attempt = 0

    def expired() -> bool:
        return deadline is not None and loop.time() >= deadline

    def timed_out() -> WaitTimeoutError:
        assert timeout is not None  # noqa: S101  # only a deadline expires
        return WaitTimeoutError(task_id, last, timeout)

    async def pause(seconds: float) -> None:
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - loop.time()))
        await asyncio.sleep(seconds)

    # No timeout scope around the polls: aiohttp's own timers fire at the same instant
    # (a request's total is cut to the time left) and can swallow the scope's cancel,
    # which would leave the loop running past the deadline. Every step is bounded by
    # ``deadline`` itself instead, and the deadline is checked before each poll.
    if sleep_first:
        await pause(next_delay(policy, 0, None))
    while not expired():
        try:
            # Never later than max_interval past the ask: a pessimistic prediction
            # must not starve this wait while other waits fill the budget.
            level = urgency(last, seen - origin, loop.time() - seen, typical())
            level = max(level, -policy.max_interval)
            task = await fetch(deadline, level)
        except TaskNotVisibleError:
            if last is not None or loop.time() - started > policy.not_visible_for:
                raise
            hint = None
            logger.debug("task %s not visible yet", task_id)
        except Sora2ProError as exc:
            if not is_transient(exc):
                raise
            if expired():
                raise timed_out() from None
            logger.warning(
                "polling task %s failed (%s); polling on",
                task_id,
                exc,
                extra={"event": "poll_error", "task_id": task_id},
            )
            hint = last
        else:
            if last is None or (task.state, task.progress) != (last.state, last.progress):
                await notify_within(on_update, task, deadline, timeout)
            last = task
            seen = loop.time()
            if task.state is TaskState.SUCCESS:
                return task
            if task.state is TaskState.FAIL:
                raise TaskFailedError(task)
            hint = task
        await pause(next_delay(policy, attempt, hint, seen - origin))
        attempt += 1
    raise timed_out()


async def notify_within(
    on_update: OnUpdate | None, task: Task, deadline: float | None, timeout: float | None
) -> None:
    """Call ``on_update``, but no later than ``deadline``: it is the caller's code.

    Raises:
        WaitTimeoutError: ``on_update`` was still running at the deadline.

    """
    if on_update is None:
        return
    scope = asyncio.timeout_at(deadline)
    try:
        async with scope:
            await notify(on_update, task)
    except TimeoutError:
        if scope.expired():
            assert timeout is not None  # noqa: S101  # only a deadline expires
            raise WaitTimeoutError(task.id, task, timeout) from None
        raise

"""The Client's methods for following one task as it runs: watch.

A part of :class:`sora2pro.Client`, kept apart so that each file stays readable; the
methods delegate to the flows like every other method of the Client.
"""

from __future__ import annotations

import typing

from sora2pro._config import DEFAULT_WAIT_TIMEOUT, PollPolicy, check_instance, check_timeout
from sora2pro._flows._watch import watch
from sora2pro._wiring import check_task_id

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task

__all__ = ["WatchMethods"]


class WatchMethods:
    """Watching: the part of the Client that streams a task's changes."""

    if typing.TYPE_CHECKING:  # what these methods use of the Client they are part of
        _ctx: Context

        def _check_open(self) -> None: ...

    def watch(
        self,
        task_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll: PollPolicy | None = None,
    ) -> AsyncGenerator[Task, None]:
        """Follow a task: yield each snapshot whose state or progress changed, the final last.

        ::

            async for task in client.watch(task_id):
                print(task.state, task.progress)

        It is :meth:`wait` as an iterator, with the same schedule, deadline and
        callbacks: the iteration ends after the successful snapshot, or raises
        :class:`TaskFailedError` after the failed one. It keeps at most one change you
        have not taken, and polls no further meanwhile; leaving the loop (``break``),
        ``aclose()`` or a cancel stops it.

        Args:
            task_id: The task to follow.
            timeout: Seconds from the first step of the iteration (30 minutes by
                default); None follows it without a deadline.
            poll: How to space the polls; None means the client's policy.

        Raises:
            InvalidInputError: ``task_id``, ``timeout`` or ``poll`` is not valid (at
                once, before anything is sent).
            TaskFailedError: the task ended in state ``fail`` (``.task`` has why).
            WaitTimeoutError: the deadline passed first; the task may still finish.
            APIError: an error retrying cannot fix (such as 401 or 404).

        """
        self._check_open()
        check_task_id(task_id)
        check_timeout("timeout", timeout)
        if poll is not None:
            check_instance("poll", poll, PollPolicy, "a sora2pro.PollPolicy or None")
        return watch(self._ctx, task_id, timeout=timeout, poll=poll)

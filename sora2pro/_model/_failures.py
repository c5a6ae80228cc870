"""The errors that carry what they are about: a task, or the request that was sent."""

from __future__ import annotations

import typing

from sora2pro._errors import Sora2ProError, TransportError

if typing.TYPE_CHECKING:
    from sora2pro._model._requests import Request
    from sora2pro._model._task import Task

__all__ = ["SubmitUncertainError", "TaskFailedError", "WaitTimeoutError"]


class SubmitUncertainError(TransportError):
    """A create request may have reached the server, but no usable answer came back.

    The task may exist and be billed. It is never re-sent automatically: look for
    it, or submit again knowing it may run twice.

    Attributes:
        request: The request that was sent.

    """

    def __init__(self, message: str, *, request: Request) -> None:
        super().__init__(message, request_sent=True)
        self.request = request


class TaskFailedError(Sora2ProError):
    """The task ended in state ``fail``.

    Attributes:
        task: The final snapshot, with ``fail_code`` and ``fail_message``.

    """

    def __init__(self, task: Task) -> None:
        reason = " ".join(part for part in (task.fail_code, task.fail_message) if part)
        super().__init__(f"task {task.id} failed" + (f": {reason}" if reason else ""))
        self.task = task
        self.task_id = task.id


class WaitTimeoutError(Sora2ProError, TimeoutError):
    """The wait's deadline passed before the task finished. The task may still run.

    Attributes:
        task_id: The task waited for.
        last: The last snapshot seen, or None if none was.

    """

    def __init__(self, task_id: str, last: Task | None, timeout: float) -> None:
        state = "never seen" if last is None else f"last seen {last.state.value}"
        super().__init__(f"task {task_id} not finished after {timeout:g} s ({state})")
        self.task_id = task_id
        self.last = last

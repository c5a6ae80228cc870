"""Plain, frozen values: what a task, an uploaded file and a character look like.

These classes know nothing of the wire; ``_convert`` translates.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
from collections.abc import Mapping

import attrs

from sora2pro._errors import ResponseError
from sora2pro._model._json import FrozenDict, frozen_object

if typing.TYPE_CHECKING:
    from sora2pro._model._requests import Request

__all__ = ["Callback", "Character", "Task", "TaskState", "UploadedFile"]


class TaskState(enum.StrEnum):
    """Where a task is in its life. Only ``SUCCESS`` and ``FAIL`` are final.

    A state the server sends that is not documented becomes ``UNKNOWN`` (the raw
    value stays in ``Task.raw_state``) and counts as not finished.
    """

    WAITING = "waiting"
    QUEUING = "queuing"
    GENERATING = "generating"
    SUCCESS = "success"
    FAIL = "fail"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class Task:
    """One snapshot of a task, as the task-details endpoint reported it.

    Attributes:
        id: The task id, an opaque string.
        model: The model that runs it.
        state: The state; ``UNKNOWN`` for a state the API does not document.
        raw_state: The state exactly as the server sent it.
        progress: 0 to 100 when the server reports it, else None.
        result_urls: The result's URLs (its videos, for the Sora models), once the
            task succeeded with a result that has URLs.
        watermark_urls: The watermarked video URLs, when the server sends them.
        fail_code: Why the task failed (a numeric string such as ``"500"``), else None.
        fail_message: The failure message, else None.
        created_at: When the task was created (aware, UTC).
        updated_at: When the task last changed (aware, UTC).
        completed_at: When the task ended (aware, UTC).
        cost_time: Seconds the server says the task took (``costTime``; the docs say
            milliseconds, live answers give seconds), once it ended, if reported.
        credits_consumed: Credits the task cost (``creditsConsumed`` or
            ``consumeCredits``; 0 for a failed task), if reported.
        character_id: The new character's id, once a characters task succeeded.
        result_object: The result as the server sent it (``resultJson``, decoded,
            read-only), whatever the model; empty while there is none.
        request: The request the task was created from, when the server echoed it
            back and it passes the request's checks: a typed request for a Sora 2
            model, a :class:`Job` for any other.

    """

    id: str
    model: str
    state: TaskState
    raw_state: str
    progress: int | None = None
    result_urls: tuple[str, ...] = ()
    watermark_urls: tuple[str, ...] = ()
    fail_code: str | None = None
    fail_message: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    cost_time: float | None = None
    credits_consumed: float | None = None
    character_id: str | None = None
    result_object: Mapping[str, object] = attrs.field(factory=FrozenDict, converter=frozen_object)
    request: Request | None = None

    @property
    def done(self) -> bool:
        """Whether the task has ended, in success or failure."""
        return self.state in (TaskState.SUCCESS, TaskState.FAIL)


@attrs.frozen(kw_only=True)
class UploadedFile:
    """A file stored by the API's upload service (kept about 3 days).

    Attributes:
        url: Where the file can be downloaded; give it to a request.
        file_name: The file's name on the service.
        size: Its size in bytes, when the service reported it.
        mime_type: Its media type, when the service reported it.
        uploaded_at: When it was stored (aware, UTC), when the service reported it.

    """

    url: str
    file_name: str
    size: int | None = None
    mime_type: str | None = None
    uploaded_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class Character:
    """A reusable character: put its ``id`` in a request's ``character_ids``.

    It stays usable only while its source clip is kept (uploads last about 3 days).

    Attributes:
        id: The character id.
        task: The finished characters task that made it.

    """

    id: str
    task: Task

    @classmethod
    def from_task(cls, task: Task) -> Character:
        """The character a finished characters task made.

        Raises:
            ResponseError: the task names no character id.

        """
        if task.character_id is None:
            error = ResponseError(f"characters task {task.id} ended without a character id")
            error.task_id = task.id
            raise error
        return cls(id=task.character_id, task=task)


@attrs.frozen
class Callback:
    """One completion callback as received.

    Attributes:
        task: The task as the body describes it.
        verified: Whether its signature checked out against the receiver's HMAC key.
        received_at: When it arrived (``time.time()``).

    """

    task: Task
    verified: bool
    received_at: float

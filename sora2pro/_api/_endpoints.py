"""The jobs API's endpoints over one transport: what goes out, what comes back.

No retries here: the flows decide those. Creates and status queries wait for their
pacer's slot, and a 429 holds that pacer, so every caller of it pauses together.
"""

from __future__ import annotations

import typing

import attrs

from sora2pro._errors import ResponseError, TaskNotVisibleError, UnprocessableError
from sora2pro._model._requests import is_http_url
from sora2pro._transport._paced import paced_exchange, take_slot
from sora2pro._wire import decode_credits, decode_task, decode_task_id

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable

    import cattrs

    from sora2pro._coordination._protocols import Pacer
    from sora2pro._model._requests import Request
    from sora2pro._model._task import Task
    from sora2pro._transport._transport import Transport
    from sora2pro._wire import Envelope

__all__ = [
    "CREATE",
    "CREDIT",
    "DOWNLOAD_URL",
    "RECORD_INFO",
    "UPLOAD_BASE64",
    "UPLOAD_STREAM",
    "UPLOAD_URL",
    "Api",
]

CREATE = "/api/v1/jobs/createTask"
RECORD_INFO = "/api/v1/jobs/recordInfo"
CREDIT = "/api/v1/chat/credit"
DOWNLOAD_URL = "/api/v1/common/download-url"
# The upload service (API.md section 5); its answers are read by the upload flow.
UPLOAD_STREAM = "/file-upload/api/file-stream-upload"
UPLOAD_BASE64 = "/file-upload/api/file-base64-upload"
UPLOAD_URL = "/file-upload/api/file-url-upload"


@attrs.frozen
class Api:
    """The endpoints, paced: creates and status queries each through their own pacer.

    Attributes:
        transport: The one exchange with the API.
        converter: The wire converter.
        create_pacer: Slots for creates.
        status_pacer: Slots for status queries.
        default_pause: The pause after a 429 that named no ``Retry-After``.
        max_pause: The longest pause a ``Retry-After`` may impose on every caller.

    """

    transport: Transport
    converter: cattrs.Converter
    create_pacer: Pacer
    status_pacer: Pacer
    default_pause: float
    max_pause: float
    #: Requests decoded from tasks' ``param`` echoes, by their text (see decode_task).
    requests: dict[str, Request | None] = attrs.field(factory=dict)

    def _paced(
        self, pacer: Pacer, operation: str, method: str, path: str, **request: typing.Any
    ) -> Awaitable[Envelope]:
        return paced_exchange(
            self.transport,
            pacer,
            operation,
            method,
            path,
            default_pause=self.default_pause,
            max_pause=self.max_pause,
            **request,
        )

    def create_slot(self, deadline: float | None) -> Awaitable[None]:
        """Wait for the next create slot, not past ``deadline``."""
        return take_slot(self.create_pacer, deadline, 0.0, "createTask")

    async def create_task(self, body: dict[str, object]) -> str:
        """Send one create (its slot taken) and read its task id.

        Raises:
            APIError: the server refused it, or answered an error (``data`` may still
                hold a task id: the caller decides).
            ResponseError: the answer was not the documented JSON, or had no task id.
            TransportError: no answer came back.

        """
        envelope = await self._paced(self.create_pacer, "createTask", "POST", CREATE, body=body)
        return decode_task_id(envelope.data)

    async def record_info(self, task_id: str, deadline: float | None, urgency: float) -> Task:
        """Take a status slot (``urgency`` seconds overdue go first) and fetch the task.

        Raises:
            TaskNotVisibleError: the task is not shown yet (422, or data null).
            ResponseError: the answer did not describe this task.

        """
        await take_slot(self.status_pacer, deadline, urgency, "recordInfo")
        try:
            envelope = await self._paced(
                self.status_pacer,
                "recordInfo",
                "GET",
                RECORD_INFO,
                params={"taskId": task_id},
                deadline=deadline,
            )
        except UnprocessableError as exc:
            # Only "recordInfo is null" is known here: a task not shown yet.
            raise TaskNotVisibleError(
                exc.code, exc.message, http_status=exc.http_status, data=exc.data
            ) from None
        if envelope.data is None:
            # The other form of "not shown yet" (API.md section 8).
            message = f"{envelope.message} (data is null)".lstrip()
            raise TaskNotVisibleError(envelope.code, message, http_status=200)
        task = decode_task(self.converter, envelope.data, requests=self.requests)
        if task.id != task_id:
            raise ResponseError(f"asked for task {task_id}, got task {task.id}")
        return task

    async def credit(self) -> float:
        """The account's remaining credits."""
        envelope = await self.transport.exchange("GET", CREDIT)
        return decode_credits(envelope.data)

    async def download_url(self, url: str, deadline: float | None) -> str:
        """A temporary direct link for a result URL (valid about 20 minutes)."""
        envelope = await self.transport.exchange(
            "POST", DOWNLOAD_URL, body={"url": url}, deadline=deadline
        )
        if not isinstance(envelope.data, str) or not is_http_url(envelope.data):
            raise ResponseError("download-url answered without a URL")
        return envelope.data

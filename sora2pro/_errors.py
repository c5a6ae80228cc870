"""Every error sora2pro raises, under one root.

::

    Sora2ProError
    ├── InvalidInputError (ValueError)     refused locally, nothing was sent
    │   └── IdempotencyConflictError        a used idempotency key, given another request
    ├── APIError                           the server answered with an error code
    │   ├── AuthenticationError             401 missing or bad key
    │   ├── InsufficientCreditsError        402 not enough credits
    │   ├── NotFoundError                   404 no such resource or task
    │   ├── UnprocessableError              422 request failed validation
    │   │   └── TaskNotVisibleError          a new task not shown yet (422, or data null)
    │   ├── RateLimitError                  429 rate limited (retried)
    │   ├── QuotaExceededError              433 sub-key usage limit exceeded
    │   ├── MaintenanceError                455 service in maintenance (retried)
    │   ├── ServerError                     500 and other 5xx (reads retried)
    │   ├── GenerationFailedError           501 generation failed
    │   └── FeatureDisabledError            505 feature disabled
    ├── ResponseError                      the answer was not the documented JSON
    ├── TransportError                     connection failures and timeouts
    │   └── SubmitUncertainError            a create may have run; its answer was lost
    ├── DownloadError                      a result video could not be fetched
    ├── CoordinationError                  the shared state (Redis) failed; nothing was sent
    ├── CallbackError (ValueError)         a callback refused; ``.status`` is the answer to give
    │   ├── MalformedCallbackError          400 not a callback: not bytes, not JSON, no task
    │   ├── CallbackSignatureError          401 signature missing, repeated, wrong or stale
    │   ├── CallbackTooLargeError           413 body over the size allowed
    │   └── UnconfirmedCallbackError        202 the server does not confirm the end it claims
    ├── CreditFloorError                   not sent: a batch's create would cross its credit floor
    ├── TaskFailedError                    the task ended in state ``fail``
    └── WaitTimeoutError (TimeoutError)    the wait's deadline passed first

No message, repr or attribute of these errors holds the API key. The errors that
carry a task or a request (``SubmitUncertainError``, ``TaskFailedError``,
``WaitTimeoutError``) live beside those in ``_model``; this module imports nothing of
sora2pro's.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationError",
    "CallbackError",
    "CallbackSignatureError",
    "CallbackTooLargeError",
    "CoordinationError",
    "CreditFloorError",
    "DownloadError",
    "FeatureDisabledError",
    "GenerationFailedError",
    "IdempotencyConflictError",
    "InsufficientCreditsError",
    "InvalidInputError",
    "MaintenanceError",
    "MalformedCallbackError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "Sora2ProError",
    "TaskNotVisibleError",
    "TransportError",
    "UnconfirmedCallbackError",
    "UnprocessableError",
    "api_error",
]


class Sora2ProError(Exception):
    """The root of every error raised by sora2pro.

    Attributes:
        task_id: The id of the task the failed call was about, once the server gave
            one (``generate()`` fills it in, so a task id is never lost), else None.

    """

    task_id: str | None = None


class InvalidInputError(Sora2ProError, ValueError):
    """An argument was refused locally, before any request was sent.

    Attributes:
        field: The name of the offending argument.

    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class IdempotencyConflictError(InvalidInputError):
    """An idempotency key came with another request than the one it was first given with.

    Nothing was sent. A key stands for one request: reusing it for a different
    prompt or different options is a mistake, not a repeat (Stripe refuses it too).
    """

    def __init__(self, message: str) -> None:
        super().__init__("idempotency_key", message)


class APIError(Sora2ProError):
    """The server answered with an error code, in the body or in the HTTP status.

    Attributes:
        code: The effective error code (the body ``code``, or the HTTP status when
            the body said 200).
        message: The server's message (``msg`` or ``message``), possibly empty.
        http_status: The HTTP status of the answer.
        retry_after: Seconds the server asked us to wait (``Retry-After``), if any.
        data: The answer's ``data``, if it had any (usually None for errors).

    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        http_status: int,
        retry_after: float | None = None,
        data: object = None,
    ) -> None:
        super().__init__(f"{code} {message}".rstrip() + f" (HTTP {http_status})")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retry_after = retry_after
        self.data = data


class AuthenticationError(APIError):
    """401: the API key is missing or wrong."""


class InsufficientCreditsError(APIError):
    """402: the account does not have enough credits."""


class NotFoundError(APIError):
    """404: no such resource or task."""


class UnprocessableError(APIError):
    """422: the request failed the server's validation.

    On the task-details endpoint right after a create it means "not visible yet";
    ``wait()`` keeps polling through it for a bounded time.
    """


class TaskNotVisibleError(UnprocessableError):
    """The task-details endpoint does not show the task yet.

    Right after a create it answers 422 "recordInfo is null", or code 200 with
    ``data: null`` (API.md section 8), for a short while. ``wait()`` polls through
    it for up to ``PollPolicy.not_visible_for``; ``get_task()`` reports a task this
    client just submitted as waiting instead.
    """


class RateLimitError(APIError):
    """429: too many requests; retried after a pause."""


class QuotaExceededError(APIError):
    """433: the sub-key's usage limit is exceeded."""


class MaintenanceError(APIError):
    """455: the service is in maintenance; retried after a pause."""


class ServerError(APIError):
    """500 or another 5xx: the server failed; reads are retried, creates never."""


class GenerationFailedError(APIError):
    """501: the generation failed."""


class FeatureDisabledError(APIError):
    """505: the feature is disabled."""


class ResponseError(Sora2ProError):
    """The answer was not the documented JSON: an HTML error page, a truncated body.

    Attributes:
        http_status: The HTTP status of the answer.
        retry_after: Seconds the server asked us to wait (``Retry-After``), if any.

    """

    def __init__(
        self, message: str, *, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message if http_status is None else f"{message} (HTTP {http_status})")
        self.http_status = http_status
        self.retry_after = retry_after


class TransportError(Sora2ProError):
    """The request failed on the way: connection refused or lost, or a timeout.

    Attributes:
        request_sent: False when the request surely never left (the connection
            could not be opened), True when it may have reached the server.

    """

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class DownloadError(Sora2ProError):
    """A result video could not be fetched, or arrived incomplete.

    Attributes:
        http_status: The HTTP status of the answer, when there was one.
        retry_after: Seconds the file host asked us to wait (``Retry-After``), if any.

    """

    def __init__(
        self, message: str, *, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after


class CoordinationError(Sora2ProError):
    """The coordination backend (Redis) could not be reached or failed.

    Raised instead of sending a request that could not be paced with the other
    processes of the account: the request was not sent (a create was not paid for).
    """


class CallbackError(Sora2ProError, ValueError):
    """A callback was refused: it is not one the platform sent, or it does not read.

    ``task_id`` names the task the body claims, once it was read.

    Attributes:
        status: The HTTP status to answer its sender with: 400, 401 or 413 for a
            call refused, 202 for one taken as a hint only; never a 5xx.

    """

    status: int = 400


class MalformedCallbackError(CallbackError):
    """400: the body is not a callback: not bytes, not JSON, or no task in it."""


class CallbackSignatureError(CallbackError):
    """401: ``X-Webhook-Timestamp`` or ``X-Webhook-Signature`` is missing, repeated or wrong.

    A timestamp further from now than the tolerance is refused too: a signature
    covers only the task id and the time, so an old one could be replayed.
    """

    status = 401


class CallbackTooLargeError(CallbackError):
    """413: the body is larger than the receiver accepts."""

    status = 413


class UnconfirmedCallbackError(CallbackError):
    """The server does not confirm the end a callback claims, or could not be asked.

    A forgery, or a copy of a real callback sent before its task ended; the cause
    (``__cause__``) says why when the status fetch failed. Answered 202: taken as a
    hint only, while waits go on polling.
    """

    status = 202


class CreditFloorError(Sora2ProError):
    """Not sent: the create would have taken the balance under the batch's ``keep_credits``.

    Nothing was sent for the item, so nothing was paid: run the batch again with the
    same journal when the balance allows, and the item is sent then. A balance that
    could not be read stops the creates too (the read's error is the cause).

    Attributes:
        floor: The ``keep_credits`` the batch was given.
        balance: The balance last read, or None when none could be read.
        cost: The most one create was seen to cost, or None while it is not known.

    """

    def __init__(
        self, message: str, *, floor: float, balance: float | None, cost: float | None
    ) -> None:
        super().__init__(f"not sent: credit floor: {message}")
        self.floor = floor
        self.balance = balance
        self.cost = cost


_BY_CODE: dict[int, type[APIError]] = {
    401: AuthenticationError,
    402: InsufficientCreditsError,
    404: NotFoundError,
    422: UnprocessableError,
    429: RateLimitError,
    433: QuotaExceededError,
    455: MaintenanceError,
    501: GenerationFailedError,
    505: FeatureDisabledError,
}


def api_error(
    code: int,
    message: str,
    *,
    http_status: int,
    retry_after: float | None = None,
    data: object = None,
) -> APIError:
    """Build the APIError subclass that matches ``code``; an unknown code gives APIError."""
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if 500 <= code < 600 else APIError
    return cls(code, message, http_status=http_status, retry_after=retry_after, data=data)

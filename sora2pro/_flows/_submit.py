"""Creating a task, never twice: cancel-safe, retried only where nothing surely ran."""

from __future__ import annotations

import asyncio
import functools
import logging
import typing

import attrs

from sora2pro._errors import (
    APIError,
    MaintenanceError,
    RateLimitError,
    ResponseError,
    Sora2ProError,
    TransportError,
)
from sora2pro._flows._upload import DEFAULT_UPLOAD_PATH, upload
from sora2pro._model._failures import SubmitUncertainError
from sora2pro._model._requests import UPLOAD, Request, local_file, with_changes
from sora2pro._transport._retry import retrying
from sora2pro._wire import decode_task_id, encode_create

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sora2pro._flows._context import Context

__all__ = ["submit", "with_callback", "with_uploads"]

logger = logging.getLogger("sora2pro")


def _create_retryable(error: Sora2ProError) -> bool:
    """A create is retried only where the server surely did not run it."""
    if isinstance(error, RateLimitError | MaintenanceError):
        return True
    if isinstance(error, ResponseError):
        return error.http_status == 429
    return isinstance(error, TransportError) and not error.request_sent


def _surely_not_run(error: TransportError | ResponseError) -> bool:
    """Whether a create that failed this way surely created nothing.

    A connection never opened sent nothing; a 4xx page (a proxy, the CDN) refused the
    request before the API saw it. Anything else may have reached the API.
    """
    if isinstance(error, TransportError):
        return not error.request_sent
    return error.http_status is not None and 400 <= error.http_status < 500


def _task_id_in(data: object) -> str | None:
    try:
        return decode_task_id(data)
    except ResponseError:
        return None


async def with_uploads(ctx: Context, request: Request, deadline: float | None) -> Request:
    """The request with each local file it names uploaded, and named by its URL."""
    uploaded: dict[str, str] = {}
    for field in attrs.fields(type(request)):
        path = field.metadata.get(UPLOAD) and local_file(getattr(request, field.name))
        if path:
            stored = await upload(
                ctx.transport,
                ctx.converter,
                ctx.retry,
                path,
                upload_path=DEFAULT_UPLOAD_PATH,
                file_name=None,
                as_base64=False,
                deadline=deadline,
            )
            uploaded[field.name] = stored.url
    return with_changes(request, uploaded) if uploaded else request


def with_callback(ctx: Context, request: Request) -> Request:
    """The request with the receiver's URL, unless it names a callback of its own."""
    if ctx.callbacks is None or request.callback_url is not None:
        return request
    url = ctx.callbacks.url
    if url is None:
        raise Sora2ProError("the callback receiver has no URL: start it, or give it a public_url")
    return attrs.evolve(request, callback_url=url)


async def submit(
    ctx: Context,
    req: Request,
    deadline: float | None,
    *,
    before_send: Callable[[], Awaitable[None]] | None = None,
    on_task_id: Callable[[str], None] | None = None,
    on_sent: Callable[[asyncio.Future[str]], None] | None = None,
) -> str:
    """Create the task.

    ``before_send`` runs right before each create leaves; ``on_task_id`` gets the
    task id the instant it arrives, before anything else can interrupt; ``on_sent``
    gets each create the moment it leaves (its future ends with its answer). A cancel
    while a create is on the wire waits for its answer (within
    ``Timeouts.request``), so that a task it made is never lost.
    """
    req = with_callback(ctx, await with_uploads(ctx, req, deadline))
    body = encode_create(ctx.converter, req)
    # The first try is made here, and the retry machinery built only on a failure:
    # thousands of creates may queue for a slot, each with this chain of frames
    # alive (and no closure: its cells would be kept by each of them).
    try:
        return await _attempt(
            ctx,
            req,
            body,
            deadline,
            before_send=before_send,
            on_task_id=on_task_id,
            on_sent=on_sent,
        )
    except Sora2ProError as error:
        failed = error
    return await retrying(
        functools.partial(
            _attempt,
            ctx,
            req,
            body,
            deadline,
            before_send=before_send,
            on_task_id=on_task_id,
            on_sent=on_sent,
        ),
        policy=ctx.retry,
        retryable=_create_retryable,
        deadline=deadline,
        operation="createTask",
        listener=ctx.transport.listener,
        failed=failed,
    )


async def _attempt(
    ctx: Context,
    req: Request,
    body: dict[str, object],
    deadline: float | None,
    *,
    before_send: Callable[[], Awaitable[None]] | None,
    on_task_id: Callable[[str], None] | None,
    on_sent: Callable[[asyncio.Future[str]], None] | None,
) -> str:
    """One create: its slot, then the request, whose answer is kept whoever waits for it."""
    await ctx.api.create_slot(deadline)
    try:
        if ctx.closing:
            raise TransportError("createTask not sent: the client is closing", request_sent=False)
        if before_send is not None:
            await before_send()
    except BaseException:
        ctx.api.create_pacer.sent()  # the slot goes unused: the next need not wait for it
        raise
    # Not cut short by the deadline nor by a cancel: a create once sent may
    # finish (within Timeouts.request), since a lost answer could mean paying twice.
    # Whoever is still there when the answer comes, the task id is kept by the
    # callback, exactly once: a second cancel must not lose it.
    sending = asyncio.ensure_future(_create_once(ctx, body, req))
    ctx.creates.add(sending)
    sending.add_done_callback(functools.partial(_settled, ctx, req, on_task_id))
    if on_sent is not None:
        on_sent(sending)
    try:
        return await asyncio.shield(sending)
    except asyncio.CancelledError:
        ctx.cancelled_creates.add(sending)
        # Give the answer its time before the cancel goes on; a second cancel
        # ends this wait, and the callback still keeps whatever arrives.
        await asyncio.wait({sending})
        raise


async def _create_once(ctx: Context, body: dict[str, object], req: Request) -> str:
    """Send one create and read its task id, or raise what the answer means."""
    try:
        return await ctx.api.create_task(body)
    except APIError as exc:
        task_id = _task_id_in(exc.data)
        if task_id is not None:
            # The task exists whatever the status says: keep it, never re-send.
            logger.warning(
                "createTask answered %s but gave task %s; keeping it",
                exc,
                task_id,
                extra={"event": "create_mismatch", "task_id": task_id},
            )
            return task_id
        # A well-formed error envelope under a 2xx-4xx status is the server's
        # answer, a refusal (even body code 500: see API.md section 8). Under a
        # 5xx status it may come from a gateway while the create still runs.
        if exc.http_status < 500:
            raise
        lost: Sora2ProError = exc
    except (TransportError, ResponseError) as exc:
        if _surely_not_run(exc):
            raise
        lost = exc
    raise SubmitUncertainError(
        f"createTask may have reached the server, but no usable answer came back "
        f"({lost}); the task may exist and be billed, so it was not re-sent",
        request=req,
    ) from lost


def _settled(
    ctx: Context,
    req: Request,
    on_task_id: Callable[[str], None] | None,
    sending: asyncio.Future[str],
) -> None:
    """Keep the task a create made: in :attr:`pending`, with the caller, in the log."""
    cancelled = sending in ctx.cancelled_creates
    ctx.cancelled_creates.discard(sending)
    ctx.creates.discard(sending)
    error = None if sending.cancelled() else sending.exception()
    if error is not None or sending.cancelled():
        if cancelled:
            logger.warning(
                "createTask cancelled in flight without an answer; the task may exist",
                extra={"event": "submit_cancelled", "request": req},
            )
        return
    task_id = sending.result()
    ctx.registry.add(task_id, req)
    ctx.submitted_at[task_id] = asyncio.get_running_loop().time()
    if on_task_id is not None:
        on_task_id(task_id)
    ctx.events.submitted(task_id)
    logger.info("submitted task %s", task_id, extra={"event": "submitted", "task_id": task_id})
    if cancelled:
        logger.warning(
            "createTask cancelled in flight; it created task %s",
            task_id,
            extra={"event": "submit_cancelled", "task_id": task_id},
        )

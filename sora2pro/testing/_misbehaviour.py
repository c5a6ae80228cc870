"""What a fault does: the answer the emulator gives instead of the normal one."""

from __future__ import annotations

import asyncio
import http
import json
import typing

from aiohttp import web

from sora2pro.testing._faults import Endpoint, Fault, FaultKind
from sora2pro.testing._state import HTML_PAGE, Handler, envelope

if typing.TYPE_CHECKING:
    import random

__all__ = ["misbehave"]

_LOST_TASK = b'{"code": 200, "msg": "success", "data": {"taskId": "task_lost"}}'


async def misbehave(
    fault: Fault,
    endpoint: Endpoint,
    request: web.Request,
    handler: Handler,
    rng: random.Random,
) -> web.StreamResponse:
    """Answer ``request`` as ``fault`` says; ``handler`` gives the normal answer."""
    kind = fault.kind
    if fault.seconds:
        await asyncio.sleep(fault.seconds)
    if kind is FaultKind.DELAY:
        return await handler(request)
    if kind is FaultKind.MISPLACED_RANGE:
        return await handler(
            request.clone(headers={**request.headers, "Range": f"bytes={fault.at}-"})
        )
    if kind is FaultKind.WRONG_STATUS:
        answer = await handler(request)
        answer.set_status(fault.http_status)
        return answer
    if kind in (FaultKind.ERROR, FaultKind.ANSWER):
        answer = (
            web.Response(
                body=json.dumps(fault.payload).encode(fault.message),
                status=fault.http_status,
                content_type="application/json",
            )
            if kind is FaultKind.ANSWER
            else envelope(rng, fault.code, fault.message, http_status=fault.http_status)
        )
        if fault.retry_after is not None:
            answer.headers["Retry-After"] = fault.retry_after
        return answer
    if kind is FaultKind.HTML:
        title = f"{fault.http_status} {http.HTTPStatus(fault.http_status).phrase}"
        return web.Response(
            status=fault.http_status,
            text=fault.message or HTML_PAGE.format(title),
            content_type="text/html",
        )
    return await _break(fault, endpoint, request, handler)


async def _break(
    fault: Fault, endpoint: Endpoint, request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Answer garbage or break the connection; with ``after_create``, do the work first."""
    kind = fault.kind
    if fault.after_create:
        await handler(request)
    if kind is FaultKind.GARBAGE:
        return web.Response(text='{"code": 200, "msg": "success", "data": {"taskId": ')
    assert request.transport is not None  # noqa: S101  # a live request has one
    response: web.StreamResponse = web.Response()
    if kind is FaultKind.MALFORMED:
        request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
    elif kind is FaultKind.TRUNCATE:
        # A file breaks off its own answer; an API route loses a create's answer.
        if endpoint is Endpoint.FILES:
            # The routed handler: a result video, or an uploaded file.
            whole = typing.cast("web.Response", await handler(request))
        else:
            whole = web.Response(body=_LOST_TASK, content_type="application/json")
        response = await _send_part(request, whole, fault)
    request.transport.close()
    return response


async def _send_part(request: web.Request, whole: web.Response, fault: Fault) -> web.StreamResponse:
    """Send ``whole``'s status and headers, promising its whole body, then part of the body."""
    body = whole.body
    assert isinstance(body, bytes)  # noqa: S101  # every answer cut here is built from bytes
    response = web.StreamResponse(status=whole.status, headers=whole.headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2 if fault.at is None else min(fault.at, len(body))])
    return response

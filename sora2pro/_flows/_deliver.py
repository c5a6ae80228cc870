"""A callback some other web framework received, handed to the client.

It goes the receiver's way: checked with the receiver's settings (its HMAC key, its
tolerance, its size limit), then confirmed by one status fetch, unless the receiver
trusts bodies, and told to the client's ``on_event`` (confirmed or not). A confirmed
end is published on the coordination's callback bus, so the waits for the task end
on it, in this process and, with a bus that relays, in the others, with no request
of their own; a trusted one goes to the waits through the receiver, as if it had
been POSTed to it.
"""

from __future__ import annotations

import typing

from sora2pro._errors import InvalidInputError, UnconfirmedCallbackError
from sora2pro._flows._confirm import confirm
from sora2pro._flows._heard import publish, published

if typing.TYPE_CHECKING:
    from sora2pro._callbacks._checks import Headers
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task

__all__ = ["deliver"]


async def deliver(
    ctx: Context, body: bytes | bytearray | memoryview, headers: Headers, deadline: float | None
) -> Task:
    """The finished task a callback announces, confirmed, and handed to the waits for it.

    Raises:
        InvalidInputError: the client has no receiver to check callbacks by.
        CallbackError: the callback is refused, or the server does not confirm it.

    """
    receiver = ctx.callbacks
    if receiver is None:
        raise InvalidInputError(
            "callbacks",
            "deliver_callback() needs Client(callbacks=CallbackReceiver(public_url=...)): "
            "its URL goes with each submit, its key checks each callback",
        )
    callback = receiver.check(body, headers)
    task_id = callback.task.id
    if receiver.trust_body:
        task = await confirm(ctx, callback, None, fetch=False)
        receiver.receive(callback, memoryview(body).nbytes)
    else:
        known = _confirmed_before(ctx, task_id)
        if known is not None:
            task = known
        else:
            try:
                task = await confirm(ctx, callback, deadline, fetch=True)
            except UnconfirmedCallbackError:
                ctx.events.callback(callback, confirmed=False)
                raise
            ctx.events.callback(callback, confirmed=True)
            publish(ctx, task_id, task)
    ctx.finished(task_id)
    return task


def _confirmed_before(ctx: Context, task_id: str) -> Task | None:
    """The end of ``task_id`` the bus holds already (a duplicate callback): no second fetch."""
    entry = ctx.bus.expect(task_id)
    try:
        return published(ctx, task_id, entry.result()) if entry.done() else None
    finally:
        entry.cancel()

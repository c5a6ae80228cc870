"""Pacing around the transport: a slot before each request, a shared pause after a 429."""

from __future__ import annotations

import asyncio
import typing

from sora2pro._errors import RateLimitError, ResponseError, TransportError
from sora2pro._transport._instrument import Paused, report

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable

    from sora2pro._coordination._protocols import Pacer
    from sora2pro._transport._transport import Transport
    from sora2pro._wire import Envelope

__all__ = ["paced_exchange", "take_slot"]


def take_slot(
    pacer: Pacer, deadline: float | None, urgency: float, operation: str
) -> Awaitable[None]:
    """Wait for ``pacer``'s next slot, but not past ``deadline``.

    Without a deadline, the pacer's own wait: no frame of this function stays alive
    while thousands of waits queue for slots.

    Raises:
        TransportError: the deadline passed first (``request_sent`` False).

    """
    if deadline is None:
        return pacer.acquire(urgency)
    return _take_slot_by(pacer, deadline, urgency, operation)


async def _take_slot_by(pacer: Pacer, deadline: float, urgency: float, operation: str) -> None:
    try:
        # Safe as a scope: nothing inside sets timers of its own (aiohttp's would race it).
        async with asyncio.timeout_at(deadline):
            await pacer.acquire(urgency)
    except TimeoutError:
        raise TransportError(
            f"{operation} not sent: the deadline passed while waiting for a rate-limit slot",
            request_sent=False,
        ) from None


async def paced_exchange(
    transport: Transport,
    pacer: Pacer,
    operation: str,
    method: str,
    path: str,
    *,
    default_pause: float,
    max_pause: float,
    **request: typing.Any,
) -> Envelope:
    """Send one request; on a 429, hold ``pacer`` so every caller of it pauses together.

    The pause is the answer's ``Retry-After``, else ``default_pause``, at most
    ``max_pause``: one huge ``Retry-After`` must not freeze every request. The
    pacer learns when the request really left, so the next slot is spaced from then.
    """
    marked = False

    def sent() -> None:
        nonlocal marked
        if not marked:
            marked = True
            pacer.sent()

    try:
        return await transport.exchange(method, path, on_sent=sent, **request)
    except (RateLimitError, ResponseError) as exc:
        if isinstance(exc, RateLimitError) or exc.http_status == 429:
            asked = default_pause if exc.retry_after is None else exc.retry_after
            pause = min(asked, max_pause)
            pacer.hold(pause)
            await report(transport.listener, Paused(operation, pause))
        raise
    finally:
        sent()  # a request that never left frees its slot too (counted from now)

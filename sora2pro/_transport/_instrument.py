"""How the transport reports what it does, retries and pauses, to whoever listens.

The listener is the client's (set on its :class:`Transport`, passed to each retry
loop): nothing at this level knows who listens or why, nor which batch item a
request is for. stamina's instrumentation hooks over frozen details are the model.
"""

from __future__ import annotations

import inspect
import typing

import attrs

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable

    from sora2pro._errors import Sora2ProError

__all__ = ["Listener", "Paused", "Report", "RetryScheduled", "call", "report"]


@attrs.frozen
class RetryScheduled:
    """``operation`` failed with ``error`` on try ``attempt``; it goes again in ``delay`` s."""

    operation: str
    attempt: int
    error: Sora2ProError
    delay: float


@attrs.frozen
class Paused:
    """The server answered 429: every ``operation`` of the pacer pauses ``pause`` seconds."""

    operation: str
    pause: float


Report = RetryScheduled | Paused
#: Receives each report; a plain function or a coroutine function.
Listener = typing.Callable[[Report], "Awaitable[None] | None"]


async def report(listener: Listener | None, details: Report) -> None:
    """Hand ``details`` to ``listener``, if any."""
    await call(listener, details)


T = typing.TypeVar("T")


async def call(function: typing.Callable[[T], Awaitable[None] | None] | None, value: T) -> None:
    """Call a user's ``function`` (if any) with ``value``, awaiting it if it is a coroutine."""
    if function is not None:
        result = function(value)
        if inspect.isawaitable(result):
            await result

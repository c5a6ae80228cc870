"""Bounded retries of named transient failures, built on ``backoff``."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import typing
from collections.abc import Awaitable, Callable, Generator

import backoff

from sora2pro._errors import (
    MaintenanceError,
    RateLimitError,
    ResponseError,
    ServerError,
    Sora2ProError,
    TransportError,
)
from sora2pro._transport._instrument import Listener, RetryScheduled, report

if typing.TYPE_CHECKING:
    from sora2pro._config import RetryPolicy

__all__ = ["is_transient", "retrying"]

logger = logging.getLogger("sora2pro")

T = typing.TypeVar("T")


def is_transient(error: Sora2ProError) -> bool:
    """Whether a read that failed with ``error`` may succeed if tried again."""
    if isinstance(error, RateLimitError | MaintenanceError | ServerError | TransportError):
        return True
    if isinstance(error, ResponseError):
        # An error page from a proxy or a garbled body may pass; a 4xx page will not,
        # nor will a well-formed answer of the wrong shape (decoded: no HTTP status).
        status = error.http_status
        return status is not None and (status == 429 or not 400 <= status < 500)
    return False


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retryable: Callable[[Sora2ProError], bool],
    deadline: float | None,
    operation: str,
    listener: Listener | None = None,
    failed: Sora2ProError | None = None,
) -> T:
    """Await ``call()``, retrying the errors ``retryable`` accepts, within ``policy``.

    Pauses grow exponentially with full jitter, and are at least what a
    ``Retry-After`` asked for (up to ``policy.max_retry_after``). Retries stop,
    re-raising the last error (with a note saying why), when the attempts or
    ``max_elapsed`` (from the first failure) are spent, when a pause would pass
    ``deadline`` (a ``loop.time()`` value), or when ``Retry-After`` asks for more
    than ``policy.max_retry_after``. ``listener`` hears of each retry before its pause.
    A caller that made the first try itself (no frame of this function alive while
    it runs) passes what it raised as ``failed``; the retries go on from there.
    """
    if failed is None:  # most calls succeed at once: no backoff machinery built for them
        try:
            return await call()
        except Sora2ProError as error:
            failed = error
    if not retryable(failed) or policy.attempts == 1:
        raise failed

    async def again() -> T:
        nonlocal failed
        if failed is not None:  # the failure already seen is backoff's first try
            error, failed = failed, None
            raise error
        return await call()

    loop = asyncio.get_running_loop()

    def pauses() -> Generator[float, typing.Any, None]:
        error = yield 0.0  # primed by backoff; this value is discarded
        # Counted from the first failure, not from the call: time spent queueing for
        # a rate-limit slot before the first try is not time spent retrying.
        # backoff's own max_time would shorten a pause below Retry-After; give up instead.
        stop = deadline
        if policy.max_elapsed is not None:
            stop = min(stop or math.inf, loop.time() + policy.max_elapsed)
        for attempt in itertools.count():
            ceiling = min(policy.max_delay, policy.base_delay * 2 ** min(attempt, 64))
            pause = random.uniform(0, ceiling)
            asked = getattr(error, "retry_after", None)
            if asked is not None:
                if asked > policy.max_retry_after:
                    error.add_note(
                        f"not retried: the server asked for a {asked:g} s pause, more than "
                        f"RetryPolicy.max_retry_after ({policy.max_retry_after:g} s)"
                    )
                    return
                pause = max(pause, asked)
            if stop is not None and loop.time() + pause >= stop:
                if asked is not None:
                    error.add_note(
                        f"not retried: the server asked for a {asked:g} s pause, which does "
                        "not fit in the time left"
                    )
                return
            error = yield pause

    async def log_retry(details: typing.Any) -> None:
        error = details["exception"]
        await report(listener, RetryScheduled(operation, details["tries"], error, details["wait"]))
        logger.info(
            "%s failed (%s); retry %d in %.2f s",
            operation,
            error,
            details["tries"],
            details["wait"],
            extra={"event": "retry", "operation": operation, "attempt": details["tries"]},
        )

    retried = backoff.on_exception(
        pauses,
        Sora2ProError,
        max_tries=policy.attempts,
        jitter=None,
        giveup=lambda error: not (isinstance(error, Sora2ProError) and retryable(error)),
        on_backoff=log_retry,
        logger=None,  # backoff's own log lines print the call's arguments
    )(again)
    return await retried()

"""Confirming a callback: one status fetch, in turn when no wait of this client took it."""

from __future__ import annotations

import asyncio
import logging
import math
import typing

from sora2pro._errors import Sora2ProError, UnconfirmedCallbackError
from sora2pro._flows._confirmations import Confirmations
from sora2pro._flows._polling import fetch_task

if typing.TYPE_CHECKING:
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Callback, Task

__all__ = ["RELAY_WITHIN", "confirm", "unconfirmed_as_none"]

logger = logging.getLogger("sora2pro")

#: Seconds a callback relayed to other processes may take to be confirmed.
RELAY_WITHIN = 10.0


async def confirm(
    ctx: Context, callback: Callback, deadline: float | None, *, fetch: bool, waited: bool = False
) -> Task:
    """The finished task a callback announces, confirmed by a status fetch if ``fetch``.

    ``waited``: a wait of this client takes the callback, and paces its own
    confirmations; any other goes through ``ctx.confirmations``.

    Raises:
        UnconfirmedCallbackError: the task (fetched, or the body's if not ``fetch``)
            has not ended, the fetch failed (its error is the cause), or the callback
            was turned away (see :class:`Confirmations`).

    """
    task_id = callback.task.id
    if not fetch:
        task = callback.task
    elif waited:
        task = await _fetched(ctx, task_id, deadline, math.inf)
    else:
        task = await _fetched_in_turn(ctx, task_id, deadline)
    if not task.done:
        if waited:  # at most one an interval per wait
            logger.warning(
                "callback for task %s said %s, the server says %s; polling on",
                task.id,
                callback.task.raw_state,
                task.raw_state,
                extra={"event": "callback_unconfirmed", "task_id": task.id},
            )
        else:
            _flood_warning(ctx, f"task {task.id} said to have ended is {task.raw_state}")
        raise _unconfirmed(
            task_id,
            f"callback for task {task_id} said {callback.task.raw_state!r}, "
            f"the {'server' if fetch else 'body'} says {task.raw_state!r}",
        )
    return task


async def unconfirmed_as_none(
    ctx: Context, callback: Callback, deadline: float | None, *, fetch: bool, waited: bool = False
) -> Task | None:
    """The finished task a callback announces, confirmed; None if it is not."""
    try:
        return await confirm(ctx, callback, deadline, fetch=fetch, waited=waited)
    except UnconfirmedCallbackError:
        return None


async def _fetched_in_turn(ctx: Context, task_id: str, deadline: float | None) -> Task:
    """The task a callback no wait here took names, fetched in :class:`Confirmations`' turn."""
    confirmations = ctx.confirmations
    loop = asyncio.get_running_loop()
    known = ctx.registry.get(task_id) is not None
    try:
        async with confirmations.turn(task_id, deadline, known=known) as admitted:
            if not admitted:
                _flood_warning(ctx, f"past {Confirmations.MOST_AT_ONCE} at once turned away")
                raise _unconfirmed(
                    task_id,
                    f"callback for task {task_id} not confirmed now: "
                    f"{Confirmations.MOST_AT_ONCE} callbacks of tasks not waited for here "
                    "are being confirmed",
                )
            urgency = confirmations.urgency(task_id, loop.time(), known=known)
            try:
                task = await _fetched(ctx, task_id, deadline, urgency)
            except UnconfirmedCallbackError:
                confirmations.running(task_id, loop.time())
                raise
            if not task.done:
                confirmations.running(task_id, loop.time())
            return task
    except TimeoutError:
        raise _unconfirmed(
            task_id,
            f"callback for task {task_id} not confirmed: its deadline passed while an "
            "earlier callback of the task was being confirmed",
        ) from None


def _flood_warning(ctx: Context, what: str) -> None:
    """Warn of callbacks that do not hold up, once a minute; a debug line otherwise."""
    level = (
        logging.WARNING
        if ctx.confirmations.warn(asyncio.get_running_loop().time())
        else logging.DEBUG
    )
    logger.log(
        level,
        "callbacks no wait here took: %s (a flood of forged callbacks? give the "
        "receiver the account's webhook key)",
        what,
        extra={"event": "callbacks_turned_away"},
    )


async def _fetched(ctx: Context, task_id: str, deadline: float | None, urgency: float) -> Task:
    """The task a callback names, fetched with ``urgency``; any failure unconfirms it."""
    try:
        return await fetch_task(ctx, task_id, deadline, urgency)
    except Sora2ProError as exc:
        logger.info("callback for task %s not confirmed: %s", task_id, exc)
        raise _unconfirmed(task_id, f"callback for task {task_id} not confirmed: {exc}") from exc


def _unconfirmed(task_id: str, message: str) -> UnconfirmedCallbackError:
    error = UnconfirmedCallbackError(message)
    error.task_id = task_id
    return error

"""Idempotency keys: one create per key, however many submits give it, and from where.

A submit with a key claims it from the coordination. The holder sends the create
(through :func:`submit`, never twice) and settles the key with the outcome: the task
id, or a lost answer; a create that surely did not run lets the key go. Whoever
else gives the key meanwhile waits for that outcome and gets the same one.
"""

from __future__ import annotations

import asyncio
import logging
import typing

import attrs

from sora2pro._config import check_idempotency_key
from sora2pro._coordination._journal import request_digest
from sora2pro._errors import IdempotencyConflictError, Sora2ProError, TransportError
from sora2pro._flows._submit import submit
from sora2pro._model._failures import SubmitUncertainError
from sora2pro._wire import encode_create

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sora2pro._coordination._protocols import Idempotency, KeyEntry
    from sora2pro._flows._context import Context
    from sora2pro._model._requests import Request

__all__ = ["submit_keyed"]

logger = logging.getLogger("sora2pro")


def submit_keyed(
    ctx: Context,
    req: Request,
    deadline: float | None,
    key: str | None,
    *,
    before_send: Callable[[], Awaitable[None]] | None = None,
    on_task_id: Callable[[str], None] | None = None,
) -> Awaitable[str]:
    """Create the task, or return the one the first submit with ``key`` made.

    Without a key this is :func:`submit`, with no frame of its own (thousands of
    creates may wait at once). A key is checked at once, before anything is sent;
    ``on_task_id`` also gets a task id found under the key.

    Raises:
        InvalidInputError: the key is not printable text of 1 to 255 characters.
        IdempotencyConflictError: the key was first given with another request.
        SubmitUncertainError: the create of this key (this one's or an earlier
            submit's) may have run, but its answer was lost.
        TransportError: the deadline passed while another submit of the key was
            sending its create (``request_sent`` False: this one sent nothing).

    """
    check_idempotency_key(key)
    if key is None:
        return submit(ctx, req, deadline, before_send=before_send, on_task_id=on_task_id)
    return _submit_by_key(ctx, req, deadline, key, before_send=before_send, on_task_id=on_task_id)


async def _submit_by_key(
    ctx: Context,
    req: Request,
    deadline: float | None,
    key: str,
    *,
    before_send: Callable[[], Awaitable[None]] | None,
    on_task_id: Callable[[str], None] | None,
) -> str:
    keys = ctx.coordination.idempotency()
    # The request as given: uploads and the receiver's URL differ from one submit to the next.
    fingerprint = request_digest(encode_create(ctx.converter, req))
    entry = await _claim(keys, key, fingerprint, deadline)
    if entry is not None:
        task_id = _reuse(entry, fingerprint, req)
        if on_task_id is not None:
            on_task_id(task_id)
        return task_id
    hold = _Hold(ctx, keys, key)
    try:
        return await submit(
            ctx, req, deadline, before_send=before_send, on_task_id=on_task_id, on_sent=hold.sent
        )
    finally:
        hold.leave()


async def _claim(
    keys: Idempotency, key: str, fingerprint: str, deadline: float | None
) -> KeyEntry | None:
    if deadline is None:
        return await keys.claim(key, fingerprint)
    try:
        async with asyncio.timeout_at(deadline):
            return await keys.claim(key, fingerprint)
    except TimeoutError:
        raise TransportError(
            "createTask not sent: the deadline passed while another submit with the same "
            "idempotency key was sending its create",
            request_sent=False,
        ) from None


def _reuse(entry: KeyEntry, fingerprint: str, req: Request) -> str:
    """The task id a key holds for this request, or why there is none."""
    if entry.fingerprint != fingerprint:
        raise IdempotencyConflictError(
            "was first given with another request (prompt or options); nothing was sent: "
            "a new request needs a new key"
        )
    if entry.task_id is None:
        raise SubmitUncertainError(
            "the create first sent with this idempotency key may have reached the server, "
            "but its answer was lost; the task may exist and be billed, so it was not re-sent",
            request=req,
        )
    logger.info(
        "idempotency key already used: task %s",
        entry.task_id,
        extra={"event": "submit_replayed", "task_id": entry.task_id},
    )
    return entry.task_id


@attrs.frozen
class _Outcome:
    """How a held key's create ended: it may have run (settle), or surely did not (release)."""

    ran: bool
    task_id: str | None = None


_NOT_RUN = _Outcome(ran=False)


def _outcome(sending: asyncio.Future[str]) -> _Outcome:
    if sending.cancelled():
        return _Outcome(ran=True)
    error = sending.exception()
    if error is None:
        return _Outcome(ran=True, task_id=sending.result())
    # Only a typed refusal surely created nothing; a lost answer, or anything unforeseen, may have.
    return _Outcome(
        ran=not isinstance(error, Sora2ProError) or isinstance(error, SubmitUncertainError)
    )


@attrs.define(eq=False)
class _Hold:
    """A key a submit holds: settled or let go exactly once, whether its caller stays or not.

    A refused create may be retried by its caller, so only the caller's leaving lets
    the key go; a create on the wire when the caller left (cancelled) ends the hold
    with its answer, so that its task id is kept under the key too.
    """

    ctx: Context
    keys: Idempotency
    key: str
    sending: asyncio.Future[str] | None = None
    left: bool = False
    ended: bool = False

    def sent(self, sending: asyncio.Future[str]) -> None:
        self.sending = sending
        sending.add_done_callback(self.answered)

    def answered(self, sending: asyncio.Future[str]) -> None:
        outcome = _outcome(sending)
        if outcome.ran or self.left:
            self.end(outcome)

    def leave(self) -> None:
        self.left = True
        if self.sending is None:
            self.end(_NOT_RUN)
        elif self.sending.done():
            self.end(_outcome(self.sending))

    def end(self, outcome: _Outcome) -> None:
        if self.ended:
            return
        self.ended = True
        step = (
            self.keys.settle(self.key, outcome.task_id)
            if outcome.ran
            else self.keys.release(self.key)
        )
        self.ctx.run_chore(step, "an idempotency key could not be settled")

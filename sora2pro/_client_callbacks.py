"""The Client's method for callbacks that another web framework received: deliver_callback.

A part of :class:`sora2pro.Client`, kept apart so that each file stays readable; the
method delegates to the delivery flow like every other method of the Client.
"""

from __future__ import annotations

import typing

from sora2pro._config import check_timeout
from sora2pro._flows._context import deadline_after
from sora2pro._flows._deliver import deliver

if typing.TYPE_CHECKING:
    from sora2pro._callbacks._checks import Headers
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task

__all__ = ["DEFAULT_DELIVERY_TIMEOUT", "CallbackMethods"]

#: How long ``deliver_callback()`` may take by default: under the 15 s or so a
#: platform's sender waits for an answer before it tries again.
DEFAULT_DELIVERY_TIMEOUT = 10.0


class CallbackMethods:
    """Callbacks by hand: the part of the Client that takes them from any web framework."""

    if typing.TYPE_CHECKING:  # what this method uses of the Client it is part of
        _ctx: Context

        def _check_open(self) -> None: ...

    async def deliver_callback(
        self,
        body: bytes | bytearray | memoryview,
        headers: Headers,
        *,
        timeout: float | None = DEFAULT_DELIVERY_TIMEOUT,
    ) -> Task:
        """Hand over a callback your own web app received (FastAPI, Django, aiohttp, ...).

        The client needs a receiver, ``Client(callbacks=CallbackReceiver(public_url=
        "https://your.app", path="/your/route"))``, which need not be started: its
        URL goes with each submit as ``callBackUrl``, and its settings check each
        callback as if it had been POSTed to it: its ``hmac_key`` (by default
        ``APIKLEY_WEBHOOK_HMAC_KEY``), ``tolerance``, ``max_body`` and ``trust_body``.
        The callback is then confirmed by one status fetch (none with
        ``trust_body``) and ends the waits for its task, in this client and in every
        client of its coordination (with Redis, in other processes too), with no
        request of their own. A duplicate of a confirmed callback costs no request.
        Without a key, any caller can make the client spend a status request
        (forgeries are refuted, never trusted; a flood of them is confirmed at a
        pace, see the README): give the receiver the account's key where the
        platform signs.
        ::

            try:
                task = await client.deliver_callback(await request.body(), request.headers)
            except sora2pro.CallbackError as error:
                return Response(status_code=error.status)

        Args:
            body: The request's raw body, as bytes (or bytearray, memoryview).
            headers: The request's headers: any mapping of names to values, or
                anything whose ``items()`` gives the pairs (werkzeug's); names match
                in any case.
            timeout: Seconds the confirming fetch may take, retries included (10
                by default, under what a platform's sender waits for an answer);
                None for the retry policy's own bounds.

        Returns:
            The task as the server confirms it, ended in success or failure (check
            ``task.state``; a wait for it raises :class:`TaskFailedError` instead).

        Raises:
            MalformedCallbackError: the body is no callback, or ``headers`` give no pairs
                (answer 400).
            CallbackSignatureError: the signature is missing, wrong or stale (401).
            CallbackTooLargeError: the body is larger than the receiver's ``max_body``
                (413).
            UnconfirmedCallbackError: the server says the task has not ended, does
                not know it, or could not be asked in ``timeout`` (the cause says
                which), or the callback was turned away (32 callbacks of tasks this
                client does not wait for are being confirmed: a flood) or waited past
                ``timeout`` behind an earlier callback of its task; the waits poll on
                (answer 202).
            InvalidInputError: the client has no ``callbacks=`` receiver, or
                ``timeout`` is not a positive number of seconds (or None).

        """
        self._check_open()
        check_timeout("timeout", timeout)
        return await deliver(self._ctx, body, headers, deadline_after(timeout))

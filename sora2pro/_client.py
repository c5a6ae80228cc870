"""The async session object: submit, look up, wait for and download tasks."""

from __future__ import annotations

import asyncio
import os
import typing
import warnings

from sora2pro._client_batch import BatchMethods
from sora2pro._client_callbacks import CallbackMethods
from sora2pro._client_files import FileMethods
from sora2pro._client_watch import WatchMethods
from sora2pro._config import (
    DEFAULT_POLL,
    DEFAULT_RATE_LIMITS,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    DEFAULT_WAIT_TIMEOUT,
    PollPolicy,
    RateLimits,
    RetryPolicy,
    Timeouts,
    check_callable,
    check_instance,
    check_timeout,
)
from sora2pro._errors import InvalidInputError, Sora2ProError
from sora2pro._flows._adopt import adopt_orphans
from sora2pro._flows._context import deadline_after
from sora2pro._flows._keys import submit_keyed
from sora2pro._flows._runs import Runs
from sora2pro._flows._wait import read_task, wait, wait_submitted
from sora2pro._model._requests import Request, TextToVideoOptions, is_http_url
from sora2pro._transport._retry import is_transient, retrying
from sora2pro._transport._transport import retrieve_exception
from sora2pro._wiring import as_request, check_settings, check_task_id, wire_up

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    import aiohttp

    from sora2pro._callbacks._receiver import CallbackReceiver
    from sora2pro._coordination._protocols import Coordination
    from sora2pro._flows._events import OnClientEvent
    from sora2pro._flows._polling import OnSubmitted, OnUpdate
    from sora2pro._model._task import Task

__all__ = [
    "DEFAULT_BASE_URL",
    "Client",
]

DEFAULT_BASE_URL = "https://api.apikley.ru"


class Client(BatchMethods, CallbackMethods, FileMethods, WatchMethods):
    """An async session with the Apikley Sora 2 Pro API.

    Use it as ``async with Client() as client:``, or call :meth:`close` when done.

    Args:
        api_key: The API key; defaults to the ``APIKLEY_API_KEY`` environment variable.
        base_url: The API's address; defaults to ``APIKLEY_BASE_URL``, then
            ``https://api.apikley.ru``.
        poll: How ``wait()`` polls; None means :data:`DEFAULT_POLL`.
        retry: How failed requests are retried; None means :data:`DEFAULT_RETRY`.
        timeout: Limits on each HTTP exchange; None means :data:`DEFAULT_TIMEOUTS`.
        session: An aiohttp session to send requests with. It is used as it is and
            never closed by the client.
        rate_limits: How fast this client creates tasks and queries their status;
            None means :data:`DEFAULT_RATE_LIMITS` (at or under the API's limits).
        callbacks: A started (or publicly reachable) receiver: submits then carry its
            URL as ``callBackUrl``, and waits end as soon as the task's callback
            arrives, confirmed by one status fetch (the signature, when there is
            one, does not cover the body) unless the receiver has ``trust_body``;
            relaxed polling is the fallback. Your own web app may take the
            callbacks instead and hand them over with :meth:`deliver_callback`.
        coordination: Where the state shared by this client's flows lives: its rate
            limits, its pending tasks, its batches' journals. None means a
            :class:`LocalCoordination` of its own; pass one to several clients of a
            process to have them share an account's limits. A ``redis://`` URL is a
            :class:`RedisCoordination` of that Redis, closed with the client (one
            passed in stays yours to close).
        on_event: A plain function given every event of the client, in the task that
            caused it: :class:`Submitted`, :class:`StateChanged`, :class:`Retried`,
            :class:`RateLimited`, :class:`CallbackReceived`. What it raises is logged
            (a warning the first time), never raised to the flow it observes.

    Raises:
        Sora2ProError: no API key was given or found in ``APIKLEY_API_KEY``.
        InvalidInputError: ``base_url`` is not an http(s) URL, ``coordination`` is
            a string but no Redis URL (or the ``redis`` extra is missing).

    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        poll: PollPolicy | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeouts | None = None,
        session: aiohttp.ClientSession | None = None,
        rate_limits: RateLimits | None = None,
        callbacks: CallbackReceiver | None = None,
        coordination: Coordination | str | None = None,
        on_event: OnClientEvent | None = None,
    ) -> None:
        check_settings(
            api_key=api_key,
            base_url=base_url,
            poll=poll,
            retry=retry,
            timeout=timeout,
            session=session,
            rate_limits=rate_limits,
            callbacks=callbacks,
            coordination=coordination,
            on_event=on_event,
        )
        # A key read from a file often ends in a newline; surrounding blanks never belong.
        key = (api_key if api_key is not None else os.environ.get("APIKLEY_API_KEY", "")).strip()
        if not key:
            raise Sora2ProError(
                "no API key: pass api_key=... or set the APIKLEY_API_KEY environment variable"
            )
        if not key.isprintable() or " " in key:
            raise InvalidInputError("api_key", "contains spaces or control characters")
        url = base_url or os.environ.get("APIKLEY_BASE_URL") or DEFAULT_BASE_URL
        if not is_http_url(url):
            raise InvalidInputError("base_url", f"must be an http(s) URL, not {url!r}")
        self._ctx, self._close_coordination = wire_up(
            key,
            url,
            poll=poll or DEFAULT_POLL,
            retry=retry or DEFAULT_RETRY,
            timeouts=timeout or DEFAULT_TIMEOUTS,
            session=session,
            limits=rate_limits or DEFAULT_RATE_LIMITS,
            callbacks=callbacks,
            coordination=coordination,
            on_event=on_event,
        )
        self._transport = self._ctx.transport
        self._closing: asyncio.Future[None] | None = None
        self._batches = Runs()  # not wound down yet: close() ends them, frees their journals

    def __repr__(self) -> str:
        state = "closed" if self._transport.closed else "open"
        return f"<sora2pro.Client base_url={self._transport.base_url!r} {state}>"

    def __del__(self, _warn: typing.Any = warnings.warn) -> None:
        # The transport may be missing if __init__ raised.
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.owns_open_session:
            _warn(
                f"unclosed {self!r}: use 'async with' or await client.close()",
                ResourceWarning,
                source=self,
            )

    async def __aenter__(self) -> typing.Self:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client: end its unfinished batches, then the HTTP session it opened.

        A batch whose iteration was left (``break``) is stopped and its journal
        released. A create on the wire is given its answer first (within
        ``Timeouts.request``), so its task lands in :attr:`pending` and the log; no
        create leaves once close() began. A session or coordination passed in stays
        open. Cancelling close() does not stop it: it goes on in the background.
        """
        if self._closing is None:
            self._ctx.closing = True  # at once: no create may leave from now on
            self._closing = asyncio.ensure_future(self._shut_down())
            self._closing.add_done_callback(retrieve_exception)
        await asyncio.shield(self._closing)

    async def _shut_down(self) -> None:
        self._ctx.unhook()
        await self._batches.close()
        # A create on the wire (its caller cancelled) may still bring a task id:
        # closing the session before its answer would lose it.
        await self._ctx.drain()
        await self._transport.close()
        await self._close_coordination()

    @property
    def base_url(self) -> str:
        """The API address requests go to."""
        return self._transport.base_url

    @property
    def pending(self) -> Mapping[str, Request]:
        """Tasks this client submitted (or adopted) and has not yet seen finish, by task id.

        A task id the server gave is never lost: after a cancelled ``generate()``
        or a crash of the caller's own code, the task is still listed here.
        """
        return self._ctx.registry.pending()

    async def adopt_orphans(self) -> list[str]:
        """Take the tasks of dead processes (lease ended) into :attr:`pending`; their ids."""
        self._check_open()
        return await adopt_orphans(self._ctx)

    def _check_open(self) -> None:
        if self._closing is not None:
            raise Sora2ProError("this sora2pro.Client is closed")

    async def submit(
        self,
        request: str | Request,
        /,
        *,
        idempotency_key: str | None = None,
        **options: typing.Unpack[TextToVideoOptions],
    ) -> str:
        """Start a generation and return its task id at once.

        A local file in the request (the image of an :class:`ImageToVideo`, the clip
        of a :class:`CharacterRequest`) is uploaded first, with :meth:`upload`.

        Args:
            request: The prompt, or a whole :class:`TextToVideo`,
                :class:`ImageToVideo`, :class:`CharacterRequest`, or a :class:`Job`
                of any model (its input sent as given).
            idempotency_key: Printable text of up to 255 characters naming this
                request. A later submit with the key, from any client of the same
                coordination, returns this task's id and sends nothing (for
                ``LocalCoordination(idempotency_ttl=...)``, 24 hours by default); one
                made while this create is on the wire waits for its answer.
            **options: The other :class:`TextToVideo` fields (``aspect_ratio``,
                ``n_frames``, ``size``, ``remove_watermark``, ``character_ids``,
                ``callback_url``); with a request they replace its own.

        Returns:
            The task id, for :meth:`get_task` and :meth:`wait`.

        Raises:
            InvalidInputError: the request breaks the provider's rules; nothing was sent.
            IdempotencyConflictError: the key was first given with another request.
            SubmitUncertainError: the request may have reached the server but its
                answer was lost (for a key: the answer of its first create); it is
                never re-sent automatically.
            APIError: the server refused the request (the subclass for the code).
            TransportError: the server could not be reached; nothing was created.

        """
        self._check_open()
        return await submit_keyed(self._ctx, as_request(request, options), None, idempotency_key)

    async def get_task(self, task_id: str) -> Task:
        """Fetch the current state of a task.

        Right after a create the server does not show the task for a short while; a
        task this client submitted is then reported in state ``WAITING`` (with an
        empty ``raw_state`` and the request it was made from).

        Raises:
            InvalidInputError: ``task_id`` is empty.
            TaskNotVisibleError: the server does not show the task yet, and this
                client did not submit it.
            NotFoundError: there is no such task.
            APIError: any other error code, after retries where they apply.
            ResponseError: the answer did not describe a task.
            TransportError: the server could not be reached, after retries.

        """
        self._check_open()
        check_task_id(task_id)
        return await read_task(self._ctx, task_id)

    async def wait(
        self,
        task_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll: PollPolicy | None = None,
        on_update: OnUpdate | None = None,
    ) -> Task:
        """Poll a task until it ends, and return it if it succeeded.

        Status requests of all waits of one client together stay under the API's
        limit of about 10 per second.

        Args:
            task_id: The task to wait for.
            timeout: Seconds to wait at most (30 minutes by default); None waits
                without a deadline.
            poll: How to space the polls; None means the client's policy.
            on_update: Called with each snapshot whose state or progress changed;
                a plain function or a coroutine function.

        Returns:
            The task, in state ``SUCCESS``, with its ``result_urls``.

        Raises:
            TaskFailedError: the task ended in state ``fail`` (``.task`` has why).
            WaitTimeoutError: the deadline passed first (``.last`` is the last
                snapshot seen); the task may still finish.
            InvalidInputError: ``task_id`` or ``timeout`` is not valid.
            APIError: an error retrying cannot fix (such as 401 or 404).

        """
        self._check_open()
        check_task_id(task_id)
        check_timeout("timeout", timeout)
        if poll is not None:
            check_instance("poll", poll, PollPolicy, "a sora2pro.PollPolicy or None")
        check_callable("on_update", on_update)
        return await wait(
            self._ctx,
            task_id,
            timeout=timeout,
            deadline=deadline_after(timeout),
            poll=poll,
            on_update=on_update,
        )

    async def generate(
        self,
        request: str | Request,
        /,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
        idempotency_key: str | None = None,
        on_submitted: OnSubmitted | None = None,
        **options: typing.Unpack[TextToVideoOptions],
    ) -> Task:
        """Submit a generation, then wait for it: :meth:`submit` and :meth:`wait` in one.

        ``timeout`` covers both: the submit's retries stop at the same deadline (a
        create already sent may still finish, within ``Timeouts.request``). Any
        error raised after the submit carries the task id in ``.task_id``, and the task
        stays in :attr:`pending` until it is seen to finish. With an ``idempotency_key``
        (see :meth:`submit`) a repeated call waits for the first call's task.
        ``on_submitted`` (plain or async) gets the task id before the wait, within
        ``timeout``; what it raises ends the call, with a note naming the task.

        Raises:
            Everything :meth:`submit` and :meth:`wait` raise.

        """
        self._check_open()
        check_timeout("timeout", timeout)
        check_callable("on_update", on_update)
        check_callable("on_submitted", on_submitted)
        deadline = deadline_after(timeout)
        request = as_request(request, options)
        task_id = await submit_keyed(self._ctx, request, deadline, idempotency_key)
        return await wait_submitted(
            self._ctx,
            task_id,
            timeout=timeout,
            deadline=deadline,
            on_update=on_update,
            on_submitted=on_submitted,
        )

    async def credits(self) -> float:
        """Return the account's remaining credits.

        Raises:
            APIError: the server refused (such as 401), after retries where they apply.
            ResponseError: the answer was not a number.

        """
        self._check_open()
        return await retrying(
            self._ctx.api.credit,
            policy=self._ctx.retry,
            retryable=is_transient,
            deadline=None,
            operation="credit",
            listener=self._transport.listener,
        )

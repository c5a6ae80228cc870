"""The async session object: submit, look up, wait for and download tasks."""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import contextlib
import functools
import logging
import math
import os
import pathlib
import statistics
import typing
import warnings

import aiohttp
import attrs

from sora2pro._batch import Runs, run_batch
from sora2pro._callbacks._receiver import CallbackReceiver
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
from sora2pro._coordination._local import LocalCoordination
from sora2pro._coordination._protocols import Coordination, Pacer
from sora2pro._download import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    OnProgress,
    check_max_bytes,
    download_to,
)
from sora2pro._errors import (
    APIError,
    InvalidInputError,
    MaintenanceError,
    RateLimitError,
    ResponseError,
    Sora2ProError,
    TaskNotVisibleError,
    TransportError,
    UnprocessableError,
)
from sora2pro._model._failures import SubmitUncertainError, TaskFailedError
from sora2pro._model._requests import (
    REQUEST_TYPES,
    UPLOAD,
    CharacterRequest,
    Request,
    TextToVideo,
    TextToVideoOptions,
    is_http_url,
    local_file,
    with_changes,
)
from sora2pro._model._task import Character, Task, TaskState, UploadedFile
from sora2pro._polling import OnUpdate, notify_within, poll_until_done
from sora2pro._transport._paced import paced_exchange, take_slot
from sora2pro._transport._retry import is_transient, retrying
from sora2pro._transport._transport import Transport, retrieve_exception
from sora2pro._upload import DEFAULT_UPLOAD_PATH, Source, upload
from sora2pro._wire import decode_credits, decode_task, decode_task_id, encode_create
from sora2pro._wire import make_converter as _make_converter

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping

    from sora2pro._batch import BatchItem, BatchResult
    from sora2pro._events import OnEvent
    from sora2pro._model._task import Callback
    from sora2pro._wire import Envelope

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "Client",
]

logger = logging.getLogger("sora2pro")

DEFAULT_BASE_URL = "https://api.apikley.ru"
#: Items of a batch in flight at once by default (the API runs 100 or more at once).
DEFAULT_CONCURRENCY = 50

#: How long ``download()`` may take by default: 10 minutes.
DEFAULT_DOWNLOAD_TIMEOUT = 10 * 60.0

_CREATE = "/api/v1/jobs/createTask"
_RECORD_INFO = "/api/v1/jobs/recordInfo"
_CREDIT = "/api/v1/chat/credit"
_DOWNLOAD_URL = "/api/v1/common/download-url"


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


def _check_settings(**settings: object) -> None:
    """Refuse a Client setting of the wrong type before anything can be sent with it."""
    kinds: dict[str, tuple[type, str]] = {
        "api_key": (str, "a string"),
        "base_url": (str, "a URL string"),
        "poll": (PollPolicy, "a sora2pro.PollPolicy"),
        "retry": (RetryPolicy, "a sora2pro.RetryPolicy"),
        # Deadlines go to wait() and generate(); Timeouts bound each HTTP exchange.
        "timeout": (Timeouts, "a sora2pro.Timeouts (a deadline goes to wait() or generate())"),
        "session": (aiohttp.ClientSession, "an aiohttp.ClientSession"),
        "rate_limits": (RateLimits, "a sora2pro.RateLimits"),
        "callbacks": (CallbackReceiver, "a sora2pro.CallbackReceiver"),
        "coordination": (Coordination, "a coordination backend (sora2pro.LocalCoordination)"),
    }
    for name, value in settings.items():
        if value is not None:
            kind, what = kinds[name]
            check_instance(name, value, kind, f"{what} or None")


def _task_id_in(data: object) -> str | None:
    try:
        return decode_task_id(data)
    except ResponseError:
        return None


def _request(request: str | Request, options: TextToVideoOptions) -> Request:
    if isinstance(request, str):
        unknown = set(options) - set(attrs.fields_dict(TextToVideo)) | {"prompt"} & set(options)
        if unknown:
            raise InvalidInputError("options", f"TextToVideo has no {', '.join(sorted(unknown))}")
        return TextToVideo(request, **options)
    if not isinstance(request, REQUEST_TYPES):
        raise InvalidInputError(
            "request", f"must be a prompt or a request, not {type(request).__name__}"
        )
    unknown = set(options) - set(attrs.fields_dict(type(request)))
    if unknown:
        raise InvalidInputError(
            "options", f"{type(request).__name__} has no {', '.join(sorted(unknown))}"
        )
    return with_changes(request, options) if options else request


def _check_items(items: object) -> None:
    """Refuse what is not a collection of batch items, above all one prompt.

    A string is iterable: taken as items, it would pay for one video per letter.
    """
    if isinstance(items, str | bytes | bytearray):
        raise InvalidInputError(
            "items", "is one prompt, not a list of them: pass [prompt], or use generate()"
        )
    if isinstance(items, (collections.abc.Mapping, *REQUEST_TYPES)):
        raise InvalidInputError(
            "items", f"is one item ({type(items).__name__}), not a list of them: pass [item]"
        )
    if not isinstance(items, collections.abc.Iterable):
        raise InvalidInputError(
            "items", f"must be a list or other iterable of items, not {type(items).__name__}"
        )


def _deadline(timeout: float | None) -> float | None:
    """The ``loop.time()`` at which ``timeout`` seconds from now end."""
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


def _check_task_id(task_id: str) -> None:
    if not isinstance(task_id, str) or not task_id.strip():
        raise InvalidInputError("task_id", f"must be a non-empty string, not {task_id!r}")


class Client:
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
            relaxed polling is the fallback.
        coordination: Where the state shared by this client's flows lives: its rate
            limits, its pending tasks, its batches' journals. None means a
            :class:`LocalCoordination` of its own; pass one to several clients of a
            process to have them share an account's limits.

    Raises:
        Sora2ProError: no API key was given or found in ``APIKLEY_API_KEY``.
        InvalidInputError: ``base_url`` is not an http(s) URL.

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
        coordination: Coordination | None = None,
    ) -> None:
        _check_settings(
            api_key=api_key,
            base_url=base_url,
            poll=poll,
            retry=retry,
            timeout=timeout,
            session=session,
            rate_limits=rate_limits,
            callbacks=callbacks,
            coordination=coordination,
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
        self._poll = poll or DEFAULT_POLL
        self._retry = retry or DEFAULT_RETRY
        self._converter = _make_converter()
        self._transport = Transport(
            api_key=key,
            base_url=url,
            timeouts=timeout or DEFAULT_TIMEOUTS,
            converter=self._converter,
            session=session,
        )
        self._limits = rate_limits or DEFAULT_RATE_LIMITS
        self._coordination = coordination or LocalCoordination()
        self._create_pacer = self._coordination.pacer("createTask", self._limits.creates_per_second)
        self._status_pacer = self._coordination.pacer("recordInfo", self._limits.status_per_second)
        # How long this client's own tasks took, for polling the likely finished first.
        self._durations: collections.deque[float] = collections.deque(maxlen=256)
        self._registry = self._coordination.registry()
        # When each pending task was submitted (loop time): live answers carry no
        # useful updateTime, so a task's running time is counted on the client's clock.
        self._submitted_at: dict[str, float] = {}
        # Creates on the wire, and those whose caller was cancelled meanwhile.
        self._creates: set[asyncio.Future[str]] = set()
        self._cancelled_creates: set[asyncio.Future[str]] = set()
        self._callbacks = callbacks
        self._closing: asyncio.Future[None] | None = None
        # Batches not wound down yet: close() ends them and releases their journals.
        self._batches = Runs()

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

        A batch whose iteration was left (``break``) is stopped here and its journal
        released, so the same batch can run again at once. A create still on the wire
        (its caller was cancelled) is given its answer first (within
        ``Timeouts.request``), so the task it made lands in :attr:`pending` and the
        log. No create leaves once close() began. A session passed in stays open.
        Cancelling close() does not stop it: it goes on to the end in the background.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shut_down())
            self._closing.add_done_callback(retrieve_exception)
        await asyncio.shield(self._closing)

    async def _shut_down(self) -> None:
        await self._batches.close()
        # A create on the wire (its caller cancelled) may still bring a task id:
        # closing the session before its answer would lose it.
        while self._creates:
            await asyncio.wait(set(self._creates))
        await self._transport.close()

    @property
    def base_url(self) -> str:
        """The API address requests go to."""
        return self._transport.base_url

    @property
    def pending(self) -> Mapping[str, Request]:
        """Tasks this client submitted and has not yet seen finish, by task id.

        A task id the server gave is never lost: after a cancelled ``generate()``
        or a crash of the caller's own code, the task is still listed here.
        """
        return self._registry.pending()

    async def _paced(
        self, pacer: Pacer, operation: str, method: str, path: str, **request: typing.Any
    ) -> Envelope:
        """One request through ``pacer``'s 429 hold, with the client's pause bounds."""
        return await paced_exchange(
            self._transport,
            pacer,
            operation,
            method,
            path,
            default_pause=self._limits.pause,
            max_pause=self._retry.max_retry_after,
            **request,
        )

    async def _with_uploads(self, request: Request, deadline: float | None) -> Request:
        """The request with each local file it names uploaded, and named by its URL."""
        uploaded: dict[str, str] = {}
        for field in attrs.fields(type(request)):
            path = field.metadata.get(UPLOAD) and local_file(getattr(request, field.name))
            if path:
                stored = await upload(
                    self._transport,
                    self._converter,
                    self._retry,
                    path,
                    upload_path=DEFAULT_UPLOAD_PATH,
                    file_name=None,
                    as_base64=False,
                    deadline=deadline,
                )
                uploaded[field.name] = stored.url
        return with_changes(request, uploaded) if uploaded else request

    def _with_callback(self, request: Request) -> Request:
        """The request with the receiver's URL, unless it names a callback of its own."""
        if self._callbacks is None or request.callback_url is not None:
            return request
        url = self._callbacks.url
        if url is None:
            raise Sora2ProError(
                "the callback receiver has no URL: start it, or give it a public_url"
            )
        return attrs.evolve(request, callback_url=url)

    def _check_open(self) -> None:
        if self._closing is not None:
            raise Sora2ProError("this sora2pro.Client is closed")

    async def submit(
        self, request: str | Request, /, **options: typing.Unpack[TextToVideoOptions]
    ) -> str:
        """Start a generation and return its task id at once.

        A local file in the request (the image of an :class:`ImageToVideo`, the clip
        of a :class:`CharacterRequest`) is uploaded first, with :meth:`upload`.

        Args:
            request: The prompt, or a whole :class:`TextToVideo`,
                :class:`ImageToVideo` or :class:`CharacterRequest`.
            **options: The other :class:`TextToVideo` fields (``aspect_ratio``,
                ``n_frames``, ``size``, ``remove_watermark``, ``character_ids``,
                ``callback_url``); with a request they replace its own.

        Returns:
            The task id, for :meth:`get_task` and :meth:`wait`.

        Raises:
            InvalidInputError: the request breaks the provider's rules; nothing was sent.
            SubmitUncertainError: the request may have reached the server but its
                answer was lost; it is never re-sent automatically.
            APIError: the server refused the request (the subclass for the code).
            TransportError: the server could not be reached; nothing was created.

        """
        self._check_open()
        return await self._submit(_request(request, options), None)

    async def _submit(
        self,
        req: Request,
        deadline: float | None,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
        on_task_id: Callable[[str], None] | None = None,
    ) -> str:
        """Create the task.

        ``before_send`` runs right before each create leaves; ``on_task_id`` gets the
        task id the instant it arrives, before anything else can interrupt. A cancel
        while a create is on the wire waits for its answer (within
        ``Timeouts.request``), so that a task it made is never lost.
        """
        req = self._with_callback(await self._with_uploads(req, deadline))
        body = encode_create(self._converter, req)

        async def attempt() -> str:
            await take_slot(self._create_pacer, deadline, 0.0, "createTask")
            if self._closing is not None:
                raise TransportError(
                    "createTask not sent: the client is closing", request_sent=False
                )
            if before_send is not None:
                await before_send()
            # Not cut short by the deadline nor by a cancel: a create once sent may
            # finish (within Timeouts.request), since a lost answer could mean paying twice.
            # Whoever is still there when the answer comes, the task id is kept by the
            # callback, exactly once: a second cancel must not lose it.
            sending = asyncio.ensure_future(self._create_once(body, req))
            self._creates.add(sending)
            sending.add_done_callback(functools.partial(self._settled, req, on_task_id))
            try:
                return await asyncio.shield(sending)
            except asyncio.CancelledError:
                self._cancelled_creates.add(sending)
                # Give the answer its time before the cancel goes on; a second cancel
                # ends this wait, and the callback still keeps whatever arrives.
                await asyncio.wait({sending})
                raise

        return await retrying(
            attempt,
            policy=self._retry,
            retryable=_create_retryable,
            deadline=deadline,
            operation="createTask",
        )

    async def _create_once(self, body: dict[str, object], req: Request) -> str:
        """Send one create and read its task id, or raise what the answer means."""
        try:
            envelope = await self._paced(
                self._create_pacer, "createTask", "POST", _CREATE, body=body
            )
            return decode_task_id(envelope.data)
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
        self,
        req: Request,
        on_task_id: Callable[[str], None] | None,
        sending: asyncio.Future[str],
    ) -> None:
        """Keep the task a create made: in :attr:`pending`, with the caller, in the log."""
        cancelled = sending in self._cancelled_creates
        self._cancelled_creates.discard(sending)
        self._creates.discard(sending)
        error = None if sending.cancelled() else sending.exception()
        if error is not None or sending.cancelled():
            if cancelled:
                logger.warning(
                    "createTask cancelled in flight without an answer; the task may exist",
                    extra={"event": "submit_cancelled", "request": req},
                )
            return
        task_id = sending.result()
        self._registry.add(task_id, req)
        self._submitted_at[task_id] = asyncio.get_running_loop().time()
        if on_task_id is not None:
            on_task_id(task_id)
        logger.info("submitted task %s", task_id, extra={"event": "submitted", "task_id": task_id})
        if cancelled:
            logger.warning(
                "createTask cancelled in flight; it created task %s",
                task_id,
                extra={"event": "submit_cancelled", "task_id": task_id},
            )

    def _finished(self, task_id: str) -> Request | None:
        """Forget a task seen to end; its request, if this client submitted it."""
        self._submitted_at.pop(task_id, None)
        return self._registry.finish(task_id)

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
        _check_task_id(task_id)
        try:
            # Asked for by the user, not by a wait: ahead of every poll.
            task = await self._fetch_task(task_id, None, math.inf)
        except TaskNotVisibleError:
            request = self._registry.pending().get(task_id)
            if request is None:
                raise
            return Task(
                id=task_id,
                model=request.MODEL,
                state=TaskState.WAITING,
                raw_state="",
                request=request,
            )
        if task.done:
            self._finished(task_id)
        return task

    async def _fetch_task(self, task_id: str, deadline: float | None, urgency: float) -> Task:
        async def attempt() -> Task:
            await take_slot(self._status_pacer, deadline, urgency, "recordInfo")
            try:
                envelope = await self._paced(
                    self._status_pacer,
                    "recordInfo",
                    "GET",
                    _RECORD_INFO,
                    params={"taskId": task_id},
                    deadline=deadline,
                )
            except UnprocessableError as exc:
                # Only "recordInfo is null" is known here: a task not shown yet.
                raise TaskNotVisibleError(
                    exc.code, exc.message, http_status=exc.http_status, data=exc.data
                ) from None
            if envelope.data is None:
                # The other form of "not shown yet" (API.md section 8).
                raise TaskNotVisibleError(
                    envelope.code, f"{envelope.message} (data is null)".lstrip(), http_status=200
                )
            task = decode_task(self._converter, envelope.data)
            if task.id != task_id:
                raise ResponseError(f"asked for task {task_id}, got task {task.id}")
            if task.done:
                # Kept in pending until the caller has it: a cancel in between must not
                # lose it (wait() and get_task() forget it when they hand it over).
                ours = self._registry.pending().get(task_id)
                # Only videos: a character takes far less, and would skew the schedule.
                video = ours is not None and not isinstance(ours, CharacterRequest)
                if video and task.created_at is not None and task.completed_at is not None:
                    self._durations.append((task.completed_at - task.created_at).total_seconds())
            return task

        return await retrying(
            attempt,
            policy=self._retry,
            retryable=is_transient,
            deadline=deadline,
            operation="recordInfo",
        )

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
        _check_task_id(task_id)
        check_timeout("timeout", timeout)
        if poll is not None:
            check_instance("poll", poll, PollPolicy, "a sora2pro.PollPolicy or None")
        check_callable("on_update", on_update)
        return await self._wait(task_id, timeout, _deadline(timeout), poll, on_update)

    async def _wait(
        self,
        task_id: str,
        timeout: float | None,
        deadline: float | None,
        poll: PollPolicy | None,
        on_update: OnUpdate | None,
    ) -> Task:
        """Wait for the task's end; forget it from pending only as it is handed over."""
        try:
            task = await self._until_done(task_id, timeout, deadline, poll, on_update)
        except TaskFailedError:
            self._finished(task_id)
            raise
        self._finished(task_id)
        return task

    async def _until_done(
        self,
        task_id: str,
        timeout: float | None,
        deadline: float | None,
        poll: PollPolicy | None,
        on_update: OnUpdate | None,
    ) -> Task:
        policy = poll or self._poll
        if self._callbacks is None:
            return await self._poll_task(task_id, timeout, deadline, policy, on_update)
        # The callback is the fast path; polling only needs to catch a lost callback.
        relaxed = attrs.evolve(
            policy, min_interval=policy.max_interval, max_interval=4 * policy.max_interval
        )
        polling = asyncio.ensure_future(
            self._poll_task(task_id, timeout, deadline, relaxed, on_update, sleep_first=True)
        )
        seen: Callback | None = None
        try:
            while True:
                hint = self._callbacks.expect(task_id, newer_than=seen)
                try:
                    racing: set[asyncio.Future[typing.Any]] = {hint, polling}
                    await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                    if not hint.done():
                        return polling.result()
                    seen = hint.result()
                finally:
                    hint.cancel()
                task = await self._confirm(seen, deadline)
                if task is not None:
                    break
                # It did not hold up (forged?): at most one confirmation per interval,
                # so a flood of forgeries cannot turn into a flood of status queries.
                self._callbacks.refute(seen)
                await asyncio.wait({polling}, timeout=policy.min_interval)
                if polling.done():
                    return polling.result()
            await notify_within(on_update, task, deadline, timeout)
            if task.state is TaskState.FAIL:
                raise TaskFailedError(task)
            return task
        finally:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)

    async def _poll_task(
        self,
        task_id: str,
        timeout: float | None,
        deadline: float | None,
        policy: PollPolicy,
        on_update: OnUpdate | None,
        *,
        sleep_first: bool = False,
    ) -> Task:
        return await poll_until_done(
            lambda deadline, urgency: self._fetch_task(task_id, deadline, urgency),
            task_id,
            policy=policy,
            timeout=timeout,
            deadline=deadline,
            on_update=on_update,
            typical=self._typical_duration,
            started_at=self._submitted_at.get(task_id),
            sleep_first=sleep_first,
        )

    async def _confirm(self, callback: Callback, deadline: float | None) -> Task | None:
        """The finished task a callback announces, confirmed; None if it does not hold."""
        assert self._callbacks is not None  # noqa: S101  # only used with callbacks
        if self._callbacks.trust_body:
            task = callback.task
        else:
            try:
                task = await self._fetch_task(callback.task.id, deadline, math.inf)
            except Sora2ProError as exc:
                logger.info("callback for task %s not confirmed: %s", callback.task.id, exc)
                return None
        if not task.done:
            logger.warning(
                "callback for task %s said %s, the server says %s; polling on",
                task.id,
                callback.task.raw_state,
                task.raw_state,
                extra={"event": "callback_unconfirmed", "task_id": task.id},
            )
            return None
        return task

    def _typical_duration(self) -> float | None:
        """The median time this client's tasks took, once it has seen a few."""
        return statistics.median(self._durations) if len(self._durations) >= 3 else None

    async def generate(
        self,
        request: str | Request,
        /,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
        **options: typing.Unpack[TextToVideoOptions],
    ) -> Task:
        """Submit a generation, then wait for it: :meth:`submit` and :meth:`wait` in one.

        ``timeout`` covers both: the submit's retries stop at the same deadline (a
        create already sent may still finish, within ``Timeouts.request``). Any
        error raised after the submit carries the task id in ``.task_id``, and the task
        stays in :attr:`pending` until it is seen to finish.

        Raises:
            Everything :meth:`submit` and :meth:`wait` raise.

        """
        self._check_open()
        check_timeout("timeout", timeout)
        check_callable("on_update", on_update)
        deadline = _deadline(timeout)
        task_id = await self._submit(_request(request, options), deadline)
        try:
            return await self._wait(task_id, timeout, deadline, None, on_update)
        except Sora2ProError as exc:
            exc.task_id = task_id
            raise
        except asyncio.CancelledError:
            logger.warning(
                "generate() cancelled; task %s keeps running on the server",
                task_id,
                extra={"event": "abandoned", "task_id": task_id},
            )
            raise

    async def create_character(
        self,
        video: str | os.PathLike[str],
        *,
        prompt: str | None = None,
        safety_instruction: str | None = None,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
    ) -> Character:
        """Make a reusable character from a short clip, and wait until it is ready.

        ::

            character = await client.create_character("hero.mp4", prompt="a calm knight")
            task = await client.generate("the knight crosses a bridge",
                                         character_ids=[character.id])

        A local clip is checked before anything is sent, then uploaded. The
        character stays usable only while its clip is kept (uploads: about 3 days).

        Args:
            video: A local MP4, WebM or AVI file of at most 10 MB, or an http(s)
                URL of one; the clip should last 1 to 4 seconds.
            prompt: What the character is like; at most 5,000 characters.
            safety_instruction: Limits on how it may be used; at most 5,000 characters.
            timeout: Seconds for the upload, the submit and the wait together.
            on_update: Called with each snapshot whose state or progress changed.

        Returns:
            The character, with its ``id`` and the finished ``task``.

        Raises:
            InvalidInputError: the clip or a text breaks the rules; nothing was sent.
            ResponseError: the task succeeded without naming a character id.
            Everything :meth:`generate` raises.

        """
        request = CharacterRequest(video, prompt=prompt, safety_instruction=safety_instruction)
        return Character.from_task(
            await self.generate(request, timeout=timeout, on_update=on_update)
        )

    async def upload(
        self,
        source: Source,
        *,
        upload_path: str = DEFAULT_UPLOAD_PATH,
        file_name: str | None = None,
        as_base64: bool = False,
        timeout: float | None = None,
    ) -> UploadedFile:
        """Store a file with the API's upload service, for use in a request.

        A local file or bytes are streamed (multipart); an http(s) URL is fetched by
        the service itself. Uploaded files are deleted after about 3 days. A
        transient failure is retried: at worst the service keeps a second copy.

        Args:
            source: A local file path, the file's bytes, or an http(s) URL.
            upload_path: The folder on the service.
            file_name: The name to store it under (a file of the same name is
                replaced). By default a local file gets its own name plus a random
                part, and the service names bytes and URLs.
            as_base64: Send a local file or bytes as base64 JSON instead of multipart
                (for proxies that refuse multipart); the whole file is read first.
            timeout: Seconds the upload may take with its retries; None for no
                limit beyond :class:`Timeouts`.

        Returns:
            The stored file: its ``url`` goes into a request.

        Raises:
            InvalidInputError: ``source`` is not a readable file, bytes or a URL, or
                is empty; nothing was sent.
            APIError: the service refused the file.
            ResponseError: the answer did not describe a stored file.
            TransportError: the service could not be reached, after retries.

        """
        self._check_open()
        check_timeout("timeout", timeout)
        check_instance("upload_path", upload_path, str, "a string")
        if file_name is not None:
            check_instance("file_name", file_name, str, "a string or None")
        check_instance("as_base64", as_base64, bool, "True or False")
        return await upload(
            self._transport,
            self._converter,
            self._retry,
            source,
            upload_path=upload_path,
            file_name=file_name,
            as_base64=as_base64,
            deadline=_deadline(timeout),
        )

    async def download(
        self,
        task: Task | str,
        dest: str | os.PathLike[str],
        *,
        index: int = 0,
        timeout: float | None = DEFAULT_DOWNLOAD_TIMEOUT,
        watermark: bool = False,
        overwrite: bool = False,
        on_progress: OnProgress | None = None,
        max_bytes: int | None = DEFAULT_MAX_DOWNLOAD_BYTES,
        allow_private_redirects: bool = False,
    ) -> pathlib.Path:
        """Save a finished task's video to ``dest``, atomically.

        The video streams into a temporary file beside ``dest``, its size is checked
        against the total the host announced, then it is renamed into place:
        ``dest`` never holds a partial file, and the temporary file is deleted on
        failure or cancel.

        A transfer that breaks midway (a dropped connection, a body cut short, no
        data for ``Timeouts.read``) is tried again and resumes after the bytes
        already written (``Range: bytes=<written>-``); a host that ignores or
        refuses the range, or answers a range that does not continue the file,
        sends it again from the start. HTTP 429 and 5xx are retried too, after
        ``Retry-After`` when given, all within the client's :class:`RetryPolicy`;
        a try that took the file further than ever before starts the policy afresh,
        so only tries that get nowhere use it up.
        A result URL that answers 403, 404 or 410 (expired) is swapped once for a
        fresh link from the API's download-url endpoint; other 4xx are final.

        Args:
            task: A finished task, or its id (then it is fetched first).
            dest: The file to write.
            index: Which of the task's result videos, if it has several.
            timeout: Seconds the whole download may take (10 minutes by default):
                every try, the pauses between them and a fresh link together. No
                retry starts that would end past it. None for no limit beyond the
                retry policy and the read timeout between two pieces.
            watermark: Fetch the watermarked copy instead.
            overwrite: Replace ``dest`` if it exists; otherwise that is refused.
            on_progress: Called with (bytes written, total bytes or None). A resume
                goes on counting from the bytes already written; when the host
                sends the file from the start again, the count starts again from 0.
            max_bytes: The largest file written (2 GiB by default); a larger one is
                refused before reading when the host announces its size, or once
                the body passes it. None for no cap.
            allow_private_redirects: Follow redirects to hosts that are, or resolve
                to, loopback, private, link-local or other non-public addresses
                (refused by default). Redirects go to http(s) URLs only, 5 at most.

        Returns:
            The path written.

        Raises:
            InvalidInputError: the task has no result video at ``index``, ``dest`` is
                a directory or exists (without ``overwrite``), or ``timeout`` or
                ``max_bytes`` is not valid.
            DownloadError: the video could not be fetched whole (after the retries
                and within ``timeout``), was larger than ``max_bytes``, was
                redirected where it may not go, or could not be written to disk.

        """
        self._check_open()
        check_timeout("timeout", timeout)
        check_max_bytes(max_bytes)
        check_instance("task", task, (Task, str), "a Task or a task id")
        check_instance("dest", dest, (str, os.PathLike), "a file path")
        check_instance("index", index, int, "a whole number")
        for name, flag in (
            ("watermark", watermark),
            ("overwrite", overwrite),
            ("allow_private_redirects", allow_private_redirects),
        ):
            check_instance(name, flag, bool, "True or False")
        check_callable("on_progress", on_progress)
        if index < 0:
            raise InvalidInputError("index", f"must be 0 or more, not {index}")
        path = pathlib.Path(dest)
        if path.is_dir():  # noqa: ASYNC240  # one stat, cheaper than a thread hop
            raise InvalidInputError("dest", f"{path} is a directory; name the file to write")
        if path.exists() and not overwrite:  # noqa: ASYNC240  # as above
            raise InvalidInputError("dest", f"{path} exists; pass overwrite=True to replace it")
        if isinstance(task, str):
            task = await self.get_task(task)
        urls = task.watermark_urls if watermark else task.result_urls
        if task.state is not TaskState.SUCCESS or not urls:
            kind = "watermarked video" if watermark else "result video"
            raise InvalidInputError(
                "task", f"task {task.id} has no {kind} (state {task.state.value})"
            )
        if not 0 <= index < len(urls):
            raise InvalidInputError(
                "index", f"task {task.id} has {len(urls)} video(s), not {index + 1}"
            )
        url, task_id = urls[index], task.id

        async def refresh(deadline: float | None) -> str:
            fresh = await self._fresh_link(url, deadline)
            logger.info("result URL of task %s expired; using a fresh link", task_id)
            return fresh

        return await download_to(
            self._transport,
            url,
            path,
            timeout=timeout,
            retry=self._retry,
            refresh=refresh,
            max_bytes=max_bytes,
            allow_private_redirects=allow_private_redirects,
            on_progress=on_progress,
        )

    async def _fresh_link(self, url: str, deadline: float | None) -> str:
        """A temporary direct link for a result URL (valid about 20 minutes)."""

        async def attempt() -> str:
            envelope = await self._transport.exchange(
                "POST", _DOWNLOAD_URL, body={"url": url}, deadline=deadline
            )
            if not isinstance(envelope.data, str) or not is_http_url(envelope.data):
                raise ResponseError("download-url answered without a URL")
            return envelope.data

        return await retrying(
            attempt,
            policy=self._retry,
            retryable=is_transient,
            deadline=deadline,
            operation="download-url",
        )

    def batch(
        self,
        items: Iterable[BatchItem],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ordered: bool = False,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_event: OnEvent | None = None,
        journal: str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
    ) -> AsyncGenerator[BatchResult, None]:
        """Generate many videos; yield a :class:`BatchResult` as each item ends.

        ::

            async for result in client.batch(prompts, concurrency=50):
                print(result.index, result.task_id, result.ok, result.error)

        One failure never stops the batch: every item ends with a task or an error.
        Creates and status queries go at the pace of the client's rate limits, and a
        429 pauses every submitter of the client together. Stopping the iteration
        stops new submits at once; tasks already created stay in :attr:`pending`.

        Args:
            items: Prompts, :class:`TextToVideo` values, or mappings of their fields;
                read lazily, so a generator of a million lines is fine.
            concurrency: Items in flight at most (submitted and not yet finished).
            ordered: Yield in input order rather than as items finish.
            timeout: Seconds each task may take once submitted; None for no limit.
            on_event: Receives :class:`Submitted`, :class:`StateChanged`,
                :class:`Finished`, :class:`Retried` and :class:`RateLimited` events;
                a plain function or a coroutine function.
            journal: A SQLite file recording each item before its create is sent and
                its task id right after. Run the same batch again with the same
                journal and it skips nothing it paid for: tasks already created are
                re-attached (one status query each), only items that surely never
                reached the server are sent. The file never holds the API key.
            resubmit_uncertain: On a rerun, send again the items whose create went out
                without an answer (they may exist and be billed). Off by default:
                they end as uncertain results.

        Raises:
            InvalidInputError: ``concurrency`` or ``timeout`` is not valid (at once,
                before anything is sent). Invalid items become results with an error.

        """
        self._check_open()
        _check_items(items)
        check_callable("on_event", on_event)
        if journal is not None:
            check_instance("journal", journal, (str, os.PathLike), "a file path or None")
        check_instance("ordered", ordered, bool, "True or False")
        check_instance("resubmit_uncertain", resubmit_uncertain, bool, "True or False")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError(
                "concurrency", f"must be a whole number >= 1, not {concurrency!r}"
            )
        check_timeout("timeout", timeout)
        return run_batch(
            self,
            items,
            concurrency=concurrency,
            ordered=ordered,
            timeout=timeout,
            on_event=on_event,
            journal_path=journal,
            resubmit_uncertain=resubmit_uncertain,
        )

    async def gather(
        self,
        items: Iterable[BatchItem],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_event: OnEvent | None = None,
        journal: str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
    ) -> list[BatchResult]:
        """Run :meth:`batch` to the end and return every result, in input order."""
        batch = self.batch(
            items,
            concurrency=concurrency,
            timeout=timeout,
            on_event=on_event,
            journal=journal,
            resubmit_uncertain=resubmit_uncertain,
        )
        # Unordered inside: ordered streaming would hold the window behind a slow item.
        async with contextlib.aclosing(batch) as results:
            collected = [result async for result in results]
        return sorted(collected, key=lambda result: result.index)

    async def credits(self) -> float:
        """Return the account's remaining credits.

        Raises:
            APIError: the server refused (such as 401), after retries where they apply.
            ResponseError: the answer was not a number.

        """
        self._check_open()

        async def attempt() -> float:
            envelope = await self._transport.exchange("GET", _CREDIT)
            return decode_credits(envelope.data)

        return await retrying(
            attempt, policy=self._retry, retryable=is_transient, deadline=None, operation="credit"
        )

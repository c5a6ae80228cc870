"""The async session object: submit, look up, wait for and download tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import pathlib
import typing
import warnings

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
from sora2pro._errors import (
    InvalidInputError,
    Sora2ProError,
    TaskNotVisibleError,
)
from sora2pro._flows._batch import Runs, run_batch
from sora2pro._flows._context import deadline_after
from sora2pro._flows._download import DEFAULT_MAX_DOWNLOAD_BYTES, OnProgress, download_task
from sora2pro._flows._submit import submit
from sora2pro._flows._upload import DEFAULT_UPLOAD_PATH, Source, upload
from sora2pro._flows._wait import fetch_task, wait
from sora2pro._model._requests import (
    CharacterRequest,
    Request,
    TextToVideoOptions,
    is_http_url,
)
from sora2pro._model._task import Character, Task, TaskState, UploadedFile
from sora2pro._transport._retry import is_transient, retrying
from sora2pro._transport._transport import retrieve_exception
from sora2pro._wiring import (
    as_request,
    check_batch,
    check_download,
    check_settings,
    check_task_id,
    wire_up,
)

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable, Mapping

    import aiohttp

    from sora2pro._callbacks._receiver import CallbackReceiver
    from sora2pro._coordination._protocols import Coordination
    from sora2pro._flows._events import OnEvent
    from sora2pro._flows._items import BatchItem, BatchResult
    from sora2pro._flows._polling import OnUpdate

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
        self._transport, self._ctx = wire_up(
            key,
            url,
            poll=poll or DEFAULT_POLL,
            retry=retry or DEFAULT_RETRY,
            timeouts=timeout or DEFAULT_TIMEOUTS,
            session=session,
            limits=rate_limits or DEFAULT_RATE_LIMITS,
            callbacks=callbacks,
            coordination=coordination or LocalCoordination(),
        )
        self._create_pacer = self._ctx.api.create_pacer
        self._status_pacer = self._ctx.api.status_pacer
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
        self._ctx.closing = True
        await self._batches.close()
        # A create on the wire (its caller cancelled) may still bring a task id:
        # closing the session before its answer would lose it.
        while self._ctx.creates:
            await asyncio.wait(set(self._ctx.creates))
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
        return self._ctx.registry.pending()

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
        return await submit(self._ctx, as_request(request, options), None)

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
        try:
            # Asked for by the user, not by a wait: ahead of every poll.
            task = await fetch_task(self._ctx, task_id, None, math.inf)
        except TaskNotVisibleError:
            request = self._ctx.registry.pending().get(task_id)
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
            self._ctx.finished(task_id)
        return task

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
        deadline = deadline_after(timeout)
        task_id = await submit(self._ctx, as_request(request, options), deadline)
        try:
            return await wait(
                self._ctx,
                task_id,
                timeout=timeout,
                deadline=deadline,
                poll=None,
                on_update=on_update,
            )
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
            self._ctx.converter,
            self._ctx.retry,
            source,
            upload_path=upload_path,
            file_name=file_name,
            as_base64=as_base64,
            deadline=deadline_after(timeout),
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
        path = check_download(
            task,
            dest,
            index=index,
            timeout=timeout,
            flags={
                "watermark": watermark,
                "overwrite": overwrite,
                "allow_private_redirects": allow_private_redirects,
            },
            max_bytes=max_bytes,
            on_progress=on_progress,
        )
        if isinstance(task, str):
            task = await self.get_task(task)
        return await download_task(
            self._ctx,
            task,
            path,
            index=index,
            watermark=watermark,
            timeout=timeout,
            max_bytes=max_bytes,
            allow_private_redirects=allow_private_redirects,
            on_progress=on_progress,
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
        check_batch(
            items,
            concurrency=concurrency,
            timeout=timeout,
            on_event=on_event,
            journal=journal,
            flags={"ordered": ordered, "resubmit_uncertain": resubmit_uncertain},
        )
        return run_batch(
            self._ctx,
            self._batches,
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
        return await retrying(
            self._ctx.api.credit,
            policy=self._ctx.retry,
            retryable=is_transient,
            deadline=None,
            operation="credit",
        )

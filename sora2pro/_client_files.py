"""The Client's methods for files: characters from clips, uploads, and downloads.

A part of :class:`sora2pro.Client`, kept apart so that each file stays readable; the
methods delegate to the flows like every other method of the Client.
"""

from __future__ import annotations

import os
import pathlib
import typing

from sora2pro._config import DEFAULT_WAIT_TIMEOUT, check_instance, check_timeout
from sora2pro._flows._context import deadline_after
from sora2pro._flows._download import DEFAULT_MAX_DOWNLOAD_BYTES, OnProgress, download_task
from sora2pro._flows._upload import DEFAULT_UPLOAD_PATH, Source, upload
from sora2pro._model._requests import CharacterRequest
from sora2pro._model._task import Character, Task, UploadedFile
from sora2pro._wiring import check_download

if typing.TYPE_CHECKING:
    from sora2pro._flows._context import Context
    from sora2pro._flows._polling import OnUpdate
    from sora2pro._model._requests import Request
    from sora2pro._transport._transport import Transport

__all__ = ["DEFAULT_DOWNLOAD_TIMEOUT", "FileMethods"]

#: How long ``download()`` may take by default: 10 minutes.
DEFAULT_DOWNLOAD_TIMEOUT = 10 * 60.0


class FileMethods:
    """Characters, uploads and downloads: the part of the Client that handles files."""

    if typing.TYPE_CHECKING:  # what these methods use of the Client they are part of
        _ctx: Context
        _transport: Transport

        def _check_open(self) -> None: ...

        async def get_task(self, task_id: str) -> Task: ...

        async def generate(
            self,
            request: str | Request,
            /,
            *,
            timeout: float | None = ...,
            on_update: OnUpdate | None = ...,
        ) -> Task: ...

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

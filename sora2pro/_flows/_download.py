"""Fetch a result video to a file, atomically: all of it, or nothing at the destination.

The file streams into a temporary file beside its destination and is renamed into
place once whole. Broken transfers are tried again within the retry policy and the
deadline, resuming where they stopped (``_transfer``); an expired result URL is
swapped once for a fresh link; redirects are checked before they are followed
(``_redirects``). The retry policy counts the tries that get nowhere: when the try
that failed took the file further than any before it, the policy starts afresh.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import pathlib
import secrets
import typing

from sora2pro._errors import DownloadError, InvalidInputError, Sora2ProError
from sora2pro._flows._transfer import OnProgress, Transfer
from sora2pro._model._task import TaskState
from sora2pro._transport._retry import is_transient, retrying
from sora2pro._transport._transport import within

if typing.TYPE_CHECKING:
    from sora2pro._config import RetryPolicy
    from sora2pro._flows._context import Context
    from sora2pro._model._task import Task
    from sora2pro._transport._transport import Transport

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "OnProgress",
    "check_max_bytes",
    "download_task",
    "download_to",
]

logger = logging.getLogger("sora2pro")

#: What an expired result URL answers: worth one fresh link, not a retry.
_EXPIRED = frozenset({403, 404, 410})

#: The largest file ``download()`` writes by default: 2 GiB, far past any result video.
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3


#: Gives a fresh link for an expired result URL, by a deadline (a ``loop.time()`` value).
Refresh = typing.Callable[[float | None], typing.Awaitable[str]]


def check_max_bytes(value: int | None) -> None:
    """Refuse a ``max_bytes`` that is not a positive whole number; ``None`` means no limit.

    Raises:
        InvalidInputError: naming ``max_bytes``.

    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            "max_bytes", f"must be a whole number of bytes or None, not {value!r}"
        )
    if value <= 0:
        raise InvalidInputError(
            "max_bytes", f"must be positive (None means no limit), not {value!r}"
        )


async def download_to(
    transport: Transport,
    url: str,
    dest: pathlib.Path,
    *,
    timeout: float | None,
    retry: RetryPolicy,
    refresh: Refresh,
    max_bytes: int | None,
    allow_private_redirects: bool,
    on_progress: OnProgress | None = None,
) -> pathlib.Path:
    """Stream ``url`` into a temporary file beside ``dest``, then rename it into place.

    Broken transfers resume within ``retry``; an expired ``url`` (403, 404, 410) is
    swapped once for what ``refresh`` gives. ``timeout`` bounds all of it together.
    The request carries no API key: result URLs point at a file host, not the API.
    A file past ``max_bytes`` (None: no cap) is refused; redirects to hosts off the
    public internet are refused unless ``allow_private_redirects``.

    Raises:
        DownloadError: the file could not be fetched whole within ``timeout`` seconds,
            was too large, was redirected where it may not go, or could not be
            written; nothing is left at ``dest`` or beside it.

    """
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    part = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        try:
            # Within the deadline from outside: a timeout scope here would race the
            # transfer's own aiohttp timers, which can swallow its cancel.
            written = await within(
                _fetch(
                    transport,
                    url,
                    part,
                    deadline=deadline,
                    retry=retry,
                    refresh=refresh,
                    on_progress=on_progress,
                    max_bytes=max_bytes,
                    allow_private_redirects=allow_private_redirects,
                ),
                deadline,
            )
            if written is None:
                raise DownloadError(f"download not finished after {timeout:g} s") from (
                    TimeoutError()
                )
            await asyncio.to_thread(part.replace, dest)
        except OSError as exc:
            # The disk, not the network (those errors are DownloadErrors by now):
            # trying again would not help.
            raise DownloadError(f"download could not be written: {exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)  # a partial file never stays behind, even on cancel
        raise
    logger.info(
        "downloaded %d bytes to %s", written, dest, extra={"event": "downloaded", "path": str(dest)}
    )
    return dest


async def _fetch(
    transport: Transport,
    url: str,
    part: pathlib.Path,
    *,
    deadline: float | None,
    retry: RetryPolicy,
    refresh: Refresh,
    on_progress: OnProgress | None,
    max_bytes: int | None,
    allow_private_redirects: bool,
) -> int:
    """Fill ``part`` from ``url``, or from one fresh link if it expired; return its size."""
    # Opened here, not in a thread: a cancel must not leave a file created behind us.
    file = part.open("xb")
    try:
        transfer = Transfer(
            transport,
            file,
            on_progress,
            max_bytes=max_bytes,
            allow_private_redirects=allow_private_redirects,
        )

        async def fetch_from(link: str) -> None:
            while True:
                try:
                    await retrying(
                        functools.partial(transfer.attempt, link),
                        policy=retry,
                        retryable=transfer.retryable,
                        deadline=deadline,
                        operation="download",
                        listener=transport.listener,
                    )
                except DownloadError as error:
                    # The mark only rises, so this ends even with a host that restarts.
                    if not (transfer.retryable(error) and transfer.advanced):
                        raise
                else:
                    return

        try:
            await fetch_from(url)
        except DownloadError as expired:
            if expired.http_status not in _EXPIRED:
                raise
            try:
                fresh = await refresh(deadline)
            except Sora2ProError as refused:
                expired.add_note(f"no fresh link either: {refused}")
                raise expired from None
            # The bytes already written stay: the fresh link serves the same file.
            await fetch_from(fresh)
    finally:
        # Not in a thread: a pending cancel can drop a thread's job before it runs,
        # which would leak the file. Closing flushes one buffer at most.
        file.close()
    return transfer.written


async def download_task(
    ctx: Context,
    task: Task,
    path: pathlib.Path,
    *,
    index: int,
    watermark: bool,
    timeout: float | None,
    max_bytes: int | None,
    allow_private_redirects: bool,
    on_progress: OnProgress | None,
) -> pathlib.Path:
    """Save result video ``index`` of a finished ``task`` to ``path``; see ``download()``.

    Raises:
        InvalidInputError: the task has no such result video.
        DownloadError: the video could not be fetched whole or written.

    """
    urls = task.watermark_urls if watermark else task.result_urls
    if task.state is not TaskState.SUCCESS or not urls:
        kind = "watermarked video" if watermark else "result video"
        raise InvalidInputError("task", f"task {task.id} has no {kind} (state {task.state.value})")
    if not 0 <= index < len(urls):
        raise InvalidInputError(
            "index", f"task {task.id} has {len(urls)} video(s), not {index + 1}"
        )
    url, task_id = urls[index], task.id

    async def refresh(deadline: float | None) -> str:
        fresh = await retrying(
            lambda: ctx.api.download_url(url, deadline),
            policy=ctx.retry,
            retryable=is_transient,
            deadline=deadline,
            operation="download-url",
            listener=ctx.transport.listener,
        )
        logger.info("result URL of task %s expired; using a fresh link", task_id)
        return fresh

    return await download_to(
        ctx.transport,
        url,
        path,
        timeout=timeout,
        retry=ctx.retry,
        refresh=refresh,
        max_bytes=max_bytes,
        allow_private_redirects=allow_private_redirects,
        on_progress=on_progress,
    )

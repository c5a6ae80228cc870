"""Fetch a result video to a file, atomically: all of it, or nothing at the destination."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import secrets
import typing

import aiohttp

from sora2pro._errors import DownloadError
from sora2pro._http import USER_AGENT

if typing.TYPE_CHECKING:
    from sora2pro._http import Transport

__all__ = ["OnProgress", "download_to"]

logger = logging.getLogger("sora2pro")

_CHUNK = 1 << 20


#: Called with (bytes written, total bytes or None) as a download goes.
OnProgress = typing.Callable[[int, int | None], None]


async def download_to(
    transport: Transport,
    url: str,
    dest: pathlib.Path,
    *,
    timeout: float | None,
    on_progress: OnProgress | None = None,
) -> pathlib.Path:
    """Stream ``url`` into a temporary file beside ``dest``, then rename it into place.

    The request carries no API key: result URLs point at a file host, not the API.

    Raises:
        DownloadError: the file could not be fetched whole within ``timeout`` seconds,
            or arrived shorter or longer than its Content-Length; nothing is left at
            ``dest`` or beside it.

    """
    part = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        async with asyncio.timeout(timeout):
            written = await _fetch(transport, url, part, on_progress)
        await asyncio.to_thread(part.replace, dest)
    except TimeoutError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"download not finished after {timeout:g} s") from exc
    except BaseException:
        part.unlink(missing_ok=True)  # a partial file never stays behind, even on cancel
        raise
    logger.info(
        "downloaded %d bytes to %s", written, dest, extra={"event": "downloaded", "path": str(dest)}
    )
    return dest


async def _fetch(
    transport: Transport, url: str, part: pathlib.Path, on_progress: OnProgress | None
) -> int:
    try:
        async with transport.session().get(
            url,
            headers={"User-Agent": USER_AGENT},
            timeout=transport.client_timeout(None, whole=False),
        ) as response:
            if response.status != 200:
                raise DownloadError(
                    f"download answered HTTP {response.status}", http_status=response.status
                )
            expected = response.content_length
            written = await _write_stream(response, part, expected, on_progress)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DownloadError(f"download failed: {exc!r}") from exc
    if expected is not None and written != expected:
        raise DownloadError(f"download ended after {written} of {expected} bytes", http_status=200)
    return written


async def _write_stream(
    response: aiohttp.ClientResponse,
    part: pathlib.Path,
    total: int | None,
    on_progress: OnProgress | None,
) -> int:
    written = 0
    # Opened here, not in a thread: a cancel must not leave a file created behind us.
    file = part.open("xb")
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            await asyncio.to_thread(file.write, chunk)
            written += len(chunk)
            if on_progress is not None:
                on_progress(written, total)
    finally:
        await asyncio.to_thread(file.close)
    return written

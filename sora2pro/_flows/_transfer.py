"""One file transfer: range requests that resume, checked sizes, checked redirects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import typing

import aiohttp

from sora2pro._errors import DownloadError, Sora2ProError
from sora2pro._flows._redirects import MAX_REDIRECTS, REDIRECTS, redirect_target
from sora2pro._transport._transport import USER_AGENT, describe_failure, parse_retry_after

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import yarl

    from sora2pro._transport._transport import Transport

__all__ = ["OnProgress", "Transfer"]

logger = logging.getLogger("sora2pro")

_CHUNK = 1 << 20

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


#: Called with (bytes written, total bytes or None) as a download goes.
OnProgress = typing.Callable[[int, int | None], None]


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """The first byte and the total size (None if unknown) a ``Content-Range`` names."""
    match = _CONTENT_RANGE.fullmatch(value or "")
    if match is None or int(match[2]) < int(match[1]):
        return None
    return int(match[1]), None if match[3] == "*" else int(match[3])


def _retryable(error: Sora2ProError) -> bool:
    """Whether another request may get further than the one that raised ``error``."""
    if not isinstance(error, DownloadError):
        return False
    status = error.http_status
    # No answer, an answer cut short or out of place (a 2xx, a 416), or a busy host.
    return status is None or status in {200, 206, 416, 429} or status >= 500


class Transfer:
    """A download under way: the part file and how many of its bytes are good."""

    def __init__(
        self,
        transport: Transport,
        file: typing.BinaryIO,
        on_progress: OnProgress | None,
        *,
        max_bytes: int | None,
        allow_private_redirects: bool,
    ) -> None:
        self._transport = transport
        self._file = file
        self._on_progress = on_progress
        self._max_bytes = max_bytes
        self._allow_private = allow_private_redirects
        self.written = 0
        self.total: int | None = None
        # Set once the file proved larger than max_bytes: no try can fix that.
        self._too_large = False
        # The most bytes ever held, and that mark when the latest try began.
        self._reached = 0
        self._reached_before = 0

    @property
    def advanced(self) -> bool:
        """Whether the latest try took the file further than any try before it."""
        return self._reached > self._reached_before

    def retryable(self, error: Sora2ProError) -> bool:
        """Whether another request may get further than the one that raised ``error``."""
        return not self._too_large and _retryable(error)

    async def attempt(self, url: str) -> None:
        """Ask for the bytes not written yet; return once the file is whole.

        Raises:
            DownloadError: the answer was refused, cut short, out of place, larger
                than ``max_bytes``, or redirected where it may not go.
            OSError: the part file could not be written.

        """
        offset = self.written
        self._reached_before = self._reached
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            async with self._answer(url, headers) as response:
                await self._start(response, offset)
                self._check_announced(response)
                async for chunk in response.content.iter_chunked(_CHUNK):
                    if self._max_bytes is not None and self.written + len(chunk) > self._max_bytes:
                        self._too_large = True
                        raise DownloadError(
                            f"download stopped: the file passed max_bytes={self._max_bytes}",
                            http_status=response.status,
                        )
                    await asyncio.to_thread(self._file.write, chunk)
                    self.written += len(chunk)
                    self._reached = max(self._reached, self.written)
                    if self._on_progress is not None:
                        self._on_progress(self.written, self.total)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DownloadError(
                f"download broken after {self.written} bytes: {describe_failure(exc)}"
            ) from exc
        if self.total is not None and self.written != self.total:
            raise DownloadError(
                f"download ended after {self.written} of {self.total} bytes",
                http_status=response.status,
            )

    @contextlib.asynccontextmanager
    async def _answer(
        self, url: str, headers: dict[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The answer at the end of ``url``'s redirects, each checked before it is followed.

        The same headers go to every hop: a User-Agent and the Range, never the key.
        """
        link: str | yarl.URL = url
        for _ in range(MAX_REDIRECTS + 1):
            async with self._transport.fetch(link, headers) as response:
                if response.status not in REDIRECTS:
                    yield response
                    return
                link = await redirect_target(response, allow_private=self._allow_private)
        raise DownloadError(
            f"download redirected more than {MAX_REDIRECTS} times", http_status=response.status
        )

    def _check_announced(self, response: aiohttp.ClientResponse) -> None:
        """Refuse, before reading a byte, a file the host says is larger than the cap."""
        size = self.total
        if size is None and response.content_length is not None:
            size = self.written + response.content_length
        if self._max_bytes is not None and size is not None and size > self._max_bytes:
            self._too_large = True
            raise DownloadError(
                f"download refused: the file has {size} bytes, more than "
                f"max_bytes={self._max_bytes}",
                http_status=response.status,
            )

    async def _start(self, response: aiohttp.ClientResponse, offset: int) -> None:
        """Check where the answer's body belongs; start over if it is from byte 0."""
        status = response.status
        if status == 200:
            if offset:
                logger.info(
                    "the file host ignored the range; downloading from the start",
                    extra={"event": "download_restarted", "offset": offset},
                )
                await self._restart()
            self.total = response.content_length
            return
        if status == 206:
            header = response.headers.get("Content-Range")
            place = _content_range(header)
            if place is not None and place[0] == offset:
                total = self.total if place[1] is None else place[1]
                if self.total in (None, total):
                    self.total = total
                    return
            await self._restart()
            raise DownloadError(
                f"download answered a range that does not continue from byte {offset} "
                f"(Content-Range: {header}); starting over",
                http_status=status,
            )
        if status == 416:
            await self._restart()
            raise DownloadError(
                f"download refused the range from byte {offset}; starting over",
                http_status=status,
            )
        raise DownloadError(
            f"download answered HTTP {status}",
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    async def _restart(self) -> None:
        """Drop what was written, so the next bytes are the file's first."""
        self.written = 0
        self.total = None
        await asyncio.to_thread(self._file.seek, 0)
        await asyncio.to_thread(self._file.truncate)

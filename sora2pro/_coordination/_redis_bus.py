"""The confirmed ends of tasks, told to every process of an account through a Redis stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing

import redis.asyncio
import redis.exceptions

from sora2pro._coordination._bus import LocalBus
from sora2pro._coordination._outage import Outage

if typing.TYPE_CHECKING:
    from sora2pro._coordination._redis_pacer import Tasks

__all__ = ["RedisBus"]

#: What XREAD answers: by stream, its entries (id, fields); empty when none came in time.
_Answer = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]

logger = logging.getLogger("sora2pro")

#: Seconds close() waits for a blocking read beyond its own block.
_MARGIN = 1.0


class RedisBus:
    """A :class:`~sora2pro._coordination._protocols.CallbackBus` on a Redis stream.

    :meth:`publish` delivers in this process at once and appends the entry to the
    stream (``XADD`` capped at about :data:`KEPT` entries) in the background. One
    reader per process, started on first use, reads the stream from its start
    (the entries kept serve waits that begin late) with ``XREAD BLOCK``; after a
    failure it tries again from the last id it read, so a reconnect loses nothing
    the stream still holds. A stream, not pub/sub: what is sent while a reader is
    away waits for it.
    """

    #: Entries the stream keeps, about (``MAXLEN ~``).
    KEPT = 1000
    #: Milliseconds one XREAD blocks: well under the client's answer timeout.
    BLOCK = 1000
    #: Seconds between two tries to read while Redis does not answer (first, last).
    RETRY = (0.05, 1.0)
    #: Other processes read this stream: callbacks nothing here waits for are relayed.
    relays = True

    def __init__(self, client: redis.asyncio.Redis, key: str, tasks: Tasks) -> None:
        self._client = client
        self._key = key
        self._tasks = tasks
        self._local = LocalBus()
        self._last: bytes | str = "0-0"
        self._reader: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._outage = Outage()

    def publish(self, task_id: str, entry: str) -> None:
        """Tell every process of the namespace that ``task_id`` ended as ``entry`` says."""
        self._start()
        self._local.deliver(task_id, entry)
        self._tasks.spawn(
            self._client.xadd(
                self._key, {"task": task_id, "entry": entry}, maxlen=self.KEPT, approximate=True
            ),
            "publishing a confirmed callback on Redis",
        )

    def expect(self, task_id: str) -> asyncio.Future[str]:
        """A future that completes with the entry for ``task_id``, from any process."""
        self._start()
        return self._local.expect(task_id)

    async def close(self) -> None:
        """Stop reading the stream: at once, or once the read under way returns.

        The Redis client may swallow a cancel that comes during a read (a retry
        takes it for a dropped connection): the reader then stops at the end of its
        blocking read, a second at most, and close() waits no longer than that.
        """
        self._stopping.set()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait({self._reader}, timeout=self.BLOCK / 1000 + _MARGIN)

    def _start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        pause = self.RETRY[0]
        while not self._stopping.is_set():
            try:
                answer = typing.cast(
                    "_Answer",
                    await self._client.xread({self._key: self._last}, count=100, block=self.BLOCK),
                )
            except redis.exceptions.RedisError as exc:
                self._outage.failed("reading confirmed callbacks from Redis", exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._stopping.wait()
                pause = min(pause * 2, self.RETRY[1])
                continue
            self._outage.worked("reading confirmed callbacks from Redis")
            pause = self.RETRY[0]
            for _stream, entries in answer:
                for entry_id, fields in entries:
                    self._last = entry_id
                    self._take(fields)

    def _take(self, fields: dict[bytes, bytes]) -> None:
        task_id, entry = fields.get(b"task"), fields.get(b"entry")
        if task_id is None or entry is None:
            logger.warning("an entry of the callback stream lacks its fields; skipped")
            return
        self._local.deliver(task_id.decode("utf-8", "replace"), entry.decode("utf-8", "replace"))

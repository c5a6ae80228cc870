"""A batch's journal: what was sent and what came back, so a rerun pays nothing twice.

Stdlib ``sqlite3`` on one dedicated thread: writes stay in order, never block the
event loop, and finish even when the caller is cancelled (a Ctrl-C leaves the file
consistent). The journal holds requests, task ids and outcomes; never the API key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import math
import os
import pathlib
import sqlite3
import sys
import time
import typing

from sora2pro._coordination._protocols import Elsewhere, Entry, Status
from sora2pro._errors import Sora2ProError

if sys.platform != "win32":
    import fcntl

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Journal", "request_digest"]

T = typing.TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    digest TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    task_id TEXT,
    error TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (digest, occurrence)
)
"""


def request_digest(body: dict[str, object]) -> str:
    """A content hash of a create body, so that an edited item is noticed."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Journal:
    """The items of one batch in a SQLite file.

    An item is keyed by its content hash and its occurrence (how many identical
    requests came before it in the run), not by its position: deleting or moving a
    line of a prompt file shifts no other item, so nothing is paid for twice. The
    latest position is kept in ``idx`` for people reading the file.
    """

    def __init__(
        self, connection: sqlite3.Connection, executor: concurrent.futures.Executor, lock: int
    ) -> None:
        self._connection = connection
        self._executor = executor
        self._lock = lock

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the journal at ``path``, for this run alone.

        Raises:
            Sora2ProError: another run holds the journal (two runs would both pay).

        """
        lock = _lock(pathlib.Path(f"{os.fspath(path)}.lock"))
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sora2pro-journal")

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(
                pathlib.Path(path), isolation_level=None, check_same_thread=False
            )
            # WAL survives a crash of the process; each write is its own transaction.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            return connection

        try:
            connection = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            os.close(lock)
            raise
        return cls(connection, executor, lock)

    async def _run(self, work: Callable[[], T]) -> T:
        # Shielded: a cancelled caller must not leave a write half-known.
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        return await asyncio.shield(future)

    def end_soon(self, key: tuple[str, int]) -> concurrent.futures.Future[None]:
        """Nothing to mark: no other run holds an item of this file while this one runs."""
        del key
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        done.set_result(None)
        return done

    async def close(self) -> None:
        """Finish pending writes, close the file, and let another run have it."""
        try:
            await self._run(self._connection.close)
            self._executor.shutdown(wait=True)
        finally:
            os.close(self._lock)  # closing the descriptor releases the lock

    @property
    def recheck(self) -> float:
        """Never needed: no other run holds an item of this file while this one runs."""
        return math.inf

    async def claim(
        self, digest: str, occurrence: int, *, again: bool = False
    ) -> Entry | Elsewhere | None:
        """The row of this item, if an earlier run wrote one (the run holds the whole file)."""
        del again  # no other run holds anything here

        def read() -> tuple[str, str | None] | None:
            row = self._connection.execute(
                "SELECT status, task_id FROM items WHERE digest = ? AND occurrence = ?",
                (digest, occurrence),
            ).fetchone()
            return None if row is None else (row[0], row[1])

        row = await self._run(read)
        return None if row is None else Entry(Status(row[0]), row[1])

    def record_soon(
        self,
        key: tuple[str, int],
        index: int,
        request: dict[str, object],
        status: Status,
        *,
        task_id: str | None = None,
        error: str | None = None,
    ) -> concurrent.futures.Future[None]:
        """Queue a write of an item's state; a known task id is never overwritten by None.

        It is queued at once, so a task id can be kept the instant it arrives; await
        the returned future to know it landed. Writes run in order on the journal's
        thread and all finish before :meth:`close`.
        """
        digest, occurrence = key

        def write() -> None:
            self._connection.execute(
                """
                INSERT INTO items
                    (digest, occurrence, idx, request, status, task_id, error, updated)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (digest, occurrence) DO UPDATE SET
                    idx = excluded.idx,
                    status = excluded.status,
                    task_id = COALESCE(excluded.task_id, items.task_id),
                    error = excluded.error,
                    updated = excluded.updated
                """,
                (
                    digest,
                    occurrence,
                    index,
                    json.dumps(request),
                    status.value,
                    task_id,
                    error,
                    time.time(),
                ),
            )

        return self._executor.submit(write)


def _lock(path: pathlib.Path) -> int:
    """Hold ``path`` exclusively for this process, or refuse at once."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if sys.platform != "win32":
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise Sora2ProError(
                f"the journal {path.with_suffix('')} is in use by another run; running "
                "both at once would pay twice"
            ) from None
    return descriptor

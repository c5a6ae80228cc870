"""A batch's journal: what was sent and what came back, so a rerun pays nothing twice.

Stdlib ``sqlite3`` on one dedicated thread: writes stay in order, never block the
event loop, and finish even when the caller is cancelled (a Ctrl-C leaves the file
consistent). The journal holds requests, task ids and outcomes; never the API key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import hashlib
import json
import pathlib
import sqlite3
import time
import typing

import attrs

if typing.TYPE_CHECKING:
    import os
    from collections.abc import Callable

__all__ = ["Entry", "Journal", "Status", "request_digest"]

T = typing.TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    idx INTEGER NOT NULL,
    digest TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    task_id TEXT,
    error TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (idx, digest)
)
"""


class Status(enum.StrEnum):
    """Where an item stands, as far as the journal knows."""

    SENDING = "sending"  # the create is about to go out, or went out unanswered
    UNCERTAIN = "uncertain"  # the create's answer was lost
    REFUSED = "refused"  # the create surely did not run: safe to send again
    SUBMITTED = "submitted"  # the server gave a task id
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.frozen
class Entry:
    """One item's row."""

    status: Status
    task_id: str | None


def request_digest(body: dict[str, object]) -> str:
    """A content hash of a create body, so that an edited item is noticed."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Journal:
    """The items of one batch in a SQLite file, keyed by (index, content hash)."""

    def __init__(self, connection: sqlite3.Connection, executor: concurrent.futures.Executor):
        self._connection = connection
        self._executor = executor

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the journal at ``path``."""
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
            raise
        return cls(connection, executor)

    async def _run(self, work: Callable[[], T]) -> T:
        # Shielded: a cancelled caller must not leave a write half-known.
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Finish pending writes and close the file."""
        await self._run(self._connection.close)
        self._executor.shutdown(wait=True)

    async def find(self, index: int, digest: str) -> Entry | None:
        """The row of item ``index`` with this content, if an earlier run wrote one."""

        def read() -> tuple[str, str | None] | None:
            row = self._connection.execute(
                "SELECT status, task_id FROM items WHERE idx = ? AND digest = ?", (index, digest)
            ).fetchone()
            return None if row is None else (row[0], row[1])

        row = await self._run(read)
        return None if row is None else Entry(Status(row[0]), row[1])

    async def record(
        self,
        index: int,
        digest: str,
        request: dict[str, object],
        status: Status,
        *,
        task_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Write item ``index``'s state; a known task id is never overwritten by None."""

        def write() -> None:
            self._connection.execute(
                """
                INSERT INTO items (idx, digest, request, status, task_id, error, updated)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (idx, digest) DO UPDATE SET
                    status = excluded.status,
                    task_id = COALESCE(excluded.task_id, items.task_id),
                    error = excluded.error,
                    updated = excluded.updated
                """,
                (index, digest, json.dumps(request), status.value, task_id, error, time.time()),
            )

        await self._run(write)

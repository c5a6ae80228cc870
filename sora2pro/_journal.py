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
    """The items of one batch in a SQLite file.

    An item is keyed by its content hash and its occurrence (how many identical
    requests came before it in the run), not by its position: deleting or moving a
    line of a prompt file shifts no other item, so nothing is paid for twice. The
    latest position is kept in ``idx`` for people reading the file.
    """

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

    async def find(self, digest: str, occurrence: int) -> Entry | None:
        """The row of this item, if an earlier run wrote one."""

        def read() -> tuple[str, str | None] | None:
            row = self._connection.execute(
                "SELECT status, task_id FROM items WHERE digest = ? AND occurrence = ?",
                (digest, occurrence),
            ).fetchone()
            return None if row is None else (row[0], row[1])

        row = await self._run(read)
        return None if row is None else Entry(Status(row[0]), row[1])

    async def record(
        self,
        key: tuple[str, int],
        index: int,
        request: dict[str, object],
        status: Status,
        *,
        task_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Write an item's state; a known task id is never overwritten by None."""
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

        await self._run(write)

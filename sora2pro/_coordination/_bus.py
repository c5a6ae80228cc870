"""The confirmed ends of tasks among the clients of one process."""

from __future__ import annotations

import asyncio

__all__ = ["LocalBus"]


class LocalBus:
    """A :class:`~sora2pro._coordination._protocols.CallbackBus` within one process.

    Clients sharing a coordination end each other's waits with it; the Redis bus
    delivers through one, for the entries it reads from the stream.
    """

    #: Entries kept for waits that begin after them, the most recent ones.
    KEPT = 1000
    #: Nothing outside this process reads the bus: a callback no wait took stays a hint.
    relays = False

    def __init__(self) -> None:
        self._recent: dict[str, str] = {}
        self._waiters: dict[str, list[asyncio.Future[str]]] = {}

    def publish(self, task_id: str, entry: str) -> None:
        """Tell the clients of this process that ``task_id`` ended as ``entry`` says."""
        self.deliver(task_id, entry)

    def deliver(self, task_id: str, entry: str) -> None:
        """Keep ``entry`` and end the waits for ``task_id`` with it."""
        self._recent.pop(task_id, None)
        self._recent[task_id] = entry
        while len(self._recent) > self.KEPT:
            del self._recent[next(iter(self._recent))]
        for future in self._waiters.pop(task_id, []):
            if not future.done():
                future.set_result(entry)

    def expect(self, task_id: str) -> asyncio.Future[str]:
        """A future that completes with the entry for ``task_id`` (at once if it came)."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        known = self._recent.get(task_id)
        if known is not None:
            future.set_result(known)
        else:
            self._waiters.setdefault(task_id, []).append(future)
            future.add_done_callback(lambda done: self._forget(task_id, done))
        return future

    def _forget(self, task_id: str, future: asyncio.Future[str]) -> None:
        waiters = self._waiters.get(task_id, [])
        if future in waiters:
            waiters.remove(future)
        if not waiters:
            self._waiters.pop(task_id, None)

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
    #: Task ids waited on that may pile up before the ended waits are first swept out.
    SWEPT = 1000

    def __init__(self) -> None:
        self._recent: dict[str, str] = {}
        self._waiters: dict[str, list[asyncio.Future[str]]] = {}
        self._sweep_at = self.SWEPT

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
        """A future that completes with the entry for ``task_id`` (at once if it came).

        A wait that ends cancels its future; such futures are swept out once the
        task ids waited on have doubled since the last sweep, so that a wait costs
        no callback of the bus's own (thousands are pending at once).
        """
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        known = self._recent.get(task_id)
        if known is not None:
            future.set_result(known)
            return future
        if len(self._waiters) >= self._sweep_at:
            self._sweep()
        self._waiters.setdefault(task_id, []).append(future)
        return future

    def _sweep(self) -> None:
        """Forget the futures of waits that ended."""
        for task_id, futures in list(self._waiters.items()):
            futures[:] = [future for future in futures if not future.done()]
            if not futures:
                del self._waiters[task_id]
        self._sweep_at = max(self.SWEPT, 2 * len(self._waiters))

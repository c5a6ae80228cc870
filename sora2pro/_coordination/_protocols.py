"""What a coordination backend provides to a client: the seam for shared state."""

from __future__ import annotations

import enum
import typing

import attrs

if typing.TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    import os
    from collections.abc import Mapping, Sequence

    from sora2pro._model._requests import Request

__all__ = [
    "CallbackBus",
    "Coordination",
    "DurationLog",
    "Elsewhere",
    "Entry",
    "Idempotency",
    "KeyEntry",
    "Ledger",
    "Pacer",
    "SharedJournal",
    "Status",
    "TaskRegistry",
]


class Status(enum.StrEnum):
    """Where an item stands, as far as the journal knows."""

    SENDING = "sending"  # the create is about to go out, or went out unanswered
    UNCERTAIN = "uncertain"  # the create's answer was lost
    REFUSED = "refused"  # the create surely did not run: safe to send again
    SUBMITTED = "submitted"  # the server gave a task id
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Elsewhere(enum.Enum):
    """An item of a shared journal that another live run of the batch holds."""

    RUNNING = "running"  # under way there: look again later, it may be left to us
    DONE = "done"  # it ended there, and that run yields it


@attrs.frozen
class Entry:
    """One item's row."""

    status: Status
    task_id: str | None


class Pacer(typing.Protocol):
    """Hands out the slots of one rate limit, the most overdue caller first."""

    async def acquire(self, urgency: float = 0.0) -> None:
        """Wait for a slot; ``urgency`` seconds overdue go first."""

    def sent(self) -> None:
        """The request of the slot just handed out leaves now (slots are spaced from it).

        Called once per slot, when the request is written (or given up); until
        then a pacer may hand out no further slot.
        """

    def hold(self, seconds: float) -> None:
        """Hand out no slot for ``seconds`` (after a 429): every caller pauses."""


class TaskRegistry(typing.Protocol):
    """The tasks submitted and not yet seen to end: a task id is never lost."""

    def add(self, task_id: str, request: Request) -> None:
        """Keep a task the server just created."""

    def finish(self, task_id: str) -> Request | None:
        """Forget a task seen to end; its request, if it was kept."""

    def get(self, task_id: str) -> Request | None:
        """The request of a kept task, or None."""

    def pending(self) -> Mapping[str, Request]:
        """A read-only view of the tasks kept, by id."""

    async def adopt(self) -> list[str]:
        """Take over the tasks of processes that died (their lease ended); their ids.

        They are kept here from then on. A registry of one process has none.
        """


class DurationLog(typing.Protocol):
    """How long finished tasks ran, by request shape: what the poll schedule learns from."""

    def record(self, shape: str, seconds: float) -> None:
        """Note that a task of ``shape`` ran ``seconds`` from its submit to its end."""

    def recent(self, shape: str) -> Sequence[float]:
        """The running times last noted for ``shape``, oldest first (a bounded number)."""


class Ledger(typing.Protocol):
    """A batch's journal: each item's state, so a rerun pays nothing twice.

    A SQLite journal belongs to one run at a time; a shared one (on Redis) lets
    several runs of a batch split its items, each taken by one run.
    """

    @property
    def recheck(self) -> float:
        """Seconds between two looks at an item another live run holds."""

    async def claim(
        self, digest: str, occurrence: int, *, again: bool = False
    ) -> Entry | Elsewhere | None:
        """Take the item for this run: the row an earlier run wrote (None if none).

        Or, in a shared journal, :class:`Elsewhere` when another live run holds it;
        ``again`` (a second look at such an item) takes it only if that run died
        before the item ended.
        """

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
        """Queue a write of an item's state, at once; the future ends when it landed."""

    def end_soon(self, key: tuple[str, int]) -> concurrent.futures.Future[None]:
        """Queue the mark that this run ended the item (its outcome handed over, any outcome).

        Other live runs of a shared journal then leave it; a journal of one run
        has nothing to mark.
        """

    async def close(self) -> None:
        """Finish pending writes and let another run have the journal."""


@attrs.frozen
class KeyEntry:
    """What an idempotency key holds: the request it was first given with, and its outcome.

    Attributes:
        fingerprint: The hash of the request the key was first given with.
        task_id: The task its create made; None when that create's answer was lost
            (or, for another fingerprint, when that create is still on the wire).

    """

    fingerprint: str
    task_id: str | None


class Idempotency(typing.Protocol):
    """The idempotency keys of submits: one create per key, however many submits give it.

    A submit with a key claims it; the one that holds the key sends the create and
    then settles the key with its outcome, or releases it when the create surely
    did not run. A backend shared by processes does each step atomically (a Lua
    script, ``SET NX``), keeps a settled key for its time to live, and turns the
    claim of a holder that died into a lost answer after a lease of its own.
    """

    async def claim(self, key: str, fingerprint: str) -> KeyEntry | None:
        """Take ``key`` for a create of the request with ``fingerprint``.

        Returns None when the caller now holds the key: it must send the create and
        then :meth:`settle` or :meth:`release` it. While another holds the key for
        the same fingerprint, waits for its outcome (a cancel of this wait leaves
        the holder alone). Otherwise returns what the key holds: the caller's own
        fingerprint with a task id (or None: the answer was lost), or another
        fingerprint (a key given with another request) at once, even in flight.
        """

    async def settle(self, key: str, task_id: str | None) -> None:
        """Keep the outcome of a held key's create: its task id, or None when lost."""

    async def release(self, key: str) -> None:
        """Let a held key go: its create surely did not run, another may send one."""


class CallbackBus(typing.Protocol):
    """The confirmed ends of tasks, told to every client of the coordination.

    A callback is confirmed by one status fetch, in the process that received it;
    that process publishes the task it fetched, and a wait anywhere else ends on
    the entry without a request of its own. Never a raw callback body: only what
    the server confirmed. An entry is text the bus does not read (the flows write
    a task's wire form in it).
    """

    @property
    def relays(self) -> bool:
        """Whether other processes read this bus.

        Then a callback nothing here waits for is confirmed and published all the
        same, since a wait elsewhere may need it.
        """

    def publish(self, task_id: str, entry: str) -> None:
        """Tell every client that ``task_id`` ended as ``entry`` says (sent in the background)."""

    def expect(self, task_id: str) -> asyncio.Future[str]:
        """A future that completes with the entry for ``task_id`` (at once if it came)."""


@typing.runtime_checkable
class SharedJournal(typing.Protocol):
    """A journal several processes may run one batch with at once (``batch(journal=...)``)."""

    async def open_run(self) -> Ledger:
        """Start a run of a batch on the journal."""


@typing.runtime_checkable
class Coordination(typing.Protocol):
    """Where a client keeps the state its flows share (``Client(coordination=...)``).

    One instance may serve several clients: they then share its limits, its
    registry of pending tasks, its journals, and its idempotency keys.
    """

    def bind(self, account: str) -> None:
        """Told the account of a client that uses it, before anything else is asked.

        ``account`` is a hash of the client's API key (never the key): a backend
        shared by several processes keeps each account's state apart by it.
        """

    def pacer(self, name: str, per_second: float) -> Pacer:
        """The pacer of the limit ``name`` ("createTask", "recordInfo")."""

    def registry(self) -> TaskRegistry:
        """The pending tasks."""

    def durations(self) -> DurationLog:
        """The running times of finished tasks."""

    async def open_ledger(self, path: str | os.PathLike[str]) -> Ledger:
        """Open the journal at ``path`` for this run alone."""

    def idempotency(self) -> Idempotency:
        """The idempotency keys of submits."""

    def callback_bus(self) -> CallbackBus:
        """The confirmed ends of tasks, shared with the other clients."""

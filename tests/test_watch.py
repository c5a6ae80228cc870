"""client.watch(): a wait as an async iterator of the task's changes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import typing

import pytest

import sora2pro
from sora2pro import CallbackReceiver, PollPolicy, Task, TaskState

from .conftest import FAST_LIMITS, FAST_RETRY, until

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sora2pro.testing import Emulator


def status_requests(emulator: Emulator, task_id: str) -> int:
    return sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


def waits() -> list[asyncio.Task[typing.Any]]:
    """The waits running in the loop (a watch's runs as a task of its own)."""
    return [
        t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "until_done"
    ]


async def follow(watching: AsyncIterator[Task], seen: list[Task]) -> None:
    """Take each snapshot of ``watching`` into ``seen``, until it ends or raises."""
    async for task in watching:
        seen.append(task)  # noqa: PERF401  # kept when the iteration raises


async def test_watch_yields_each_change_and_ends_after_success(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Each snapshot differs from the one before; the last one succeeded and left pending."""
    task_id = await client.submit("a dog")
    seen = [task async for task in client.watch(task_id)]
    pairs = [(task.state, task.progress) for task in seen]
    assert all(a != b for a, b in itertools.pairwise(pairs))
    assert TaskState.SUCCESS is seen[-1].state
    assert all(not task.done for task in seen[:-1])
    assert task_id not in client.pending
    assert [] == waits()


async def test_watch_yields_the_failed_snapshot_then_raises(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A failed task is yielded, then TaskFailedError ends the iteration."""
    emulator.fail_rate = 1.0
    task_id = await client.submit("a dog")
    seen: list[Task] = []
    with pytest.raises(sora2pro.TaskFailedError) as caught:
        await follow(client.watch(task_id), seen)
    assert TaskState.FAIL is seen[-1].state
    assert seen[-1] == caught.value.task
    assert task_id not in client.pending


async def test_watch_has_the_deadline_of_wait(client: sora2pro.Client, emulator: Emulator) -> None:
    """A task that never ends raises WaitTimeoutError at the watch's timeout; it stays pending."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    seen: list[Task] = []
    with pytest.raises(sora2pro.WaitTimeoutError) as caught:
        await follow(client.watch(task_id, timeout=0.3), seen)
    assert task_id == caught.value.task_id
    assert [seen[-1]] == [caught.value.last]
    assert task_id in client.pending


@pytest.mark.parametrize("close", ["break", "aclose"])
async def test_leaving_a_watch_ends_its_wait(
    client: sora2pro.Client, emulator: Emulator, close: str
) -> None:
    """Leaving the loop or aclose() cancels the wait behind the watch; the task stays pending."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    if close == "break":
        async for _ in client.watch(task_id):
            running = waits()
            break
    else:
        async with contextlib.aclosing(client.watch(task_id)) as watching:
            await anext(watching)
            running = waits()
    assert 1 == len(running)
    await until(lambda: not waits())  # a plain break is closed by the loop, soon after
    assert running[0].cancelled()
    assert task_id in client.pending


async def test_cancelling_a_watching_task_leaves_nothing_running(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A task iterating a watch, cancelled while it waits for the next change, ends its wait."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    first = asyncio.Event()

    async def follow() -> None:
        async for _ in client.watch(task_id):
            first.set()

    following = asyncio.create_task(follow())
    await first.wait()
    following.cancel()
    with pytest.raises(asyncio.CancelledError):
        await following
    assert [] == waits()


async def test_a_watch_ends_on_the_callback(emulator: Emulator) -> None:
    """With a receiver, the callback ends a watch as it ends a wait: one status request."""
    async with (
        CallbackReceiver() as receiver,
        sora2pro.Client(
            emulator.api_key,
            base_url=emulator.url,
            poll=PollPolicy(min_interval=1.0, max_interval=5.0),
            retry=FAST_RETRY,
            rate_limits=FAST_LIMITS,
            callbacks=receiver,
        ) as client,
    ):
        task_id = await client.submit("a dog")
        seen = [task async for task in client.watch(task_id, timeout=30)]
    assert [TaskState.SUCCESS] == [task.state for task in seen]
    assert 1 == status_requests(emulator, task_id)


async def test_watch_starts_its_clock_at_the_first_step(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Nothing is sent until the iteration begins; the deadline counts from then."""
    task_id = await client.submit("a dog")
    watching = client.watch(task_id, timeout=5.0)
    await asyncio.sleep(0.1)
    assert 0 == status_requests(emulator, task_id)
    async with contextlib.aclosing(watching):
        assert TaskState.SUCCESS is [task async for task in watching][-1].state


@pytest.mark.parametrize(
    "kwargs",
    [{"task_id": ""}, {"task_id": "t", "timeout": -1}, {"task_id": "t", "poll": "fast"}],
)
async def test_bad_arguments_are_refused_before_iterating(
    client: sora2pro.Client, emulator: Emulator, kwargs: dict[str, typing.Any]
) -> None:
    """A bad task id, timeout or poll policy raises InvalidInputError at the call itself."""
    with pytest.raises(sora2pro.InvalidInputError):
        client.watch(**kwargs)
    assert [] == emulator.requests


async def test_a_watch_of_a_closed_client_is_refused(emulator: Emulator) -> None:
    """watch() on a closed client raises at once, like every other method."""
    client = sora2pro.Client(emulator.api_key, base_url=emulator.url)
    await client.close()
    with pytest.raises(sora2pro.Sora2ProError, match="closed"):
        client.watch("t")


async def test_watch_sends_the_same_state_changes_as_on_event(emulator: Emulator) -> None:
    """Each snapshot a watch yields is a StateChanged event of the client too."""
    heard: list[sora2pro.Event] = []
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=emulator.poll,
        rate_limits=FAST_LIMITS,
        on_event=heard.append,
    ) as client:
        task_id = await client.submit("a dog")
        seen = [task async for task in client.watch(task_id)]
    assert seen == [e.task for e in heard if isinstance(e, sora2pro.StateChanged)]

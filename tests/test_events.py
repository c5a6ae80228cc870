"""Client(on_event=...): typed events of every create, state change, retry, pause and callback."""

from __future__ import annotations

import asyncio
import json
import logging
import typing

import aiohttp
import pytest

import sora2pro
from sora2pro import (
    CallbackReceived,
    CallbackReceiver,
    RateLimited,
    Retried,
    StateChanged,
    Submitted,
    TaskState,
)
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_LIMITS, FAST_RETRY, fast_client, until

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable


def status_requests(emulator: Emulator, task_id: str) -> int:
    return sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


async def test_on_event_hears_the_create_each_change_each_retry_and_each_pause(
    emulator: Emulator,
) -> None:
    """generate() through a 429 and a 500 tells on_event of all of it, in order, untagged."""
    emulator.inject(Fault.rate_limited(retry_after=0.05), Endpoint.CREATE, times=1)
    emulator.inject(Fault.error(500), Endpoint.RECORD_INFO, times=1)
    seen: list[sora2pro.Event] = []
    async with fast_client(emulator, on_event=seen.append) as client:
        task = await client.generate("a dog")
    assert RateLimited(None, "createTask", 0.05) in seen
    retried = [(e.index, e.operation, e.attempt) for e in seen if isinstance(e, Retried)]
    assert [(None, "createTask", 1), (None, "recordInfo", 1)] == retried
    assert [Submitted(None, task.id)] == [e for e in seen if isinstance(e, Submitted)]
    changes = [e for e in seen if isinstance(e, StateChanged)]
    assert changes
    assert all(e.index is None and e.task.id == task.id for e in changes)
    assert task == changes[-1].task
    assert seen.index(Submitted(None, task.id)) < seen.index(changes[0])


async def test_batch_events_reach_the_client_tagged_with_their_item(emulator: Emulator) -> None:
    """A batch's creates and changes reach the client's on_event with their index, once each."""
    heard: list[sora2pro.Event] = []
    batch_heard: list[sora2pro.BatchEvent] = []
    async with fast_client(emulator, on_event=heard.append) as client:
        results = await client.gather(["a", "b"], on_event=batch_heard.append)
    assert all(r.ok for r in results)
    assert {Submitted(r.index, r.task_id) for r in results if r.task_id} == {
        e for e in heard if isinstance(e, Submitted)
    }
    assert 2 == sum(isinstance(e, Submitted) for e in heard)
    changes = [e for e in heard if isinstance(e, StateChanged)]
    assert {0, 1} == {e.index for e in changes}
    assert changes == [e for e in batch_heard if isinstance(e, StateChanged)]
    assert not [e for e in heard if isinstance(e, sora2pro.Finished)]


async def test_a_batch_items_retry_reaches_both_listeners_once(emulator: Emulator) -> None:
    """A retried status request of item 0 is one Retried event for the batch and the client."""
    emulator.inject(Fault.error(500), Endpoint.RECORD_INFO, times=1)
    heard: list[sora2pro.Event] = []
    batch_heard: list[sora2pro.BatchEvent] = []
    async with fast_client(emulator, on_event=heard.append) as client:
        await client.gather(["a"], on_event=batch_heard.append)
    retried = [(e.index, e.operation, e.attempt) for e in heard if isinstance(e, Retried)]
    assert [(0, "recordInfo", 1)] == retried
    assert [e for e in heard if isinstance(e, Retried)] == [
        e for e in batch_heard if isinstance(e, Retried)
    ]


async def test_a_batch_hands_over_each_task_id_before_waiting(emulator: Emulator) -> None:
    """Submitted (the batch's and the client's) comes before any status request of its task."""
    polled_at_event: list[int] = []

    def note(event: object) -> None:
        if isinstance(event, Submitted):
            polled_at_event.append(status_requests(emulator, event.task_id))

    async with fast_client(emulator, on_event=note) as client:
        results = await client.gather([f"p{n}" for n in range(4)], on_event=note)
    assert all(r.ok for r in results)
    assert [0] * 8 == polled_at_event


async def test_a_create_answered_after_its_caller_left_is_still_heard(emulator: Emulator) -> None:
    """A create whose generate() was cancelled on the wire still tells on_event its task id."""
    emulator.inject(Fault.delay(0.3), Endpoint.CREATE, times=1)
    seen: list[sora2pro.Event] = []
    async with fast_client(emulator, on_event=seen.append) as client:
        generating = asyncio.create_task(client.generate("a dog"))
        await until(lambda: emulator.count(Endpoint.CREATE) == 1)
        generating.cancel()
        with pytest.raises(asyncio.CancelledError):
            await generating
        (task_id,) = client.pending
    assert [Submitted(None, task_id)] == seen


async def test_callbacks_are_events_confirmed_or_not(emulator: Emulator) -> None:
    """A callback that holds up and a forged one each reach on_event, told apart."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    seen: list[sora2pro.Event] = []
    async with (
        CallbackReceiver() as receiver,
        sora2pro.Client(
            emulator.api_key,
            base_url=emulator.url,
            poll=sora2pro.PollPolicy(min_interval=0.2, max_interval=5.0),
            retry=FAST_RETRY,
            rate_limits=FAST_LIMITS,
            callbacks=receiver,
            on_event=seen.append,
        ) as client,
    ):
        task_id = await client.submit("a dog")
        waiting = asyncio.create_task(client.wait(task_id, timeout=10))
        forged = {"taskId": task_id, "model": "sora-2-pro-text-to-video", "state": "success"}
        assert receiver.url is not None
        async with aiohttp.ClientSession() as session:
            body = json.dumps({"code": 200, "data": forged}).encode()
            async with session.post(receiver.url, data=body) as answer:
                assert 200 == answer.status
        await until(lambda: any(isinstance(e, CallbackReceived) for e in seen))
        emulator.finish(task_id)
        task = await waiting
    callbacks = [
        (e.index, e.callback.task.id, e.confirmed) for e in seen if isinstance(e, CallbackReceived)
    ]
    assert [(None, task_id, False), (None, task_id, True)] == callbacks
    assert TaskState.SUCCESS is task.state


async def test_a_raising_on_event_is_logged_once_and_changes_nothing(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """on_event raising on every event: generate() still succeeds; one warning, then debug."""
    calls = 0

    def broken(_event: sora2pro.Event) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug in the metrics")

    caplog.set_level(logging.DEBUG, logger="sora2pro")
    async with fast_client(emulator, on_event=broken) as client:
        task = await client.generate("a dog")
    assert TaskState.SUCCESS is task.state
    failures = [r for r in caplog.records if getattr(r, "event", None) == "on_event_failed"]
    assert calls >= 2
    assert calls == len(failures)
    assert [logging.WARNING] + [logging.DEBUG] * (calls - 1) == [r.levelno for r in failures]
    assert failures[0].exc_info is not None
    assert "bug in the metrics" in str(failures[0].exc_info[1])


async def test_on_event_that_returns_a_coroutine_is_logged_not_awaited(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A lambda handing back a coroutine is a logged mistake, closed unawaited, never a crash."""
    awaited = False

    async def record(_event: sora2pro.Event) -> None:
        nonlocal awaited
        awaited = True

    def sneaky(event: sora2pro.Event) -> Awaitable[None]:
        return record(event)

    async with fast_client(emulator, on_event=sneaky) as client:
        await client.generate("a dog")
    assert not awaited
    failures = [r for r in caplog.records if getattr(r, "event", None) == "on_event_failed"]
    assert "plain function" in str(failures[0].exc_info[1])  # type: ignore[index]


class AsyncCall:
    """A callable object whose calls are coroutines."""

    async def __call__(self, event: sora2pro.Event) -> None:
        """Receive nothing, asynchronously."""


async def coroutine_function(event: sora2pro.Event) -> None:
    """A coroutine function."""


@pytest.mark.parametrize("on_event", [coroutine_function, AsyncCall(), "print", 42])
async def test_on_event_must_be_a_plain_function(emulator: Emulator, on_event: object) -> None:
    """A coroutine function, an async callable or no callable at all is refused at once."""
    with pytest.raises(sora2pro.InvalidInputError, match="on_event"):
        sora2pro.Client(emulator.api_key, base_url=emulator.url, on_event=on_event)  # type: ignore[arg-type]
    assert [] == emulator.requests

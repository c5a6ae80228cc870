"""However many times a create is cancelled on the wire, its task id is kept."""

from __future__ import annotations

import asyncio
import gc
import json
import typing

import pytest

import sora2pro
from sora2pro._wire import encode_task, make_converter
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import fast_client, until

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable


async def cancel_twice_on_the_wire(emulator: Emulator, call: Awaitable[object]) -> None:
    """Start ``call``, cancel it once its create reached the server, then cancel it again."""
    running = asyncio.ensure_future(call)
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    running.cancel()
    await asyncio.sleep(0.05)  # now inside the wait for the create's answer
    assert not running.done()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


@pytest.mark.parametrize("how", ["generate", "submit"])
async def test_a_task_made_after_two_cancels_is_still_pending(
    client: sora2pro.Client, emulator: Emulator, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelled twice while its create is on the wire, the task it made lands in pending."""
    emulator.inject(Fault.delay(0.4), Endpoint.CREATE)
    call = client.generate("a dog") if how == "generate" else client.submit("a dog")
    await cancel_twice_on_the_wire(emulator, call)
    await until(lambda: len(emulator.tasks) == 1 and bool(client.pending))
    (task_id,) = emulator.tasks
    assert [task_id] == list(client.pending)
    assert task_id in caplog.text


async def test_a_create_failing_after_two_cancels_leaves_no_unretrieved_exception(
    emulator: Emulator,
) -> None:
    """A create whose answer is lost after two cancels is logged, never left unretrieved."""
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    emulator.inject(Fault.delay(5.0), Endpoint.CREATE)
    async with fast_client(emulator, timeout=sora2pro.Timeouts(request=0.3)) as client:
        await cancel_twice_on_the_wire(emulator, client.generate("a dog"))
        await asyncio.sleep(0.5)  # past the create's own timeout
    gc.collect()
    await asyncio.sleep(0)
    assert [] == unhandled


async def test_a_batch_keeps_a_task_made_after_two_cancels_in_its_journal(
    client: sora2pro.Client, emulator: Emulator, tmp_path: typing.Any
) -> None:
    """A batch cancelled twice while a create is on the wire still journals the task it made."""
    emulator.inject(Fault.delay(0.4), Endpoint.CREATE)
    journal = tmp_path / "j.sqlite"

    async def run() -> None:
        async for _ in client.batch(["a dog"], journal=journal):
            pass

    await cancel_twice_on_the_wire(emulator, run())
    await until(lambda: len(emulator.tasks) == 1 and bool(client.pending))
    results = await client.gather(["a dog"], journal=journal)
    assert 1 == emulator.count(Endpoint.CREATE)
    assert [next(iter(emulator.tasks))] == [r.task_id for r in results]


async def test_closing_the_client_releases_a_left_batchs_journal(
    emulator: Emulator, tmp_path: typing.Any
) -> None:
    """Break out of a journaled batch, close the client: a new client reruns it at once."""
    emulator.not_visible_for = 0.0
    journal = tmp_path / "j.sqlite"
    prompts = [f"dog {n}" for n in range(6)]

    async with fast_client(emulator) as client:
        async for _ in client.batch(prompts, concurrency=2, journal=journal):
            break
    async with fast_client(emulator) as client:
        results = await client.gather(prompts, journal=journal)
    assert all(r.ok for r in results)
    assert 6 == emulator.count(Endpoint.CREATE)
    assert 6 == len({r.task_id for r in results})


async def test_a_batch_iterated_after_its_client_closed_raises_a_typed_error(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Pulling from a batch whose client was closed raises Sora2ProError, not CancelledError."""
    emulator.duration = None
    batch = client.batch(["a dog", "a cat"])
    pulling = asyncio.ensure_future(anext(batch))
    await until(lambda: emulator.count(Endpoint.CREATE) == 2)
    await client.close()
    with pytest.raises(sora2pro.Sora2ProError, match="client was closed"):
        await pulling
    await batch.aclose()


async def test_no_create_leaves_once_close_began(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A submit that gets its slot while close() waits for a create is refused, not cut off."""
    emulator.inject(Fault.delay(0.3), Endpoint.CREATE)
    first = asyncio.ensure_future(client.submit("a dog"))
    await until(lambda: emulator.count(Endpoint.CREATE) == 1)
    closing = asyncio.ensure_future(client.close())
    await asyncio.sleep(0.05)  # close() now waits for the first create's answer
    with pytest.raises(sora2pro.Sora2ProError, match="clos") as late:
        await client.submit("a cat")
    assert not isinstance(late.value, sora2pro.SubmitUncertainError)
    task_id = await first
    await closing
    assert ([task_id], 1) == (list(client.pending), emulator.count(Endpoint.CREATE))


async def test_cancelling_close_still_releases_a_left_batchs_journal(
    emulator: Emulator, tmp_path: typing.Any
) -> None:
    """A close() cancelled at once still winds the batch down: the journal is free again."""
    emulator.not_visible_for = 0.0
    journal = tmp_path / "j.sqlite"
    prompts = [f"dog {n}" for n in range(4)]

    client = fast_client(emulator)
    async for _ in client.batch(prompts, concurrency=2, journal=journal):
        break
    closing = asyncio.ensure_future(client.close())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await client.close()  # returns once the first close() has ended
    async with fast_client(emulator) as again:
        results = await again.gather(prompts, journal=journal)
    assert all(r.ok for r in results)
    assert 4 == emulator.count(Endpoint.CREATE)


async def ended_elsewhere(emulator: Emulator, task_id: str) -> str:
    """Finish the task, and the entry another client that confirmed its end would publish."""
    emulator.finish(task_id)
    async with fast_client(emulator) as other:
        task = await other.get_task(task_id)
    return json.dumps(encode_task(make_converter(), task))


@pytest.mark.parametrize("cancel_first", [False, True])
async def test_a_cancel_beside_an_end_heard_on_the_bus_still_cancels_the_wait(
    emulator: Emulator, *, cancel_first: bool
) -> None:
    """A wait cancelled in the turn its end is heard from the bus ends cancelled, task pending."""
    shared = sora2pro.LocalCoordination()
    emulator.duration = None
    slow = sora2pro.PollPolicy(expected_duration=600.0)  # its own first poll is far off
    async with fast_client(emulator, coordination=shared, poll=slow) as client:
        task_id = await client.submit("a dog")
        entry = await ended_elsewhere(emulator, task_id)
        waiting = asyncio.ensure_future(client.wait(task_id, timeout=10))
        await asyncio.sleep(0.05)  # inside its pause before the first poll
        if cancel_first:
            waiting.cancel()
        shared.callback_bus().publish(task_id, entry)
        if not cancel_first:
            waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert task_id in client.pending
    assert 1 == emulator.count(Endpoint.RECORD_INFO)  # the other client's alone


async def test_a_wait_ended_by_the_bus_leaves_no_cancel_behind(emulator: Emulator) -> None:
    """The end heard on the bus interrupts the wait, and the waiting task runs on uncancelled."""
    shared = sora2pro.LocalCoordination()
    emulator.duration = None
    slow = sora2pro.PollPolicy(expected_duration=600.0)
    async with fast_client(emulator, coordination=shared, poll=slow) as client:
        task_id = await client.submit("a dog")
        entry = await ended_elsewhere(emulator, task_id)

        async def wait_then_sleep() -> tuple[sora2pro.Task, int]:
            task = await client.wait(task_id, timeout=10)
            await asyncio.sleep(0)  # a cancel left pending would be raised here
            current = asyncio.current_task()
            assert current is not None
            return task, current.cancelling()

        waiting = asyncio.ensure_future(wait_then_sleep())
        await asyncio.sleep(0.05)
        shared.callback_bus().publish(task_id, entry)
        task, cancelling = await waiting
    assert (sora2pro.TaskState.SUCCESS, 0) == (task.state, cancelling)
    assert task_id not in client.pending

"""Every wait ends by its deadline, and a cancel always comes out as a cancel."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

import sora2pro
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import fast_client, until

# A loaded two-core machine may be late by this much; far below any request timeout.
MARGIN = 1.0


async def stalled_task(client: sora2pro.Client, emulator: Emulator) -> str:
    """Submit a task that never ends and whose status answers take 30 s; its id."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    emulator.inject(Fault.delay(30.0), Endpoint.RECORD_INFO, times=1000)
    return task_id


async def test_wait_ends_at_its_deadline_with_a_status_request_in_flight(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A status answer slower than the time left still ends the wait at its deadline."""
    task_id = await stalled_task(client, emulator)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(sora2pro.WaitTimeoutError):
        await asyncio.wait_for(client.wait(task_id, timeout=0.5), 10)
    assert loop.time() - started < 0.5 + MARGIN


async def test_a_cancel_at_the_deadline_comes_out_as_a_cancel(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A wait cancelled at the instant its deadline passes raises CancelledError."""
    task_id = await stalled_task(client, emulator)
    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(client.wait(task_id, timeout=0.5))
    loop.call_at(loop.time() + 0.5, waiting.cancel)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 10)


async def test_a_cancel_during_a_status_request_comes_out_as_a_cancel(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Cancelling a wait while its status request is on the wire raises CancelledError."""
    task_id = await stalled_task(client, emulator)
    waiting = asyncio.ensure_future(client.wait(task_id, timeout=5))
    await until(lambda: emulator.count(Endpoint.RECORD_INFO) > 0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 10)


async def test_callback_wait_ends_at_its_deadline_with_requests_in_flight(
    emulator: Emulator,
) -> None:
    """With a receiver, a confirming fetch slower than the time left still ends the wait."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with (
        sora2pro.CallbackReceiver(trust_body=False) as receiver,
        fast_client(emulator, callbacks=receiver) as client,
    ):
        task_id = await client.submit("a dog")
        emulator.inject(Fault.delay(30.0), Endpoint.RECORD_INFO, times=1000)
        emulator.finish(task_id)  # its callback arrives; confirming it hangs
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(sora2pro.WaitTimeoutError):
            await asyncio.wait_for(client.wait(task_id, timeout=0.5), 10)
        assert loop.time() - started < 0.5 + MARGIN


async def test_download_ends_at_its_deadline_with_the_file_request_in_flight(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A file host that does not answer in time ends the download at its deadline, no file left."""
    task = await client.generate("a dog")
    emulator.inject(Fault.delay(30.0), Endpoint.FILES, times=100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(sora2pro.DownloadError, match="not finished"):
        await asyncio.wait_for(client.download(task, tmp_path / "v.mp4", timeout=0.5), 10)
    assert loop.time() - started < 0.5 + MARGIN
    assert [] == list(tmp_path.iterdir())


@pytest.mark.parametrize("offset", [-0.004, -0.002, 0.0, 0.002, 0.004])
async def test_a_cancel_at_the_requests_own_timeout_comes_out_as_a_cancel(
    emulator: Emulator, offset: float
) -> None:
    """Without a deadline, a cancel that meets the request's own timeout is still a cancel."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    async with fast_client(emulator, timeout=sora2pro.Timeouts(request=0.2)) as client:
        task_id = await client.submit("a dog")
        emulator.inject(Fault.delay(30.0), Endpoint.RECORD_INFO, times=1000)
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(client.wait(task_id, timeout=None))
        await until(lambda: emulator.count(Endpoint.RECORD_INFO) > 0)
        loop.call_at(emulator.requests[-1].time + 0.2 + offset, waiting.cancel)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 5)


async def test_a_slow_on_update_is_bounded_by_the_deadline_with_callbacks(
    emulator: Emulator,
) -> None:
    """With a receiver, an on_update still running at the deadline ends the wait on time."""
    emulator.not_visible_for = 0.0

    async def slow(_task: sora2pro.Task) -> None:
        await asyncio.sleep(30)

    async with (
        sora2pro.CallbackReceiver(trust_body=True) as receiver,
        fast_client(emulator, callbacks=receiver) as client,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(sora2pro.WaitTimeoutError):
            await asyncio.wait_for(client.generate("a dog", timeout=1.0, on_update=slow), 10)
        assert loop.time() - started < 1.0 + MARGIN

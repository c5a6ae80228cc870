"""Answers the live service really gives (API.md section 8) are understood, never fatal."""

from __future__ import annotations

import pytest

import sora2pro
from sora2pro import PollPolicy, TaskState
from sora2pro.testing import Emulator, Endpoint, Fault

NULL_DATA = Fault.error(200, message="success")  # {"code": 200, "msg": "success", "data": null}


async def test_data_null_while_setting_up_is_polled_through(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """recordInfo answering code 200 with data null means 'not visible yet': wait() polls on."""
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    emulator.inject(NULL_DATA, Endpoint.RECORD_INFO, times=3)
    task = await client.wait(task_id)
    assert TaskState.SUCCESS is task.state
    assert emulator.count(Endpoint.RECORD_INFO) >= 4


async def test_data_null_for_too_long_ends_the_wait(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A task shown as data null for longer than not_visible_for ends the wait, typed."""
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    emulator.inject(NULL_DATA, Endpoint.RECORD_INFO, times=10_000)
    policy = PollPolicy(min_interval=0.01, max_interval=0.02, not_visible_for=0.1)
    with pytest.raises(sora2pro.TaskNotVisibleError, match="data is null"):
        await client.wait(task_id, poll=policy, timeout=5)


async def test_get_task_with_data_null_reads_our_new_task_as_waiting(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """get_task() right after submit, answered data null, gives a waiting task."""
    task_id = await client.submit("a dog")
    emulator.inject(NULL_DATA, Endpoint.RECORD_INFO)
    assert TaskState.WAITING is (await client.get_task(task_id)).state

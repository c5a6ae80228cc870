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
    """RecordInfo answering code 200 with data null means 'not visible yet': wait() polls on."""
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


def _details(**fields: object) -> dict[str, object]:
    """A finished task's details as the live service sends them, with ``fields`` changed."""
    data: dict[str, object] = {
        "taskId": "task_12345678",
        "model": "sora-2-pro-text-to-video",
        "state": "success",
        "param": '{"model": "sora-2-pro-text-to-video", "input": {"prompt": "a dog"}}',
        "resultJson": '{"resultUrls": ["https://cdn.example/v.mp4"]}',
        "failCode": "",
        "failMsg": "",
        "costTime": 142,
        "creditsConsumed": 45,
        "remainedCredits": 955,
        "createTime": 1765183463848,
        "completeTime": 1765183606848,
        "successFlag": 1,
    }
    data.update(fields)
    return data


@pytest.mark.parametrize("param", ["{...}", "[]", '{"model": ', "null", "", 123, ["x"]])
async def test_a_param_that_is_not_json_keeps_the_task(
    client: sora2pro.Client, emulator: Emulator, param: object
) -> None:
    """A bad param echo still gives the state and URLs, with request None."""
    answer = {"code": 200, "msg": "success", "data": _details(param=param)}
    emulator.inject(Fault.answer(answer), Endpoint.RECORD_INFO)
    task = await client.get_task("task_12345678")
    assert (TaskState.SUCCESS, ("https://cdn.example/v.mp4",), None) == (
        task.state,
        task.result_urls,
        task.request,
    )


async def test_a_failed_task_with_a_bad_param_keeps_its_failure(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A failed task whose param is garbled still reports its failure code and message."""
    data = _details(param="{oops", state="fail", resultJson="", failCode="422", failMsg="policy")
    emulator.inject(Fault.answer({"code": 200, "msg": "success", "data": data}), "recordInfo")
    task = await client.get_task("task_12345678")
    assert (TaskState.FAIL, "422", "policy") == (task.state, task.fail_code, task.fail_message)


@pytest.mark.parametrize(
    ("fields", "credits"),
    [({"creditsConsumed": 45}, 45.0), ({"creditsConsumed": None, "consumeCredits": 30}, 30.0)],
)
async def test_credits_and_cost_time_are_exposed(
    client: sora2pro.Client, emulator: Emulator, fields: dict[str, object], credits: float
) -> None:
    """CreditsConsumed (or consumeCredits) and costTime in seconds land on the Task."""
    answer = {"code": 200, "msg": "success", "data": _details(**fields)}
    emulator.inject(Fault.answer(answer), Endpoint.RECORD_INFO)
    task = await client.get_task("task_12345678")
    assert (credits, 142.0) == (task.credits_consumed, task.cost_time)


async def test_a_live_answer_without_the_extras_leaves_them_none(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Details without costTime or credit fields give None for both, not an error."""
    data = _details(costTime=None, creditsConsumed=None)
    emulator.inject(Fault.answer({"code": 200, "msg": "success", "data": data}), "recordInfo")
    task = await client.get_task("task_12345678")
    assert (None, None) == (task.cost_time, task.credits_consumed)


@pytest.mark.parametrize("task_id", ["\ud800", "bad\nid", "", "   ", 17])
async def test_a_create_answered_with_an_unusable_task_id_is_uncertain(
    client: sora2pro.Client, emulator: Emulator, task_id: object
) -> None:
    """A create answer whose task id is garbled is uncertain: a task may exist, none re-sent."""
    answer = {"code": 200, "msg": "success", "data": {"taskId": task_id}}
    emulator.inject(Fault.answer(answer), Endpoint.CREATE)
    with pytest.raises(sora2pro.SubmitUncertainError):
        await client.submit("a dog")
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_details_with_an_unprintable_task_id_are_a_response_error(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Task details whose taskId holds a lone surrogate raise ResponseError, typed."""
    data = _details(taskId="\ud800")
    emulator.inject(Fault.answer({"code": 200, "msg": "success", "data": data}), "recordInfo")
    with pytest.raises(sora2pro.ResponseError):
        await client.get_task("task_12345678")


async def test_the_emulator_reports_what_live_answers_carry(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A finished emulated task carries credits and costTime; a generating one no updateTime."""
    emulator.duration = None
    task_id = await client.submit("a dog")
    emulator.not_visible_for = 0.0
    emulator.force_state(task_id, "generating", progress=40)
    generating = await client.get_task(task_id)
    emulator.finish(task_id)
    done = await client.wait(task_id)
    assert (None, 1.0, 0.0) == (generating.updated_at, done.credits_consumed, done.cost_time)

"""wait() polls until the task ends, within its deadline, and within the status budget."""

from __future__ import annotations

import asyncio
import typing

import attrs
import pytest

import sora2pro
from sora2pro import PollPolicy, Task, TaskState
from sora2pro._flows._schedule import backoff, expected_remaining
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_POLL, FAST_RETRY, snapshot


async def test_wait_polls_through_not_visible_yet(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """'422 recordInfo is null' right after create is polled through, not raised."""
    emulator.not_visible_for = 0.2
    task_id = await client.submit("a dog")
    task = await client.wait(task_id)
    assert TaskState.SUCCESS is task.state
    record_infos = [r for r in emulator.requests if r.path.endswith("recordInfo")]
    assert record_infos[0].time - emulator.tasks[task_id].created < 0.2


async def test_get_task_right_after_create_reads_as_waiting(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """get_task() of a task just submitted, not shown by the server yet, reads as waiting."""
    emulator.not_visible_for = 10.0
    task_id = await client.submit("a dog")
    task = await client.get_task(task_id)
    assert (task_id, TaskState.WAITING, "") == (task.id, task.state, task.raw_state)
    assert sora2pro.TextToVideo("a dog") == task.request
    assert 1 == emulator.count(Endpoint.RECORD_INFO)


async def test_get_task_of_a_task_not_shown_and_not_ours_raises(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """get_task() of a task another client made, not shown yet, raises TaskNotVisibleError."""
    emulator.not_visible_for = 10.0
    task_id = await client.submit("a dog")
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url) as other:
        with pytest.raises(sora2pro.TaskNotVisibleError):
            await other.get_task(task_id)


async def test_not_visible_for_too_long_gives_up(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A task invisible for longer than PollPolicy.not_visible_for ends the wait."""
    emulator.not_visible_for = 10.0
    task_id = await client.submit("a dog")
    policy = PollPolicy(min_interval=0.01, max_interval=0.02, not_visible_for=0.1)
    with pytest.raises(sora2pro.UnprocessableError):
        await client.wait(task_id, poll=policy)


async def test_failed_task_raises_with_the_task(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A task that ends in fail raises TaskFailedError carrying the final snapshot."""
    emulator.duration = None
    task_id = await client.submit("a dog")
    emulator.finish(task_id, success=False, fail_code="400", fail_message="content policy")
    with pytest.raises(sora2pro.TaskFailedError, match="content policy") as caught:
        await client.wait(task_id)
    assert ("400", "content policy", task_id) == (
        caught.value.task.fail_code,
        caught.value.task.fail_message,
        caught.value.task_id,
    )


async def test_deadline_raises_wait_timeout_with_last_state(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """At the deadline, WaitTimeoutError (a TimeoutError) carries the id and last snapshot."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    emulator.force_state(task_id, "generating", progress=40)
    with pytest.raises(TimeoutError) as caught:
        await client.wait(task_id, timeout=0.3)
    error = caught.value
    assert isinstance(error, sora2pro.WaitTimeoutError)
    assert task_id == error.task_id
    assert error.last is not None
    assert (TaskState.GENERATING, 40) == (error.last.state, error.last.progress)
    assert task_id in client.pending


async def test_deadline_holds_while_the_server_is_down(emulator: Emulator) -> None:
    """Retries inside a wait never outrun its deadline, even with a server failing."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    slow_retry = sora2pro.RetryPolicy(attempts=50, base_delay=5.0, max_delay=30.0)
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, poll=FAST_POLL, retry=slow_retry
    ) as client:
        task_id = await client.submit("a dog")
        emulator.inject(Fault.error(500), Endpoint.RECORD_INFO, times=1000)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(sora2pro.WaitTimeoutError):
            await client.wait(task_id, timeout=0.5)
        assert loop.time() - started < 2.0


async def test_transient_errors_are_polled_through(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Errors that outlive a poll's retries do not end the wait; the task still arrives."""
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    emulator.inject(Fault.error(500), Endpoint.RECORD_INFO, times=FAST_RETRY.attempts + 2)
    assert TaskState.SUCCESS is (await client.wait(task_id)).state


async def test_final_errors_end_the_wait(client: sora2pro.Client, emulator: Emulator) -> None:
    """An error retrying cannot fix (unknown task: 404) ends the wait at once."""
    with pytest.raises(sora2pro.NotFoundError):
        await client.wait("no-such-task", timeout=2.0)
    assert 1 == emulator.count(Endpoint.RECORD_INFO)  # no retry, no second poll


async def test_unknown_state_counts_as_not_finished(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """An undocumented state keeps the wait going until a real end."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    emulator.force_state(task_id, "paused")
    seen: list[Task] = []

    def on_update(task: Task) -> None:
        seen.append(task)
        if task.raw_state == "paused":
            emulator.finish(task_id)

    task = await client.wait(task_id, on_update=on_update)
    assert TaskState.SUCCESS is task.state
    assert (TaskState.UNKNOWN, "paused") == (seen[0].state, seen[0].raw_state)


async def test_on_update_sees_each_change_once(client: sora2pro.Client, emulator: Emulator) -> None:
    """on_update (sync or async) gets each snapshot whose state or progress changed, once."""
    seen: list[tuple[TaskState, int | None]] = []

    async def on_update(task: Task) -> None:
        seen.append((task.state, task.progress))

    await client.generate("a dog", on_update=on_update)
    assert len(seen) == len(set(seen))
    assert (TaskState.SUCCESS, 100) == seen[-1]


def never_visible(emulator: Emulator) -> None:
    emulator.not_visible_for = 10.0


def never_ends(emulator: Emulator) -> None:
    emulator.duration = None


def ends_in_failure(emulator: Emulator) -> None:
    emulator.duration = 0.05
    emulator.fail_rate = 1.0


def status_answers(fault: Fault) -> typing.Callable[[Emulator], None]:
    def setup(emulator: Emulator) -> None:
        emulator.inject(fault, Endpoint.RECORD_INFO, times=1000)

    return setup


FAST = PollPolicy(min_interval=0.01, max_interval=0.01, not_visible_for=0.05)
# One poll at once, then the deadline passes in the pause before the next.
SLOW = PollPolicy(min_interval=1.0, max_interval=1.0)


@pytest.mark.parametrize(
    ("setup", "poll", "error"),
    [
        (never_visible, FAST, sora2pro.UnprocessableError),
        (never_ends, SLOW, sora2pro.WaitTimeoutError),
        (ends_in_failure, FAST, sora2pro.TaskFailedError),
        (status_answers(Fault.error(404)), FAST, sora2pro.NotFoundError),
        (status_answers(Fault.error(401)), FAST, sora2pro.AuthenticationError),
        (
            status_answers(Fault.answer({"code": 200, "msg": "success", "data": ["no task"]})),
            FAST,
            sora2pro.ResponseError,
        ),
    ],
    ids=["not-visible", "timeout", "failed", "404", "401", "no-task"],
)
async def test_generate_errors_carry_the_task_id(
    emulator: Emulator,
    setup: typing.Callable[[Emulator], None],
    poll: PollPolicy,
    error: type[sora2pro.Sora2ProError],
) -> None:
    """Every error raised after generate() submitted names the task id, so it is never lost."""
    emulator.not_visible_for = 0.0
    setup(emulator)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, poll=poll) as client:
        with pytest.raises(error) as caught:
            await client.generate("a dog", timeout=0.5 if poll is SLOW else 10.0)
    assert [caught.value.task_id] == list(emulator.tasks)


async def test_cancelling_a_wait_stops_it_at_once(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A cancelled generate() stops polling at once and keeps the task in pending."""
    emulator.duration = None
    polling = asyncio.Event()
    waiter = asyncio.create_task(client.generate("a dog", on_update=lambda _: polling.set()))
    await polling.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    polls = emulator.count(Endpoint.RECORD_INFO)
    await asyncio.sleep(0.2)
    assert polls == emulator.count(Endpoint.RECORD_INFO)
    assert list(emulator.tasks) == list(client.pending)


async def test_many_waits_stay_within_the_status_budget(emulator: Emulator) -> None:
    """16 concurrent waits (2 s of demand at full budget) never pass 10 queries a second."""
    emulator.status_limit = (10, 1.0)
    emulator.duration = 0.05
    emulator.not_visible_for = 0.0
    policy = PollPolicy(min_interval=0.01, max_interval=0.02)
    limits = sora2pro.RateLimits(creates=1000, window=1.0)  # the default status budget
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, poll=policy, retry=FAST_RETRY, rate_limits=limits
    ) as client:
        task_ids = [await client.submit(f"dog {n}") for n in range(16)]
        tasks = await asyncio.gather(*(client.wait(t) for t in task_ids))
    assert all(task.state is TaskState.SUCCESS for task in tasks)
    assert 0 == emulator.rate_limited[Endpoint.RECORD_INFO]


def test_progress_predicts_the_finish() -> None:
    """40% done after 60 s (by the client's clock) predicts 90 s more; no progress, nothing."""
    assert 90.0 == expected_remaining(snapshot(40), 60.0)
    assert expected_remaining(snapshot(None), 60.0) is None
    assert expected_remaining(snapshot(0), 60.0) is None
    assert expected_remaining(snapshot(40), 0.0) is None


def test_backoff_aims_at_the_predicted_finish_within_bounds() -> None:
    """Progress brings the next poll sooner than the backoff, never later, within the bounds."""
    policy = PollPolicy(min_interval=2.0, max_interval=30.0, jitter=0.0)
    assert 15.0 == backoff(policy, 50, snapshot(80), 60.0)
    assert 30.0 == backoff(policy, 50, snapshot(10), 60.0)
    assert 2.0 == backoff(policy, 0, snapshot(80), 60.0)
    assert 2.0 == backoff(policy, 0, snapshot(99), 10.0)
    assert 2.0 == backoff(policy, 0, None)
    assert 30.0 == backoff(policy, 50, None)


def test_default_backoff_follows_the_provider_advice() -> None:
    """A backoff capped at 30 s never polls faster than advised, and is at 15-30 s by 2 min."""
    policy = attrs.evolve(sora2pro.DEFAULT_POLL, jitter=0.0, adaptive=False, max_interval=30.0)
    elapsed = 0.0
    for attempt in range(40):
        delay = backoff(policy, attempt, None)
        assert 2.0 <= delay <= 30.0
        if elapsed < 30:
            assert delay <= 10.0
        if elapsed >= 120:
            assert delay >= 15.0
        elapsed += delay


def test_one_noisy_early_reading_does_not_push_the_next_poll_back() -> None:
    """3 % after 2 s predicts a minute more; the next poll still comes at the backoff's pace."""
    policy = PollPolicy(min_interval=2.0, max_interval=30.0, multiplier=1.3, jitter=0.0)
    assert backoff(policy, 1, None) == backoff(policy, 1, snapshot(3), 2.0)


def test_backoff_survives_very_long_waits() -> None:
    """Poll number 100,000 still gets max_interval, not an OverflowError."""
    policy = PollPolicy(min_interval=1.0, max_interval=30.0, multiplier=2.0, jitter=0.0)
    assert 30.0 == backoff(policy, 100_000, None)


async def test_wrongly_shaped_details_end_the_wait(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Well-formed JSON that is not a task is not transient: the wait raises, not polls on."""
    emulator.not_visible_for = 0.0
    task_id = await client.submit("a dog")
    odd = Fault.answer({"code": 200, "msg": "success", "data": ["not", "a", "task"]})
    emulator.inject(odd, Endpoint.RECORD_INFO, times=1000)
    with pytest.raises(sora2pro.ResponseError):
        await client.wait(task_id, timeout=None)
    assert 1 == emulator.count(Endpoint.RECORD_INFO)

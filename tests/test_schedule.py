"""The duration model and the poll schedule it feeds: pure computations, then over loopback."""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import statistics
import types

import attrs
import pytest

import sora2pro
from sora2pro import PollPolicy, TaskState
from sora2pro._flows import _context
from sora2pro._flows._schedule import (
    MAX_SPREAD,
    PRIOR_SPREAD,
    CallbackLosses,
    Prediction,
    Schedule,
    next_z,
    predict,
    shape_of,
)
from sora2pro.testing import Emulator, Endpoint, Fault
from tests.conftest import fast_client, snapshot, until

#: The default policy without its random spread, so that schedules repeat.
STEADY = attrs.evolve(sora2pro.DEFAULT_POLL, jitter=0.0)


def polls(schedule: Schedule, until: float) -> list[float]:
    """The running times at which ``schedule`` polls a task that never reports anything."""
    times: list[float] = []
    while not times or times[-1] < until:
        times.append(schedule.due())
        schedule.polled(times[-1], None)
    return times


def fixed(
    prediction: Prediction, policy: PollPolicy = STEADY, *, cost: float | None = None
) -> Schedule:
    """A schedule that predicts ``prediction`` for every shape."""
    price = policy.delay_cost if cost is None else cost
    return Schedule(policy, lambda _shape: prediction, lambda: price)


def tiered(draw: random.Random, until: float) -> list[float]:
    """The provider's advice: 2-3 s for 30 s, 5-10 s up to 2 minutes, then 15-30 s."""
    times = [0.0]
    while times[-1] < until:
        age = times[-1]
        low, high = (2, 3) if age < 30 else (5, 10) if age < 120 else (15, 30)
        times.append(age + draw.uniform(low, high))
    return times[1:]


def found(times: list[float], durations: list[float]) -> tuple[float, float]:
    """Polls per task and the median delay (a share of each task) of one schedule."""
    counts, shares = [], []
    for duration in durations:
        index = bisect.bisect_left(times, duration)
        counts.append(index + 1)
        shares.append((times[index] - duration) / duration)
    return statistics.fmean(counts), statistics.median(shares)


def test_the_prior_is_the_expected_duration_until_runs_are_seen() -> None:
    """No runs: the policy's median and the live spread; many runs: theirs."""
    assert predict(240.0, []) == Prediction(math.log(240.0), PRIOR_SPREAD)
    learned = predict(240.0, [60.0] * 200)
    assert 55 < learned.median < 65
    assert learned.sigma < 0.3


def test_a_few_runs_move_the_model_only_part_of_the_way() -> None:
    """Four runs weigh as much as the prior: a median half-way in log terms."""
    assert predict(240.0, [60.0] * 4).median == pytest.approx(120.0)


def test_runs_that_cannot_be_durations_are_ignored() -> None:
    """Zero, negative, infinite and NaN running times leave the prior as it was."""
    assert predict(240.0, [0.0, -5.0, math.inf, math.nan]) == predict(240.0, [])


def test_shapes_tell_apart_model_length_and_size() -> None:
    """The same model with another length or size learns apart; unknown requests by model."""
    ten = sora2pro.TextToVideo("a dog", n_frames=10)
    fifteen = sora2pro.TextToVideo("a dog", n_frames=15)
    standard = sora2pro.TextToVideo("a dog", size="standard")
    shapes = {shape_of(r.MODEL, r) for r in (ten, fifteen, standard)}
    assert len(shapes) == 3
    assert shape_of("some-model", None) == "some-model"


def test_the_first_poll_of_a_new_task_waits_until_it_may_have_ended() -> None:
    """A Sora task is not polled in its first seconds: nothing has ever ended that soon."""
    first = fixed(predict(240.0, [])).due()
    assert 10.0 < first <= STEADY.max_interval


def test_pauses_stay_within_the_policy_bounds() -> None:
    """From the submit to three hours, no pause is shorter than min or longer than max."""
    times = polls(fixed(predict(240.0, [])), until=3 * 3600)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert min(gaps) >= STEADY.min_interval
    assert max(gaps) <= STEADY.max_interval + 1e-9


def test_the_default_schedule_beats_the_tiered_advice_in_the_live_world() -> None:
    """Live-like runs (median 4 min, p90 13): fewer polls than the advice, no later."""
    draw = random.Random(12)
    durations = [240.0 * math.exp(draw.gauss(0.0, 0.92)) for _ in range(5000)]
    ours = found(polls(fixed(predict(240.0, [])), until=max(durations)), durations)
    advice = found(tiered(random.Random(3), until=max(durations)), durations)
    assert ours[0] < 0.6 * advice[0]
    assert ours[1] <= advice[1] * 1.25


def test_learned_runs_bring_the_polls_sooner_for_short_tasks() -> None:
    """After runs of about a minute, the first polls come before the prior's."""
    prior = polls(fixed(predict(240.0, [])), until=60)
    learned = polls(fixed(predict(240.0, [60.0, 55.0, 70.0, 65.0] * 20)), until=60)
    assert len(learned) > len(prior)


def test_a_higher_delay_cost_polls_more_and_learns_sooner() -> None:
    """Doubling what a late end costs adds polls and cuts the median delay."""
    draw = random.Random(4)
    durations = [240.0 * math.exp(draw.gauss(0.0, 0.92)) for _ in range(2000)]
    cheap = found(polls(fixed(predict(240.0, []), cost=150.0), until=max(durations)), durations)
    dear = found(polls(fixed(predict(240.0, []), cost=600.0), until=max(durations)), durations)
    assert dear[0] > cheap[0]
    assert dear[1] < cheap[1]


def test_two_progress_readings_aim_just_past_the_end_they_predict() -> None:
    """20 % at 100 s and 60 % at 200 s: the end is due at 300 s, polled just after."""
    schedule = fixed(predict(240.0, []))
    schedule.polled(100.0, snapshot(20))
    schedule.polled(200.0, snapshot(60))
    assert 300.0 < schedule.due() <= 300.0 * 1.02


def test_progress_never_stretches_a_pause_past_max_interval() -> None:
    """An end predicted 100 s away is still polled within a max_interval of 30 s."""
    schedule = fixed(predict(240.0, []), attrs.evolve(STEADY, max_interval=30.0))
    schedule.polled(100.0, snapshot(20))
    schedule.polled(200.0, snapshot(60))
    assert schedule.due() == 230.0


def test_one_progress_reading_only_brings_the_next_poll_sooner() -> None:
    """1 % after 10 s suggests 1,000 s: the model's pause stands; 90 % after 100 s, sooner."""
    alone = fixed(predict(240.0, []))
    alone.polled(10.0, None)
    noisy = fixed(predict(240.0, []))
    noisy.polled(10.0, snapshot(1))
    assert noisy.due() == alone.due()
    near = fixed(predict(240.0, []))
    near.polled(100.0, snapshot(90))
    assert near.due() - 100.0 == pytest.approx((1000 / 9 - 100) / 2)  # half-way to 111 s


def test_past_the_predicted_end_polls_follow_the_running_time() -> None:
    """A task still at 99 % past its predicted end is polled again after 5 % of its run."""
    schedule = fixed(predict(240.0, []))
    schedule.polled(100.0, snapshot(50))
    schedule.polled(190.0, snapshot(98))
    schedule.polled(240.0, snapshot(99))
    assert schedule.due() - 240.0 <= 0.05 * 240.0 + 1e-9


def test_with_a_callback_due_the_first_poll_waits_until_the_task_is_overdue() -> None:
    """Callbacks that arrive: no poll before the median, none later than the p99."""
    prediction = predict(240.0, [])
    patient = Schedule(STEADY, lambda _shape: prediction, lambda: 0.3, patient=True)
    first = patient.due()
    assert prediction.median < first <= prediction.at(2.33) + 1e-6


def test_lost_callbacks_bring_the_polls_back() -> None:
    """Once callbacks are seen lost, the patient schedule polls as often as the plain one."""
    losses = CallbackLosses()
    prediction = predict(240.0, [])

    def patient() -> Schedule:
        cost = lambda: STEADY.delay_cost * losses.rate()  # noqa: E731
        return Schedule(STEADY, lambda _shape: prediction, cost, patient=True)

    trusting = patient().due()
    for _ in range(200):
        losses.count(lost=True)
    assert patient().due() < trusting / 5
    assert 0.9 < losses.rate() <= 1.0


def test_the_spacing_table_ends_without_an_error() -> None:
    """A tiny cost from deep in the tail gives the table's end; a huge one a small step."""
    assert next_z(30.0, 1e-9, 0.5) == 40.0
    assert 0 < next_z(0.0, 1e9, 0.5) - 0.0 < 0.01
    assert next_z(-math.inf, 300.0, 0.9) > -8.0


def test_the_backoff_stays_available() -> None:
    """adaptive=False: the plain backoff from min_interval, growing by the multiplier."""
    policy = PollPolicy(min_interval=1.0, max_interval=30.0, jitter=0.0, adaptive=False)
    schedule = Schedule(policy, lambda _shape: predict(240.0, []), lambda: 300.0)
    assert polls(schedule, until=5.0)[:3] == [1.0, 2.3, pytest.approx(3.99)]


@pytest.mark.parametrize(
    ("name", "value"),
    [("adaptive", "yes"), ("expected_duration", 0), ("delay_cost", -1.0), ("use_progress", 1)],
)
def test_the_new_poll_settings_are_checked(name: str, value: object) -> None:
    """A wrong type or value is refused, naming the setting."""
    with pytest.raises(sora2pro.InvalidInputError, match=name):
        PollPolicy(**{name: value})  # type: ignore[arg-type]


def test_a_shape_stays_short_whatever_model_name_the_server_sends() -> None:
    """A megabyte model name makes a shape of at most a few hundred characters."""
    assert len(shape_of("m" * 1_000_000, sora2pro.TextToVideo("x", n_frames=15))) <= 200


async def test_a_video_that_ends_teaches_its_shape_and_a_failure_does_not() -> None:
    """The coordination keeps a succeeded video's running time, not a failed one's."""
    coordination = sora2pro.LocalCoordination()
    async with (
        Emulator(duration=0.05, not_visible_for=0.0) as emulator,
        fast_client(
            emulator,
            poll=PollPolicy(min_interval=0.01, max_interval=0.05, expected_duration=0.05),
            coordination=coordination,
        ) as client,
    ):
        await client.generate("a dog", n_frames=15)
        emulator.fail_rate = 1.0
        with pytest.raises(sora2pro.TaskFailedError):
            await client.generate("a cat", n_frames=15)
    shape = shape_of(sora2pro.TextToVideo.MODEL, sora2pro.TextToVideo("x", n_frames=15))
    assert len(coordination.durations().recent(shape)) == 1


async def test_a_wait_with_callbacks_that_arrive_costs_one_status_request() -> None:
    """Each task whose callback comes is confirmed once and never polled before it."""
    async with (
        Emulator(duration=lambda r: r.uniform(0.2, 0.4), not_visible_for=0.0) as emulator,
        sora2pro.CallbackReceiver() as receiver,
        fast_client(
            emulator,
            poll=PollPolicy(min_interval=0.01, max_interval=0.05, expected_duration=0.3),
            callbacks=receiver,
        ) as client,
    ):
        tasks = await asyncio.gather(*(client.generate(f"dog {n}") for n in range(10)))
    assert all(task.state is TaskState.SUCCESS for task in tasks)
    assert emulator.count(Endpoint.RECORD_INFO) == 10


async def test_lost_callbacks_are_caught_and_make_the_polls_dense_again() -> None:
    """Every callback lost: every wait still ends, and well before its deadline."""
    async with (
        Emulator(duration=0.1, not_visible_for=0.0, callback_loss=1.0) as emulator,
        sora2pro.CallbackReceiver() as receiver,
        fast_client(
            emulator,
            poll=PollPolicy(min_interval=0.01, max_interval=0.05, expected_duration=0.1),
            callbacks=receiver,
        ) as client,
    ):
        tasks = await asyncio.gather(*(client.generate(f"dog {n}", timeout=30) for n in range(5)))
    assert all(task.state is TaskState.SUCCESS for task in tasks)


async def test_a_wait_whose_first_poll_lies_past_its_deadline_ends_at_the_deadline() -> None:
    """A callback due in minutes and a 0.2 s timeout: WaitTimeoutError, not a hang."""
    async with (
        Emulator(duration=None, not_visible_for=0.0) as emulator,
        sora2pro.CallbackReceiver() as receiver,
        fast_client(emulator, poll=sora2pro.DEFAULT_POLL, callbacks=receiver) as client,
    ):
        task_id = await client.submit("a dog")
        with pytest.raises(sora2pro.WaitTimeoutError):
            await asyncio.wait_for(client.wait(task_id, timeout=0.2), timeout=5)
    assert emulator.count(Endpoint.RECORD_INFO) == 0


async def test_a_task_of_unknown_age_is_polled_at_once(emulator: Emulator) -> None:
    """wait() on a task this client did not submit asks right away: it may be long done."""
    async with fast_client(emulator, poll=sora2pro.DEFAULT_POLL) as submitter:
        task_id = await submitter.submit("a dog")
    emulator.finish(task_id)
    await asyncio.sleep(0.1)  # past the emulator's "not visible yet"
    async with fast_client(emulator, poll=sora2pro.DEFAULT_POLL) as client:
        task = await asyncio.wait_for(client.wait(task_id), timeout=5)
    assert task.state is TaskState.SUCCESS
    assert emulator.count(Endpoint.RECORD_INFO) == 1


def test_a_receiver_that_never_heard_a_callback_is_found_deaf_by_silence() -> None:
    """Waits long past their tasks' likely ends with no callback ever: all count as lost."""
    losses = CallbackLosses()
    prediction = predict(240.0, [])
    for wait in range(3):
        losses.silent(wait, prediction.surprise(240.0))  # each at its median: ln 2
    assert losses.rate() < 0.01
    for wait in range(3, 12):
        losses.silent(wait, prediction.surprise(240.0))
    assert losses.rate() == 1.0
    losses.count(lost=False)  # one callback comes: the receiver hears
    assert losses.rate() < 0.01


def test_a_settled_wait_stops_counting_as_silence() -> None:
    """A wait that ended takes its silence with it; one updated counts once."""
    losses = CallbackLosses()
    for wait in range(10):
        losses.silent(wait, 1.0)
        losses.silent(wait, 0.5)
    assert losses.rate() < 0.01  # 5 nats: not yet the odds of 1,000 to 1
    losses.silent(10, 3.0)
    assert losses.rate() == 1.0
    losses.settled(10)
    assert losses.rate() < 0.01


def test_the_surprise_of_a_task_still_running_grows_smoothly_into_the_tail() -> None:
    """-ln P(T > t): ln 2 at the median, finite and increasing far past the table's reach."""
    prediction = predict(240.0, [])
    assert prediction.surprise(240.0) == pytest.approx(math.log(2))
    points = [prediction.surprise(240.0 * math.exp(0.92 * z)) for z in (6.0, 7.99, 8.01, 20.0)]
    assert points == sorted(points)
    assert points[1] == pytest.approx(points[2], rel=0.01)
    assert prediction.surprise(0.0) == 0.0


async def test_a_task_just_submitted_is_not_polled_before_it_may_have_ended() -> None:
    """Tasks of about a second: the first status request waits for the schedule, not 0 s."""
    async with (
        Emulator(duration=1.0, not_visible_for=0.0) as emulator,
        fast_client(
            emulator, poll=PollPolicy(min_interval=0.01, max_interval=1.0, expected_duration=1.0)
        ) as client,
    ):
        task_id = await client.submit("a dog")
        waiting = asyncio.create_task(client.wait(task_id))
        await asyncio.sleep(0.03)  # the model's first poll is about 0.09 s after the submit
        assert emulator.count(Endpoint.RECORD_INFO) == 0
        assert (await waiting).state is TaskState.SUCCESS


def _finished(task_id: str, model: str, created: int, completed: int) -> Fault:
    """A recordInfo answer: task ``task_id`` of ``model`` succeeded, with these times (ms)."""
    data = {
        "taskId": task_id,
        "model": model,
        "state": "success",
        "resultJson": '{"resultUrls": ["https://cdn.example/v.mp4"]}',
        "createTime": created,
        "completeTime": completed,
    }
    return Fault.answer({"code": 200, "msg": "success", "data": data})


def _client(emulator: Emulator, coordination: sora2pro.LocalCoordination) -> sora2pro.Client:
    return fast_client(emulator, poll=emulator.poll, coordination=coordination)


async def test_a_finished_task_read_again_and_again_is_learned_once(emulator: Emulator) -> None:
    """get_task() of one finished task, five times: its running time counts once."""
    coordination = sora2pro.LocalCoordination()
    emulator.inject(_finished("task_1", "m", 1_000_000, 1_060_000), Endpoint.RECORD_INFO, times=5)
    async with _client(emulator, coordination) as client:
        for _ in range(5):
            await client.get_task("task_1")
    assert [60.0] == list(coordination.durations().recent("m"))


async def test_a_run_longer_than_this_client_saw_is_not_learned_as_such(
    emulator: Emulator,
) -> None:
    """A server's createTime a year before its completeTime: the run is what the client saw."""
    coordination = sora2pro.LocalCoordination()
    async with _client(emulator, coordination) as client:
        task_id = await client.submit("a dog")
        year = 365 * 24 * 3600 * 1000
        emulator.inject(
            _finished(task_id, sora2pro.TextToVideo.MODEL, 1_000_000, 1_000_000 + year),
            Endpoint.RECORD_INFO,
        )
        await asyncio.wait_for(client.wait(task_id), timeout=5)
    shape = shape_of(sora2pro.TextToVideo.MODEL, sora2pro.TextToVideo("a dog"))
    runs = coordination.durations().recent(shape)
    assert 1 == len(runs)
    assert runs[0] < 60


async def test_a_task_of_unknown_origin_that_ran_for_years_is_not_learned(
    emulator: Emulator,
) -> None:
    """A completeTime a century after createTime teaches the model nothing."""
    coordination = sora2pro.LocalCoordination()
    century = 100 * 365 * 24 * 3600 * 1000
    emulator.inject(_finished("task_1", "m", 1_000_000, 1_000_000 + century), Endpoint.RECORD_INFO)
    async with _client(emulator, coordination) as client:
        await client.get_task("task_1")
    assert () == tuple(coordination.durations().recent("m"))


async def test_a_server_naming_a_new_model_each_time_cannot_grow_the_model_without_bound(
    emulator: Emulator,
) -> None:
    """Shapes are kept for the most recent few hundred: an old one is forgotten."""
    coordination = sora2pro.LocalCoordination()
    shapes = 600
    for n in range(shapes):
        emulator.inject(_finished(f"task_{n}", f"m{n}", 1_000_000, 1_060_000), Endpoint.RECORD_INFO)
    async with _client(emulator, coordination) as client:
        for n in range(shapes):
            await client.get_task(f"task_{n}")
    assert [60.0] == list(coordination.durations().recent(f"m{shapes - 1}"))
    assert () == tuple(coordination.durations().recent("m0"))


def test_runs_far_off_cannot_spread_the_model_past_its_bound() -> None:
    """A month-long run among minute-long ones: the p99 stays within 33 times the median."""
    prediction = predict(240.0, [240.0] * 3 + [30 * 24 * 3600.0])
    assert prediction.sigma == MAX_SPREAD
    assert prediction.at(2.33) < 34 * prediction.median


async def test_a_task_from_elsewhere_is_polled_on_the_plain_schedule_with_a_receiver() -> None:
    """No callback is owed for a task another client submitted: its wait does not hold off."""
    async with (
        Emulator(duration=None, not_visible_for=0.0) as emulator,
        sora2pro.CallbackReceiver() as receiver,
    ):
        poll = PollPolicy(min_interval=0.01, max_interval=0.05, expected_duration=60.0)
        async with fast_client(emulator, poll=sora2pro.DEFAULT_POLL) as other:
            task_id = await other.submit("a dog")
        async with fast_client(emulator, poll=poll, callbacks=receiver) as client:
            waiting = asyncio.create_task(client.wait(task_id, timeout=5))
            await until(lambda: emulator.count(Endpoint.RECORD_INFO) >= 3)
            emulator.finish(task_id)
            assert (await waiting).state is TaskState.SUCCESS


async def test_a_shape_with_many_runs_is_predicted_again_a_second_later(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 64 runs, new runs move a shape's prediction a second later; from fewer, at once."""
    clock = [1000.0]
    monkeypatch.setattr(_context, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    coordination = sora2pro.LocalCoordination()
    durations = coordination.durations()
    async with _client(emulator, coordination) as client:
        ctx = client._ctx
        durations.record("few", 100.0)
        first = ctx.predict("few", 240.0)
        durations.record("few", 1000.0)
        assert ctx.predict("few", 240.0) != first  # at once
        prior_only = ctx.predict("burst", 240.0)
        for _ in range(100):  # a burst of runs, or a Redis copy read at once
            durations.record("burst", 10.0)
        assert ctx.predict("burst", 240.0).median < prior_only.median  # at once too
        for _ in range(64):
            durations.record("many", 100.0)
        settled = ctx.predict("many", 240.0)
        for _ in range(64):
            durations.record("many", 1000.0)
        assert ctx.predict("many", 240.0) == settled
        clock[0] += 1.0
        assert ctx.predict("many", 240.0).median > settled.median

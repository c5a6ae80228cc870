"""batch(): every item ends once, as a task or an error, within the rate limits."""

from __future__ import annotations

import asyncio
import collections
import typing

import attrs
import pytest

import sora2pro
from sora2pro import BatchResult, RateLimits, TextToVideo
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_POLL, FAST_RETRY
from .test_scheduling import RecordingPacer

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

# The API's limits, time-scaled 80 times: 20 creates per 0.125 s, 10 status queries per
# 0.05 s. The client keeps 10% and 40% under them: time-scaled, a loop stalled by a
# loaded machine for 10 ms sends the slots it granted meanwhile together, which at
# real scale (1/80 of that) no stall does.
SERVER_CREATES = (20, 0.125)
SERVER_STATUS = (10, 0.05)
SCALED = RateLimits(creates=18, window=0.125, status_per_second=120.0, pause=0.05)


@pytest.fixture
async def limited(emulator: Emulator) -> AsyncIterator[sora2pro.Client]:
    """A client and an emulator that both keep the API's limits, time-scaled."""
    emulator.create_limit = SERVER_CREATES
    emulator.status_limit = SERVER_STATUS
    emulator.duration = 0.2
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=FAST_POLL,
        retry=FAST_RETRY,
        rate_limits=SCALED,
    ) as client:
        yield client


async def test_large_batch_accounts_for_every_prompt_once(
    limited: sora2pro.Client, emulator: Emulator
) -> None:
    """500 prompts: each ends once with its own task, and no limit is ever hit."""
    prompts = [f"dog number {n}" for n in range(500)]
    results = [r async for r in limited.batch(prompts, concurrency=100)]
    assert list(range(500)) == sorted(r.index for r in results)
    assert all(r.ok for r in results)
    assert prompts == [r.request.prompt for r in sorted(results, key=lambda r: r.index)]  # type: ignore[union-attr]
    assert 500 == len({r.task_id for r in results}) == len(emulator.tasks)
    assert 500 == emulator.count(Endpoint.CREATE)
    assert {} == dict(emulator.rate_limited)
    # A count of work, not of time: about 1.2 queries a prompt here, 4.7 when the
    # scheduler let unknown tasks starve the ones not yet due.
    assert emulator.count(Endpoint.RECORD_INFO) < 2 * len(prompts)


async def test_ordered_and_gather_keep_input_order(limited: sora2pro.Client) -> None:
    """ordered=True yields in input order; gather() returns input order."""
    ordered = [r.index async for r in limited.batch(map(str, range(1, 21)), ordered=True)]
    assert list(range(20)) == ordered
    gathered = await limited.gather(map(str, range(1, 21)))
    assert list(range(20)) == [r.index for r in gathered]


async def test_invalid_items_fail_alone(limited: sora2pro.Client, emulator: Emulator) -> None:
    """Invalid items end with InvalidInputError and send nothing; the rest succeed."""
    items: list[typing.Any] = [
        "ok one",
        "",
        {"prompt": "ok two", "n_frames": 15},
        {"prompt": "x", "colour": "red"},
        {"size": "high"},
        42,
        TextToVideo("ok three"),
    ]
    results = await limited.gather(items)
    assert [True, False, True, False, False, False, True] == [r.ok for r in results]
    for result in results:
        if not result.ok:
            assert isinstance(result.error, sora2pro.InvalidInputError)
            assert result.task_id is None
    assert 3 == emulator.count(Endpoint.CREATE)


async def test_concurrency_bounds_items_in_flight(
    limited: sora2pro.Client, emulator: Emulator
) -> None:
    """No more than `concurrency` items are submitted and unfinished at any time."""
    in_flight = 0
    most = 0

    def on_event(event: sora2pro.BatchEvent) -> None:
        nonlocal in_flight, most
        if isinstance(event, sora2pro.Submitted):
            in_flight += 1
            most = max(most, in_flight)
        elif isinstance(event, sora2pro.Finished) and event.result.task_id is not None:
            in_flight -= 1

    results = await limited.gather([f"p{n}" for n in range(30)], concurrency=4, on_event=on_event)
    assert all(r.ok for r in results)
    assert 4 == most


async def test_lost_creates_are_uncertain_and_not_resent(
    limited: sora2pro.Client, emulator: Emulator
) -> None:
    """Creates whose answers were lost end uncertain, with their request, and are sent once."""
    emulator.inject(Fault.disconnect(after_create=True), Endpoint.CREATE, times=3)
    results = await limited.gather([f"p{n}" for n in range(10)])
    uncertain = [r for r in results if r.uncertain]
    assert 3 == len(uncertain)
    assert all(r.request is not None and r.task_id is None for r in uncertain)
    assert 7 == sum(r.ok for r in results)
    assert 10 == emulator.count(Endpoint.CREATE) == len(emulator.tasks)


async def test_faults_change_nothing_in_the_outcome(
    limited: sora2pro.Client, emulator: Emulator
) -> None:
    """429 bursts, 455 windows and 500s along the way: every item still succeeds."""
    emulator.inject(Fault.rate_limited(retry_after=0.05), Endpoint.CREATE, times=3)
    emulator.inject(Fault.maintenance(), Endpoint.CREATE, times=2)
    emulator.inject(Fault.error(500), Endpoint.RECORD_INFO, times=5)
    emulator.inject(Fault.rate_limited(), Endpoint.RECORD_INFO, times=2)
    emulator.inject(Fault.html(502), Endpoint.RECORD_INFO, times=2)
    results = await limited.gather([f"p{n}" for n in range(25)])
    assert all(r.ok for r in results)
    assert 25 == len(emulator.tasks)


@pytest.mark.parametrize("endpoint", [Endpoint.CREATE, Endpoint.RECORD_INFO])
async def test_a_429_pauses_every_caller_together(
    limited: sora2pro.Client, emulator: Emulator, endpoint: Endpoint
) -> None:
    """After a 429 with Retry-After, no request of that kind leaves the client until it ends."""
    emulator.not_visible_for = 0.0
    emulator.inject(Fault.rate_limited(retry_after=0.3), endpoint)
    # Watched where slots are handed out: a request sent before the 429 came back may
    # reach the emulator later, and proves nothing either way.
    api = limited._ctx.api
    if endpoint is Endpoint.CREATE:
        pacer = RecordingPacer(SCALED.creates_per_second)
        limited._ctx.api = attrs.evolve(api, create_pacer=pacer)
    else:
        pacer = RecordingPacer(SCALED.status_per_second)
        limited._ctx.api = attrs.evolve(api, status_pacer=pacer)
    paused: list[float] = []

    def on_event(event: sora2pro.BatchEvent) -> None:
        if isinstance(event, sora2pro.RateLimited):
            paused.append(event.pause)

    results = await limited.gather([f"p{n}" for n in range(10)], on_event=on_event)
    assert all(r.ok for r in results)
    assert [0.3] == paused
    # Where the pacer was held, by its own clock: a later reading (the event's) would
    # count the first slot after the hold as one within it, on a loaded machine.
    ((held_at, pause),) = pacer.holds
    assert [] == [t for t in pacer.handed_out if held_at <= t < held_at + pause]
    assert pacer.handed_out[-1] >= held_at + pause  # and slots came again after


async def test_cancelling_the_iteration_stops_submitting(
    limited: sora2pro.Client, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A cancelled consumer pays for nothing more, and closing logs the tasks not delivered."""
    emulator.duration = 0.05  # items end quickly: only the stopped consumer holds their slots
    emulator.not_visible_for = 0.0
    sixth_submitted = asyncio.Event()
    all_ended = asyncio.Event()
    finished = 0

    def on_event(event: sora2pro.BatchEvent) -> None:
        nonlocal finished
        if isinstance(event, sora2pro.Submitted) and event.index == 5:
            sixth_submitted.set()  # five slots, one freed by the result handed over
        elif isinstance(event, sora2pro.Finished):
            finished += 1
            if finished == 6:
                all_ended.set()

    batch = limited.batch([f"p{n}" for n in range(100)], concurrency=5, on_event=on_event)

    async def consume() -> None:
        async for _ in batch:
            await asyncio.sleep(10)  # a slow consumer, cancelled below

    consumer = asyncio.create_task(consume())
    await sixth_submitted.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await all_ended.wait()  # every slot would be free again, were it not for the consumer
    assert 6 == emulator.count(Endpoint.CREATE)
    await batch.aclose()
    assert 6 == emulator.count(Endpoint.CREATE)
    assert "5 task(s) created for it were not delivered" in caplog.text


async def test_break_stops_paying_without_closing(
    limited: sora2pro.Client, emulator: Emulator
) -> None:
    """After a break, with the generator still open, no further item is paid for."""
    emulator.duration = 0.05
    emulator.not_visible_for = 0.0
    all_ended = asyncio.Event()
    finished = 0

    def on_event(event: sora2pro.BatchEvent) -> None:
        nonlocal finished
        if isinstance(event, sora2pro.Finished):
            finished += 1
            if finished == 3:  # two slots, one freed by the result handed over
                all_ended.set()

    batch = limited.batch([f"p{n}" for n in range(40)], concurrency=2, on_event=on_event)
    async for _ in batch:
        break
    await all_ended.wait()  # every slot would be free again, were it not for the consumer
    assert 3 == emulator.count(Endpoint.CREATE)
    await batch.aclose()


async def test_a_broken_on_event_stops_the_batch_at_once(
    limited: sora2pro.Client, emulator: Emulator
) -> None:
    """A bug in on_event ends the iteration with it, before the rest is submitted."""

    def on_event(event: sora2pro.BatchEvent) -> None:
        if isinstance(event, sora2pro.Submitted):
            raise RuntimeError("bug in the UI")

    with pytest.raises(RuntimeError, match="bug in the UI"):
        await limited.gather([f"p{n}" for n in range(40)], concurrency=2, on_event=on_event)
    assert emulator.count(Endpoint.CREATE) <= 3


async def test_async_on_event_receives_typed_events(limited: sora2pro.Client) -> None:
    """An async on_event gets Submitted, StateChanged and Finished for each item."""
    seen: list[sora2pro.BatchEvent] = []

    async def on_event(event: sora2pro.BatchEvent) -> None:
        seen.append(event)

    await limited.gather(["a", "b"], on_event=on_event)
    kinds = collections.Counter(type(e).__name__ for e in seen)
    assert 2 == kinds["Submitted"] == kinds["Finished"]
    assert kinds["StateChanged"] >= 2
    finished = [e.result for e in seen if isinstance(e, sora2pro.Finished)]
    assert all(isinstance(r, BatchResult) and r.ok for r in finished)


@pytest.mark.parametrize("kwargs", [{"concurrency": 0}, {"concurrency": 2.5}, {"timeout": -1}])
async def test_bad_arguments_are_refused_at_once(
    limited: sora2pro.Client, emulator: Emulator, kwargs: dict[str, typing.Any]
) -> None:
    """A bad concurrency or timeout raises InvalidInputError before iterating."""
    with pytest.raises(sora2pro.InvalidInputError):
        limited.batch(["a"], **kwargs)
    assert [] == emulator.requests

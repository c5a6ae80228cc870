"""batch(keep_credits=N): no create once the balance could fall under N; a rerun continues."""

from __future__ import annotations

import math
import typing

import pytest

import sora2pro
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import fast_client

if typing.TYPE_CHECKING:
    import pathlib


def floor_errors(results: list[sora2pro.BatchResult]) -> list[sora2pro.CreditFloorError]:
    """The credit-floor errors among ``results``."""
    return [r.error for r in results if isinstance(r.error, sora2pro.CreditFloorError)]


async def test_creates_stop_at_the_floor_and_a_rerun_continues(
    emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """20 credits, 3 a video, keep 5: five videos, five typed not-sent; topped up, a rerun ends."""
    emulator.credits, emulator.cost = 20.0, 3.0
    emulator.duration = emulator.not_visible_for = 0.0
    journal = tmp_path / "run.sqlite"
    prompts = [f"dog {n}" for n in range(10)]
    async with fast_client(emulator) as client:
        first = await client.gather(prompts, concurrency=1, keep_credits=5, journal=journal)
    assert 5 == sum(r.ok for r in first) == emulator.count(Endpoint.CREATE)
    assert 5.0 == emulator.credits
    unsent = floor_errors(first)
    assert 5 == len(unsent)
    assert all(r.task_id is None and not r.uncertain for r in first if not r.ok)
    assert all(str(e).startswith("not sent: credit floor") for e in unsent)
    assert (5, 5.0, 3.0) == (unsent[0].floor, unsent[0].balance, unsent[0].cost)
    emulator.credits = 100.0
    async with fast_client(emulator) as client:
        second = await client.gather(prompts, concurrency=3, keep_credits=5, journal=journal)
    assert all(r.ok for r in second)
    assert 10 == emulator.count(Endpoint.CREATE)  # the five paid for were not sent again


async def test_concurrent_creates_never_cross_the_floor(emulator: Emulator) -> None:
    """Ten items in flight at once: the balance still never falls under the floor."""
    emulator.credits, emulator.cost = 50.0, 4.0
    async with fast_client(emulator) as client:
        results = await client.gather([f"cat {n}" for n in range(30)], keep_credits=10)
    sent = emulator.count(Endpoint.CREATE)
    assert emulator.credits >= 10.0
    assert 0 < sent == sum(r.ok for r in results)
    assert 30 - sent == len(floor_errors(results))


async def test_the_balance_is_read_before_the_first_create_and_every_five(
    emulator: Emulator,
) -> None:
    """One at a time, the first task tells the price: reads before creates 1, 6, 11, 16."""
    emulator.duration = emulator.not_visible_for = 0.0
    async with fast_client(emulator) as client:
        owls = [f"owl {n}" for n in range(20)]
        results = await client.gather(owls, concurrency=1, keep_credits=0)
    assert all(r.ok for r in results)
    assert 4 == emulator.count(Endpoint.CREDIT)


async def test_a_balance_at_the_floor_sends_nothing(emulator: Emulator) -> None:
    """A balance not above the floor sends not even the create that would tell the price."""
    emulator.credits = 10.0
    async with fast_client(emulator) as client:
        results = await client.gather(["a", "b"], keep_credits=10)
    assert 2 == len(floor_errors(results))
    assert 0 == emulator.count(Endpoint.CREATE)


@pytest.mark.parametrize(
    ("fault", "cause", "reads"),
    [
        (Fault.error(401, http_status=401), sora2pro.AuthenticationError, 1),
        (Fault.garbage(), sora2pro.ResponseError, 4),  # retried as a read is, then given up
    ],
    ids=["refused", "garbled"],
)
async def test_a_failed_balance_read_sends_no_create(
    emulator: Emulator, fault: Fault, cause: type[Exception], reads: int
) -> None:
    """A balance read that fails ends every item unsent, with the read's error as the cause."""
    emulator.inject(fault, Endpoint.CREDIT, times=10)
    async with fast_client(emulator) as client:
        results = await client.gather(["a", "b", "c"], keep_credits=1)
    errors = floor_errors(results)
    assert 3 == len(errors)
    assert all(isinstance(e.__cause__, cause) for e in errors)
    assert all(e.balance is None for e in errors)
    assert 0 == emulator.count(Endpoint.CREATE)
    assert reads == emulator.count(Endpoint.CREDIT)  # not asked again for each item


async def test_a_balance_read_failing_mid_batch_stops_the_creates_not_the_tasks(
    emulator: Emulator,
) -> None:
    """The read before the sixth create fails: creates stop there, the five tasks still end."""
    emulator.credits, emulator.cost = 100.0, 1.0
    created = 0

    def on_event(event: sora2pro.BatchEvent) -> None:
        nonlocal created
        if isinstance(event, sora2pro.Submitted):
            created += 1
            if created == 2:  # the first task told the price: the next read is before the 6th
                emulator.inject(Fault.error(401, http_status=401), Endpoint.CREDIT, times=10)

    async with fast_client(emulator) as client:
        prompts = [f"elk {n}" for n in range(12)]
        results = await client.gather(prompts, concurrency=1, keep_credits=0, on_event=on_event)
    assert 5 == sum(r.ok for r in results) == emulator.count(Endpoint.CREATE)
    errors = floor_errors(results)
    assert 7 == len(errors)
    assert all(isinstance(e.__cause__, sora2pro.AuthenticationError) for e in errors)


async def test_a_refused_create_is_not_counted_as_paid(emulator: Emulator) -> None:
    """Refusals leave the price unknown: creates stay one at a time and the floor holds."""
    emulator.credits, emulator.cost = 9.0, 2.0
    emulator.inject(Fault.error(422, message="bad prompt"), Endpoint.CREATE, times=2)
    async with fast_client(emulator) as client:
        results = await client.gather([f"fox {n}" for n in range(8)], keep_credits=3)
    assert 3 == sum(r.ok for r in results)
    assert 3.0 == emulator.credits
    assert 3 == len(floor_errors(results))


@pytest.mark.parametrize("floor", [-1, math.nan, math.inf, "5", True])
async def test_bad_keep_credits_is_refused_before_sending(
    emulator: Emulator, floor: object
) -> None:
    """keep_credits must be a non-negative finite number: anything else raises at once."""
    async with fast_client(emulator) as client:
        with pytest.raises(sora2pro.InvalidInputError, match="keep_credits"):
            client.batch(["a"], keep_credits=floor)  # type: ignore[arg-type]
        with pytest.raises(sora2pro.InvalidInputError, match="keep_credits"):
            await client.gather(["a"], keep_credits=floor)  # type: ignore[arg-type]
    assert [] == emulator.requests

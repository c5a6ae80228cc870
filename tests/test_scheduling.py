"""Status queries go where a task most likely finished, within the client's budget."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
import typing

import pytest

import sora2pro
from sora2pro import PollPolicy, Task, TaskState
from sora2pro._coordination._pacer import PriorityPacer
from sora2pro._flows._polling import urgency
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_RETRY, snapshot, until


async def use(pacer: PriorityPacer, urgency: float = 0.0) -> None:
    """Take a slot and send its request at once, as the transport does."""
    await pacer.acquire(urgency)
    pacer.sent()


async def test_slots_go_to_the_most_urgent_first_in_first_out_on_ties() -> None:
    """While busy, the pacer serves higher urgency first, then arrival order; no one skips."""
    pacer = PriorityPacer(50.0)
    await use(pacer)  # the next slot is 20 ms away: everyone below queues
    order: list[str] = []

    async def take(name: str, level: float) -> None:
        await use(pacer, level)
        order.append(name)

    waiters = [
        asyncio.create_task(take(name, level))
        for name, level in [("a", 0.0), ("b", 0.0), ("c", 5.0), ("d", 0.0), ("e", 1.0)]
    ]
    cancelled = asyncio.create_task(take("x", 9.0))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(*waiters)
    assert ["c", "e", "a", "b", "d"] == order


async def test_a_waiter_not_yet_due_is_not_starved() -> None:
    """Earliest due goes first: one due 30 ms after arriving beats one arriving 100 ms later."""
    pacer = PriorityPacer(5.0)
    await use(pacer)  # the next slot is 200 ms away
    order: list[str] = []

    async def take(name: str, level: float) -> None:
        await use(pacer, level)
        order.append(name)

    later = asyncio.create_task(take("later", -0.03))
    await asyncio.sleep(0.1)
    newer = asyncio.create_task(take("newer", 0.0))
    await asyncio.gather(later, newer)
    assert ["later", "newer"] == order


class RecordingPacer(PriorityPacer):
    """A pacer that notes the loop time at which it hands out each slot."""

    def __init__(self, per_second: float) -> None:
        super().__init__(per_second)
        self.handed_out: list[float] = []
        self.holds: list[tuple[float, float]] = []  # (loop time, seconds)

    def hold(self, seconds: float) -> None:
        """Note when the pacer was held, and for how long, by its own clock."""
        self.holds.append((asyncio.get_running_loop().time(), seconds))
        super().hold(seconds)

    def _grant(self) -> None:
        before = self._next  # moves on exactly when a slot is handed out
        super()._grant()
        if self._next != before:
            # The time the pacer itself took for this grant, not a later reading.
            self.handed_out.append(self._next - self._interval)


async def test_pace_holds_with_priorities() -> None:
    """However urgent, no two slots are closer than 1 / per_second."""
    pacer = RecordingPacer(100.0)
    await asyncio.gather(*(use(pacer, float(n % 3)) for n in range(10)))
    assert 10 == len(pacer.handed_out)
    gaps = [b - a for a, b in itertools.pairwise(pacer.handed_out)]
    # Measured where the pacer hands slots out, not where waiters resume: load only
    # widens these gaps, and a loop timer fires at most one clock tick (1 ns) early.
    assert min(gaps) >= 0.01 - 0.001


@pytest.mark.parametrize(
    ("last", "elapsed", "age", "typical", "expected"),
    [
        (None, 0.0, 5.0, 60.0, 0.0),
        (snapshot(50), 60.0, 70.0, 1000.0, 10.0),  # due 60 s after the snapshot; 10 s late
        (snapshot(50), 60.0, 0.0, 1000.0, -60.0),
        (snapshot(None), 30.0, 40.0, 60.0, 10.0),  # 70 s old, tasks like it take 60 s
        (snapshot(None), 30.0, 10.0, 60.0, -20.0),
    ],
)
def test_urgency_is_how_overdue_a_task_likely_is(
    last: Task | None, elapsed: float, age: float, typical: float, expected: float
) -> None:
    """Overdue by progress, else by the typical running time of its shape; 0 if unseen."""
    assert expected == urgency(last, elapsed, age, typical)


async def test_a_finished_task_is_found_first_when_the_budget_is_saturated(
    emulator: Emulator,
) -> None:
    """With 30 waits far from done, the one about to finish is polled ahead of them."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    limits = sora2pro.RateLimits(creates=1000, window=1.0, status_per_second=20.0)
    # Constant 10 ms polls keep the budget saturated; a far-from-done wait may be put
    # off by up to max_interval, so the one about to finish can go ahead of them.
    poll = PollPolicy(
        min_interval=0.01, max_interval=2.0, multiplier=1.0, use_progress=False, adaptive=False
    )
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, poll=poll, retry=FAST_RETRY, rate_limits=limits
    ) as client:
        slow = [await client.submit(f"slow {n}") for n in range(30)]
        almost = await client.submit("almost done")
        for task_id in slow:
            emulator.force_state(task_id, "generating", progress=1)
        emulator.force_state(almost, "generating", progress=99)
        waits = [asyncio.create_task(client.wait(task_id)) for task_id in slow]
        finishing = asyncio.create_task(client.wait(almost))
        # Until polled once nothing is known of a task: let the first round end.
        everyone = {*slow, almost}
        while everyone - {r.query.get("taskId") for r in emulator.requests}:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        emulator.finish(almost)
        before = emulator.count(Endpoint.RECORD_INFO)
        assert TaskState.SUCCESS is (await finishing).state
        spent = emulator.count(Endpoint.RECORD_INFO) - before
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    assert spent <= 3  # first in, first out would go around all 31 first


async def test_a_wait_predicted_far_off_is_not_starved(emulator: Emulator) -> None:
    """A task whose progress predicts hours more still gets polled while others hog the budget."""
    emulator.duration = None
    emulator.not_visible_for = 0.0
    limits = sora2pro.RateLimits(creates=1000, window=1.0, status_per_second=10.0)
    poll = PollPolicy(
        min_interval=0.01, max_interval=0.3, multiplier=1.0, use_progress=False, adaptive=False
    )
    async with sora2pro.Client(
        emulator.api_key, base_url=emulator.url, poll=poll, retry=FAST_RETRY, rate_limits=limits
    ) as client:
        far = await client.submit("far off")
        emulator.force_state(far, "generating", progress=1)
        await asyncio.sleep(0.5)  # 1% after 0.5 s: about 50 s more, by its progress
        busy = [await client.submit(f"busy {n}") for n in range(20)]  # unknown: urgency 0
        waiting = asyncio.create_task(client.wait(far, timeout=3.0))
        await asyncio.sleep(0.2)  # its first poll has seen 1%
        hogs = [asyncio.create_task(client.wait(task_id)) for task_id in busy]
        await asyncio.sleep(0.3)
        emulator.finish(far)
        assert TaskState.SUCCESS is (await waiting).state
        for hog in hogs:
            hog.cancel()
        await asyncio.gather(*hogs, return_exceptions=True)


async def test_a_slot_used_late_pushes_the_next_one_back() -> None:
    """A request sent late (a stalled loop) moves the next slot a full interval past it."""
    pacer = RecordingPacer(100.0)
    loop = asyncio.get_running_loop()
    await pacer.acquire()
    second = asyncio.ensure_future(pacer.acquire())
    await asyncio.sleep(0)  # the second caller waits; its slot is due in 10 ms
    time.sleep(0.03)  # noqa: ASYNC251  # the loop stalls between the grant and the send
    pacer.sent()
    sent_at = loop.time()
    await second
    assert pacer.handed_out[-1] >= sent_at + 0.01 - 0.001


async def test_an_unpaced_budget_hands_out_slots_without_waiting() -> None:
    """Slots under 10 us apart are taken at once, never after a turn of the loop."""
    pacer = PriorityPacer(1e6, at_once=64)
    for _ in range(3):
        taking = pacer.acquire()
        with pytest.raises(StopIteration):
            taking.send(None)  # finished without suspending


async def test_an_unpaced_budget_hands_out_64_slots_a_turn_then_queues_callers() -> None:
    """A flood of callers of an unpaced budget: 64 start in one turn, the rest later, all in."""
    pacer = PriorityPacer(1e6, at_once=64)
    callers = [asyncio.create_task(pacer.acquire()) for _ in range(100)]
    await asyncio.sleep(0)  # every caller asks once in this turn, ahead of this task
    assert 64 == sum(caller.done() for caller in callers)
    await asyncio.gather(*callers)


@pytest.mark.parametrize(("limit", "at_once"), [("recordInfo", 3), ("createTask", 0)])
async def test_lifted_status_reads_go_at_once_and_lifted_creates_one_a_turn(
    limit: str, at_once: int
) -> None:
    """Lifted, a client's status reads take their slots at once; its creates, one a turn."""
    pacer = sora2pro.LocalCoordination().pacer(limit, 1e7)
    callers = [asyncio.create_task(pacer.acquire()) for _ in range(3)]
    await asyncio.sleep(0)  # every caller asks once in this turn, ahead of this task
    assert at_once == sum(caller.done() for caller in callers)
    await asyncio.gather(*callers)


async def test_an_unpaced_budget_still_pauses_every_caller_after_a_429() -> None:
    """A hold stops an unpaced budget too: no caller gets a slot before it ends."""
    pacer = PriorityPacer(1e6, at_once=64)
    loop = asyncio.get_running_loop()
    pacer.hold(0.05)
    held_until = loop.time() + 0.05
    waiters = [asyncio.create_task(pacer.acquire()) for _ in range(10)]
    await asyncio.sleep(0.03)
    assert not any(waiter.done() for waiter in waiters)
    await asyncio.gather(*waiters)
    assert loop.time() >= held_until - 0.001


async def test_no_slot_is_handed_out_while_the_last_one_has_not_left() -> None:
    """A request waiting for a connection holds the next slot back until it is written."""
    pacer = RecordingPacer(100.0)
    loop = asyncio.get_running_loop()
    await pacer.acquire()
    second = asyncio.ensure_future(pacer.acquire())
    await asyncio.sleep(0.05)  # five intervals: the first request has not left
    assert not second.done()
    pacer.sent()
    sent_at = loop.time()
    await second
    assert pacer.handed_out[-1] >= sent_at + 0.01 - 0.001


async def test_a_slot_never_sent_frees_the_next_after_its_grace() -> None:
    """A caller that took a slot and vanished holds the others back one second at most."""
    pacer = PriorityPacer(100.0)
    loop = asyncio.get_running_loop()
    await pacer.acquire()
    taken = loop.time()
    await asyncio.wait_for(pacer.acquire(), timeout=5)
    assert loop.time() >= taken + 1.0 - 0.001


class CancellingPacer(PriorityPacer):
    """A pacer that cancels one waiter right after handing out a slot, before it runs."""

    doomed: asyncio.Future[None] | None = None

    def _grant(self) -> None:
        super()._grant()
        if self.doomed is not None:
            self.doomed.cancel()
            self.doomed = None


async def test_a_slot_handed_to_a_cancelled_caller_is_given_back() -> None:
    """A waiter cancelled as its slot came frees the next one without waiting out the grace."""
    pacer = CancellingPacer(100.0)
    await use(pacer)
    doomed = asyncio.ensure_future(pacer.acquire())
    pacer.doomed = doomed
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await asyncio.wait_for(pacer.acquire(), timeout=0.5)


async def test_status_requests_queued_behind_busy_connections_leave_paced() -> None:
    """Every pooled connection held by slow creates: the reads queued for one leave paced."""
    async with Emulator(duration=None, not_visible_for=0.0) as emulator:
        limits = sora2pro.RateLimits(creates=1000, window=1.0, status_per_second=20.0)
        async with sora2pro.Client(
            emulator.api_key, base_url=emulator.url, retry=FAST_RETRY, rate_limits=limits
        ) as client:
            task_ids = [await client.submit(f"dog {n}") for n in range(8)]
            # aiohttp's default pool holds 100 connections: 100 creates answered after
            # a second take them all, and the reads below wait for one to come free.
            emulator.inject(Fault.delay(1.0), Endpoint.CREATE, times=100)
            creates = [asyncio.create_task(client.submit(f"slow {n}")) for n in range(100)]
            await until(lambda: len(emulator.create_bodies) >= 108)
            reads = [asyncio.create_task(client.get_task(task_id)) for task_id in task_ids]
            await asyncio.gather(*reads, *creates)
    times = [r.time for r in emulator.requests if r.path == "/api/v1/jobs/recordInfo"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 8
    # 50 ms apart as sent; the server's reading of arrivals may shift each by a little.
    assert min(gaps) >= 0.025


async def test_a_caller_that_cannot_wait_takes_the_coming_slot_at_once() -> None:
    """get_task() or a callback's check does not wait for the slot due 250 ms on; once."""
    pacer = PriorityPacer(4.0)  # paced slots 250 ms apart
    await use(pacer)
    assert await took_within(pacer, math.inf, 0.1)
    assert not await took_within(pacer, math.inf, 0.1)  # the next slot is 500 ms on
    assert not await took_within(pacer, 0.0, 0.1)


async def took_within(pacer: PriorityPacer, urgency: float, seconds: float) -> bool:
    """Whether a slot came within ``seconds``; the caller is cancelled if not."""
    try:
        await asyncio.wait_for(use(pacer, urgency), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def test_spare_slots_keep_every_second_within_one_over_the_pace() -> None:
    """Paced and urgent callers together never put more than per_second + 1 in one second."""
    pacer = PriorityPacer(20.0)
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def caller(urgency: float) -> None:
        for _ in range(10):
            await pacer.acquire(urgency)
            pacer.sent()
            sent.append(loop.time())

    await asyncio.gather(*(caller(math.inf if n % 2 else 0.0) for n in range(6)))
    # Sends exactly 1/20 s apart put the 21st on the window's edge, in or out by a
    # float's rounding: a millisecond short of a second, the bound is exact.
    assert max(sum(1 for t in sent if start <= t < start + 0.999) for start in sent) <= 21


@pytest.mark.parametrize(
    ("method", "path", "request_options"),
    [
        ("POST", "/api/v1/jobs/createTask", {"body": {"model": "m", "input": {"prompt": "a"}}}),
        ("GET", "/api/v1/jobs/recordInfo", {"params": {"taskId": "t"}}),
    ],
)
async def test_a_request_is_on_the_wire_when_the_pacer_hears_it_left(
    method: str,
    path: str,
    request_options: dict[str, typing.Any],
    emulator_loop: asyncio.AbstractEventLoop,
) -> None:
    """on_sent runs once the request (a create's body too) is written: never before."""
    stall = 1.0
    heard: list[float] = []

    def on_sent() -> None:
        heard.append(time.monotonic())
        time.sleep(stall)  # the loop busy: nothing of this client gets written meanwhile

    # On a loop of its own: it reads the request while this loop stalls.
    emulator = Emulator(duration=60.0)
    asyncio.run_coroutine_threadsafe(emulator.start(), emulator_loop).result(10)
    try:
        async with sora2pro.Client(emulator.api_key, base_url=emulator.url) as client:
            transport = client._ctx.transport
            with contextlib.suppress(sora2pro.Sora2ProError):
                await transport.exchange(method, path, on_sent=on_sent, **request_options)
    finally:
        asyncio.run_coroutine_threadsafe(emulator.close(), emulator_loop).result(10)
    arrived = next(r.time for r in emulator.requests if r.path == path)
    assert len(heard) == 1
    assert arrived < heard[0] + stall  # it reached the emulator while on_sent stalled

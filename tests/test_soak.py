"""A seeded soak: every promise holds under random faults, cancels and a hostile server."""

from __future__ import annotations

import asyncio
import collections
import gc
import random
import typing
import warnings

import sora2pro
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_LIMITS
from .test_secrets import everything_about

if typing.TYPE_CHECKING:
    import pytest

KEY = "sk-soak-9f8e7d6c5b4a-secret"
REQUEST_TIMEOUT = 0.5
WAIT_TIMEOUT = 2.0
# A loaded two-core machine may be late by this much on top of the promised bound.
MARGIN = 1.0
SLOW = Fault.delay(REQUEST_TIMEOUT * 2)  # an answer that comes after the client gave up

CREATE_FAULTS = [
    Fault.rate_limited(retry_after=0.05),
    Fault.rate_limited(),
    Fault.maintenance(retry_after=0.05),
    Fault.error(500, message="aspect_ratio is not within the range of allowed options"),
    Fault.error(500, http_status=500, message=f"Bearer {KEY} is broken"),
    Fault.html(502, page=f"<h1>Bad Gateway</h1> Authorization: Bearer {KEY}"),
    Fault.garbage(),
    Fault.garbage(after_create=True),
    Fault.truncate(after_create=True),
    Fault.disconnect(),
    Fault.disconnect(after_create=True),
    SLOW,
]
STATUS_FAULTS = [
    Fault.rate_limited(retry_after=0.05),
    Fault.rate_limited(),
    Fault.maintenance(),
    Fault.error(500),
    Fault.error(500, http_status=500, message=f"echo {KEY}"),
    Fault.html(503, page=f"down; you sent {KEY}"),
    Fault.garbage(),
    Fault.truncate(),
    Fault.disconnect(),
    Fault.answer({"code": 200, "msg": "success", "data": None}),
    SLOW,
]


class Outcome(typing.NamedTuple):
    """How one prompt ended, for the caller: its task id (if known) and its error."""

    prompt: str
    task_id: str | None
    error: BaseException | None


async def generate_once(
    client: sora2pro.Client, prompt: str, cancel_after: float | None, outcomes: list[Outcome]
) -> float:
    """Run one generate(), maybe cancelled (once or twice); record it; return its overrun."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    running = asyncio.ensure_future(client.generate(prompt, timeout=WAIT_TIMEOUT))
    if cancel_after is not None:
        await asyncio.wait({running}, timeout=cancel_after)
        running.cancel()
        await asyncio.sleep(0.01)
        running.cancel()  # a second cancel, while the first is being handled
    try:
        task = await running
    except asyncio.CancelledError:
        outcomes.append(Outcome(prompt, None, None))
    except sora2pro.Sora2ProError as error:
        outcomes.append(Outcome(prompt, error.task_id, error))
    else:
        outcomes.append(Outcome(prompt, task.id, None))
    return loop.time() - started - (WAIT_TIMEOUT + REQUEST_TIMEOUT)


async def test_every_promise_holds_under_random_faults(caplog: pytest.LogCaptureFixture) -> None:
    """300 prompts under random faults and cancels: nothing lost, paid twice or leaked."""
    rng = random.Random(20261129)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    batch_prompts = [f"batch prompt {n}" for n in range(200)]
    lone_prompts = [f"lone prompt {n}" for n in range(100)]
    outcomes: list[Outcome] = []
    async with Emulator(
        api_key=KEY,
        seed=7,
        duration=lambda r: r.uniform(0.05, 0.4),
        fail_rate=0.1,
        not_visible_for=0.05,
        callback_loss=0.2,
        callback_duplicates=0.2,
        callback_delay=0.2,
    ) as emulator:
        emulator.inject_randomly(CREATE_FAULTS, Endpoint.CREATE, rate=0.15)
        emulator.inject_randomly(STATUS_FAULTS, Endpoint.RECORD_INFO, rate=0.1)
        async with (
            sora2pro.CallbackReceiver() as receiver,
            sora2pro.Client(
                KEY,
                base_url=emulator.url,
                poll=sora2pro.PollPolicy(
                    min_interval=0.02, max_interval=0.1, not_visible_for=1, expected_duration=0.2
                ),
                retry=sora2pro.RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.1),
                timeout=sora2pro.Timeouts(request=REQUEST_TIMEOUT),
                rate_limits=FAST_LIMITS,
                callbacks=receiver,
            ) as client,
        ):

            async def run_batch() -> None:
                for result in await client.gather(batch_prompts, timeout=WAIT_TIMEOUT):
                    prompt = batch_prompts[result.index]
                    outcomes.append(Outcome(prompt, result.task_id, result.error))

            cancels = [rng.uniform(0.0, 0.5) if rng.random() < 0.2 else None for _ in lone_prompts]
            overruns = await asyncio.gather(
                *(
                    generate_once(client, p, c, outcomes)
                    for p, c in zip(lone_prompts, cancels, strict=True)
                ),
                asyncio.wait_for(run_batch(), 60),
            )
        pending = set(client.pending)  # after close(): creates on the wire have settled
        tasks = dict(emulator.tasks)
    gc.collect()
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        gc.collect()

    # Every prompt ends once, as a task, a typed error, or the caller's own cancel.
    assert sorted(batch_prompts + lone_prompts) == sorted(o.prompt for o in outcomes)
    for outcome in outcomes:
        assert outcome.error is None or isinstance(outcome.error, sora2pro.Sora2ProError)
    # Nothing paid twice: at most one task per prompt.
    made = collections.Counter(task.body["input"]["prompt"] for task in tasks.values())
    assert [] == [prompt for prompt, count in made.items() if count > 1]
    # Every task made is known to its caller, unless its create was reported uncertain.
    known = {o.task_id for o in outcomes} | pending
    uncertain = {o.prompt for o in outcomes if isinstance(o.error, sora2pro.SubmitUncertainError)}
    # A cancelled caller hears of an unanswered create from the log, with its request.
    uncertain |= {
        record.request.prompt
        for record in caplog.records
        if getattr(record, "event", None) == "submit_cancelled" and hasattr(record, "request")
    }
    lost = [
        task_id
        for task_id, task in tasks.items()
        if task_id not in known and task.body["input"]["prompt"] not in uncertain
    ]
    assert [] == lost
    # No wait ends later than its deadline plus one request timeout.
    assert max(o for o in overruns if o is not None) < MARGIN
    # Nothing unretrieved, nothing unclosed, the key nowhere.
    assert [] == unhandled
    assert [] == [str(w.message) for w in leaked]
    for outcome in outcomes:
        if outcome.error is not None:
            assert KEY not in everything_about(outcome.error)
    assert KEY not in caplog.text
    # The soak did soak: faults and every kind of ending happened.
    assert any(isinstance(o.error, sora2pro.SubmitUncertainError) for o in outcomes)
    assert any(isinstance(o.error, sora2pro.TaskFailedError) for o in outcomes)
    assert sum(o.error is None and o.task_id is not None for o in outcomes) > 150

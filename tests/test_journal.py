"""batch(journal=...): a rerun after a crash pays for nothing twice and loses nothing."""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3

import pytest

import sora2pro
from sora2pro._coordination._journal import Journal, request_digest
from sora2pro._coordination._protocols import Status
from sora2pro._wire import encode_create, make_converter
from sora2pro.testing import Emulator, Endpoint, Fault

PROMPTS = [f"dog number {n}" for n in range(12)]


def rows(journal: pathlib.Path) -> list[tuple[int, str, str | None]]:
    with sqlite3.connect(journal) as connection:
        found = connection.execute("SELECT idx, status, task_id FROM items ORDER BY idx").fetchall()
    connection.close()
    return [(int(i), str(s), t) for i, s, t in found]


async def test_journal_records_every_item_without_the_key(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Each item ends as a succeeded row with its task id; the file never holds the key."""
    journal = tmp_path / "run.sqlite"
    results = await client.gather(PROMPTS, journal=journal)
    assert [(r.index, "succeeded", r.task_id) for r in results] == rows(journal)
    for path in tmp_path.iterdir():
        assert emulator.api_key.encode() not in path.read_bytes()


async def test_cancelled_batch_resumes_without_paying_twice(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Stop a batch midway, run it again: every prompt is created once, and all finish."""
    journal = tmp_path / "run.sqlite"
    emulator.duration = None  # no slot frees up: the cancel finds exactly 6 in flight
    six_submitted = asyncio.Event()

    def on_event(event: sora2pro.BatchEvent) -> None:
        if isinstance(event, sora2pro.Submitted) and event.index >= 5:
            six_submitted.set()

    async def first_run() -> None:
        async for _ in client.batch(PROMPTS, concurrency=6, journal=journal, on_event=on_event):
            pass

    run = asyncio.create_task(first_run())
    await six_submitted.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert 6 == len(emulator.tasks)
    for task_id in emulator.tasks:
        emulator.finish(task_id)
    emulator.duration = 0.2

    results = await client.gather(PROMPTS, journal=journal)
    assert all(r.ok for r in results)
    assert len(PROMPTS) == len(emulator.tasks) == emulator.count(Endpoint.CREATE)
    assert sorted(emulator.tasks) == sorted(r.task_id for r in results)  # type: ignore[type-var]


async def test_lost_answers_stay_uncertain_until_asked(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Uncertain items are not re-sent on a rerun, unless resubmit_uncertain=True."""
    journal = tmp_path / "run.sqlite"
    emulator.inject(Fault.disconnect(after_create=True), Endpoint.CREATE, times=2)
    first = await client.gather(PROMPTS, journal=journal)
    assert 2 == sum(r.uncertain for r in first)
    creates = emulator.count(Endpoint.CREATE)

    second = await client.gather(PROMPTS, journal=journal)
    assert [r.index for r in first if r.uncertain] == [r.index for r in second if r.uncertain]
    assert creates == emulator.count(Endpoint.CREATE)

    third = await client.gather(PROMPTS, journal=journal, resubmit_uncertain=True)
    assert all(r.ok for r in third)
    assert creates + 2 == emulator.count(Endpoint.CREATE)


async def test_a_create_cancelled_on_the_wire_keeps_its_task(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Ctrl-C while a create is on the wire waits for its answer and journals the task."""
    journal = tmp_path / "run.sqlite"
    emulator.inject(Fault.delay(0.3), Endpoint.CREATE)
    run = asyncio.create_task(client.gather(["a dog"], journal=journal))
    while not emulator.create_bodies:  # noqa: ASYNC110  # the emulator has no arrival event
        await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [(0, "submitted", *emulator.tasks)] == rows(journal)
    (result,) = await client.gather(["a dog"], journal=journal)
    assert result.ok
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_row_left_sending_by_a_crash_is_uncertain(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A create journaled as sending but never answered (the process died) is not re-sent."""
    journal_path = tmp_path / "run.sqlite"
    journal = await Journal.open(journal_path)
    body = encode_create(make_converter(), sora2pro.TextToVideo("a dog"))
    await asyncio.wrap_future(
        journal.record_soon((request_digest(body), 0), 0, body, Status.SENDING)
    )
    await journal.close()
    (result,) = await client.gather(["a dog"], journal=journal_path)
    assert result.uncertain
    assert 0 == emulator.count(Endpoint.CREATE)
    (again,) = await client.gather(["a dog"], journal=journal_path, resubmit_uncertain=True)
    assert again.ok


async def test_two_runs_cannot_share_a_journal(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A second run on a journal in use is refused: both would pay for the same items."""
    journal = tmp_path / "run.sqlite"
    emulator.duration = None
    first = asyncio.create_task(client.gather(PROMPTS, journal=journal))
    while not emulator.tasks:  # noqa: ASYNC110  # the emulator has no arrival event
        await asyncio.sleep(0.01)
    with pytest.raises(sora2pro.Sora2ProError, match="in use by another run"):
        await client.gather(PROMPTS, journal=journal)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    for task_id in emulator.tasks:
        emulator.finish(task_id)
    emulator.duration = 0.1
    assert all(r.ok for r in await client.gather(PROMPTS, journal=journal))
    assert len(PROMPTS) == emulator.count(Endpoint.CREATE)


async def test_refused_items_are_sent_again(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """An item the server refused (nothing ran) is sent again on a rerun."""
    journal = tmp_path / "run.sqlite"
    emulator.inject(Fault.error(402), Endpoint.CREATE)
    (first,) = await client.gather(["a dog"], journal=journal)
    assert isinstance(first.error, sora2pro.InsufficientCreditsError)
    (second,) = await client.gather(["a dog"], journal=journal)
    assert second.ok


async def test_edited_prompt_is_a_new_item(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Changing a prompt at an index submits it anew; untouched items are not re-sent."""
    journal = tmp_path / "run.sqlite"
    await client.gather(PROMPTS, journal=journal)
    edited = ["a cat instead", *PROMPTS[1:]]
    results = await client.gather(edited, journal=journal)
    assert all(r.ok for r in results)
    assert len(PROMPTS) + 1 == emulator.count(Endpoint.CREATE)
    assert len(PROMPTS) + 1 == len(rows(journal))


async def test_deleting_or_moving_lines_resends_nothing(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Items are matched by content, not position: a shorter, reordered file pays nothing."""
    journal = tmp_path / "run.sqlite"
    first = await client.gather(PROMPTS, journal=journal)
    shuffled = list(reversed(PROMPTS[3:]))
    second = await client.gather(shuffled, journal=journal)
    assert all(r.ok for r in second)
    assert len(PROMPTS) == emulator.count(Endpoint.CREATE)
    by_prompt = {r.request.prompt: r.task_id for r in first}  # type: ignore[union-attr]
    assert [by_prompt[p] for p in shuffled] == [r.task_id for r in second]


async def test_duplicate_prompts_are_distinct_items(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """The same prompt twice is two videos, and a rerun re-attaches to both."""
    journal = tmp_path / "run.sqlite"
    first = await client.gather(["same", "same"], journal=journal)
    second = await client.gather(["same", "same"], journal=journal)
    assert 2 == len({r.task_id for r in first}) == emulator.count(Endpoint.CREATE)
    assert [r.task_id for r in first] == [r.task_id for r in second]


async def test_a_failure_message_that_is_no_text_is_journaled(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A failMsg with a lone surrogate ends its item as failed, journaled: no crash of the batch."""
    journal = tmp_path / "run.sqlite"
    emulator.duration = None
    emulator.not_visible_for = 0.0

    def on_event(event: sora2pro.BatchEvent) -> None:
        if isinstance(event, sora2pro.Submitted):
            emulator.finish(event.task_id, success=False, fail_message="bad \ud800 input")

    (result,) = await client.gather(["a dog"], journal=journal, on_event=on_event)
    assert isinstance(result.error, sora2pro.TaskFailedError)
    assert "bad \ufffd input" == result.error.task.fail_message
    assert [(0, "failed", result.task_id)] == rows(journal)

"""generate(on_submitted=...): the task id handed over the moment the server gives it."""

from __future__ import annotations

import asyncio
import logging
import typing

import pytest

import sora2pro
from sora2pro import TaskState

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


def status_requests(emulator: Emulator, task_id: str) -> int:
    return sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


@pytest.mark.parametrize("kind", ["plain", "async"])
async def test_on_submitted_gets_the_task_id_before_any_wait(
    client: sora2pro.Client, emulator: Emulator, kind: str
) -> None:
    """A plain or async on_submitted gets the id while the task is pending and unpolled."""
    handed: list[tuple[str, int, bool]] = []

    def note(task_id: str) -> None:
        handed.append((task_id, status_requests(emulator, task_id), task_id in client.pending))

    async def note_async(task_id: str) -> None:
        note(task_id)

    task = await client.generate("a dog", on_submitted=note if kind == "plain" else note_async)
    assert TaskState.SUCCESS is task.state
    assert [(task.id, 0, True)] == handed


async def test_a_raising_on_submitted_ends_generate_and_keeps_the_task(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """What on_submitted raises comes out of generate(), noting the task, which stays pending."""

    def broken(_task_id: str) -> None:
        raise ValueError("the database is down")

    with pytest.raises(ValueError, match="the database is down") as caught:
        await client.generate("a dog", on_submitted=broken)
    (task_id,) = emulator.tasks
    assert [task_id] == list(client.pending)
    assert any(task_id in note for note in caught.value.__notes__)
    assert 0 == status_requests(emulator, task_id)


async def test_a_library_error_from_on_submitted_carries_the_task_id(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A Sora2ProError raised by on_submitted names the task like every error of generate()."""

    async def nested(_task_id: str) -> None:
        raise sora2pro.InvalidInputError("chat_id", "unknown chat")

    with pytest.raises(sora2pro.InvalidInputError) as caught:
        await client.generate("a dog", on_submitted=nested)
    assert [caught.value.task_id] == list(emulator.tasks)


async def test_a_slow_on_submitted_meets_the_deadline(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """An on_submitted that never returns ends in WaitTimeoutError at generate()'s timeout."""

    async def stuck(_task_id: str) -> None:
        await asyncio.Event().wait()

    with pytest.raises(sora2pro.WaitTimeoutError) as caught:
        await client.generate("a dog", on_submitted=stuck, timeout=0.5)
    (task_id,) = emulator.tasks
    assert (task_id, None) == (caught.value.task_id, caught.value.last)
    assert task_id in client.pending


async def test_a_cancel_during_on_submitted_keeps_the_task(
    client: sora2pro.Client, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """generate() cancelled while on_submitted runs: the task stays pending and is logged."""
    entered = asyncio.Event()

    async def slow(_task_id: str) -> None:
        entered.set()
        await asyncio.Event().wait()

    generating = asyncio.create_task(client.generate("a dog", on_submitted=slow))
    await entered.wait()
    generating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await generating
    (task_id,) = emulator.tasks
    assert task_id in client.pending
    abandoned = [r for r in caplog.records if getattr(r, "event", None) == "abandoned"]
    assert [(logging.WARNING, task_id)] == [(r.levelno, r.task_id) for r in abandoned]  # type: ignore[attr-defined]


async def test_a_repeat_with_an_idempotency_key_hands_over_the_first_task(
    client: sora2pro.Client,
) -> None:
    """A keyed generate() that sends nothing still hands its task id to on_submitted."""
    handed: list[str] = []
    first = await client.generate("a dog", idempotency_key="k", on_submitted=handed.append)
    again = await client.generate("a dog", idempotency_key="k", on_submitted=handed.append)
    assert [first.id, first.id] == handed == [first.id, again.id]


@pytest.mark.parametrize("on_submitted", ["print", 42])
async def test_on_submitted_must_be_callable(
    client: sora2pro.Client, emulator: Emulator, on_submitted: object
) -> None:
    """A callback that cannot be called is refused before anything is sent."""
    with pytest.raises(sora2pro.InvalidInputError, match="on_submitted"):
        await client.generate("a dog", on_submitted=on_submitted)  # type: ignore[arg-type]
    assert [] == emulator.requests

"""Client(coordination=...): the state a client's flows share, behind one seam."""

from __future__ import annotations

import asyncio
import typing

import pytest

import sora2pro
from sora2pro.testing import Endpoint

from .conftest import fast_client

if typing.TYPE_CHECKING:
    from sora2pro.testing import Emulator


async def test_clients_sharing_a_coordination_share_pending_tasks(emulator: Emulator) -> None:
    """A task one client submits is pending for another client of the same coordination."""
    emulator.duration = None
    shared = sora2pro.LocalCoordination()
    async with (
        fast_client(emulator, coordination=shared) as one,
        fast_client(emulator, coordination=shared) as two,
    ):
        task_id = await one.submit("a dog")
        assert [task_id] == list(two.pending)
        emulator.finish(task_id)
        await two.wait(task_id)
        assert {} == dict(one.pending)


async def test_clients_sharing_a_coordination_share_their_pacers(emulator: Emulator) -> None:
    """Two clients of one coordination pace their creates together: one slot each time."""
    shared = sora2pro.LocalCoordination()
    async with (
        fast_client(emulator, coordination=shared) as one,
        fast_client(emulator, coordination=shared) as two,
    ):
        assert one._ctx.api.create_pacer is two._ctx.api.create_pacer
        assert one._ctx.api.status_pacer is two._ctx.api.status_pacer


async def test_clients_by_default_share_nothing(emulator: Emulator) -> None:
    """Without a coordination, each client keeps its own pending tasks."""
    emulator.duration = None
    async with (
        fast_client(emulator, coordination=None) as one,
        fast_client(emulator, coordination=None) as two,
    ):
        await one.submit("a dog")
        assert ({}, 1) == (dict(two.pending), len(one.pending))


def test_a_coordination_of_the_wrong_type_is_refused() -> None:
    """Client(coordination=...) takes a coordination backend or a Redis URL, nothing else."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.Client("key", coordination=6379)  # type: ignore[arg-type]
    assert "coordination" == caught.value.field


class GatedPacer:
    """A create pacer whose slot the test hands out."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def acquire(self, urgency: float = 0.0) -> None:  # noqa: ARG002  # one slot for all
        """Wait until the test opens the gate."""
        await self.gate.wait()

    def sent(self) -> None:
        """Nothing to space."""

    def hold(self, seconds: float) -> None:
        """Nothing to hold."""


class GatedCoordination(sora2pro.LocalCoordination):
    """A coordination whose create slots open when the test says."""

    def __init__(self) -> None:
        super().__init__()
        self.creates = GatedPacer()

    def pacer(self, name: str, per_second: float) -> typing.Any:
        """The gated pacer for creates, the usual one for status queries."""
        return self.creates if name == "createTask" else super().pacer(name, per_second)


async def test_a_slot_granted_as_close_begins_sends_nothing(emulator: Emulator) -> None:
    """A create whose slot opens in the same loop turn as close() begins is not sent."""
    coordination = GatedCoordination()
    client = fast_client(emulator, coordination=coordination)
    submitting = asyncio.ensure_future(client.submit("a dog"))
    await asyncio.sleep(0.05)  # the submit waits for its create slot
    coordination.creates.gate.set()  # the slot opens ...
    await client.close()  # ... in the same turn as close() begins
    with pytest.raises(sora2pro.TransportError, match="closing") as caught:
        await submitting
    assert not caught.value.request_sent
    assert ({}, 0) == (emulator.tasks, emulator.count(Endpoint.CREATE))

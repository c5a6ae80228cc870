"""Client(coordination=...): the state a client's flows share, behind one seam."""

from __future__ import annotations

import typing

import pytest

import sora2pro

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
        assert one._create_pacer is two._create_pacer
        assert one._status_pacer is two._status_pacer


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
    """Client(coordination=...) takes a coordination backend, nothing else."""
    with pytest.raises(sora2pro.InvalidInputError) as caught:
        sora2pro.Client("key", coordination="redis://localhost")  # type: ignore[arg-type]
    assert "coordination" == caught.value.field

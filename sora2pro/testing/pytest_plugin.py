"""A pytest fixture for the emulator: ``pytest_plugins = ["sora2pro.testing.pytest_plugin"]``.

Needs ``pip install 'sora2pro[testing]'``, which brings pytest-asyncio. The fixture
works in pytest-asyncio's default strict mode: mark each test that uses it with
``@pytest.mark.asyncio`` (or a whole module with ``pytestmark = pytest.mark.asyncio``),
or set ``asyncio_mode = "auto"`` to skip the markers::

    pytest_plugins = ["sora2pro.testing.pytest_plugin"]


    @pytest.mark.asyncio
    async def test_submit(sora2pro_emulator):
        async with sora2pro.Client(
            sora2pro_emulator.api_key, base_url=sora2pro_emulator.url
        ) as client:
            task_id = await client.submit("a happy dog")
        assert [task_id] == list(sora2pro_emulator.tasks)

pytest-asyncio warns until ``asyncio_default_fixture_loop_scope = "function"`` is set
in the pytest configuration.
"""

from __future__ import annotations

import typing

import pytest_asyncio

from sora2pro.testing._emulator import Emulator

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["sora2pro_emulator"]


@pytest_asyncio.fixture
async def sora2pro_emulator() -> AsyncIterator[Emulator]:
    """A running emulator whose tasks take half a second, in the test's event loop."""
    async with Emulator(duration=0.5, not_visible_for=0.05) as emulator:
        yield emulator

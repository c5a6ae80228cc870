"""A pytest fixture for the emulator: ``pytest_plugins = ["sora2pro.testing.pytest_plugin"]``."""

from __future__ import annotations

import typing

import pytest_asyncio

from sora2pro.testing._emulator import Emulator

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["sora2pro_emulator"]


@pytest_asyncio.fixture
async def sora2pro_emulator() -> AsyncIterator[Emulator]:
    """A running emulator whose tasks take half a second."""
    async with Emulator(duration=0.5, not_visible_for=0.05) as emulator:
        yield emulator

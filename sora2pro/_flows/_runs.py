"""A client's batch runs, so that closing the client ends them and frees their journals."""

from __future__ import annotations

import asyncio
import typing

__all__ = ["Run", "Runs"]


class Run(typing.Protocol):
    """One batch run, as the client's list of them sees it."""

    @property
    def closing(self) -> asyncio.Future[None] | None:
        """Its wind-down, once begun."""

    def shut(self) -> asyncio.Future[None]:
        """Stop it and release its journal, once; the future ends when that is done."""


class Runs:
    """A client's batch runs that are not wound down yet, so that close() can end them."""

    def __init__(self) -> None:
        self._runs: set[Run] = set()

    def add(self, run: Run) -> None:
        self._runs.add(run)

    def discard(self, run: Run) -> None:
        self._runs.discard(run)

    async def settle(self) -> None:
        """Wait for the runs already winding down."""
        closing = [run.closing for run in self._runs if run.closing is not None]
        if closing:
            await asyncio.shield(asyncio.gather(*closing, return_exceptions=True))

    async def close(self) -> None:
        """Stop every run and release its journal."""
        if self._runs:
            # Shielded: cancelling close() must not cancel a wind-down midway.
            stopping = asyncio.gather(
                *(run.shut() for run in list(self._runs)), return_exceptions=True
            )
            await asyncio.shield(stopping)

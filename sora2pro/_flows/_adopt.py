"""Taking over the pending tasks of processes that died, to wait on them here."""

from __future__ import annotations

import logging
import typing

if typing.TYPE_CHECKING:
    from sora2pro._flows._context import Context

__all__ = ["adopt_orphans"]

logger = logging.getLogger("sora2pro")


async def adopt_orphans(ctx: Context) -> list[str]:
    """Move the tasks of the coordination's dead processes into this client's pending; their ids.

    Each id goes to exactly one adopter, even when several adopt at once. With a
    coordination of one process there are none.
    """
    adopted = await ctx.registry.adopt()
    for task_id in adopted:
        logger.info("adopted task %s", task_id, extra={"event": "adopted", "task_id": task_id})
    return adopted

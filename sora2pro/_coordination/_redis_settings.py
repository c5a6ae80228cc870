"""Redis's own settings, read once: a warning when they could lose the coordination's state."""

from __future__ import annotations

import logging
import typing

import redis.asyncio
import redis.exceptions

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["EVENT", "check_settings", "risks"]

logger = logging.getLogger("sora2pro")

#: The ``event`` of the one warning logged when the settings would lose state.
EVENT = "redis_settings"
_READ = ("appendonly", "save", "maxmemory", "maxmemory-policy")


def risks(settings: Mapping[str, str]) -> list[str]:
    """How Redis with these ``CONFIG GET`` values could lose keys; empty when it keeps them.

    Every key of the coordination has a time to live, so a ``volatile-*`` policy
    may evict them as readily as an ``allkeys-*`` one: only ``noeviction`` (or no
    ``maxmemory`` at all) keeps them until they expire.
    """
    found = []
    if settings.get("appendonly") == "no" and not settings.get("save"):
        found.append('it keeps nothing on disk (appendonly no, save ""): a restart forgets it all')
    policy = settings.get("maxmemory-policy", "noeviction")
    if settings.get("maxmemory", "0") != "0" and policy != "noeviction":
        found.append(
            f"maxmemory-policy {policy} may evict its keys when memory runs short "
            "(noeviction keeps them)"
        )
    return found


async def check_settings(client: redis.asyncio.Redis, where: str) -> bool:
    """Log one warning when Redis's settings could lose state; whether Redis was read.

    A Redis whose ``CONFIG`` is disabled or denied (as managed services do) counts
    as read, silently; one that does not answer does not (the caller may ask later).
    """
    try:
        async with client.pipeline(transaction=False) as pipe:
            for name in _READ:
                pipe.config_get(name)
            answers = await pipe.execute()
    except redis.exceptions.ResponseError:
        return True
    except redis.exceptions.RedisError:
        return False
    settings = {_text(name): _text(value) for answer in answers for name, value in answer.items()}
    found = risks(settings)
    if found:
        logger.warning(
            "Redis at %s may lose the coordination's state: %s",
            where,
            "; ".join(found),
            extra={"event": EVENT, "risks": found},
        )
    return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

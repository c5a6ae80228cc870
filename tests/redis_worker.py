"""A client process for the multi-process tests: ``python -m tests.redis_worker ...``.

Arguments: the emulator's URL, the Redis URL, the API key, and how many creates to
send one after another. It shares the account's limits through RedisCoordination
under the default namespace (the key's hash). It prints "ready" once its client is
made, and starts when a line comes on its standard input: the test starts every
process at once.
"""

from __future__ import annotations

import asyncio
import sys

import sora2pro

#: Each process alone may create 20 a second; the test's emulator allows 25.
LIMITS = sora2pro.RateLimits(creates=20, window=1.0, status_per_second=1000.0, pause=0.05)


async def main(base_url: str, redis_url: str, key: str, creates: int) -> None:
    """Send ``creates`` creates, paced with every other process of the key."""
    async with (
        sora2pro.RedisCoordination(redis_url) as coordination,
        sora2pro.Client(
            key, base_url=base_url, coordination=coordination, rate_limits=LIMITS
        ) as client,
    ):
        print("ready", flush=True)  # noqa: T201  # the test reads it
        await asyncio.to_thread(sys.stdin.readline)
        for _ in range(creates):
            await client.submit("a dog")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))

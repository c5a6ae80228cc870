"""A client process for the multi-process tests: ``python -m tests.redis_worker ...``.

Arguments: the emulator's URL, the Redis URL, the API key, how many creates to send
one after another, and optionally "keyed": then the creates go all at once, each with
its own idempotency key ("key-0", "key-1", ...), and the process prints the task ids
it got, in the keys' order, on one line; after "keyed", the lease of its claims in
seconds (30 by default). With "hold" instead of "keyed", it sends the creates one
after another, prints their task ids once Redis holds them, and then waits without
end (the test kills it); the lease follows as for "keyed". It shares the account's
limits through RedisCoordination under the default namespace (the key's hash). It
prints "ready" once its client is made, and starts when a line comes on its standard
input: the test starts every process at once. With "journal", it runs a batch of
that many prompts ("a dog, take 0", ...) on the Redis journal "shared", printing
"<index> <task id or -> <ok>" for each result it yields and "end" at the end.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys

import sora2pro

#: Each process alone may create 20 a second; the test's emulator allows 25.
LIMITS = sora2pro.RateLimits(creates=20, window=1.0, status_per_second=1000.0, pause=0.05)
#: Polls as the tests' own clients do (conftest's FAST_POLL): a journal's batch waits
#: for the emulator's short tasks, not for the default first poll's seconds.
FAST_POLL = sora2pro.PollPolicy(
    min_interval=0.01, max_interval=0.05, not_visible_for=5.0, expected_duration=0.3
)


async def main(
    base_url: str, redis_url: str, key: str, creates: int, *, mode: str, lease: float
) -> None:
    """Send ``creates`` creates, paced with every other process of the key."""
    async with (
        sora2pro.RedisCoordination(redis_url, lease=lease) as coordination,
        sora2pro.Client(
            key,
            base_url=base_url,
            coordination=coordination,
            rate_limits=LIMITS,
            poll=FAST_POLL if mode == "journal" else None,
        ) as client,
    ):
        print("ready", flush=True)  # noqa: T201  # the test reads it
        await asyncio.to_thread(sys.stdin.readline)
        if mode == "journal":
            prompts = [f"a dog, take {n}" for n in range(creates)]
            batch = client.batch(prompts, journal=coordination.journal("shared"), concurrency=2)
            async for result in batch:
                print(result.index, result.task_id or "-", result.ok, flush=True)  # noqa: T201
            print("end", flush=True)  # noqa: T201
            return
        if mode == "hold":
            ids = [await client.submit("a dog") for _ in range(creates)]
            await coordination.settle()
            print(" ".join(ids), flush=True)  # noqa: T201
            await asyncio.Event().wait()
        if mode == "keyed":
            submits = (client.submit("a dog", idempotency_key=f"key-{n}") for n in range(creates))
            print(" ".join(await asyncio.gather(*submits)), flush=True)  # noqa: T201
            return
        for _ in range(creates):
            await client.submit("a dog")


async def start(count: int, *args: str) -> list[asyncio.subprocess.Process]:
    """Start ``count`` workers with ``args``, let them all go at once once every one is ready."""
    root = pathlib.Path(__file__).resolve().parents[1]
    env = os.environ | {"PYTHONPATH": str(root)}
    workers = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.redis_worker", *args),
            cwd=root,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert b"ready\n" == await worker.stdout.readline()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    return workers


if __name__ == "__main__":
    mode = sys.argv[5] if len(sys.argv) > 5 else ""
    lease = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
    base_url, redis_url, key, creates = sys.argv[1:5]
    asyncio.run(main(base_url, redis_url, key, int(creates), mode=mode, lease=lease))

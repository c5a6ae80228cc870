"""One replica of the *processes* benchmark: ``python -m benchmarks._replica '<json config>'``.

A client with the library's defaults, a ``CallbackReceiver`` of its own, and a
``RedisCoordination`` shared with the other replicas. It talks with the benchmark in
JSON lines:

1. It prints ``{"callback_url": ...}`` (its receiver's) once its client is open.
2. It reads ``{"callback_url": ...}``: where its tasks' callbacks must go (another
   replica's receiver), and starts: ``submit()`` then ``wait()`` for each of its
   tasks, all at once.
3. Once every wait ended, it prints ``{"ended": {task id: time}, "errors": [...]}``:
   when each ``wait()`` returned, on ``time.monotonic()``. It keeps receiving, since
   the others' callbacks still land here.
4. It reads one more line (or its stdin closes), prints ``{"received": {task id:
   time}}`` (when each callback that no wait here took arrived) and ends.

Config keys: ``emulator`` and ``redis`` (URLs), ``namespace``, ``tasks`` (how many
this replica creates) and ``timeout`` (each wait's, in seconds).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import typing

import sora2pro
from benchmarks._harness import API_KEY


def say(message: dict[str, object]) -> None:
    """One JSON line to the benchmark."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def listen() -> dict[str, typing.Any]:
    """One JSON line from the benchmark ({} when its stdin closed)."""
    line = await asyncio.to_thread(sys.stdin.readline)
    answer: dict[str, typing.Any] = json.loads(line) if line.strip() else {}
    return answer


async def replica(config: dict[str, typing.Any]) -> None:
    """Run the protocol above."""
    received: dict[str, float] = {}
    ended: dict[str, float] = {}
    errors: list[str] = []
    async with (
        sora2pro.RedisCoordination(config["redis"], namespace=config["namespace"]) as shared,
        sora2pro.CallbackReceiver() as receiver,
    ):

        def arrived(callback: sora2pro.Callback) -> None:
            received.setdefault(callback.task.id, time.monotonic())

        # Before the client's own listener: the time the callback arrived here.
        receiver.on_unclaimed(arrived)
        async with sora2pro.Client(
            API_KEY, base_url=config["emulator"], callbacks=receiver, coordination=shared
        ) as client:

            async def follow(number: int, callback_url: str) -> None:
                try:
                    task_id = await client.submit(f"video {number}", callback_url=callback_url)
                    await client.wait(task_id, timeout=config["timeout"])
                except sora2pro.Sora2ProError as error:
                    errors.append(type(error).__name__)
                else:
                    ended[task_id] = time.monotonic()

            say({"callback_url": receiver.url})
            target = (await listen())["callback_url"]
            await asyncio.gather(*(follow(number, target) for number in range(config["tasks"])))
            say({"ended": ended, "errors": errors})
            await listen()
    say({"received": received})


if __name__ == "__main__":
    asyncio.run(replica(json.loads(sys.argv[1])))

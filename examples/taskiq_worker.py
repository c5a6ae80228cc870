"""A taskiq job that survives redelivery: the same job run twice sends one create.

Job queues deliver at least once. taskiq's Redis stream broker acknowledges a message
only once its job has ended: a worker that dies mid-job leaves it pending, and a live
worker takes it over once it has been idle for ``idle_timeout`` (taskiq-redis looks
for such messages each time it has read new ones) and runs the job again. The job
passes its order's id as ``idempotency_key``, so a second run gets the task the first
one created, sends no create, and waits for that task. With ``coordination=REDIS_URL``
this holds across every worker process, which also share the account's limits.

Needs ``pip install 'sora2pro[redis,examples]'``. Start workers, as many as you like::

    export APIKLEY_API_KEY=... REDIS_URL=redis://localhost:6379/0
    cd examples && taskiq worker taskiq_worker:broker

and enqueue from any process::

    job = await make_video.kiq("a happy dog running in the garden", order="order-42")
    print((await job.wait_result()).return_value)  # {"task_id": ..., "videos": [...]}
"""

from __future__ import annotations

import os
from typing import Annotated

from taskiq import Context, TaskiqDepends, TaskiqEvents, TaskiqState
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

import sora2pro

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")

broker = RedisStreamBroker(REDIS_URL).with_result_backend(RedisAsyncResultBackend(REDIS_URL))


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_client(state: TaskiqState) -> None:
    """One client per worker process, sharing the account with the others on Redis."""
    state.client = sora2pro.Client(coordination=REDIS_URL)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_client(state: TaskiqState) -> None:
    """Close the worker's client (its HTTP session and Redis connection)."""
    await state.client.close()


@broker.task
async def make_video(
    prompt: str, order: str, context: Annotated[Context, TaskiqDepends()]
) -> dict[str, object]:
    """Generate a video for ``order``; run again for the same order, it creates nothing."""
    client: sora2pro.Client = context.state.client
    task = await client.generate(prompt, idempotency_key=order)
    return {"task_id": task.id, "videos": list(task.result_urls)}

"""The emulator in a process of its own: ``python -m benchmarks._server '<json config>'``.

Prints one JSON line (its ``url`` and its ``time.monotonic()``) once it listens, then
serves until its stdin closes or it gets SIGTERM. Two additions live here and not in
the library, since only the benchmarks need them:

- ``GET /_bench/stats`` answers what the benchmarks count: creates and status requests,
  429 answers by endpoint, status requests by task, each task's start and end on the
  monotonic clock, and the CPU time and peak memory of this process.
- ``Retry-After`` is multiplied by the run's time factor, like every other duration:
  the emulator writes it in real seconds.

Config keys: ``duration`` (seconds, or ``{"median", "sigma", "seed"}`` for log-normal
durations drawn in create order), ``not_visible_for``, ``progress`` (report it or
not; live answers do not), ``create_limit`` and
``status_limit`` (``[count, seconds]`` or null), ``callback_loss`` (the share of
callbacks never sent), ``factor`` and ``seed``.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import math
import random
import resource
import signal
import sys
import time
import typing

from aiohttp import web

from benchmarks._harness import CREATE, RECORD_INFO
from sora2pro.testing import Emulator

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp.typedefs import Handler


def durations(spec: object) -> float | Callable[[random.Random], float]:
    """A fixed duration, or log-normal ones from a generator of their own.

    Their own generator, not the emulator's: the emulator draws its quirks from its
    generator per request, so each run would get other durations for the same seed.
    """
    if isinstance(spec, dict):
        draw = random.Random(spec["seed"])
        mu, sigma = math.log(spec["median"]), spec["sigma"]
        return lambda _quirks: draw.lognormvariate(mu, sigma)
    if isinstance(spec, int | float):
        return float(spec)
    raise ValueError(f"duration must be a number or a distribution, not {spec!r}")


def limit(value: object) -> tuple[int, float] | None:
    """A ``[count, seconds]`` pair from JSON as the emulator takes it."""
    if value is None:
        return None
    count, seconds = typing.cast("list[float]", value)
    return int(count), float(seconds)


def build(config: dict[str, typing.Any]) -> Emulator:
    """The emulator the config describes, with the stats route and scaled Retry-After."""
    emulator = Emulator(
        duration=durations(config["duration"]),
        not_visible_for=config["not_visible_for"],
        progress=config.get("progress", True),
        create_limit=limit(config.get("create_limit")),
        status_limit=limit(config.get("status_limit")),
        callback_loss=config.get("callback_loss", 0.0),
        credits=1e12,  # the account's balance is not what is measured
        seed=config.get("seed", 0),
    )
    factor = float(config.get("factor", 1.0))

    @web.middleware
    async def scale_retry_after(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        asked = response.headers.get("Retry-After")
        if asked is not None:
            response.headers["Retry-After"] = f"{float(asked) * factor:.6f}"
        return response

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(summary(emulator))

    # Outermost, so that it also sees the 429 answers the emulator's middleware writes.
    emulator.app.middlewares.insert(0, scale_retry_after)
    emulator.app.router.add_get("/_bench/stats", stats)
    return emulator


def summary(emulator: Emulator) -> dict[str, typing.Any]:
    """What the benchmarks count, as JSON; the clock and CPU as of the call."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    now = time.monotonic()
    paths = collections.Counter(request.path for request in emulator.requests)
    polls = collections.Counter(
        request.query.get("taskId") for request in emulator.requests if request.path == RECORD_INFO
    )
    return {
        "monotonic": now,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_kb": usage.ru_maxrss,
        "requests": {"createTask": paths[CREATE], "recordInfo": paths[RECORD_INFO]},
        "rate_limited": {endpoint.value: n for endpoint, n in emulator.rate_limited.items()},
        "tasks": [
            {
                "id": task.id,
                "created": task.created,
                "end": task.end_time(),
                "status_requests": polls[task.id],
            }
            for task in emulator.tasks.values()
        ],
    }


async def serve(config: dict[str, typing.Any]) -> None:
    """Serve until stdin closes or SIGTERM comes."""
    # A full collection over the request log and 10,000 tasks stalls this loop for
    # 40-60 ms; the requests that arrive meanwhile are then stamped together, and the
    # limiter refuses what the client spaced evenly. The emulator is not what is
    # measured: let memory grow instead.
    gc.disable()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with build(config) as emulator:
        greeting = {"url": emulator.url, "monotonic": time.monotonic()}
        sys.stdout.write(json.dumps(greeting) + "\n")
        sys.stdout.flush()
        closed = asyncio.ensure_future(stdin.read())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (closed, stopped):
            waiter.cancel()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))

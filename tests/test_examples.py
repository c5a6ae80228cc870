"""The programs in examples/ import; the web apps and the taskiq worker work end to end offline."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import pathlib
import signal
import socket
import sys
import types
from typing import TYPE_CHECKING

import aiohttp
import redis.asyncio
import uvicorn
from aiohttp import web
from taskiq.api import run_receiver_task

import sora2pro
import sora2pro._client
from sora2pro.testing import Endpoint, Fault

from .conftest import FAST_LIMITS, FAST_POLL, FAST_RETRY, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import pytest

    from sora2pro.testing import Emulator

    from .redis_server import RedisServer

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name: str, monkeypatch: pytest.MonkeyPatch | None = None) -> types.ModuleType:
    """Run examples/<name>.py as a module; in sys.modules for the test, given ``monkeypatch``."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if monkeypatch is not None:  # taskiq's decorator looks its function's module up there
        monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


async def test_web_app_pushes_the_result_when_the_callback_lands(emulator: Emulator) -> None:
    """POST a prompt, get a task id at once; the event stream then carries the video."""
    web_app = load("web_app")
    receiver = sora2pro.CallbackReceiver()
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=sora2pro.PollPolicy(min_interval=1.0, max_interval=5.0),
        rate_limits=FAST_LIMITS,
        callbacks=receiver,
    ) as client:
        runner = web.AppRunner(web_app.make_app(client, receiver))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            receiver.public_url = base  # the provider calls this same app
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{base}/videos", json={"prompt": "a dog"}) as posted:
                    assert 202 == posted.status
                    task_id = (await posted.json())["task_id"]
                async with session.get(f"{base}/videos/{task_id}/events") as stream:
                    text = await stream.text()
                async with session.post(f"{base}/videos", json={"prompt": ""}) as refused:
                    assert 400 == refused.status
        finally:
            await runner.cleanup()
    event, data = text.strip().split("\n")
    assert "event: done" == event
    outcome = json.loads(data.removeprefix("data: "))
    assert "success" == outcome["state"]
    assert outcome["videos"]
    assert receiver.result(task_id) is not None
    assert 1 == sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


class QuietServer(uvicorn.Server):
    """uvicorn's server, leaving the test runner's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Capture nothing: Ctrl-C and timeouts stay pytest's."""
        yield


async def test_fastapi_app_gets_the_result_by_callback(emulator: Emulator) -> None:
    """Under uvicorn, the emulator's callback reaches the FastAPI route and ends the wait."""
    fastapi_app = load("fastapi_app")
    listening = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    receiver = sora2pro.CallbackReceiver(public_url=base, path=fastapi_app.CALLBACK_PATH)
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        # Patient polls far slower than the task: only the callback ends the wait in time.
        poll=sora2pro.PollPolicy(min_interval=1.0, max_interval=5.0),
        rate_limits=FAST_LIMITS,
        callbacks=receiver,
    ) as client:
        config = uvicorn.Config(fastapi_app.make_app(client), log_level="warning")
        server = QuietServer(config)
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        try:
            await until(lambda: server.started)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                async with session.post(f"{base}/videos", json={"prompt": "a dog"}) as posted:
                    assert 202 == posted.status
                    task_id = (await posted.json())["task_id"]
                async with session.get(f"{base}/videos/{task_id}") as answer:
                    outcome = await answer.json()
                async with session.post(f"{base}/videos", json={"prompt": ""}) as refused:
                    assert 400 == refused.status
                hook = f"{base}{fastapi_app.CALLBACK_PATH}"
                async with session.post(hook, data=b"{not json") as garbage:
                    assert 400 == garbage.status
                async with session.post(hook, data=io.BytesIO(b" " * (2 * 1024 * 1024))) as huge:
                    assert 413 == huge.status
        finally:
            server.should_exit = True
            await serving
            listening.close()
    assert "success" == outcome["state"]
    assert [f"{emulator.url}/files/{task_id}.mp4"] == outcome["videos"]
    assert [f"{base}{fastapi_app.CALLBACK_PATH}"] == [url for url, _ in emulator.callbacks_sent]
    # The callback's confirming fetch was the only status request: the wait made none.
    assert 1 == sum(1 for r in emulator.requests if r.query.get("taskId") == task_id)


def test_telegram_bot_builds_its_router() -> None:
    """The aiogram bot imports and registers its /video command."""
    bot = load("telegram_bot")
    router = bot.make_router(sora2pro.Client("key"))
    assert 1 == len(router.message.handlers)


async def test_metrics_counts_what_the_client_did(emulator: Emulator) -> None:
    """The Prometheus example counts creates, state changes, retries and 429 pauses."""
    metrics = load("metrics").Metrics()
    emulator.inject(Fault.rate_limited(retry_after=0.05), Endpoint.CREATE, times=1)
    emulator.inject(Fault.error(500), Endpoint.RECORD_INFO, times=1)
    async with sora2pro.Client(
        emulator.api_key,
        base_url=emulator.url,
        poll=FAST_POLL,
        retry=FAST_RETRY,
        rate_limits=FAST_LIMITS,
        on_event=metrics.on_event,
    ) as client:
        results = await client.gather(["a dog", "a cat"])
    assert all(r.ok for r in results)
    lines = set(metrics.text().splitlines())
    assert "sora2pro_tasks_created_total 2.0" in lines
    assert 'sora2pro_state_changes_total{state="success"} 2.0' in lines
    assert 'sora2pro_retries_total{operation="createTask"} 1.0' in lines
    assert 'sora2pro_retries_total{operation="recordInfo"} 1.0' in lines
    assert 'sora2pro_rate_limit_pause_seconds_total{operation="createTask"} 0.05' in lines


async def settled(redis_url: str, task_id: str, seconds: float = 5.0) -> bool:
    """Whether Redis comes to hold an idempotency key settled on ``task_id`` in ``seconds``."""
    async with redis.asyncio.Redis.from_url(redis_url) as peek:
        for _ in range(round(seconds / 0.01)):
            for key in await peek.keys("*"):
                if (
                    await peek.type(key) == b"hash"
                    and await peek.hget(key, "task") == task_id.encode()
                ):
                    return True
            await asyncio.sleep(0.01)
    return False


@contextlib.asynccontextmanager
async def taskiq_worker(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """``taskiq worker taskiq_worker:broker`` in examples/, in a process group of its own."""
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "taskiq", "worker", "taskiq_worker:broker", "--workers", "1"),
        cwd=EXAMPLES,
        env=os.environ | env | {"PYTHONPATH": str(EXAMPLES.parent)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        await worker.wait()


async def test_taskiq_job_delivered_again_after_its_worker_died_sends_no_second_create(
    emulator: Emulator, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose worker was killed mid-wait runs again on redelivery: no create, same task."""
    env = {
        "APIKLEY_API_KEY": emulator.api_key,
        "APIKLEY_BASE_URL": emulator.url,
        "REDIS_URL": redis_server.url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The default policy first polls a Sora task after about 20 s.
    monkeypatch.setattr(sora2pro._client, "DEFAULT_POLL", emulator.poll)
    emulator.duration = None  # tasks end when the test says
    example = load("taskiq_worker", monkeypatch)
    broker = example.broker
    await broker.startup()  # as a web app would: the stream's consumer group is there
    job = await example.make_video.kiq("a dog", order="order-42")
    async with taskiq_worker(env) as worker:
        await until(lambda: 1 == emulator.count(Endpoint.CREATE), seconds=20.0)
        [task_id] = emulator.tasks
        assert await settled(redis_server.url, task_id)
        os.killpg(worker.pid, signal.SIGKILL)  # mid-wait: the job is not acknowledged
    emulator.finish(task_id)
    await broker.shutdown()
    # This process becomes the next worker; a dead worker's job is taken over soon.
    broker.idle_timeout = 100  # ms, not 10 minutes
    await asyncio.sleep(0.15)  # the killed worker's job has been idle that long at least
    broker.is_worker_process = True
    await broker.startup()  # the worker's client, sharing the account on Redis
    second = asyncio.ensure_future(run_receiver_task(broker))
    try:
        # Reading a new job, taskiq-redis takes over the idle one: it runs both.
        other = await example.make_video.kiq("a cat", order="order-43")
        result = await job.wait_result(timeout=20)
        await until(lambda: 2 == emulator.count(Endpoint.CREATE))
        emulator.finish(next(reversed(emulator.tasks)))
        other_result = await other.wait_result(timeout=20)
    finally:
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        await broker.shutdown()
    assert (False, task_id) == (result.is_err, result.return_value["task_id"])
    assert result.return_value["videos"]
    assert task_id != other_result.return_value["task_id"]
    assert 2 == emulator.count(Endpoint.CREATE)

"""The programs in examples/ import, and the web apps work end to end offline."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import pathlib
import socket
import types
from typing import TYPE_CHECKING

import aiohttp
import uvicorn
from aiohttp import web

import sora2pro
from sora2pro.testing import Endpoint, Fault

from .conftest import FAST_LIMITS, FAST_POLL, FAST_RETRY, until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sora2pro.testing import Emulator

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
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

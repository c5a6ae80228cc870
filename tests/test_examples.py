"""The programs in examples/ import, and the web app works end to end offline."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import types
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

import sora2pro

from .conftest import FAST_LIMITS

if TYPE_CHECKING:
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


def test_telegram_bot_builds_its_router() -> None:
    """The aiogram bot imports and registers its /video command."""
    bot = load("telegram_bot")
    router = bot.make_router(sora2pro.Client("key"))
    assert 1 == len(router.message.handlers)

"""A small FastAPI app: POST a prompt, get a task id; the result comes by callback.

::

    POST /videos {"prompt": "a happy dog"}  ->  202 {"task_id": "..."}
    GET  /videos/{task_id}                  ->  the outcome, once the task ended
    POST /sora2pro/callback                 ->  the provider's callback

FastAPI serves the callback route itself and hands each callback to
``client.deliver_callback()``, which checks it (signed, when
``APIKLEY_WEBHOOK_HMAC_KEY`` is set), confirms it with one status request and ends
the task's wait at once. The client's receiver is never started: it only names the
URL each submit carries and the key callbacks are checked with.

Run it against the built-in emulator, with no key (needs ``sora2pro[examples,cli]``)::

    python examples/fastapi_app.py --offline --port 8000
    curl -H 'Content-Type: application/json' -d '{"prompt": "a happy dog"}' localhost:8000/videos
    curl localhost:8000/videos/<task_id>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import typing

import fastapi
import pydantic
import uvicorn

import sora2pro

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Where the provider sends callbacks; the receiver's path, so submits name it.
CALLBACK_PATH = "/sora2pro/callback"
#: Larger callback bodies are refused before they fill memory.
MAX_BODY = 1024 * 1024


class VideoRequest(pydantic.BaseModel):
    """What POST /videos takes."""

    prompt: str


async def outcome(client: sora2pro.Client, task_id: str) -> dict[str, object]:
    """Wait for the task; its outcome as JSON-ready data (never raises)."""
    try:
        task = await client.wait(task_id)
    except sora2pro.Sora2ProError as error:
        return {"state": "error", "error": str(error)}
    return {"state": task.state.value, "videos": list(task.result_urls)}


async def read_capped(request: fastapi.Request) -> bytes | None:
    """The request's body, or None once it passes MAX_BODY."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def make_app(client: sora2pro.Client) -> fastapi.FastAPI:
    """The app: the three routes above, all served by FastAPI."""
    waits: dict[str, asyncio.Task[dict[str, object]]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: fastapi.FastAPI) -> AsyncIterator[None]:
        yield
        # On shutdown, stop the waits still running (the tasks go on at the provider).
        for waiting in waits.values():
            waiting.cancel()
        await asyncio.gather(*waits.values(), return_exceptions=True)

    app = fastapi.FastAPI(lifespan=lifespan)

    @app.post("/videos", status_code=202)
    async def submit(video: VideoRequest) -> dict[str, str]:
        """Start a generation; answer its task id at once and wait in the background."""
        try:
            task_id = await client.submit(video.prompt)
        except sora2pro.InvalidInputError as error:
            raise fastapi.HTTPException(400, str(error)) from None
        except sora2pro.Sora2ProError as error:
            raise fastapi.HTTPException(502, str(error)) from None
        waits[task_id] = asyncio.create_task(outcome(client, task_id))
        return {"task_id": task_id}

    @app.get("/videos/{task_id}")
    async def result(task_id: str) -> dict[str, object]:
        """The task's outcome, once it ended (the request waits for it)."""
        waiting = waits.get(task_id)
        if waiting is None:
            raise fastapi.HTTPException(404, "unknown task")
        return await asyncio.shield(waiting)

    @app.post(CALLBACK_PATH)
    async def callback(request: fastapi.Request) -> fastapi.Response:
        """The provider's callback: checked, confirmed and handed to the waiting request."""
        body = await read_capped(request)
        if body is None:
            return fastapi.Response(status_code=413)
        try:
            await client.deliver_callback(body, request.headers)
        except sora2pro.CallbackError as error:  # 400, 401, 413; 202 for a mere hint
            return fastapi.Response(status_code=error.status)
        return fastapi.Response("ok")

    return app


async def main() -> None:
    """Serve the app with uvicorn; with --offline, against the emulator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--offline", action="store_true", help="use the built-in emulator")
    args = parser.parse_args()
    # Behind a proxy or a tunnel, public_url is the address the provider can reach.
    receiver = sora2pro.CallbackReceiver(
        public_url=f"http://127.0.0.1:{args.port}", path=CALLBACK_PATH
    )
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, str] = {}
        if args.offline:
            from sora2pro.testing import Emulator  # noqa: PLC0415  # only offline

            # It signs callbacks as the platform does when your key is set.
            key = os.environ.get("APIKLEY_WEBHOOK_HMAC_KEY") or None
            emulator = await stack.enter_async_context(
                Emulator(duration=5.0, callback_hmac_key=key)
            )
            options = {"api_key": emulator.api_key, "base_url": emulator.url}
        client = await stack.enter_async_context(sora2pro.Client(callbacks=receiver, **options))
        config = uvicorn.Config(make_app(client), host="127.0.0.1", port=args.port)
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())

"""A small aiohttp.web app: POST a prompt, get a task id; the result is pushed when ready.

::

    POST /videos {"prompt": "a happy dog"}  ->  202 {"task_id": "..."}
    GET  /videos/{task_id}/events           ->  text/event-stream, one "done" event

The provider's completion callback lands on this same app (the receiver is mounted
into it), and the waiting event stream gets the result at once.

Run it against the built-in emulator, with no key (needs ``sora2pro[cli]``)::

    python examples/web_app.py --offline --port 8080
    curl -d '{"prompt": "a happy dog"}' localhost:8080/videos
    curl -N localhost:8080/videos/<task_id>/events
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json

from aiohttp import web

import sora2pro

CLIENT = web.AppKey("client", sora2pro.Client)
WAITS = web.AppKey("waits", dict[str, asyncio.Task[dict[str, object]]])


def make_app(client: sora2pro.Client, receiver: sora2pro.CallbackReceiver) -> web.Application:
    """The app: the two routes above, plus the receiver's callback route."""
    app = web.Application()
    app[CLIENT] = client
    app[WAITS] = {}
    receiver.add_routes(app)
    app.router.add_post("/videos", submit)
    app.router.add_get("/videos/{task_id}/events", events)
    app.on_cleanup.append(stop_waiting)
    return app


async def outcome(client: sora2pro.Client, task_id: str) -> dict[str, object]:
    """Wait for the task; its outcome as JSON-ready data (never raises)."""
    try:
        task = await client.wait(task_id)
    except sora2pro.Sora2ProError as error:
        return {"state": "error", "error": str(error)}
    return {"state": task.state.value, "videos": list(task.result_urls)}


async def stop_waiting(app: web.Application) -> None:
    """On shutdown, stop the waits still running (the tasks go on at the provider)."""
    for waiting in app[WAITS].values():
        waiting.cancel()
    await asyncio.gather(*app[WAITS].values(), return_exceptions=True)


async def submit(request: web.Request) -> web.Response:
    """Start a generation; answer its task id at once and wait in the background."""
    client = request.app[CLIENT]
    try:
        prompt = (await request.json())["prompt"]
        task_id = await client.submit(prompt)
    except (ValueError, KeyError, TypeError, sora2pro.InvalidInputError) as error:
        return web.json_response({"error": str(error)}, status=400)
    except sora2pro.Sora2ProError as error:
        return web.json_response({"error": str(error)}, status=502)
    request.app[WAITS][task_id] = asyncio.create_task(outcome(client, task_id))
    return web.json_response({"task_id": task_id}, status=202)


async def events(request: web.Request) -> web.StreamResponse:
    """Push the task's outcome as one server-sent event when it ends."""
    task_id = request.match_info["task_id"]
    waiting = request.app[WAITS].get(task_id)
    if waiting is None:
        return web.json_response({"error": "unknown task"}, status=404)
    stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await stream.prepare(request)
    result = await asyncio.shield(waiting)
    request.app[WAITS].pop(task_id, None)  # delivered: the app keeps no history
    await stream.write(f"event: done\ndata: {json.dumps(result)}\n\n".encode())
    await stream.write_eof()
    return stream


async def main() -> None:
    """Serve the app; with --offline, against the emulator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--offline", action="store_true", help="use the built-in emulator")
    args = parser.parse_args()
    receiver = sora2pro.CallbackReceiver(public_url=f"http://127.0.0.1:{args.port}")
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, str] = {}
        if args.offline:
            from sora2pro.testing import Emulator  # noqa: PLC0415  # only offline

            emulator = await stack.enter_async_context(Emulator(duration=5.0))
            options = {"api_key": emulator.api_key, "base_url": emulator.url}
        client = await stack.enter_async_context(sora2pro.Client(callbacks=receiver, **options))
        runner = web.AppRunner(make_app(client, receiver))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        print(f"listening on http://127.0.0.1:{args.port} (Ctrl-C stops)")
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())

"""Never run: uses the public API as a user would, so ``mypy --strict`` checks its types."""

from __future__ import annotations

import pathlib
import typing

import sora2pro
from sora2pro.testing import Emulator, Endpoint, Fault


async def use_the_client() -> None:
    poll = sora2pro.PollPolicy(min_interval=1.0, max_interval=20.0)
    retry = sora2pro.RetryPolicy(attempts=3, base_delay=0.5, max_delay=10.0, max_elapsed=None)
    timeout = sora2pro.Timeouts(connect=5.0, read=30.0, request=None)
    async with sora2pro.Client("key", poll=poll, retry=retry, timeout=timeout) as client:
        task_id: str = await client.submit("a dog", n_frames=15, size="standard")
        request = sora2pro.TextToVideo("a cat", aspect_ratio="portrait", character_ids=["c1"])
        await client.submit(request, remove_watermark=True)

        async def on_update(task: sora2pro.Task) -> None:
            progress: int | None = task.progress
            del progress

        task: sora2pro.Task = await client.wait(task_id, timeout=None, on_update=on_update)
        task = await client.generate("a bird", timeout=600.0, on_update=print, n_frames="10")
        urls: tuple[str, ...] = task.result_urls
        path: pathlib.Path = await client.download(task, pathlib.Path("out.mp4"), index=0)
        await client.download(task, "w.mp4", watermark=True, overwrite=True, on_progress=print)
        balance: float = await client.credits()
        stored: sora2pro.UploadedFile = await client.upload(b"...", file_name="a.png", timeout=60)
        await client.upload(pathlib.Path("frame.png"), upload_path="bots", as_base64=True)
        image = sora2pro.ImageToVideo("the dog runs", image=stored.url, size="high")
        task = await client.generate(image, n_frames=15)
        character: sora2pro.Character = await client.create_character(
            pathlib.Path("hero.mp4"), prompt="a knight", safety_instruction="PG", on_update=print
        )
        await client.submit(sora2pro.CharacterRequest("https://example.com/c.mp4"))
        await client.submit("a dog", character_ids=[character.id])
        made: str | None = character.task.character_id
        del made
        pending: dict[str, sora2pro.Request] = dict(client.pending)
        adopted: list[str] = await client.adopt_orphans()
        del urls, path, balance, pending, adopted
        try:
            await client.get_task(task_id)
        except sora2pro.WaitTimeoutError as error:
            last: sora2pro.Task | None = error.last
            del last
        except sora2pro.TaskFailedError as error:
            failed: sora2pro.Task = error.task
            del failed
        except sora2pro.SubmitUncertainError as error:
            sent: sora2pro.Request = error.request
            del sent
        except sora2pro.APIError as error:
            code: int = error.code
            del code


async def use_a_batch(prompts: list[str]) -> None:
    limits = sora2pro.RateLimits(creates=20, window=10.0, status_per_second=8.0)
    async with sora2pro.Client(rate_limits=limits) as client:

        def on_event(event: sora2pro.BatchEvent) -> None:
            if isinstance(event, sora2pro.Finished):
                ok: bool = event.result.ok
                del ok

        batch = client.batch(prompts, concurrency=50, on_event=on_event, journal="run.sqlite")
        async for result in batch:
            task_id: str | None = result.task_id
            error: sora2pro.Sora2ProError | None = result.error
            del task_id, error
        items: list[sora2pro.BatchItem] = ["a dog", sora2pro.TextToVideo("a cat"), {"prompt": "x"}]
        results: list[sora2pro.BatchResult] = await client.gather(items, keep_credits=100)
        for result in results:
            if isinstance(result.error, sora2pro.CreditFloorError):
                floor: float = result.error.floor
                balance: float | None = result.error.balance
                del floor, balance
        del results


async def use_idempotency_keys() -> None:
    shared = sora2pro.LocalCoordination(idempotency_ttl=sora2pro.DEFAULT_IDEMPOTENCY_TTL)
    async with sora2pro.Client(coordination=shared) as client:
        task_id: str = await client.submit("a dog", idempotency_key="order-42", n_frames=15)
        task: sora2pro.Task = await client.generate("a dog", idempotency_key="order-42")
        keys: sora2pro.Idempotency = shared.idempotency()
        entry: sora2pro.KeyEntry | None = await keys.claim("order-43", "fingerprint")
        items: list[sora2pro.BatchItem] = [{"prompt": "a cat", "idempotency_key": "order-44"}]
        results: list[sora2pro.BatchResult] = await client.gather(items)
        try:
            await client.submit("a cat", idempotency_key="order-42")
        except sora2pro.IdempotencyConflictError as error:
            field: str = error.field
            del field
        del task_id, task, entry, results


async def use_the_emulator() -> None:
    async with Emulator(duration=1.0, fail_rate=0.1, status_limit=(10, 1.0)) as emulator:
        emulator.inject(Fault.rate_limited(retry_after=1), Endpoint.CREATE, times=2)
        url: str = emulator.url
        del url


async def use_redis() -> None:
    async with sora2pro.RedisCoordination("redis://localhost:6379/0") as coordination:
        async with sora2pro.Client("key", coordination=coordination) as client:
            try:
                await client.submit("a dog")
            except sora2pro.CoordinationError as error:
                message: str = str(error)
                del message
            shared = coordination.journal("campaign-7", ttl=86400.0)
            async for result in client.batch(["a dog"], journal=shared):
                index: int = result.index
                del index
        namespace: str | None = coordination.namespace
        del namespace
        await coordination.settle()
    async with sora2pro.Client("key", coordination="redis://localhost:6379/0") as client:
        await client.wait(await client.submit("a dog"))


async def use_jobs_as_they_happen(chat_ids: dict[str, int]) -> None:
    counts: dict[str, int] = {}

    def on_event(event: sora2pro.Event) -> None:
        if isinstance(event, sora2pro.StateChanged):
            state: sora2pro.TaskState = event.task.state
            counts[state.value] = counts.get(state.value, 0) + 1
        elif isinstance(event, sora2pro.Retried | sora2pro.RateLimited):
            operation: str = event.operation
            del operation
        elif isinstance(event, sora2pro.CallbackReceived):
            confirmed: bool = event.confirmed
            index: int | None = event.index
            del confirmed, index

    hook: sora2pro.OnClientEvent = on_event
    async with sora2pro.Client("key", on_event=hook) as client:

        async def remember(task_id: str) -> None:
            chat_ids[task_id] = 1

        handed: sora2pro.OnSubmitted = remember
        task: sora2pro.Task = await client.generate("a dog", on_submitted=handed)
        await client.generate("a cat", on_submitted=print, timeout=60)
        async for snapshot in client.watch(task.id, timeout=None, poll=sora2pro.DEFAULT_POLL):
            progress: int | None = snapshot.progress
            del progress


async def use_callbacks_anywhere(body: bytes, headers: dict[str, str]) -> None:
    receiver = sora2pro.CallbackReceiver(public_url="https://app.example.com", hmac_key=b"k")
    async with sora2pro.Client("key", callbacks=receiver) as client:
        try:
            task: sora2pro.Task = await client.deliver_callback(body, headers)
        except sora2pro.UnconfirmedCallbackError as error:
            hint: int = error.status
            del hint
        except sora2pro.CallbackError as error:
            status: int = error.status
            about: str | None = error.task_id
            del status, about
    task = sora2pro.verify_callback(body, headers, hmac_key="k", tolerance=60.0)
    task = sora2pro.parse_callback(bytearray(body), max_body=4096)
    del task


class WsgiHeaders:
    """Headers as werkzeug's (Flask's): no Mapping, only the pairs."""

    def items(self, lower: bool = False) -> typing.Iterator[tuple[str, str]]:
        """Each header's pair, its name lowered if asked."""
        yield ("x-webhook-timestamp" if lower else "X-Webhook-Timestamp"), "1"


async def use_flask_headers(body: bytes, client: sora2pro.Client) -> None:
    await client.deliver_callback(body, WsgiHeaders())
    sora2pro.verify_callback(body, WsgiHeaders(), hmac_key="k")


async def use_jobs() -> None:
    def image_result(url: str) -> dict[str, object]:
        return {"resultUrls": [url], "seed": 1}

    async with (
        Emulator(results={"flux-kontext-pro": image_result, "text": {"text": "hi"}}) as emulator,
        sora2pro.Client(emulator.api_key, base_url=emulator.url) as client,
    ):
        job = sora2pro.Job("flux-kontext-pro", {"prompt": "a fox", "seed": 1}, callback_url=None)
        model: str = job.model
        fields: typing.Mapping[str, object] = job.input
        task: sora2pro.Task = await client.generate(job, idempotency_key="fox-1")
        result: typing.Mapping[str, object] = task.result_object
        urls: tuple[str, ...] = task.result_urls
        task_id: str = await client.submit(job)
        items: list[sora2pro.BatchItem] = [job, {"model": "text", "input": {"prompt": "x"}}]
        done: list[sora2pro.BatchResult] = await client.gather(items, journal="jobs.sqlite")
        typed_model: str = sora2pro.TextToVideo("a dog").model
        del model, fields, result, urls, task_id, done, typed_model

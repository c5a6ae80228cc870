"""Shared fixtures: an emulator on loopback, a client tuned to poll fast, and one for the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import pathlib
import threading
import typing

import openapi_schema_validator
import pytest
import pytest_asyncio
import yaml

import sora2pro
import sora2pro._client
from sora2pro.testing import Emulator, create_errors, create_schemas

from .redis_server import RedisServer

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

pytest_plugins = ["sora2pro.testing.pytest_plugin"]

OPENAPI_NAME = "sora-2-pro-text-to-video.openapi.yaml"
#: The provider's OpenAPI document, copied into the repository so that a clone tests alone.
SEED = pathlib.Path(__file__).resolve().parent / "data" / OPENAPI_NAME
#: Where the project's shared folder keeps the original, beside the repository (maybe not).
SHARED_SEED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seed" / OPENAPI_NAME

FAST_POLL = sora2pro.PollPolicy(
    min_interval=0.01, max_interval=0.05, not_visible_for=5.0, expected_duration=0.3
)
FAST_RETRY = sora2pro.RetryPolicy(attempts=4, base_delay=0.01, max_delay=2.0, max_elapsed=10.0)
# Far above the emulator's pace: tests that check the limits set their own.
FAST_LIMITS = sora2pro.RateLimits(creates=1000, window=1.0, status_per_second=1000.0, pause=0.05)


def seed_document(path: pathlib.Path = SEED) -> dict[str, typing.Any]:
    """The provider's OpenAPI document (the source of truth), from the repository's copy."""
    document: dict[str, typing.Any] = yaml.safe_load(path.read_text("utf-8"))
    return document


@functools.cache
def _validator(model: str) -> typing.Any:
    if model == sora2pro.TextToVideo.MODEL:
        operation = seed_document()["paths"]["/api/v1/jobs/createTask"]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
    else:
        schema = create_schemas()[model]
    return openapi_schema_validator.OAS30Validator(
        schema, format_checker=openapi_schema_validator.oas30_format_checker
    )


def assert_valid_create_body(body: object) -> None:
    """Fail unless ``body`` fits its model's createTask schema.

    Text-to-video: the provider's own document (tests/data). The other Sora models:
    the documented schemas the emulator holds (built on that same document). Any
    other model (a Job's): the envelope the emulator checks.
    """
    assert isinstance(body, dict)
    if body["model"] in create_schemas():
        _validator(body["model"]).validate(body)
    assert [] == create_errors(body)


@pytest.fixture(autouse=True)
def _no_webhook_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook key in the developer's environment would sign every test's receiver."""
    monkeypatch.delenv("APIKLEY_WEBHOOK_HMAC_KEY", raising=False)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A running emulator whose tasks take 0.3 s; checks every body the client sent."""
    async with Emulator(duration=0.3, not_visible_for=0.05) as emu:
        yield emu
    sent_by_client = [
        r.body
        for r in emu.requests
        if r.path == "/api/v1/jobs/createTask"
        and r.headers.get("user-agent", "").startswith("sora2pro/")
    ]
    for body in sent_by_client:
        assert_valid_create_body(body)


def fast_client(emulator: Emulator, **settings: typing.Any) -> sora2pro.Client:
    """A client of ``emulator`` with fast polling and short retry pauses, and ``settings``."""
    defaults: dict[str, typing.Any] = {
        "poll": FAST_POLL,
        "retry": FAST_RETRY,
        "rate_limits": FAST_LIMITS,
    }
    return sora2pro.Client(emulator.api_key, base_url=emulator.url, **(defaults | settings))


@pytest_asyncio.fixture
async def client(emulator: Emulator) -> AsyncIterator[sora2pro.Client]:
    """A client of the emulator with fast polling and short retry pauses."""
    async with fast_client(emulator) as client:
        yield client


async def until(condition: typing.Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for ``condition`` to hold, looking again every few ms; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition():  # the emulator's counters have no event
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.005)


def snapshot(progress: int | None) -> sora2pro.Task:
    """A generating task at ``progress`` percent, as live answers show it: no useful updateTime."""
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return sora2pro.Task(
        id="t",
        model="m",
        state=sora2pro.TaskState.GENERATING,
        raw_state="generating",
        progress=progress,
        created_at=created,
        updated_at=created,
    )


@pytest.fixture
def redis_server(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, on a free port; stopped at the end."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


Coordinations = typing.Callable[..., sora2pro.RedisCoordination]


@pytest.fixture
async def coordinations(redis_server: RedisServer) -> AsyncIterator[Coordinations]:
    """Makes RedisCoordination instances on the test's server; closes them all at the end."""
    made: list[sora2pro.RedisCoordination] = []

    def make(
        namespace: str | None = "account", **options: typing.Any
    ) -> sora2pro.RedisCoordination:
        made.append(sora2pro.RedisCoordination(redis_server.url, namespace=namespace, **options))
        return made[-1]

    yield make
    for coordination in made:
        await coordination.close()


@pytest.fixture
def start_redis(tmp_path: pathlib.Path) -> Iterator[typing.Callable[..., RedisServer]]:
    """Starts redis-servers with extra arguments (``--maxmemory-policy``, ...); stops them."""
    started: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        folder = tmp_path / f"redis-{len(started)}"
        folder.mkdir()
        started.append(RedisServer(folder, args=args))
        started[-1].start()
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def emulator_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in its own thread, for an emulator beside the CLI's loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def served(
    emulator_loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """An emulator on that loop, with the CLI's environment pointing at it."""
    emulator = Emulator(duration=0.0, not_visible_for=0.0)  # done at the first poll
    asyncio.run_coroutine_threadsafe(emulator.start(), emulator_loop).result(5)
    monkeypatch.setenv("APIKLEY_API_KEY", emulator.api_key)
    monkeypatch.setenv("APIKLEY_BASE_URL", emulator.url)
    # The default policy waits about 20 s for a Sora task: these end at once.
    monkeypatch.setattr(sora2pro._client, "DEFAULT_POLL", emulator.poll)
    try:
        yield emulator
    finally:
        asyncio.run_coroutine_threadsafe(emulator.close(), emulator_loop).result(5)

"""Jobs: any model of the jobs API, through every path a Sora request takes."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import pathlib
import pickle
import sqlite3
import typing

import pytest

import sora2pro
from sora2pro import CallbackReceiver, InvalidInputError, Job, TaskState, TextToVideo
from sora2pro._flows._schedule import shape_of
from sora2pro._wire import decode_create, decode_task, encode_create, encode_task, make_converter
from sora2pro.testing import Emulator, Endpoint, Fault, create_errors

from .conftest import FAST_LIMITS, FAST_RETRY, fast_client, until

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

CONVERTER = make_converter()
IMAGE_MODEL = "flux-kontext/pro"
VIDEO_MODEL = "kling/v2-1-master"
IMAGE_INPUT = {"prompt": "a red fox", "aspect_ratio": "16:9", "seed": 7, "loras": [{"w": 0.5}]}


def image_result(url: str) -> dict[str, object]:
    """What the image model answers: its URLs, and more besides."""
    return {"resultUrls": [url], "seed": 7, "nsfw": [False]}


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator whose image model has its own result, and one model with no URLs at all."""
    results = {IMAGE_MODEL: image_result, "text-model": {"text": "hello", "tokens": 3}}
    async with Emulator(duration=0.3, not_visible_for=0.05, results=results) as emu:
        yield emu
    for body in emu.create_bodies:
        assert [] == create_errors(body)


async def test_generate_gives_the_result_urls_and_the_whole_result(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A job is sent as given; its task has the result's URLs and the decoded resultJson."""
    job = Job(IMAGE_MODEL, IMAGE_INPUT)
    task = await client.generate(job)
    url = f"{emulator.url}/files/{task.id}.mp4"
    assert ({"model": IMAGE_MODEL, "input": IMAGE_INPUT},) == tuple(emulator.create_bodies)
    assert (TaskState.SUCCESS, (url,)) == (task.state, task.result_urls)
    assert image_result(url) == task.result_object
    assert (job, IMAGE_MODEL) == (task.request, task.model)


async def test_a_result_without_urls_is_only_the_object(client: sora2pro.Client) -> None:
    """A model whose result holds no URLs: result_urls is empty, result_object has it all."""
    task = await client.generate(Job("text-model", {"prompt": "hi"}))
    assert ((), {"text": "hello", "tokens": 3}) == (task.result_urls, task.result_object)


@pytest.mark.parametrize(
    "result", [{"text": "\ud800"}, {"\udc00": 1}, {"score": math.nan}, {"n": [math.inf]}]
)
async def test_a_result_json_cannot_carry_is_a_response_error(
    emulator: Emulator, result: dict[str, object]
) -> None:
    """A resultJson with a lone surrogate or NaN (no JSON text) is a typed error, not a result."""
    emulator.results = {"odd-model": result}
    async with fast_client(emulator) as client:
        with pytest.raises(sora2pro.ResponseError, match="result_json"):
            await client.generate(Job("odd-model", {"prompt": "hi"}))
    data = {"taskId": "t", "model": "odd-model", "state": "success"}
    for wire in (json.dumps(result), result):
        with pytest.raises(sora2pro.ResponseError, match="result_json"):
            decode_task(make_converter(), {**data, "resultJson": wire})


async def test_a_model_without_a_configured_result_gives_a_video(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Any model name is served; its result video downloads like a Sora one."""
    task = await client.generate(Job(VIDEO_MODEL, {"prompt": "a dog", "duration": "5"}))
    saved = await client.download(task, tmp_path / "dog.mp4")
    assert saved.read_bytes() == emulator._video
    assert {"resultUrls": list(task.result_urls)} == task.result_object


async def test_submit_then_wait_and_get_task_before_it_is_visible(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """submit() hands back the id; get_task() reads a job's task as waiting until it shows."""
    emulator.not_visible_for = 60.0
    job = Job(VIDEO_MODEL, {"prompt": "a dog"})
    task_id = await client.submit(job)
    assert job == client.pending[task_id]
    early = await client.get_task(task_id)
    assert (TaskState.WAITING, VIDEO_MODEL, job) == (early.state, early.model, early.request)
    emulator.finish(task_id)
    assert TaskState.SUCCESS is (await client.wait(task_id)).state
    assert task_id not in client.pending


async def test_a_failed_job_raises_with_its_task(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A job's task that fails raises TaskFailedError carrying the task and its reason."""
    emulator.fail_rate = 1.0
    with pytest.raises(sora2pro.TaskFailedError) as caught:
        await client.generate(Job(VIDEO_MODEL, {"prompt": "a dog"}))
    assert ("500", {}) == (caught.value.task.fail_code, caught.value.task.result_object)


async def test_a_lost_create_answer_is_never_resent(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A job's create whose answer was lost is uncertain, and not sent again."""
    emulator.inject(Fault.disconnect(after_create=True), Endpoint.CREATE)
    with pytest.raises(sora2pro.SubmitUncertainError):
        await client.submit(Job(VIDEO_MODEL, {"prompt": "a dog"}))
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_idempotency_keys_hold_for_jobs(client: sora2pro.Client, emulator: Emulator) -> None:
    """A key gives one create per job; the same key with another input is refused unsent."""
    job = Job(VIDEO_MODEL, {"prompt": "a dog"})
    first = await client.submit(job, idempotency_key="order-1")
    again = await client.submit(Job(VIDEO_MODEL, {"prompt": "a dog"}), idempotency_key="order-1")
    assert (first, 1) == (again, emulator.count(Endpoint.CREATE))
    with pytest.raises(sora2pro.IdempotencyConflictError):
        await client.submit(Job(VIDEO_MODEL, {"prompt": "a cat"}), idempotency_key="order-1")
    assert 1 == emulator.count(Endpoint.CREATE)


async def test_a_callback_ends_a_jobs_wait(emulator: Emulator) -> None:
    """With a receiver, a job carries its callBackUrl and the callback ends the wait."""
    async with (
        CallbackReceiver() as receiver,
        sora2pro.Client(
            emulator.api_key,
            base_url=emulator.url,
            poll=sora2pro.PollPolicy(min_interval=1.0, max_interval=5.0),
            retry=FAST_RETRY,
            rate_limits=FAST_LIMITS,
            callbacks=receiver,
        ) as client,
    ):
        task = await client.generate(Job(IMAGE_MODEL, IMAGE_INPUT))
        assert receiver.result(task.id) is not None
    (body,) = emulator.create_bodies
    assert receiver.url == body["callBackUrl"]  # type: ignore[index]
    assert 7 == task.result_object["seed"]
    assert 1 == sum(1 for r in emulator.requests if r.query.get("taskId") == task.id)


async def test_a_jobs_own_callback_url_is_sent(client: sora2pro.Client, emulator: Emulator) -> None:
    """A job's callback_url travels outside input, as callBackUrl."""
    emulator.callbacks = False
    await client.submit(Job(VIDEO_MODEL, {"prompt": "x"}, callback_url="https://bot.example/cb"))
    (body,) = emulator.create_bodies
    assert "https://bot.example/cb" == body["callBackUrl"]  # type: ignore[index]
    assert {"prompt": "x"} == body["input"]  # type: ignore[index]


async def test_batch_takes_jobs_and_mappings_with_a_model(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """Batch items may be jobs or mappings naming a model; a bad one fails alone."""
    items: list[sora2pro.BatchItem] = [
        Job(IMAGE_MODEL, IMAGE_INPUT),
        {"model": "text-model", "input": {"prompt": "hi"}, "idempotency_key": "k1"},
        {"model": "text-model"},
        {"model": "text-model", "input": {}, "prompt": "x"},
        "a dog",
    ]
    results = await client.gather(items)
    assert [True, True, False, False, True] == [r.ok for r in results]
    assert isinstance(results[2].error, InvalidInputError)
    assert "input: is required" in str(results[2].error)
    assert "unknown fields: prompt" in str(results[3].error)
    assert Job("text-model", {"prompt": "hi"}) == results[1].request
    assert {"text": "hello", "tokens": 3} == results[1].task.result_object  # type: ignore[union-attr]
    assert 3 == emulator.count(Endpoint.CREATE)
    with pytest.raises(InvalidInputError, match=r"one item \(Job\)"):
        await client.gather(Job(IMAGE_MODEL, IMAGE_INPUT))  # type: ignore[arg-type]


async def test_a_batch_of_jobs_resumes_from_its_journal(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Stopped midway and run again, a batch of jobs creates each task once, all finish."""
    journal = tmp_path / "jobs.sqlite"
    emulator.duration = None  # nothing ends: the first run stops with every task in flight
    jobs = [Job(VIDEO_MODEL, {"prompt": f"dog {n}", "extras": [n, {"n": n}]}) for n in range(4)]
    seen: list[int] = []

    def on_event(event: sora2pro.BatchEvent) -> None:
        if isinstance(event, sora2pro.Submitted):
            seen.append(event.index)

    async def first_run() -> None:
        async for _ in client.batch(jobs, concurrency=4, journal=journal, on_event=on_event):
            pass

    run = asyncio.create_task(first_run())
    await until(lambda: len(seen) == 4)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    for task_id in emulator.tasks:
        emulator.finish(task_id)
    results = await client.gather(jobs, journal=journal)
    assert 4 == emulator.count(Endpoint.CREATE)
    assert sorted(emulator.tasks) == sorted(r.task_id for r in results)  # type: ignore[type-var]
    assert all(r.ok and r.request in jobs for r in results)
    with sqlite3.connect(journal) as connection:
        bodies = [json.loads(row[0]) for row in connection.execute("SELECT request FROM items")]
    connection.close()
    sent = [encode_create(CONVERTER, job) for job in jobs]
    assert sorted(sent, key=json.dumps) == sorted(bodies, key=json.dumps)


async def test_a_jobs_running_time_is_learned_under_its_model(emulator: Emulator) -> None:
    """A finished job's run teaches the schedule of its model's shape, as a video's does."""
    async with fast_client(emulator) as client:
        await client.generate(Job(VIDEO_MODEL, {"prompt": "a dog", "size": "high"}))
        assert 1 == len(client._ctx.durations.recent(f"{VIDEO_MODEL} size=high"))


def test_shapes_of_jobs_match_the_typed_requests() -> None:
    """A job names length and size in its input; odd values are left out of the shape."""
    typed = TextToVideo("a dog", n_frames=15, size="standard")
    job = Job(TextToVideo.MODEL, {"prompt": "a dog", "n_frames": "15", "size": "standard"})
    assert shape_of(typed.model, typed) == shape_of(job.model, job)
    odd = Job("m", {"n_frames": True, "size": "x" * 21, "other": 1})
    assert "m" == shape_of(odd.model, odd)
    assert "m n_frames=5" == shape_of("m", Job("m", {"n_frames": 5, "size": "line\nbreak"}))


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "required field missing"),
        ({"prompt": ""}, "prompt: must not be empty"),
        ({"prompt": "x" * 10_001}, "at most 10,000"),
        ({"prompt": "x", "n_frames": 10}, "n_frames: must be '10'"),
        ({"prompt": "x", "aspect_ratio": "square"}, "aspect_ratio: must be one of"),
        ({"prompt": "x", "remove_watermark": None}, "remove_watermark: leave it out"),
        ({"prompt": "x", "upload_method": "s3"}, "'upload_method' is not a field"),
        ({"prompt": "x", "character_id_list": list("abcdef")}, "at most 5"),
    ],
)
async def test_a_job_naming_a_sora_model_is_checked_as_its_typed_request(
    client: sora2pro.Client, emulator: Emulator, fields: dict[str, object], why: str
) -> None:
    """A Sora job breaking TextToVideo's rules is refused before anything is sent."""
    with pytest.raises(InvalidInputError, match=why):
        await client.submit(Job(TextToVideo.MODEL, fields))
    assert 0 == emulator.count(Endpoint.CREATE)


async def test_a_valid_sora_job_is_sent_as_given(
    client: sora2pro.Client, emulator: Emulator
) -> None:
    """A Sora job in the typed request's wire form goes out untouched and succeeds."""
    fields = {"prompt": "a dog", "n_frames": "15", "size": "standard", "character_id_list": []}
    task = await client.generate(Job(TextToVideo.MODEL, fields))
    assert [{"model": TextToVideo.MODEL, "input": fields}] == emulator.create_bodies
    # The server's echo names a model sora2pro knows: it reads back as the typed request.
    assert TextToVideo("a dog", n_frames=15, size="standard") == task.request
    image = {"prompt": "x", "image_urls": ["/etc/passwd"]}
    with pytest.raises(InvalidInputError, match="ImageToVideo"):
        await client.submit(Job(sora2pro.ImageToVideo.MODEL, image))
    assert 1 == emulator.count(Endpoint.CREATE)


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("model", "fields", "why"),
    [
        ("", {}, "model: must be a model name"),
        ("kling v2", {}, "without spaces"),
        ("kling\nv2", {}, "printable"),
        ("m" * 101, {}, "1 to 100"),
        (None, {}, "model: must be a string"),
        ("m", "prompt", "input: must be a mapping"),
        ("m", [("prompt", "x")], "input: must be a mapping"),
        ("m", {1: "x"}, "key that is not a string"),
        ("m", {"\ud800": "x"}, "key that is not a string"),
        ("m", {"a": float("nan")}, r"input\.a: nan"),
        ("m", {"a": [float("inf")]}, r"input\.a\[0\]: inf"),
        ("m", {"a": {"b": b"bytes"}}, r"input\.a\.b: a bytes is not a JSON value"),
        ("m", {"a": {1, 2}}, "a set is not"),
        ("m", {"a": "\ud800"}, "lone surrogate"),
        ("m", {"a": 10**5000}, "cannot be sent as JSON"),
        ("m", {"a": "x" * 1_000_000}, "at most 1,000,000"),
        ("m", {"a": nested(40)}, "nests deeper than 32"),
        ("m", {"a": 1}, None),  # callback_url below
    ],
)
def test_hostile_jobs_are_refused_when_built(
    model: typing.Any, fields: typing.Any, why: str | None
) -> None:
    """A bad model name, input or callback URL raises InvalidInputError at once."""
    with pytest.raises(InvalidInputError, match=why or "callback_url"):
        Job(model, fields, callback_url=None if why else "ftp://x/cb")


def test_a_self_containing_input_is_refused() -> None:
    """An input that contains itself is refused, not a RecursionError."""
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(InvalidInputError, match="nests deeper"):
        Job("m", {"a": loop})


def test_a_job_is_frozen_and_its_input_a_copy() -> None:
    """Changing the given mapping changes no job; the job's own input refuses changes."""
    given: dict[str, typing.Any] = {"prompt": "x", "list": [1, {"a": 2}]}
    job = Job("m", given)
    given["list"][1]["a"] = 3
    given["prompt"] = "y"
    assert {"prompt": "x", "list": [1, {"a": 2}]} == job.input
    with pytest.raises(TypeError, match="read-only"):
        job.input["prompt"] = "z"  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        job.input["list"][1].update(a=4)  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        job.input["list"].append(4)  # type: ignore[attr-defined]
    assert {"prompt": "x", "list": [1, {"a": 2}]} == encode_create(CONVERTER, job)["input"]
    assert hash(job) == hash(Job("m", {"list": (1, {"a": 2}), "prompt": "x"}))
    assert job == pickle.loads(pickle.dumps(job)) == copy.deepcopy(job)  # noqa: S301  # our own bytes


def test_subclasses_of_json_types_are_sent_as_plain_values() -> None:
    """A str or int subclass (an enum) is sent as its plain value."""

    class Kind(str):
        __slots__ = ()

    job = Job("m", {Kind("k"): Kind("v"), "n": True})
    assert '{"k": "v", "n": true}' == json.dumps(encode_create(CONVERTER, job)["input"])
    assert all(type(key) is str for key in job.input)


def test_a_job_round_trips_through_a_create_body_and_an_echo() -> None:
    """A job's body reads back as the job (the pending registry, a task's param echo)."""
    job = Job(
        VIDEO_MODEL, {"prompt": "x", "opts": {"a": [1, 2.5, None]}}, callback_url="https://b/c"
    )
    body = encode_create(CONVERTER, job)
    assert job == decode_create(CONVERTER, body)
    data = {"taskId": "t", "model": VIDEO_MODEL, "state": "success", "param": json.dumps(body)}
    data["resultJson"] = json.dumps({"resultUrls": ["https://f/a.png"], "extra": {"k": [1]}})
    task = decode_task(CONVERTER, data)
    assert (job, ("https://f/a.png",)) == (task.request, task.result_urls)
    assert task == decode_task(CONVERTER, encode_task(CONVERTER, task))


def test_an_echo_a_job_would_refuse_gives_no_request() -> None:
    """A param echo of another model whose input breaks a job's rules gives request None."""
    param = {"model": "m", "input": {"a": "x" * 1_000_001}}
    data = {"taskId": "t", "state": "waiting", "param": json.dumps(param)}
    assert decode_task(CONVERTER, data).request is None


async def test_submit_refuses_sora_options_for_a_job(client: sora2pro.Client) -> None:
    """Options of TextToVideo do not apply to a job: refused, nothing sent."""
    with pytest.raises(InvalidInputError, match="Job has no size"):
        await client.submit(Job("m", {}), size="high")  # type: ignore[call-arg]


def test_the_emulator_stays_strict_for_the_sora_models() -> None:
    """Bodies the real service refuses for the Sora models still get errors; jobs need an input."""
    assert create_errors({"model": TextToVideo.MODEL, "input": {"prompt": " "}})
    assert create_errors({"model": TextToVideo.MODEL, "input": {"prompt": "x", "n_frames": 10}})
    assert create_errors({"model": TextToVideo.MODEL, "input": {"prompt": "x", "seed": 1}})
    assert ["input: is required, a JSON object"] == create_errors({"model": "m", "input": "x"})
    assert ["callBackUrl: must be a URI"] == create_errors(
        {"model": "m", "input": {}, "callBackUrl": "not a url"}
    )
    assert ["model: must be a model name"] == create_errors({"model": " ", "input": {}})
    assert [] == create_errors({"model": "m", "input": {"anything": [1]}})


def test_the_emulator_refuses_a_results_table_that_is_not_one() -> None:
    """The results table must map model names to objects or functions giving one."""
    with pytest.raises(TypeError, match="results"):
        Emulator(results={"m": "not an object"})  # type: ignore[dict-item]

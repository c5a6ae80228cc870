"""The emulator is faithful to API.md, and stricter than the real service where in doubt."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import pathlib
import re
import signal
import sys
import typing

import aiohttp
import pytest
from aiohttp import web

from sora2pro.testing import DEFAULT_API_KEY, Emulator, Endpoint, Fault, openapi_document

from .conftest import SEED, SHARED_SEED, seed_document

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytest_plugins = ["pytester"]

CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"
VALID = {"model": "sora-2-pro-text-to-video", "input": {"prompt": "a dog"}}


class Raw:
    """Plain aiohttp requests to the emulator, so no client behaviour hides a quirk."""

    def __init__(self, emulator: Emulator, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.session = session
        self.headers = {"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "raw"}

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: typing.Any
    ) -> tuple[int, typing.Any]:
        """Send one request; return the status and the JSON answer (or the raw bytes)."""
        async with self.session.request(
            method, self.emulator.url + path, headers=self.headers if headers is None else headers,
            **kwargs,
        ) as response:  # fmt: skip
            raw = await response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw


@pytest.fixture
async def raw(emulator: Emulator) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(emulator, session)


def message(answer: dict[str, typing.Any]) -> str:
    return str(answer.get("msg", answer.get("message")))


@pytest.mark.parametrize(
    "copy", [SEED, *([SHARED_SEED] if SHARED_SEED.exists() else [])], ids=lambda p: p.parent.name
)
def test_packaged_openapi_is_the_providers(copy: pathlib.Path) -> None:
    """The packaged JSON, the tests' YAML and the shared seed (if beside) are one document."""
    assert seed_document(copy) == openapi_document()


I2V = "sora-2-pro-image-to-video"
CHARACTERS = "sora-2-characters"
CLIP = {"character_file_url": ["https://a/c.mp4"]}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"input": {"prompt": "x"}}, "model"),
        ({"model": 5, "input": {"prompt": "x"}}, "model"),
        ({"model": "kling/v2", "input": "not an object"}, "input"),
        ({"model": "sora-2-pro-text-to-video"}, "input"),
        ({"model": "sora-2-pro-text-to-video", "input": {}}, "prompt"),
        ({"model": "sora-2-pro-text-to-video", "input": {"prompt": " "}}, "prompt"),
        ({"model": "sora-2-pro-text-to-video", "input": {"prompt": "x" * 10001}}, "prompt"),
        ({**VALID, "input": {"prompt": "x", "n_frames": 10}}, "n_frames"),
        ({"model": "sora-2-pro-text-to-video", "input": {"prompt": "x", "size": "4k"}}, "size"),
        ({**VALID, "input": {"prompt": "x", "character_id_list": list("abcdef")}}, "character"),
        ({**VALID, "callBackUrl": "not a url"}, "callBackUrl"),
        ("not json at all", "body"),
        ({"model": I2V, "input": {"prompt": "x"}}, "image_urls"),
        ({"model": I2V, "input": {"prompt": "x", "image_urls": ["https://a/1", "https://a/2"]}},
         "image_urls"),
        ({**VALID, "input": {"prompt": "x", "image_urls": []}}, "image_urls"),
        ({"model": CHARACTERS, "input": {"character_file_url": "https://a/c.mp4"}},
         "character_file_url"),
        ({"model": CHARACTERS, "input": {**CLIP, "character_prompt": "x" * 5001}},
         "character_prompt"),
        ({"model": CHARACTERS, "input": {**CLIP, "prompt": "x"}}, "prompt"),
    ],
)  # fmt: skip
async def test_create_validates_against_the_schema(raw: Raw, body: object, why: str) -> None:
    """Bodies their model's schema refuses get code 422 naming the field, and no task."""
    if isinstance(body, str):
        status, answer = await raw.call("POST", CREATE, data=body)
    else:
        status, answer = await raw.call("POST", CREATE, json=body)
    assert 422 == answer["code"]
    assert status in (200, 422)
    assert why in message(answer)
    assert {} == raw.emulator.tasks


async def test_requests_without_user_agent_are_refused(raw: Raw, emulator: Emulator) -> None:
    """Like the upstream CDN, the emulator answers 403 HTML when there is no User-Agent."""
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as session,
        session.get(
            emulator.url + "/api/v1/chat/credit",
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        ) as response,
    ):
        assert 403 == response.status
        assert "text/html" == response.content_type


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_bad_key_is_401(raw: Raw, headers: dict[str, str]) -> None:
    """A missing or wrong key gets code 401, in the body and maybe in the status."""
    status, answer = await raw.call(
        "GET", "/api/v1/chat/credit", headers=headers | {"User-Agent": "raw"}
    )
    assert 401 == answer["code"]
    assert status in (200, 401)


async def test_record_info_errors(raw: Raw) -> None:
    """RecordInfo answers 400 without taskId and 404 for an unknown task."""
    assert 400 == (await raw.call("GET", RECORD))[1]["code"]
    assert 404 == (await raw.call("GET", RECORD, params={"taskId": "nope"}))[1]["code"]


async def test_task_life_and_its_quirks(raw: Raw, emulator: Emulator) -> None:
    """A task is not shown (both live forms), then reports JSON in strings and epoch ms."""
    emulator.not_visible_for = 60.0  # until finish(), however slow the 20 calls below
    _, created = await raw.call("POST", CREATE, json=VALID)
    task_id = created["data"]["taskId"]
    forms = set()
    for _ in range(20):
        _, early = await raw.call("GET", RECORD, params={"taskId": task_id})
        forms.add((early["code"], message(early), early["data"]))
    assert {(422, "recordInfo is null", None), (200, "success", None)} == forms
    emulator.finish(task_id)
    _, done = await raw.call("GET", RECORD, params={"taskId": task_id})
    data = done["data"]
    assert "success" == data["state"]
    assert isinstance(data["param"], str)
    assert VALID["model"] == json.loads(data["param"])["model"]
    assert json.loads(data["resultJson"])["resultUrls"]
    assert data["createTime"] > 1_700_000_000_000
    video_url = json.loads(data["resultJson"])["resultUrls"][0]
    status, video = await raw.call("GET", video_url[len(emulator.url) :])
    assert (200, b"ftyp") == (status, video[4:8])  # an MP4 starts with its ftyp box


async def test_answers_use_both_message_keys(raw: Raw) -> None:
    """Across answers, the message comes as msg and as message."""
    keys = set()
    for _ in range(20):
        _, answer = await raw.call("GET", "/api/v1/chat/credit")
        keys |= {"msg", "message"} & set(answer)
    assert {"msg", "message"} == keys


async def test_rate_limits_answer_http_429(raw: Raw, emulator: Emulator) -> None:
    """Past its create limit the emulator answers HTTP 429 with code 429, and creates nothing."""
    emulator.create_limit = (2, 10.0)
    answers = [await raw.call("POST", CREATE, json=VALID) for _ in range(3)]
    assert [200, 200, 429] == [status for status, _ in answers]
    assert 429 == answers[2][1]["code"]
    assert 2 == len(emulator.tasks)


async def test_unfinished_task_has_no_file(raw: Raw, emulator: Emulator) -> None:
    """Result files exist only once the task succeeded."""
    emulator.duration = None
    _, created = await raw.call("POST", CREATE, json=VALID)
    status, _ = await raw.call("GET", f"/files/{created['data']['taskId']}.mp4")
    assert 404 == status


async def finished_file(raw: Raw, emulator: Emulator) -> tuple[str, bytes]:
    """The URL of a finished task's video, and the video's bytes."""
    _, created = await raw.call("POST", CREATE, json=VALID)
    task_id = created["data"]["taskId"]
    emulator.finish(task_id)
    url = f"{emulator.url}/files/{task_id}.mp4"
    async with raw.session.get(url, headers={"User-Agent": "raw"}) as response:
        return url, await response.read()


async def get_file(raw: Raw, url: str, byte_range: str) -> tuple[int, str | None, bytes]:
    """The status, Content-Range and body of a file request with ``Range: byte_range``."""
    headers = {"User-Agent": "raw", "Range": byte_range}
    async with raw.session.get(url, headers=headers) as response:
        return response.status, response.headers.get("Content-Range"), await response.read()


async def test_result_files_answer_open_ranges(raw: Raw, emulator: Emulator) -> None:
    """bytes=N- gets 206 with its Content-Range, 416 past the end; other forms get 200."""
    url, video = await finished_file(raw, emulator)
    total = len(video)
    rest = (206, f"bytes 100-{total - 1}/{total}", video[100:])
    assert rest == await get_file(raw, url, "bytes=100-")
    assert (416, f"bytes */{total}") == (await get_file(raw, url, f"bytes={total}-"))[:2]
    assert (200, None, video) == await get_file(raw, url, "bytes=0-99")


async def test_ranges_can_be_ignored(raw: Raw, emulator: Emulator) -> None:
    """With ranges=False a result file answers a range request whole, under 200."""
    url, video = await finished_file(raw, emulator)
    emulator.ranges = False
    assert (200, None, video) == await get_file(raw, url, "bytes=100-")


async def test_a_truncated_file_promises_more_than_it_sends(raw: Raw, emulator: Emulator) -> None:
    """Fault.truncate(at=) on a file keeps its headers, sends that many bytes, then closes."""
    url, video = await finished_file(raw, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    headers = {"User-Agent": "raw", "Range": "bytes=100-"}
    async with raw.session.get(url, headers=headers) as response:
        assert (206, len(video) - 100) == (response.status, response.content_length)
        assert video[100:1100] == await response.content.readexactly(1000)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.content.readany()  # nothing more came before the close


async def test_a_misplaced_range_names_where_it_starts(raw: Raw, emulator: Emulator) -> None:
    """Fault.misplaced_range(at=) answers from byte at, whatever range was asked for."""
    url, video = await finished_file(raw, emulator)
    total = len(video)
    emulator.inject(Fault.misplaced_range(at=10), Endpoint.FILES)
    assert (206, f"bytes 10-{total - 1}/{total}", video[10:]) == await get_file(
        raw, url, "bytes=100-"
    )


@pytest.mark.parametrize("success", [True, False])
async def test_callbacks_follow_the_documented_shape(
    raw: Raw, emulator: Emulator, success: bool
) -> None:
    """The end of a task is POSTed to callBackUrl: code 200 or 501, nulls as API.md says."""
    received: asyncio.Queue[dict[str, typing.Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/cb", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        emulator.duration = None
        body = {**VALID, "callBackUrl": f"http://127.0.0.1:{port}/cb"}
        _, created = await raw.call("POST", CREATE, json=body)
        emulator.finish(created["data"]["taskId"], success=success)
        callback = await asyncio.wait_for(received.get(), 5)
    finally:
        await runner.cleanup()
    data = callback["data"]
    if success:
        assert (200, "success", None) == (callback["code"], data["state"], data["failCode"])
        assert json.loads(data["resultJson"])["resultUrls"]
    else:
        assert (501, "fail", None) == (callback["code"], data["state"], data["resultJson"])
        assert "500" == data["failCode"]


async def test_plugin_fixture_runs_an_emulator(sora2pro_emulator: Emulator) -> None:
    """The pytest plugin's sora2pro_emulator fixture gives a running emulator."""
    assert sora2pro_emulator.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({**VALID, "callBackUrl": "http://[::1"}, "callBackUrl"),
        ({**VALID, "input": {"prompt": "x", "character_id_list": ["ok", " "]}}, "blank"),
    ],
)
async def test_odd_bodies_are_refused_not_crashed(raw: Raw, body: object, why: str) -> None:
    """A broken URL or a blank character id gets a 422, never an emulator crash."""
    _, answer = await raw.call("POST", CREATE, json=body)
    assert 422 == answer["code"]
    assert why in message(answer)


async def test_busy_port_fails_cleanly(emulator: Emulator) -> None:
    """Starting on a port in use raises OSError and leaves nothing open behind."""
    with pytest.raises(OSError, match="address already in use"):
        async with Emulator(port=emulator.port):
            pass


STREAM = "/file-upload/api/file-stream-upload"
_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nabc'


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("multipart/form-data", b"no boundary given"),
        ("multipart/form-data; boundary=b", _PART),  # never closed
        ("multipart/form-data; boundary=b", b"--b\r\nBad Header\r\n\r\nabc\r\n--b--\r\n"),
        ("multipart/form-data; boundary=b", b"--b--\r\n"),  # no file part
    ],
)
async def test_malformed_multipart_upload_is_a_422(
    raw: Raw, content_type: str, data: bytes
) -> None:
    """A multipart body that does not parse gets a documented 422, never a 500."""
    headers = raw.headers | {"Content-Type": content_type}
    status, answer = await raw.call("POST", STREAM, headers=headers, data=data)
    assert 422 == answer["code"]
    assert status in (200, 422)
    assert {} == raw.emulator.uploads


@pytest.mark.parametrize(
    "url", ["http://" + "a" * 70 + ".example/x.png", "http://[::1/x", "https://"]
)
async def test_unfetchable_url_upload_is_a_422(raw: Raw, url: str) -> None:
    """A fileUrl the service cannot even parse gets 422, never a 500."""
    body = {"fileUrl": url, "uploadPath": "x"}
    status, answer = await raw.call("POST", "/file-upload/api/file-url-upload", json=body)
    assert (422, True) == (answer["code"], status in (200, 422))


@pytest.mark.parametrize("model", [["sora-2-pro-text-to-video"], {"a": 1}, 7, None])
async def test_create_with_a_model_of_the_wrong_type_is_a_422(raw: Raw, model: object) -> None:
    """A model that is not a string is refused with 422, never a 500."""
    status, answer = await raw.call("POST", CREATE, json={"model": model, "input": {}})
    assert (422, True) == (answer["code"], status in (200, 422))
    assert "model" in message(answer)


async def first_task_id(emulator: Emulator) -> str:
    """The id of the first task created on a fresh ``emulator``."""
    async with emulator, aiohttp.ClientSession() as session:
        created = await Raw(emulator, session).call("POST", CREATE, json=VALID)
    return str(created[1]["data"]["taskId"])


async def test_task_ids_differ_between_emulators() -> None:
    """Two emulators never hand out the same first task id, so a kept id never matches."""
    ids = [await first_task_id(Emulator()) for _ in range(4)]
    assert 4 == len(set(ids))


async def test_a_seed_repeats_the_task_ids() -> None:
    """Two emulators with one seed hand out the same first task id."""
    assert await first_task_id(Emulator(seed=0)) == await first_task_id(Emulator(seed=0))


async def test_requests_can_be_logged_without_the_key(
    raw: Raw, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """With log_requests, each request is logged with method, path and status; never the key."""
    emulator.log_requests = True
    with caplog.at_level(logging.INFO, logger="sora2pro.testing"):
        await raw.call("POST", CREATE, json=VALID)
        await raw.call("GET", RECORD, params={"taskId": "nope"}, headers={"User-Agent": "raw"})
        emulator.inject(Fault.disconnect())
        with pytest.raises(aiohttp.ClientError):
            await raw.call("POST", CREATE, json=VALID)
    lines = [r.getMessage() for r in caplog.records if r.name == "sora2pro.testing"]
    assert "POST /api/v1/jobs/createTask 200 (Authorization: Bearer [redacted])" == lines[0]
    # The error code comes in the HTTP status, or in the body under HTTP 200.
    assert lines[1] in (
        "GET /api/v1/jobs/recordInfo?taskId=nope 401 (no Authorization)",
        "GET /api/v1/jobs/recordInfo?taskId=nope 200 (code 401; no Authorization)",
    )
    fault = "POST /api/v1/jobs/createTask - (Authorization: Bearer [redacted]; fault: disconnect)"
    assert [fault] == lines[2:]
    assert emulator.api_key not in caplog.text


async def test_requests_are_not_logged_by_default(
    raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    """Without log_requests, the emulator logs nothing per request."""
    with caplog.at_level(logging.DEBUG, logger="sora2pro.testing"):
        await raw.call("POST", CREATE, json=VALID)
    assert [] == caplog.records


async def test_ctrl_c_stops_the_cli_emulator_cleanly() -> None:
    """SIGINT, the documented way to stop `sora2pro emulator`, exits 130 and prints no error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sora2pro", "emulator", "--port", "0", "--log-requests",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
    url = first.split(" on ")[1].split()[0]
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url + "/api/v1/chat/credit",
            headers={"User-Agent": "raw", "Authorization": f"Bearer {DEFAULT_API_KEY}"},
        ) as response,
    ):
        assert 200 == response.status
    process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
    output = first + stdout.decode() + stderr.decode()
    assert 130 == process.returncode
    assert "GET /api/v1/chat/credit 200 (Authorization: Bearer [redacted])" in output
    assert "error" not in output.lower()
    assert "Traceback" not in output


def test_testing_extra_installs_what_the_plugin_imports() -> None:
    """`pip install 'sora2pro[testing]'` brings pytest-asyncio, which the plugin's fixture needs."""
    wanted = {
        re.split(r"[<>=!~ ;\[]", requirement)[0].lower()
        for requirement in importlib.metadata.requires("sora2pro") or []
        if re.search(r"""extra\s*==\s*["']testing["']""", requirement)
    }
    assert {"jsonschema", "pytest-asyncio"} <= wanted


PLUGIN_USER = """
import pytest
import sora2pro

pytest_plugins = ["sora2pro.testing.pytest_plugin"]


@pytest.mark.asyncio
async def test_submit(sora2pro_emulator):
    async with sora2pro.Client(
        sora2pro_emulator.api_key, base_url=sora2pro_emulator.url
    ) as client:
        task_id = await client.submit("a happy dog")
    assert [task_id] == list(sora2pro_emulator.tasks)
"""


def test_plugin_works_in_a_project_without_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    """In pytest-asyncio's default strict mode, the fixture works with the asyncio marker."""
    pytester.makepyfile(test_uses_plugin=PLUGIN_USER)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    # Without the plugins of this project's own tools, which a fresh project lacks.
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist", "-W", "error"
    )
    result.assert_outcomes(passed=1)
    assert "mode=Mode.STRICT" in result.stdout.str()

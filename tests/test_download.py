"""download() writes the whole video or nothing, and never sends the API key to a file host."""

from __future__ import annotations

import asyncio
import importlib.resources
import pathlib
import typing

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import sora2pro
from sora2pro import DownloadError, InvalidInputError, TaskState
from sora2pro._flows._redirects import _internal
from sora2pro.testing import Emulator, Endpoint, Fault

from .conftest import FAST_RETRY

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

SAMPLE = importlib.resources.files("sora2pro.testing").joinpath("sample.mp4").read_bytes()


def leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def ranges_asked(emulator: Emulator) -> list[str | None]:
    """The Range header of each file request, in order (None: the whole file)."""
    return [r.headers.get("range") for r in emulator.requests if r.path.startswith("/files/")]


@pytest.fixture
async def patient(emulator: Emulator) -> AsyncIterator[sora2pro.Client]:
    """A client that would retry for a long time: only the download's deadline stops it."""
    retry = sora2pro.RetryPolicy(attempts=1000, base_delay=0.02, max_delay=60.0, max_elapsed=None)
    async with sora2pro.Client(emulator.api_key, base_url=emulator.url, retry=retry) as client:
        yield client


async def finished(client: sora2pro.Client, emulator: Emulator) -> sora2pro.Task:
    """A finished task, without waiting out its run."""
    task_id = await client.submit("a dog")
    emulator.finish(task_id)
    return await client.get_task(task_id)


async def test_download_writes_the_video(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """The video lands whole at dest, with no temporary file left and no key sent."""
    task = await client.generate("a dog")
    path = await client.download(task, tmp_path / "dog.mp4")
    assert tmp_path / "dog.mp4" == path
    assert SAMPLE == path.read_bytes()
    assert [] == leftovers(tmp_path)
    (file_request,) = [r for r in emulator.requests if r.path.startswith("/files/")]
    assert "authorization" not in file_request.headers


async def test_download_takes_a_task_id(client: sora2pro.Client, tmp_path: pathlib.Path) -> None:
    """download() accepts a task id and fetches the task first."""
    task = await client.generate("a dog")
    assert SAMPLE == (await client.download(task.id, tmp_path / "dog.mp4")).read_bytes()


async def test_unfinished_task_has_nothing_to_download(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A task without result, or an index past its results, is refused before any request."""
    task = sora2pro.Task(id="t", model="m", state=TaskState.GENERATING, raw_state="generating")
    with pytest.raises(InvalidInputError, match="no result video"):
        await client.download(task, tmp_path / "x.mp4")
    done = await client.generate("a dog")
    with pytest.raises(InvalidInputError, match="index"):
        await client.download(done, tmp_path / "x.mp4", index=1)
    assert [] == list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.truncate(at=0), None), (Fault.disconnect(), None), (Fault.html(404), 404)],
)
async def test_failed_download_leaves_nothing_behind(
    client: sora2pro.Client,
    emulator: Emulator,
    tmp_path: pathlib.Path,
    fault: Fault,
    status: int | None,
) -> None:
    """A download still cut, dropped or refused after its retries keeps the old file."""
    task = await client.generate("a dog")
    dest = tmp_path / "dog.mp4"
    dest.write_bytes(b"the previous video")
    # aiohttp re-sends a dropped GET once by itself: twice the tries covers that too.
    emulator.inject(fault, Endpoint.FILES, times=2 * FAST_RETRY.attempts)
    with pytest.raises(DownloadError) as caught:
        await client.download(task, dest, overwrite=True)
    assert status == caught.value.http_status
    assert b"the previous video" == dest.read_bytes()
    assert [] == leftovers(tmp_path)


async def test_directory_destination_is_refused(
    client: sora2pro.Client, tmp_path: pathlib.Path
) -> None:
    """A directory as dest is refused before anything is fetched."""
    task = await client.generate("a dog")
    with pytest.raises(InvalidInputError, match="directory"):
        await client.download(task, tmp_path)


async def test_download_has_a_deadline(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A transfer slower than its timeout raises DownloadError and leaves nothing behind."""
    task = await client.generate("a dog")
    emulator.inject(Fault.delay(0.5), Endpoint.FILES)
    with pytest.raises(DownloadError, match="not finished"):
        await client.download(task, tmp_path / "dog.mp4", timeout=0.1)
    assert [] == list(tmp_path.iterdir())


async def test_an_expired_link_is_refreshed_once(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A result URL answering 410 is swapped for a fresh link from download-url."""
    task = await client.generate("a dog")
    emulator.expire(task.id)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert 1 == emulator.count(Endpoint.DOWNLOAD_URL)
    assert "token" in [r for r in emulator.requests if r.path.startswith("/files/")][-1].query


async def test_a_link_the_platform_does_not_know_stays_an_error(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A 404 on a URL download-url refuses (422) ends as the DownloadError, with a note."""
    task = sora2pro.Task(
        id="t",
        model="m",
        state=TaskState.SUCCESS,
        raw_state="success",
        result_urls=(f"{emulator.url}/files/nobody.mp4",),
    )
    with pytest.raises(DownloadError) as caught:
        await client.download(task, tmp_path / "x.mp4")
    assert 404 == caught.value.http_status
    assert any("no fresh link" in note for note in caught.value.__notes__)


async def test_an_existing_file_is_kept_unless_told(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """An existing dest is refused before fetching; overwrite=True replaces it."""
    task = await client.generate("a dog")
    dest = tmp_path / "dog.mp4"
    dest.write_bytes(b"mine")
    with pytest.raises(InvalidInputError, match="exists"):
        await client.download(task, dest)
    assert b"mine" == dest.read_bytes()
    await client.download(task, dest, overwrite=True)
    assert SAMPLE == dest.read_bytes()


async def test_watermark_and_progress(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """watermark=True fetches the watermarked copy; on_progress sees the bytes to the end."""
    task = await client.generate("a dog")
    seen: list[tuple[int, int | None]] = []
    await client.download(
        task, tmp_path / "w.mp4", watermark=True, on_progress=lambda *p: seen.append(p)
    )
    (request,) = [r for r in emulator.requests if r.path.startswith("/files/")]
    assert request.path.endswith("-watermark.mp4")
    assert (len(SAMPLE), len(SAMPLE)) == seen[-1]


async def test_a_file_that_cannot_be_written_is_not_retried(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A destination in a missing folder raises DownloadError before any request."""
    task = await finished(client, emulator)
    with pytest.raises(DownloadError, match="could not be written"):
        await client.download(task, tmp_path / "missing" / "dog.mp4")
    assert [] == ranges_asked(emulator)


async def test_a_cut_transfer_resumes_where_it_stopped(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A transfer cut after 1000 bytes goes on with Range: bytes=1000- and ends byte-exact."""
    task = await finished(client, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert [None, "bytes=1000-"] == ranges_asked(emulator)
    assert [] == leftovers(tmp_path)


async def test_breaks_that_add_bytes_do_not_spend_the_retries(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """More breaks than the policy's tries still end whole while each one adds bytes."""
    task = await finished(client, emulator)
    breaks = 2 * FAST_RETRY.attempts
    emulator.inject(Fault.truncate(at=len(SAMPLE) // (breaks + 1)), Endpoint.FILES, times=breaks)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert breaks + 1 == len(ranges_asked(emulator))


async def test_a_host_that_ignores_ranges_sends_it_all_again(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A resume answered 200 with the whole file replaces the bytes kept; the file is exact."""
    emulator.ranges = False
    task = await finished(client, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert [None, "bytes=1000-"] == ranges_asked(emulator)


@pytest.mark.parametrize("refusal", [Fault.html(416), Fault.misplaced_range(at=0)])
async def test_a_range_refused_or_misplaced_starts_over(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path, refusal: Fault
) -> None:
    """A resume answered 416, or 206 from the wrong byte, is dropped; a whole GET follows."""
    task = await finished(client, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    emulator.inject(refusal, Endpoint.FILES)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert [None, "bytes=1000-", None] == ranges_asked(emulator)


@pytest.mark.parametrize(
    ("fault", "times"),
    [(Fault.html(503), 2), (Fault.rate_limited(retry_after=0), 2), (Fault.disconnect(), 3)],
    ids=["503", "429", "dropped"],
)
async def test_transient_failures_are_retried(
    client: sora2pro.Client,
    emulator: Emulator,
    tmp_path: pathlib.Path,
    fault: Fault,
    times: int,
) -> None:
    """A 5xx, a 429 or a dropped connection is tried again, and the file ends whole."""
    task = await finished(client, emulator)
    emulator.inject(fault, Endpoint.FILES, times=times)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()


async def test_retry_after_is_honoured(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A 429 with Retry-After: 0.2 is tried again no sooner than 0.2 s later."""
    task = await finished(client, emulator)
    emulator.inject(Fault.rate_limited(retry_after=0.2), Endpoint.FILES)
    await client.download(task, tmp_path / "dog.mp4")
    first, second = [r.time for r in emulator.requests if r.path.startswith("/files/")]
    assert second - first >= 0.2


async def test_a_retry_never_outruns_the_deadline(
    patient: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A Retry-After longer than the time left ends the download at once, with that 429."""
    task = await finished(patient, emulator)
    emulator.inject(Fault.rate_limited(retry_after=30), Endpoint.FILES)
    with pytest.raises(DownloadError) as caught:
        await patient.download(task, tmp_path / "dog.mp4", timeout=2.0)
    assert (429, 30.0) == (caught.value.http_status, caught.value.retry_after)
    assert [] == list(tmp_path.iterdir())


async def test_a_lasting_failure_ends_by_the_deadline(
    patient: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A host failing every try is retried until the deadline, then DownloadError, no files."""
    task = await finished(patient, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    emulator.inject(Fault.html(503), Endpoint.FILES, times=10_000)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DownloadError):
        await patient.download(task, tmp_path / "dog.mp4", timeout=0.3)
    assert loop.time() - started < 5.0
    assert len(ranges_asked(emulator)) > 2
    assert [] == list(tmp_path.iterdir())


async def test_a_cancelled_download_leaves_nothing(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """Cancelling a download that holds bytes for a resume deletes its part file."""
    task = await finished(client, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    parts_seen: list[str] = []
    jobs: list[asyncio.Task[pathlib.Path]] = []

    def cancel_at_first_bytes(_done: int, _total: int | None) -> None:
        if not parts_seen:
            parts_seen.extend(leftovers(tmp_path))
            jobs[0].cancel()

    jobs.append(
        asyncio.create_task(
            client.download(task, tmp_path / "dog.mp4", on_progress=cancel_at_first_bytes)
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await jobs[0]
    assert 1 == len(parts_seen)
    assert [] == list(tmp_path.iterdir())


async def test_an_expired_link_found_on_a_resume_keeps_the_bytes(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A resume answered 410 goes on from the same byte over a fresh link."""
    task = await finished(client, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    emulator.inject(Fault.html(410), Endpoint.FILES)
    path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert [None, "bytes=1000-", "bytes=1000-"] == ranges_asked(emulator)
    assert 1 == emulator.count(Endpoint.DOWNLOAD_URL)


async def test_progress_goes_on_across_a_resume(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """on_progress counts on from the bytes kept at each resume, never back down."""
    task = await finished(client, emulator)
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES, times=2)
    seen: list[tuple[int, int | None]] = []
    await client.download(task, tmp_path / "dog.mp4", on_progress=lambda *p: seen.append(p))
    done = [written for written, _ in seen]
    assert sorted(set(done)) == done  # strictly rising
    cuts = [1000, 2000, len(SAMPLE)]
    assert cuts == [written for written in done if written in cuts]
    assert {len(SAMPLE)} == {total for _, total in seen}


class FileHost:
    """A small file host on loopback for what the emulator does not do: redirects, endless bodies.

    ``/redirect?to=URL`` answers 302 (or ``status``) to URL, ``/loop`` redirects to
    itself, ``/endless`` streams zeros until the client goes away.
    """

    def __init__(self) -> None:
        self.requests: list[web.BaseRequest] = []
        app = web.Application()
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/endless", self._endless)
        self.server = TestServer(app, host="127.0.0.1")

    def url(self, path: str, **query: str) -> str:
        """The full URL of ``path`` on this host."""
        return str(self.server.make_url(path).with_query(query))

    async def _redirect(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def _loop(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        return web.Response(status=302, headers={"Location": "/loop"})

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = bytes(64 * 1024)
        try:
            while True:
                await response.write(chunk)
        except ConnectionResetError:
            return response


@pytest.fixture
async def host() -> AsyncIterator[FileHost]:
    """A running FileHost."""
    file_host = FileHost()
    async with file_host.server:
        yield file_host


def served_from(task: sora2pro.Task, url: str) -> sora2pro.Task:
    """``task`` with ``url`` as its only result URL."""
    return attrs.evolve(task, result_urls=(url,))


def hosted(url: str) -> sora2pro.Task:
    """A finished task whose only result URL is ``url``."""
    return sora2pro.Task(
        id="t", model="m", state=TaskState.SUCCESS, raw_state="success", result_urls=(url,)
    )


async def test_an_endless_body_stops_at_the_cap(
    client: sora2pro.Client, host: FileHost, tmp_path: pathlib.Path
) -> None:
    """A body that never ends is cut at max_bytes: DownloadError, no retry, nothing left."""
    task = hosted(host.url("/endless"))
    seen: list[int] = []
    with pytest.raises(DownloadError, match="max_bytes"):
        await client.download(
            task, tmp_path / "x.mp4", max_bytes=300_000, on_progress=lambda n, _: seen.append(n)
        )
    assert [] == list(tmp_path.iterdir())
    assert 1 == len(host.requests)
    assert max(seen) <= 300_000


async def test_an_announced_size_over_the_cap_is_refused_before_reading(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """A Content-Length past max_bytes is refused before one byte is written; equal is fine."""
    task = await finished(client, emulator)
    seen: list[int] = []
    with pytest.raises(DownloadError, match="max_bytes"):
        await client.download(
            task,
            tmp_path / "dog.mp4",
            max_bytes=len(SAMPLE) - 1,
            on_progress=lambda n, _: seen.append(n),
        )
    assert ([], []) == (seen, list(tmp_path.iterdir()))
    assert [None] == ranges_asked(emulator)
    path = await client.download(task, tmp_path / "dog.mp4", max_bytes=len(SAMPLE))
    assert SAMPLE == path.read_bytes()


async def test_no_cap_with_none(client: sora2pro.Client, tmp_path: pathlib.Path) -> None:
    """max_bytes=None lifts the cap."""
    task = await client.generate("a dog")
    path = await client.download(task, tmp_path / "dog.mp4", max_bytes=None)
    assert SAMPLE == path.read_bytes()


@pytest.mark.parametrize("max_bytes", [0, -1, True, 1.5, "1000"])
async def test_a_bad_cap_is_refused_before_any_request(
    client: sora2pro.Client, emulator: Emulator, tmp_path: pathlib.Path, max_bytes: object
) -> None:
    """max_bytes must be a positive whole number or None; otherwise InvalidInputError."""
    task = await finished(client, emulator)
    requests_before = len(emulator.requests)
    with pytest.raises(InvalidInputError) as caught:
        await client.download(task.id, tmp_path / "dog.mp4", max_bytes=max_bytes)  # type: ignore[arg-type]
    assert "max_bytes" == caught.value.field
    assert requests_before == len(emulator.requests)


async def test_a_redirect_to_another_loopback_port_is_refused(
    client: sora2pro.Client, emulator: Emulator, host: FileHost, tmp_path: pathlib.Path
) -> None:
    """A result URL redirected to 127.0.0.1 elsewhere is refused; that server sees nothing."""
    task = await finished(client, emulator)
    task = served_from(task, host.url("/redirect", to=task.result_urls[0]))
    with pytest.raises(DownloadError, match="allow_private_redirects") as caught:
        await client.download(task, tmp_path / "dog.mp4")
    assert 302 == caught.value.http_status
    assert [] == ranges_asked(emulator)
    assert 1 == len(host.requests)
    assert [] == list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:9/x.mp4",
        "http://[::1]:9/x.mp4",
        "http://[::ffff:127.0.0.1]:9/x.mp4",
        "http://169.254.0.1:9/x.mp4",
        "http://10.255.255.1:9/x.mp4",
        "https://192.168.255.1:9/x.mp4",
        "http://100.64.0.1:9/x.mp4",
        "http://0.0.0.0:9/x.mp4",
        "http://224.0.0.1:9/x.mp4",
    ],
)
async def test_internal_redirect_targets_are_refused(
    client: sora2pro.Client,
    host: FileHost,
    tmp_path: pathlib.Path,
    target: str,
) -> None:
    """A redirect to a loopback, private, link-local, unspecified or multicast host is refused."""
    task = hosted(host.url("/redirect", to=target))
    with pytest.raises(DownloadError, match="allow_private_redirects"):
        await client.download(task, tmp_path / "dog.mp4")
    assert 1 == len(host.requests)


async def test_a_loopback_redirect_is_followed_when_allowed(
    client: sora2pro.Client, emulator: Emulator, host: FileHost, tmp_path: pathlib.Path
) -> None:
    """allow_private_redirects=True follows it, resumes across it, and sends no key anywhere."""
    task = await finished(client, emulator)
    task = served_from(task, host.url("/redirect", to=task.result_urls[0], status="307"))
    emulator.inject(Fault.truncate(at=1000), Endpoint.FILES)
    path = await client.download(task, tmp_path / "dog.mp4", allow_private_redirects=True)
    assert SAMPLE == path.read_bytes()
    assert [None, "bytes=1000-"] == ranges_asked(emulator)
    assert [None, "bytes=1000-"] == [r.headers.get("Range") for r in host.requests]
    file_requests = [r for r in emulator.requests if r.path.startswith("/files/")]
    headers = [r.headers for r in file_requests] + [r.headers for r in host.requests]
    assert [] == [h for h in headers if "authorization" in {k.lower() for k in h}]


@pytest.mark.parametrize("allowed", [False, True])
@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.com/x.mp4", "data:video/mp4;base64,AAAA"]
)
async def test_a_redirect_to_another_scheme_is_refused(
    client: sora2pro.Client,
    host: FileHost,
    tmp_path: pathlib.Path,
    target: str,
    allowed: bool,
) -> None:
    """A redirect to file:, ftp: or data: is refused, even with allow_private_redirects."""
    task = hosted(host.url("/redirect", to=target))
    with pytest.raises(DownloadError, match="only http and https"):
        await client.download(task, tmp_path / "dog.mp4", allow_private_redirects=allowed)
    assert 1 == len(host.requests)
    assert [] == list(tmp_path.iterdir())


async def test_a_redirect_loop_is_bounded(
    client: sora2pro.Client, host: FileHost, tmp_path: pathlib.Path
) -> None:
    """A host redirecting to itself is left after 5 redirects, and not tried again."""
    task = hosted(host.url("/loop"))
    with pytest.raises(DownloadError, match="redirected more than 5 times"):
        await client.download(task, tmp_path / "dog.mp4", allow_private_redirects=True)
    assert 6 == len(host.requests)
    assert [] == list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("93.184.215.14", False),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", False),
        ("::ffff:93.184.215.14", False),
        ("127.0.0.2", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("172.16.0.1", True),
        ("ff02::1", True),
    ],
)
def test_only_public_addresses_pass_the_redirect_check(address: str, internal: bool) -> None:
    """Public IPv4 and IPv6 addresses (mapped ones too) pass; the rest are internal."""
    assert internal == _internal(address)


async def test_a_session_that_raises_for_status_still_gets_a_fresh_link(
    emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    """With a session of raise_for_status=True, a 410 still swaps in a fresh link."""
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        sora2pro.Client(
            emulator.api_key, base_url=emulator.url, retry=FAST_RETRY, session=session
        ) as client,
    ):
        task = await finished(client, emulator)
        emulator.expire(task.id)
        path = await client.download(task, tmp_path / "dog.mp4")
    assert SAMPLE == path.read_bytes()
    assert 1 == emulator.count(Endpoint.DOWNLOAD_URL)

"""download() writes the whole video or nothing, and never sends the API key to a file host."""

from __future__ import annotations

import asyncio
import importlib.resources
import pathlib
import typing

import pytest

import sora2pro
from sora2pro import DownloadError, InvalidInputError, TaskState
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

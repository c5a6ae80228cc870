"""download() writes the whole video or nothing, and never sends the API key to a file host."""

from __future__ import annotations

import importlib.resources
import pathlib

import pytest

import sora2pro
from sora2pro import DownloadError, InvalidInputError, TaskState
from sora2pro.testing import Emulator, Endpoint, Fault

SAMPLE = importlib.resources.files("sora2pro.testing").joinpath("sample.mp4").read_bytes()


def leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


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
    [(Fault.truncate(), None), (Fault.disconnect(), None), (Fault.html(404), 404)],
)
async def test_failed_download_leaves_nothing_behind(
    client: sora2pro.Client,
    emulator: Emulator,
    tmp_path: pathlib.Path,
    fault: Fault,
    status: int | None,
) -> None:
    """A truncated, dropped or refused download raises DownloadError and keeps the old file."""
    task = await client.generate("a dog")
    dest = tmp_path / "dog.mp4"
    dest.write_bytes(b"the previous video")
    emulator.inject(fault, Endpoint.FILES, times=2)
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

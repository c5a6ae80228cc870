"""sora2pro batch --out DIR writes DIR/index.html: a contact sheet, seen in a real browser."""

from __future__ import annotations

import html.parser
import os
import pathlib
import signal
import subprocess
import sys
import time
import typing

from sora2pro import (
    BatchResult,
    Job,
    Submitted,
    Task,
    TaskFailedError,
    TaskState,
    TextToVideo,
)
from sora2pro._cli import _sheet, main
from sora2pro._cli._sheet import ContactSheet

from .browser import read_png, run_browser
from .files import SAMPLE_MP4

if typing.TYPE_CHECKING:
    import pytest

    from sora2pro.testing import Emulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOSTILE = '</video><script>document.title="owned"</script><img src=x onerror=alert(1)> & "q"'
HEADER = (0x24, 0x29, 0x2F)
OK = (0x1A, 0x7F, 0x37)
FAILED = (0xD1, 0x24, 0x2F)
UNSENT = (0x6E, 0x77, 0x81)


class _Tags(html.parser.HTMLParser):
    """Every start tag of a page, with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Tags:
    """The tags and the text of ``page``."""
    tags = _Tags()
    tags.feed(page)
    return tags


def run_three(served: Emulator, tmp_path: pathlib.Path) -> pathlib.Path:
    """A batch of three into DIR: #1 succeeds (a hostile prompt), #2 fails, #3 is left unsent."""
    fates = iter([False, True])

    def fated(_rng: object) -> float:
        served.fail_rate = 1.0 if next(fates) else 0.0  # read by this same create
        return 0.0

    served.duration = fated
    served.credits = 2.0
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{HOSTILE}\na cat\na bird\n")
    out = tmp_path / "videos"
    argv = ["batch", str(prompts), "--out", str(out), "--concurrency", "1", "--keep-credits", "0"]
    assert 3 == main(argv)
    return out


def test_the_sheet_renders_in_a_real_browser(served: Emulator, tmp_path: pathlib.Path) -> None:
    """Chromium draws the header, then three cards in a row: green, the failure red, grey."""
    out = run_three(served, tmp_path)
    shot = tmp_path / "sheet.png"
    run_browser(out / "index.html", tmp_path / "profile", f"--screenshot={shot}",
                "--window-size=1000,400")  # fmt: skip
    image = read_png(shot.read_bytes())
    assert (1000, 400) == (image.width, image.height)
    assert image.near(0, 0, HEADER)  # the header band starts the page
    columns = {colour: [x for x, _ in image.where(colour)] for colour in (OK, FAILED, UNSENT)}
    # Card #1 (its video may show any frame) is left of 333, #2 in the middle, #3 right.
    assert sum(x < 333 for x in columns[OK]) > 1000  # its top edge and its badge
    assert sum(333 <= x < 666 for x in columns[FAILED]) > 20_000  # #2's picture area
    assert sum(666 <= x for x in columns[UNSENT]) > 20_000  # #3's picture area
    assert not any(666 <= x for x in columns[FAILED])


def test_the_browser_runs_no_prompt_as_markup(served: Emulator, tmp_path: pathlib.Path) -> None:
    """In the browser's own DOM a hostile prompt stays text: one video, no script, no img."""
    out = run_three(served, tmp_path)
    dom = run_browser(out / "index.html", tmp_path / "profile", "--dump-dom")
    page = parse(dom)
    tags = [tag for tag, _ in page.tags]
    assert (1, 0, 0) == (tags.count("video"), tags.count("script"), tags.count("img"))
    assert HOSTILE in "".join(page.text)
    assert ["ok", "failed", "unsent"] == [a["data-state"] for t, a in page.tags if t == "article"]


def test_the_sheet_is_self_contained(served: Emulator, tmp_path: pathlib.Path) -> None:
    """Every file the page names is beside it; nothing comes from elsewhere."""
    out = run_three(served, tmp_path)
    page = (out / "index.html").read_text("utf-8")
    tags = parse(page).tags
    linked = [value for _, attrs in tags for name, value in attrs.items()
              if name in ("src", "href", "poster", "srcset", "data")]  # fmt: skip
    assert 1 == len(linked)
    assert all(value and (out / value).is_file() for value in linked)
    assert not {"link", "script", "iframe", "object", "img"} & {tag for tag, _ in tags}
    assert "url(" not in page
    assert "@import" not in page


def test_the_sheet_shows_tasks_running_and_a_stop(served: Emulator, tmp_path: pathlib.Path) -> None:
    """Mid-batch the page shows each task running; after Ctrl-C it says how to resume."""
    served.duration = None  # nothing finishes
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\na cat\na bird\n")
    page = tmp_path / "videos" / "index.html"
    argv = [sys.executable, "-m", "sora2pro", "batch", str(prompts), "--out", str(page.parent)]
    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    with subprocess.Popen(argv, env=environment, stdout=subprocess.DEVNULL,  # noqa: S603
                          stderr=subprocess.DEVNULL) as process:  # fmt: skip
        end = time.monotonic() + 30
        while not page.exists() or ["running"] * 3 != states(page):  # the page has no event
            assert process.poll() is None
            assert time.monotonic() < end, "the page never showed three running tasks"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        assert 130 == process.wait(10)
    assert ["running"] * 3 == states(page)
    assert "stopped: run the same command again to resume" in page.read_text("utf-8")


async def test_the_sheet_follows_the_batch_and_escapes_server_text(tmp_path: pathlib.Path) -> None:
    """Rewritten as items start and end, atomically; a task id and a reason are escaped too."""
    sheet = ContactSheet(tmp_path, "<b>title</b>", ["one", {"prompt": HOSTILE}])
    sheet.write()
    assert ["queued", "queued"] == states(sheet.path)
    sheet.on_event(Submitted(1, 'id"><script>'))
    assert ["queued", "running"] == states(sheet.path)
    failed = Task(id='id"><script>', model="m", state=TaskState.FAIL, raw_state="fail")
    result = BatchResult(
        index=1,
        request=TextToVideo("x"),
        task_id=failed.id,
        task=failed,
        error=TaskFailedError(failed),
    )
    await sheet.finished(result, "failed", "<i>policy</i>", "")
    page = sheet.path.read_text("utf-8")
    assert ["queued", "failed"] == states(sheet.path)
    assert {"b", "i", "script"}.isdisjoint(tag for tag, _ in parse(page).tags)
    text = "".join(parse(page).text)
    assert all(part in text for part in (HOSTILE, "<i>policy</i>", 'id"><script>', "<b>title</b>"))
    sheet.end("finished")
    assert ["index.html"] == [path.name for path in tmp_path.iterdir()]  # no temporary file


def test_a_jobs_card_shows_its_inputs_prompt(tmp_path: pathlib.Path) -> None:
    """A job (or a mapping naming a model) is shown by its input's prompt, not by its repr."""
    job = Job("kling/v2", {"prompt": "a tune", "seconds": 30})
    sheet = ContactSheet(tmp_path, "t", [job, {"model": "x", "input": {"prompt": "a poem"}}])
    sheet.write()
    prompts = [p.strip() for p in parse(sheet.path.read_text("utf-8")).text if p.strip()]
    assert {"a tune", "a poem"} <= set(prompts)
    assert not any("Job(" in text or "'input'" in text for text in prompts)


def test_a_page_that_cannot_be_written_stops_nothing(tmp_path: pathlib.Path) -> None:
    """A directory where index.html goes: the write fails quietly, its error kept, no debris."""
    sheet = ContactSheet(tmp_path, "t", ["a dog"])
    sheet.path.mkdir()
    sheet.on_event(Submitted(0, "t1"))
    sheet.end("finished")
    assert isinstance(sheet.error, IsADirectoryError)
    assert ["index.html"] == [path.name for path in tmp_path.iterdir()]
    gone = ContactSheet(tmp_path / "missing", "t", ["a dog"])
    gone.write()
    assert isinstance(gone.error, FileNotFoundError)


async def test_a_poster_frame_comes_from_ffmpeg_when_there_is_one(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ffmpeg on the PATH the video gets a poster; without, none; a stuck one is left."""
    video = tmp_path / "0001-t.mp4"
    video.write_bytes(SAMPLE_MP4)
    done = Task(id="t", model="m", state=TaskState.SUCCESS, raw_state="success",
                cost_time=75.0, credits_consumed=3.0)  # fmt: skip
    result = BatchResult(index=0, request=TextToVideo("x"), task_id="t", task=done)
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", str(tools))
    sheet = ContactSheet(tmp_path, "t", ["x"])
    await sheet.finished(result, "ok", "", str(video))
    assert "poster" not in video_tag(sheet.path)
    ffmpeg = tools / "ffmpeg"
    ffmpeg.write_text('#!/bin/sh\nfor last; do :; done\nprintf jpeg > "$last"\n')
    ffmpeg.chmod(0o755)
    await sheet.finished(result, "ok", "", str(video))
    assert "0001-t.jpg" == video_tag(sheet.path)["poster"]
    assert b"jpeg" == (tmp_path / "0001-t.jpg").read_bytes()
    assert "1:15 · 3 credits" in sheet.path.read_text("utf-8")
    (tmp_path / "0001-t.jpg").unlink()
    stuck = (
        "import pathlib, sys, time; pathlib.Path(sys.argv[-1]).write_text('half'); time.sleep(60)"
    )
    ffmpeg.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{stuck}" "$@"\n')
    monkeypatch.setattr(_sheet, "POSTER_TIMEOUT", 0.05)
    await sheet.finished(result, "ok", "", str(video))
    assert "poster" not in video_tag(sheet.path)
    assert not (tmp_path / "0001-t.jpg").exists()  # no half-written poster is kept


def states(page: pathlib.Path) -> list[str | None]:
    """The state of each card of the page, in order."""
    return [attrs["data-state"] for tag, attrs in parse(page.read_text("utf-8")).tags
            if tag == "article"]  # fmt: skip


def video_tag(page: pathlib.Path) -> dict[str, str | None]:
    """The attributes of the page's one video element."""
    (attrs,) = [a for tag, a in parse(page.read_text("utf-8")).tags if tag == "video"]
    return attrs

"""``DIR/index.html`` for ``sora2pro batch --out DIR``: a contact sheet of the batch.

One card per item: its video playable in place (the downloaded file, with a poster
frame when ``ffmpeg`` is on the PATH), its prompt, state, time taken and credits, and
why it failed. The page is rewritten atomically as items start and end, so it is
never seen half written. It is self-contained (inline CSS, no script, nothing
fetched from the network), and every text in it is escaped: a prompt is user text,
a task id or a failure message is the server's.
"""

from __future__ import annotations

import asyncio
import collections.abc
import datetime as dt
import html
import os
import pathlib
import shutil
import tempfile
import time
import typing
import urllib.parse

import attrs

from sora2pro import StateChanged, Submitted

if typing.TYPE_CHECKING:
    from sora2pro import BatchEvent, BatchItem, BatchResult

__all__ = ["POSTER_TIMEOUT", "ContactSheet"]

#: Seconds ffmpeg may take to draw one poster frame before it is given up.
POSTER_TIMEOUT = 30.0

# Colours of the states: the test of the page looks for the failed one on screen.
_COLOURS = {
    "ok": "#1a7f37",
    "failed": "#d1242f",
    "uncertain": "#bf8700",
    "unsent": "#6e7781",
    "running": "#0969da",
    "queued": "#8c959f",
}

_STYLE = """
body{margin:0;font:15px/1.4 system-ui,sans-serif;background:#f6f8fa;color:#1f2328}
header{padding:16px 24px;background:#24292f;color:#fff}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#d0d7de}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px;
padding:16px 24px}
article{background:#fff;border:1px solid #d0d7de;border-radius:8px;overflow:hidden;
border-top:6px solid var(--state)}
video,.empty{display:block;width:100%;aspect-ratio:16/9;background:#000}
.empty{display:flex;align-items:center;justify-content:center;background:var(--state);
color:#fff;font-size:20px;font-weight:600}
.body{padding:10px 12px}
.state{display:inline-block;padding:1px 8px;border-radius:10px;background:var(--state);
color:#fff;font-size:13px;font-weight:600}
.prompt{margin:8px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.meta{margin:0;color:#59636e;font-size:13px;overflow-wrap:anywhere}
.reason{margin:8px 0 0;padding:6px 8px;border-radius:6px;background:#ffebe9;color:#82071e;
overflow-wrap:anywhere}
"""


@attrs.define
class _Card:
    """What the sheet knows of one item."""

    index: int
    prompt: str
    state: str = "queued"
    detail: str = ""
    task_id: str | None = None
    started: float | None = None
    seconds: float | None = None
    credits: float | None = None
    video: str | None = None
    poster: str | None = None


class ContactSheet:
    """``index.html`` in a batch's ``--out`` folder, kept up to date as items change."""

    def __init__(self, folder: pathlib.Path, title: str, items: list[BatchItem]) -> None:
        self._folder = folder
        self._title = title
        self._cards = [_Card(index, _prompt(item)) for index, item in enumerate(items)]
        self._status = "running: reload the page for more"
        #: The first reason the page could not be written, if any: the batch goes on.
        self.error: OSError | None = None

    @property
    def path(self) -> pathlib.Path:
        """Where the page is written."""
        return self._folder / "index.html"

    def on_event(self, event: BatchEvent) -> None:
        """Follow an item's progress; the page is rewritten when an item starts."""
        if isinstance(event, Submitted) and event.index is not None:
            card = self._cards[event.index]
            card.state, card.task_id, card.started = "running", event.task_id, time.monotonic()
            self.write()
        elif isinstance(event, StateChanged) and event.index is not None:
            self._cards[event.index].state = "running"

    async def finished(self, result: BatchResult, status: str, detail: str, saved: str) -> None:
        """Record how an item ended (``saved``: its video's path, or ""), and rewrite."""
        card = self._cards[result.index]
        card.state = status
        card.task_id = result.task_id
        card.detail = "" if result.ok else detail
        if result.task is not None:
            card.credits = result.task.credits_consumed
            card.seconds = _seconds_taken(result, card.started)
        if saved:
            video = pathlib.Path(saved)
            card.video = video.name
            card.poster = await _poster(video)
        self.write()

    def end(self, how: str) -> None:
        """The batch is over: the page says ``how`` it ended."""
        self._status = how
        self.write()

    def write(self) -> None:
        """Write the page atomically: a reader sees the old page or the new, never half.

        A page that cannot be written never stops the batch that pays for the videos:
        the first such error is kept in :attr:`error`.
        """
        page = self.render()
        try:
            handle, name = tempfile.mkstemp(dir=self._folder, prefix=".index.", suffix=".tmp")
        except OSError as error:
            self.error = self.error or error
            return
        temporary = pathlib.Path(name)
        try:
            os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide the page from a web server
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(page)
            temporary.replace(self.path)
        except BaseException as error:
            temporary.unlink(missing_ok=True)
            if not isinstance(error, OSError):
                raise
            self.error = self.error or error

    def render(self) -> str:
        """The page, as text."""
        counts: dict[str, int] = {}
        for card in self._cards:
            counts[card.state] = counts.get(card.state, 0) + 1
        tally = " · ".join(f"{state} {count}" for state, count in sorted(counts.items()))
        when = dt.datetime.now(dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        title = _text(self._title)
        cards = "\n".join(_render_card(card) for card in self._cards)
        return (
            "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{title}</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>{title}</h1><p>{len(self._cards)} item(s): {_text(tally)} · "
            f"{_text(self._status)} · updated {_text(when)}</p></header>\n<main>\n{cards}\n</main>"
            "</body></html>\n"
        )


def _render_card(card: _Card) -> str:
    colour = _COLOURS.get(card.state, _COLOURS["failed"])
    if card.video is not None:
        poster = "" if card.poster is None else f' poster="{_url(card.poster)}"'
        media = f'<video controls preload=metadata src="{_url(card.video)}"{poster}></video>'
    else:
        media = f"<div class=empty>{_text(card.state)}</div>"
    meta = [f"#{card.index + 1}"]
    if card.task_id is not None:
        meta.append(f"task {card.task_id}")
    if card.seconds is not None:
        whole = round(card.seconds)
        meta.append(f"{whole // 60}:{whole % 60:02d}")
    if card.credits is not None:
        meta.append(f"{card.credits:g} credits")
    reason = f"<p class=reason>{_text(card.detail)}</p>" if card.detail else ""
    return (
        f'<article style="--state:{colour}" data-state="{_text(card.state)}">{media}'
        f"<div class=body><span class=state>{_text(card.state)}</span>"
        f"<p class=prompt>{_text(card.prompt)}</p>"
        f"<p class=meta>{_text(' · '.join(meta))}</p>{reason}</div></article>"
    )


def _text(value: str) -> str:
    """Text safe in an element and in a quoted attribute."""
    return html.escape(value, quote=True)


def _url(name: str) -> str:
    """A file of the folder as a relative URL: percent-encoded, then escaped."""
    return _text(urllib.parse.quote(name))


def _prompt(item: BatchItem) -> str:
    """The item's prompt: a request's, a mapping's, or that of a job's input."""
    if isinstance(item, collections.abc.Mapping):
        prompt, job_input = item.get("prompt"), item.get("input")
    else:
        prompt, job_input = getattr(item, "prompt", None), getattr(item, "input", None)
    if prompt is None and isinstance(job_input, collections.abc.Mapping):
        prompt = job_input.get("prompt")
    return str(item if prompt is None else prompt)


def _seconds_taken(result: BatchResult, started: float | None) -> float | None:
    """The server's figure, else its timestamps, else what this run saw."""
    task = result.task
    if task is not None and task.cost_time is not None:
        return task.cost_time
    if task is not None and task.created_at is not None and task.completed_at is not None:
        return (task.completed_at - task.created_at).total_seconds()
    if started is None:
        return None
    return time.monotonic() - started


async def _poster(video: pathlib.Path) -> str | None:
    """A poster frame beside ``video`` drawn by ffmpeg, if it is on the PATH; its name."""
    ffmpeg = shutil.which("ffmpeg")
    poster = video.with_suffix(".jpg")
    if poster.exists():
        return poster.name
    if ffmpeg is None:
        return None
    try:
        process = await asyncio.create_subprocess_exec(
            ffmpeg, "-v", "error", "-y", "-ss", "0.5", "-i", str(video), "-frames:v", "1",
            "-vf", "scale=480:-2", str(poster),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None
    try:
        async with asyncio.timeout(POSTER_TIMEOUT):
            code = await process.wait()
    except BaseException as error:
        process.kill()
        await asyncio.shield(process.wait())
        poster.unlink(missing_ok=True)  # maybe half written
        if isinstance(error, TimeoutError):
            return None  # a page without this poster, rather than a stuck batch
        raise
    if code != 0:
        poster.unlink(missing_ok=True)
        return None
    return poster.name if poster.exists() else None

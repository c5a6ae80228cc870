"""The API routes: createTask, recordInfo, credit, download-url, and the result files.

Result files honour one open-ended ``Range`` (``bytes=N-``), or no range at all
when told to ignore them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import typing
import uuid

from aiohttp import web

from sora2pro.testing._callbacks import CallbackSender
from sora2pro.testing._schema import create_errors
from sora2pro.testing._state import FILES, HTML_PAGE, read_body
from sora2pro.testing._tasks import EmulatedTask
from sora2pro.testing._uploads import UploadService

__all__ = ["ApiRoutes"]

# The one range form a download resumes with; HTTP lets a server ignore any other.
_OPEN_RANGE = re.compile(r"bytes=(\d+)-")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ApiRoutes(UploadService, CallbackSender):
    """The part of the emulator that makes tasks, reports them, and serves their videos."""

    def _api_routes(self) -> list[web.RouteDef]:
        """The jobs API, the account's credit, and the result files."""
        return [
            web.post("/api/v1/jobs/createTask", self._create),
            web.get("/api/v1/jobs/recordInfo", self._record_info),
            web.get("/api/v1/chat/credit", self._credit),
            web.post("/api/v1/common/download-url", self._download_url),
            web.get(FILES + "/{name}", self._file),
        ]

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_body(request)  # aiohttp keeps the bytes read before
        errors = create_errors(body) or self._source_errors(
            typing.cast("dict[str, typing.Any]", body)
        )
        if errors:
            return self._error(422, "; ".join(errors))
        assert isinstance(body, dict)  # noqa: S101  # create_errors checked it
        if self.credits < self.cost:
            return self._error(402, "Credits insufficient")
        self.credits -= self.cost
        task_id = self._new_task_id(body["model"])
        duration = self.duration(self.rng) if callable(self.duration) else self.duration
        result = self.results.get(body["model"])
        if callable(result):
            result = result(f"{self.url}{FILES}/{task_id}.mp4")
        task = EmulatedTask(
            id=task_id,
            body=body,
            created=asyncio.get_running_loop().time(),
            created_ms=int(time.time() * 1000),
            duration=duration,
            fails=self.rng.random() < self.fail_rate,
            cost=self.cost,
            # A copy that JSON can carry: the test's own object stays its own.
            result=None if result is None else json.loads(json.dumps(result)),
        )
        self.tasks[task_id] = task
        if duration is not None:
            self._schedule_callback(task, duration)
        return self._envelope(200, "success", {"taskId": task_id})

    def _new_task_id(self, model: str) -> str:
        """An id no task has; both forms are seen live."""
        task_id = ""
        while not task_id or task_id in self.tasks:
            if self.rng.random() < 0.5:
                name = _UNSAFE.sub("-", model)[:40]  # any model's name: no "/" in a file's path
                task_id = f"task_{name}_{int(time.time() * 1000)}{self.rng.randrange(10**6):06d}"
            else:
                task_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
        return task_id

    async def _record_info(self, request: web.Request) -> web.Response:
        task_id = request.query.get("taskId", "")
        if not task_id:
            return self._error(400, "taskId is required")
        task = self.tasks.get(task_id)
        if task is None:
            return self._error(404, "task not found")
        now = asyncio.get_running_loop().time()
        if now - task.created < self.not_visible_for and task.ended is None:
            # Both forms of "not shown yet" are seen live (API.md sections 2 and 8).
            if self.rng.random() < 0.5:
                return self._envelope(200, "success", None)
            return self._error(422, "recordInfo is null")
        data = task.record(
            now,
            file_url=self.url + FILES,
            rng=self.rng,
            progress=self.progress,
        )
        return self._envelope(200, "success", data)

    async def _credit(self, _request: web.Request) -> web.Response:
        return self._envelope(200, "success", self.credits)

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        task = self.tasks.get(name.removesuffix(".mp4").removesuffix("-watermark"))
        if task is None or task.state(asyncio.get_running_loop().time())[0] != "success":
            return web.Response(status=404, text=HTML_PAGE.format("404 Not Found"))
        if task.id in self._expired and request.query.get("token") not in self._links:
            return web.Response(status=410, text=HTML_PAGE.format("410 Gone"))
        video = self._video
        if not self.ranges:
            return web.Response(body=video, content_type="video/mp4")
        headers = {"Accept-Ranges": "bytes"}
        wanted = _OPEN_RANGE.fullmatch(request.headers.get("Range", ""))
        if wanted is None:
            return web.Response(body=video, content_type="video/mp4", headers=headers)
        start, total = int(wanted[1]), len(video)
        if start >= total:
            headers["Content-Range"] = f"bytes */{total}"
            page = HTML_PAGE.format("416 Requested Range Not Satisfiable")
            return web.Response(status=416, text=page, content_type="text/html", headers=headers)
        headers["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
        return web.Response(
            status=206, body=video[start:], content_type="video/mp4", headers=headers
        )

    async def _download_url(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        url = body.get("url") if isinstance(body, dict) else None
        prefix = self.url + FILES + "/"
        name = url[len(prefix) :].split("?")[0] if isinstance(url, str) else ""
        known = name.removesuffix(".mp4").removesuffix("-watermark") in self.tasks
        if not (isinstance(url, str) and url.startswith(prefix) and known):
            return self._error(422, "the url was not produced by this platform")
        token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        self._links.add(token)
        return self._envelope(200, "success", f"{prefix}{name}?token={token}")

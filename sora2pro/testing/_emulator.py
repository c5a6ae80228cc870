"""An emulator of the Apikley Sora 2 Pro API: an ``aiohttp.web`` app on loopback.

Faithful to API.md, and where in doubt stricter and quirkier than the real service:
error codes come both in the body under HTTP 200 and in the HTTP status, the message
key is ``msg`` or ``message`` at random, JSON comes inside strings, a new task
answers ``422 recordInfo is null`` for a while, requests without a User-Agent are
refused like the upstream CDN refuses them. Result files honour one open-ended
``Range`` (``bytes=N-``), or no range at all when told to ignore them.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import http
import importlib.resources
import json
import logging
import mimetypes
import random
import re
import time
import typing
import urllib.parse
import uuid

import aiohttp
import attrs
from aiohttp import web

from sora2pro._callbacks import sign
from sora2pro.testing._faults import Endpoint, Fault, FaultKind
from sora2pro.testing._schema import create_errors
from sora2pro.testing._tasks import EmulatedTask

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["DEFAULT_API_KEY", "MAX_UPLOAD", "Emulator", "RecordedRequest", "Upload"]

logger = logging.getLogger("sora2pro.testing")

#: The key the emulator accepts unless told otherwise.
DEFAULT_API_KEY = "sk-emulator-key"

_ROUTES = {
    "/api/v1/jobs/createTask": Endpoint.CREATE,
    "/api/v1/jobs/recordInfo": Endpoint.RECORD_INFO,
    "/api/v1/chat/credit": Endpoint.CREDIT,
    "/api/v1/common/download-url": Endpoint.DOWNLOAD_URL,
    "/file-upload/api/file-stream-upload": Endpoint.UPLOAD,
    "/file-upload/api/file-base64-upload": Endpoint.UPLOAD,
    "/file-upload/api/file-url-upload": Endpoint.UPLOAD,
}
_FILES = "/files"
_UPLOADS = "/uploads"
#: The largest upload the emulator takes; the characters model wants at most 10 MB.
MAX_UPLOAD = 32 * 1024 * 1024
#: The largest clip the characters model takes (API.md section 6).
_MAX_CLIP = 10 * 1000 * 1000
# The one range form a download resumes with; HTTP lets a server ignore any other.
_OPEN_RANGE = re.compile(r"bytes=(\d+)-")
_LOST_TASK = b'{"code": 200, "msg": "success", "data": {"taskId": "task_lost"}}'
_HTML_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1><hr>nginx</body></html>"


async def _read_parts(request: web.Request) -> dict[str, tuple[str | None, bytes]] | None:
    """Each part of a multipart body, by name: (its file name, its bytes).

    Read into memory, not into aiohttp's temporary files (which a malformed body
    leaves open); None once the parts pass :data:`MAX_UPLOAD` together.
    """
    parts: dict[str, tuple[str | None, bytes]] = {}
    size = 0
    async for part in await request.multipart():
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            raise ValueError("a part without a name")
        chunks = []
        while chunk := await part.read_chunk():
            size += len(chunk)
            if size > MAX_UPLOAD:
                return None
            chunks.append(chunk)
        parts[part.name] = (part.filename, b"".join(chunks))
    return parts


def _guess(name: object, fallback: object = None) -> str:
    """The media type, from the file's name as the service does, else ``fallback``."""
    guessed = mimetypes.guess_type(name)[0] if isinstance(name, str) else None
    if guessed is None and isinstance(fallback, str):
        guessed = mimetypes.guess_type(fallback)[0] or (fallback if "/" in fallback else None)
    return guessed or "application/octet-stream"


Handler = typing.Callable[[web.Request], typing.Awaitable[web.StreamResponse]]
Duration = float | None | typing.Callable[[random.Random], float | None]


async def _read_body(request: web.Request) -> object:
    """The request body as JSON, or as bytes if it is not JSON, or None if empty.

    A multipart body is left unread (None), for the handler to parse.
    """
    if not request.body_exists or request.content_type == "multipart/form-data":
        return None
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _endpoint(path: str) -> Endpoint:
    """The endpoint a path belongs to; anything else is a file download."""
    return _ROUTES.get(path, Endpoint.FILES)


@attrs.frozen
class Upload:
    """One file the emulator's upload service keeps."""

    name: str
    data: bytes
    mime_type: str


@attrs.frozen
class RecordedRequest:
    """One request the emulator received, kept for tests to inspect."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: object
    time: float


class Emulator:
    """The API on ``http://127.0.0.1:<port>``, for offline runs and tests.

    Use ``async with Emulator() as emu:`` and point a client at ``emu.url`` with
    ``emu.api_key``.

    Args:
        api_key: The only key accepted.
        duration: Seconds from create to end, a function of the emulator's random
            generator giving them, or None for tasks that end only by :meth:`finish`.
        fail_rate: Share of tasks that end in ``fail``.
        not_visible_for: Seconds a new task is not shown: "422 recordInfo is null", or
            code 200 with data null.
        progress: Report ``progress`` (newer deployments do; older ones do not).
        credits: The starting balance; each create costs ``cost``.
        cost: Credits one create costs.
        create_limit: ``(count, seconds)``: at most that many creates in any window,
            else HTTP 429. None: no limit.
        status_limit: The same for recordInfo queries.
        callbacks: POST the result to ``callBackUrl`` when a task ends.
        callback_loss: Share of callbacks never sent.
        callback_duplicates: Share of callbacks sent a second time.
        callback_delay: Up to this many seconds (drawn at random) before each callback.
        callback_hmac_key: Sign callbacks as the upstream platform does when an
            account enables it (``X-Webhook-Timestamp``, ``X-Webhook-Signature``).
        ranges: Answer ``Range: bytes=N-`` on result files with 206 and
            ``Content-Range``, or 416 when N is past the last byte; False answers
            every file request whole with 200, as hosts that ignore ranges do.
        seed: Seeds every random quirk and the task ids, so a run can be repeated.
            None (the default): both differ in every run, so a task id kept from one
            emulator never names a task of another.
        log_requests: Log each request at INFO on the ``sora2pro.testing`` logger:
            method, path, status and any injected fault; the key is never logged.
        host: Address to listen on (loopback by default).
        port: Port to listen on; 0 picks a free one.

    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        duration: Duration = 1.0,
        fail_rate: float = 0.0,
        not_visible_for: float = 0.3,
        progress: bool = True,
        credits: float = 1000.0,
        cost: float = 1.0,
        create_limit: tuple[int, float] | None = None,
        status_limit: tuple[int, float] | None = None,
        callbacks: bool = True,
        callback_loss: float = 0.0,
        callback_duplicates: float = 0.0,
        callback_delay: float = 0.0,
        callback_hmac_key: str | bytes | None = None,
        ranges: bool = True,
        seed: int | None = None,
        log_requests: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.duration = duration
        self.fail_rate = fail_rate
        self.not_visible_for = not_visible_for
        self.progress = progress
        self.credits = credits
        self.cost = cost
        self.create_limit = create_limit
        self.status_limit = status_limit
        self.callbacks = callbacks
        self.callback_loss = callback_loss
        self.callback_duplicates = callback_duplicates
        self.callback_delay = callback_delay
        self.callback_hmac_key = (
            callback_hmac_key.encode() if isinstance(callback_hmac_key, str) else callback_hmac_key
        )
        self.ranges = ranges
        self.host = host
        self.port = port
        self.rng = random.Random(seed)
        self.log_requests = log_requests
        self.tasks: dict[str, EmulatedTask] = {}
        self.requests: list[RecordedRequest] = []
        #: 429 answers the rate limits gave, by endpoint.
        self.rate_limited: collections.Counter[Endpoint] = collections.Counter()
        #: Callback bodies sent, in order, with the URL they went to.
        self.callbacks_sent: list[tuple[str, dict[str, typing.Any]]] = []
        self._faults: dict[Endpoint, collections.deque[Fault]] = collections.defaultdict(
            collections.deque
        )
        self._chaos: dict[Endpoint, tuple[tuple[Fault, ...], float]] = {}
        #: Callback POSTs never sent (``callback_loss``), for tests to count.
        self.callbacks_lost = 0
        self._windows: dict[Endpoint, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._echoes: list[asyncio.TimerHandle] = []  # duplicate callbacks
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._expired: set[str] = set()
        self._links: set[str] = set()
        #: Files uploaded, by the path of their download URL.
        self.uploads: dict[str, Upload] = {}
        self._video = importlib.resources.files(__package__).joinpath("sample.mp4").read_bytes()
        self.app = web.Application(middlewares=[self._middleware], client_max_size=MAX_UPLOAD)
        router = self.app.router
        router.add_post("/api/v1/jobs/createTask", self._create)
        router.add_get("/api/v1/jobs/recordInfo", self._record_info)
        router.add_get("/api/v1/chat/credit", self._credit)
        router.add_post("/api/v1/common/download-url", self._download_url)
        router.add_post("/file-upload/api/file-stream-upload", self._stream_upload)
        router.add_post("/file-upload/api/file-base64-upload", self._base64_upload)
        router.add_post("/file-upload/api/file-url-upload", self._url_upload)
        router.add_get(_FILES + "/{name}", self._file)
        router.add_get(_UPLOADS + "/{path:.+}", self._uploaded)

    def __repr__(self) -> str:
        where = self.url if self._runner else "not started"
        return f"<sora2pro.testing.Emulator {where} tasks={len(self.tasks)}>"

    @property
    def url(self) -> str:
        """The base URL to give a client, once started."""
        if self._runner is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Stop listening, cancel pending callbacks, and release everything."""
        for timer in [*self._timers.values(), *self._echoes]:
            timer.cancel()
        self._timers.clear()
        self._echoes.clear()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> typing.Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- what tests steer and read ---------------------------------------------------

    def inject(
        self, fault: Fault, endpoint: Endpoint | str = Endpoint.CREATE, times: int = 1
    ) -> None:
        """Make the next ``times`` requests to ``endpoint`` misbehave as ``fault`` says."""
        self._faults[Endpoint(endpoint)].extend([fault] * times)

    def inject_randomly(
        self, faults: Sequence[Fault], endpoint: Endpoint | str, *, rate: float
    ) -> None:
        """Make each request to ``endpoint`` misbehave, with probability ``rate``.

        The fault is drawn from ``faults`` with the emulator's seeded random
        generator, so a seeded run repeats. Faults queued by :meth:`inject` come first.
        ``rate`` 0 (or no faults) ends it.
        """
        self._chaos[Endpoint(endpoint)] = (tuple(faults), rate)

    def _next_fault(self, endpoint: Endpoint) -> Fault | None:
        queue = self._faults[endpoint]
        if queue:
            return queue.popleft()
        faults, rate = self._chaos.get(endpoint, ((), 0.0))
        if faults and self.rng.random() < rate:
            return self.rng.choice(faults)
        return None

    def finish(
        self,
        task_id: str,
        *,
        success: bool = True,
        fail_code: str = "500",
        fail_message: str = "Internal Error, Please try again later.",
    ) -> None:
        """End a task now, in success or failure."""
        task = self.tasks[task_id]
        task.fails = not success
        task.fail_code = fail_code
        task.fail_message = fail_message
        task.ended = asyncio.get_running_loop().time()
        self._schedule_callback(task, 0.0)

    def expire(self, task_id: str) -> None:
        """Make a task's result URLs answer 410 Gone; download-url links still work."""
        self._expired.add(task_id)

    def force_state(self, task_id: str, state: str, progress: int | None = None) -> None:
        """Make a task report ``state`` (any string, documented or not) until it ends."""
        task = self.tasks[task_id]
        task.forced_state = state
        task.forced_progress = progress

    @property
    def create_bodies(self) -> list[object]:
        """The bodies of every createTask request received, valid or not."""
        return [r.body for r in self.requests if r.path == "/api/v1/jobs/createTask"]

    def count(self, endpoint: Endpoint | str) -> int:
        """How many requests reached ``endpoint``."""
        return sum(1 for r in self.requests if _endpoint(r.path) is Endpoint(endpoint))

    # -- the server ------------------------------------------------------------------

    def _envelope(
        self, code: int, message: str, data: object = None, *, http_status: int = 200
    ) -> web.Response:
        key = self.rng.choice(["msg", "message"])
        return web.json_response({"code": code, key: message, "data": data}, status=http_status)

    def _error(self, code: int, message: str) -> web.Response:
        # Newer upstream docs answer HTTP 200 with the error in the body; older ones
        # mirror it in the status. Both happen.
        status = code if self.rng.random() < 0.5 else 200
        return self._envelope(code, message, http_status=status)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await _read_body(request)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                time=asyncio.get_running_loop().time(),
            )
        )
        fault = None
        try:
            if not request.headers.get("User-Agent"):
                response: web.StreamResponse = web.Response(
                    status=403, text=_HTML_PAGE.format("403 Forbidden"), content_type="text/html"
                )
            elif fault := self._next_fault(endpoint := _endpoint(request.path)):
                response = await self._misbehave(fault, endpoint, request, handler)
            else:
                response = await self._serve(endpoint, request, handler)
        except web.HTTPException as exc:  # no such route, or a method it does not take
            self._log(request, exc, fault)
            raise
        self._log(request, response, fault)
        return response

    def _log(self, request: web.Request, response: web.StreamResponse, fault: Fault | None) -> None:
        """Log one request if asked to: method, path, status, body code, never the key."""
        if not self.log_requests:
            return
        status = response.status
        notes = []
        body = response.body if isinstance(response, web.Response) else None
        if isinstance(body, bytes) and response.content_type == "application/json":
            with contextlib.suppress(ValueError, AttributeError):
                code = json.loads(body).get("code")
                if code != status:
                    notes.append(f"code {code}")
        auth = request.headers.get("Authorization")
        notes.append(
            "no Authorization"
            if auth is None
            else f"Authorization: {'Bearer ' if auth.startswith('Bearer ') else ''}[redacted]"
        )
        shown: object = status
        if fault is not None:
            notes.append(f"fault: {fault.kind.value}")
            if fault.kind is FaultKind.DISCONNECT:
                shown = "-"  # no answer was sent
        path = (
            request.path_qs.replace(self.api_key, "[redacted]") if self.api_key else request.path_qs
        )
        logger.info("%s %s %s (%s)", request.method, path, shown, "; ".join(notes))

    async def _serve(
        self, endpoint: Endpoint, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if endpoint is not Endpoint.FILES:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return self._error(401, "You do not have access permissions")
            if self._over_limit(endpoint):
                self.rate_limited[endpoint] += 1
                headers = {"Retry-After": "1"} if self.rng.random() < 0.5 else {}
                response = self._envelope(
                    429, "Too many requests, please slow down", http_status=429
                )
                response.headers.update(headers)
                return response
        return await handler(request)

    def _over_limit(self, endpoint: Endpoint) -> bool:
        limit = {Endpoint.CREATE: self.create_limit, Endpoint.RECORD_INFO: self.status_limit}.get(
            endpoint
        )
        if limit is None:
            return False
        count, window = limit
        now = asyncio.get_running_loop().time()
        stamps = self._windows[endpoint]
        while stamps and now - stamps[0] >= window:
            stamps.popleft()
        if len(stamps) >= count:
            return True
        stamps.append(now)
        return False

    async def _misbehave(
        self, fault: Fault, endpoint: Endpoint, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind is FaultKind.DELAY:
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if kind is FaultKind.MISPLACED_RANGE:
            return await handler(
                request.clone(headers={**request.headers, "Range": f"bytes={fault.at}-"})
            )
        if kind is FaultKind.WRONG_STATUS:
            answer = await handler(request)
            answer.set_status(fault.http_status)
            return answer
        if kind in (FaultKind.ERROR, FaultKind.ANSWER):
            answer = (
                web.json_response(fault.payload, status=fault.http_status)
                if kind is FaultKind.ANSWER
                else self._envelope(fault.code, fault.message, http_status=fault.http_status)
            )
            if fault.retry_after is not None:
                answer.headers["Retry-After"] = fault.retry_after
            return answer
        if kind is FaultKind.HTML:
            title = f"{fault.http_status} {http.HTTPStatus(fault.http_status).phrase}"
            return web.Response(
                status=fault.http_status,
                text=fault.message or _HTML_PAGE.format(title),
                content_type="text/html",
            )
        return await self._break(fault, endpoint, request, handler)

    async def _break(
        self, fault: Fault, endpoint: Endpoint, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Answer garbage or break the connection; with ``after_create``, do the work first."""
        kind = fault.kind
        if fault.after_create:
            await handler(request)
        if kind is FaultKind.GARBAGE:
            return web.Response(text='{"code": 200, "msg": "success", "data": {"taskId": ')
        assert request.transport is not None  # noqa: S101  # a live request has one
        response: web.StreamResponse = web.Response()
        if kind is FaultKind.MALFORMED:
            request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
        elif kind is FaultKind.TRUNCATE:
            # A file breaks off its own answer; an API route loses a create's answer.
            if endpoint is Endpoint.FILES:
                # The routed handler: a result video, or an uploaded file.
                whole = typing.cast("web.Response", await handler(request))
            else:
                whole = web.Response(body=_LOST_TASK, content_type="application/json")
            response = await _send_part(request, whole, fault)
        request.transport.close()
        return response

    async def _create(self, request: web.Request) -> web.Response:
        body = await _read_body(request)  # aiohttp keeps the bytes read before
        errors = create_errors(body) or self._source_errors(
            typing.cast("dict[str, typing.Any]", body)
        )
        if errors:
            return self._error(422, "; ".join(errors))
        assert isinstance(body, dict)  # noqa: S101  # create_errors checked it
        if self.credits < self.cost:
            return self._error(402, "Credits insufficient")
        self.credits -= self.cost
        loop = asyncio.get_running_loop()
        task_id = ""
        while not task_id or task_id in self.tasks:
            if self.rng.random() < 0.5:
                task_id = (
                    f"task_{body['model']}_{int(time.time() * 1000)}{self.rng.randrange(10**6):06d}"
                )
            else:
                task_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
        duration = self.duration(self.rng) if callable(self.duration) else self.duration
        task = EmulatedTask(
            id=task_id,
            body=body,
            created=loop.time(),
            created_ms=int(time.time() * 1000),
            duration=duration,
            fails=self.rng.random() < self.fail_rate,
            cost=self.cost,
        )
        self.tasks[task_id] = task
        if duration is not None:
            self._schedule_callback(task, duration)
        return self._envelope(200, "success", {"taskId": task_id})

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
            file_url=self.url + _FILES,
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
            return web.Response(status=404, text=_HTML_PAGE.format("404 Not Found"))
        if task.id in self._expired and request.query.get("token") not in self._links:
            return web.Response(status=410, text=_HTML_PAGE.format("410 Gone"))
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
            page = _HTML_PAGE.format("416 Requested Range Not Satisfiable")
            return web.Response(status=416, text=page, content_type="text/html", headers=headers)
        headers["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
        return web.Response(
            status=206, body=video[start:], content_type="video/mp4", headers=headers
        )

    async def _download_url(self, request: web.Request) -> web.Response:
        body = await _read_body(request)
        url = body.get("url") if isinstance(body, dict) else None
        prefix = self.url + _FILES + "/"
        name = url[len(prefix) :].split("?")[0] if isinstance(url, str) else ""
        known = name.removesuffix(".mp4").removesuffix("-watermark") in self.tasks
        if not (isinstance(url, str) and url.startswith(prefix) and known):
            return self._error(422, "the url was not produced by this platform")
        token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        self._links.add(token)
        return self._envelope(200, "success", f"{prefix}{name}?token={token}")

    # -- file uploads ----------------------------------------------------------------

    def _store(
        self, data: bytes, upload_path: object, file_name: object, mime: str
    ) -> web.Response:
        """Keep an uploaded file and answer as the upload service does."""
        if not isinstance(upload_path, str) or not upload_path.strip("/ "):
            return self._error(422, "uploadPath is required")
        if file_name is not None and (not isinstance(file_name, str) or not file_name.strip()):
            return self._error(422, "fileName must be a non-empty string")
        if not data:
            return self._error(422, "the file is empty")
        name = file_name or f"{uuid.UUID(int=self.rng.getrandbits(128)).hex}"
        path = f"{upload_path.strip('/')}/{name}"
        self.uploads[f"{_UPLOADS}/{path}"] = Upload(name=name, data=data, mime_type=mime)
        moment = time.time()
        # Sources do not say how uploadedAt is written: both forms happen.
        stamp: object = (
            int(moment * 1000)
            if self.rng.random() < 0.5
            else dt.datetime.fromtimestamp(moment, dt.UTC).isoformat().replace("+00:00", "Z")
        )
        return self._envelope(
            200,
            "File uploaded successfully",
            {
                "fileName": name,
                "filePath": path,
                "downloadUrl": f"{self.url}{_UPLOADS}/{urllib.parse.quote(path)}",
                "fileSize": len(data),
                "mimeType": mime,
                "uploadedAt": stamp,
            },
        )

    async def _stream_upload(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            return self._error(422, "expected multipart/form-data")
        try:
            parts = await _read_parts(request)
        except (ValueError, aiohttp.ClientError, aiohttp.http_exceptions.HttpProcessingError):
            return self._error(422, "the multipart body is malformed")
        if parts is None:
            return self._error(413, "the file is too large")
        if "file" not in parts:
            return self._error(422, "file is required")
        filename, data = parts["file"]
        name = parts["fileName"][1].decode("utf-8", "replace") if "fileName" in parts else None
        path = parts["uploadPath"][1].decode("utf-8", "replace") if "uploadPath" in parts else None
        return self._store(data, path, name, _guess(name, filename))

    async def _base64_upload(self, request: web.Request) -> web.Response:
        body = await _read_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("base64Data"), str):
            return self._error(422, "base64Data is required")
        encoded: str = body["base64Data"]
        header, _, payload = encoded.rpartition(",")  # a data: URL, or bare base64
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            return self._error(422, "base64Data is not valid base64")
        mime = header.removeprefix("data:").removesuffix(";base64") or _guess(body.get("fileName"))
        return self._store(data, body.get("uploadPath"), body.get("fileName"), mime)

    async def _url_upload(self, request: web.Request) -> web.Response:
        body = await _read_body(request)
        url = body.get("fileUrl") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return self._error(422, "fileUrl must be an http(s) URL")
        assert isinstance(body, dict)  # noqa: S101  # checked with url
        assert self._session is not None  # noqa: S101  # set by start()
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as got:
                data = await got.read()
                fetched = got.status == 200
                mime = got.content_type
        except (aiohttp.ClientError, TimeoutError, ValueError):  # UnicodeError: a bad host
            fetched = False
        if not fetched:
            return self._error(422, "could not download the file at fileUrl")
        name = body.get("fileName")
        return self._store(data, body.get("uploadPath"), name, _guess(name, mime))

    async def _uploaded(self, request: web.Request) -> web.Response:
        stored = self.uploads.get(request.path)
        if stored is None:
            return web.Response(status=404, text=_HTML_PAGE.format("404 Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type)

    def _source_errors(self, body: dict[str, typing.Any]) -> list[str]:
        """What is wrong with files a create names that this emulator stores."""
        payload = body.get("input")
        wanted = {"image_urls": "image", "character_file_url": "video"}
        errors = []
        for key, kind in wanted.items():
            urls = payload.get(key) if isinstance(payload, dict) else None
            for url in urls if isinstance(urls, list) else []:
                if not isinstance(url, str) or not url.startswith(self.url + _UPLOADS):
                    continue  # somewhere else: the real service would fetch it
                stored = self.uploads.get(url[len(self.url) :])
                if stored is None:
                    errors.append(f"input.{key}: the file is gone")
                elif stored.mime_type.partition("/")[0] != kind:
                    errors.append(f"input.{key}: {stored.mime_type} is not of type {kind}")
                elif key == "character_file_url" and len(stored.data) > _MAX_CLIP:
                    errors.append(f"input.{key}: larger than 10 MB")
        return errors

    # -- callbacks -------------------------------------------------------------------

    def _schedule_callback(self, task: EmulatedTask, delay: float) -> None:
        url = task.body.get("callBackUrl")
        if not self.callbacks or not isinstance(url, str):
            return
        timer = self._timers.pop(task.id, None)
        if timer is not None:
            timer.cancel()
        # No retry policy is documented and duplicates happen (API.md section 4).
        if self.rng.random() < self.callback_loss:
            self.callbacks_lost += 1
            return
        loop = asyncio.get_running_loop()
        delay += self.rng.uniform(0.0, self.callback_delay)
        self._timers[task.id] = loop.call_later(
            delay, self._spawn, lambda: self._send_callback(task, url)
        )
        if self.rng.random() < self.callback_duplicates:
            again = delay + self.rng.uniform(0.0, self.callback_delay)
            self._echoes.append(
                loop.call_later(
                    again, self._spawn, lambda: self._send_callback(task, url, echo=True)
                )
            )

    def _spawn(self, make: Callable[[], Awaitable[None]]) -> None:
        job = asyncio.ensure_future(make())
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _send_callback(self, task: EmulatedTask, url: str, *, echo: bool = False) -> None:
        if not echo:
            self._timers.pop(task.id, None)
        now = asyncio.get_running_loop().time()
        data = task.record(
            now,
            file_url=self.url + _FILES,
            rng=self.rng,
            progress=self.progress,
            callback=True,
        )
        success = data["state"] == "success"
        body = {
            "code": 200 if success else 501,
            "msg": "success" if success else task.fail_message,
            "data": data,
        }
        self.callbacks_sent.append((url, body))
        headers = {}
        if self.callback_hmac_key is not None:
            stamp = int(time.time())
            headers["X-Webhook-Timestamp"] = str(stamp)
            headers["X-Webhook-Signature"] = sign(self.callback_hmac_key, task.id, stamp)
        assert self._session is not None  # noqa: S101  # set by start()
        try:
            async with self._session.post(
                url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=15)
            ) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.info("callback to %s failed: %r", url, exc)


async def _send_part(request: web.Request, whole: web.Response, fault: Fault) -> web.StreamResponse:
    """Send ``whole``'s status and headers, promising its whole body, then part of the body."""
    body = whole.body
    assert isinstance(body, bytes)  # noqa: S101  # every answer cut here is built from bytes
    response = web.StreamResponse(status=whole.status, headers=whole.headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2 if fault.at is None else min(fault.at, len(body))])
    return response

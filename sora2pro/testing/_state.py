"""What an emulator holds: its settings, its records, and the answers every route shares.

The settings are plain attributes that a test may change at any time; the layers
above (callbacks, uploads, routes, the request gate) read them when they answer.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.resources
import json
import random
import typing
from collections.abc import Mapping

import aiohttp
import attrs
from aiohttp import web

if typing.TYPE_CHECKING:
    from sora2pro.testing._faults import Endpoint, Fault
    from sora2pro.testing._tasks import EmulatedTask

__all__ = [
    "DEFAULT_API_KEY",
    "FILES",
    "HTML_PAGE",
    "UPLOADS",
    "Duration",
    "EmulatorState",
    "Handler",
    "RecordedRequest",
    "Result",
    "Upload",
    "envelope",
    "read_body",
]

#: The key the emulator accepts unless told otherwise.
DEFAULT_API_KEY = "sk-emulator-key"
#: Where result videos are served, and where uploaded files are.
FILES = "/files"
UPLOADS = "/uploads"
HTML_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1><hr>nginx</body></html>"

Handler = typing.Callable[[web.Request], typing.Awaitable[web.StreamResponse]]
Duration = float | None | typing.Callable[[random.Random], float | None]
#: A model's result: the ``resultJson`` object, or a function of the URL of the file
#: the emulator serves for the task, giving that object.
Result = Mapping[str, object] | typing.Callable[[str], Mapping[str, object]]


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


def envelope(
    rng: random.Random, code: int, message: str, data: object = None, *, http_status: int = 200
) -> web.Response:
    """The API's JSON envelope; its message key is ``msg`` or ``message`` at random."""
    key = rng.choice(["msg", "message"])
    return web.json_response({"code": code, key: message, "data": data}, status=http_status)


async def read_body(request: web.Request) -> object:
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


def _check_results(_instance: object, _attribute: object, value: Mapping[str, Result]) -> None:
    """Refuse a results table that is not model names to objects or functions."""
    if not isinstance(value, Mapping):
        raise TypeError(f"results must be a mapping of model names, not {type(value).__name__}")
    for model, result in value.items():
        if not isinstance(model, str) or not (isinstance(result, Mapping) or callable(result)):
            raise TypeError(f"results[{model!r}] must be a JSON object or a function giving one")


def _as_bytes(key: str | bytes | None) -> bytes | None:
    """A callback signing key as bytes."""
    return key.encode() if isinstance(key, str) else key


def _sample_video() -> bytes:
    """The video every successful task produces."""
    return importlib.resources.files(__package__).joinpath("sample.mp4").read_bytes()


@attrs.define(slots=False, eq=False, repr=False, kw_only=True)
class EmulatorState:
    """The emulator's settings and everything it keeps; ``Emulator`` documents them."""

    api_key: str = DEFAULT_API_KEY
    duration: Duration = 1.0
    fail_rate: float = 0.0
    not_visible_for: float = 0.3
    progress: bool = True
    credits: float = 1000.0
    cost: float = 1.0
    create_limit: tuple[int, float] | None = None
    status_limit: tuple[int, float] | None = None
    callbacks: bool = True
    callback_loss: float = 0.0
    callback_duplicates: float = 0.0
    callback_delay: float = 0.0
    callback_hmac_key: bytes | None = attrs.field(default=None, converter=_as_bytes)
    ranges: bool = True
    results: Mapping[str, Result] = attrs.field(factory=dict, validator=_check_results)
    _seed: int | None = None
    log_requests: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    rng: random.Random = attrs.field(init=False)
    tasks: dict[str, EmulatedTask] = attrs.field(init=False, factory=dict)
    requests: list[RecordedRequest] = attrs.field(init=False, factory=list)
    #: 429 answers the rate limits gave, by endpoint.
    rate_limited: collections.Counter[Endpoint] = attrs.field(
        init=False, factory=collections.Counter
    )
    #: Callback bodies sent, in order, with the URL they went to.
    callbacks_sent: list[tuple[str, dict[str, typing.Any]]] = attrs.field(init=False, factory=list)
    #: Callback POSTs never sent (``callback_loss``), for tests to count.
    callbacks_lost: int = attrs.field(init=False, default=0)
    #: Files uploaded, by the path of their download URL.
    uploads: dict[str, Upload] = attrs.field(init=False, factory=dict)
    _faults: collections.defaultdict[Endpoint, collections.deque[Fault]] = attrs.field(
        init=False, factory=lambda: collections.defaultdict(collections.deque)
    )
    _chaos: dict[Endpoint, tuple[tuple[Fault, ...], float]] = attrs.field(init=False, factory=dict)
    _windows: collections.defaultdict[Endpoint, collections.deque[float]] = attrs.field(
        init=False, factory=lambda: collections.defaultdict(collections.deque)
    )
    _timers: dict[str, asyncio.TimerHandle] = attrs.field(init=False, factory=dict)
    _echoes: list[asyncio.TimerHandle] = attrs.field(init=False, factory=list)  # duplicates
    _background: set[asyncio.Task[None]] = attrs.field(init=False, factory=set)
    _runner: web.AppRunner | None = attrs.field(init=False, default=None)
    _session: aiohttp.ClientSession | None = attrs.field(init=False, default=None)
    _expired: set[str] = attrs.field(init=False, factory=set)
    _links: set[str] = attrs.field(init=False, factory=set)
    _video: bytes = attrs.field(init=False, factory=_sample_video)

    @rng.default
    def _seeded(self) -> random.Random:
        return random.Random(self._seed)

    @property
    def url(self) -> str:
        """The base URL to give a client, once started."""
        if self._runner is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    def _envelope(
        self, code: int, message: str, data: object = None, *, http_status: int = 200
    ) -> web.Response:
        return envelope(self.rng, code, message, data, http_status=http_status)

    def _error(self, code: int, message: str) -> web.Response:
        # Newer upstream docs answer HTTP 200 with the error in the body; older ones
        # mirror it in the status. Both happen.
        status = code if self.rng.random() < 0.5 else 200
        return self._envelope(code, message, http_status=status)

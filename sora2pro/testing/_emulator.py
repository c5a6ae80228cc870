"""An emulator of the Apikley Sora 2 Pro API: an ``aiohttp.web`` app on loopback.

Faithful to API.md, and where in doubt stricter and quirkier than the real service:
error codes come both in the body under HTTP 200 and in the HTTP status, the message
key is ``msg`` or ``message`` at random, JSON comes inside strings, a new task
answers ``422 recordInfo is null`` for a while, requests without a User-Agent are
refused like the upstream CDN refuses them. Result files honour one open-ended
``Range`` (``bytes=N-``), or no range at all when told to ignore them.

The emulator is built in layers, each in its own module, each a class on top of the
one below: what it holds (``_state``), callbacks, uploads, the API routes, the gate
every request passes (with the faults' behaviour in ``_misbehaviour``), and here the
lifecycle and what tests steer.
"""

from __future__ import annotations

import asyncio
import functools
import typing

import aiohttp
from aiohttp import web

from sora2pro import PollPolicy
from sora2pro.testing._faults import Endpoint, Fault
from sora2pro.testing._gate import RequestGate, endpoint_of
from sora2pro.testing._routes import ApiRoutes
from sora2pro.testing._uploads import MAX_UPLOAD

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Emulator"]


class Emulator(ApiRoutes, RequestGate):
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
        results: The ``resultJson`` object of a successful task, by model name, for
            models other than the Sora 2 ones (whose results follow API.md); or a
            function of the URL of the video the emulator serves for the task,
            giving it. Any model name is served; one not listed here ends with
            ``{"resultUrls": [<that URL>]}``.
        seed: Seeds every random quirk and the task ids, so a run can be repeated.
            None (the default): both differ in every run, so a task id kept from one
            emulator never names a task of another.
        log_requests: Log each request at INFO on the ``sora2pro.testing`` logger:
            method, path, status and any injected fault; the key is never logged.
        host: Address to listen on (loopback by default).
        port: Port to listen on; 0 picks a free one.

    """

    def __repr__(self) -> str:
        where = self.url if self._runner else "not started"
        return f"<sora2pro.testing.Emulator {where} tasks={len(self.tasks)}>"

    @functools.cached_property
    def app(self) -> web.Application:
        """The ``aiohttp.web`` application the emulator serves."""
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_UPLOAD)
        app.add_routes([*self._api_routes(), *self._upload_routes()])
        return app

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
        await self._cancel_callbacks()
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
    def poll(self) -> PollPolicy:
        """A poll policy that fits this emulator's tasks: they take seconds, not minutes.

        The default policy expects Sora's minutes and first polls a new task after
        about 20 s; ``Client(emu.api_key, base_url=emu.url, poll=emu.poll)`` does
        not keep a test waiting.
        """
        duration = self.duration
        typical = duration if isinstance(duration, int | float) and duration > 0 else 0.5
        return PollPolicy(
            min_interval=0.01,
            max_interval=min(1.0, max(0.05, typical / 2)),
            expected_duration=typical,
        )

    @property
    def create_bodies(self) -> list[object]:
        """The bodies of every createTask request received, valid or not."""
        return [r.body for r in self.requests if r.path == "/api/v1/jobs/createTask"]

    def count(self, endpoint: Endpoint | str) -> int:
        """How many requests reached ``endpoint``."""
        return sum(1 for r in self.requests if endpoint_of(r.path) is Endpoint(endpoint))

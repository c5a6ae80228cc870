"""A receiver for the server's completion POSTs (callBackUrl), safe to expose.

A callback is a hint until confirmed: unsigned ones can be forged by anyone who can
reach the URL. With an HMAC key the receiver checks ``X-Webhook-Timestamp`` and
``X-Webhook-Signature`` (base64 HMAC-SHA256 of ``taskId + "." + timestamp``) in
constant time and refuses stale timestamps, so only the platform gets through. The
signature does not cover the body, so even a verified body is confirmed by one
status fetch before a wait trusts it (API.md section 4); ``trust_body`` skips that.
A caller that does not send its request within ``read_timeout`` is dropped, so slow
senders cannot pin sockets.
"""

from __future__ import annotations

import asyncio
import collections
import http
import logging
import time
import typing

from aiohttp import web

from sora2pro._callbacks._checks import (
    DEFAULT_MAX_BODY,
    DEFAULT_TOLERANCE,
    as_key,
    check_count,
    check_seconds,
    header_pairs,
    key_from_env,
    parse_callback,
    verify_callback,
)
from sora2pro._errors import CallbackError, CallbackSignatureError, InvalidInputError
from sora2pro._model._requests import check_callback_url
from sora2pro._model._task import Callback
from sora2pro._transport._transport import read_capped

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sora2pro._callbacks._checks import Headers


__all__ = ["CallbackReceiver"]

logger = logging.getLogger("sora2pro")

#: Seconds a caller has to send a request, headers and body; the platform's
#: sender waits about 15 s for an answer, so a real callback is never this slow.
DEFAULT_READ_TIMEOUT = 10.0
#: The most bytes of callback bodies kept for result() at once.
_KEEP_BYTES = 16 * 1024 * 1024


class _Server(web.Server):
    """aiohttp's low-level server, dropping connections that send no request in time.

    A connection has ``read_timeout`` from when it opens, and again after each
    answer, to send a request's headers and body. While the handler runs the clock
    stops; the handler bounds the rest of the body itself, with the time left.
    """

    def __init__(
        self,
        answer: Callable[[web.BaseRequest, float], Awaitable[web.StreamResponse]],
        read_timeout: float,
    ) -> None:
        super().__init__(self._serve, access_log=None)
        self._answer = answer
        self._read_timeout = read_timeout
        self._clocks: dict[web.RequestHandler, asyncio.TimerHandle] = {}

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._start_clock(handler)

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        self._stop_clock(handler)
        super().connection_lost(handler, exc)

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        left = self._stop_clock(request.protocol)
        try:
            return await self._answer(request, left)
        finally:
            self._start_clock(request.protocol)

    def _start_clock(self, handler: web.RequestHandler) -> None:
        self._stop_clock(handler)
        if handler.transport is None:  # the caller is gone already
            return
        loop = asyncio.get_running_loop()
        self._clocks[handler] = loop.call_later(self._read_timeout, self._drop, handler)

    def _stop_clock(self, handler: web.RequestHandler) -> float:
        """Stop ``handler``'s clock; the seconds it had left."""
        clock = self._clocks.pop(handler, None)
        if clock is None:
            return self._read_timeout
        clock.cancel()
        return max(0.0, clock.when() - asyncio.get_running_loop().time())

    def _drop(self, handler: web.RequestHandler) -> None:
        del self._clocks[handler]
        # Debug only: an idle kept-alive connection ends this way too, which is normal.
        logger.debug(
            "connection dropped: no whole request within %s s",
            self._read_timeout,
            extra={"event": "callback_slow"},
        )
        handler.force_close()


class CallbackReceiver:
    """Receives the server's completion callbacks and hands them to waiting code.

    Run it on its own (``async with CallbackReceiver(...) as receiver`` or
    :meth:`start`), or mount it into your own aiohttp app with :meth:`add_routes`.

    Args:
        public_url: The address the provider must call, when it differs from where
            this process listens (behind a proxy or a tunnel); the path is appended.
        path: The route the receiver answers on.
        hmac_key: The account's webhook HMAC key; callbacks must then be signed. None
            takes it from the ``APIKLEY_WEBHOOK_HMAC_KEY`` environment variable when
            that is set (and not empty), else callbacks are unsigned.
        trust_body: Trust callback bodies without the confirming status fetch
            (only where no one else can reach the receiver).
        max_body: Largest body accepted, in bytes; larger ones get 413.
        tolerance: Seconds a signed callback's timestamp may differ from now.
        keep: How many recent callbacks are kept for :meth:`result`.
        read_timeout: Seconds a caller has to send a request, headers and body;
            a slower one is dropped, or answered 408 once its headers are in. The
            clock restarts after each answer, so an idle connection is dropped too.
            Mounted with :meth:`add_routes`, only the body is bounded (from when
            the headers are in): the headers are your server's to bound.

    Raises:
        InvalidInputError: for a setting of the wrong type, or one that would turn a
            check off (an empty key, a count or size below 1, a duration that is not
            a positive finite number).

    """

    def __init__(
        self,
        *,
        public_url: str | None = None,
        path: str = "/sora2pro/callback",
        hmac_key: str | bytes | None = None,
        trust_body: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        tolerance: float = DEFAULT_TOLERANCE,
        keep: int = 1000,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        check_callback_url("public_url", public_url)
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidInputError("path", f"must start with '/', not {path!r}")
        if not isinstance(trust_body, bool):
            raise InvalidInputError("trust_body", f"must be True or False, not {trust_body!r}")
        check_count("max_body", max_body)
        check_count("keep", keep)
        check_seconds("tolerance", tolerance)
        check_seconds("read_timeout", read_timeout)
        self.public_url = public_url
        self.path = path
        if hmac_key is None:
            self._key = key_from_env()
        else:
            self._key = as_key(hmac_key)
        self.trust_body = trust_body
        self.max_body = max_body
        self.tolerance = tolerance
        self.read_timeout = read_timeout
        self._recent: collections.OrderedDict[str, tuple[Callback, int]] = collections.OrderedDict()
        self._recent_bytes = 0
        self._keep = keep
        self._waiters: dict[str, list[asyncio.Future[Callback]]] = {}
        self._unclaimed: list[Callable[[Callback], None]] = []
        self._runner: web.BaseRunner | None = None
        self._listening: str | None = None

    def __repr__(self) -> str:
        return f"<sora2pro.CallbackReceiver url={self.url!r} signed={self._key is not None}>"

    @property
    def url(self) -> str | None:
        """The URL to give as ``callBackUrl``: the public one, else where it listens.

        None until it listens, and when it listens on every address (0.0.0.0, ::)
        without a ``public_url``: no one could call that.
        """
        base = self.public_url or self._listening
        return None if base is None else base.rstrip("/") + self.path

    def add_routes(self, app: web.Application) -> None:
        """Mount the receiver's route into an existing aiohttp app."""
        app.router.add_post(self.path, self.handle)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (a free port by default) in the running loop."""
        runner = web.ServerRunner(_Server(self._route, self.read_timeout))
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        if bound_host not in {"0.0.0.0", "::"}:  # noqa: S104  # a wildcard is no address
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            self._listening = f"http://{shown}:{bound_port}"

    async def close(self) -> None:
        """Stop listening; waiters still pending keep waiting (polling takes over)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> typing.Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def result(self, task_id: str) -> Callback | None:
        """The callback received for ``task_id``, if it is among the recent ones."""
        kept = self._recent.get(task_id)
        return None if kept is None else kept[0]

    def refute(self, callback: Callback) -> None:
        """Drop a callback the server contradicted, so the next one is not a "duplicate"."""
        kept = self._recent.get(callback.task.id)
        if kept is not None and kept[0] is callback:
            del self._recent[callback.task.id]
            self._recent_bytes -= kept[1]

    def on_unclaimed(self, listener: Callable[[Callback], None]) -> Callable[[], None]:
        """Call ``listener`` with each new callback nothing here waits for; returns its remover.

        A client whose coordination spans processes confirms such a callback, since
        a wait in another process may need it.
        """
        self._unclaimed.append(listener)
        return lambda: self._unclaimed.remove(listener)

    def expect(
        self, task_id: str, *, newer_than: Callback | None = None
    ) -> asyncio.Future[Callback]:
        """A future that completes with the callback for ``task_id`` (at once if it came).

        With ``newer_than``, only a callback other than that one completes it: a wait
        whose callback did not hold up waits for the next.
        """
        future: asyncio.Future[Callback] = asyncio.get_running_loop().create_future()
        known = self.result(task_id)
        if known is not None and known is not newer_than:
            future.set_result(known)
        else:
            self._waiters.setdefault(task_id, []).append(future)
            future.add_done_callback(lambda done: self._forget(task_id, done))
        return future

    def _forget(self, task_id: str, future: asyncio.Future[Callback]) -> None:
        waiters = self._waiters.get(task_id, [])
        if future in waiters:
            waiters.remove(future)
        if not waiters:
            self._waiters.pop(task_id, None)

    async def handle(self, request: web.BaseRequest) -> web.Response:
        """Answer one callback POST: 200 fast, or 400, 401, 408, 413 for bad calls."""
        return await self._answer(request, self.read_timeout)

    async def _route(self, request: web.BaseRequest, seconds_left: float) -> web.Response:
        if request.path != self.path:
            return web.Response(status=404, text="not found")
        if request.method != "POST":
            return web.Response(status=405, text="only POST", headers={"Allow": "POST"})
        return await self._answer(request, seconds_left)

    async def _answer(self, request: web.BaseRequest, seconds_left: float) -> web.Response:
        too_large = request.content_length is not None and request.content_length > self.max_body
        try:
            async with asyncio.timeout(seconds_left):
                body = None if too_large else await read_capped(request.content, self.max_body)
        except TimeoutError:
            logger.info(
                "slow callback answered 408: body not sent in time",
                extra={"event": "callback_slow"},
            )
            timed_out = web.Response(status=408, text="request timeout")
            timed_out.force_close()
            return timed_out
        except web.RequestPayloadError as exc:
            # A body that does not follow its Content-Encoding or chunking: the caller's fault.
            logger.info("callback refused: %s", exc, extra={"event": "callback_bad"})
            unreadable = web.Response(status=400, text="bad request")
            unreadable.force_close()  # the rest of that body cannot be read either
            return unreadable
        if body is None:
            return web.Response(status=413, text="body too large")
        try:
            callback = self.check(body, request.headers)
        except CallbackError as exc:
            # The reason stays in the log: a forger learns nothing from the answer.
            return web.Response(status=exc.status, text=http.HTTPStatus(exc.status).phrase)
        self.receive(callback, len(body))
        return web.Response(text="ok")

    def check(self, body: bytes | bytearray | memoryview, headers: Headers) -> Callback:
        """The callback in ``body``, checked as this receiver checks every POST (logged if refused).

        With an HMAC key, :func:`~sora2pro.verify_callback` with the receiver's
        ``tolerance``; without one, :func:`~sora2pro.parse_callback`. Either way a
        body over ``max_body`` is refused.

        Raises:
            CallbackError: the callback is refused (``.status`` is the answer to give);
                :class:`MalformedCallbackError` too for ``headers`` that give no pairs.

        """
        try:
            header_pairs(headers)  # read only when signed, but refused either way
            if self._key is None:
                task = parse_callback(body, max_body=self.max_body)
            else:
                task = verify_callback(
                    body,
                    headers,
                    hmac_key=self._key,
                    tolerance=self.tolerance,
                    max_body=self.max_body,
                )
        except CallbackSignatureError as exc:
            logger.warning(
                "callback for task %.80s refused: %s",
                exc.task_id,
                exc,
                extra={"event": "callback_forged", "task_id": exc.task_id},
            )
            raise
        except CallbackError as exc:
            logger.info("callback refused: %s", exc, extra={"event": "callback_bad"})
            raise
        return Callback(task=task, verified=self._key is not None, received_at=time.time())

    def receive(self, callback: Callback, size: int) -> None:
        """Hand a checked callback (of ``size`` bytes) to the waits, as if it had been POSTed.

        A duplicate of the one kept for its task is dropped; one nothing waits for is
        kept for :meth:`result` and told to the :meth:`on_unclaimed` listeners.
        """
        task_id = callback.task.id
        known = self.result(task_id)
        if known is not None and (known.task.raw_state, known.verified) == (
            callback.task.raw_state,
            callback.verified,
        ):
            logger.debug("duplicate callback for task %.80s ignored", task_id)
            return
        # A different one replaces it: an unsigned forgery must not mute the real one.
        if task_id in self._recent:
            self._recent_bytes -= self._recent.pop(task_id)[1]
        self._recent[task_id] = (callback, size)
        self._recent_bytes += size
        while len(self._recent) > self._keep or self._recent_bytes > _KEEP_BYTES:
            self._recent_bytes -= self._recent.popitem(last=False)[1][1]
        waiters = self._waiters.pop(task_id, [])
        if not waiters:
            logger.info(
                "callback for task %.80s, which nothing here waits for; kept for result()",
                task_id,
                extra={"event": "callback_unclaimed", "task_id": task_id},
            )
            for listener in list(self._unclaimed):
                listener(callback)
        for future in waiters:
            if not future.done():
                future.set_result(callback)

"""One HTTP exchange with the API, every outcome mapped to a sora2pro error."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import email.utils
import functools
import json
import logging
import platform
import typing
from collections.abc import Awaitable, Callable

import aiohttp

from sora2pro._errors import ResponseError, Sora2ProError, TransportError, api_error
from sora2pro._version import VERSION
from sora2pro._wire import Envelope, decode_envelope

if typing.TYPE_CHECKING:
    import cattrs
    import yarl

    from sora2pro._config import Timeouts
    from sora2pro._transport._instrument import Listener

__all__ = [
    "USER_AGENT",
    "Transport",
    "parse_retry_after",
    "read_capped",
    "retrieve_exception",
    "within",
]

logger = logging.getLogger("sora2pro")

T = typing.TypeVar("T")

USER_AGENT = f"sora2pro/{VERSION} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"

#: The largest API answer read; task details are a few kilobytes.
_MAX_ANSWER = 4 * 1024 * 1024

# Failures that happen before a single byte of the request is written.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)


def describe_failure(exc: BaseException) -> str:
    """Name an aiohttp failure without its repr, which holds the request's headers."""
    text = str(exc) if not isinstance(exc, aiohttp.ClientResponseError) else exc.message
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def safe_cause(exc: BaseException, description: str) -> BaseException:
    """A stand-in for an aiohttp failure, to chain in its place.

    aiohttp's exceptions can hold the request's headers (the key), the server's raw
    answer or a chain of their own; the stand-in keeps only the kind (a timeout or a
    connection failure) and the redacted description.
    """
    if isinstance(exc, TimeoutError):
        return TimeoutError(description)
    return ConnectionError(description)


async def read_capped(content: aiohttp.StreamReader, limit: int) -> bytes | None:
    """Read a whole body (an answer's or a request's), or None once it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def within(work: Awaitable[T], deadline: float | None) -> T | None:
    """Await ``work`` until ``deadline``; None if it passed first (``work`` is cancelled).

    ``work`` runs as a task of its own, so aiohttp's timers live there: they can turn
    a cancel that coincides with them into a timeout (their nested contexts uncancel
    it), and that must never swallow the deadline or a cancel of the caller. So even
    without a deadline: a cancel then may meet the request's own timeouts.
    """
    loop = asyncio.get_running_loop()
    inner = asyncio.ensure_future(work)
    # One future for "finished or out of time", set by whichever comes first.
    over = loop.create_future()
    inner.add_done_callback(functools.partial(_finished, over))
    timer = None if deadline is None else loop.call_at(deadline, _finished, over, None)
    try:
        await over
    finally:
        if timer is not None:
            timer.cancel()
        if not inner.done():
            inner.cancel()
            # Let it close its connection; a second cancel ends this wait, not the cleanup.
            await asyncio.wait({inner})
    return inner.result() if not inner.cancelled() else None


def _finished(over: asyncio.Future[None], task: asyncio.Future[typing.Any] | None) -> None:
    """Mark ``over`` (the work ended, or its deadline passed: ``task`` None)."""
    if task is not None:
        retrieve_exception(task)  # its caller may be gone (cancelled)
    if not over.done():
        over.set_result(None)


def retrieve_exception(task: asyncio.Future[typing.Any]) -> None:
    """Mark a finished task's exception as seen: its caller may be gone (cancelled)."""
    if not task.cancelled():
        task.exception()


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


#: The ``on_sent`` of the request being sent in this task (each exchange has its own).
_ON_SENT: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "sora2pro_on_sent", default=None
)


class _Request(aiohttp.ClientRequest):
    """Tells the request's ``on_sent`` when it really leaves, not when it is asked for.

    ``send`` returns once a connection is had; a request without a body is written
    by then. A body (a create's) is written with the headers by a task of aiohttp's
    own, which before Python 3.12 has not run yet: ``on_sent`` waits for it.
    """

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        response = await super().send(conn)
        on_sent = _ON_SENT.get()
        if on_sent is not None:
            writing: asyncio.Task[None] | None = getattr(self, "_writer", None)
            if writing is None or writing.done():
                on_sent()
            else:
                writing.add_done_callback(lambda _: on_sent())
        return response


class Transport:
    """Sends API requests with the key, and downloads without it."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeouts: Timeouts,
        converter: cattrs.Converter,
        session: aiohttp.ClientSession | None,
        listener: Listener | None = None,
    ) -> None:
        self._api_key = api_key
        #: Hears of the retries and the 429 pauses of this client's requests.
        self.listener = listener
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        # Built once: every request of a client has the same limits.
        self._whole = aiohttp.ClientTimeout(
            total=timeouts.request, sock_connect=timeouts.connect, sock_read=timeouts.read
        )
        self._pieces = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.connect, sock_read=timeouts.read
        )
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self._converter = converter
        self._session = session
        self._owns_session = session is None
        self.closed = False

    @property
    def owns_open_session(self) -> bool:
        """Whether this transport opened a session it has not closed yet."""
        return self._owns_session and self._session is not None and not self._session.closed

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, opened on first use inside the running loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(request_class=_Request)
        elif self._session.closed:
            raise Sora2ProError("the aiohttp session given to this sora2pro.Client is closed")
        return self._session

    def fetch(
        self, url: str | yarl.URL, headers: dict[str, str]
    ) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """One GET of a file: no key, no redirect followed, every status handed back."""
        return self.session().get(
            url,
            headers=headers,
            allow_redirects=False,
            raise_for_status=False,  # a session passed in may raise; statuses are read here
            timeout=self.client_timeout(whole=False),
        )

    async def close(self) -> None:
        """Close the session if this transport opened it; a session passed in stays open."""
        self.closed = True
        if self.owns_open_session:
            assert self._session is not None  # noqa: S101  # narrowed by owns_open_session
            await self._session.close()

    def redact(self, text: str) -> str:
        """Remove the API key from text the server sent back (some proxies echo headers)."""
        return text.replace(self._api_key, "***") if self._api_key in text else text

    def client_timeout(self, *, whole: bool = True) -> aiohttp.ClientTimeout:
        """The aiohttp timeout for one exchange (``whole``) or one transfer's pieces.

        A caller's deadline is not among them: it is kept from outside (:func:`within`).
        """
        return self._whole if whole else self._pieces

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
        form: aiohttp.FormData | None = None,
        deadline: float | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> Envelope:
        """Send one API request and return the answer's envelope if it says success.

        ``body`` goes as JSON, ``form`` as multipart (at most one of them).
        ``on_sent`` is called once the request, its body included, is written (a
        connection may have to be waited for first); with a session passed in, as it
        is sent off.

        Raises:
            APIError: the HTTP status or the body ``code`` is an error (the subclass
                for the code).
            ResponseError: the answer is not the documented JSON.
            TransportError: no answer came back; ``request_sent`` tells whether the
                request may have reached the server.

        """
        if self.closed:
            raise Sora2ProError("this sora2pro.Client is closed")
        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
            raise TransportError(
                f"{method} {path} not sent: its deadline passed", request_sent=False
            )
        exchange = self._exchange(method, path, params, body, form, on_sent=on_sent)
        envelope = await within(exchange, deadline)
        if envelope is None:
            raise TransportError(
                f"{method} {path} timed out: its deadline passed", request_sent=True
            ) from TimeoutError()
        return envelope

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, object] | None,
        form: aiohttp.FormData | None,
        *,
        on_sent: Callable[[], None] | None,
    ) -> Envelope:
        failure: TransportError | None = None
        if on_sent is not None and not self._owns_session:
            on_sent()  # a session passed in tells nothing of when it writes
            on_sent = None
        token = _ON_SENT.set(on_sent)
        try:
            async with self.session().request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                data=form,
                headers=self._headers,
                timeout=self._whole,
                allow_redirects=False,
                raise_for_status=False,
            ) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raw = await read_capped(response.content, _MAX_ANSWER)
        except _NOT_SENT as exc:
            described = self.redact(describe_failure(exc))
            failure = TransportError(
                f"{method} {path}: could not connect: {described}", request_sent=False
            )
            failure.__cause__ = safe_cause(exc, described)
        except (aiohttp.ClientError, TimeoutError) as exc:
            described = self.redact(describe_failure(exc))
            what = "timed out" if isinstance(exc, TimeoutError) else "failed"
            failure = TransportError(f"{method} {path} {what}: {described}", request_sent=True)
            failure.__cause__ = safe_cause(exc, described)
        finally:
            _ON_SENT.reset(token)
        if failure is not None:
            # Raised here, outside the except clause, so no __context__ holds the headers.
            raise failure
        if logger.isEnabledFor(logging.DEBUG):  # no record built for nobody
            logger.debug(
                "%s %s -> HTTP %d",
                method,
                path,
                status,
                extra={"event": "http", "method": method, "path": path, "status": status},
            )
        if raw is None:
            raise ResponseError(f"{method} {path}: answer larger than 4 MiB", http_status=status)
        return self._decode(method, path, raw, status, retry_after)

    def _decode(
        self, method: str, path: str, raw: bytes, status: int, retry_after: float | None
    ) -> Envelope:
        try:
            # As json.loads(bytes) would, UTF-16 and UTF-32 included, so that the key is
            # looked for in the very text that is parsed.
            text = raw.decode(json.detect_encoding(raw))
            payload = json.loads(text)
        except (ValueError, RecursionError):
            payload = _NOT_JSON
        if payload is _NOT_JSON:
            # Raised outside the except clause: the decode error's ``doc`` is the raw
            # answer, which may echo the key. Redact before cutting: a cut through an
            # echoed key would leave part of it.
            text = self.redact(raw.decode("utf-8", "replace"))
            snippet = " ".join(text.split())[:120]
            raise ResponseError(
                f"{method} {path}: answer is not JSON: {snippet!r}",
                http_status=status,
                retry_after=retry_after,
            )
        if self._api_key in text or "\\u" in text:
            # An echo of the key (perhaps hidden in \u escapes) goes no further than
            # this: not into a task, an error's data or a log line.
            try:
                payload = self._scrub(payload)
            except RecursionError:  # carries no text of the answer
                raise ResponseError(
                    f"{method} {path}: answer nested too deep", http_status=status
                ) from None
        envelope = decode_envelope(self._converter, payload, http_status=status)
        if envelope.code == 200 and status < 400:
            return envelope
        # The body code is the more precise of the two, unless it claims success.
        code = envelope.code if envelope.code != 200 else status
        raise api_error(
            code,
            self.redact(envelope.message),
            http_status=status,
            retry_after=retry_after,
            data=envelope.data,
        )

    def _scrub(self, value: object) -> object:
        """``value`` (decoded JSON) with the key replaced in every string, keys included."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self._scrub(item) for item in value]
        if isinstance(value, dict):
            return {self.redact(key): self._scrub(item) for key, item in value.items()}
        return value


#: Stands for an answer that did not parse as JSON (None is valid JSON).
_NOT_JSON = object()

"""The gate every request passes: recorded, checked, faulted when a test asked, logged.

Requests without a User-Agent are refused like the upstream CDN refuses them; the API
routes want the key and keep to their rate limits; result files want neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import web

from sora2pro.testing._faults import Endpoint, Fault, FaultKind
from sora2pro.testing._misbehaviour import misbehave
from sora2pro.testing._state import HTML_PAGE, EmulatorState, Handler, RecordedRequest, read_body

__all__ = ["RequestGate", "endpoint_of"]

logger = logging.getLogger("sora2pro.testing")

_ROUTES = {
    "/api/v1/jobs/createTask": Endpoint.CREATE,
    "/api/v1/jobs/recordInfo": Endpoint.RECORD_INFO,
    "/api/v1/chat/credit": Endpoint.CREDIT,
    "/api/v1/common/download-url": Endpoint.DOWNLOAD_URL,
    "/file-upload/api/file-stream-upload": Endpoint.UPLOAD,
    "/file-upload/api/file-base64-upload": Endpoint.UPLOAD,
    "/file-upload/api/file-url-upload": Endpoint.UPLOAD,
}


def endpoint_of(path: str) -> Endpoint:
    """The endpoint a path belongs to; anything else is a file download."""
    return _ROUTES.get(path, Endpoint.FILES)


class RequestGate(EmulatorState):
    """The part of the emulator every request goes through before its route."""

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await read_body(request)
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
                    status=403, text=HTML_PAGE.format("403 Forbidden"), content_type="text/html"
                )
            elif fault := self._next_fault(endpoint := endpoint_of(request.path)):
                response = await misbehave(fault, endpoint, request, handler, self.rng)
            else:
                response = await self._serve(endpoint, request, handler)
        except web.HTTPException as exc:  # no such route, or a method it does not take
            self._log(request, exc, fault)
            raise
        self._log(request, response, fault)
        return response

    def _next_fault(self, endpoint: Endpoint) -> Fault | None:
        queue = self._faults[endpoint]
        if queue:
            return queue.popleft()
        faults, rate = self._chaos.get(endpoint, ((), 0.0))
        if faults and self.rng.random() < rate:
            return self.rng.choice(faults)
        return None

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

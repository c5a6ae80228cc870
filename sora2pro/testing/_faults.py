"""Scripted faults: what the emulator does instead of answering normally."""

from __future__ import annotations

import enum

import attrs

__all__ = ["Endpoint", "Fault", "FaultKind"]


class Endpoint(enum.StrEnum):
    """The emulated routes a fault can target."""

    CREATE = "createTask"
    RECORD_INFO = "recordInfo"
    CREDIT = "credit"
    DOWNLOAD_URL = "download-url"
    UPLOAD = "upload"
    FILES = "files"


class FaultKind(enum.Enum):
    """How a faulty answer misbehaves."""

    ERROR = "error"
    HTML = "html"
    DISCONNECT = "disconnect"
    TRUNCATE = "truncate"
    MALFORMED = "malformed"
    WRONG_STATUS = "wrong_status"
    GARBAGE = "garbage"
    DELAY = "delay"
    MISPLACED_RANGE = "misplaced_range"
    ANSWER = "answer"


@attrs.frozen
class Fault:
    """One misbehaviour, built with the class methods below and given to ``Emulator.inject``."""

    kind: FaultKind
    code: int = 500
    http_status: int = 200
    message: str = ""
    retry_after: str | None = None
    seconds: float = 0.0
    after_create: bool = False
    at: int | None = None
    payload: object = None

    @classmethod
    def error(
        cls,
        code: int,
        *,
        http_status: int = 200,
        message: str = "",
        retry_after: float | str | None = None,
    ) -> Fault:
        """Answer the JSON envelope with body ``code`` under ``http_status``."""
        return cls(
            FaultKind.ERROR,
            code=code,
            http_status=http_status,
            message=message or f"emulated error {code}",
            retry_after=None if retry_after is None else str(retry_after),
        )

    @classmethod
    def rate_limited(cls, *, retry_after: float | str | None = None) -> Fault:
        """Answer like the rate limiter: HTTP 429, body code 429."""
        return cls.error(429, http_status=429, message="Too many requests", retry_after=retry_after)

    @classmethod
    def maintenance(cls, *, retry_after: float | str | None = None) -> Fault:
        """Answer code 455, service in maintenance."""
        return cls.error(455, message="Service is under maintenance", retry_after=retry_after)

    @classmethod
    def html(cls, http_status: int = 502, *, page: str = "") -> Fault:
        """Answer an HTML error page, as a proxy in front of the API would.

        ``page`` replaces the default nginx-style page, for tests of what the
        client does with its text.
        """
        return cls(FaultKind.HTML, http_status=http_status, message=page)

    @classmethod
    def disconnect(cls, *, after_create: bool = False) -> Fault:
        """Close the connection without an answer.

        With ``after_create`` on createTask, the task is created (and billed) first:
        the answer is lost, the task is real.
        """
        return cls(FaultKind.DISCONNECT, after_create=after_create)

    @classmethod
    def truncate(cls, *, after_create: bool = False, at: int | None = None) -> Fault:
        """Promise a body by Content-Length, send its first ``at`` bytes (half), then close.

        On an API route the body is a task id answer. On a result file it is the
        answer the file would have had (a 206 for a range), cut midway, as when a
        transfer breaks.
        """
        return cls(FaultKind.TRUNCATE, after_create=after_create, at=at)

    @classmethod
    def malformed(cls, *, after_create: bool = False) -> Fault:
        """Answer bytes that are not valid HTTP (a Content-Length that is no number)."""
        return cls(FaultKind.MALFORMED, after_create=after_create)

    @classmethod
    def garbage(cls, *, after_create: bool = False) -> Fault:
        """Answer HTTP 200 with a body that is not valid JSON."""
        return cls(FaultKind.GARBAGE, after_create=after_create)

    @classmethod
    def wrong_status(cls, http_status: int) -> Fault:
        """Do the work and answer as usual, but under ``http_status``.

        The body and the HTTP status disagree: a create may say HTTP 500 yet carry
        the id of the task it created.
        """
        return cls(FaultKind.WRONG_STATUS, http_status=http_status)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally (for client timeouts)."""
        return cls(FaultKind.DELAY, seconds=seconds)

    def delayed(self, seconds: float) -> Fault:
        """The same fault after ``seconds`` of silence: a slow refusal, a slow lost answer."""
        return attrs.evolve(self, seconds=seconds)

    @classmethod
    def misplaced_range(cls, at: int = 0) -> Fault:
        """Answer a file request as if it had asked for ``bytes=<at>-``.

        Some hosts get ranges wrong: the 206 and its Content-Range agree with each
        other, but not with the range the client asked for.
        """
        return cls(FaultKind.MISPLACED_RANGE, at=at)

    @classmethod
    def answer(cls, payload: object, *, http_status: int = 200, encoding: str = "utf-8") -> Fault:
        """Answer ``payload`` as JSON, exactly as given: a recorded or odd answer.

        ``encoding`` may be any JSON allows (``utf-16`` and ``utf-32`` too).
        """
        return cls(FaultKind.ANSWER, http_status=http_status, payload=payload, message=encoding)

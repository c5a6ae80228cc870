"""How the command line writes: results on stdout, the rest on stderr, JSON on request.

Human mode puts results (``task ID``, ``state STATE``, ``video URL``, ``saved PATH``)
on stdout and progress and notes on stderr. ``--json`` puts exactly one JSON document
on stdout and moves every human line to stderr. ``--quiet`` drops progress and notes;
results and errors are still written.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import sys
import time
import typing

import attrs

from sora2pro import TaskFailedError, TaskState, WaitTimeoutError

if typing.TYPE_CHECKING:
    from types import TracebackType

    from sora2pro import Task

__all__ = ["Output", "Status", "as_document", "describe", "task_document"]


def _plain(_instance: object, _attribute: object, value: object) -> object:
    """A value JSON can hold: dates in ISO 8601, enums as their value."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def as_document(value: attrs.AttrsInstance) -> dict[str, typing.Any]:
    """A value (a task, an uploaded file, a character) as a JSON object.

    Attributes keep their snake_case names; times are ISO 8601 strings.
    """
    return attrs.asdict(value, value_serializer=_plain)


def task_document(task: Task) -> dict[str, typing.Any]:
    """A task as a JSON object; ``request`` is the request echoed back, or null."""
    return as_document(task)


def describe(task: Task) -> list[str]:
    """A task as result lines: id, state, then its progress, videos or failure."""
    lines = [f"task {task.id}", f"state {task.raw_state}"]
    if not task.done and task.progress is not None:
        lines.append(f"progress {task.progress}")
    lines += [f"video {url}" for url in task.result_urls]
    if task.character_id is not None:
        lines.append(f"character {task.character_id}")
    if task.state is TaskState.FAIL:
        reason = " ".join(part for part in (task.fail_code, task.fail_message) if part)
        lines.append(f"reason {reason or 'not given'}")
    return lines


def _size(count: int) -> str:
    return f"{count / 1e3:.1f} kB" if count < 1e6 else f"{count / 1e6:.1f} MB"


class _Discard(io.StringIO):
    """A stream that drops everything: where progress goes under ``--quiet``."""

    def write(self, text: str) -> int:
        return len(text)


class Status:
    """One live status line on a terminal, or a plain line per change elsewhere.

    Use it as a context manager: leaving it ends the live line.
    """

    def __init__(self, stream: typing.TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._started = time.monotonic()
        self._written = False
        self._tenths = -1

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live and self._written:
            self._stream.write("\n")
            self._stream.flush()

    def update(self, task: Task) -> None:
        """Show a task's state and progress (a ``wait(on_update=...)`` callback)."""
        progress = "" if task.progress is None else f" {task.progress:3d}%"
        self._show(f"{task.raw_state}{progress}")

    def transfer(self, written: int, total: int | None) -> None:
        """Show a download's bytes (a ``download(on_progress=...)`` callback)."""
        if total is None:
            text = f"downloading {_size(written)}"
        else:
            text = f"downloading {_size(written)} of {_size(total)} {100 * written // total:3d}%"
        if not self._live:
            # A log gets a line per tenth, not one per chunk; without a size, none.
            tenths = -1 if total is None else 10 * written // max(total, 1)
            if tenths <= self._tenths:
                return
            self._tenths = tenths
        self._show(text)

    def _show(self, text: str) -> None:
        elapsed = int(time.monotonic() - self._started)
        line = f"{text}  {elapsed // 60}:{elapsed % 60:02d}"
        self._stream.write(f"\r\x1b[K{line}" if self._live else f"{line}\n")
        self._stream.flush()
        self._written = True


class Output:
    """Where one run of a sub-command writes, as ``--json`` and ``--quiet`` say.

    Attributes:
        task_id: The task the run is about, once known; error reports carry it.

    """

    def __init__(self, *, json_mode: bool, quiet: bool) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.task_id: str | None = None
        self._stdout = sys.stdout
        self._stderr = sys.stderr

    @property
    def progress_stream(self) -> typing.TextIO:
        """Where progress goes: stderr, or nowhere under ``--quiet``."""
        return _Discard() if self.quiet else self._stderr

    def status(self) -> Status:
        """A status line on :attr:`progress_stream`."""
        return Status(self.progress_stream)

    def line(self, text: str) -> None:
        """A human result line: stdout, or stderr under ``--json`` (none if also quiet)."""
        if not self.json_mode:
            print(text, file=self._stdout, flush=True)
        elif not self.quiet:
            print(text, file=self._stderr, flush=True)

    def note(self, text: str) -> None:
        """A human remark on stderr, dropped under ``--quiet``."""
        if not self.quiet:
            print(text, file=self._stderr, flush=True)

    def document(self, document: dict[str, typing.Any]) -> None:
        """The run's JSON document on stdout, under ``--json`` only."""
        if self.json_mode:
            print(json.dumps(document), file=self._stdout, flush=True)

    def error(self, error: BaseException, exit_code: int, message: str | None = None) -> int:
        """Report a run that ended in ``error``, and return ``exit_code``.

        The human line always goes to stderr; under ``--json`` the document on stdout
        is ``{"error", "message", "task_id", "task", "exit_code"}``, where ``task`` is
        the last snapshot of the task the error carries, or null.
        """
        message = str(error) if message is None else message
        task_id = getattr(error, "task_id", None) or self.task_id
        print(f"sora2pro: error: {message}", file=self._stderr)
        if task_id is not None:
            print(f"sora2pro: the task id is {task_id}", file=self._stderr)
        snapshot = None
        if isinstance(error, TaskFailedError):
            snapshot = error.task
        elif isinstance(error, WaitTimeoutError):
            snapshot = error.last
        self.document(
            {
                "error": type(error).__name__,
                "message": message,
                "task_id": task_id,
                "task": None if snapshot is None else task_document(snapshot),
                "exit_code": exit_code,
            }
        )
        return exit_code

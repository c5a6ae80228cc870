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
import os
import sys
import time
import typing

import attrs

from sora2pro import TaskFailedError, TaskState, WaitTimeoutError
from sora2pro._cli._units import byte_size

if typing.TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from rich.console import Console

    from sora2pro import Task
    from sora2pro._cli._live import BatchBoard, LiveStatus

__all__ = [
    "Output",
    "Status",
    "as_document",
    "describe",
    "table",
    "task_document",
]


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


#: Off a terminal, the last column of a table is cut there; on one, at its edge.
_LAST_COLUMN = 80
#: The least room the last column gets beside the others on a terminal.
_NARROWEST = 20


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """Rows as aligned columns; the one before last (a task id) is never cut or wrapped.

    Each column but the last is as wide as its widest cell. The last (free text) is cut
    to what ``width`` (a terminal's columns) leaves, or to :data:`_LAST_COLUMN`
    characters off a terminal. On a terminal too narrow for the id and
    :data:`_NARROWEST` columns of text beside it, the id goes on a line of its own
    under its row, indented where that fits.
    """
    lines = [header, *rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header) - 1)]
    room = _LAST_COLUMN if width is None else width - sum(widths) - 2 * len(widths)
    if room >= _NARROWEST or width is None:
        return [
            "  ".join([*(cell.ljust(wide) for cell, wide in zip(line, widths, strict=False)),
                       _cut(line[-1], room)]).rstrip()
            for line in lines
        ]  # fmt: skip
    lead = widths[:-1]
    room = width - sum(lead) - 2 * len(lead)
    indent = "  " if widths[-1] + 2 <= width else ""
    text = []
    for line in lines:
        cells = [cell.ljust(wide) for cell, wide in zip(line, lead, strict=False)]
        text += ["  ".join([*cells, _cut(line[-1], room)]).rstrip(), indent + line[-2]]
    return text


class _Discard(io.StringIO):
    """A stream that drops everything: where progress goes under ``--quiet``."""

    def write(self, text: str) -> int:
        return len(text)


class Status:
    """A plain line per change: progress where the terminal's live display is not used.

    Use it as a context manager, like the live display
    (:class:`~sora2pro._cli._live.LiveStatus`) that takes its place on a terminal.
    """

    def __init__(self, stream: typing.TextIO) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._tenths = -1

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Nothing to end: each line is whole."""

    def update(self, task: Task) -> None:
        """Show a task's state and progress (a ``wait(on_update=...)`` callback)."""
        progress = "" if task.progress is None else f" {task.progress:3d}%"
        self._show(f"{task.raw_state}{progress}")

    def transfer(self, written: int, total: int | None) -> None:
        """Show a download's bytes (a ``download(on_progress=...)`` callback)."""
        # A log gets a line per tenth, not one per chunk; without a size, none.
        if total is None or 10 * written // max(total, 1) <= self._tenths:
            return
        self._tenths = 10 * written // max(total, 1)
        self._show(
            f"downloading {byte_size(written)} of {byte_size(total)} {100 * written // total:3d}%"
        )

    def _show(self, text: str) -> None:
        elapsed = int(time.monotonic() - self._started)
        self._stream.write(f"{text}  {elapsed // 60}:{elapsed % 60:02d}\n")
        self._stream.flush()


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

    def status(self, first: str, *, since_created: bool = False) -> Status | LiveStatus:
        """Progress of one task or download: live on a terminal, else plain lines.

        Args:
            first: What the live row says until the first update.
            since_created: Count the live clock from the task's ``createTime`` (a task
                that may have run for a while), not from now.

        """
        console = self._terminal()
        if console is None:
            return Status(self.progress_stream)
        from sora2pro._cli._live import LiveStatus  # noqa: PLC0415  # rich: the cli extra

        return LiveStatus(console, first, since_created=since_created)

    def batch_board(self, total: int) -> BatchBoard | None:
        """A batch's live display on a terminal; None where it gets plain lines."""
        console = self._terminal()
        if console is None:
            return None
        from sora2pro._cli._live import BatchBoard  # noqa: PLC0415  # rich: the cli extra

        return BatchBoard(console, total)

    def _terminal(self) -> Console | None:
        """The rich console on stderr, for human output on an interactive terminal.

        None under ``--json`` or ``--quiet``, on a pipe, or without rich (the library
        alone installed): then progress stays plain lines.
        """
        if self.json_mode or self.quiet:
            return None
        try:
            from sora2pro._cli._live import terminal  # noqa: PLC0415  # rich: the cli extra
        except ModuleNotFoundError:
            return None
        return terminal(self._stderr)

    def width(self) -> int | None:
        """The columns of the terminal human result lines go to; None off a terminal."""
        stream = self._stderr if self.json_mode else self._stdout
        try:
            return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else None
        except (OSError, ValueError):  # no descriptor (a test's capture), or closed
            return None

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

"""The live display on a terminal, drawn with rich: one task, one download, one batch.

rich comes with the ``cli`` extra; the library never imports this module, and
:class:`~sora2pro._cli._output.Output` imports it only when progress is to be shown
(not under ``--json`` or ``--quiet``), falling back to plain lines without it. Each
display is redrawn several times a second by rich's own thread, so its clock keeps
ticking between two polls, and every row is cut to the terminal's width (less
:data:`SPARE` columns) at each redraw, so that none ever wraps and leaves a cut-off
row behind.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
import typing

from rich.console import Console
from rich.live import Live
from rich.text import Text

from sora2pro import Finished, StateChanged, Submitted
from sora2pro._cli._units import byte_size, clock

if typing.TYPE_CHECKING:
    from types import TracebackType

    from rich.console import ConsoleOptions, RenderResult

    from sora2pro import BatchEvent, BatchResult, Task

__all__ = ["SPARE", "BatchBoard", "LiveStatus", "terminal"]

#: Columns left free at the end of each row: a terminal echoes ``^C`` there, and a
#: row that it pushed past the edge would wrap and throw the redraw off by one row.
SPARE = 2
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_REFRESH = 8  # redraws a second: the spinner turns, the clock ticks
_WIDEST_BAR = 40
_STATUS_STYLES = {"ok": "green", "failed": "red", "uncertain": "yellow"}


def terminal(stream: typing.TextIO) -> Console | None:
    """A rich console on ``stream`` when it is an interactive terminal, else None.

    A pipe, a file or ``TERM=dumb`` cannot be redrawn: those get plain lines, even
    where ``FORCE_COLOR`` would make rich treat them as a terminal.
    """
    console = Console(file=stream, highlight=False)
    return console if stream.isatty() and console.is_interactive else None


def _bar(share: float, width: int) -> Text:
    done = round(max(0.0, min(1.0, share)) * width)
    return Text.assemble(("━" * done, "magenta"), ("━" * (width - done), "bright_black"))


def _row(left: Text, share: float | None, right: str, width: int) -> Text:
    """``left``, a bar for ``share`` if there is room, ``right``: one row of ``width``.

    The bar takes the room left over; ``left`` is cut (with an ellipsis) before
    ``right``, which holds the numbers, so that the clock stays in sight.
    """
    room = width - left.cell_len - len(right) - 2
    line = left.copy()
    if share is not None and room >= 6:
        line.append(" ")
        line.append_text(_bar(share, min(room, _WIDEST_BAR)))
    elif line.cell_len + len(right) + 1 > width:
        line.truncate(max(1, width - len(right) - 1), overflow="ellipsis")
    line.append(" ")
    line.append(right, "cyan")
    line.truncate(width, overflow="ellipsis")
    line.no_wrap = True
    return line


def _spinner(outcome: bool | None) -> Text:
    """A turning spinner while running (``outcome`` None), then a mark of the outcome."""
    if outcome is None:
        return Text(_SPINNER[int(time.monotonic() * _REFRESH) % len(_SPINNER)], "bold")
    return Text("✔", "bold green") if outcome else Text("✘", "bold red")


class LiveStatus:
    """A task's state, progress and age, or a download's bytes, on one live row.

    Use it as a context manager: leaving it draws the last state and ends the row.
    The clock shows the task's own age: counted from its ``createTime`` (a task
    ``wait`` finds already running), or from when this display began (a task just
    submitted, a download).
    """

    def __init__(self, console: Console, first: str, *, since_created: bool = False) -> None:
        self._origin = None if since_created else time.monotonic()
        self._label = first
        self._share: float | None = None
        self._numbers = ""
        self._outcome: bool | None = None
        self._live = Live(self, console=console, refresh_per_second=_REFRESH)

    def __enter__(self) -> typing.Self:
        self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._outcome = exc is None
        self._live.stop()

    def update(self, task: Task) -> None:
        """Show a task's state and progress (a ``wait(on_update=...)`` callback)."""
        if self._origin is None:
            age = 0.0
            if task.created_at is not None:
                age = (dt.datetime.now(dt.UTC) - task.created_at).total_seconds()
            self._origin = time.monotonic() - max(0.0, age)
        self._label = task.raw_state
        self._share = None if task.progress is None else task.progress / 100
        self._numbers = "" if task.progress is None else f"{task.progress:3d}%"

    def transfer(self, written: int, total: int | None) -> None:
        """Show a download's bytes (a ``download(on_progress=...)`` callback)."""
        self._label = "downloading"
        if total is None:
            self._share, self._numbers = None, byte_size(written)
        else:
            self._share = written / max(total, 1)
            self._numbers = (
                f"{byte_size(written)} of {byte_size(total)} {100 * written // max(total, 1):3d}%"
            )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        age = "" if self._origin is None else clock(time.monotonic() - self._origin)
        left = Text.assemble(_spinner(self._outcome), " ", (self._label, "bold"))
        numbers = "  ".join(part for part in (self._numbers, age) if part)
        yield _row(left, self._share, numbers, options.max_width - SPARE)


class BatchBoard:
    """A batch as a bar, counts per state and outcome, rate and ETA: two live rows.

    It starts drawing at its first event, so notes printed before (the offline
    emulator's address) stay above it; :meth:`end` draws the last state and stops.
    """

    def __init__(self, console: Console, total: int) -> None:
        self.total = total
        self._started = time.monotonic()
        self._states: dict[int | None, str] = {}  # a batch's events always name the item
        self._outcomes: collections.Counter[str] = collections.Counter()
        self._live = Live(self, console=console, refresh_per_second=_REFRESH)
        self._ended = False

    def on_event(self, event: BatchEvent) -> None:
        """Follow an item's state (a ``batch(on_event=...)`` callback)."""
        if isinstance(event, Submitted):
            self._states[event.index] = "submitted"
        elif isinstance(event, StateChanged):
            self._states[event.index] = event.task.raw_state
        elif isinstance(event, Finished):
            self._states.pop(event.index, None)
        self._draw()

    def finished(self, _result: BatchResult, status: str, _detail: str) -> None:
        """Count an item's outcome: ``ok``, ``failed`` or ``uncertain``."""
        self._outcomes[status] += 1
        self._draw()

    def end(self) -> None:
        """Draw the last state and stop; again is harmless."""
        self._ended = True
        self._live.stop()

    def _draw(self) -> None:
        if not self._ended:
            self._live.start(refresh=True)  # at once the first time, then nothing

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width - SPARE
        done = sum(self._outcomes.values())
        elapsed = time.monotonic() - self._started
        pace = ""
        if done:
            rate = done / max(elapsed, 1e-3)
            pace = f"{rate * 60:.1f}/min ETA {clock((self.total - done) / rate)}  "
        numbers = f"{done}/{self.total}  {pace}{clock(elapsed)}"
        outcome = None if not self._ended else done == self.total
        yield _row(_spinner(outcome), done / self.total, numbers, width)
        yield self._counts(width)

    def _counts(self, width: int) -> Text:
        """Outcomes so far, then items per state, then those not sent yet."""
        parts = [(f"{status} {count}", _STATUS_STYLES[status])
                 for status, count in sorted(self._outcomes.items())]  # fmt: skip
        running = collections.Counter(self._states.values())
        parts += [(f"{count} {state}", "") for state, count in sorted(running.items())]
        waiting = self.total - sum(self._outcomes.values()) - len(self._states)
        if waiting > 0:
            parts.append((f"{waiting} to send", "bright_black"))
        line = Text(" · ").join(Text(text, style) for text, style in parts)
        line.truncate(width, overflow="ellipsis")
        line.no_wrap = True
        return line

"""The live display in a real pseudo-terminal, read back through a terminal emulator."""

from __future__ import annotations

import asyncio
import typing

import sora2pro
from sora2pro.testing import Endpoint

from .terminal import FAST_POLLS, RARE_POLLS, Terminal, clock_of

if typing.TYPE_CHECKING:
    import pathlib

    from sora2pro.testing import Emulator

INTERRUPTED = "sora2pro: error: interrupted"


def submit(served: Emulator, *prompts: str) -> list[str]:
    """Create tasks on the served emulator, as an earlier run would have."""

    async def create() -> list[str]:
        async with sora2pro.Client(served.api_key, base_url=served.url) as client:
            return [await client.submit(prompt) for prompt in prompts]

    return asyncio.run(create())


def on_loop(loop: asyncio.AbstractEventLoop, change: typing.Callable[[], None]) -> None:
    """Change the emulator from its own loop's thread."""

    async def run() -> None:
        change()

    asyncio.run_coroutine_threadsafe(run(), loop).result(5)


def status_rows(terminal: Terminal, word: str) -> list[str]:
    """The rows that show ``word`` and end with a clock: the live status rows."""
    return [row for row in terminal.rows() if word in row and clock_of(row) is not None]


def shown_age(terminal: Terminal) -> int:
    """The clock of the one live row of a generating task; -1 while there is none."""
    rows = status_rows(terminal, "generating")
    return (clock_of(rows[0]) or -1) if len(rows) == 1 else -1


def test_wait_shows_the_tasks_own_age_ticking_between_polls(
    served: Emulator, emulator_loop: asyncio.AbstractEventLoop
) -> None:
    """Wait's clock starts at the task's age, not 0:00, and ticks with no poll between."""
    served.duration = None
    (task_id,) = submit(served, "a dog")

    def age_it() -> None:
        served.tasks[task_id].created_ms -= 125_000  # created 2:05 ago
        served.force_state(task_id, "generating", 40)

    on_loop(emulator_loop, age_it)
    with Terminal(["wait", task_id], columns=50, poll=RARE_POLLS) as terminal:
        terminal.until(lambda t: len(status_rows(t, "generating")) == 1)
        polls = served.count(Endpoint.RECORD_INFO)
        (first,) = status_rows(terminal, "generating")
        age = clock_of(first)
        assert age is not None
        assert 125 <= age < 125 + 15, first
        assert "40%" in first
        terminal.until(lambda t: shown_age(t) >= age + 2)
        assert polls == served.count(Endpoint.RECORD_INFO)  # the clock moved on its own
        terminal.press(b"\x03")
        assert 130 == terminal.wait()
    rows = [row for row in terminal.rows() if row]
    assert 1 == len(status_rows(terminal, "generating")), terminal.text()
    where = rows.index(INTERRUPTED)
    assert "generating" in rows[where - 1]
    assert rows[where + 1].startswith("sora2pro: the task id is")


def test_batch_on_a_narrow_terminal_redraws_in_place(
    served: Emulator, emulator_loop: asyncio.AbstractEventLoop, tmp_path: pathlib.Path
) -> None:
    """At 50 columns the batch's bar, counts, rate and ETA redraw without cut-off rows."""
    served.duration = None
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"a dog number {n} running in a garden" for n in range(4)))
    argv = ["batch", str(prompts), "--journal", str(tmp_path / "run.sqlite")]
    with Terminal(argv, columns=50, poll=FAST_POLLS) as terminal:
        terminal.until(lambda t: any("4 waiting" in row for row in t.rows()))
        assert 1 == sum("0/4" in row for row in terminal.rows()), terminal.text()
        first, second = sorted(served.tasks)[:2]
        on_loop(emulator_loop, lambda: (served.finish(first), served.finish(second)))
        terminal.until(lambda t: any(row.startswith("ok 2 · 2 waiting") for row in t.rows()))
        (bar,) = [row for row in terminal.rows() if "2/4" in row]
        assert "━" in bar
        assert "/min ETA" in bar
        for task_id in sorted(served.tasks)[2:]:
            on_loop(emulator_loop, lambda task_id=task_id: served.finish(task_id))
        assert 0 == terminal.wait()
    rows = terminal.rows()
    text = terminal.text()
    assert 1 == sum("/4" in row for row in rows), text  # one bar: no row left behind
    assert 1 == rows.count("ok 4"), text
    assert not any("waiting" in row for row in rows), text
    for task_id in served.tasks:  # each id whole on one row of the summary
        assert any(task_id in row for row in rows), text


def test_ctrl_c_in_a_batch_prints_its_message_on_its_own_line(
    served: Emulator, tmp_path: pathlib.Path
) -> None:
    """Ctrl-C ends the live rows; the resume note and the error start rows of their own."""
    served.duration = None
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a dog\na cat\na bird\n")
    argv = ["batch", str(prompts), "--journal", str(tmp_path / "run.sqlite")]
    with Terminal(argv, columns=50, poll=FAST_POLLS) as terminal:
        terminal.until(lambda t: any("3 waiting" in row for row in t.rows()))
        terminal.press(b"\x03")
        assert 130 == terminal.wait()
    rows = [row for row in terminal.rows() if row]
    stopped = next(n for n, row in enumerate(rows) if row.startswith("stopped after 0 of 3"))
    assert "3 waiting" in rows[stopped - 1], terminal.text()
    assert INTERRUPTED == rows[-1], terminal.text()
    assert 1 == sum("0/3" in row for row in rows), terminal.text()


def test_generate_on_a_terminal_shows_each_step_once(
    served: Emulator, tmp_path: pathlib.Path
) -> None:
    """Generate's task row and download row each end as one whole row among the results."""
    video = tmp_path / "dog.mp4"
    served.duration = 0.3
    with Terminal(["generate", "a dog", "-o", str(video)], columns=50, poll=FAST_POLLS) as terminal:
        assert 0 == terminal.wait()
    rows = [row for row in terminal.rows() if row]
    text = terminal.text()
    assert rows[0].startswith("task ")
    assert 1 == len(status_rows(terminal, "success")), text
    (download,) = status_rows(terminal, "downloading")
    assert "100%" in download
    assert "".join(rows).endswith(f"saved {video}"), text
    assert video.exists()

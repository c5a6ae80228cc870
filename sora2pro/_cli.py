"""The ``sora2pro`` command line.

Exit codes: 0 success, 1 the task failed, 2 usage error, 3 API error, 4 timeout,
5 uncertain submit, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
import typing

from sora2pro._cli_batch import add_batch_parser, run_batch_command
from sora2pro._cli_common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_request_options,
    exit_code,
    open_client,
    request_options,
)
from sora2pro._errors import (
    Sora2ProError,
)
from sora2pro._requests import TextToVideo
from sora2pro._version import VERSION

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from sora2pro._models import Task

__all__ = ["main"]

_EPILOG = """\
environment:
  APIKLEY_API_KEY    the API key (not needed with --offline)
  APIKLEY_BASE_URL   the API address (default https://api.apikley.ru)

exit status:
  0 success, 1 the task failed, 2 usage error, 3 API error (auth, credits,
  validation, server), 4 timeout, 5 uncertain submit (the task may exist),
  130 interrupted
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sora2pro",
        description="Generate videos with the Apikley Sora 2 Pro text-to-video API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sora2pro {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate",
        help="generate a video from a prompt and wait for it",
        description="Submit a prompt, show its progress, print the task id at once and the "
        "video URL(s) at the end; save the video with --output.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("prompt", help="what the video shows (1 to 10,000 characters)")
    generate.add_argument("--output", "-o", metavar="FILE", help="save the video to FILE")
    add_request_options(generate)
    add_batch_parser(commands, _EPILOG)

    emulator = commands.add_parser(
        "emulator",
        help="run the API emulator, to test your own app offline",
        description="Serve an emulator of the API until interrupted. Point your app at "
        "the printed APIKLEY_BASE_URL with the printed APIKLEY_API_KEY.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    emulator.add_argument(
        "--duration", type=float, default=30.0, help="seconds a task takes (default 30)"
    )
    emulator.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of tasks that fail (default 0)"
    )
    return parser


class _Status:
    """One live status line on a terminal, or a plain line per change elsewhere."""

    def __init__(self, stream: typing.TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._started = time.monotonic()

    def update(self, task: Task) -> None:
        elapsed = int(time.monotonic() - self._started)
        progress = "" if task.progress is None else f" {task.progress:3d}%"
        line = f"{task.raw_state}{progress}  {elapsed // 60}:{elapsed % 60:02d}"
        if self._live:
            self._stream.write(f"\r\x1b[K{line}")
        else:
            self._stream.write(f"{line}\n")
        self._stream.flush()

    def end(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


async def _generate(args: argparse.Namespace) -> int:
    request = TextToVideo(args.prompt, **request_options(args))
    async with open_client(args.offline) as client:
        task_id = await client.submit(request)
        print(f"task {task_id}", flush=True)
        status = _Status(sys.stderr)
        try:
            task = await client.wait(task_id, timeout=args.timeout, on_update=status.update)
        finally:
            status.end()
        for url in task.result_urls:
            print(f"video {url}")
        if args.output:
            path = await client.download(task, args.output, overwrite=True)
            print(f"saved {path}")
    return EXIT_OK


async def _emulate(args: argparse.Namespace) -> int:
    from sora2pro.testing import Emulator  # noqa: PLC0415  # needs the cli extra

    async with Emulator(
        host=args.host, port=args.port, duration=args.duration, fail_rate=args.fail_rate
    ) as emulator:
        print(f"sora2pro emulator listening on {emulator.url} (Ctrl-C stops it)")
        print(f"export APIKLEY_BASE_URL={emulator.url} APIKLEY_API_KEY={emulator.api_key}")
        sys.stdout.flush()
        await asyncio.Event().wait()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    commands = {"generate": _generate, "batch": run_batch_command, "emulator": _emulate}
    command = commands[args.command]
    try:
        return asyncio.run(command(args))
    except Sora2ProError as error:
        print(f"sora2pro: error: {error}", file=sys.stderr)
        if error.task_id is not None:
            print(f"sora2pro: the task id is {error.task_id}", file=sys.stderr)
        return exit_code(error)
    except (ImportError, OSError, sqlite3.Error) as error:
        # A missing extra, a busy port, a path that cannot be written, a broken journal.
        print(f"sora2pro: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nsora2pro: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

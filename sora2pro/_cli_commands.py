"""The ``generate`` and ``emulator`` sub-commands.

Each is a ``run`` coroutine plus a :class:`Command` entry; ``_cli`` lists the entries.
"""

from __future__ import annotations

import asyncio
import typing

from sora2pro._cli_common import (
    EXIT_OK,
    Command,
    add_offline_option,
    add_request_options,
    add_timeout_option,
    open_client,
    request_options,
)
from sora2pro._cli_output import task_document
from sora2pro._config import DEFAULT_WAIT_TIMEOUT
from sora2pro._models import TextToVideo

if typing.TYPE_CHECKING:
    import argparse

    from sora2pro._cli_output import Output
    from sora2pro._client import Client
    from sora2pro._models import Task

__all__ = ["EMULATOR", "GENERATE"]

_TASK_FIELDS = (
    "the task, with id, model, state, raw_state, progress, result_urls, watermark_urls, "
    "fail_code, fail_message, created_at, updated_at, completed_at (ISO 8601) and "
    "request (the request the server echoed back, or null)"
)


def _json_note(result: str) -> tuple[str, str]:
    return (
        "output",
        f"With --json, stdout holds one JSON object, {result}. On an error it holds "
        "{error, message, task_id, task, exit_code} instead, where task is the task's "
        "last snapshot when the error has one. Usage errors in the command line itself "
        "are reported on stderr only. Human lines go to stderr; --quiet drops all but "
        "errors there.",
    )


async def _save(client: Client, out: Output, task: Task, path: str, **options: typing.Any) -> str:
    """Download a task's video with byte progress; the path written."""
    with out.status() as status:
        saved = await client.download(task, path, on_progress=status.transfer, **options)
    out.line(f"saved {saved}")
    return str(saved)


async def _generate(args: argparse.Namespace, out: Output) -> int:
    request = TextToVideo(args.prompt, **request_options(args))
    async with open_client(args.offline, out) as client:
        task_id = await client.submit(request)
        out.task_id = task_id
        out.line(f"task {task_id}")
        with out.status() as status:
            task = await client.wait(task_id, timeout=args.timeout, on_update=status.update)
        for url in task.result_urls:
            out.line(f"video {url}")
        document = task_document(task)
        if args.output:
            document["saved"] = await _save(client, out, task, args.output, overwrite=True)
    out.document(document)
    return EXIT_OK


def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what the video shows (1 to 10,000 characters)")
    parser.add_argument("--output", "-o", metavar="FILE", help="save the video to FILE")
    add_request_options(parser)
    add_timeout_option(parser, DEFAULT_WAIT_TIMEOUT, "waiting for the task (it keeps running)")
    add_offline_option(parser)


GENERATE = Command(
    name="generate",
    summary="generate a video from a prompt and wait for it",
    description="Submit a prompt, print the task id at once, show the task's progress, "
    "and print the video URL(s) at the end; save the video with --output (an existing "
    "FILE is replaced). If you stop waiting, 'sora2pro wait TASK_ID' picks up again.",
    exits=(
        (0, "the video is ready (and saved, with --output)"),
        (1, "the task failed"),
        (2, "usage error: a bad option or prompt; nothing was sent"),
        (3, "API error: key, credits, validation, server, or a failed download"),
        (4, "timeout: the task keeps running; 'sora2pro wait TASK_ID' goes on"),
        (5, "uncertain submit: the task may exist (and be billed); do not resend blindly"),
        (130, "interrupted"),
    ),
    notes=(_json_note(f"{_TASK_FIELDS}, and saved (the path) with --output"),),
    arguments=_generate_arguments,
    run=_generate,
)


async def _emulate(args: argparse.Namespace, out: Output) -> int:
    from sora2pro.testing import Emulator  # noqa: PLC0415  # needs the cli extra

    async with Emulator(
        host=args.host, port=args.port, duration=args.duration, fail_rate=args.fail_rate
    ) as emulator:
        out.line(f"sora2pro emulator listening on {emulator.url} (Ctrl-C stops it)")
        out.line(f"export APIKLEY_BASE_URL={emulator.url} APIKLEY_API_KEY={emulator.api_key}")
        await asyncio.Event().wait()
    return EXIT_OK


def _emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds a task takes (default 30)"
    )
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of tasks that fail (default 0)"
    )


EMULATOR = Command(
    name="emulator",
    summary="run the API emulator, to test your own app offline",
    description="Serve an emulator of the API until interrupted. Point your app, or "
    "the other sub-commands, at the printed APIKLEY_BASE_URL with the printed "
    "APIKLEY_API_KEY. Its tasks live as long as it runs.",
    exits=(
        (2, "the port is busy, or the cli extra is not installed"),
        (130, "interrupted: the normal way to stop it"),
    ),
    arguments=_emulator_arguments,
    run=_emulate,
    output=False,
    environment=False,
)

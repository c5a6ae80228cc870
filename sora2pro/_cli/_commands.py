"""The sub-commands about one task, the account, and the emulator.

Each is a ``run`` coroutine plus a :class:`Command` entry; ``_cli`` lists the entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import signal
import typing

from sora2pro import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    ImageToVideo,
    InvalidInputError,
    Job,
    Request,
    TaskFailedError,
    TaskState,
    TextToVideo,
)
from sora2pro._cli._common import (
    EXIT_API_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TASK_FAILED,
    Command,
    add_offline_option,
    add_request_options,
    add_timeout_option,
    check_output,
    json_note,
    open_client,
    refuse_offline_option,
    request_options,
    submit_and_wait,
    whole_number,
)
from sora2pro._cli._jobs import add_job_options, job_of, result_lines
from sora2pro._cli._output import describe, task_document

if typing.TYPE_CHECKING:
    import argparse

    from sora2pro import Client, Task
    from sora2pro._cli._output import Output

__all__ = ["CREDITS", "DOWNLOAD", "EMULATOR", "GENERATE", "STATUS", "WAIT"]

_TASK_FIELDS = (
    "the task, with id, model, state, raw_state, progress, result_urls, watermark_urls, "
    "fail_code, fail_message, created_at, updated_at, completed_at (ISO 8601), "
    "cost_time (seconds) and credits_consumed (when the server tells), "
    "character_id (for a characters task), result_object (the decoded resultJson) and "
    "request (the request the server echoed back, or null)"
)
_OFFLINE_NOTE = (
    "offline",
    "There is no --offline here: the built-in emulator starts empty in every run, so it "
    "knows no task of another run. To try this command offline, run 'sora2pro emulator' "
    "in another terminal and export what it prints.",
)


def _task_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="the task id generate printed")


async def _save(client: Client, out: Output, task: Task, path: str, **options: typing.Any) -> str:
    """Download a task's video with byte progress; the path written."""
    with out.status("downloading") as status:
        saved = await client.download(task, path, on_progress=status.transfer, **options)
    out.line(f"saved {saved}")
    return str(saved)


async def _generate(args: argparse.Namespace, out: Output) -> int:
    request: Request | None = job_of(args)
    if request is None and args.image is None:
        request = TextToVideo(args.prompt, **request_options(args))
    elif request is None:
        request = ImageToVideo(args.prompt, image=args.image, **request_options(args))
    if args.output:
        check_output(args.output, overwrite=args.overwrite)
    async with open_client(args.offline, out) as client:
        task = await submit_and_wait(client, out, request, args.timeout)
        videos = [f"video {url}" for url in task.result_urls]
        for line in result_lines(task) if isinstance(request, Job) else videos:
            out.line(line)
        document = task_document(task)
        if args.output and not task.result_urls:
            out.note(f"nothing to save to {args.output}: the task's result has no file")
            out.document(document)
            return EXIT_API_ERROR
        if args.output:
            saved = await _save(client, out, task, args.output, overwrite=args.overwrite)
            document["saved"] = saved
    out.document(document)
    return EXIT_OK


def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="what the video shows (1 to 10,000 characters)")
    parser.add_argument("--output", "-o", metavar="FILE", help="save the video to FILE")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace FILE if it exists (else exit 2)"
    )
    parser.add_argument(
        "--image",
        metavar="FILE|URL",
        help="start from this image (image-to-video): a JPEG, PNG or WebP file of at most "
        "10 MB, uploaded first, or its URL",
    )
    add_request_options(parser)
    parser.set_defaults(aspect_ratio=None, frames=None)  # unset: the model's own default
    add_job_options(parser)
    add_timeout_option(parser, DEFAULT_WAIT_TIMEOUT, "waiting for the task (it keeps running)")
    add_offline_option(parser)


GENERATE = Command(
    name="generate",
    summary="generate a video from a prompt (and an image) and wait for it",
    description="Submit a prompt, or with --image a prompt and a first frame, print the "
    "task id at once, show the task's progress, "
    "and print the video URL(s) at the end; save the video with --output (an existing "
    "FILE is kept unless --overwrite says otherwise). Every option is checked before "
    "anything is sent. If you stop waiting, 'sora2pro wait TASK_ID' picks up again. "
    "With --model, any model of the jobs API: its input fields come from --input (a "
    "JSON object) and go out as they are; the result's URLs (or the result itself, "
    "when it has none) are printed as 'result' lines.",
    exits=(
        (0, "the video is ready (and saved, with --output)"),
        (1, "the task failed"),
        (
            2,
            "usage error: a bad option, prompt, image or --input, or a FILE that exists or "
            "cannot be written; nothing was sent",
        ),
        (
            3,
            "API error: key, credits, validation, server, or a failed download (or, "
            "with --output, a result that has no file)",
        ),
        (4, "timeout: the task keeps running; 'sora2pro wait TASK_ID' goes on"),
        (5, "uncertain submit: the task may exist (and be billed); do not resend blindly"),
        (130, "interrupted"),
    ),
    notes=(json_note(f"{_TASK_FIELDS}, and saved (the path) with --output"),),
    arguments=_generate_arguments,
    run=_generate,
)


async def _status(args: argparse.Namespace, out: Output) -> int:
    out.task_id = args.task_id
    async with open_client(False, out) as client:
        task = await client.get_task(args.task_id)
    for line in describe(task):
        out.line(line)
    out.document(task_document(task))
    return EXIT_TASK_FAILED if task.state is TaskState.FAIL else EXIT_OK


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    _task_argument(parser)
    refuse_offline_option(parser)


STATUS = Command(
    name="status",
    summary="show a task's state once, without waiting",
    description="Fetch a task once and print its id, state, progress while it runs, "
    "video URL(s) once it succeeded, or the reason it failed. The exit status says "
    "whether it failed: 0 for a task that is running or succeeded, 1 for a failed one.",
    exits=(
        (0, "the task is waiting, running, or succeeded (read the state line)"),
        (1, "the task failed"),
        (2, "usage error"),
        (3, "API error: key, unknown task, server"),
        (4, "timeout: no answer in time"),
        (130, "interrupted"),
    ),
    notes=(json_note(_TASK_FIELDS), _OFFLINE_NOTE),
    arguments=_status_arguments,
    run=_status,
)


async def _wait(args: argparse.Namespace, out: Output) -> int:
    out.task_id = args.task_id
    async with open_client(False, out) as client:
        with out.status("asking for the task", since_created=True) as status:
            task = await client.wait(args.task_id, timeout=args.timeout, on_update=status.update)
    for line in describe(task):
        out.line(line)
    out.document(task_document(task))
    return EXIT_OK


def _wait_arguments(parser: argparse.ArgumentParser) -> None:
    _task_argument(parser)
    add_timeout_option(parser, DEFAULT_WAIT_TIMEOUT, "waiting (the task keeps running)")
    refuse_offline_option(parser)


WAIT = Command(
    name="wait",
    summary="wait for a task to end",
    description="Poll a task until it ends, showing its progress, then print its "
    "state and video URL(s).",
    exits=(
        (0, "the task succeeded"),
        (1, "the task failed"),
        (2, "usage error"),
        (3, "API error: key, unknown task, server"),
        (4, "timeout: the task keeps running; wait again"),
        (130, "interrupted"),
    ),
    notes=(json_note(_TASK_FIELDS), _OFFLINE_NOTE),
    arguments=_wait_arguments,
    run=_wait,
)


async def _download(args: argparse.Namespace, out: Output) -> int:
    out.task_id = args.task_id
    path = args.output or f"{args.task_id}.mp4"
    if args.output is None and pathlib.PurePath(path).name != path:
        raise InvalidInputError("--output", f"{args.task_id!r} is no file name; name the file")
    check_output(path, overwrite=args.overwrite)
    async with open_client(False, out) as client:
        task = await client.get_task(args.task_id)
        if task.state is TaskState.FAIL:
            raise TaskFailedError(task)
        if not task.done:
            raise InvalidInputError(
                "task",
                f"task {task.id} is {task.raw_state}, not finished: "
                f"run 'sora2pro wait {task.id}' first",
            )
        options = {"index": args.index, "watermark": args.watermark, "timeout": args.timeout}
        saved = await _save(client, out, task, path, overwrite=args.overwrite, **options)
    out.document(task_document(task) | {"saved": saved})
    return EXIT_OK


def _download_arguments(parser: argparse.ArgumentParser) -> None:
    _task_argument(parser)
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="the file to write (default TASK_ID.mp4, here)"
    )
    parser.add_argument(
        "--index",
        type=whole_number(0),
        default=0,
        metavar="N",
        help="which of the task's videos, counting from 0 (default 0)",
    )
    parser.add_argument("--watermark", action="store_true", help="fetch the watermarked copy")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    add_timeout_option(parser, DEFAULT_DOWNLOAD_TIMEOUT, "the download")
    refuse_offline_option(parser)


DOWNLOAD = Command(
    name="download",
    summary="save a finished task's video to a file",
    description="Save the video of a task that succeeded, showing the bytes as they "
    "arrive. The file appears whole or not at all, and an existing file is kept "
    "unless --overwrite says otherwise. An expired result URL is swapped for a "
    "fresh link.",
    exits=(
        (0, "the video is saved"),
        (1, "the task failed: there is no video"),
        (2, "usage error: FILE exists or cannot be written, the task has not finished, no video N"),
        (3, "API error: key, unknown task, server, or the download failed"),
        (4, "timeout: the download took longer than --timeout"),
        (130, "interrupted (no partial file is left)"),
    ),
    notes=(json_note(f"{_TASK_FIELDS}, and saved (the path written)"), _OFFLINE_NOTE),
    arguments=_download_arguments,
    run=_download,
)


async def _credits(args: argparse.Namespace, out: Output) -> int:
    async with open_client(args.offline, out) as client:
        credits = await client.credits()
    shown = int(credits) if credits.is_integer() else credits
    out.line(f"credits {shown}")
    out.document({"credits": shown})
    return EXIT_OK


CREDITS = Command(
    name="credits",
    summary="show the account's remaining credits",
    description="Print the credits left on the account the API key belongs to.",
    exits=(
        (0, "success"),
        (2, "usage error"),
        (3, "API error: key, server"),
        (4, "timeout: no answer in time"),
        (130, "interrupted"),
    ),
    notes=(json_note('{"credits": N}'),),
    arguments=add_offline_option,
    run=_credits,
)


async def _emulate(args: argparse.Namespace, out: Output) -> int:
    from sora2pro.testing import Emulator  # noqa: PLC0415  # needs the cli extra

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C interrupts instead
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)  # the normal way to stop it
    if args.log_requests and not args.verbose:  # --verbose's handler shows them already
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logging.getLogger("sora2pro.testing").addHandler(handler)
        logging.getLogger("sora2pro.testing").setLevel(logging.INFO)
    async with Emulator(
        host=args.host,
        port=args.port,
        duration=args.duration,
        fail_rate=args.fail_rate,
        log_requests=args.log_requests,
    ) as emulator:
        out.line(f"sora2pro emulator listening on {emulator.url} (Ctrl-C stops it)")
        out.line(f"export APIKLEY_BASE_URL={emulator.url} APIKLEY_API_KEY={emulator.api_key}")
        await stop.wait()
    out.note("sora2pro emulator stopped")
    return EXIT_INTERRUPTED


def _emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds a task takes (default 30)"
    )
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of tasks that fail (default 0)"
    )
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="log each request on stderr: method, path, status (never the key)",
    )


EMULATOR = Command(
    name="emulator",
    summary="run the API emulator, to test your own app offline",
    description="Serve an emulator of the API until interrupted. Point your app, or "
    "the other sub-commands, at the printed APIKLEY_BASE_URL with the printed "
    "APIKLEY_API_KEY. Its tasks live as long as it runs.",
    exits=(
        (2, "the port is busy, or the cli extra is not installed"),
        (130, "stopped by Ctrl-C (or SIGTERM): the normal way to stop it"),
    ),
    arguments=_emulator_arguments,
    run=_emulate,
    output=False,
    environment=False,
)

"""``sora2pro batch``: a video for every prompt of a file, resumable after a crash."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import pathlib
import sys
import typing

from sora2pro import (
    DEFAULT_CONCURRENCY,
    DEFAULT_WAIT_TIMEOUT,
    BatchEvent,
    BatchItem,
    DownloadError,
    InvalidInputError,
    TextToVideo,
    to_request,
)
from sora2pro._cli._common import (
    EXIT_API_ERROR,
    EXIT_OK,
    EXIT_TASK_FAILED,
    EXIT_TIMEOUT,
    EXIT_UNCERTAIN,
    Command,
    add_offline_option,
    add_request_options,
    add_timeout_option,
    exit_code,
    open_client,
    request_options,
    whole_number,
)
from sora2pro._cli._output import table

if typing.TYPE_CHECKING:
    from sora2pro import BatchResult, Client
    from sora2pro._cli._output import Output

__all__ = ["BATCH", "read_requests"]

_JSONL = {".jsonl", ".ndjson"}
# The worst outcome of a batch decides its exit status.
_SEVERITY = (EXIT_OK, EXIT_TASK_FAILED, EXIT_API_ERROR, EXIT_TIMEOUT, EXIT_UNCERTAIN)
_STATUSES = ("ok", "failed", "uncertain")


def _batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        help="one prompt a line (blank lines are skipped), or with a .jsonl name one "
        "request object a line (prompt, aspect_ratio, n_frames, size, ...)",
    )
    parser.add_argument(
        "--concurrency",
        type=whole_number(1),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"tasks in flight at most (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--out", metavar="DIR", help="download each finished video into DIR")
    parser.add_argument(
        "--journal",
        metavar="FILE",
        help="the journal (default: DIR.journal.sqlite beside --out, else "
        "FILE.journal.sqlite; none with --offline)",
    )
    parser.add_argument(
        "--resubmit-uncertain",
        action="store_true",
        help="send again the requests whose answer an earlier run lost (they may be billed)",
    )
    add_request_options(parser)
    add_timeout_option(parser, DEFAULT_WAIT_TIMEOUT, "waiting for each task (it keeps running)")
    add_offline_option(parser)


def read_requests(path: pathlib.Path, defaults: dict[str, typing.Any]) -> list[BatchItem]:
    """Every request of the file, or an error naming every bad line.

    A JSON line with an ``idempotency_key`` stays a mapping, so that the key goes
    with it to the batch.

    Raises:
        InvalidInputError: a line is not a valid request; nothing is sent.
        OSError: the file cannot be read.

    """
    requests: list[BatchItem] = []
    problems: list[str] = []
    jsonl = path.suffix.lower() in _JSONL
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            if jsonl:
                fields = json.loads(line)
                if not isinstance(fields, dict):
                    raise InvalidInputError("line", "must be a JSON object")
                item = defaults | fields
                request = to_request(item)
                requests.append(item if "idempotency_key" in item else request)
            else:
                requests.append(TextToVideo(line, **defaults))
        except (InvalidInputError, ValueError, TypeError) as error:
            problems.append(f"line {number}: {error}")
    if problems:
        raise InvalidInputError(str(path), "\n  ".join(["", *problems]))
    if not requests:
        raise InvalidInputError(str(path), "has no prompts")
    return requests


class _Progress:
    """A plain line per finished item: a batch's progress off a terminal."""

    def __init__(self, total: int, stream: typing.TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0

    def on_event(self, event: BatchEvent) -> None:
        """Nothing to show before an item ends."""

    def finished(self, result: BatchResult, status: str, detail: str) -> None:
        self.done += 1
        task_id = result.task_id or "-"
        self.stream.write(f"[{self.done}/{self.total}] #{result.index + 1} {status} {task_id}")
        self.stream.write(f" {detail}\n" if detail else "\n")
        self.stream.flush()

    def end(self) -> None:
        """Nothing to end: each line is whole."""


def _journal_path(args: argparse.Namespace) -> pathlib.Path | None:
    if args.journal:
        return pathlib.Path(args.journal)
    if args.offline:
        return None  # the emulator's tasks do not outlive the run
    base = pathlib.Path(args.out or args.file).resolve()  # "." has no name to extend
    return base.with_name(f"{base.name}.journal.sqlite")


def _videos_folder(out: str) -> pathlib.Path:
    """``--out``, made if missing; refused if it is not a directory one can write in."""
    folder = pathlib.Path(out)
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError("--out", f"{folder} is not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError("--out", f"cannot write in {folder}")
    return folder


def _status(result: BatchResult) -> str:
    if result.ok:
        return "ok"
    return "uncertain" if result.uncertain else "failed"


async def _save(client: Client, result: BatchResult, out: pathlib.Path | None) -> tuple[str, bool]:
    """Download a succeeded task's video under a stable name: the path or why not, and success.

    A failed or unfinished task has no video to save: its row tells why.
    """
    if out is None or result.task is None or not result.ok:
        return "", True
    path = out / f"{result.index + 1:04d}-{result.task.id}.mp4"
    if not path.exists():  # one stat per finished video
        try:
            await client.download(result.task, path)
        except DownloadError as error:
            return f"download failed (rerun to retry): {error}", False
    return str(path), True


def _summary(out: Output, rows: list[tuple[int, str, str | None, str]]) -> None:
    """The table of every item, numbered as in ``--json``; then the totals and the document."""
    cells = [
        [str(index), status, task_id or "-", detail]
        for index, status, task_id, detail in sorted(rows)
    ]
    for line in table(["index", "status", "task id", "detail"], cells, out.width()):
        out.line(line)
    totals = collections.Counter(status for _, status, _, _ in rows)
    out.line(", ".join(f"{status} {totals[status]}" for status in _STATUSES))
    results = [
        {"index": index, "status": status, "task_id": task_id, "detail": detail}
        for index, status, task_id, detail in sorted(rows)
    ]
    out.document({"results": results} | {status: totals[status] for status in _STATUSES})


async def _run_batch(args: argparse.Namespace, out: Output) -> int:
    """Run ``sora2pro batch``; the exit status is the worst outcome."""
    options = typing.cast("dict[str, typing.Any]", request_options(args))
    requests = read_requests(pathlib.Path(args.file), options)
    videos = None if args.out is None else _videos_folder(args.out)
    journal = _journal_path(args)
    progress = out.batch_board(len(requests)) or _Progress(len(requests), out.progress_stream)
    rows: list[tuple[int, str, str | None, str]] = []
    codes = [EXIT_OK]
    async with open_client(args.offline, out) as client:
        batch = client.batch(
            requests,
            concurrency=args.concurrency,
            timeout=args.timeout,
            on_event=progress.on_event,
            journal=journal,
            resubmit_uncertain=args.resubmit_uncertain,
        )
        try:
            async with contextlib.aclosing(batch) as results:
                async for result in results:
                    detail, saved = await _save(client, result, videos)
                    if not result.ok:
                        detail = str(result.error)
                    codes.append(exit_code(result.error) if saved else EXIT_TASK_FAILED)
                    status = _status(result)
                    progress.finished(result, status, detail)
                    rows.append((result.index, status, result.task_id, detail))
        except asyncio.CancelledError:
            progress.end()
            where = f" (journal: {journal})" if journal else ""
            print(f"stopped after {len(rows)} of {len(requests)}; run the same command "
                  f"again to resume{where}", file=sys.stderr)  # fmt: skip
            raise
        finally:
            progress.end()  # before any error is reported below the display
    _summary(out, rows)
    return max(codes, key=_SEVERITY.index)


BATCH = Command(
    name="batch",
    summary="generate a video for every prompt of a file",
    description="Generate a video for every prompt of FILE within the account's rate "
    "limits, download each into --out, and print a summary. A task that fails is a "
    "failed row; the others go on. A journal records every "
    "request: run the same command again after a crash or Ctrl-C and it resumes "
    "without paying twice.",
    exits=(
        (0, "every video is ready (and saved, with --out)"),
        (1, "a task failed, or a video could not be saved"),
        (2, "usage error: a bad option or line; nothing was sent"),
        (3, "API error: key, credits, validation, server"),
        (4, "timeout: a task keeps running; rerun to wait again"),
        (5, "uncertain submit: a task may exist; see --resubmit-uncertain"),
        (130, "interrupted: rerun the same command to resume"),
    ),
    notes=(
        (
            "output",
            "The worst outcome decides the exit status. With --json, stdout holds one "
            "JSON object: {results: [{index, status, task_id, detail}], ok, failed, "
            "uncertain}, where index counts from 0 and detail is the saved path or "
            "the error. The summary table then goes to stderr.",
        ),
    ),
    arguments=_batch_arguments,
    run=_run_batch,
)

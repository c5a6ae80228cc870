"""``sora2pro batch``: a video for every prompt of a file, resumable after a crash."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import pathlib
import sys
import typing

from sora2pro import (
    DEFAULT_CONCURRENCY,
    DEFAULT_WAIT_TIMEOUT,
    BatchEvent,
    BatchItem,
    CreditFloorError,
    DownloadError,
    InvalidInputError,
)
from sora2pro._cli._common import (
    EXIT_API_ERROR,
    EXIT_OK,
    EXIT_TASK_FAILED,
    EXIT_TIMEOUT,
    EXIT_UNCERTAIN,
    EXIT_USAGE,
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
from sora2pro._cli._plan import credit_floor, dry_run, scan_requests
from sora2pro._cli._sheet import ContactSheet

if typing.TYPE_CHECKING:
    from sora2pro import BatchResult, Client, OnEvent
    from sora2pro._cli._live import BatchBoard
    from sora2pro._cli._output import Output

__all__ = ["BATCH", "read_requests"]

# The worst outcome of a batch decides its exit status.
_SEVERITY = (EXIT_OK, EXIT_TASK_FAILED, EXIT_USAGE, EXIT_API_ERROR, EXIT_TIMEOUT, EXIT_UNCERTAIN)
_STATUSES = ("ok", "failed", "uncertain", "unsent")


def _batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        help="one prompt a line (blank lines are skipped), or with a .jsonl name one "
        "request object a line (prompt, aspect_ratio, n_frames, size, ...; or model "
        "and input, for any model of the jobs API)",
    )
    parser.add_argument(
        "--concurrency",
        type=whole_number(1),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"tasks in flight at most (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="download each finished video into DIR, with a contact sheet DIR/index.html",
    )
    parser.add_argument(
        "--keep-credits",
        type=credit_floor,
        metavar="N",
        help="send no create that could take the balance under N credits; the items "
        "not sent are 'unsent' rows, and a rerun sends them",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check every line and say how many videos would be made; send nothing",
    )
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

    Raises:
        InvalidInputError: a line is not a valid request; nothing is sent.
        OSError: the file cannot be read.

    """
    requests, problems = scan_requests(path, defaults)
    if problems:
        lines = [f"line {number}: {why}" for number, why in problems]
        raise InvalidInputError(str(path), "\n  ".join(["", *lines]))
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
    if isinstance(result.error, CreditFloorError):
        return "unsent"
    return "uncertain" if result.uncertain else "failed"


def _observers(progress: BatchBoard | _Progress, sheet: ContactSheet | None) -> OnEvent:
    """One ``on_event`` for the progress line and the contact sheet."""

    def on_event(event: BatchEvent) -> None:
        progress.on_event(event)
        if sheet is not None:
            sheet.on_event(event)

    return on_event


async def _save(client: Client, result: BatchResult, out: pathlib.Path | None) -> tuple[str, bool]:
    """Download a succeeded task's video under a stable name: the path or why not, and success.

    A failed or unfinished task has no video to save: its row tells why. A job whose
    result has no URLs (a model that answers with data) has no file either.
    """
    if out is None or result.task is None or not result.ok or not result.task.result_urls:
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
    if args.dry_run:
        return dry_run(args, out)
    options = typing.cast("dict[str, typing.Any]", request_options(args))
    requests = read_requests(pathlib.Path(args.file), options)
    videos = None if args.out is None else _videos_folder(args.out)
    journal = _journal_path(args)
    progress = out.batch_board(len(requests)) or _Progress(len(requests), out.progress_stream)
    sheet = (
        None
        if videos is None
        else ContactSheet(videos, f"sora2pro batch {pathlib.Path(args.file).name}", requests)
    )
    if sheet is not None:
        sheet.write()
    rows: list[tuple[int, str, str | None, str]] = []
    codes = [EXIT_OK]
    async with open_client(args.offline, out) as client:
        batch = client.batch(
            requests,
            concurrency=args.concurrency,
            timeout=args.timeout,
            on_event=_observers(progress, sheet),
            journal=journal,
            resubmit_uncertain=args.resubmit_uncertain,
            keep_credits=args.keep_credits,
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
                    if sheet is not None:
                        video = detail if result.ok and saved else ""
                        await sheet.finished(result, status, detail, video)
        except asyncio.CancelledError:
            progress.end()
            if sheet is not None:
                sheet.end("stopped: run the same command again to resume")
            where = f" (journal: {journal})" if journal else ""
            print(f"stopped after {len(rows)} of {len(requests)}; run the same command "
                  f"again to resume{where}", file=sys.stderr)  # fmt: skip
            raise
        finally:
            progress.end()  # before any error is reported below the display
    if sheet is not None:
        sheet.end("finished")
        if sheet.error is not None:
            out.note(f"the contact sheet {sheet.path} could not be written: {sheet.error}")
    _summary(out, rows)
    unsent = sum(status == "unsent" for _, status, _, _ in rows)
    if unsent:
        out.note(f"{unsent} not sent: the balance would have fallen under --keep-credits "
                 f"{args.keep_credits:g}; run the same command again to send them")  # fmt: skip
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
        (3, "API error: key, credits, validation, server; or items left unsent by --keep-credits"),
        (4, "timeout: a task keeps running; rerun to wait again"),
        (5, "uncertain submit: a task may exist; see --resubmit-uncertain"),
        (130, "interrupted: rerun the same command to resume"),
    ),
    notes=(
        (
            "output",
            "The worst outcome decides the exit status. With --json, stdout holds one "
            "JSON object: {results: [{index, status, task_id, detail}], ok, failed, "
            "uncertain, unsent}, where index counts from 0 and detail is the saved path or "
            "the error. The summary table then goes to stderr. With --dry-run it holds "
            "{videos, invalid: [{line, error}]} and the exit status is 0, or 2 when a "
            "line is invalid.",
        ),
        (
            "spend guard",
            "With --keep-credits N the balance is read before the first create and "
            "after every 5 creates; the price of a video is learned from the first create "
            "(sent alone) and the tasks' reported cost, the highest seen counting for "
            "every create not yet seen in the balance. A create that could take the "
            "balance under N is not sent: its row is 'unsent', and the same command "
            "run again (same journal) sends it.",
        ),
        (
            "contact sheet",
            "With --out DIR the batch also writes DIR/index.html, rewritten as items "
            "start and end: each video playable in place (a poster frame when ffmpeg is "
            "on the PATH), its prompt, state, time taken, credits, and why it failed. "
            "The page fetches nothing from the network.",
        ),
    ),
    arguments=_batch_arguments,
    run=_run_batch,
)

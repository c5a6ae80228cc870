"""What the command line's sub-commands share: exit codes, options, the client, help."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import pathlib
import textwrap
import typing

import attrs

from sora2pro import (
    Client,
    InvalidInputError,
    PollPolicy,
    Sora2ProError,
    SubmitUncertainError,
    TaskFailedError,
    WaitTimeoutError,
)

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine

    from sora2pro import Request, Task, TextToVideoOptions
    from sora2pro._cli._output import Output

__all__ = [
    "ENVIRONMENT",
    "EXIT_API_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TASK_FAILED",
    "EXIT_TIMEOUT",
    "EXIT_UNCERTAIN",
    "EXIT_USAGE",
    "OFFLINE_DURATION",
    "Command",
    "add_offline_option",
    "add_request_options",
    "add_timeout_option",
    "check_output",
    "exit_code",
    "json_note",
    "open_client",
    "paragraph",
    "refuse_offline_option",
    "request_options",
    "submit_and_wait",
    "whole_number",
]

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_API_ERROR = 3
EXIT_TIMEOUT = 4
EXIT_UNCERTAIN = 5
EXIT_INTERRUPTED = 130

#: How long an emulated task takes in ``--offline`` runs, in seconds.
OFFLINE_DURATION = 4.0


# The first class that matches decides; any other Sora2ProError is an API error.
_EXIT_CODES: tuple[tuple[type[Sora2ProError], int], ...] = (
    (TaskFailedError, EXIT_TASK_FAILED),
    (InvalidInputError, EXIT_USAGE),
    (WaitTimeoutError, EXIT_TIMEOUT),
    (SubmitUncertainError, EXIT_UNCERTAIN),
)


def exit_code(error: Sora2ProError | None) -> int:
    """The documented exit status for an outcome (None: success).

    A request or a transfer that ran out of time is a timeout (4), unless it was a
    create that may have run (5). Any other failed download counts as an API error
    (3), since the file host is the API's.
    """
    if error is None:
        return EXIT_OK
    if not isinstance(error, SubmitUncertainError) and isinstance(error.__cause__, TimeoutError):
        return EXIT_TIMEOUT
    return next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), EXIT_API_ERROR)


def add_request_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape a request."""
    parser.add_argument("--aspect-ratio", choices=["landscape", "portrait"], default="landscape")
    parser.add_argument(
        "--frames", choices=["10", "15"], default="10", help="length in seconds (default 10)"
    )
    parser.add_argument(
        "--size",
        choices=["standard", "high"],
        help="quality (default high; standard for image-to-video)",
    )
    parser.add_argument(
        "--no-watermark", action="store_true", help="ask for a video without watermark"
    )
    parser.add_argument(
        "--character",
        action="append",
        default=[],
        metavar="ID",
        help="a character id to use (up to 5; repeat the option)",
    )


def _seconds(text: str) -> float:
    """An option's value as a positive, finite number of seconds (argparse's ``type``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number no smaller than ``minimum``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, not {text!r}")
        return value

    return convert


def add_timeout_option(parser: argparse.ArgumentParser, default: float, what: str) -> None:
    """``--timeout SECONDS``: how long ``what`` may take, ``default`` when not given."""
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=default,
        metavar="SECONDS",
        help=f"give up {what} after SECONDS (default {default:g}); exit status 4",
    )


def add_offline_option(parser: argparse.ArgumentParser) -> None:
    """``--offline``: run against an emulator started for this run."""
    parser.add_argument(
        "--offline",
        action="store_true",
        help="run against an emulator started for this run: no key, no network",
    )


_NO_OFFLINE = (
    "--offline cannot work here: the built-in emulator starts empty in every run, so it "
    "knows no task of another run. Run 'sora2pro emulator' in another terminal and "
    "export the APIKLEY_BASE_URL and APIKLEY_API_KEY it prints."
)


class _RefuseOffline(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        _namespace: argparse.Namespace,
        _values: object,
        _option_string: str | None = None,
    ) -> None:
        parser.error(_NO_OFFLINE)


def refuse_offline_option(parser: argparse.ArgumentParser) -> None:
    """``--offline`` as a usage error that says what to do instead (hidden from help)."""
    parser.add_argument("--offline", nargs=0, action=_RefuseOffline, help=argparse.SUPPRESS)


def check_output(path: str, *, overwrite: bool) -> None:
    """Refuse an ``--output`` that cannot be written, before anything is sent.

    Raises:
        InvalidInputError: ``path`` is a directory, its directory does not exist or
            cannot be written in, or it exists and ``overwrite`` is false.

    """
    file = pathlib.Path(path)
    folder = file.parent
    if file.is_dir():
        raise InvalidInputError("--output", f"{file} is a directory; name the file to write")
    if not folder.is_dir():
        why = "is not a directory" if folder.exists() else "does not exist"
        raise InvalidInputError("--output", f"{folder} {why}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError("--output", f"cannot write in {folder}")
    if file.exists() and not overwrite:
        raise InvalidInputError("--output", f"{file} exists; pass --overwrite to replace it")


def request_options(args: argparse.Namespace) -> TextToVideoOptions:
    """The request fields the options above set; an unset one is the model's default."""
    options: TextToVideoOptions = {
        "remove_watermark": True if args.no_watermark else None,
        "character_ids": args.character,
    }
    if args.aspect_ratio is not None:
        options["aspect_ratio"] = args.aspect_ratio
    if args.frames is not None:
        options["n_frames"] = args.frames
    if args.size is not None:
        options["size"] = args.size
    return options


@contextlib.asynccontextmanager
async def open_client(offline: bool, out: Output) -> AsyncIterator[Client]:
    """A client of the real API, or with ``offline`` of an emulator started for it."""
    if not offline:
        async with Client() as client:
            yield client
        return
    from sora2pro.testing import Emulator  # noqa: PLC0415  # needs the cli extra

    async with (
        Emulator(duration=OFFLINE_DURATION, not_visible_for=0.3) as emulator,
        Client(
            emulator.api_key,
            base_url=emulator.url,
            poll=PollPolicy(min_interval=0.25, max_interval=1.0),
        ) as client,
    ):
        out.note(f"offline: using the built-in emulator at {emulator.url}")
        yield client


async def submit_and_wait(
    client: Client, out: Output, request: Request, timeout: float | None
) -> Task:
    """Submit, print the task id at once (so it is never lost), then wait with progress."""
    task_id = await client.submit(request)
    out.task_id = task_id
    out.line(f"task {task_id}")
    with out.status("submitted") as status:
        return await client.wait(task_id, timeout=timeout, on_update=status.update)


ENVIRONMENT = """\
environment:
  APIKLEY_API_KEY    the API key
  APIKLEY_BASE_URL   the API address (default https://api.apikley.ru); the address
                     'sora2pro emulator' prints, to work offline"""


def json_note(result: str) -> tuple[str, str]:
    """The help section on ``--json`` output, for a command whose result is ``result``."""
    return (
        "output",
        f"With --json, stdout holds one JSON object, {result}. On an error it holds "
        "{error, message, task_id, task, exit_code} instead, where task is the task's "
        "last snapshot when the error has one. Usage errors in the command line itself "
        "are reported on stderr only. Human lines go to stderr; --quiet drops all but "
        "errors there.",
    )


def paragraph(text: str, first: str = "  ", indent: str = "  ") -> str:
    """``text`` wrapped for a help page, its lines starting with ``first``, then ``indent``."""
    return textwrap.fill(text, width=79, initial_indent=first, subsequent_indent=indent)


@attrs.frozen(kw_only=True)
class Command:
    """One sub-command: its help, its options, and the coroutine that runs it.

    Attributes:
        name: What the user types.
        summary: One line for the list of commands.
        description: What it does, for its own ``--help``.
        exits: The exit statuses it can end with, and what each means here.
        arguments: Adds its own arguments and options to its parser.
        run: Runs it and returns the exit status; errors it raises are reported
            by ``main()``.
        notes: More sections for its help, as (heading, text), before the environment.
        output: Whether it takes ``--json`` and ``--quiet``.
        environment: Whether it reads the API key and address from the environment.

    """

    name: str
    summary: str
    description: str
    exits: tuple[tuple[int, str], ...]
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Output], Coroutine[typing.Any, typing.Any, int]]
    notes: tuple[tuple[str, str], ...] = ()
    output: bool = True
    environment: bool = True

    def epilog(self) -> str:
        """The end of its help: notes, environment, exit status."""
        sections = [f"{heading}:\n{paragraph(text)}" for heading, text in self.notes]
        if self.environment:
            sections.append(ENVIRONMENT)
        exits = [paragraph(meaning, f"  {code:<4} ", " " * 7) for code, meaning in self.exits]
        sections.append("exit status:\n" + "\n".join(exits))
        return "\n\n".join(sections) + "\n"

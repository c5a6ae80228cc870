"""What the command line's sub-commands share: exit codes, options, the client."""

from __future__ import annotations

import argparse
import contextlib
import sys
import typing

from sora2pro._client import Client
from sora2pro._config import DEFAULT_WAIT_TIMEOUT, PollPolicy
from sora2pro._errors import (
    InvalidInputError,
    Sora2ProError,
    SubmitUncertainError,
    TaskFailedError,
    WaitTimeoutError,
)

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sora2pro._requests import TextToVideoOptions

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TASK_FAILED",
    "EXIT_TIMEOUT",
    "EXIT_UNCERTAIN",
    "EXIT_USAGE",
    "OFFLINE_DURATION",
    "add_request_options",
    "exit_code",
    "open_client",
    "request_options",
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


def exit_code(error: Sora2ProError | None) -> int:
    """The documented exit status for an outcome (None: success)."""
    if error is None:
        return EXIT_OK
    if isinstance(error, TaskFailedError):
        return EXIT_TASK_FAILED
    if isinstance(error, InvalidInputError):
        return EXIT_USAGE
    if isinstance(error, WaitTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(error, SubmitUncertainError):
        return EXIT_UNCERTAIN
    return EXIT_API_ERROR


def add_request_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape a request, and --timeout and --offline."""
    parser.add_argument("--aspect-ratio", choices=["landscape", "portrait"], default="landscape")
    parser.add_argument(
        "--frames", choices=["10", "15"], default="10", help="length in seconds (default 10)"
    )
    parser.add_argument("--size", choices=["standard", "high"], default="high")
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
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT,
        metavar="SECONDS",
        help="give up waiting for a task after SECONDS (default 1800); it keeps running",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="run against the built-in emulator: no key, no network, a sample video",
    )


def request_options(args: argparse.Namespace) -> TextToVideoOptions:
    """The request fields the options above set."""
    return {
        "aspect_ratio": args.aspect_ratio,
        "n_frames": args.frames,
        "size": args.size,
        "remove_watermark": True if args.no_watermark else None,
        "character_ids": args.character,
    }


@contextlib.asynccontextmanager
async def open_client(offline: bool) -> AsyncIterator[Client]:
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
        print(f"offline: using the built-in emulator at {emulator.url}", file=sys.stderr)
        yield client

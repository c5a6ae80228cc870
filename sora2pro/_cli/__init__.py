"""The ``sora2pro`` command line.

Commands: ``generate``, ``status``, ``wait``, ``download``, ``credits``, ``upload``,
``character create``, ``batch``, ``emulator``, ``completion``. Each is a
:class:`~sora2pro._cli._common.Command` in :data:`COMMANDS`: adding one is a ``run``
coroutine and an entry there.

Exit codes: 0 success, 1 the task failed, 2 usage error, 3 API error (or a failed
download), 4 timeout, 5 uncertain submit, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import typing

from sora2pro import Sora2ProError, __version__
from sora2pro._cli._batch import BATCH
from sora2pro._cli._commands import CREDITS, DOWNLOAD, EMULATOR, GENERATE, STATUS, WAIT
from sora2pro._cli._common import (
    ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    exit_code,
    paragraph,
)
from sora2pro._cli._completion import completion
from sora2pro._cli._files import CHARACTER, UPLOAD
from sora2pro._cli._log import show_log
from sora2pro._cli._output import Output

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

_EPILOG = f"""\
{ENVIRONMENT}

exit status:
  0    success
  1    the task failed
  2    usage error
  3    API error (key, credits, validation, server) or a failed download
  4    timeout: a wait, a request or a transfer ran out of time (a task keeps
       running)
  5    uncertain submit (the task may exist and be billed)
  130  interrupted

example:
  sora2pro generate "a happy dog running in the garden" --json > task.json
  sora2pro status TASK_ID
  sora2pro wait TASK_ID && sora2pro download TASK_ID -o dog.mp4

Run 'sora2pro COMMAND --help' for the options and exit status of each command.
"""


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (the result, or the error) and every "
        "human line on stderr",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress and no notes on stderr; results and errors are still printed",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sora2pro",
        description="Generate videos with the Apikley Sora 2 Pro text-to-video API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sora2pro {__version__}")
    parser.set_defaults(json=False, quiet=False)  # for the commands without these options
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.summary,
            description=paragraph(command.description, "", ""),
            epilog=command.epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.arguments(sub)
        if command.output:
            _add_output_options(sub)
        sub.add_argument(
            "--verbose",
            "-v",
            action="store_true",
            help="show the library's log on stderr: every request, retry and pause",
        )
    return parser


COMMANDS = (
    GENERATE,
    STATUS,
    WAIT,
    DOWNLOAD,
    CREDITS,
    UPLOAD,
    CHARACTER,
    BATCH,
    EMULATOR,
    completion(_parser),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    command = next(command for command in COMMANDS if command.name == args.command)
    out = Output(json_mode=args.json, quiet=args.quiet)
    try:
        with show_log(args.verbose):
            return asyncio.run(command.run(args, out))
    except Sora2ProError as error:
        return out.error(error, exit_code(error))
    except (ImportError, OSError, sqlite3.Error) as error:
        # A missing extra, a busy port, a path that cannot be written, a broken journal.
        return out.error(error, EXIT_USAGE)
    except KeyboardInterrupt as error:
        return out.error(error, EXIT_INTERRUPTED, "interrupted")

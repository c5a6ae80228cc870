"""The command line in a test's pseudo-terminal: ``python -m tests.cli_driver POLL ARGS...``.

POLL is a JSON object of ``PollPolicy`` fields: the client's default policy for this
run, so that a test decides how often the command polls. The standard streams are
the pseudo-terminal; it becomes the controlling terminal of this process (a session
leader, started with ``start_new_session``), so that a Ctrl-C typed there interrupts it
as it would a command in a shell.
"""

from __future__ import annotations

import fcntl
import json
import sys
import termios

import sora2pro
import sora2pro._client
from sora2pro._cli import main


def run(poll: str, argv: list[str]) -> int:
    """Take the terminal, set the poll policy, run the command line."""
    fcntl.ioctl(sys.stdin.fileno(), termios.TIOCSCTTY, 0)
    sora2pro._client.DEFAULT_POLL = sora2pro.PollPolicy(**json.loads(poll))
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2:]))

"""``--verbose``: the library's log (the ``sora2pro`` logger) on stderr, for one run."""

from __future__ import annotations

import contextlib
import logging
import sys
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["show_log"]

#: What every record has; the rest are the fields a log call passed in ``extra``.
_STANDARD = {*vars(logging.makeLogRecord({})), "message", "asctime"}


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # its stream is found at each record
    """Writes to whatever ``sys.stderr`` is at each record.

    The terminal's live display swaps ``sys.stderr`` for a stream that prints above
    it, so log lines never break into its rows.
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _Formatter(logging.Formatter):
    """Time, level, logger and message, then each ``extra`` field as ``name=value``."""

    def format(self, record: logging.LogRecord) -> str:
        extra = sorted((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        return super().format(record) + "".join(f" {key}={value}" for key, value in extra)


@contextlib.contextmanager
def show_log(enabled: bool) -> Iterator[None]:
    """While inside, with ``enabled``, every record of the ``sora2pro`` logger on stderr.

    The logger's level and handlers are as they were afterwards.
    """
    if not enabled:
        yield
        return
    logger = logging.getLogger("sora2pro")
    handler = _Stderr()
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

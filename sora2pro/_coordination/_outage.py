"""Warnings of a Redis that does not answer: one per kind of work, until it works again.

The background work of a coordination (renewing leases, writing behind, reading the
callback stream) tries again every few seconds while Redis is away: a warning each
time would bury a log. The first failure of a kind is a warning, the next ones are
debug lines, and the first success after them says so at info level.
"""

from __future__ import annotations

import logging

__all__ = ["Outage"]

logger = logging.getLogger("sora2pro")


class Outage:
    """What failed last time, by kind of work (text naming it, as ``"renewing ..."``)."""

    def __init__(self) -> None:
        self._failing: set[str] = set()

    def failed(self, work: str, error: BaseException) -> None:
        """Tell of a failure of ``work``: a warning if it worked last time, else a debug line."""
        first = work not in self._failing
        self._failing.add(work)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "%s failed (%s); trying again%s",
            work,
            error,
            " (until it works, further failures are logged at debug level)" if first else "",
            extra={"event": "coordination_failed"},
        )

    def worked(self, work: str) -> None:
        """Tell that ``work`` succeeded, once, if it had failed."""
        if work in self._failing:
            self._failing.discard(work)
            logger.info("%s works again", work, extra={"event": "coordination_recovered"})

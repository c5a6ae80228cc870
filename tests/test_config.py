"""Settings are frozen values that refuse nonsense when built."""

from __future__ import annotations

import math

import pytest

import sora2pro
from sora2pro import InvalidInputError, PollPolicy, RetryPolicy, Timeouts


@pytest.mark.parametrize(
    "build",
    [
        lambda: PollPolicy(min_interval=0),
        lambda: PollPolicy(min_interval=-1),
        lambda: PollPolicy(min_interval=5, max_interval=1),
        lambda: PollPolicy(multiplier=0.5),
        lambda: PollPolicy(jitter=1.5),
        lambda: PollPolicy(max_interval=math.inf),
        lambda: RetryPolicy(attempts=0),
        lambda: RetryPolicy(attempts=True),
        lambda: RetryPolicy(base_delay=0),
        lambda: RetryPolicy(max_elapsed=0),
        lambda: Timeouts(connect=0),
        lambda: Timeouts(read=-2),
        lambda: Timeouts(request=math.nan),
    ],
)
def test_nonsense_settings_are_refused(build: object) -> None:
    """Zero, negative, non-finite and inverted settings raise InvalidInputError."""
    with pytest.raises(InvalidInputError):
        build()  # type: ignore[operator]


def test_none_lifts_a_limit() -> None:
    """None means "no limit" explicitly, where a limit can be lifted."""
    assert Timeouts(connect=None, read=None, request=None).request is None
    assert RetryPolicy(max_elapsed=None).max_elapsed is None


def test_defaults_are_exported_values() -> None:
    """The DEFAULT_* constants are the defaults of each settings class."""
    assert PollPolicy() == sora2pro.DEFAULT_POLL
    assert RetryPolicy() == sora2pro.DEFAULT_RETRY
    assert Timeouts() == sora2pro.DEFAULT_TIMEOUTS
    assert 1800.0 == sora2pro.DEFAULT_WAIT_TIMEOUT


@pytest.mark.parametrize(
    "build",
    [
        lambda: PollPolicy(min_interval=None),
        lambda: PollPolicy(not_visible_for=None),
        lambda: PollPolicy(multiplier=None),
        lambda: RetryPolicy(base_delay=None),
        lambda: RetryPolicy(max_delay=None),
    ],
)
def test_none_is_refused_where_a_limit_is_required(build: object) -> None:
    """None is not accepted where it would mean nothing sensible."""
    with pytest.raises(InvalidInputError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "build",
    [
        lambda: sora2pro.RateLimits(creates=0),
        lambda: sora2pro.RateLimits(creates=2.5),
        lambda: sora2pro.RateLimits(window=0),
        lambda: sora2pro.RateLimits(status_per_second=-1),
        lambda: sora2pro.RateLimits(pause=None),
    ],
)
def test_nonsense_rate_limits_are_refused(build: object) -> None:
    """Rate limits must be positive numbers, creates a whole one."""
    with pytest.raises(InvalidInputError):
        build()  # type: ignore[operator]


def test_default_rate_limits_sit_under_the_api() -> None:
    """The defaults are 19 creates per 10 s and 8 status queries a second: under 20 and 10."""
    limits = sora2pro.DEFAULT_RATE_LIMITS
    assert (19, 10.0, 8.0, 1.9) == (
        limits.creates,
        limits.window,
        limits.status_per_second,
        limits.creates_per_second,
    )

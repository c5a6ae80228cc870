"""Frozen, self-validating settings: how to poll, how to retry, how long to wait."""

from __future__ import annotations

import math
import typing
import urllib.parse

import attrs

from sora2pro._errors import InvalidInputError

__all__ = [
    "DEFAULT_IDEMPOTENCY_TTL",
    "DEFAULT_POLL",
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "DEFAULT_WAIT_TIMEOUT",
    "PollPolicy",
    "RateLimits",
    "RetryPolicy",
    "Timeouts",
    "check_callable",
    "check_credit_floor",
    "check_idempotency_key",
    "check_instance",
    "check_redis_url",
    "check_timeout",
]

#: How long ``wait()`` and ``generate()`` wait for a task by default: 30 minutes.
DEFAULT_WAIT_TIMEOUT = 30 * 60.0
#: How long an idempotency key keeps its task after the create's answer: 24 hours.
DEFAULT_IDEMPOTENCY_TTL = 24 * 3600.0
#: The longest idempotency key, in characters (Stripe's bound).
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def check_timeout(name: str, value: float | None) -> None:
    """Refuse a negative, zero or non-finite duration; ``None`` means "no limit".

    Raises:
        InvalidInputError: if ``value`` is not ``None`` or a positive finite number.

    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(name, f"must be a number of seconds or None, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(name, f"must be positive (None means no limit), not {value!r}")


def check_credit_floor(value: object) -> None:
    """Refuse a ``keep_credits`` that is not None or a non-negative finite number.

    Raises:
        InvalidInputError: if ``value`` is of another type, negative or not finite.

    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            "keep_credits", f"must be a number of credits or None, not {value!r}"
        )
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError("keep_credits", f"must be 0 or more and finite, not {value!r}")


def check_instance(name: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Refuse a value of the wrong type at once, naming the argument and what it takes.

    Raises:
        InvalidInputError: if ``value`` is not an instance of ``kind``.

    """
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise InvalidInputError(name, f"must be {what}, not {type(value).__name__}")


def check_idempotency_key(key: object) -> None:
    """Refuse an idempotency key that is not printable text of 1 to 255 characters.

    Blanks may stand inside a key but not around it: "order-42 " would be a key of its own.

    Raises:
        InvalidInputError: if ``key`` is not None and not such text.

    """
    if key is None:
        return
    if not isinstance(key, str):
        raise InvalidInputError("idempotency_key", f"must be a string, not {type(key).__name__}")
    if not key.strip() or key != key.strip():
        raise InvalidInputError("idempotency_key", "must be text with no blanks around it")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInputError(
            "idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters long"
        )
    if not key.isprintable():
        raise InvalidInputError("idempotency_key", "must hold printable characters only")


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


#: URL options a coordination sets itself, so that no call to Redis can hang.
_OWN_REDIS_OPTIONS = {"socket_timeout", "socket_connect_timeout"}


def check_redis_url(name: str, url: object) -> None:
    """Refuse what is not a ``redis://``, ``rediss://`` or ``unix://`` URL.

    Raises:
        InvalidInputError: if ``url`` is not such a URL.

    """
    # The URL itself is never quoted: it may hold a password.
    if not isinstance(url, str):
        raise InvalidInputError(name, f"must be a Redis URL string, not {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        options = urllib.parse.parse_qs(parts.query)
    except ValueError:
        parts, options = None, {}
    scheme = "" if parts is None else parts.scheme
    if scheme not in {"redis", "rediss", "unix"}:
        shown = f"a {scheme}:// one" if scheme else "one without a scheme"
        raise InvalidInputError(name, f"must be a redis://, rediss:// or unix:// URL, not {shown}")
    for option in _OWN_REDIS_OPTIONS & options.keys():
        # Redis's answers are bounded by the coordination's own timeouts: never a hang.
        raise InvalidInputError(name, f"must not set {option}: the client sets its own")


def check_callable(name: str, value: object) -> None:
    """Refuse a callback that cannot be called (None is no callback).

    Raises:
        InvalidInputError: if ``value`` is neither None nor callable.

    """
    if value is not None and not callable(value):
        raise InvalidInputError(name, f"must be a function or None, not {type(value).__name__}")


def _positive(_instance: object, attribute: attrs.Attribute[typing.Any], value: float) -> None:
    if value is None:
        raise InvalidInputError(attribute.name, "must be a positive number, not None")
    check_timeout(attribute.name, value)


def _positive_or_none(
    _instance: object, attribute: attrs.Attribute[typing.Any], value: float | None
) -> None:
    check_timeout(attribute.name, value)


def _count(_instance: object, attribute: attrs.Attribute[typing.Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(attribute.name, f"must be a whole number >= 1, not {value!r}")


def _fraction(_instance: object, attribute: attrs.Attribute[typing.Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInputError(attribute.name, f"must be between 0 and 1, not {value!r}")


def _flag(_instance: object, attribute: attrs.Attribute[typing.Any], value: bool) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(attribute.name, f"must be True or False, not {value!r}")


@attrs.frozen(kw_only=True)
class PollPolicy:
    """How ``wait()`` spaces its status requests.

    By default (``adaptive``) each pause comes from a duration model: the running
    times of tasks of the same shape this client (or every client of a shared
    coordination) has seen end, starting from ``expected_duration``. Polls are dense
    where the task is likely to end and sparse where it surely still runs: with the
    defaults the first poll of a Sora 2 Pro task comes after about 20 s, and a task
    is learned of at about 4 % of its running time after it ends, with about half
    the requests of the provider's tiered advice. When the server reports
    ``progress``, the next poll aims at the end it predicts. Pauses stay between
    ``min_interval`` and ``max_interval`` and are spread by ``jitter`` (a fraction),
    so that many waits do not poll in lockstep.

    With ``adaptive=False`` the pause is a plain exponential backoff instead: it
    starts at ``min_interval`` and grows by ``multiplier`` after each poll up to
    ``max_interval``.

    Attributes:
        min_interval: Shortest pause between two polls of one task, in seconds.
        max_interval: Longest pause between two polls of one task, in seconds (a
            wait with a callback receiver may pause longer: the callback is due).
        multiplier: Growth of the backoff after each poll (at least 1).
        jitter: Random spread of each pause, as a fraction (0 to 1).
        not_visible_for: How long a new task may answer "recordInfo is null"
            (not visible yet) before the wait gives up, in seconds.
        use_progress: Aim polls at the finish predicted from ``progress``.
        adaptive: Choose each pause from the duration model, not the backoff.
        expected_duration: The median running time assumed before any task of a
            shape was seen to end, in seconds (Sora 2 Pro: about 4 minutes).
        delay_cost: What learning of a task's end one whole running time late is
            worth, in status requests: higher polls more often and learns sooner.

    """

    min_interval: float = attrs.field(default=2.0, validator=_positive)
    max_interval: float = attrs.field(default=120.0, validator=_positive)
    multiplier: float = attrs.field(default=1.3, validator=_positive)
    jitter: float = attrs.field(default=0.2, validator=_fraction)
    not_visible_for: float = attrs.field(default=60.0, validator=_positive)
    use_progress: bool = attrs.field(default=True, validator=_flag)
    adaptive: bool = attrs.field(default=True, validator=_flag)
    expected_duration: float = attrs.field(default=240.0, validator=_positive)
    delay_cost: float = attrs.field(default=300.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max_interval < self.min_interval:
            raise InvalidInputError("max_interval", "must not be shorter than min_interval")
        if self.multiplier < 1:
            raise InvalidInputError("multiplier", "must be at least 1")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried: exponential backoff with full jitter.

    Only named transient failures are retried (see the README). A ``Retry-After``
    from the server is honoured as the pause, up to ``max_retry_after`` (the API
    says when to come back; the big SDKs honour up to a minute or two). A pause
    that would pass the caller's deadline or ``max_elapsed``, or a ``Retry-After``
    past ``max_retry_after``, ends the retries and re-raises the error, with a
    note saying why.

    Attributes:
        attempts: Tries in all, the first included (1 means no retry).
        base_delay: Pause ceiling before the first retry, doubled after each, in seconds.
        max_delay: Longest pause of the backoff's own, in seconds.
        max_retry_after: Longest ``Retry-After`` honoured, in seconds.
        max_elapsed: Time from the first failure after which no further try
            starts, in seconds, or None for no limit other than ``attempts``.

    """

    attempts: int = attrs.field(default=5, validator=_count)
    base_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    max_retry_after: float = attrs.field(default=120.0, validator=_positive)
    max_elapsed: float | None = attrs.field(default=120.0, validator=_positive_or_none)


@attrs.frozen(kw_only=True)
class Timeouts:
    """Limits on one HTTP exchange, in seconds; None lifts a limit.

    Attributes:
        connect: To open a connection.
        read: Between two pieces of an answer (also bounds a stalled download).
        request: For a whole API request and its answer (not for downloads).

    """

    connect: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    read: float | None = attrs.field(default=60.0, validator=_positive_or_none)
    request: float | None = attrs.field(default=120.0, validator=_positive_or_none)


@attrs.frozen(kw_only=True)
class RateLimits:
    """How fast one client may go, at or under the API's documented limits.

    Creates are spaced evenly (``window / creates`` apart) rather than sent in bursts:
    two bursts at the edges of a window would land twice the limit inside one window
    of the server's clock. When the server answers 429 anyway, every request of that
    kind from the client pauses together.

    Attributes:
        creates: Creates allowed per ``window`` (upstream: 20 per 10 s per account).
        window: The window for ``creates``, in seconds.
        status_per_second: Status queries per second, over all waits of the client
            (upstream: about 10 per second per key).
        pause: How long every request of a kind pauses after a 429 that named no
            ``Retry-After``, in seconds.

    """

    # 5 % under the upstream 20: creates paced at exactly the limit still meet the
    # server's window edge with a little jitter, and each such 429 costs a pause.
    creates: int = attrs.field(default=19, validator=_count)
    window: float = attrs.field(default=10.0, validator=_positive)
    status_per_second: float = attrs.field(default=8.0, validator=_positive)
    pause: float = attrs.field(default=1.0, validator=_positive)

    @property
    def creates_per_second(self) -> float:
        """The even pace of creates."""
        return self.creates / self.window


DEFAULT_POLL = PollPolicy()
DEFAULT_RETRY = RetryPolicy()
DEFAULT_RATE_LIMITS = RateLimits()
DEFAULT_TIMEOUTS = Timeouts()

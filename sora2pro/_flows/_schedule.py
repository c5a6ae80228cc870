"""When to poll a running task next: a duration model, and the schedule it feeds.

**The model.** A task's running time T (from its submit to its end, in seconds) is
taken as log-normal: ln T is normal with mean ``mu`` and spread ``sigma``. Before any
task of a request's shape (model, ``n_frames``, ``size``) was seen to end, they come
from a prior: the policy's ``expected_duration`` as the median, and
:data:`PRIOR_SPREAD` (live Sora 2 Pro runs: a median of about 4 minutes, a p90 of
about 13; API.md section 8). Each run of the shape seen to end, by this client or by
any client of a shared coordination, moves them; the prior counts as
:data:`PRIOR_WEIGHT` runs (the normal-inverse-gamma update, in log space, which is
robust to a few outliers of a long tail).

**The schedule.** Each poll costs one request; learning of the end late costs
``delay_cost`` requests per running time of delay (a share of the task's length: ten
seconds matter for a one-minute task and hardly for a thirteen-minute one). The poll
density n(t) minimising expected requests plus that cost is the classic inspection-
scheduling result (Keller, 1974): n(t) = sqrt(delay_cost * h(t) / (2 t)), with h the
hazard rate of T. It is nil while the task surely still runs, densest where it is
likely to end given that it has not, and thins out in the long tail. The next poll
comes where the integral of n from the last poll reaches one: in the normal's
standard units z = (ln t - mu) / sigma that integral is sqrt(delay_cost * sigma / 2)
times one universal function of z (:func:`_spacing`), tabulated once.

**Progress**, when the server reports it, is a bonus: two readings give a rate, and
the next poll aims just past the end it predicts; a single reading (early ones are
noisy, and a task's progress may start only after its queue) only brings the next
poll sooner, half-way to the end it suggests.

**Callbacks.** With a receiver, a poll only has to catch a lost callback, so the
delay's cost is weighted by how often this client's callbacks were lost
(:class:`CallbackLosses`): while they arrive, the first poll comes only once the
task is overdue, and a task whose callback comes costs the one confirming request.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import sys
import typing
from collections.abc import Mapping

import attrs

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sora2pro._config import PollPolicy
    from sora2pro._model._requests import Request
    from sora2pro._model._task import Task

__all__ = [
    "CallbackLosses",
    "Prediction",
    "Schedule",
    "backoff",
    "expected_remaining",
    "next_z",
    "predict",
    "shape_of",
]

#: The prior's spread of ln T: live Sora 2 Pro runs have a median of about 4 minutes
#: and a p90 of about 13, and exp(1.2816 * 0.92) = 3.25.
PRIOR_SPREAD = 0.92
#: How many runs the prior counts as, against the runs seen.
PRIOR_WEIGHT = 4.0
#: The least spread the model keeps, however alike the runs seen.
MIN_SPREAD = 0.05
#: The most: a p99 33 times the median. A few runs far off (a server's odd times, a
#: task stuck for days) must not push a patient wait's first poll out by months.
MAX_SPREAD = 1.5
#: How far into its tail (in standard units: p99) a task counts as overdue: with a
#: callback due, the first poll waits at most until then.
OVERDUE_Z = 2.33
#: Past the end progress predicted, the next poll comes after this share of the
#: running time (the rate was off, or the task sits at 99 %).
OVERDUE_SHARE = 0.05
#: Characters of a model's name a shape keeps.
NAME_KEPT = 100
#: The longest value of a job's length or size a shape takes in.
VALUE_KEPT = 20
#: Polls aim this share of the running time past the end progress predicts, for the
#: whole percents progress is reported in.
AIM_MARGIN = 0.01


@attrs.frozen
class Prediction:
    """A running time T, in seconds, with ln T normal of mean ``mu`` and spread ``sigma``."""

    mu: float
    sigma: float

    @property
    def median(self) -> float:
        """The median running time."""
        return math.exp(self.mu)

    def z(self, elapsed: float) -> float:
        """``elapsed`` seconds in standard units (minus infinity at the submit)."""
        return (math.log(elapsed) - self.mu) / self.sigma if elapsed > 0 else -math.inf

    def at(self, z: float) -> float:
        """The running time at ``z`` standard units."""
        return math.exp(min(self.mu + self.sigma * z, 700.0))

    def surprise(self, elapsed: float) -> float:
        """-ln P(T > elapsed): how unlikely it is that the task still runs."""
        z = self.z(elapsed)
        if z < 8:
            return -math.log(math.erfc(z / math.sqrt(2)) / 2)
        # ln Q(z) = -z^2/2 - ln(z sqrt(2 pi)) + ln(1 - 1/z^2 + ...), where erfc underflows.
        return z * z / 2 + math.log(z * math.sqrt(2 * math.pi)) - math.log(1 - 1 / z**2)


def predict(prior_median: float, runs: Sequence[float]) -> Prediction:
    """The running time of the next task, from the prior and the ``runs`` seen (seconds)."""
    mu0 = math.log(prior_median)
    logs = [math.log(run) for run in runs if 0 < run < math.inf]
    if not logs:
        return Prediction(mu0, PRIOR_SPREAD)
    n = len(logs)
    mean = math.fsum(logs) / n
    squares = math.fsum((x - mean) ** 2 for x in logs)
    weight = PRIOR_WEIGHT + n
    mu = (PRIOR_WEIGHT * mu0 + n * mean) / weight
    shift = PRIOR_WEIGHT * n / weight * (mean - mu0) ** 2
    variance = (PRIOR_WEIGHT * PRIOR_SPREAD**2 + squares + shift) / weight
    return Prediction(mu, min(max(math.sqrt(variance), MIN_SPREAD), MAX_SPREAD))


def shape_of(model: str, request: Request | None) -> str:
    """The key runs are learned under: the model, and the length and size asked for.

    Of the model's name, the first :data:`NAME_KEPT` characters: it comes from the
    server, and shapes are kept. A :class:`Job` names its length and size in its
    input, under the same names when it has them; a short string or number is kept.
    """
    parts = [model[:NAME_KEPT]]
    fields = getattr(request, "input", None)
    for name in ("n_frames", "size"):
        value = fields.get(name) if isinstance(fields, Mapping) else getattr(request, name, None)
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if 0 < len(text) <= VALUE_KEPT and text.isprintable():
            parts.append(f"{name}={text}")
    return sys.intern(" ".join(parts))  # few shapes, and a schedule per wait keeps one


# The schedule's table: G(z), the integral of sqrt(phi(u) / Q(u)) from minus infinity
# to z, phi the standard normal density and Q its survival (phi / Q is its hazard).
_LOW, _HIGH, _STEP = -8.0, 40.0, 0.01


def _root_hazard(u: float) -> float:
    """sqrt(phi(u) / Q(u)), the standard normal's hazard, rooted."""
    if u > 8:
        # Q(u) / phi(u) = 1/u - 1/u^3 + 3/u^5 - ..., where erfc underflows.
        return math.sqrt(1 / (1 / u - 1 / u**3 + 3 / u**5))
    density = math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
    return math.sqrt(density / (math.erfc(u / math.sqrt(2)) / 2))


@functools.cache
def _spacing() -> tuple[list[float], list[float]]:
    """G on a grid of z from _LOW to _HIGH (trapezoids; G(_LOW) is nil to 1e-7)."""
    zs, gs = [_LOW], [0.0]
    previous = _root_hazard(_LOW)
    for step in range(1, round((_HIGH - _LOW) / _STEP) + 1):
        z = _LOW + step * _STEP
        current = _root_hazard(z)
        gs.append(gs[-1] + (previous + current) / 2 * _STEP)
        zs.append(z)
        previous = current
    return zs, gs


def next_z(z: float, cost: float, sigma: float) -> float:
    """Where the next poll goes, in standard units, after one at ``z``.

    The poll density integrates to one between the two: G rises by
    1 / sqrt(cost * sigma / 2). Past the table's end, the end of the table.
    """
    zs, gs = _spacing()
    start = 0.0 if z <= _LOW else gs[min(len(gs) - 1, round((z - _LOW) / _STEP))]
    goal = start + 1 / math.sqrt(cost * sigma / 2)
    index = bisect.bisect_left(gs, goal)
    if index >= len(gs):
        return _HIGH
    below = gs[index - 1]
    return zs[index - 1] + (goal - below) / (gs[index] - below) * _STEP


def expected_remaining(task: Task, elapsed: float) -> float | None:
    """Seconds until the task likely ends, judged from one progress reading, or None.

    ``elapsed`` is how long the task had run when ``task`` was seen, by the client's
    own clock: live answers carry no useful ``updateTime`` (API.md section 8). This
    is the latest end the reading suggests: progress may start after a queue.
    """
    if task.progress is None or not 0 < task.progress < 100 or elapsed <= 0:
        return None
    return elapsed * (100 - task.progress) / task.progress


def backoff(policy: PollPolicy, attempt: int, task: Task | None, elapsed: float = 0.0) -> float:
    """The backoff's pause before poll number ``attempt + 1`` (``adaptive=False``).

    Progress (seen after ``elapsed`` seconds of running) can only bring the next poll
    sooner than the backoff alone: one noisy early reading, such as 3 % after 2 s,
    would otherwise push it to ``max_interval`` for a task about to end.
    """
    # In log space: multiplier**attempt overflows a float after a few thousand polls.
    ceiling = math.log(policy.max_interval / policy.min_interval)
    growth = min(attempt * math.log(policy.multiplier), ceiling)
    delay = policy.min_interval * math.exp(growth)
    if policy.use_progress and task is not None:
        remaining = expected_remaining(task, elapsed)
        if remaining is not None:
            delay = min(delay, remaining)
    delay = min(policy.max_interval, max(policy.min_interval, delay))
    spread = delay * policy.jitter
    delay = random.uniform(delay - spread, delay + spread)
    return min(policy.max_interval, max(policy.min_interval, delay))


@attrs.define
class CallbackLosses:
    """How often a wait with a receiver had to learn of its task's end by a poll.

    The estimate starts at :attr:`PRIOR` as if from :attr:`WEIGHT` waits: a receiver
    is trusted until it loses callbacks, and a few losses make polls dense again.
    A receiver that never had a callback confirmed is also judged by the silence of
    the waits still running: each adds how unlikely it is, by the model, that its
    task still runs (-ln P(T > t)); past :attr:`DEAF` (odds of 1,000 to 1 against
    the prior) every callback counts as lost, until one comes.
    """

    PRIOR: typing.ClassVar[float] = 0.001
    WEIGHT: typing.ClassVar[float] = 20.0
    DEAF: typing.ClassVar[float] = math.log(1000)

    ended: int = 0
    lost: int = 0
    _silence: dict[int, float] = attrs.field(factory=dict)
    _silent: float = 0.0

    def rate(self) -> float:
        """The share of callbacks likely lost."""
        if self.ended == self.lost and self._silent > self.DEAF:
            return 1.0
        return (self.lost + self.PRIOR * self.WEIGHT) / (self.ended + self.WEIGHT)

    def count(self, *, lost: bool) -> None:
        """Note how one wait ended: by its callback, or (``lost``) by a poll."""
        self.ended += 1
        self.lost += lost

    def silent(self, wait: int, surprise: float) -> None:
        """Wait ``wait`` has heard nothing, ``surprise`` nats into its task's run."""
        self._silent += surprise - self._silence.get(wait, 0.0)
        self._silence[wait] = surprise

    def settled(self, wait: int) -> None:
        """Wait ``wait`` ended: its silence no longer counts."""
        self._silent -= self._silence.pop(wait, 0.0)


@attrs.define
class Schedule:
    """When one wait polls next, as a running time (seconds since the task's submit).

    Attributes:
        policy: The bounds and the model's settings.
        predict: The duration model for a shape (None: unknown shape, the prior).
        cost: What a late end costs (``delay_cost``, weighted with callbacks).
        patient: A callback is due: progress is not aimed at, and pauses may pass
            ``max_interval``, up to the running time so far or to the point the
            task is overdue, whichever is later.
        silent: Told how surprising the callback's silence is, as the wait goes on.

    """

    policy: PollPolicy
    predict: Callable[[str | None], Prediction]
    cost: Callable[[], float]
    patient: bool = False
    silent: Callable[[float], None] | None = None
    shape: str | None = None
    polls: int = 0
    _last: float = 0.0
    _spread: float = 1.0
    _first: tuple[float, float] | None = None
    _latest: tuple[float, float] | None = None
    _backoff: float = 0.0

    def polled(self, elapsed: float, task: Task | None) -> None:
        """Note a poll at ``elapsed`` that saw ``task`` (None: it saw no task)."""
        self._last = elapsed
        self.polls += 1
        jitter = self.policy.jitter
        self._spread = random.uniform(1 - jitter, 1 + jitter)
        if task is not None:
            if self.shape is None:
                self.shape = shape_of(task.model, task.request)
            progress = task.progress
            if self.policy.use_progress and progress is not None and 0 < progress < 100:
                self._latest = (elapsed, progress)
                if self._first is None:
                    self._first = self._latest
        if not self.policy.adaptive:
            self._backoff = backoff(self.policy, self.polls, task, elapsed)

    def waiting(self, elapsed: float) -> None:
        """Note that the task has run ``elapsed`` seconds without a word (with callbacks)."""
        if self.silent is not None:
            self.silent(self.predict(self.shape).surprise(elapsed))

    def typical(self) -> float:
        """The median running time of the task's shape."""
        return self.predict(self.shape).median

    def due(self) -> float:
        """The running time at which the next poll is due."""
        policy = self.policy
        if not policy.adaptive:
            return self._last + (self._backoff if self.polls else policy.min_interval)
        prediction = self.predict(self.shape)
        model = prediction.at(next_z(prediction.z(self._last), self.cost(), prediction.sigma))
        pause = model - self._last
        longest = policy.max_interval
        if self.patient:
            # Progress would aim at the end, where the callback is due: no poll there.
            longest = max(longest, self._last, prediction.at(OVERDUE_Z) - self._last)
        else:
            pause = self._aim(pause)
        return self._last + min(longest, max(policy.min_interval, pause * self._spread))

    def _aim(self, model: float) -> float:
        """The pause progress suggests, or the model's ``model`` pause."""
        if self._latest is None or self._first is None:
            return model
        (early, low), (late, high) = self._first, self._latest
        if high > low and late > early:
            end = late + (100 - high) * (late - early) / (high - low)
            if end > self._last:
                return end * (1 + AIM_MARGIN) - self._last
            return min(model, OVERDUE_SHARE * self._last)
        return min(model, (late * 100 / high - self._last) / 2)

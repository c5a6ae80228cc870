"""A batch's items and results: what goes in, and how each one ended."""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping

import attrs

from sora2pro._config import check_idempotency_key
from sora2pro._errors import InvalidInputError, Sora2ProError
from sora2pro._model._failures import SubmitUncertainError
from sora2pro._model._requests import REQUEST_TYPES, ImageToVideo, Job, Request, TextToVideo
from sora2pro._wire import check_job, make_converter

if typing.TYPE_CHECKING:
    import cattrs

    from sora2pro._model._task import Task

__all__ = ["BatchItem", "BatchResult", "item_key", "to_request"]

#: A prompt, a request, or a mapping with the fields of :class:`TextToVideo` (or of
#: :class:`ImageToVideo`, when it has an ``image``; of :class:`Job`, when it has a
#: ``model``), and maybe an ``idempotency_key``.
BatchItem = str | Request | Mapping[str, typing.Any]

_KEY = "idempotency_key"


@attrs.frozen(kw_only=True)
class BatchResult:
    """How one item of a batch ended.

    Attributes:
        index: The item's position in the input, from 0.
        request: The request, or None when the item itself was not a valid request.
        task_id: The task id, once the server gave one.
        task: The last snapshot of the task (final when it ended), if any was seen.
        error: Why the item did not succeed, or None.

    """

    index: int
    request: Request | None
    task_id: str | None = None
    task: Task | None = None
    error: Sora2ProError | None = None

    @property
    def ok(self) -> bool:
        """Whether the item ended with a successful task."""
        return self.error is None and self.task is not None

    @property
    def uncertain(self) -> bool:
        """Whether the create may have run although its answer was lost."""
        return isinstance(self.error, SubmitUncertainError)


@functools.cache
def _converter() -> cattrs.Converter:
    """The wire converter that checks jobs: built on first use, configured once, never changed."""
    return make_converter()


def to_request(item: BatchItem) -> Request:
    """Turn a batch item into a request, checked as a submit would check it.

    A mapping with a ``model`` is a :class:`Job` (``model``, ``input``,
    ``callback_url``), one with an ``image`` an :class:`ImageToVideo`, any other a
    :class:`TextToVideo`. A mapping's ``idempotency_key`` belongs to the item, not
    to its request: it is checked, and left out.

    Raises:
        InvalidInputError: the item is not a prompt, a request or a mapping of its
            fields, its idempotency key is not printable text of 1 to 255 characters,
            or it is a job naming a Sora 2 model that breaks its typed request's rules.

    """
    request = _as_request(item)
    if isinstance(request, Job):
        check_job(_converter(), request)
    return request


def _as_request(item: BatchItem) -> Request:
    if isinstance(item, REQUEST_TYPES):
        return item
    if isinstance(item, str):
        return TextToVideo(item)
    if isinstance(item, Mapping):
        fields = dict(item)
        check_idempotency_key(fields.pop(_KEY, None))
        if not all(isinstance(name, str) for name in fields):
            raise InvalidInputError("item", "a mapping's keys must be field names (strings)")
        kind = Job if "model" in fields else ImageToVideo if "image" in fields else TextToVideo
        unknown = set(fields) - set(attrs.fields_dict(kind))
        if unknown:
            raise InvalidInputError("item", f"unknown fields: {', '.join(sorted(unknown))}")
        needed = "input" if kind is Job else "prompt"
        if needed not in fields:
            raise InvalidInputError(needed, "is required")
        return kind(**fields)
    raise InvalidInputError("item", f"must be a prompt, a request or a mapping, not {item!r}")


def item_key(item: BatchItem) -> str | None:
    """The idempotency key of an item :func:`to_request` took; None when it has none."""
    if not isinstance(item, Mapping):
        return None
    return typing.cast("str | None", item.get(_KEY))

"""Jobs on the wire: one naming a typed model is held to its request's rules.

A :class:`Job` sends its input as given. When it names a model sora2pro has a typed
request for, that input must be what the typed request would send: the same checks,
only its fields, each in its wire form (``n_frames`` as ``"10"``, not ``10``).
"""

from __future__ import annotations

import typing

import attrs

from sora2pro._errors import InvalidInputError
from sora2pro._model._json import thaw
from sora2pro._model._requests import TYPED_REQUESTS, WIRE, Job, Request, TypedRequest
from sora2pro._wire._converter import DECODE_ERRORS, _structure_json_object, describe

if typing.TYPE_CHECKING:
    import cattrs

__all__ = ["BY_MODEL", "check_job", "rebuild"]

#: The typed request types by the model they name.
BY_MODEL: dict[str, type[TypedRequest]] = {kind.MODEL: kind for kind in TYPED_REQUESTS}
_LEFT_OUT = object()


def _wire_names(kind: type[TypedRequest]) -> dict[str, attrs.Attribute[typing.Any]]:
    return {
        field.metadata.get(WIRE, field.name): field
        for field in attrs.fields(kind)
        if field.name != "callback_url"
    }


def check_job(converter: cattrs.Converter, job: Job) -> None:
    """Refuse a job naming a typed model that its typed request would not send as it is.

    Raises:
        InvalidInputError: the input breaks the typed request's rules, has a field
            it does not have, or gives a field in another form than it sends.

    """
    kind = BY_MODEL.get(job.model)
    if kind is None:
        return
    fields = typing.cast("dict[str, object]", thaw(job.input))
    names = _wire_names(kind)
    for key in fields:
        if key not in names:
            raise InvalidInputError("input", f"{key!r:.60} is not a field of {job.model}")
    try:
        typed = converter.structure(fields, kind)
    except (*DECODE_ERRORS, InvalidInputError) as exc:
        refusal = _refusal(exc)
        reason = describe(exc) if refusal is None else str(refusal)
        raise InvalidInputError("input", f"breaks the rules of {kind.__name__}: {reason}") from None
    sent: dict[str, object] = converter.unstructure(typed, kind)
    for key, value in fields.items():
        # A field left at its default is not sent; an empty list of ids means the same.
        expected = sent.get(key, [] if names[key].default == () else _LEFT_OUT)
        if value == expected:
            continue
        if expected is _LEFT_OUT:
            why = f"leave it out ({kind.__name__} never sends {value!r:.80})"
        else:
            why = f"must be {expected!r:.80}, as {kind.__name__} sends it, not {value!r:.80}"
        raise InvalidInputError("input", f"{key}: {why}")


def _refusal(exc: BaseException) -> InvalidInputError | None:
    """The request's own refusal, where the converter wrapped it in a group."""
    if isinstance(exc, InvalidInputError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _refusal(inner)
            if found is not None:
                return found
    return None


def rebuild(converter: cattrs.Converter, param: dict[str, object]) -> Request | None:
    """The request a createTask body names: typed for a model sora2pro knows, else a job.

    Raises:
        InvalidInputError: a field breaks the request's rules.
        Exception: one of ``DECODE_ERRORS``, when the body's parts do not fit.

    """
    model = param.get("model")
    if not isinstance(model, str):
        return None
    fields = _structure_json_object(param.get("input"), None) or {}
    callback_url = param.get("callBackUrl")
    callback_url = callback_url if isinstance(callback_url, str) and callback_url else None
    kind = BY_MODEL.get(model)
    if kind is None:
        return Job(model, fields, callback_url=callback_url)
    request: TypedRequest = converter.structure(fields, kind)
    return attrs.evolve(request, callback_url=callback_url) if callback_url else request

"""Any model of the jobs API: its name and its ``input``, sent as given."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from sora2pro._errors import InvalidInputError
from sora2pro._model._checks import callback_url_field
from sora2pro._model._json import FrozenDict, checked_object

__all__ = ["MAX_MODEL_LENGTH", "Job"]

#: The longest model name a job takes.
MAX_MODEL_LENGTH = 100


def _check_model(_instance: object, _attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidInputError("model", f"must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= MAX_MODEL_LENGTH or not value.isprintable() or " " in value:
        raise InvalidInputError(
            "model",
            f"must be a model name of 1 to {MAX_MODEL_LENGTH} printable characters "
            f"without spaces, not {value!r:.120}",
        )


def _to_input(value: Mapping[str, object]) -> FrozenDict:
    return checked_object("input", value)


@attrs.frozen
class Job:
    """A task of any model the jobs API serves: the createTask body, checked when built.

    The API serves many models (video, image, characters) through the same calls;
    only the model's name and its ``input`` fields differ. A job sends ``input`` as
    given (no file is uploaded: give URLs, from :meth:`Client.upload` for a local
    file). A job naming one of the Sora 2 models is also held to the rules of its
    typed request (:class:`TextToVideo`, :class:`ImageToVideo`,
    :class:`CharacterRequest`) when it is submitted: the same checks, only its
    fields, each as that request would send it.

    Args:
        model: The model's name, such as ``"sora-2-pro-text-to-video"``; 1 to 100
            printable characters without spaces.
        input: The model's input fields: a mapping with string keys, of values JSON
            can carry, at most 1 MB as JSON. It is copied, into dicts and lists
            that refuse changes.
        callback_url: Where the server POSTs the result when the task ends.

    Raises:
        InvalidInputError: if a field breaks those rules.

    """

    model: str = attrs.field(validator=_check_model)
    input: Mapping[str, object] = attrs.field(converter=_to_input)
    callback_url: str | None = callback_url_field()

"""JSON values that cannot change: a job's ``input``, a task's decoded ``resultJson``.

A request is frozen, and the journal, the idempotency keys and the pending tasks keep
it: a caller changing a nested list after a submit must not change what was sent.
Objects become :class:`FrozenDict` and arrays :class:`FrozenList`: a ``dict`` and a
``list`` that refuse changes, so that they equal what ``json.loads`` gives, and
``json.dumps`` and ``attrs.asdict`` take them as they are.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping

from sora2pro._errors import InvalidInputError
from sora2pro._model._checks import is_text

__all__ = [
    "MAX_INPUT_DEPTH",
    "MAX_INPUT_SIZE",
    "FrozenDict",
    "FrozenList",
    "checked_object",
    "freeze",
    "frozen_object",
    "thaw",
]

#: The most bytes a job's ``input`` may take as JSON: 1 MB (files go by URL).
MAX_INPUT_SIZE = 1_000_000
#: How deep objects and arrays in a job's ``input`` may nest.
MAX_INPUT_DEPTH = 32


def _refuse(value: object) -> typing.NoReturn:
    kind = "dict" if isinstance(value, dict) else "list"
    raise TypeError(f"{type(value).__name__} is read-only: copy it with {kind}() to change it")


class FrozenList(list[object]):
    """A JSON array that refuses every change; equal to the plain list it holds."""

    __slots__ = ()

    def __setitem__(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def __delitem__(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def __iadd__(self, _other: object) -> typing.NoReturn:  # type: ignore[misc]
        _refuse(self)

    def __imul__(self, _other: object) -> typing.NoReturn:
        _refuse(self)

    def append(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def extend(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def insert(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def remove(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def pop(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def clear(self) -> typing.NoReturn:
        _refuse(self)

    def sort(self, *_args: object, **_kwargs: object) -> typing.NoReturn:
        _refuse(self)

    def reverse(self) -> typing.NoReturn:
        _refuse(self)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[object]]]:
        return FrozenList, (list(self),)


class FrozenDict(dict[str, object]):
    """A JSON object that refuses every change; equal to the plain dict it holds."""

    __slots__ = ()

    def __setitem__(self, key: str, value: object) -> typing.NoReturn:
        _refuse(self)

    def __delitem__(self, key: str) -> typing.NoReturn:
        _refuse(self)

    def __ior__(self, other: object) -> typing.NoReturn:  # type: ignore[misc]
        _refuse(self)

    def clear(self) -> typing.NoReturn:
        _refuse(self)

    def pop(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def popitem(self) -> typing.NoReturn:
        _refuse(self)

    def setdefault(self, *_args: object) -> typing.NoReturn:
        _refuse(self)

    def update(self, *_args: object, **_kwargs: object) -> typing.NoReturn:
        _refuse(self)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, object]]]:
        return FrozenDict, (dict(self),)


def freeze(value: object) -> object:
    """A decoded JSON value (``json.loads``'s) made unchangeable, unchecked."""
    if type(value) is FrozenDict:
        return value
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if type(value) is FrozenList:
        return value
    if isinstance(value, list | tuple):
        return FrozenList([freeze(item) for item in value])
    return value


def frozen_object(value: Mapping[str, object]) -> FrozenDict:
    """A decoded JSON object made unchangeable, unchecked (one frozen already is kept)."""
    return typing.cast("FrozenDict", freeze(value if isinstance(value, dict) else dict(value)))


def thaw(value: object) -> object:
    """A frozen JSON value as plain dicts and lists again."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    return value


def checked_object(name: str, value: object) -> FrozenDict:
    """A mapping given by a user as a frozen JSON object, checked to be sent as it is.

    Raises:
        InvalidInputError: ``value`` is not a mapping with string keys, holds a value
            JSON cannot carry (a set, bytes, NaN, a lone surrogate, a number too long
            for JSON), nests deeper than :data:`MAX_INPUT_DEPTH`, or takes more than
            :data:`MAX_INPUT_SIZE` bytes as JSON.

    """
    if not isinstance(value, Mapping):
        raise InvalidInputError(name, f"must be a mapping, not {type(value).__name__}")
    frozen = _checked(name, value, 0)
    try:
        size = len(json.dumps(frozen, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except ValueError as exc:  # an integer with more digits than Python converts
        raise InvalidInputError(name, f"cannot be sent as JSON: {exc}") from None
    if size > MAX_INPUT_SIZE:
        raise InvalidInputError(
            name, f"takes {size:,} bytes as JSON; at most {MAX_INPUT_SIZE:,} are allowed"
        )
    return typing.cast("FrozenDict", frozen)


def _checked(path: str, value: object, depth: int) -> object:
    """``value`` frozen, with its type checked (subclasses of str, int and float undone)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(path, f"{value!r} is not a number JSON can carry")
        return float(value)
    if isinstance(value, str):
        if not is_text(value):
            raise InvalidInputError(path, "holds a lone surrogate, which is not text")
        return str.__str__(value)
    if depth >= MAX_INPUT_DEPTH and isinstance(value, Mapping | list | tuple):
        raise InvalidInputError(path, f"nests deeper than {MAX_INPUT_DEPTH} levels")
    if isinstance(value, Mapping):
        items: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not is_text(key):
                raise InvalidInputError(path, f"has a key that is not a string: {key!r:.60}")
            items[str.__str__(key)] = _checked(f"{path}.{key:.60}", item, depth + 1)
        return FrozenDict(items)
    if isinstance(value, list | tuple):
        return FrozenList(_checked(f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
    raise InvalidInputError(path, f"a {type(value).__name__} is not a JSON value")

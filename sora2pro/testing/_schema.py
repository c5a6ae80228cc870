"""The createTask body check, against the provider's own OpenAPI document."""

from __future__ import annotations

import functools
import importlib.resources
import json
import typing
import urllib.parse

try:
    import jsonschema
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the sora2pro emulator needs jsonschema: pip install 'sora2pro[testing]'"
    ) from exc

__all__ = ["create_errors", "openapi_document"]


@functools.cache
def openapi_document() -> dict[str, typing.Any]:
    """The provider's OpenAPI document for createTask, as shipped with sora2pro."""
    text = importlib.resources.files(__package__).joinpath("openapi.json").read_text("utf-8")
    document: dict[str, typing.Any] = json.loads(text)
    return document


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc) and value == value.strip()


@functools.cache
def _validator() -> jsonschema.Draft4Validator:
    operation = openapi_document()["paths"]["/api/v1/jobs/createTask"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uri")(_is_uri)
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def create_errors(body: object) -> list[str]:
    """Every reason ``body`` is not a valid createTask body; empty when it is valid.

    Stricter than the schema where API.md is: ``input`` and a non-empty prompt are
    required, and character ids must not be blank.
    """
    errors = [
        f"{'.'.join(map(str, error.absolute_path)) or 'body'}: {error.message}"
        for error in _validator().iter_errors(body)
    ]
    if isinstance(body, dict):
        payload = body.get("input")
        if not isinstance(payload, dict):
            errors.append("input: is required")
        else:
            if isinstance(payload.get("prompt"), str) and not payload["prompt"].strip():
                errors.append("input.prompt: must not be empty")
            ids = payload.get("character_id_list")
            if isinstance(ids, list) and any(isinstance(i, str) and not i.strip() for i in ids):
                errors.append("input.character_id_list: ids must not be blank")
    return errors

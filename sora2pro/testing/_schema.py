"""The createTask body check: the provider's own OpenAPI document, and one schema per model."""

from __future__ import annotations

import copy
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

__all__ = ["create_errors", "create_schemas", "openapi_document"]


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


def _one_uri() -> dict[str, typing.Any]:
    return {
        "type": "array",
        "items": {"type": "string", "format": "uri"},
        "minItems": 1,
        "maxItems": 1,
    }


@functools.cache
def create_schemas() -> dict[str, dict[str, typing.Any]]:
    """The createTask body schema of each model, by model name.

    Text-to-video is the provider's own document. The provider publishes no
    document for the other two; their schemas follow API.md section 6 and the
    upstream model pages: image-to-video is text-to-video plus exactly one
    ``image_urls`` entry (size defaults to ``standard``); characters take exactly
    one ``character_file_url`` and two optional texts of at most 5000 characters.
    """
    operation = openapi_document()["paths"]["/api/v1/jobs/createTask"]["post"]
    text: dict[str, typing.Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    model = text["properties"]["model"]["enum"][0]
    image = copy.deepcopy(text)
    image["properties"]["model"]["enum"] = ["sora-2-pro-image-to-video"]
    image_input = image["properties"]["input"]
    image_input["properties"]["image_urls"] = _one_uri()
    image_input["properties"]["size"]["default"] = "standard"
    image_input["required"] = ["prompt", "image_urls"]
    characters = copy.deepcopy(text)
    characters["properties"]["model"]["enum"] = ["sora-2-characters"]
    long_text = {"type": "string", "maxLength": 5000}
    characters["properties"]["input"] = {
        "type": "object",
        "properties": {
            "character_file_url": _one_uri(),
            "character_prompt": long_text,
            "safety_instruction": long_text,
        },
        "required": ["character_file_url"],
    }
    return {model: text, "sora-2-pro-image-to-video": image, "sora-2-characters": characters}


@functools.cache
def _validator(model: str) -> jsonschema.Draft4Validator:
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uri")(_is_uri)
    return jsonschema.Draft4Validator(create_schemas()[model], format_checker=checker)


def _job_errors(body: dict[str, typing.Any]) -> list[str]:
    """Why the body of a model without a schema here is not one: only the shared envelope."""
    errors = []
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        errors.append("model: must be a model name")
    if not isinstance(body.get("input"), dict):
        errors.append("input: is required, a JSON object")
    url = body.get("callBackUrl")
    if url is not None and not (isinstance(url, str) and _is_uri(url)):
        errors.append("callBackUrl: must be a URI")
    return errors


def create_errors(body: object) -> list[str]:
    """Every reason ``body`` is not a valid createTask body; empty when it is valid.

    A Sora 2 model's body is checked against its schema, and stricter than the
    schemas where API.md is: ``input`` is required, prompts and character ids must
    not be blank, and ``input`` may hold only the model's fields. Any other model
    (API.md section 9: the platform serves many, and which names it knows cannot be
    told here) needs a name, an ``input`` object, and a valid ``callBackUrl``.
    """
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    model = body.get("model")
    if not isinstance(model, str) or model not in create_schemas():
        return _job_errors(body)
    errors = [
        f"{'.'.join(map(str, error.absolute_path)) or 'body'}: {error.message}"
        for error in _validator(model).iter_errors(body)
    ]
    payload = body.get("input")
    if not isinstance(payload, dict):
        errors.append("input: is required")
        return errors
    known = create_schemas()[model]["properties"]["input"]["properties"]
    errors.extend(f"input.{key}: not a field of {model}" for key in payload if key not in known)
    if isinstance(payload.get("prompt"), str) and not payload["prompt"].strip():
        errors.append("input.prompt: must not be empty")
    ids = payload.get("character_id_list")
    if isinstance(ids, list) and any(isinstance(i, str) and not i.strip() for i in ids):
        errors.append("input.character_id_list: ids must not be blank")
    return errors

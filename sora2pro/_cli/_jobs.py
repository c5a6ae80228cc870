"""``generate --model MODEL --input FILE``: a job of any model, from the command line."""

from __future__ import annotations

import json
import sys
import typing

from sora2pro import InvalidInputError, Job

if typing.TYPE_CHECKING:
    import argparse

    from sora2pro import Task

__all__ = ["add_job_options", "job_of", "result_lines"]

#: The largest ``--input`` file read; a job's input itself takes at most 1 MB as JSON.
_MAX_FILE = 10 * 1000 * 1000
#: The options that shape a Sora request, by their destination, as the user types them.
_SORA_OPTIONS = {
    "image": "--image",
    "aspect_ratio": "--aspect-ratio",
    "frames": "--frames",
    "size": "--size",
    "no_watermark": "--no-watermark",
    "character": "--character",
}


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` and ``--input``."""
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="any model of the jobs API (a Kling, Veo, image model...): send its fields "
        "from --input as they are, the PROMPT (if given) as its prompt",
    )
    parser.add_argument(
        "--input",
        metavar="FILE",
        help="with --model: the model's input fields, a JSON object in FILE ('-' reads stdin)",
    )


def job_of(args: argparse.Namespace) -> Job | None:
    """The job ``--model`` asks for, or None without it.

    Raises:
        InvalidInputError: an option that shapes a Sora request comes with ``--model``,
            ``--input`` comes without it, or the input is not a JSON object a job takes.

    """
    if args.model is None:
        if args.input is not None:
            raise InvalidInputError("--input", "needs --model (it holds that model's fields)")
        if args.prompt is None:
            raise InvalidInputError("prompt", "is required (or give --model)")
        return None
    given = [flag for dest, flag in _SORA_OPTIONS.items() if getattr(args, dest)]
    if given:
        raise InvalidInputError(
            "--model", f"{', '.join(given)} shape Sora requests; put the fields in --input"
        )
    fields = {} if args.input is None else _read(args.input)
    if args.prompt is not None and isinstance(fields, dict):
        if "prompt" in fields:
            raise InvalidInputError("prompt", "given twice: as PROMPT and in --input")
        fields["prompt"] = args.prompt
    return Job(args.model, typing.cast("dict[str, object]", fields))


def result_lines(task: Task) -> list[str]:
    """A job's result: each URL, or the result object itself when it has none."""
    if task.result_urls or not task.result_object:
        return [f"result {url}" for url in task.result_urls]
    return [f"result {json.dumps(task.result_object, ensure_ascii=False)}"]


def _read(path: str) -> object:
    """The JSON value in the file at ``path`` (``-``: stdin)."""
    try:
        if path == "-":
            text: str | bytes = sys.stdin.read(_MAX_FILE + 1)
        else:
            with open(path, "rb") as file:  # noqa: PTH123  # a size cap, not the whole file
                text = file.read(_MAX_FILE + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InvalidInputError("--input", f"cannot read {path}: {exc}") from None
    if len(text) > _MAX_FILE:
        raise InvalidInputError("--input", f"{path} is larger than {_MAX_FILE:,} bytes")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError("--input", f"{path} is not JSON: {exc}") from None

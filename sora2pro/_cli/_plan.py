"""``sora2pro batch``'s look before it leaps: its lines checked, its spend floor read.

``--dry-run`` checks every line exactly as a run does (a run refuses the whole file
when one line is bad) and says how many videos the file would make, sending nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import typing

from sora2pro import BatchItem, InvalidInputError, TextToVideo, to_request
from sora2pro._cli._common import EXIT_OK, EXIT_USAGE, request_options

if typing.TYPE_CHECKING:
    from sora2pro._cli._output import Output

__all__ = ["credit_floor", "dry_run", "scan_requests"]

_JSONL = {".jsonl", ".ndjson"}


def credit_floor(text: str) -> float:
    """``--keep-credits``: a non-negative, finite number of credits (argparse's ``type``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of credits >= 0, not {text!r}")
    return value


def scan_requests(
    path: pathlib.Path, defaults: dict[str, typing.Any]
) -> tuple[list[BatchItem], list[tuple[int, str]]]:
    """Every valid request of the file, and (line number, why) for every bad line.

    A JSON line with an ``idempotency_key`` stays a mapping, so that the key goes
    with it to the batch; one with a ``model`` is a :class:`Job` (``model``,
    ``input``, ``callback_url``), which the Sora options of the command leave alone.

    Raises:
        OSError: the file cannot be read.
        InvalidInputError: the file is not UTF-8 text.

    """
    requests: list[BatchItem] = []
    problems: list[tuple[int, str]] = []
    jsonl = path.suffix.lower() in _JSONL
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            str(path), f"is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            if jsonl:
                fields = json.loads(line)
                if not isinstance(fields, dict):
                    raise InvalidInputError("line", "must be a JSON object")
                # A line naming a model is a Job: the Sora options are not its fields.
                item = fields if "model" in fields else defaults | fields
                request = to_request(item)
                requests.append(item if "idempotency_key" in item else request)
            else:
                requests.append(TextToVideo(line, **defaults))
        except (InvalidInputError, ValueError, TypeError, RecursionError) as error:
            problems.append((number, str(error)))
    return requests, problems


def dry_run(args: argparse.Namespace, out: Output) -> int:
    """Check every line as a real run would, and say what it would make; send nothing."""
    options = typing.cast("dict[str, typing.Any]", request_options(args))
    requests, problems = scan_requests(pathlib.Path(args.file), options)
    for number, why in problems:
        out.line(f"line {number}: {why}")
    invalid = f", {len(problems)} invalid line(s) to fix first" if problems else ""
    out.line(f"would make {len(requests)} video(s) from {args.file}{invalid}; nothing was sent")
    out.document(
        {
            "videos": len(requests),
            "invalid": [{"line": number, "error": why} for number, why in problems],
        }
    )
    return EXIT_USAGE if problems or not requests else EXIT_OK

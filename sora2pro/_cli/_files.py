"""The sub-commands about files: ``upload``, and ``character create`` from a clip."""

from __future__ import annotations

import typing

from sora2pro import DEFAULT_UPLOAD_PATH, DEFAULT_WAIT_TIMEOUT, Character, CharacterRequest
from sora2pro._cli._common import (
    EXIT_OK,
    Command,
    add_offline_option,
    add_timeout_option,
    json_note,
    open_client,
    submit_and_wait,
)
from sora2pro._cli._output import as_document

if typing.TYPE_CHECKING:
    import argparse

    from sora2pro._cli._output import Output

__all__ = ["CHARACTER", "UPLOAD"]

_UPLOAD_TIMEOUT = 300.0


async def _upload(args: argparse.Namespace, out: Output) -> int:
    async with open_client(args.offline, out) as client:
        stored = await client.upload(
            args.source,
            upload_path=args.path,
            file_name=args.name,
            as_base64=args.base64,
            timeout=args.timeout,
        )
    out.line(f"url {stored.url}")
    if stored.size is not None:
        out.note(f"stored {stored.file_name} ({stored.size:,} bytes); kept about 3 days")
    out.document(as_document(stored))
    return EXIT_OK


def _upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", metavar="FILE|URL", help="a local file, or an http(s) URL the service fetches"
    )
    parser.add_argument(
        "--path",
        default=DEFAULT_UPLOAD_PATH,
        metavar="FOLDER",
        help=f"the folder on the service (default {DEFAULT_UPLOAD_PATH})",
    )
    parser.add_argument("--name", metavar="NAME", help="the name to store it under")
    parser.add_argument(
        "--base64", action="store_true", help="send the file as base64 JSON, not multipart"
    )
    add_timeout_option(parser, _UPLOAD_TIMEOUT, "the upload")
    add_offline_option(parser)


UPLOAD = Command(
    name="upload",
    summary="store a file with the API's upload service and print its URL",
    description="Upload a local file (streamed as multipart, or as base64 with --base64) "
    "or have the service fetch a URL, then print the URL to use in a request, such as "
    "'generate --image URL'. Uploaded files are deleted after about 3 days.",
    exits=(
        (0, "the file is stored"),
        (2, "usage error: a bad option, no such file, an empty file; nothing was sent"),
        (3, "API error: key, a refused file or URL, server"),
        (4, "timeout: the upload took longer than --timeout"),
        (130, "interrupted"),
    ),
    notes=(json_note("the stored file: url, file_name, size, mime_type, uploaded_at"),),
    arguments=_upload_arguments,
    run=_upload,
)


async def _character(args: argparse.Namespace, out: Output) -> int:
    # Built first: a bad clip or prompt is refused before the client even starts.
    request = CharacterRequest(args.source, prompt=args.prompt, safety_instruction=args.safety)
    async with open_client(args.offline, out) as client:
        task = await submit_and_wait(client, out, request, args.timeout)
    character = Character.from_task(task)
    out.line(f"character {character.id}")
    out.note(f"use it: sora2pro generate PROMPT --character {character.id}")
    out.document(as_document(character))
    return EXIT_OK


def _character_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["create"], help="what to do: create a character")
    parser.add_argument(
        "source",
        metavar="FILE|URL",
        help="a 1-4 s clip: a local MP4, WebM or AVI file of at most 10 MB, or its URL",
    )
    parser.add_argument("--prompt", help="what the character is like (at most 5,000 characters)")
    parser.add_argument(
        "--safety", metavar="TEXT", help="limits on how it may be used (at most 5,000 characters)"
    )
    add_timeout_option(parser, DEFAULT_WAIT_TIMEOUT, "waiting (the task keeps running)")
    add_offline_option(parser)


CHARACTER = Command(
    name="character",
    summary="create a reusable character from a short clip",
    description="'character create FILE|URL' checks a local clip (type, size) before "
    "anything is sent, uploads it, submits it to the characters model, waits, and "
    "prints the character id to pass to 'generate --character ID'. The character lasts "
    "as long as its clip is kept (uploads: about 3 days).",
    exits=(
        (0, "the character is ready"),
        (1, "the task failed"),
        (
            2,
            "usage error: a bad option, a clip of the wrong type or size, too long a "
            "prompt; nothing was sent",
        ),
        (3, "API error: key, credits, validation, server"),
        (4, "timeout: the task keeps running; 'sora2pro wait TASK_ID' goes on"),
        (5, "uncertain submit: the task may exist (and be billed)"),
        (130, "interrupted"),
    ),
    notes=(json_note("the character: id, and task (the finished task)"),),
    arguments=_character_arguments,
    run=_character,
)

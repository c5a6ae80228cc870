"""The one place that knows the wire: camelCase, JSON in strings, epochs, msg or message.

``_converter`` holds the private cattrs converter and its hooks; ``_decode`` reads
answers into plain values and builds create bodies.
"""

from sora2pro._wire._converter import Envelope, make_converter
from sora2pro._wire._decode import (
    decode_create,
    decode_credits,
    decode_envelope,
    decode_task,
    decode_task_id,
    decode_upload,
    encode_create,
    encode_task,
)
from sora2pro._wire._jobs import check_job

__all__ = [
    "Envelope",
    "check_job",
    "decode_create",
    "decode_credits",
    "decode_envelope",
    "decode_task",
    "decode_task_id",
    "decode_upload",
    "encode_create",
    "encode_task",
    "make_converter",
]

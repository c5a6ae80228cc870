"""Callback signatures as the upstream platform makes them: pure, no server, no I/O.

``X-Webhook-Signature`` is base64(HMAC-SHA256(key, taskId + "." + timestamp)), with
``X-Webhook-Timestamp`` in Unix seconds (API.md section 4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["sign"]


def sign(key: bytes, task_id: str, timestamp: int) -> str:
    """The signature the platform sends for ``task_id`` at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(key, f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")

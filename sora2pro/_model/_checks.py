"""Checks every request type shares: text that can be sent, and callback URLs."""

from __future__ import annotations

import typing
import urllib.parse

import attrs

from sora2pro._errors import InvalidInputError

__all__ = ["callback_url_field", "check_callback_url", "is_http_url", "is_text"]


def check_callback_url(name: str, value: str | None) -> None:
    """Refuse anything but an absolute http(s) URL.

    Raises:
        InvalidInputError: if ``value`` is not None and not such a URL.

    """
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInputError(name, f"must be a URL string, not {type(value).__name__}")
    if not is_http_url(value):
        raise InvalidInputError(name, f"must be an absolute http(s) URL, not {value!r}")


def is_text(value: str) -> bool:
    """Whether ``value`` is text that can be sent: it holds no lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_http_url(value: str) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host and a valid port."""
    if not is_text(value) or not value.isprintable():
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and value == value.strip()


def _check_url(
    _instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    check_callback_url(attribute.name, value)


def callback_url_field() -> typing.Any:
    """The ``callback_url`` field every request has; it travels outside ``input``."""
    return attrs.field(default=None, kw_only=True, validator=_check_url)

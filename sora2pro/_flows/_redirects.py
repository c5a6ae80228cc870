"""Where a file's redirects may lead: http(s) only, and never off the public internet.

Each target is checked before any request goes to it: its scheme, and (unless the
caller allows it) every address its host is or resolves to. The result URL itself
came from the API and is fetched as it is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing

import yarl

from sora2pro._errors import DownloadError

if typing.TYPE_CHECKING:
    import aiohttp

__all__ = ["MAX_REDIRECTS", "REDIRECTS", "redirect_target"]

#: Redirects followed from one request before the download is refused.
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _internal(address: str) -> bool:
    """Whether ``address`` is off the public internet (loopback, private, multicast...)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def redirect_target(response: aiohttp.ClientResponse, *, allow_private: bool) -> yarl.URL:
    """Where a redirect leads, once it is known to be safe to follow.

    Raises:
        DownloadError: the target is not an http(s) URL, or (unless ``allow_private``)
            its host is, or resolves to, an address off the public internet; any one
            such address is enough.

    """
    status = response.status
    location = response.headers.get("Location")
    try:
        target = None if location is None else response.url.join(yarl.URL(location))
    except ValueError:
        target = None
    if target is None:
        raise DownloadError(
            f"download answered HTTP {status} without a usable Location", http_status=status
        )
    if target.scheme not in {"http", "https"} or not target.raw_host:
        raise DownloadError(
            f"download redirected to a {target.scheme}: URL; "
            "only http and https URLs with a host are followed",
            http_status=status,
        )
    host = target.raw_host
    if allow_private:
        return target
    # aiohttp resolves the name again to connect: a name that answers otherwise the
    # second time (DNS rebinding) is beyond this check, which stops plain redirects.
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, target.port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        # Like a connection that could not be opened: another try may resolve it.
        raise DownloadError(f"download redirected to {host}, which did not resolve: {exc}") from exc
    internal = sorted({str(info[4][0]) for info in found if _internal(str(info[4][0]))})
    if internal:
        raise DownloadError(
            f"download redirected to {host} ({', '.join(internal)}), an address off the "
            "public internet; pass allow_private_redirects=True to follow it",
            http_status=status,
        )
    return target

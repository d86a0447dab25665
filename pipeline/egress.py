"""Where Juben may send requests a user named (webhook callback URLs): no SSRF.

A URL must be http(s) with a host; unless allowed (``webhooks.allow_private``), a host that is,
or resolves to, a private, loopback, link-local, multicast or reserved address is refused, so a
callback cannot be pointed at the database, Redis, a cloud metadata endpoint or anything else
inside the network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from pipeline.errors import InputError


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """``url`` if webhooks may be sent there.

    Raises:
        InputError: not http(s), no host, or (unless ``allow_private``) a host that is or resolves
            to a private, loopback, link-local, multicast or reserved address.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"callback URL {url!r}: only http:// and https:// URLs with a host")
    if allow_private:
        return url.strip()
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return url.strip()
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError:
            raise InputError(f"callback URL {url!r}: cannot resolve {host}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise InputError(
                f"callback URL {url!r}: {host} is a private, loopback or link-local address"
                f" ({address}); refused (webhooks.allow_private)"
            )
    return url.strip()

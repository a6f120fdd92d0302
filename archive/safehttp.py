"""An HTTP client that connects only where the crawler may: the same address guard, in httpx.

The crawler checks every URL on its text and every address a host name resolves to, at connect
time, on every hop (archive/netguard.py; docs/fetching-safely.md, Addresses). The archive's own
HTTP client (the Wayback backfill) uses the same two checks: :func:`url_refusal` on each URL
before it is requested, and a connection backend that resolves the host itself, refuses it if
*any* of its addresses is forbidden, and then connects to the address it checked (so a second
DNS answer cannot swap in another one). Proxies from the environment are not used: the
connection would go to the proxy, and the guard would never see the address fetched.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from archive.netguard import IPAddress, Refusal, address_refusal, explain_url

Resolver = Callable[[str, int], list[IPAddress]]


class AddressRefused(httpx.ConnectError):
    """A host resolved to an address the guard forbids; no connection was attempted."""


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (for TCP), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allow_private: bool, resolver: Resolver = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.resolver(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            why = address_refusal(address, self.allow_private)
            if why is not None:
                raise AddressRefused(why if str(address) == host else f"{host}: {why}")
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with every connection made through the address guard."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = resolve) -> None:
        super().__init__(trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            # Fail closed: an httpx that builds its pool differently would bypass the guard.
            raise RuntimeError("this httpx version cannot be guarded; pin httpx 0.28")
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=_GuardedBackend(allow_private, resolver),
        )


def guarded_client(*, allow_private: bool, resolver: Resolver = resolve, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` that can only reach addresses the crawler could (``options`` as httpx's)."""
    return httpx.Client(
        transport=GuardedTransport(allow_private=allow_private, resolver=resolver), trust_env=False, **options
    )


def url_refusal(url: str, allow_private: bool) -> Refusal | None:
    """Why ``url`` may not be requested, judged on its text (scheme, address literals), or None."""
    return explain_url(url, allow_private)

"""Which URLs and addresses the crawler may fetch: a pure, stdlib-only policy (no Scrapy, no I/O).

Two checks share these rules:

* at intake, on the URL text (`explain_url` / `classify_url`): scheme allowlist and literal addresses,
  including the odd spellings HTTP clients accept (``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
  ``[::ffff:127.0.0.1]``, percent-encoded or full-width digits);
* at connect time, on every address a host name resolves to (`address_refusal`), done by the guarded
  resolver in `crawler.safety` on every hop.

Refusal codes are stable strings used in stats keys (``mediawatch/refused/<code>``) and in fetch reasons.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})

SCHEME = "scheme"
SSRF = "ssrf"
INVALID = "invalid"

# Cloud instance-metadata endpoints: refused even when private networks are allowed.
CLOUD_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IPv6 metadata
    )
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_HEX_PART = re.compile(r"0[xX][0-9a-fA-F]*")
_DEC_PART = re.compile(r"[0-9]+")
_URL_STRIP = "".join(chr(c) for c in range(0x21))  # C0 controls and space, stripped at both ends
_URL_REMOVE = str.maketrans("", "", "\t\r\n")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidHost(ValueError):
    """A host that looks like an IP literal but is not a valid one (e.g. ``1.2.3.999``)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a URL or address may not be fetched: a stable `code` and a human-readable `detail`."""

    code: str
    detail: str


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress, allow_private: bool) -> str | None:
    """Why `ip` may not be connected to (a short description), or None when it may.

    Refused: loopback, private (RFC 1918, fc00::/7 unique-local), link-local, CGNAT 100.64/10,
    multicast, unspecified, reserved and anything else not globally routable, IPv4 addresses embedded
    in IPv6 (mapped, 6to4, Teredo, NAT64) by the same rules, and cloud-metadata endpoints. With
    `allow_private` only the cloud-metadata endpoints stay refused.
    """
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip in CLOUD_METADATA:
        return f"{ip} is a cloud metadata endpoint"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            if inner in CLOUD_METADATA:
                return f"{ip} embeds the cloud metadata endpoint {inner}"
            why = address_refusal(inner, allow_private)
            if why is not None:
                return f"{ip} embeds an IPv4 address: {why}"
    if allow_private:
        return None
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "shared/CGNAT (100.64.0.0/10)"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7"), "unique-local"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    for hit, label in checks:
        if hit:
            return f"{ip} is {label}"
    return None


def _ipv4_part(part: str) -> int:
    if part == "":
        raise InvalidHost("empty IPv4 part")
    if _HEX_PART.fullmatch(part):
        return int(part[2:] or "0", 16)
    if not _DEC_PART.fullmatch(part):
        raise InvalidHost(f"bad IPv4 part {part!r}")
    if len(part) > 1 and part.startswith("0"):
        try:
            return int(part, 8)
        except ValueError:
            raise InvalidHost(f"bad octal IPv4 part {part!r}") from None
    return int(part)


def parse_ipv4_host(host: str) -> ipaddress.IPv4Address | None:
    """Parse `host` the way browsers and ``inet_aton`` do (WHATWG IPv4 parser).

    Returns None when `host` is a domain name (its last label is not a number); raises InvalidHost when
    it ends in a number but is not a valid IPv4 address. Accepts 1 to 4 parts, each decimal, octal
    (leading 0) or hex (0x): ``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if not (_DEC_PART.fullmatch(last) or _HEX_PART.fullmatch(last)):
        return None
    if len(parts) > 4:
        raise InvalidHost(f"{host!r} has more than four numeric parts")
    numbers = [_ipv4_part(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidHost(f"{host!r} is out of the IPv4 range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(value)


def normalize_host(host: str) -> str:
    """Lower-case, percent-decoded, NFKC-folded host without brackets or a trailing dot."""
    host = unicodedata.normalize("NFKC", unquote(host)).strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".") if host not in {".", ""} else host


def host_address(host: str) -> IPAddress | None:
    """The IP address a (normalised) host literally names, None for a domain name.

    Raises InvalidHost for malformed literals.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise InvalidHost(f"{host!r} is not a valid IPv6 address") from None
    return parse_ipv4_host(host)


def _whatwg_host(url: str) -> str | None:
    """The host as a browser (WHATWG URL parser) would read it: ``\\`` ends the authority."""
    rest = url.split(":", 1)[1] if ":" in url else ""
    rest = rest.lstrip("/\\")
    authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
    hostport = authority.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        return hostport[: end + 1] if end != -1 else hostport
    return hostport.split(":", 1)[0]


def _candidate_hosts(url: str) -> list[str]:
    """Hosts of `url` under two parsers (Python's and the browsers'), to defeat parser differentials."""
    hosts: list[str] = []
    parsed = urlsplit(url)
    netloc_host = parsed.netloc.rsplit("@", 1)[-1]
    if netloc_host.startswith("["):
        hosts.append(netloc_host[: netloc_host.find("]") + 1])
    elif parsed.hostname:
        hosts.append(parsed.hostname)
    else:
        return []
    whatwg = _whatwg_host(url)
    if whatwg is not None and whatwg not in hosts:
        hosts.append(whatwg)
    return hosts


def _is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost") or host == "localhost.localdomain"


def explain_url(url: str, allow_private: bool, allowed_hosts: Iterable[str] = ()) -> Refusal | None:
    """Why `url` may not be fetched (scheme, ssrf or invalid), or None when it may be requested.

    This is the intake check on the URL text. Host names that *resolve* to forbidden addresses are
    refused later, at connect time, by the guarded resolver. `allowed_hosts` are host names or IP
    literals an operator explicitly allows although they are private (intranet sources).
    """
    cleaned = url.strip(_URL_STRIP).translate(_URL_REMOVE)
    try:
        scheme = urlsplit(cleaned).scheme.lower()
    except ValueError as exc:
        return Refusal(INVALID, f"unparsable URL: {exc}")
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "(none)"
        return Refusal(SCHEME, f"scheme {shown!r} is not http or https")
    try:
        hosts = _candidate_hosts(cleaned)
    except ValueError as exc:
        return Refusal(INVALID, f"unparsable URL: {exc}")
    if not hosts or not all(hosts):
        return Refusal(INVALID, "URL has no host")
    allowed = {normalize_host(h) for h in allowed_hosts}
    for raw in hosts:
        host = normalize_host(raw)
        if not host:
            return Refusal(INVALID, "URL has no host")
        if host in allowed:
            continue
        try:
            ip = host_address(host)
        except InvalidHost as exc:
            return Refusal(INVALID, str(exc))
        if ip is None:
            if not allow_private and _is_localhost_name(host):
                return Refusal(SSRF, f"{host} is a loopback name")
            continue
        if str(ip) in allowed:
            continue
        why = address_refusal(ip, allow_private)
        if why is not None:
            return Refusal(SSRF, why)
    return None


def classify_url(url: str, allow_private: bool, allowed_hosts: Iterable[str] = ()) -> str | None:
    """The refusal code for `url` (``"scheme"``, ``"ssrf"``, ``"invalid"``), or None if it may be fetched."""
    refusal = explain_url(url, allow_private, allowed_hosts)
    return refusal.code if refusal is not None else None

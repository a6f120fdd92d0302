"""The fetch policy layer (docs/fetching-safely.md).

Pure tests of the URL/address guard, in-process tests of the guarded resolver against Twisted's
MemoryReactor (nothing ever connects), and real Scrapy crawls through the real downloader, each in a
subprocess (tests/safety_crawl.py), against loopback servers from tests/hostile_site.py that count
requests server-side. No traffic ever goes to a non-loopback address: the crawl subprocess resolves
names only from a stub table and fails (records) any connect to an address other than 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hostile_site import BOMB_PATHS, Canary, HostileSite, bomb
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from zope.interface import implementer

from archive.netguard import address_refusal, explain_url, parse_ipv4_host
from archive.robotstxt import truncate_robots
from crawler.safety import SAFETY_SETTINGS, GuardedHostnameResolver, classify_url

TESTS = Path(__file__).parent
ROOT = TESTS.parent
UA_TOKEN = "mediawatch-test"

# ---- pure: classify_url over the vectors --------------------------------------------------------

SSRF_VECTORS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/x",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.0.0.1./",
    "http://%31%32%37.0.0.1/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # full-width digits
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
    "http://localhost/",
    "http://LOCALHOST:8000/",
    "http://api.localhost/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fd00:ec2::254]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://user:pw@192.168.0.10:81/",
    "http://a:1\\@127.0.0.1/",  # parser differential: browsers read host a, Python 127.0.0.1
    "http://127.0.0.1:80\\@example.com/",  # and the other way round
    "https://198.18.0.1/",  # benchmarking range, not globally routable
]
SCHEME_VECTORS = [
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "data:text/html,<p>hi</p>",
    "ftp://example.com/x",
    "s3://bucket/key",
    "javascript:alert(1)",
    "gopher://example.com/",
    "//example.com/relative",
    "  file:///etc/passwd",
]
ALLOWED = [
    "http://example.com/",
    "https://www.dawn.com/news/1",
    "http://93.184.216.34/",
    "https://[2606:2800:220:1:248:1893:25c8:1946]/",
    "http://1.1.1.1:8080/x?y=1",
    "http://127.example.com/",
    "http://localhost.example.com/",
]


@pytest.mark.parametrize("url", SSRF_VECTORS)
def test_classify_refuses_private_and_odd_literals(url: str) -> None:
    assert classify_url(url, allow_private=False) == "ssrf"


@pytest.mark.parametrize("url", SCHEME_VECTORS)
def test_classify_refuses_non_http_schemes(url: str) -> None:
    assert classify_url(url, allow_private=False) == "scheme"
    assert classify_url(url, allow_private=True) == "scheme"


@pytest.mark.parametrize("url", ALLOWED)
def test_classify_allows_public_urls(url: str) -> None:
    assert classify_url(url, allow_private=False) is None


def test_allow_private_opens_everything_but_cloud_metadata() -> None:
    metadata = {
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
    }
    for url in SSRF_VECTORS:
        expected = "ssrf" if url in metadata else None
        assert classify_url(url, allow_private=True) == expected, url


def test_invalid_hosts_are_refused() -> None:
    for url in ["http://1.2.3.999/", "http://1.2.3.4.5/", "http:///nohost", "http://[::1/", "http://0x1g.1/"]:
        assert classify_url(url, allow_private=False) in {"invalid", "ssrf"}, url
    assert classify_url("http://1.2.3.999/", allow_private=True) == "invalid"


def test_allowed_hosts_exempt_named_intranet_sources() -> None:
    assert classify_url("http://10.1.2.3/", False, allowed_hosts=["10.1.2.3"]) is None
    assert classify_url("http://intranet.localhost/", False, allowed_hosts=["intranet.localhost"]) is None
    assert classify_url("http://10.1.2.4/", False, allowed_hosts=["10.1.2.3"]) == "ssrf"


def test_ipv4_parser_reads_every_spelling_of_loopback() -> None:
    for host in ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0x7F000001", "127.0.0.1.", "0x7f.0x0.0.01"]:
        assert parse_ipv4_host(host) == ipaddress.IPv4Address("127.0.0.1"), host
    assert parse_ipv4_host("example.com") is None
    assert parse_ipv4_host("1.example") is None


def test_refusal_detail_is_clear() -> None:
    refusal = explain_url("http://169.254.169.254/latest", allow_private=False)
    assert refusal is not None and "cloud metadata" in refusal.detail
    refusal = explain_url("http://[::ffff:10.0.0.1]/", allow_private=False)
    assert refusal is not None and "10.0.0.1 is private" in refusal.detail


def test_address_refusal_covers_embedded_ipv4() -> None:
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:80ff:fffe")  # client 127.0.0.1
    assert address_refusal(teredo, allow_private=False) is not None
    assert address_refusal(ipaddress.ip_address("8.8.8.8"), allow_private=False) is None


def test_robots_truncation_keeps_whole_lines() -> None:
    body = b"User-agent: *\nDisallow: /a\nDisallow: /bbbbbbbb\n"
    assert truncate_robots(body, 1000) == body
    assert truncate_robots(body, 30) == b"User-agent: *\nDisallow: /a\n"


def test_safety_settings_replace_scrapy_defaults() -> None:
    handlers = SAFETY_SETTINGS["DOWNLOAD_HANDLERS"]
    assert all(handlers[s] is None for s in ("file", "data", "s3", "ftp"))
    middlewares = SAFETY_SETTINGS["DOWNLOADER_MIDDLEWARES"]
    assert middlewares["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None
    assert SAFETY_SETTINGS["ROBOTSTXT_OBEY"] is False
    assert SAFETY_SETTINGS["DOWNLOAD_FAIL_ON_DATALOSS"] is True
    assert SAFETY_SETTINGS["DOWNLOAD_MAXSIZE"] <= 20 * 1024 * 1024
    assert SAFETY_SETTINGS["DOWNLOAD_TIMEOUT"] <= 30


# ---- in-process: the guarded resolver never lets a connect happen -------------------------------


@implementer(IHostnameResolver)
class ScriptedResolver:
    """Answers each lookup of a name with the next answer in its script (DNS rebinding)."""

    def __init__(self, script: dict[str, list[list[str]]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}

    def resolveHostName(self, receiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"):  # noqa: N802,N803
        receiver.resolutionBegan(None)
        answers = self.script[hostName].pop(0) if self.script.get(hostName) else []
        for answer in answers:
            cls = IPv6Address if ":" in answer else IPv4Address
            receiver.addressResolved(cls("TCP", answer, portNumber))
        receiver.resolutionComplete()
        return receiver


def _connect(reactor: MemoryReactorClock, host: str) -> list[Any]:
    """Connect a HostnameEndpoint through `reactor`; returns [protocol-or-failure]."""
    outcome: list[Any] = []
    endpoint = HostnameEndpoint(reactor, host.encode(), 80)
    d = endpoint.connect(Factory.forProtocol(Protocol))
    d.addBoth(outcome.append)
    reactor.advance(1)
    return outcome


def _guarded(
    script: dict[str, list[list[str]]], **kwargs: Any
) -> tuple[MemoryReactorClock, GuardedHostnameResolver]:
    reactor = MemoryReactorClock()
    guard = GuardedHostnameResolver(reactor, inner=ScriptedResolver(script), **kwargs)
    guard.install_on_reactor()
    return reactor, guard


@pytest.mark.parametrize(
    "answers",
    [
        ["169.254.169.254"],
        ["10.0.0.1"],
        ["192.168.0.1"],
        ["172.16.5.4"],
        ["100.64.0.1"],
        ["127.0.0.1"],
        ["fe80::1"],
        ["fd00::1"],
        ["::ffff:10.0.0.1"],
        ["0.0.0.0"],
        ["93.184.216.34", "10.0.0.1"],  # mixed answer: refused as a whole
    ],
)
def test_resolver_refuses_names_resolving_privately_without_connecting(answers: list[str]) -> None:
    reactor, guard = _guarded({"evil.test": [answers]})
    outcome = _connect(reactor, "evil.test")
    assert reactor.tcpClients == []  # no connection attempt at all
    assert len(outcome) == 1 and outcome[0].check(DNSLookupError)
    assert "evil.test" in guard.refusals


def test_resolver_catches_dns_rebinding_on_every_lookup() -> None:
    reactor, guard = _guarded({"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    _connect(reactor, "rebind.test")
    assert [c[0] for c in reactor.tcpClients] == ["93.184.216.34"]  # recorded by MemoryReactor only
    second = _connect(reactor, "rebind.test")
    assert len(reactor.tcpClients) == 1
    assert second[0].check(DNSLookupError)
    assert "127.0.0.1 is loopback" in guard.refusals["rebind.test"]


def test_resolver_cache_keeps_the_checked_answer() -> None:
    reactor, guard = _guarded({"news.test": [["93.184.216.34"], ["127.0.0.1"]]}, cache_size=10)
    _connect(reactor, "news.test")
    _connect(reactor, "news.test")  # a rebinding second answer is never asked for
    assert [c[0] for c in reactor.tcpClients] == ["93.184.216.34", "93.184.216.34"]
    assert guard.refusals == {}


def test_resolver_allow_private_and_allowlist() -> None:
    script = {"intra.test": [["10.0.0.7"]], "meta.test": [["169.254.169.254"]]}
    reactor, _ = _guarded(script, allow_private=True)
    _connect(reactor, "intra.test")
    _connect(reactor, "meta.test")
    assert [c[0] for c in reactor.tcpClients] == ["10.0.0.7"]  # cloud metadata stays refused
    reactor, _ = _guarded(
        {"intra.test": [["10.0.0.7"]], "other.test": [["10.0.0.8"]]}, allowed_hosts=["intra.test"]
    )
    _connect(reactor, "intra.test")
    _connect(reactor, "other.test")
    assert [c[0] for c in reactor.tcpClients] == ["10.0.0.7"]


# ---- real crawls in a subprocess ------------------------------------------------------------------


def run_crawl(
    tmp_path: Path,
    urls: list[str],
    *,
    settings: dict[str, Any] | None = None,
    stub_hosts: dict[str, list[str]] | None = None,
    sequential: bool = False,
) -> dict[str, Any]:
    out = tmp_path / f"result-{len(list(tmp_path.iterdir()))}.json"
    config = tmp_path / f"config-{out.stem}.json"
    config.write_text(
        json.dumps(
            {
                "urls": urls,
                "settings": settings or {},
                "stub_hosts": stub_hosts or {},
                "sequential": sequential,
                "out": str(out),
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, str(TESTS / "safety_crawl.py"), str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    result["log"] = proc.stdout + proc.stderr
    assert result["forbidden_connects"] == [], "the crawl tried to connect outside loopback"
    return result


def _refused(result: dict[str, Any], url: str) -> str | None:
    return result["results"][url].get("reason")


@pytest.mark.slow  # a real crawl per robots.txt case
def test_robots_compliance_matrix(tmp_path: Path) -> None:
    """A8: 10 robots.txt behaviours; 0 requests ever reach a disallowed path."""
    ua_rules = (
        "User-agent: otherbot\nDisallow: /\n\n"
        f"User-agent: {UA_TOKEN}\nDisallow: /private\n\n"
        "User-agent: *\nDisallow: /page/\n"
    )
    # (robots mode, path, expected to be fetched)
    cases = [
        (f"text:{ua_rules}", ["/private/x"], ["/page/a", "/page/b"]),  # our group wins over *
        ("text:User-agent: *\nDisallow: /\n", ["/page/a"], []),
        ("404", [], ["/private/x"]),
        ("503", ["/page/a"], []),
        ("429", ["/page/a"], []),
        ("timeout", ["/page/a"], []),
        ("reset", ["/page/a"], []),
        ("big", ["/early"], ["/late"]),  # rules past 500 KiB are not parsed
        ("redirect:5", ["/private/x"], ["/page/a"]),  # 5 hops are followed
        ("redirect:6", [], ["/private/x"]),  # more than 5: unavailable, like 4xx
    ]
    sites = [HostileSite(robots=mode) for mode, _, _ in cases]
    for site in sites:
        site.__enter__()
    try:
        urls = [s.url(p) for s, (_, bad, good) in zip(sites, cases, strict=True) for p in bad + good]
        result = run_crawl(
            tmp_path, urls, settings={"MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": True, "DOWNLOAD_TIMEOUT": 2}
        )
        correct = 0
        for site, (mode, bad, good) in zip(sites, cases, strict=True):
            ok = all(site.hits(p) == 0 and _refused(result, site.url(p)) == "robots" for p in bad)
            ok &= all(site.hits(p) == 1 and result["results"][site.url(p)].get("status") == 200 for p in good)
            robots_fetches = site.hits("/robots.txt")
            ok &= robots_fetches == 1  # fetched once per origin and run, shared by concurrent requests
            assert ok, (mode, result["results"], site.paths)
            correct += ok
        disallowed_hits = sum(s.hits(p) for s, c in zip(sites, cases, strict=True) for p in c[1])
        print(
            f"robots compliance: {correct}/{len(cases)} cases correct, "
            f"requests to disallowed paths = {disallowed_hits}"
        )
        assert result["stats"]["mediawatch/refused/robots"] == sum(len(c[1]) for c in cases)
    finally:
        for site in sites:
            site.__exit__(None, None, None)


def test_robots_error_verdict_is_short_lived(tmp_path: Path) -> None:
    """A 5xx disallows only for MEDIAWATCH_ROBOTS_ERROR_TTL; a 2xx verdict holds for the run."""
    with HostileSite(robots="503") as failing, HostileSite(robots="text:User-agent: *\nAllow: /\n") as ok:
        urls = [failing.url("/page/1"), failing.url("/page/2"), ok.url("/page/1"), ok.url("/page/2")]
        result = run_crawl(
            tmp_path,
            urls,
            settings={"MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": True, "MEDIAWATCH_ROBOTS_ERROR_TTL": 0},
            sequential=True,
        )
        assert failing.hits("/robots.txt") == 2 and failing.hits("/page/1") == failing.hits("/page/2") == 0
        assert ok.hits("/robots.txt") == 1 and ok.hits("/page/1") == ok.hits("/page/2") == 1
        assert _refused(result, urls[0]) == _refused(result, urls[1]) == "robots"


def test_robots_redirect_to_file_is_not_followed(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("SENTINEL-robots-7f3a\nDisallow: /\n")
    with HostileSite(robots=f"to:file://{sentinel}") as site:
        result = run_crawl(
            tmp_path, [site.url("/page/a")], settings={"MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": True}
        )
        assert result["results"][site.url("/page/a")]["status"] == 200  # robots unavailable -> allowed
        assert result["stats"]["mediawatch/refused/scheme"] == 1
        assert "SENTINEL-robots-7f3a" not in json.dumps(result["results"])


def test_non_http_schemes_are_never_fetched(tmp_path: Path) -> None:
    """A6: direct and redirected file:/data:/ftp:/s3: URLs are refused, counted, never fetched."""
    sentinel = tmp_path / "sentinel.html"
    sentinel.write_text("<html><body>SENTINEL-4b1d-file-read</body></html>")
    with HostileSite() as site, Canary() as canary:
        data_url = "data:text/html,SENTINEL-4b1d-data"
        direct = [f"file://{sentinel}", data_url, f"ftp://127.0.0.1:{canary.port}/x", "s3://bucket/key"]
        redirected = [
            site.url(f"/to?url={u}")
            for u in (f"file://{sentinel}", data_url, f"ftp://127.0.0.1:{canary.port}/x")
        ]
        control = site.url("/chain/2")
        result = run_crawl(
            tmp_path, [*direct, *redirected, control], settings={"MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": True}
        )
        for url in direct + redirected:
            assert _refused(result, url) == "scheme", (url, result["results"][url])
        assert result["results"][control]["status"] == 200
        assert result["stats"]["mediawatch/refused/scheme"] == len(direct) + len(redirected)
        assert canary.connections == 0
        assert not any("SENTINEL" in r.get("body", "") for r in result["results"].values())
        assert "SENTINEL-4b1d-file-read" not in json.dumps(result["results"])
        assert "SENTINEL-4b1d-file-read" not in result["log"]


def test_ssrf_vectors_never_connect(tmp_path: Path) -> None:
    """A7: ~40 vectors at a loopback canary, non-loopback literals and names; 0 connections."""
    with HostileSite() as site, Canary() as canary:
        port = canary.port
        literal_hosts = [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "0177.0.0.1",
            "017700000001",
            "127.0.0.1.",
            "%31%32%37.0.0.1",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "localhost",
            "LOCALHOST",
            "api.localhost",
            "0.0.0.0",
            "0",
            "[::]",
        ]
        vectors = [f"http://{h}:{port}/" for h in literal_hosts]
        # Scrapy itself reads "a:1\\@127.0.0.1" as host "a" (covered by the pure tests); this one it
        # reads as public.test while browsers read 127.0.0.1: refused because either parser sees loopback
        vectors += [
            f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
            f"http://127.0.0.1:{port}\\@public.test:{site.port}/",
        ]
        # non-loopback private literals: must be refused before any connect
        vectors += [
            f"http://{h}/"
            for h in (
                "10.0.0.1",
                "172.16.0.1",
                "192.168.1.1",
                "100.64.0.1",
                "169.254.169.254",
                "[fe80::1]",
                "[fc00::1]",
                "224.0.0.1",
            )
        ]
        # names resolving privately (stub DNS): refused at connect time, after resolution
        names = {
            "rebind.test": ["127.0.0.1"],
            "mixed.test": ["93.184.216.34", "127.0.0.1"],
            "metadata.test": ["169.254.169.254"],
            "ten.test": ["10.0.0.1"],
            "v6.test": ["::1"],
            "mapped.test": ["::ffff:127.0.0.1"],
            "public.test": ["127.0.0.1"],  # the "public" hostile site, explicitly allowlisted below
        }
        vectors += [f"http://{n}:{port}/" for n in names if n != "public.test"]
        # public -> private redirects
        hop = site.url("/to").replace("127.0.0.1", "public.test")
        vectors += [
            f"{hop}?url=http://127.0.0.1:{port}/",
            f"{hop}?url=http://2130706433:{port}/",
            f"{hop}?url=http://rebind.test:{port}/",
            f"{hop}?url=http://169.254.169.254/latest",
            f"{hop}?url=http://[::1]:{port}/",
        ]
        control = f"http://public.test:{site.port}/page/ok"
        result = run_crawl(
            tmp_path,
            [*vectors, control],
            settings={
                "MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": False,
                "MEDIAWATCH_ALLOWED_PRIVATE_HOSTS": ["public.test"],
            },
            stub_hosts=names,
        )
        refused = [u for u in vectors if _refused(result, u) == "ssrf"]
        missed = {u: result["results"].get(u) for u in vectors if u not in refused}
        print(
            f"ssrf: vectors={len(vectors)} refused={len(refused)} canary_connections={canary.connections} "
            f"non_loopback_connects={len(result['forbidden_connects'])}"
        )
        assert missed == {}
        assert canary.connections == 0
        assert result["results"][control]["status"] == 200  # the allowlisted loopback host is reachable
        assert {c[1] for c in result["connects"]} == {site.port}
        assert result["stats"]["mediawatch/refused/ssrf"] >= len(vectors)


def test_guard_is_installed_even_if_the_process_resolver_is_not_guarded(tmp_path: Path) -> None:
    """A crawl whose process resolver is unguarded (e.g. settings given to the crawler only) is still
    guarded: the intake middleware installs the guard around it before the first download."""
    with Canary() as canary:
        urls = [f"http://rebind.test:{canary.port}/", f"http://v6.test:{canary.port}/"]
        result = run_crawl(
            tmp_path,
            urls,
            settings={"TWISTED_DNS_RESOLVER": "safety_crawl.StubPlainResolver"},
            stub_hosts={"rebind.test": ["127.0.0.1"], "v6.test": ["::1"]},
        )
        assert canary.connections == 0
        assert all(_refused(result, u) == "ssrf" for u in urls), result["results"]
        assert "Installed the network guard" in result["log"]


def test_canary_counts_when_private_networks_are_allowed(tmp_path: Path) -> None:
    """Positive control for the SSRF test: with the guard off, the same vectors do reach the canary."""
    with Canary() as canary:
        urls = [f"http://127.1:{canary.port}/", f"http://rebind.test:{canary.port}/"]
        result = run_crawl(
            tmp_path,
            urls,
            settings={"MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": True, "MEDIAWATCH_ROBOTS_ENABLED": False},
            stub_hosts={"rebind.test": ["127.0.0.1"]},
        )
        assert canary.connections == 2
        assert all(result["results"][u]["body"] == "canary" for u in urls)


@pytest.mark.slow  # waits out real size and time limits
def test_size_time_and_truncation_limits(tmp_path: Path) -> None:
    """A1 tarpit, A2 huge/endless bodies, A3 decompression bombs, A9 truncated body."""
    with HostileSite() as site:
        expected = {
            "/slowdrip": "timeout",
            "/huge/64": "too_large",
            "/infinite": "too_large",
            "/bomb.gz": "too_large",
            "/bomb.deflate": "too_large",
            "/bomb.br": "too_large",
            "/bomb.zst": "too_large",
            "/dataloss": "dataloss",
        }
        for encoding in BOMB_PATHS.values():
            bomb(encoding)  # compress before the crawl, not while the server should be answering
        good = [site.url(f"/page/{i}") for i in range(5)]
        result = run_crawl(
            tmp_path,
            [*(site.url(p) for p in expected), *good],
            settings={
                "MEDIAWATCH_ALLOW_PRIVATE_NETWORKS": True,
                "DOWNLOAD_TIMEOUT": 6,
                "DOWNLOAD_MAXSIZE": 8 * 1024 * 1024,
            },
        )
        for path, reason in expected.items():
            assert _refused(result, site.url(path)) == reason, (path, result["results"][site.url(path)])
        assert all(result["results"][u]["status"] == 200 for u in good)
        stats = result["stats"]
        bombs = [p for p in expected if p.startswith("/bomb")]
        aborted = sum(_refused(result, site.url(p)) == "too_large" for p in bombs)
        tarpit = _refused(result, site.url("/slowdrip"))
        print(
            f"limits: bombs tried={len(bombs)} aborted={aborted} tarpit={tarpit} "
            f"dataloss={_refused(result, site.url('/dataloss'))} good={len(good)}/{len(good)} "
            f"crawler_peak_rss={stats['memusage/max'] // (1024 * 1024)}MB"
        )
        assert stats["mediawatch/fetch_error/timeout"] == 1
        assert stats["mediawatch/fetch_error/dataloss"] == 1
        # Each bomb was cut at DOWNLOAD_MAXSIZE (aborted == 4 above); RSS is sampled, and on a
        # loaded machine buffers linger, so this only guards against unbounded inflation.
        assert stats["memusage/max"] < 768 * 1024 * 1024

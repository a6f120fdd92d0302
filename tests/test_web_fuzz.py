"""Odd query parameters and path segments on every viewer route: 200, 400 or 404, and every
response (errors included) carries the security headers (property-based, Hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from views_site import import_nyt

from archive.db import Archive
from mediawatch.web.app import CSP, create_app

SLUGS = ["mubarak-is-on"]
# Each route with the query parameters it reads.
ROUTES = {
    "/": ["source", "since", "until", "language", "edited", "q", "page"],
    "/api/articles": ["source", "since", "until", "language", "edited", "q", "page"],
    "/articles/{id}": [],
    "/api/articles/{id}": [],
    "/articles/{id}/versions/{seq}": [],
    "/api/articles/{id}/versions/{seq}": [],
    "/articles/{id}/versions/{seq}/raw": [],
    "/articles/{id}/diff": ["a", "b", "changed"],
    "/api/articles/{id}/diff": ["a", "b"],
    "/search": ["q", "offset"],
    "/api/search": ["q", "offset"],
    "/feeds/edits.atom": [],
    "/api/feeds/edits": [],
}
ODD = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "*", '"', "()", "Mubarak", "x" * 600, "pt-BR", "on", "%00", "\x00", "\u202e"]),
)
DATES = st.one_of(
    st.sampled_from(["9999-12-31", "9999-12-30", "0001-01-01", "10000-01-01", "2026-02-30", "2026-03-01"]),
    st.dates().map(str),
    ODD,
)
NUMBERS = st.one_of(
    st.sampled_from(["²", "١٢", "٣", "-1", "0", "1", "2", "4", " 1", "1e3", "0x10", "99999999999999999999"]),
    st.sampled_from([2**31 - 1, 2**31, 2**63, 10**12]).map(str),
    st.integers().map(str),
    ODD,
)
VALUES = {"since": DATES, "until": DATES, "source": NUMBERS, "page": NUMBERS, "a": NUMBERS, "b": NUMBERS}
VALUES["offset"] = NUMBERS


@st.composite
def requests(draw: st.DrawFn) -> str:
    route = draw(st.sampled_from(sorted(ROUTES)))
    path = route.replace("{id}", quote(draw(st.one_of(st.just("1"), NUMBERS)), safe=""))
    path = path.replace("{seq}", quote(draw(st.one_of(st.just("1"), NUMBERS)), safe=""))
    names = draw(st.lists(st.sampled_from(ROUTES[route] or ["x"]), max_size=4))
    query = urlencode([(name, draw(VALUES.get(name, ODD))) for name in names])
    return f"{path}?{query}" if query else path


def assert_secured(response: object, where: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers.get("x-content-type-options") == "nosniff", where
    csp = headers.get("content-security-policy")
    assert csp in (CSP, "sandbox; default-src 'none'"), (where, csp)


@pytest.fixture
def client(archive: Archive, corpus: Path, tmp_path: Path) -> Iterator[TestClient]:
    import_nyt(archive, corpus, tmp_path, SLUGS)
    with TestClient(create_app(Archive(archive.url, readonly=True))) as test_client:
        yield test_client


def test_bad_dates_are_400_with_the_security_headers(client: TestClient) -> None:
    for path in ("/?until=9999-12-31", "/api/articles?until=9999-12-31", "/?since=0001-01-01", "/?page=²"):
        response = client.get(path)
        assert response.status_code == 400, (path, response.status_code)
        assert_secured(response, path)
    assert "until" in client.get("/api/articles?until=9999-12-31").json()["error"]


def test_an_unexpected_error_is_a_500_page_with_the_security_headers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive import queries

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(queries, "list_articles", broken)
    for path in ("/", "/api/articles"):
        response = client.get(path)
        assert response.status_code == 500, path
        assert_secured(response, path)
        assert "a bug" not in response.text and "Traceback" not in response.text


@pytest.mark.slow
def test_odd_parameters_on_every_route(client: TestClient) -> None:
    seen: dict[int, int] = {}

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(request=requests())
    def run(request: str) -> None:
        response = client.get(request)
        assert response.status_code in (200, 400, 404), (request, response.status_code, response.text[:300])
        assert_secured(response, request)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    run()
    print(f"statuses over {sum(seen.values())} requests: {dict(sorted(seen.items()))}")
    assert seen.get(200) and seen.get(400) and seen.get(404), seen

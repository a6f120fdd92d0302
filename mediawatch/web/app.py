"""The read-only web viewer: server-rendered pages that work without JavaScript, and a JSON API.

Security (docs/archivist.md, The web viewer):
- Jinja autoescape everywhere; crawled text is never marked safe; links only for http(s).
- A strict Content-Security-Policy on every response (no script at all, styles from 'self');
  ``nosniff``, ``frame-ancestors 'none'``, no referrer.
- Raw captured HTML is only ever a download: ``text/plain; charset=utf-8``, ``nosniff``,
  ``Content-Disposition: attachment`` and ``CSP: sandbox``.
- Only GET/HEAD routes: the viewer cannot change the archive (and opens it read-only).
- Every query is bounded (see archive/queries.py); search input never reaches SQL text (archive/search.py).
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from archive import queries
from archive.blobs import get_blob
from archive.db import Archive
from archive.errors import InputError, MediawatchError, NotFoundError
from archive.models import CANDIDATE_STATUSES
from archive.search import SearchError, search
from archive.serialize import to_json
from mediawatch.web.render import STATIC, render

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
RAW_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}
MAX_RAW_BYTES = 64 * 1024 * 1024


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status)


def _error_page(status: int, title: str, message: str) -> HTMLResponse:
    return _html(render("error.html", title=title, message=message), status)


QUERY_TIMEOUT_S = 5.0


def lock_down(archive: Archive, timeout_s: float = QUERY_TIMEOUT_S) -> None:
    """Make the archive's connections read-only and give every statement a time limit.

    SQLite: ``PRAGMA query_only`` and a progress handler that interrupts a statement running
    longer than the limit. PostgreSQL: read-only transactions and ``statement_timeout``.
    """
    engine = archive.engine

    if archive.is_sqlite:

        @event.listens_for(engine, "connect")
        def _sqlite_readonly(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA query_only=ON")
            deadline = [0.0]
            dbapi_conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0] > 0), 10_000)
            _record.info["deadline"] = deadline

        @event.listens_for(engine, "before_cursor_execute")
        def _arm(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: Any) -> None:
            deadline = conn.connection.info.get("deadline")
            if deadline is not None:
                deadline[0] = time.monotonic() + timeout_s

    else:

        @event.listens_for(engine, "connect")
        def _pg_readonly(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = on")
                cursor.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
            dbapi_conn.commit()

    engine.dispose()  # connections opened before (schema check) are replaced by locked ones


def create_app(archive: Archive, *, read_only: bool = True) -> FastAPI:
    if read_only:
        lock_down(archive)
    app = FastAPI(title="mediawatch viewer", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        try:
            response: Response = await call_next(request)
        except Exception:
            # An unexpected error still answers with a page that carries every security header
            # (Starlette's own 500 page would be sent from outside this middleware, without them).
            logger.exception("unexpected error on %s", request.url.path)
            message = "the viewer failed on this request; the error is in its log"
            if request.url.path.startswith("/api/"):
                response = JSONResponse({"error": message}, status_code=500)
            else:
                response = _error_page(500, "Error", message)
        if request.method == "HEAD":
            response = await _headers_only(response)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(MediawatchError)
    async def mediawatch_error(request: Request, exc: MediawatchError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, InputError) else 500
        if wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=status)
        title = "Not found" if status == 404 else "Bad request" if status == 400 else "Error"
        return _error_page(status, title, str(exc))

    @app.exception_handler(OperationalError)
    async def database_error(request: Request, exc: OperationalError) -> Response:
        # A statement over its time limit (or the database going away): say so, never a trace.
        logger.warning("query failed on %s: %s", request.url.path, exc.orig)
        message = "the archive could not answer in time; narrow the filters or try again"
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=503)
        return _error_page(503, "Busy", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        return _error_page(exc.status_code, str(exc.detail), str(exc.detail))

    def params(request: Request) -> dict[str, str | None]:
        return {k: v for k, v in request.query_params.items()}

    # ---- article list

    def article_list(request: Request) -> queries.ArticleList:
        filters = queries.ListFilters.parse(params(request))
        with archive.reading() as session:
            return queries.list_articles(session, filters)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        try:
            data = article_list(request)
        except SearchError as exc:
            return _error_page(400, "Bad search", str(exc))
        return _html(render("list.html", data=data, filters=data.filters))

    @app.get("/api/articles")
    def api_index(request: Request) -> Response:
        return JSONResponse(to_json(article_list(request)))

    # ---- candidates: near misses of the topic filter, promoted from the CLI

    def candidate_list(request: Request) -> tuple[str, list[Any]]:
        status = request.query_params.get("status", "open")
        if status not in CANDIDATE_STATUSES:
            raise InputError(f"status: expected one of {', '.join(CANDIDATE_STATUSES)}")
        with archive.reading() as session:
            return status, queries.candidate_rows(session, status=status)

    @app.get("/candidates", response_class=HTMLResponse)
    def candidates(request: Request) -> Response:
        status, rows = candidate_list(request)
        return _html(render("candidates.html", status=status, rows=rows))

    @app.get("/api/candidates")
    def api_candidates(request: Request) -> Response:
        status, rows = candidate_list(request)
        return JSONResponse({"status": status, "candidates": to_json(rows)})

    # ---- article, version, raw

    def article_id_of(value: str) -> int:
        if not queries.is_number(value, 10) or int(value) > queries.MAX_ID:  # ids are 32-bit columns
            raise NotFoundError(f"no article {value!r}")
        return int(value)

    @app.get("/articles/{article_id}", response_class=HTMLResponse)
    def article(article_id: str) -> Response:
        with archive.reading() as session:
            page = queries.article_page(session, article_id_of(article_id))
        return _html(render("article.html", page=page))

    @app.get("/api/articles/{article_id}")
    def api_article(article_id: str) -> Response:
        with archive.reading() as session:
            page = queries.article_page(session, article_id_of(article_id))
        return JSONResponse(to_json(page))

    def version_of(article_id: str, seq: str) -> queries.ArticleVersion:
        aid = article_id_of(article_id)
        number = queries.parse_seq(seq, "version")
        if number is None:
            raise NotFoundError("no such version")
        with archive.reading() as session:
            return queries.article_version(session, aid, seq=number)

    def citation_of(request: Request, aid: int, seq: int) -> queries.Citation:
        with archive.reading() as session:
            return queries.citation(session, aid, seq, str(request.base_url))

    @app.get("/articles/{article_id}/versions/{seq}", response_class=HTMLResponse)
    def version(request: Request, article_id: str, seq: str) -> Response:
        v = version_of(article_id, seq)
        cite = citation_of(request, v.article_id, v.seq)
        return _html(render("version.html", article_id=v.article_id, url=v.url, v=v, cite=cite))

    @app.get("/api/articles/{article_id}/versions/{seq}")
    def api_version(request: Request, article_id: str, seq: str) -> Response:
        v = version_of(article_id, seq)
        # The citation's permalink is this viewer's address: only the API adds it.
        body = to_json(v)
        assert isinstance(body, dict)  # a record serialises to an object
        body["cite"] = to_json(citation_of(request, v.article_id, v.seq))
        return JSONResponse(body)

    @app.get("/articles/{article_id}/versions/{seq}/raw")
    def raw(article_id: str, seq: str) -> Response:
        """The captured bytes as a download: never rendered, never sniffed, sandboxed."""
        v = version_of(article_id, seq)
        aid = v.article_id
        if v.blob_sha256 is None:
            raise NotFoundError("this version has no raw capture (imported as text)")
        with archive.reading() as session:
            data = get_blob(session, v.blob_sha256)
        if data is None:
            raise NotFoundError("the raw capture is missing from the archive")
        headers = {
            **RAW_HEADERS,
            "Content-Disposition": f'attachment; filename="article-{aid}-version-{v.seq}.html.txt"',
        }
        return PlainTextResponse(
            data[:MAX_RAW_BYTES].decode("utf-8", errors="replace"),
            headers=headers,
            media_type="text/plain; charset=utf-8",
        )

    # ---- diff

    def diff_of(request: Request, article_id: str) -> queries.DiffPage:
        a = queries.parse_seq(request.query_params.get("a"), "a")
        b = queries.parse_seq(request.query_params.get("b"), "b")
        changed_only = request.query_params.get("changed") in ("1", "on", "true")
        with archive.reading() as session:
            return queries.diff_page(session, article_id_of(article_id), a, b, changed_only=changed_only)

    @app.get("/articles/{article_id}/diff", response_class=HTMLResponse)
    def diff(request: Request, article_id: str) -> Response:
        page = diff_of(request, article_id)
        return _html(render("diff.html", page=page))

    @app.get("/api/articles/{article_id}/diff")
    def api_diff(request: Request, article_id: str) -> Response:
        return JSONResponse(to_json(diff_of(request, article_id)))

    # ---- search

    def run_search(request: Request) -> Any:
        q = request.query_params.get("q")
        offset_value = request.query_params.get("offset") or "0"
        if not queries.is_number(offset_value, 5) or int(offset_value) > 10_000:
            raise InputError("offset: expected a number from 0 to 10000")
        with archive.reading() as session:
            return search(session, q or "", limit=20, offset=int(offset_value))

    @app.get("/search", response_class=HTMLResponse)
    def search_page(request: Request) -> Response:
        q = request.query_params.get("q")
        if not q:
            return _html(render("search.html", q="", results=None, error=None))
        try:
            results = run_search(request)
        except SearchError as exc:
            return _html(render("search.html", q=q, results=None, error=str(exc)), 400)
        return _html(render("search.html", q=q, results=results, error=None))

    @app.get("/api/search")
    def api_search(request: Request) -> Response:
        return JSONResponse(to_json(run_search(request)))

    # ---- feed

    @app.get("/feeds/edits.atom")
    def edits_feed(request: Request) -> Response:
        with archive.reading() as session:
            entries = queries.recent_edits(session)
        updated = entries[0].first_seen if entries else datetime(1970, 1, 1, tzinfo=UTC)
        body = render("edits.atom", entries=entries, base=str(request.base_url), updated=updated.isoformat())
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    @app.get("/api/feeds/edits")
    def api_edits() -> Response:
        with archive.reading() as session:
            entries = queries.recent_edits(session)
        return JSONResponse({"entries": to_json(entries)})

    from mediawatch.web import stats as stats_page

    stats_page.install(app, archive)

    # HEAD answers every GET route like GET, without the body (uptime monitors send HEAD).
    for route in app.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")
    return app


async def _headers_only(response: Response) -> Response:
    """The answer to a HEAD request: GET's status and headers (Content-Length included), no body."""
    body_iterator = getattr(response, "body_iterator", None)
    if body_iterator is not None:  # the response from call_next streams; drain it so the route finishes
        async for _chunk in body_iterator:
            pass
    return Response(b"", status_code=response.status_code, headers=dict(response.headers))


def listen(host: str, port: int) -> socket.socket:
    """Bind the viewer's socket before anything is announced: a port already taken is one clear
    line (exit 2), not a URL printed and then uvicorn's ``[Errno 98]``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Like uvicorn: a port in TIME_WAIT after a restart is reusable; one with a listener is not.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"port {port} on {host} is already in use: stop the other server or pass --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise InputError(f"port {port} on {host} needs privileges: pass --port 1024 or above") from None
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    db_url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Run the viewer with uvicorn until interrupted (read-only archive).

    The archive is opened and the port bound first; ``on_listening`` then gets the URL (with
    the real port when ``port`` is 0).
    """
    import uvicorn

    archive = Archive(db_url, readonly=True)
    sock = listen(host, port)
    if on_listening is not None:
        shown = f"[{host}]" if ":" in host else host
        on_listening(f"http://{shown}:{sock.getsockname()[1]}/")
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("the viewer is listening on %s: anyone who can reach it can read the archive", host)
    config = uvicorn.Config(create_app(archive), log_level="warning", server_header=False)
    uvicorn.Server(config).run(sockets=[sock])

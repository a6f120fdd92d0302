"""How each outlet edits, in numbers: the statistics of ``mediawatch stats`` and the viewer's /stats.

Every figure is computed in SQL, on SQLite and PostgreSQL alike, over ``version_change``: one
small row per version with what it changed (its label, words added and removed, a correction or
update notice), written with the version. The definitions are in docs/statistics.md (Definitions).

This module must not import the web framework or a charting library: the CLI prints these
numbers as text, JSON or CSV without either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Date, Float

from archive.diff import VersionLike, compare
from archive.models import (
    Article,
    ArticleChangeSummary,
    ChangeKind,
    DaySummary,
    DuplicateLink,
    Fetch,
    FetchOutcome,
    OutletDaySummary,
    Source,
    StaleSummaryDay,
    Version,
    VersionChange,
)

# A text change carrying one of these flags is access changing (a wall or paywall confirmed on a
# second check), not the story being edited.
NOT_EDIT_FLAGS = frozenset({"wall", "paywalled"})
LABELS = ("substantive", "minor", "cosmetic", "none")
# Time from first capture to first edit, in these buckets (upper bounds in seconds).
DELAY_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("< 1 h", 3600.0),
    ("1–6 h", 6 * 3600.0),
    ("6–24 h", 24 * 3600.0),
    ("1–3 d", 3 * 86400.0),
    ("3–7 d", 7 * 86400.0),
    ("> 7 d", None),
)
# The bounds between the buckets, in order (the last bucket has none).
DELAY_BOUNDS = tuple(bound for _, bound in DELAY_BUCKETS if bound is not None)
MAX_OUTLETS = 500  # rows of the per-outlet table (the largest first)
MAX_DAYS = 400  # rows of the per-day table (the newest first)
NO_SOURCE = "(no source)"


# ---------------------------------------------------------------------------------------------
# Writing: one row per version, computed once


@dataclass(frozen=True)
class ChangeFacts:
    label: str | None
    words_added: int
    words_removed: int
    notice: str | None


def change_facts(previous: VersionLike | None, version: VersionLike, kind: ChangeKind) -> ChangeFacts:
    """What ``version`` changed against the last earlier version with text (``previous``).

    A first version adds its words; a removal removes the previous version's words; anything
    else is compared as the diff page compares it (the same label, counts and notices).
    """
    if previous is None:
        return ChangeFacts(None, len(version.text.split()), 0, None)
    if kind is ChangeKind.REMOVED or not version.text:
        return ChangeFacts(None, 0, len(previous.text.split()), None)
    summary = compare(previous, version).summary
    kinds = {n.kind for n in summary.notices}
    notice = "correction" if "correction" in kinds else "update" if kinds else None
    return ChangeFacts(summary.label.value, summary.words_added, summary.words_removed, notice)


def is_edit(kind: ChangeKind, flags: Iterable[str]) -> bool:
    flags = list(flags)
    return kind is ChangeKind.TEXT and not NOT_EDIT_FLAGS.intersection(flags) and "flip-flop" not in flags


def change_row(
    version_id: int,
    article_id: int,
    seq: int,
    first_seen: datetime,
    kind: ChangeKind,
    flags: Iterable[str],
    facts: ChangeFacts,
) -> dict[str, Any]:
    """The ``version_change`` row of one version, as a dict (for bulk inserts)."""
    return {
        "version_id": version_id,
        "article_id": article_id,
        "seq": seq,
        "first_seen": first_seen,
        "change_kind": kind,
        "edit": is_edit(kind, flags),
        **asdict(facts),
    }


def note_version(session: Session, version: Version) -> None:
    """Record what a version just written changed (called by the store in the version's transaction)."""
    previous = (
        session.scalar(
            select(Version)
            .where(Version.article_id == version.article_id, Version.seq < version.seq, Version.text != "")
            .order_by(Version.seq.desc())
            .limit(1)
        )
        if version.seq > 1
        else None  # an article's first version: nothing before it
    )
    facts = change_facts(previous, version, version.change_kind)
    # A Core insert: the row is never read back as an object in this transaction, and the
    # ORM's unit of work costs more than the insert (the writer runs this for every version).
    session.connection().execute(
        _INSERT_CHANGE,
        change_row(
            version.id,
            version.article_id,
            version.seq,
            version.first_seen,
            version.change_kind,
            version.flags or [],
            facts,
        ),
    )
    if version.seq > 1:
        refresh_change_summary(session, [version.article_id])


_INSERT_CHANGE = insert(VersionChange)


def note_flip_flop(session: Session, version_ids: Sequence[int]) -> None:
    """Versions a page alternates between are no edits (docs/versions.md, Flip-flops)."""
    session.execute(update(VersionChange).where(VersionChange.version_id.in_(version_ids)).values(edit=False))
    articles = session.scalars(
        select(VersionChange.article_id).where(VersionChange.version_id.in_(version_ids)).distinct()
    ).all()
    refresh_change_summary(session, articles)


def change_summary(article_ids: Sequence[int] | None = None) -> Select[*tuple[Any, ...]]:
    """The ``article_change_summary`` rows of these articles (of all when None), counted from
    their ``version_change`` rows: what the later versions (``seq > 1``) of each add up to."""
    vc = VersionChange
    first_edit = func.min(case((vc.edit, vc.first_seen)))
    return (
        select(
            vc.article_id,
            Article.source_id,
            _count_if(vc.edit).label("edits"),
            _count_if(and_(vc.edit, vc.label == "substantive")).label("substantive"),
            _count_if(and_(vc.edit, vc.notice == "correction")).label("corrections"),
            _count_if(and_(vc.edit, vc.notice == "update")).label("updates"),
            _count_if(vc.change_kind == ChangeKind.REMOVED).label("removals"),
            _count_if(vc.change_kind == ChangeKind.RESTORED).label("restorations"),
            Article.first_seen.label("article_first_seen"),
            first_edit.label("first_edit"),
            _SecondsBetween(first_edit, Article.first_seen).label("first_edit_delay"),
        )
        .join(Article, Article.id == vc.article_id)
        .where(vc.seq > 1, *([vc.article_id.in_(article_ids)] if article_ids is not None else []))
        .group_by(vc.article_id, Article.source_id, Article.first_seen)
    )


SUMMARY_COLUMNS = (
    "article_id",
    "source_id",
    "edits",
    "substantive",
    "corrections",
    "updates",
    "removals",
    "restorations",
    "article_first_seen",
    "first_edit",
    "first_edit_delay",
)


def refresh_change_summary(session: Session, article_ids: Sequence[int] | None = None) -> None:
    """Recount the summary rows of these articles (of every article when None) from their
    ``version_change`` rows. Recounted, not incremented: running it again changes nothing, and
    no figure can drift from the versions it sums."""
    summary = ArticleChangeSummary.__table__.c
    if article_ids is not None:
        article_ids = sorted(set(article_ids))
        if not article_ids:
            return
    for start in range(0, len(article_ids) if article_ids is not None else 1, 500):
        chunk = article_ids[start : start + 500] if article_ids is not None else None
        session.execute(
            delete(ArticleChangeSummary).where(
                *([summary.article_id.in_(chunk)] if chunk is not None else [])
            )
        )
        session.execute(
            insert(ArticleChangeSummary).from_select(list(SUMMARY_COLUMNS), change_summary(chunk))
        )


# ---------------------------------------------------------------------------------------------
# Reading: the same SQL on both backends (two dialect-specific expressions below)


class _SecondsBetween(FunctionElement[float]):
    """``later - earlier`` in seconds."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(_SecondsBetween, "sqlite")
def _seconds_sqlite(element: _SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    a, b = compiler.process(later, **kw), compiler.process(earlier, **kw)
    return f"((julianday({a}) - julianday({b})) * 86400.0)"


@compiles(_SecondsBetween, "postgresql")
def _seconds_pg(element: _SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"


def _count_if(condition: ColumnElement[bool] | InstrumentedAttribute[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class _DateOf(FunctionElement[date]):
    """The UTC day of a timestamp, as a date: what the day summaries are keyed by."""

    type = Date()
    inherit_cache = True
    name = "date_of"


@compiles(_DateOf, "sqlite")
def _date_sqlite(element: _DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    # The first ten characters of SQLite's stored timestamp: the day as SQLAlchemy stores a date.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(_DateOf, "postgresql")
def _date_pg(element: _DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


# ---------------------------------------------------------------------------------------------
# The day summaries: outlet_day_summary and day_summary, recounted for the stale days
# (docs/statistics.md, How the figures stay fast)

# Edited articles with their first edit under each bound of DELAY_BUCKETS, in order.
FIRST_EDIT_UNDER = tuple(f"first_edit_under_{name}" for name in ("1h", "6h", "24h", "3d", "7d"))
OUTLET_COUNTS = (
    "articles",
    "edited",
    "edits",
    "substantive",
    "corrections",
    "updates",
    "removals",
    "restorations",
    *FIRST_EDIT_UNDER,
)
DAY_COUNTS = (
    "new_articles",
    *(f"edits_{label}" for label in (*LABELS, "unlabelled")),
    "removals",
    "failed_fetches",
)
# [start, end) of the rows counted from the archive itself rather than read from a summary.
Span = tuple[datetime, datetime]
# Serialises the recounts of one PostgreSQL archive (pg_advisory_lock key).
RECOUNT_LOCK_KEY = 0x6D77_5354_4154_53  # "mwSTATS"


def _zero() -> ColumnElement[int]:
    # A new element each time: a union built from one repeated element loses columns.
    return literal_column("0", Integer)


def _within(column: Any, spans: Sequence[Span] | None) -> list[ColumnElement[bool]]:
    if spans is None:
        return []
    return [or_(*(and_(column >= start, column < end) for start, end in spans))]


def outlet_day_counts(spans: Sequence[Span] | None = None, *, by_day: bool = True) -> Select[Any]:
    """Per outlet (and UTC day of first capture when ``by_day``): the articles first captured in
    ``spans`` (every article when None) and the sums of their ``article_change_summary`` rows —
    the ``outlet_day_summary`` rows, counted afresh."""
    pv = ArticleChangeSummary.__table__.c
    edited = pv.edits > 0
    article_day = [_DateOf(Article.first_seen)] if by_day else []
    summary_day = [_DateOf(pv.article_first_seen)] if by_day else []
    articles = (
        select(
            Article.source_id.label("source_id"),
            *(day.label("day") for day in article_day),
            func.count().label("articles"),
            *(_zero().label(name) for name in OUTLET_COUNTS[1:]),
        )
        .where(*_within(Article.first_seen, spans))
        .group_by(Article.source_id, *article_day)
    )
    changed = (
        select(
            pv.source_id,
            *summary_day,
            _zero(),
            _count_if(edited),
            *(func.sum(pv[name]) for name in OUTLET_COUNTS[2:8]),
            *(_count_if(and_(edited, pv.first_edit_delay < bound)) for bound in DELAY_BOUNDS),
        )
        .where(*_within(pv.article_first_seen, spans))
        .group_by(pv.source_id, *summary_day)
    )
    parts = union_all(articles, changed).subquery()
    keys = [parts.c.source_id, *([parts.c.day] if by_day else [])]
    return select(*keys, *(func.sum(parts.c[name]).label(name) for name in OUTLET_COUNTS)).group_by(*keys)


def day_counts(spans: Sequence[Span] | None = None) -> Select[Any]:
    """Per UTC day in ``spans`` (every day when None): new articles, edits by label and removals
    (dated by their first capture), failed fetches — the ``day_summary`` rows, counted afresh."""
    vc = VersionChange
    new = (
        select(
            _DateOf(Article.first_seen).label("day"),
            func.count().label("new_articles"),
            *(_zero().label(name) for name in DAY_COUNTS[1:]),
        )
        .where(*_within(Article.first_seen, spans))
        .group_by(_DateOf(Article.first_seen))
    )
    changes = (
        select(
            _DateOf(vc.first_seen),
            _zero(),
            # Labels inline (not bound parameters), like the grouped expressions.
            *(_count_if(and_(vc.edit, vc.label == literal_column(f"'{label}'"))) for label in LABELS),
            _count_if(and_(vc.edit, vc.label.is_(None))),
            _count_if(vc.change_kind == ChangeKind.REMOVED),
            _zero(),
        )
        .where(vc.edit | (vc.change_kind == ChangeKind.REMOVED), *_within(vc.first_seen, spans))
        .group_by(_DateOf(vc.first_seen))
    )
    failed = (
        select(_DateOf(Fetch.fetched_at), *(_zero() for _ in DAY_COUNTS[:-1]), func.count())
        .where(Fetch.outcome == FetchOutcome.ERROR, *_within(Fetch.fetched_at, spans))
        .group_by(_DateOf(Fetch.fetched_at))
    )
    parts = union_all(new, changes, failed).subquery()
    return select(parts.c.day, *(func.sum(parts.c[name]).label(name) for name in DAY_COUNTS)).group_by(
        parts.c.day
    )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _runs(days: Iterable[date], gap: int = 7, most: int = 32) -> list[tuple[date, date]]:
    """The days as [first, last + 1 day) runs. Days fewer than ``gap`` days apart share a run,
    and there are at most ``most`` runs (else one from the first day to the last): counting a
    day that is not stale from the rows gives the same figures, it only costs a little more."""
    ordered = sorted(set(days))
    runs: list[list[date]] = []
    for day in ordered:
        if runs and (day - runs[-1][1]).days <= gap:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    if len(runs) > most:
        runs = [[ordered[0], ordered[-1]]]
    return [(first, last + timedelta(days=1)) for first, last in runs]


def recount_day_summaries(session: Session | Connection, days: Iterable[date] | None = None) -> None:
    """Recount the ``outlet_day_summary`` and ``day_summary`` rows of these UTC days (of every
    day when None) from the archive. Recounted, not incremented: running it again changes
    nothing, and no figure can drift from the rows it sums."""
    runs: list[tuple[date, date] | None] = [None] if days is None else list(_runs(days))
    for run in runs:
        spans = None if run is None else [(_midnight(run[0]), _midnight(run[1]))]
        for model, counts, recount in (
            (OutletDaySummary, ["source_id", "day", *OUTLET_COUNTS], outlet_day_counts(spans)),
            (DaySummary, ["day", *DAY_COUNTS], day_counts(spans)),
        ):
            day = model.__table__.c.day
            session.execute(delete(model).where(*([] if run is None else [day >= run[0], day < run[1]])))
            session.execute(insert(model).from_select(counts, recount))


def recount_stale_days(engine: Engine) -> int:
    """Recount the day summaries of every day marked stale, then forget the marks seen: what
    every job does when it ends. Returns the number of days recounted.

    On PostgreSQL the recount runs on one snapshot (REPEATABLE READ): the marks it deletes are
    exactly those whose rows it counted; a writer committing meanwhile leaves its marks for the
    next recount (and the statistics count those days from the rows until then). Recounts of
    one archive take turns (an advisory lock taken before the snapshot)."""
    postgres = engine.dialect.name == "postgresql"
    stale = StaleSummaryDay.__table__.c
    with engine.connect() as conn:
        if postgres:
            conn.execute(select(func.pg_advisory_lock(RECOUNT_LOCK_KEY)))
            conn.commit()
            conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            with conn.begin():
                days = conn.scalars(select(stale.day).distinct()).all()
                if days:
                    recount_day_summaries(conn, days)
                    conn.execute(delete(StaleSummaryDay))
        finally:
            if postgres:
                conn.execute(select(func.pg_advisory_unlock(RECOUNT_LOCK_KEY)))
                conn.commit()
    return len(days)


@dataclass(frozen=True)
class _Window:
    """Where the figures of a window come from: the summary rows of its whole days from
    ``first_day`` on (every day when None) but the stale ``runs``, and the archive's rows in
    ``spans`` (the part of the first day after the window's start, and the stale runs)."""

    first_day: date | None
    runs: list[tuple[date, date]]
    spans: list[Span]

    def summarised(self, day: Any) -> list[ColumnElement[bool]]:
        return [
            *([day >= self.first_day] if self.first_day is not None else []),
            *(not_(and_(day >= first, day < end)) for first, end in self.runs),
        ]


def _window(session: Session, since: datetime | None) -> _Window:
    first_day: date | None = None
    spans: list[Span] = []
    if since is not None:
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        first_day = since.date()
        if since != _midnight(first_day):
            first_day += timedelta(days=1)
            spans.append((since, _midnight(first_day)))
    stale = StaleSummaryDay.__table__.c
    days = session.scalars(
        select(stale.day).where(*([stale.day >= first_day] if first_day is not None else [])).distinct()
    ).all()
    runs = _runs(days)
    return _Window(first_day, runs, spans + [(_midnight(first), _midnight(end)) for first, end in runs])


def _summed(session: Session, parts: Sequence[Select[Any]], width: int) -> dict[Any, list[int]]:
    """The rows of every part (a key, then ``width`` counts) added up by key: the summary rows
    of a window and the counts made from the archive's rows for the rest of it."""
    totals: dict[Any, list[int]] = {}
    for part in parts:
        for key, *counts in session.execute(part):
            total = totals.setdefault(key, [0] * width)
            for index, n in enumerate(counts):
                total[index] += int(n or 0)
    return totals


def snapshot(session: Session) -> Session:
    """Make the statistics read one snapshot of the archive (on PostgreSQL, REPEATABLE READ; a
    SQLite read transaction is one already): the summaries, the stale days and the rows counted
    in their place must be of one moment. Call before the session's first statement."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return session


@dataclass(frozen=True)
class OutletStats:
    outlet: str
    source_id: int | None
    articles: int
    edited: int  # articles with at least one edit
    edits: int
    median_first_edit_s: float | None
    p90_first_edit_s: float | None
    substantive: int  # edits labelled substantive
    corrections: int  # edits that add a correction notice
    updates: int  # edits that add an update notice
    removals: int
    restorations: int
    republished: int  # articles linked to a copy at another outlet
    republished_first: int  # of those, the ones this outlet had first
    first_edit_buckets: tuple[int, ...]  # edited articles per DELAY_BUCKETS bucket

    @property
    def edited_share(self) -> float:
        return self.edited / self.articles if self.articles else 0.0

    @property
    def edits_per_edited(self) -> float:
        return self.edits / self.edited if self.edited else 0.0

    @property
    def substantive_share(self) -> float:
        return self.substantive / self.edits if self.edits else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "first_edit_buckets"}
        out["edited_share"] = round(self.edited_share, 4)
        out["edits_per_edited"] = round(self.edits_per_edited, 4)
        out["substantive_share"] = round(self.substantive_share, 4)
        out["first_edit_buckets"] = dict(
            zip((b for b, _ in DELAY_BUCKETS), self.first_edit_buckets, strict=True)
        )
        return out


@dataclass(frozen=True)
class DayStats:
    day: date
    new_articles: int
    edits: int
    edits_by_label: dict[str, int]  # LABELS (and "unlabelled") → edits that day
    removals: int
    failed_fetches: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "new_articles": self.new_articles,
            "edits": self.edits,
            "edits_by_label": self.edits_by_label,
            "removals": self.removals,
            "failed_fetches": self.failed_fetches,
        }


def archive_state(session: Session) -> tuple[Any, ...]:
    """What the statistics depend on, in a few index look-ups: every change to the figures
    records a fetch or a version (a new article, an edit, a flip-flop, a failed fetch), links a
    duplicate, or renames, adds or removes a source. Equal states give equal statistics."""
    return (
        session.scalar(select(func.max(Fetch.id))),
        session.scalar(select(func.max(Version.id))),
        session.scalar(select(func.max(DuplicateLink.id))),
        tuple((i, name) for i, name in session.execute(select(Source.id, Source.name).order_by(Source.id))),
    )


def outlet_stats(session: Session, since: datetime | None) -> list[OutletStats]:
    """Per outlet, the articles first captured at or after ``since`` and what became of them.

    The sums come from outlet_day_summary (a row per outlet and day) for the window's whole days
    that are not stale, and from the articles and their article_change_summary rows for the rest
    (the part of the first day after ``since``, the stale days); the two percentiles of each
    outlet are each read at their rank in the index of first-edit delays.
    """
    window = _window(session, since)
    table = OutletDaySummary.__table__
    parts = [
        select(table.c.source_id, *(func.sum(table.c[name]) for name in OUTLET_COUNTS))
        .where(*window.summarised(table.c.day))
        .group_by(table.c.source_id)
    ]
    if window.spans:
        parts.append(outlet_day_counts(window.spans, by_day=False))
    figures = _summed(session, parts, len(OUTLET_COUNTS))
    rows = sorted(
        ((source_id, counts) for source_id, counts in figures.items() if counts[0]),
        key=lambda row: (-row[1][0], -1 if row[0] is None else row[0]),
    )[:MAX_OUTLETS]
    edited_under = OUTLET_COUNTS.index(FIRST_EDIT_UNDER[0])
    percentiles = _first_edit_percentiles(
        session, since, {src: (c[1], c[edited_under:]) for src, c in rows if c[1]}
    )
    republished = _republications(session, since)
    names: dict[int, str] = {i: n for i, n in session.execute(select(Source.id, Source.name))}
    out = []
    for source_id, counts in rows:
        src = -1 if source_id is None else source_id
        c = dict(zip(OUTLET_COUNTS, counts, strict=True))
        median, p90 = percentiles.get(source_id, (None, None))
        linked, first = republished.get(src, (0, 0))
        out.append(
            OutletStats(
                outlet=names.get(src, NO_SOURCE) if src != -1 else NO_SOURCE,
                source_id=source_id,
                articles=c["articles"],
                edited=c["edited"],
                edits=c["edits"],
                median_first_edit_s=None if median is None else float(round(median)),
                p90_first_edit_s=None if p90 is None else float(round(p90)),
                substantive=c["substantive"],
                corrections=c["corrections"],
                updates=c["updates"],
                removals=c["removals"],
                restorations=c["restorations"],
                republished=linked,
                republished_first=first,
                first_edit_buckets=_buckets(c["edited"], [c[name] for name in FIRST_EDIT_UNDER]),
            )
        )
    return out


def _buckets(edited: int, under: list[int]) -> tuple[int, ...]:
    """Edited articles per DELAY_BUCKETS bucket, from the counts under each bound."""
    below = [0, *under, edited]
    return tuple(below[i + 1] - below[i] for i in range(len(DELAY_BUCKETS)))


def _first_edit_percentiles(
    session: Session, since: datetime | None, edited: dict[int | None, tuple[int, Sequence[int]]]
) -> dict[int | None, tuple[float | None, float | None]]:
    """Median and 90th percentile of the time to first edit of each outlet's edited articles (of
    the cohort), nearest rank: the smallest delay with at least p % of the delays at or under it,
    that is the delay at rank ceil(n × p / 100). ``edited`` gives, per outlet, n and how many of
    the delays are under each bound of DELAY_BUCKETS. Each percentile is one step into the
    outlet's part of ix_article_change_summary_edited (source, delay), which is ordered by delay
    already: straight to the first delay at or over the highest bound with fewer than rank delays
    under it, then the rest of the rank counted from there."""
    pv = ArticleChangeSummary.__table__.c
    in_window = [pv.article_first_seen >= since] if since is not None else []
    # The index's own condition, inline: SQLite uses a partial index only for a query whose
    # condition implies the index's, which a bound parameter does not.
    edited_only = pv.edits > literal_column("0")
    parts = []
    for source_id, (n, under) in edited.items():
        for percent in (50, 90):
            rank = -(-n * percent // 100)
            below = [(bound, count) for bound, count in zip(DELAY_BOUNDS, under, strict=True) if count < rank]
            bound, skipped = below[-1] if below else (None, 0)
            parts.append(
                select(
                    literal(-1 if source_id is None else source_id, Integer).label("source"),
                    literal(percent, Integer).label("percent"),
                    select(pv.first_edit_delay)
                    .where(
                        pv.source_id.is_(None) if source_id is None else pv.source_id == source_id,
                        edited_only,
                        *([pv.first_edit_delay >= bound] if bound is not None else []),
                        *in_window,
                    )
                    .order_by(pv.first_edit_delay)
                    .limit(1)
                    .offset(rank - skipped - 1)
                    .scalar_subquery()
                    .label("delay"),
                )
            )
    out: dict[int | None, tuple[float | None, float | None]] = {}
    found: dict[tuple[int, int], float | None] = {}
    for start in range(0, len(parts), 200):  # a bounded statement, however many outlets
        for src, percent, value in session.execute(union_all(*parts[start : start + 200])):
            found[(int(src), int(percent))] = value
    for source_id in edited:
        key = -1 if source_id is None else source_id
        out[source_id] = (found.get((key, 50)), found.get((key, 90)))
    return out


def _republications(session: Session, since: datetime | None) -> dict[int, tuple[int, int]]:
    """Per outlet: its articles (of the cohort) linked to a copy at another outlet, and how many
    of those it had first."""
    link = DuplicateLink
    pairs = union_all(
        select(
            link.article_id.label("mine"), link.other_id.label("theirs"), link.first_article_id.label("first")
        ),
        select(link.other_id, link.article_id, link.first_article_id),
    ).subquery()
    mine, theirs = Article.__table__.alias("mine"), Article.__table__.alias("theirs")
    source = func.coalesce(mine.c.source_id, -1)
    per_article = (
        select(
            source.label("source"),
            pairs.c.mine,
            func.max(case((pairs.c.first == pairs.c.mine, 1), else_=0)).label("first"),
        )
        .join(mine, mine.c.id == pairs.c.mine)
        .join(theirs, theirs.c.id == pairs.c.theirs)
        .where(mine.c.source_id.is_distinct_from(theirs.c.source_id))
        .where(*([mine.c.first_seen >= since] if since is not None else []))
        .group_by(source, pairs.c.mine)
        .subquery()
    )
    rows = session.execute(
        select(per_article.c.source, func.count(), func.sum(per_article.c.first)).group_by(
            per_article.c.source
        )
    )
    return {int(src): (int(n), int(first or 0)) for src, n, first in rows}


def day_stats(session: Session, since: datetime | None) -> list[DayStats]:
    """Per UTC day at or after ``since`` (newest first): new articles, edits by label, removals,
    failed fetches — read from day_summary for the whole days that are not stale, counted from
    the rows for the rest (the part of the first day after ``since``, the stale days)."""
    window = _window(session, since)
    table = DaySummary.__table__
    parts: list[Select[Any]] = [
        select(table.c.day, *(table.c[name] for name in DAY_COUNTS)).where(*window.summarised(table.c.day))
    ]
    if window.spans:
        parts.append(day_counts(window.spans))
    days = _summed(session, parts, len(DAY_COUNTS))
    out = []
    for day in sorted((d for d, counts in days.items() if any(counts)), reverse=True)[:MAX_DAYS]:
        count = dict(zip(DAY_COUNTS, days[day], strict=True))
        by_label = {
            label: count[f"edits_{label}"] for label in (*LABELS, "unlabelled") if count[f"edits_{label}"]
        }
        out.append(
            DayStats(
                day=day,
                new_articles=count["new_articles"],
                edits=sum(by_label.values()),
                edits_by_label=by_label,
                removals=count["removals"],
                failed_fetches=count["failed_fetches"],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Plain renderings for the CLI: an aligned text table and CSV (the viewer draws its own)

OUTLET_COLUMNS = (
    "outlet",
    "articles",
    "edited",
    "edited_share",
    "edits",
    "edits_per_edited",
    "median_first_edit_s",
    "p90_first_edit_s",
    "substantive",
    "substantive_share",
    "corrections",
    "updates",
    "removals",
    "restorations",
    "republished",
    "republished_first",
)
DAY_COLUMNS = ("day", "new_articles", "edits", *LABELS, "unlabelled", "removals", "failed_fetches")


def duration(seconds: float | None) -> str:
    """A delay as people read it: 45 min, 5.2 h, 3.1 d."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def table_rows(rows: Sequence[OutletStats] | Sequence[DayStats], by: str) -> list[dict[str, Any]]:
    """One flat record per row, in the columns of OUTLET_COLUMNS or DAY_COLUMNS."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, OutletStats):
            record = row.as_dict()
            out.append({name: record[name] for name in OUTLET_COLUMNS})
        else:
            record = row.as_dict()
            out.append(
                {
                    "day": record["day"],
                    "new_articles": row.new_articles,
                    "edits": row.edits,
                    **{label: row.edits_by_label.get(label, 0) for label in (*LABELS, "unlabelled")},
                    "removals": row.removals,
                    "failed_fetches": row.failed_fetches,
                }
            )
    return out


def stats_csv(rows: Sequence[OutletStats] | Sequence[DayStats], by: str) -> str:
    import csv
    import io

    buffer = io.StringIO()
    columns = OUTLET_COLUMNS if by == "outlet" else DAY_COLUMNS
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in table_rows(rows, by):
        # A spreadsheet runs a cell starting with = + - @ as a formula: outlet names are not trusted.
        name = record.get("outlet")
        if isinstance(name, str) and name[:1] in ("=", "+", "-", "@", "\t", "\r"):
            record["outlet"] = "'" + name
        writer.writerow(record)
    return buffer.getvalue()


def stats_text(rows: Sequence[OutletStats] | Sequence[DayStats], by: str, since: datetime | None) -> str:
    when = f"since {since:%Y-%m-%d %H:%M} UTC" if since is not None else "all time"
    if not rows:
        return f"nothing archived {when}\n"
    header: tuple[str, ...]
    lines: list[tuple[str, ...]]
    if by == "outlet":
        header = (
            "outlet",
            "articles",
            "edited",
            "edits/ed.",
            "median 1st",
            "p90 1st",
            "subst.",
            "corr.",
            "upd.",
            "removed",
            "restored",
            "republ.",
        )
        lines = [
            (
                " ".join(r.outlet.split())[:40],
                str(r.articles),
                f"{r.edited} ({r.edited_share:.0%})",
                f"{r.edits_per_edited:.2f}",
                duration(r.median_first_edit_s),
                duration(r.p90_first_edit_s),
                f"{r.substantive} ({r.substantive_share:.0%})",
                str(r.corrections),
                str(r.updates),
                str(r.removals),
                str(r.restorations),
                f"{r.republished} ({r.republished_first} first)",
            )
            for r in rows
            if isinstance(r, OutletStats)
        ]
        title = f"How each outlet edits the articles first captured {when}"
    else:
        header = ("day", "new", "edits", *LABELS, "removed", "failed")
        lines = [
            (
                r.day.isoformat(),
                str(r.new_articles),
                str(r.edits),
                *(str(r.edits_by_label.get(label, 0)) for label in LABELS),
                str(r.removals),
                str(r.failed_fetches),
            )
            for r in rows
            if isinstance(r, DayStats)
        ]
        title = f"Each day {when} (UTC)"
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([title, fmt(header), *(fmt(line) for line in lines)]) + "\n"

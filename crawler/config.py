"""The crawl's configuration files: ``config/sources.yaml`` and ``config/topic.yaml``.

Both are validated with pydantic on load. A mistake is reported as one line naming the file,
the line and the field (``config/sources.yaml:42: sources[3].feeds[0].url: …``), never a
traceback.
"""

from __future__ import annotations

import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote_plus, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from archive.errors import ConfigError
from archive.policy import RevisitLadder, SourcePolicy

CONFIG_DIR_ENV = "MEDIAWATCH_CONFIG_DIR"
CONFIG_FILES = ("sources.yaml", "topic.yaml", "schedule.yaml")


def config_dir() -> Path:
    """Where the default configuration files are: ``$MEDIAWATCH_CONFIG_DIR`` when set, else the
    copies shipped inside the installed package (``crawler/defaults``), else ``config/`` of a
    checkout. ``mediawatch config init DIR`` writes editable copies."""
    chosen = os.environ.get(CONFIG_DIR_ENV)
    if chosen:
        return Path(chosen)
    packaged = Path(str(files("crawler").joinpath("defaults")))
    if (packaged / "sources.yaml").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "config"


CONFIG_DIR = config_dir()
DEFAULT_SOURCES = CONFIG_DIR / "sources.yaml"
DEFAULT_TOPIC = CONFIG_DIR / "topic.yaml"
DEFAULT_SCHEDULE = CONFIG_DIR / "schedule.yaml"
MAX_CONFIG_BYTES = 2 * 1024 * 1024

Status = Literal["verified_live", "production_config", "seen_in_configs", "unverified", "blocked_reported"]


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class NotifyTarget(BaseModel):
    """One place to post to. ``url`` is an Apprise URL: https://github.com/caronc/apprise/wiki."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, min_length=3, max_length=4000)
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    send: Literal["digest", "edits"] = "digest"
    format: Literal["text", "markdown", "html"] = "text"
    # digest: "changes" posts only when the run found a new article or an edit, or a run failed.
    when: Literal["changes", "always"] = "changes"
    # edits: a text edit counts when it adds or removes at least this many words.
    min_words: int = Field(default=1, ge=0)
    include_metadata: bool = False  # edits: also post headline/byline-only changes
    max_messages: int = Field(default=20, ge=1, le=1000)  # edits: then one "and N more" message
    viewer_url: str | None = None  # the web viewer's address, for links to diffs

    @model_validator(mode="after")
    def _one_url(self) -> NotifyTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if self.viewer_url is not None and urlsplit(self.viewer_url).scheme not in ("http", "https"):
            raise ValueError("viewer_url must be an http(s) URL")
        return self

    def label(self, index: int) -> str:
        """How the target is named in messages: never the URL itself, which may hold a secret."""
        if self.url_env is not None:
            return f"notify[{index}] (${self.url_env})"
        scheme = (self.url or "").split("://", 1)[0][:20]
        return f"notify[{index}] ({scheme})"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedRef(_Strict):
    url: str
    status: Status = "unverified"
    evidence: str | list[str] | None = None
    lang: str | None = None
    note: str | None = None

    _url = field_validator("url")(_check_http_url)


class SourceConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=3)
    lang: str = Field(min_length=2, max_length=8)
    viewpoint: str | None = None
    type: Literal["news", "analysis", "commentary", "think_tank", "wire", "state"] = "news"
    feeds: list[FeedRef] = Field(default_factory=list)
    sitemaps: list[FeedRef] = Field(default_factory=list)
    # Read the site's robots.txt for ``Sitemap:`` lines (and crawl those sitemaps).
    robots_sitemaps: bool = False
    enabled: bool = True
    trust_cross_domain_canonical: bool = False
    # Per-source archive policy (ignore_lines, trust_cross_domain_canonical): archive/policy.py.
    archive: SourcePolicy | None = None
    notes: str | None = None
    terms: str | None = None
    fallback_discovery: str | None = None
    feed_directory: str | None = None


class Edition(_Strict):
    hl: str
    gl: str = Field(pattern=r"^[A-Z]{2}$")
    lang: str


class GoogleNews(_Strict):
    enabled: bool = True
    template: str = "https://news.google.com/rss/search?q={q}&hl={hl}&gl={gl}&ceid={gl}:{lang}"
    editions: list[Edition] = Field(default_factory=list)
    window: str = Field(default="2d", pattern=r"^\d+[hd]$")
    # Item links are opaque news.google.com URLs: recover each publisher URL (crawler/gnews.py), two
    # requests to Google per new link, at most this many links per run (the rest wait for the next).
    decode_links: bool = True
    max_decodes_per_run: int = Field(default=200, ge=0, le=10_000)
    # Requests to Google News go one at a time, this far apart (bursts meet 429s and CAPTCHAs).
    min_interval_seconds: float = Field(default=5.0, ge=0)

    @property
    def host(self) -> str:
        return urlsplit(self.template).netloc

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        for key in ("{q}", "{hl}", "{gl}", "{lang}"):
            if key not in value:
                raise ValueError(f"template must contain {key}")
        if not value.startswith(("http://", "https://")):
            raise ValueError("template must be an http(s) URL")
        return value


class Gdelt(_Strict):
    enabled: bool = True
    template: str = (
        "https://api.gdeltproject.org/api/v2/doc/doc?query={q}&mode=ArtList&format=RSS"
        "&maxrecords=250&timespan={span}&sort=DateDesc"
    )
    timespan: str = Field(default="24h", pattern=r"^\d+(min|h|d|w)$")
    min_interval_seconds: float = Field(default=6.0, ge=5.0)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        for key in ("{q}", "{span}"):
            if key not in value:
                raise ValueError(f"template must contain {key}")
        return value


class Discovery(_Strict):
    google_news: GoogleNews = Field(default_factory=GoogleNews)
    gdelt_doc: Gdelt = Field(default_factory=Gdelt)


class Defaults(_Strict):
    user_agent: str = Field(default="mediawatch/{version} (+{contact})", min_length=1)
    contact_url: str = "https://github.com/mediawatch/mediawatch"
    respect_robots: bool = True
    download_delay_seconds: float = Field(default=1.0, ge=0)
    concurrent_per_domain: int = Field(default=2, ge=1, le=64)
    sitemap_window_days: int = Field(default=30, ge=1, le=36500)
    # WARC capture (crawler/warccapture.py): a directory (relative to the working directory) turns
    # it on for every crawl, as `mediawatch crawl --warc DIR` does; files rotate at this many bytes.
    warc_dir: str | None = None
    warc_max_size: int = Field(default=1_000_000_000, ge=1)
    # The revisit ladder of every source without its own (``archive: {revisit: …}``), e.g.
    # [{until: 1d, every: 30m}, {until: 30d, every: 1d}]; None: archive/schedule.py DEFAULT_LADDER.
    revisit: RevisitLadder | None = None

    _contact = field_validator("contact_url")(_check_http_url)

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        try:
            value.format(version="0", contact="https://example.org")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {version} and {contact} may appear in braces") from None
        if any(ch in value for ch in "\r\n"):
            raise ValueError("must be one line")
        return value


class Seed(_Strict):
    url: str
    title: str | None = None


class SourcesFile(_Strict):
    version: Literal[1]
    generated: Any = None
    seed: Seed | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    sources: list[SourceConfig]
    discovery: Discovery = Field(default_factory=Discovery)
    # Where to post after each crawl (the CLI posts through mediawatch/notify.py; docs/running.md,
    # Notifications).
    notify: list[NotifyTarget] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesFile:
        seen: set[str] = set()
        for source in self.sources:
            if source.id in seen:
                raise ValueError(f"duplicate source id {source.id!r}")
            seen.add(source.id)
        return self


Role = Literal["place", "actor", "violence", "militancy", "forces", "security", "harm", "context", "negative"]
Side = Literal["pakistan", "afghanistan", "border"]


class TermGroup(_Strict):
    """Named spelling variants of one thing; a group counts once however often it matches.

    ``role`` says what kind of evidence the group is (see docs/topic.md): a ``place`` in
    Pakistan or Afghanistan, an armed ``actor``, an act of ``violence``, a ``security`` force or
    operation, ``harm`` (killed, wounded), ``context`` (only its ``bonus`` counts) or a
    ``negative`` group (sport, markets…) that can only break ties.
    """

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    role: Role
    terms: list[str] = Field(min_length=1)
    case_sensitive: bool = False
    # The country a place is in; on an actor, the place the actor implies (the TTP: Pakistan).
    side: Side | None = None
    bonus: float = Field(default=0.0, ge=0, le=10)  # points when the group occurs anywhere

    @model_validator(mode="after")
    def _place_has_side(self) -> TermGroup:
        if self.role == "place" and self.side is None:
            raise ValueError(f"place group {self.name!r} needs a side (pakistan, afghanistan or border)")
        for term in self.terms:
            if term.startswith("re:"):
                try:
                    re.compile(term[3:])
                except re.error as exc:
                    raise ValueError(f"bad regular expression {term!r}: {exc}") from None
        return self


class Weights(_Strict):
    lead: float = 3.0  # the title or lead pairs a place with an actor or an act of violence
    lead_detail: float = 1.0  # ... and names two of: an armed actor, violence, a casualty
    title: float = 1.0  # the title itself names an actor or an act of violence
    title_place: float = 1.0  # the title names a place of the region (and the lead pairs)
    body_pair: float = 1.0  # each further body sentence that pairs a place with an actor/violence
    body_pair_cap: int = Field(default=3, ge=0)
    bonus_cap: float = Field(default=3.0, ge=0)  # at most this much from group bonuses
    cross_border: float = 1.0  # paired evidence on both the Pakistan and the Afghanistan side
    commentary: float = 1.0  # opinion URL or analysis outlet, with some evidence
    negative: float = 1.0  # each negative group in the title or lead ...
    negative_cap: float = Field(default=2.0, ge=0)  # ... but never more than this in all


class TopicFile(_Strict):
    version: Literal[2]
    name: str
    threshold: float = 4.0
    # Pages scoring in [threshold - candidate_margin, threshold) are kept as candidates.
    candidate_margin: float = Field(default=2.0, ge=0)
    # The lead: the title and the article's first prose (lines of real sentences) up to this size.
    lead_chars: int = Field(default=600, ge=100, le=20_000)
    weights: Weights = Field(default_factory=Weights)
    groups: list[TermGroup] = Field(min_length=1)
    commentary_url_patterns: list[str] = Field(default_factory=list)
    commentary_sites: list[str] = Field(default_factory=list)
    always_keep: list[list[str]] = Field(default_factory=list)  # all groups of one entry in one paragraph
    discovery_queries: list[str] = Field(default_factory=list)
    gdelt_queries: list[str] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if value == 1:
            raise ValueError(
                "topic file version 1 (tier_a/tier_b) is no longer read: rewrite it as version 2 "
                "with role-tagged groups (see docs/topic.md)"
            )
        return value

    @model_validator(mode="after")
    def _regexes(self) -> TopicFile:
        for pattern in self.commentary_url_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        names = [g.name for g in self.groups]
        duplicate = {n for n in names if names.count(n) > 1}
        if duplicate:
            raise ValueError(f"term group names must be unique: {sorted(duplicate)}")
        for entry in self.always_keep:
            for name in entry:
                if name not in names:
                    raise ValueError(f"always_keep names unknown term group {name!r}")
        return self


# ---------------------------------------------------------------------------------------------
# Loading with line numbers


def _compose(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML into plain data plus a map from each value's path to its line number."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too big ({size} bytes; at most {MAX_CONFIG_BYTES})")
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8: {exc}") from None
    except OSError as exc:  # a directory, a file that went away, a permission
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    lines: dict[tuple[Any, ...], int] = {}

    def walk(n: Any, at: tuple[Any, ...]) -> None:
        lines[at] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                lines[(*at, key.value)] = key.start_mark.line + 1
                walk(value, (*at, key.value))
        elif isinstance(n, yaml.SequenceNode):
            for i, value in enumerate(n.value):
                walk(value, (*at, i))

    if node is not None:
        walk(node, ())
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # pragma: no cover - compose already accepted it
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return data, lines


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


Model = TypeVar("Model", bound=BaseModel)


def load_model(model: type[Model], path: Path) -> Model:
    """A YAML configuration file validated as ``model``; any problem is one line naming the file
    and line (``path:LINE: where: what``), as ``ConfigError``."""
    data, lines = _compose(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = None
        for end in range(len(loc), -1, -1):
            line = lines.get(loc[:end])
            if line is not None:
                break
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}:{line or 1}: {_location(loc)}: {message}{more}") from None


def load_sources(path: Path | str = DEFAULT_SOURCES) -> SourcesFile:
    return load_model(SourcesFile, Path(path))


def load_topic(path: Path | str = DEFAULT_TOPIC) -> TopicFile:
    return load_model(TopicFile, Path(path))


# ---------------------------------------------------------------------------------------------
# Discovery feeds built from the topic's queries


def discovery_feed_urls(sources: SourcesFile, topic: TopicFile | None) -> list[tuple[str, str]]:
    """(name, url) of every Google News and GDELT search feed for the topic's queries."""
    if topic is None:
        return []
    out: list[tuple[str, str]] = []
    gn = sources.discovery.google_news
    if gn.enabled:
        for query in topic.discovery_queries:
            q = quote_plus(f"{query} when:{gn.window}")
            for ed in gn.editions:
                url = gn.template.format(q=q, hl=ed.hl, gl=ed.gl, lang=ed.lang)
                out.append((f"Google News {ed.gl}:{ed.lang}", url))
    gd = sources.discovery.gdelt_doc
    if gd.enabled:
        for query in topic.gdelt_queries:
            out.append(("GDELT DOC", gd.template.format(q=quote_plus(query), span=gd.timespan)))
    return out


def capture_options(source: SourceConfig) -> dict[str, Any]:
    """``Capture(...)`` keyword arguments for pages of ``source`` (its ``archive:`` policy)."""
    options = (source.archive or SourcePolicy()).capture_options()
    options["trust_cross_domain_canonical"] = bool(
        options["trust_cross_domain_canonical"] or source.trust_cross_domain_canonical
    )
    return options

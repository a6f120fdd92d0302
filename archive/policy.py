"""Per-source archive policy: what is boilerplate on this site, and whose canonical to trust.

A source entry in ``config/sources.yaml`` may carry an ``archive:`` mapping validated by
:class:`SourcePolicy`; the crawler passes :meth:`SourcePolicy.capture_options` into every
``Capture`` it builds for that source::

    - name: example
      url: https://example.com/feed.xml
      archive:
        ignore_lines: ["Updated \\\\d+ hours? ago", "Listen to this article"]
        trust_cross_domain_canonical: false
        revisit: [{until: 2d, every: 30m}, {until: 30d, every: 1d}]
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from archive.schedule import Rung, check_ladder, parse_duration
from archive.volatile import PatternError, check_patterns


class RevisitRung(BaseModel):
    """While an article (or its last change) is younger than ``until``, check it ``every`` so often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    until: timedelta
    every: timedelta

    @field_validator("until", "every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


def revisit_ladder(rungs: tuple[RevisitRung, ...] | None) -> tuple[Rung, ...] | None:
    """The configured rungs as the ladder ``archive.schedule.next_check`` climbs (None: the default)."""
    if rungs is None:
        return None
    return check_ladder([Rung(r.until, r.every) for r in rungs])


def _checked(rungs: tuple[RevisitRung, ...]) -> tuple[RevisitRung, ...]:
    revisit_ladder(rungs)
    return rungs


# A configured revisit ladder (``archive.revisit`` of a source, ``defaults.revisit``), validated.
RevisitLadder = Annotated[tuple[RevisitRung, ...], AfterValidator(_checked)]


class SourcePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ignore_lines: tuple[str, ...] = Field(
        default=(),
        description="Regular expressions (case-insensitive) for lines or fragments of the article "
        "body that are furniture on this site; they never make a new version.",
    )
    trust_cross_domain_canonical: bool = Field(
        default=False,
        description="Follow rel=canonical/og:url to another domain (e.g. a syndication partner "
        "that points at the original). Off by default so a hostile page cannot hijack an article.",
    )
    revisit: RevisitLadder | None = Field(
        default=None,
        description="The revisit ladder for this source's articles (default: the sources file's "
        "`defaults.revisit`, else hourly for a day, 6-hourly to day 3, daily to day 14, weekly to "
        "day 60, monthly to a year).",
    )

    @field_validator("ignore_lines")
    @classmethod
    def _valid_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_patterns(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from None

    def capture_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Capture(...)`` (``ignore_patterns``, ``trust_cross_domain_canonical``)."""
        return {
            "ignore_patterns": self.ignore_lines,
            "trust_cross_domain_canonical": self.trust_cross_domain_canonical,
            "revisit_ladder": revisit_ladder(self.revisit),
        }

"""Per-source archive policy: what is boilerplate on this site, and whose canonical to trust.

A source entry in ``config/sources.yaml`` may carry an ``archive:`` mapping validated by
:class:`SourcePolicy`; the crawler passes :meth:`SourcePolicy.capture_options` into every
``Capture`` it builds for that source::

    - name: example
      url: https://example.com/feed.xml
      archive:
        ignore_lines: ["Updated \\\\d+ hours? ago", "Listen to this article"]
        trust_cross_domain_canonical: false
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediawatch.archive.volatile import PatternError, check_patterns


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
        }

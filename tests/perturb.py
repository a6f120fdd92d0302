"""Perturbations of real corpus pages: furniture that must not be an edit, and real edits.

Every function takes a page's raw bytes and returns new bytes; ``rng`` makes each request's
volatile content differ. The body anchor is a run of plain words from the extracted text found
in the HTML, so injected paragraphs land inside the article body.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

HEADLINES = [
    "Markets rally as central bank holds rates",
    "Storm warning issued for the coast",
    "Minister resigns after funding row",
    "Scientists map the deep ocean floor",
    "Local team wins cup after extra time",
    "New rail line opens to passengers",
    "Inflation eases for a third month",
    "Museum returns looted bronzes",
    "Heatwave strains the power grid",
    "Court blocks controversial merger",
    "Election turnout reaches record high",
    "Tech firm unveils folding phone",
]
_PLAIN = re.compile(r"[A-Za-z][A-Za-z ,]{60,}[A-Za-z]")


@dataclass(frozen=True)
class Anchor:
    text: bytes  # a run of plain words of the body, as it appears in the HTML
    insert_at: int  # just after the closing </p> that follows the anchor


def find_anchor(raw: bytes, body_text: str) -> Anchor | None:
    """A body paragraph of the extracted text that appears verbatim in the HTML."""
    lines = [line for line in body_text.split("\n") if len(line) > 120]
    for line in lines[len(lines) // 3 :] + lines[: len(lines) // 3]:
        match = _PLAIN.search(line)
        if not match:
            continue
        snippet = match.group(0)[:80].rsplit(" ", 1)[0].encode()
        if len(snippet) < 40:
            continue
        position = raw.find(snippet)
        while position >= 0:
            close = _inside_paragraph(raw, position)
            if close is not None:
                return Anchor(snippet, close + len(b"</p>"))
            position = raw.find(snippet, position + 1)
    return None


def _inside_paragraph(raw: bytes, position: int) -> int | None:
    """Where the <p> element holding ``position`` closes, if it is a plain paragraph."""
    opening = max(raw.rfind(b"<p>", 0, position), raw.rfind(b"<p ", 0, position))
    close = raw.find(b"</p>", position)
    if opening < 0 or close < 0 or close - position > 5000 or raw.rfind(b"</p>", 0, position) > opening:
        return None
    if raw.rfind(b"<script", 0, position) > raw.rfind(b"</script", 0, position):
        return None  # inside a script (a JSON copy of the body)
    inner = raw[opening:close].lower()
    if any(tag in inner for tag in (b"<script", b"</div", b"<div", b"</li", b"</td", b"<!--")):
        return None
    return close


def _inject(raw: bytes, at: int, html: str) -> bytes:
    return raw[:at] + html.encode() + raw[at:]


def _before_body_end(raw: bytes, html: str) -> bytes:
    index = raw.lower().rfind(b"</body>")
    return _inject(raw, index if index >= 0 else len(raw), html)


def rotating_related(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    items = "".join(
        f'<li><a href="/story/{rng.randrange(10**6)}">{h}</a></li>' for h in rng.sample(HEADLINES, 4)
    )
    return _before_body_end(raw, f'<aside class="related"><h3>Related</h3><ul>{items}</ul></aside>')


def ads(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    slot = rng.randrange(10**9)
    return _before_body_end(
        raw,
        f'<div class="ad-slot" id="ad-{slot}" data-campaign="c{slot % 97}">'
        f'<iframe src="/ads/{slot}.html"></iframe><span>Advertisement</span></div>',
    )


def timestamps(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    stamp = f"2026-03-{rng.randrange(1, 28):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
    return _before_body_end(raw, f'<div class="generated">Page generated <time>{stamp}</time></div>')


def tokens(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    token = f"{rng.getrandbits(128):032x}"
    return _before_body_end(
        raw,
        f'<form><input type="hidden" name="csrf" value="{token}"></form>'
        f'<script>window.__nonce="{token}";</script>',
    )


_SCRIPT = re.compile(rb"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<pre\b.*?</pre\s*>)", re.I | re.S)


def whitespace(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    """Reflowed markup: new lines and indentation between and inside paragraphs (not in scripts)."""
    parts = _SCRIPT.split(raw)
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace(b"</p>", b"</p>\n\n    ").replace(b". ", b".  \n ")
    return b"".join(parts)


def promo(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    return _inject(
        raw,
        anchor.insert_at,
        "<p>Sign up to our daily newsletter for the top stories, delivered free to your inbox.</p>",
    )


def volatile_lines(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    """Per-request lines inside the body: a relative time, a rotating link, a counter, a pick."""
    lines = [
        f"<p>Updated {rng.randrange(2, 59)} minutes ago</p>",
        f"<p>Also read: {rng.choice(HEADLINES)} ({rng.randrange(10**6)})</p>",
        f"<p>{rng.randrange(100, 9999)} people are reading this now</p>",
        # matches no pattern: only the confirming re-fetch masks it
        f"<p>Today's pick from our editors, number {rng.randrange(10**6)}: {rng.choice(HEADLINES)} "
        f"(ref {rng.getrandbits(64):x})</p>",
    ]
    return _inject(raw, anchor.insert_at, "".join(lines))


FURNITURE = {
    "rotating-related": rotating_related,
    "ads": ads,
    "timestamps": timestamps,
    "tokens": tokens,
    "whitespace": whitespace,
    "promo": promo,
    "volatile-lines": volatile_lines,
}


def _closes(raw: bytes, text: bytes) -> list[int]:
    """Where every plain paragraph holding ``text`` closes (a page may carry the body twice)."""
    closes, position = [], raw.find(text)
    while position >= 0:
        close = _inside_paragraph(raw, position)
        if close is not None and close not in closes:
            closes.append(close)
        position = raw.find(text, position + 1)
    return closes


def _reanchor(raw: bytes, text: bytes) -> Anchor:
    closes = _closes(raw, text)
    assert closes, "the anchor paragraph disappeared"
    return Anchor(text, closes[0] + len(b"</p>"))


def _insert_everywhere(raw: bytes, text: bytes, addition: bytes, *, after: bool) -> bytes:
    for close in sorted(_closes(raw, text), reverse=True):
        at = close + len(b"</p>") if after else close
        raw = raw[:at] + addition + raw[at:]
    return raw


def edit_word(raw: bytes, anchor: Anchor) -> tuple[bytes, Anchor]:
    words = anchor.text.split(b" ")
    index = max(range(len(words)), key=lambda i: len(words[i]))
    words[index] = b"Zanzibarian"
    new = b" ".join(words)
    edited = raw.replace(anchor.text, new)  # every copy: the body, a JSON-LD copy, a teaser
    return edited, _reanchor(edited, new)


def edit_sentence(raw: bytes, anchor: Anchor) -> tuple[bytes, Anchor]:
    sentence = b" A spokesperson later disputed this account in a written statement to reporters."
    edited = _insert_everywhere(raw, anchor.text, sentence, after=False)
    return edited, _reanchor(edited, anchor.text)


def edit_paragraph(raw: bytes, anchor: Anchor) -> tuple[bytes, Anchor]:
    paragraph = (
        b"<p>Correction: an earlier version of this article misstated the number of people affected "
        b"by the decision; officials now say it is considerably higher than first reported.</p>"
    )
    edited = _insert_everywhere(raw, anchor.text, paragraph, after=True)
    return edited, _reanchor(edited, anchor.text)


EDITS = {"one-word": edit_word, "one-sentence": edit_sentence, "one-paragraph": edit_paragraph}


def with_volatile(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    """A page as served on one request: every kind of furniture at once, freshly rotated."""
    page = volatile_lines(raw, anchor, rng)
    for name in ("rotating-related", "ads", "timestamps", "tokens"):
        page = FURNITURE[name](page, anchor, rng)
    return page


_SENTENCE_START = re.compile(rb"(?<=[a-z][.!?] )(?=[A-Z])")


def inline_volatile(raw: bytes, anchor: Anchor, rng: random.Random) -> bytes:
    """Per-request text inserted INSIDE the anchor's body paragraph, in front of a real sentence:
    a relative time and a link to a random story, as some sites splice into the article text."""
    close = anchor.insert_at - len(b"</p>")
    position = raw.rfind(anchor.text, 0, close)  # in this paragraph, not a JSON-LD copy before it
    opening = raw.find(b">", max(raw.rfind(b"<p>", 0, position), raw.rfind(b"<p ", 0, position))) + 1
    starts = [opening + m.start() for m in _SENTENCE_START.finditer(raw[opening:close])]
    # The second sentence if there is one (text on both sides), else the paragraph's start.
    at = starts[0] if starts else opening
    number = rng.randrange(10**6)
    inserted = (
        f"Updated {rng.randrange(2, 59)} minutes ago. Also read: "
        f'<a href="/story/{number}">Story number {number}: {rng.choice(HEADLINES)}</a>, '
        "you may have missed it. "
    )
    return raw[:at] + inserted.encode() + raw[at:]


def delete_paragraph(raw: bytes, body_text: str, anchor: Anchor) -> tuple[bytes, Anchor, str]:
    """The page without one body paragraph other than the anchor's (a real deletion).

    Returns the new bytes, the anchor found again, and a run of the deleted paragraph's words.
    """
    for line in body_text.split("\n"):
        match = _PLAIN.search(line) if len(line) > 120 else None
        if match is None:
            continue
        snippet = match.group(0)[:80].rsplit(" ", 1)[0].encode()
        if len(snippet) < 40 or snippet in anchor.text or anchor.text in snippet:
            continue
        closes = _closes(raw, snippet)
        if len(closes) != 1 or closes[0] + len(b"</p>") == anchor.insert_at:
            continue
        position = raw.rfind(snippet, 0, closes[0])
        opening = max(raw.rfind(b"<p>", 0, position), raw.rfind(b"<p ", 0, position))
        edited = raw[:opening] + raw[closes[0] + len(b"</p>") :]
        if anchor.text in edited:
            return edited, _reanchor(edited, anchor.text), snippet.decode()
    raise AssertionError("no deletable body paragraph")

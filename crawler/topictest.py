"""Score saved pages against a topic file the way the crawler would (``mediawatch topic test``).

Input is HTML files (optionally gzipped) or JSON Lines in the ``mediawatch import`` format: one
object a line with ``url`` and either ``html`` (extracted here, like a crawled page) or
``title`` + ``text`` (already extracted; scored as they are). ``fetched_at`` is not needed.
Also: recall and precision of a topic on a labelled set (``bench/topic_eval.py``, the tests).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.errors import InputError
from archive.extract import Extracted, ExtractionError, extract
from archive.importer import TEXT_IMPORT_EXTRACTOR
from archive.normalize import normalize_text
from crawler.relevance import Relevance, Score

MAX_INPUT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ScoredPage:
    where: str  # the file, or file:line for JSON Lines
    url: str | None
    title: str | None
    score: Score

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.where, "url": self.url, "title": self.title, **self.score.as_dict()}


def _read(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{path}: bigger than {MAX_INPUT_BYTES} bytes")
    return data


def _is_json_lines(path: Path, data: bytes) -> bool:
    name = path.name.removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return True
    if name.endswith((".html", ".htm", ".xhtml")):
        return False
    return data.lstrip()[:1] == b"{"


def score_html(relevance: Relevance, raw: bytes, url: str | None) -> tuple[Extracted, Score]:
    """Extract and score one page exactly as the crawler does."""
    extracted = extract(raw, url=url)
    return extracted, relevance.score_extracted(extracted, url)


def _record(relevance: Relevance, obj: Any, where: str) -> ScoredPage:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: not a JSON object")
    url = obj.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"{where}: missing url")
    if "html" in obj:
        if not isinstance(obj["html"], str):
            raise InputError(f"{where}: html must be a string")
        try:
            extracted, score = score_html(relevance, obj["html"].encode("utf-8"), url)
        except ExtractionError as exc:
            raise InputError(f"{where}: cannot extract: {exc}") from None
        return ScoredPage(where, url, extracted.title, score)
    text, title = obj.get("text"), obj.get("title")
    if not isinstance(text, str):
        raise InputError(f"{where}: needs either html or title + text")
    if title is not None and not isinstance(title, str):
        raise InputError(f"{where}: title must be a string")
    # The same form the import stores for a text-only record.
    extracted = Extracted(
        text=normalize_text(text), title=(title or "").strip() or None, extractor=TEXT_IMPORT_EXTRACTOR
    )
    return ScoredPage(where, url, extracted.title, relevance.score_extracted(extracted, url))


def score_files(relevance: Relevance, paths: Iterable[Path]) -> Iterator[ScoredPage]:
    """Score every page in the files; bad input raises InputError naming the file (and line)."""
    for path in paths:
        data = _read(path)
        if _is_json_lines(path, data):
            for number, line in enumerate(data.splitlines(), start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    raise InputError(f"{where}: not JSON: {str(exc)[:100]}") from None
                yield _record(relevance, obj, where)
            continue
        try:
            extracted, score = score_html(relevance, data, None)
        except ExtractionError as exc:
            raise InputError(f"{path}: cannot extract: {exc}") from None
        yield ScoredPage(str(path), extracted.canonical_url, extracted.title, score)


# ---------------------------------------------------------------------------------------------
# Recall and precision on a labelled set


@dataclass(frozen=True)
class Evaluation:
    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int
    candidates_on: int  # ON items not kept but within the candidate margin
    errors: tuple[tuple[str, dict[str, Any], Score], ...]

    @property
    def recall(self) -> float:
        return self.true_pos / max(1, self.true_pos + self.false_neg)

    @property
    def precision(self) -> float:
        return self.true_pos / max(1, self.true_pos + self.false_pos)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate_labelled(relevance: Relevance, items: Iterable[dict[str, Any]]) -> Evaluation:
    """Score items ``{"title", "text", "label": "ON"|"OFF"}`` as extracted pages; count hits."""
    tp = fp = fn = tn = near = 0
    errors: list[tuple[str, dict[str, Any], Score]] = []
    for item in items:
        extracted = Extracted(
            text=normalize_text(str(item["text"])), title=str(item.get("title") or "") or None
        )
        score = relevance.score_extracted(extracted, item.get("url"))
        on = item["label"] == "ON"
        if on and score.keep:
            tp += 1
        elif on:
            fn += 1
            near += score.candidate
            errors.append(("missed", item, score))
        elif score.keep:
            fp += 1
            errors.append(("false keep", item, score))
        else:
            tn += 1
    return Evaluation(tp, fp, fn, tn, near, tuple(errors))

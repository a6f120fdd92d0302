"""Which pairs of the 990 real pages of trafilatura's evaluation set the republication rule links.

    uv run python bench/republication_corpus.py

Extracts every page, then compares every pair by containment (``archive.dedup.same_story``, the
confirmation of a near-duplicate candidate) and prints the most contained pairs, whether each is
linked, and how many pairs are linked in all. The set holds two real republications (a press
release on djz.de and jagdverband.de, an EFE wire story on cooperativa.cl and 24horas.cl) and two
pages stored twice under different names; every other pair is two different stories.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import corpus_root  # noqa: E402
from corpus_data import eval_pages  # noqa: E402

from archive.dedup import MIN_SHINGLES, same_story, shingles  # noqa: E402
from archive.extract import ExtractionError, extract  # noqa: E402
from archive.volatile import key_text  # noqa: E402

SHOWN = 8


def main() -> None:
    corpus = corpus_root()
    if corpus is None:
        sys.exit("the shared corpus is absent (set MEDIAWATCH_CORPUS)")
    started = time.perf_counter()
    docs: list[tuple[str, set[bytes]]] = []
    for page in eval_pages(corpus):
        try:
            grams = shingles(key_text(extract(page.raw(), url=page.url).text))
        except ExtractionError:
            continue
        if len(grams) >= MIN_SHINGLES:
            docs.append((page.key, grams))
    # Only pairs sharing a shingle can be contained in each other: count shared shingles per pair.
    holders: defaultdict[bytes, list[int]] = defaultdict(list)
    for index, (_key, grams) in enumerate(docs):
        for gram in grams:
            holders[gram].append(index)
    scored = []
    for i, (_key, grams) in enumerate(docs):
        shared: Counter[int] = Counter(j for gram in grams for j in holders[gram] if j > i)
        for j, count in shared.items():
            share = count / min(len(grams), len(docs[j][1]))
            scored.append((share, i, j))
    scored.sort(reverse=True)
    linked = 0
    for share, i, j in scored:
        is_linked = same_story(docs[i][1], docs[j][1]) is not None
        linked += is_linked
        if share >= scored[SHOWN - 1][0]:
            print(f"containment {share:.3f} linked={is_linked}  {docs[i][0]}  |  {docs[j][0]}")
    pairs = len(docs) * (len(docs) - 1) // 2
    print(f"{len(docs)} pages, {pairs} pairs: {linked} linked ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

"""Recall and precision of the topic filter on the hand-labelled development set.

Scores every item of ``topic-relevance-dev/items.jsonl`` (a real headline and lead, labelled
ON/OFF for this project's topic) with a topic file, exactly as the crawler scores an extracted
page, and prints recall, precision and F1 on ON, the confusion counts, how many missed ON items
would be kept as candidates, and (with ``--errors``) each miss and each false keep with its
score and the groups matched in its lead. The set is read where it lies (never copied).

    uv run python bench/topic_eval.py                        # config/topic.yaml
    uv run python bench/topic_eval.py --topic my-topic.yaml --errors
    MEDIAWATCH_CORPUS=/path/to/corpus uv run python bench/topic_eval.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from crawler.config import DEFAULT_TOPIC, load_topic  # noqa: E402
from crawler.relevance import Relevance  # noqa: E402
from crawler.topictest import evaluate_labelled  # noqa: E402

DEV_SET = Path("topic-relevance-dev") / "items.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--topic", type=Path, default=DEFAULT_TOPIC, help="topic file (default: config/topic.yaml)"
    )
    parser.add_argument("--errors", action="store_true", help="list every miss and false keep")
    args = parser.parse_args()
    root = Path(os.environ.get("MEDIAWATCH_CORPUS") or PROJECT.parent / "shared" / "corpus")
    path = root / DEV_SET
    if not path.exists():
        print(f"no dev set at {path} (set MEDIAWATCH_CORPUS)", file=sys.stderr)
        return 2
    with path.open(encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    result = evaluate_labelled(Relevance(load_topic(args.topic)), items)
    if args.errors:
        for kind, item, score in result.errors:
            lead = ",".join(score.lead) or "-"
            print(f"{kind:10} {score.score:5.1f} {item['id']:18} [{lead}] {item['title']}")
    on = result.true_pos + result.false_neg
    print(f"dev set: {len(items)} items, {on} ON ({args.topic})")
    print(
        f"kept ON {result.true_pos}, missed ON {result.false_neg} "
        f"({result.candidates_on} of them candidates), kept OFF {result.false_pos}"
    )
    print(f"recall {result.recall:.3f}  precision {result.precision:.3f}  F1 {result.f1:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a crawl's CPU goes: `uv run python bench/crawl_profile.py [--pages N] [--workers W]`.

Serves N corpus pages from a loopback site (as bench/crawl_bench.py does), runs
`mediawatch crawl` on them under the py-spy sampling profiler (`py-spy` on the PATH, else
fetched by `uvx py-spy`), pool workers included, and prints, per thread of the crawl process and
for the extraction workers together, the functions with the most samples: *self* (the sample's
innermost frame is in it) and *total* (it is anywhere on the stack). Idle samples are left out,
so a thread's share is the CPU it used. ``--revisit`` profiles a second crawl that revisits the
same (unchanged) pages instead of the first one.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = f"{Path(__file__).resolve().parent.parent}/"  # the checkout: its files are shown relative to it

from crawl_bench import SOURCES_YAML, corpus_pages, crawl, crawl_command, serve, sqlite_env  # noqa: E402

_PROCESS = re.compile(r'(?:^|;)process \d+:"')
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")


def py_spy() -> list[str]:
    found = shutil.which("py-spy")
    if found:
        return [found]
    if shutil.which("uvx"):
        return ["uvx", "py-spy@0.4.3"]
    raise SystemExit("py-spy not found (pip install py-spy, or install uv for uvx)")


def short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", ROOT, "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path})"


def report(raw: Path, top: int) -> None:
    """Print the top self and total entries per thread group from py-spy's raw (folded) output."""
    groups: dict[str, tuple[Counter[str], Counter[str]]] = defaultdict(lambda: (Counter(), Counter()))
    samples: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # process PID:"command line" (which may hold ';'), a worker's process nested in the
        # crawl's (and the forkserver's), then thread (TID): name, then the frames.
        at = stack.rfind(";thread (")
        if at < 0:
            continue
        nested = len(_PROCESS.findall(stack[:at])) > 1
        thread, *body = stack[at + 1 :].split(";")
        if nested:
            group = "extraction workers (all)"
        else:
            group = f"crawl process, {thread.split(':', 1)[-1].strip()} thread"
        self_c, total_c = groups[group]
        samples[group] += count
        if body:
            self_c[short(body[-1])] += count
            for frame in dict.fromkeys(short(f) for f in body):
                total_c[frame] += count
    everything = sum(samples.values()) or 1
    for group, n in samples.most_common():
        self_c, total_c = groups[group]
        print(f"\n== {group}: {n} samples ({n / everything:.0%} of all active samples)")
        print("   self:")
        for frame, c in self_c.most_common(top):
            print(f"   {c / n:6.1%}  {frame}")
        print("   total (on the stack):")
        for frame, c in total_c.most_common(top):
            print(f"   {c / n:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--revisit", choices=("none", "304", "same-bytes"), default="none")
    parser.add_argument("--keep", type=Path, help="also write py-spy's raw output here")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="only samples of the thread holding the GIL (CPU of the crawl process, not GIL waits)",
    )
    args = parser.parse_args()
    pages = corpus_pages(args.pages)
    site, _paths = serve(pages)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sources = tmp / "sources.yaml"
        sources.write_text(SOURCES_YAML)
        db = tmp / "profile.db"
        feed = site.url("/feed.xml")
        crawl_args = ["--workers", str(args.workers), "--revisit", "none"]
        if args.revisit != "none":
            crawl(db, sources, feed, *crawl_args)
            site.conditional = args.revisit == "304"
            crawl_args = ["--revisit", "all", "--no-discovery"]
        raw = args.keep or tmp / "profile.txt"
        command = [
            *py_spy(),
            "record",
            "--format",
            "raw",
            "--threads",
            "--subprocesses",
            *(["--gil"] if args.gil else []),
            "--rate",
            str(args.rate),
            "--output",
            str(raw),
            "--",
            *crawl_command(sources, feed, *crawl_args),
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=sqlite_env(db), check=False)
        if done.returncode != 0 or not raw.exists():
            raise SystemExit(f"profiled crawl failed:\n{done.stderr[-3000:]}")
        print(f"{len(pages)} pages, {args.workers} worker(s), revisit={args.revisit}; {os.cpu_count()} cores")
        print("last line of the crawl:", done.stdout.strip().splitlines()[-1][:300])
        report(raw, args.top)
    site.stop()


if __name__ == "__main__":
    main()

"""How long the read-only commands take on a small archive, against `mediawatch --help`.

A person types `mediawatch articles` and waits: the read-only commands should cost little more
than starting the CLI at all (no extractor, no Scrapy, no numpy). The baseline is measured in
the same run, so the ratio holds on a loaded machine where the seconds do not.

The archive: three NYT article histories from the shared corpus (a few versions each),
imported into a temporary SQLite file.

Usage: uv run python bench/cli_startup.py [--rounds 5] [--articles 3] [--wheel]
Prints, for each command, the median wall and CPU seconds and their ratios to `--help`.

Run from the checkout, `uv run` imports the project's own modules from source: uv precompiles
the installed libraries (`[tool.uv] compile-bytecode`), but not an editable project, and where
PYTHONDONTWRITEBYTECODE is set Python compiles those modules again at every start. `--wheel`
also builds the wheel, installs it with its locked dependencies into a fresh virtual
environment with bytecode compiled (as `pip` or `uv tool install` do), and times that copy too:
what a user who installed mediawatch waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import sqlalchemy  # noqa: E402
from conftest import corpus_root  # noqa: E402
from corpus_data import nyt_captures, nyt_slugs  # noqa: E402


def timed(python: str, argv: list[str], rounds: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system) of ``mediawatch ARGV``.

    The CPU time is steadier than the wall time on a machine other people are loading too.
    """
    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([python, "-m", "mediawatch", *argv], capture_output=True, text=True, cwd=os.sep)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--articles", type=int, default=3)
    parser.add_argument("--wheel", action="store_true", help="also time an installed wheel")
    args = parser.parse_args()
    corpus = corpus_root()
    if corpus is None:
        raise SystemExit("the shared corpus is absent (set MEDIAWATCH_CORPUS)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "histories.jsonl"
        url, most_texts = "", 0
        with source.open("w") as out:
            for slug in nyt_slugs(corpus)[: args.articles]:
                captures = nyt_captures(corpus, slug)
                for capture in captures:
                    out.write(json.dumps(capture.as_record()) + "\n")
                texts = len({c.text for c in captures if c.text})
                if texts > most_texts:  # diff needs two versions with text
                    url, most_texts = captures[0].url, texts
        db = str(Path(tmp) / "small.db")
        done = subprocess.run(
            [sys.executable, "-m", "mediawatch", "import", str(source), "--db", db],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"import: {done.stderr}")
        commands = [
            ["articles"],
            ["versions", url],
            ["show", url],
            ["diff", url],
            ["search", "Obama"],
            ["runs"],
            ["due"],
        ]
        no_pyc = os.environ.get("PYTHONDONTWRITEBYTECODE")
        compiled = any(Path(sqlalchemy.__file__).parent.glob("__pycache__/*.pyc"))
        print(
            f"python {sys.version.split()[0]}, PYTHONDONTWRITEBYTECODE={no_pyc}, "
            f"site-packages compiled: {compiled}"
        )
        pythons = {"checkout (uv run)": sys.executable}
        if args.wheel:
            pythons["installed wheel"] = installed_wheel(Path(tmp))
        for label, python in pythons.items():
            print(f"\n{label}: {python}")
            base_wall, base_cpu = timed(python, ["--help"], args.rounds)
            print(f"{'command':<10} {'wall':>7} {'ratio':>6} {'cpu':>7} {'ratio':>6}")
            print(f"{'--help':<10} {base_wall:6.2f}s {1:6.2f} {base_cpu:6.2f}s {1:6.2f}")
            for command in commands:
                wall, cpu = timed(python, [*command, "--db", db], args.rounds)
                ratios = f"{wall / base_wall:6.2f} {cpu:6.2f}s {cpu / base_cpu:6.2f}"
                print(f"{command[0]:<10} {wall:6.2f}s {ratios}")


def installed_wheel(tmp: Path) -> str:
    """Build the wheel, install it (locked dependencies, bytecode compiled) in a fresh venv."""
    root = Path(__file__).resolve().parent.parent
    steps = [
        ["uv", "build", "--wheel", "--out-dir", str(tmp / "dist"), str(root)],
        ["uv", "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
        + ["-o", str(tmp / "req.txt")],
        ["uv", "venv", "--quiet", "--python", sys.executable, str(tmp / "venv")],
    ]
    for step in steps:
        subprocess.run(step, check=True, capture_output=True, cwd=root)
    wheel = next((tmp / "dist").glob("mediawatch-*.whl"))
    python = str(tmp / "venv" / "bin" / "python")
    install = ["uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", python]
    subprocess.run([*install, "-r", str(tmp / "req.txt"), str(wheel)], check=True, capture_output=True)
    return python


if __name__ == "__main__":
    main()

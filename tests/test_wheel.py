"""The wheel, installed into a fresh environment, works from any directory: the migrations and
the default configuration travel inside it, and its top-level modules are its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from demo_steps import DEMO_STEPS, demo_steps_in_order

PROJECT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "MEDIAWATCH_"))}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the built wheel and the locked dependencies (from uv's cache when it can)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed") if not os.environ.get("CI") else pytest.fail("no uv")
    root = tmp_path_factory.mktemp("wheel")
    built = _run(uv, "build", "--wheel", "--out-dir", root / "dist", PROJECT, cwd=root)
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("mediawatch-*.whl")
    requirements = root / "requirements.txt"
    exported = _run(
        uv,
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "-o",
        requirements,
        cwd=PROJECT,
    )
    assert exported.returncode == 0, exported.stderr
    venv = root / "venv"
    assert _run(uv, "venv", "--python", sys.executable, venv, cwd=root).returncode == 0
    done = _run(
        uv, "pip", "install", "--python", venv / "bin" / "python", "-r", requirements, wheel, cwd=root
    )
    assert done.returncode == 0, done.stderr
    return venv


def test_installed_wheel_finds_its_migrations_and_configuration(installed: Path, tmp_path: Path) -> None:
    bin_dir = installed / "bin"
    where = _run(
        bin_dir / "python",
        "-c",
        "import archive, crawler, mediawatch, scheduler\n"
        "for m in (archive, crawler, mediawatch, scheduler): print(m.__file__)",
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert "site-packages" in line and not Path(line).is_relative_to(PROJECT), line

    upgraded = _run(
        bin_dir / "mediawatch", "db", "upgrade", "--db", f"sqlite:///{tmp_path / 'a.db'}", cwd=tmp_path
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "schema revision" in upgraded.stdout

    initialised = _run(bin_dir / "mediawatch", "config", "init", "my-config", cwd=tmp_path)
    assert initialised.returncode == 0, initialised.stderr
    names = sorted(p.name for p in (tmp_path / "my-config").iterdir())
    assert names == ["schedule.yaml", "sources.yaml", "topic.yaml"]
    shipped = PROJECT / "config" / "sources.yaml"
    assert (tmp_path / "my-config" / "sources.yaml").read_bytes() == shipped.read_bytes()

    # The crawl and the demo read the shipped sources and topic files, wherever they run from.
    loaded = _run(
        bin_dir / "python",
        "-c",
        "from crawler.config import DEFAULT_SOURCES, DEFAULT_TOPIC, load_sources, load_topic\n"
        "print(len(load_sources(DEFAULT_SOURCES).sources), len(load_topic(DEFAULT_TOPIC).name))",
        cwd=tmp_path,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert all(int(n) > 0 for n in loaded.stdout.split()), loaded.stdout
    report = _run(bin_dir / "mediawatch", "report", "--db", f"sqlite:///{tmp_path / 'a.db'}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr


def test_installed_wheel_runs_the_demo_offline_from_any_directory(installed: Path, tmp_path: Path) -> None:
    """A new user's first two commands, from the installed wheel in a directory of their own: the
    demo (its outlet ships inside mediawatch and is served on 127.0.0.1 only; no corpus, no network,
    no checkout) and the crawl's help."""
    mediawatch = installed / "bin" / "mediawatch"
    helped = _run(mediawatch, "crawl", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "Find new articles on the topic" in helped.stdout and "--sources" in helped.stdout

    demo = _run(mediawatch, "demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Traceback" not in demo.stderr
    assert demo_steps_in_order(demo.stdout) == DEMO_STEPS
    assert "first crawl: 3 new articles" in demo.stdout and "1 skipped off-topic" in demo.stdout
    assert "[-nine days.-] {+eleven days, according to customs officials.+}" in demo.stdout
    # Its database is where it says, in the working directory, and readable by the installed copy.
    assert (tmp_path / "mediawatch-demo.db").is_file()
    listed = _run(mediawatch, "articles", "--db", "mediawatch-demo.db", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "Torkham talks stall" in listed.stdout

"""The layers hold where import-linter cannot look, and our generic top-level names are ours.

import-linter (its contracts are in pyproject.toml; CI runs ``lint-imports``) keeps
``mediawatch -> crawler -> archive`` and keeps Scrapy and the web framework out of the archive.
scheduler.py is a single module, which import-linter cannot take as a root package, so its rule
(it starts ``mediawatch`` processes and imports no crawler code) is checked here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_each_top_level_module_is_this_projects_own(tmp_path: Path) -> None:
    # PyPI has packages called "archive", "crawler" and "scheduler": installed in the same
    # environment, one of them would shadow ours (or ours theirs). Asked from another directory,
    # as `mediawatch` runs from cron, so the checkout is not on the path by accident, and a stale
    # copy that an editable install left in site-packages would show.
    code = (
        "import importlib.util\n"
        "for name in ('archive', 'crawler', 'mediawatch', 'scheduler'):\n"
        "    print(importlib.util.find_spec(name).origin)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    for origin in done.stdout.split():
        assert Path(origin).resolve().is_relative_to(PROJECT), origin


def test_the_scheduler_imports_no_crawler_code() -> None:
    code = (
        "import sys, scheduler\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('crawler', 'scrapy', 'twisted'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"scheduler.py pulled in: {done.stdout.strip()}"


def _third_party_imports() -> set[str]:
    import ast

    names: set[str] = set()
    files = [PROJECT / "scheduler.py"]
    for package in ("archive", "crawler", "mediawatch"):
        files += (PROJECT / package).rglob("*.py")
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    ours = {"archive", "crawler", "mediawatch", "scheduler"}
    return {n for n in names if n not in ours and n not in sys.stdlib_module_names}


def test_declared_dependencies_match_what_the_code_imports() -> None:
    """An installed wheel gets only what pyproject declares: every import must be declared, and
    nothing declared should go unused."""
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    # An extra's packages are declared too (the cluster extra's Dask, imported only with --cluster).
    extras = [r for group in pyproject["project"].get("optional-dependencies", {}).values() for r in group]
    declared = {
        canonicalize_name(Requirement(r).name) for r in [*pyproject["project"]["dependencies"], *extras]
    }
    dists = packages_distributions()
    imported: dict[str, set[str]] = {}
    for name in _third_party_imports():
        providers = {canonicalize_name(d) for d in dists.get(name, [])}
        assert providers, f"{name} is imported but no installed distribution provides it"
        imported[name] = providers
    undeclared = sorted(name for name, providers in imported.items() if not providers & declared)
    assert not undeclared, f"imported but not declared in [project].dependencies: {undeclared}"
    used = set().union(*imported.values())
    # psycopg is loaded by SQLAlchemy from the URL's driver name, never imported by name.
    unused = sorted(declared - used - {"psycopg"})
    assert not unused, f"declared but never imported: {unused}"

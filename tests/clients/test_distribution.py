"""learnseg-client as a distribution of its own: it declares httpx and pydantic only, its code
imports nothing else (no service, no training, no numpy), and it works in an interpreter that
has nothing but the package and those two with their own dependencies."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import learnseg_client
from tests.helpers import REPO

CLIENT = REPO / "clients" / "python"
PACKAGE = CLIENT / "learnseg_client"
DECLARED = {"httpx", "pydantic"}


def _imports(path: Path) -> set[str]:
    """The top-level names of every module `path` imports (in functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_distribution_declares_httpx_and_pydantic_only() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    assert meta["name"] == "learnseg-client"
    assert {re.split(r"[<>=!~ ;\[]", d)[0] for d in meta["dependencies"]} == DECLARED
    assert project["tool"]["setuptools"]["packages"] == ["learnseg_client"]
    assert project["tool"]["setuptools"]["package-data"]["learnseg_client"] == ["py.typed"]
    assert (PACKAGE / "py.typed").is_file()
    assert (CLIENT / "README.md").is_file() and meta["readme"] == "README.md"
    assert learnseg_client.__version__ == meta["version"]


def test_the_package_imports_only_the_standard_library_httpx_and_pydantic() -> None:
    found = set().union(*(_imports(p) for p in PACKAGE.rglob("*.py")))
    assert found - set(sys.stdlib_module_names) == DECLARED | {"learnseg_client"}


def _closure(names: set[str]) -> set[str]:
    """The distributions `names` need, with theirs (extras and other platforms' left out)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _alone(tmp: Path) -> Path:
    """A folder holding only the client package and its dependencies (symlinks)."""
    root = tmp / "site"
    root.mkdir()
    (root / "learnseg_client").symlink_to(PACKAGE, target_is_directory=True)
    for name in _closure(DECLARED):
        dist = importlib.metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops - {"..", "__pycache__"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (root / top).exists():
                (root / top).symlink_to(source, target_is_directory=source.is_dir())
    return root


ISOLATED = """
import importlib.util, json, sys
sys.path[:0] = [sys.argv[1]]
import httpx
from learnseg_client import Assignment, ItemError, LearnsegClient

def handler(request):
    if request.url.path == "/v1/model":
        return httpx.Response(200, json={"limits": {"max_batch": 2}})
    learners = json.loads(request.content)["learners"]
    return httpx.Response(200, json={"results": [
        {"index": i, "error": "no"} for i, _ in enumerate(learners)]})

with LearnsegClient("http://x", transport=httpx.MockTransport(handler)) as client:
    got = client.segment_batch([{"ctc": 1, "learner_id": "u-1"}] * 3)
print(json.dumps({
    "results": [[r.index, r.learner_id] for r in got],
    "loaded": sorted(m.split(".")[0] for m in sys.modules),
    "findable": [m for m in ("service", "training", "numpy", "fastapi")
                 if importlib.util.find_spec(m) is not None],
}))
"""


def test_the_client_works_with_nothing_but_its_dependencies(tmp_path: Path) -> None:
    pytest.importorskip("packaging")
    site = _alone(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # -I: no PYTHONPATH, no user site, not the current folder; -S: no site-packages.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", ISOLATED, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["results"] == [[0, "u-1"], [1, "u-1"], [2, "u-1"]]
    assert out["findable"] == []
    assert not {"service", "training", "numpy", "pandas", "sklearn"} & set(out["loaded"])


def _declares_all(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        for node in tree.body
    )


def test_the_package_keeps_the_house_rules() -> None:
    """Every public module (and the package) declares ``__all__``; no function is over 100
    lines; no comment cites an issue (tests/test_architecture.py holds the same rules for
    training and service)."""
    cites = re.compile(r"\b(issue|ticket)s?\s*#?\d+", re.IGNORECASE)
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if not path.stem.startswith("_") or path.name == "__init__.py":
            broken += [] if _declares_all(tree) else [f"{path.name}: no __all__"]
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                broken += [f"{path.name}::{node.name}: {lines} lines"] if lines > 100 else []
        for number, line in enumerate(text.splitlines(), 1):
            broken += [f"{path.name}:{number} cites an issue"] if cites.search(line) else []
    assert broken == []

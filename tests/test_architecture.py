"""The layout rules a reader relies on, held by the code itself (docs/architecture.md).

- at most six modules at the top level of ``training/`` besides ``__init__`` and ``__main__``:
  the rest lives in subpackages named for a stage;
- no function of ``training/`` or ``service/`` over 100 lines;
- every artifact file name is written once, in ``training/runtime/artifacts.py``;
- every public module declares ``__all__``;
- no comment or docstring cites an issue number.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import REPO
from training.runtime import artifacts

PACKAGES = ("training", "service")
MAX_FUNCTION_LINES = 100


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_training_has_at_most_six_top_level_modules() -> None:
    top = sorted(
        p.name
        for p in (REPO / "training").glob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    assert len(top) <= 6, top


def test_no_function_is_over_100_lines() -> None:
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{_relative(path)}::{node.name} ({lines} lines)")
    assert long == []


def _artifact_names() -> list[str]:
    names = [
        artifacts.PIPELINE_JOBLIB,
        artifacts.KERNEL_JSON,
        artifacts.PROBES_JSON,
        artifacts.PROFILES_JSON,
        artifacts.DRIFT_JSON,
        artifacts.REPORT_HTML,
        artifacts.MANIFEST_FILE,
    ]
    assert all(isinstance(n, str) and "." in n for n in names)
    return names


def test_artifact_file_names_are_written_only_in_runtime_artifacts() -> None:
    names = _artifact_names()
    found = []
    for path in _modules():
        if _relative(path) == "training/runtime/artifacts.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text in names or re.fullmatch(r"plots/\w+\.png|report\.pdf|LATEST", text):
                    found.append(f"{_relative(path)}:{node.lineno} {text!r}")
    assert found == []


def _public(path: Path) -> bool:
    parts = path.relative_to(REPO).parts
    return not any(part.startswith("_") for part in parts) or path.name == "__init__.py"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_module_declares_all(package: str) -> None:
    missing = []
    for path in sorted((REPO / package).rglob("*.py")):
        if not _public(path) or path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        declares = any(
            isinstance(node, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "__all__"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
            for node in tree.body
        )
        if not declares:
            missing.append(_relative(path))
    assert missing == []


def test_no_comment_cites_an_issue() -> None:
    cites = re.compile(r"\b(issue|ticket)s?\s*#?\d+", re.IGNORECASE)
    found = [
        f"{_relative(path)}:{number}"
        for path in _modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if cites.search(line)
    ]
    assert found == []

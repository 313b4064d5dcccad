"""Imports point forward only: runners never import scoring, scoring never imports runners,
the report reads stored files only, and the CLI imports nothing heavy at start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"

FORBIDDEN = {
    "harness/runners": ("harness.scoring", "harness.report", "harness.summary", "harness.evaluation"),
    "harness/scoring": ("harness.runners", "harness.report", "harness.evaluation", "harness.store"),
    "harness/report.py": ("harness.runners", "harness.scoring", "harness.evaluation", "harness.prompts"),
    "harness/report_data.py": ("harness.runners", "harness.scoring", "harness.evaluation", "harness.prompts"),
    "harness/records.py": ("harness.",),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("where", sorted(FORBIDDEN))
def test_imports_point_forward(where: str) -> None:
    root = HARNESS.parent / where
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    assert files
    for path in files:
        for module in imported_modules(path):
            for prefix in FORBIDDEN[where]:
                assert not module.startswith(prefix), f"{path.relative_to(HARNESS.parent)} imports {module}"


def test_cli_start_is_light() -> None:
    code = (
        "import sys, harness.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'lm_eval', 'datasets', 'pandas', 'scipy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""

"""The architecture as tests (docs/architecture.md): imports point forward only, generic modules never
import a family, only store.py knows the run folder's files, no import cycles, and the CLI imports
nothing heavy at start-up."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"

FORBIDDEN = {
    "harness/records.py": ("harness.",),
    "harness/errors.py": ("harness.",),
    "harness/registry.py": ("harness.config", "harness.data", "harness.runners", "harness.scoring", "harness.pipeline"),
    "harness/stats.py": ("harness.",),
    "harness/jsonl.py": ("harness.",),  # below the store, the data and every stage
    "harness/template_reads.py": ("harness.",),  # a Jinja parse-tree analysis: knows no task, sample or stage
    "harness/gc_pacing.py": ("harness.",),
    "harness/lazy_imports.py": ("harness.",),  # below everything, stats included (BASE)
    # the runner table sits below config (a ModelConfig checks its runner there); runner classes load lazily by name
    "harness/runner_registry.py": ("harness.config", "harness.data", "harness.runners", "harness.scoring",
                                   "harness.pipeline"),
    "harness/config": ("harness.data", "harness.prompts", "harness.runners", "harness.scoring", "harness.pipeline",
                       "harness.store", "harness.results", "harness.report", "harness.validation"),
    "harness/templating.py": ("harness.data", "harness.prompts", "harness.runners", "harness.scoring", "harness.pipeline",
                              "harness.store", "harness.results", "harness.report"),
    "harness/verification.py": ("harness.runners", "harness.pipeline", "harness.prompts", "harness.report", "harness.scoring"),
    "harness/data.py": ("harness.prompts", "harness.runners", "harness.scoring", "harness.pipeline", "harness.store",
                        "harness.results", "harness.report"),
    "harness/prompts.py": ("harness.runners", "harness.scoring", "harness.pipeline", "harness.store", "harness.results",
                           "harness.report"),
    "harness/runners": ("harness.scoring", "harness.report", "harness.pipeline", "harness.results", "harness.store",
                        "harness.prompts"),
    "harness/store.py": ("harness.config", "harness.data", "harness.prompts", "harness.runners", "harness.scoring",
                         "harness.pipeline", "harness.results", "harness.report"),
    "harness/scoring": ("harness.runners", "harness.report", "harness.pipeline", "harness.results", "harness.prompts"),
    "harness/results.py": ("harness.runners", "harness.pipeline", "harness.prompts", "harness.report"),
    "harness/report": ("harness.runners", "harness.scoring", "harness.pipeline", "harness.prompts", "harness.data"),
    "harness/catalogues": ("harness.config", "harness.data", "harness.prompts", "harness.runners", "harness.scoring",
                           "harness.pipeline", "harness.store", "harness.results", "harness.report"),
}
"""Per place: module prefixes it must not import (the stages after it, and what it has no business knowing)."""

BASE = {"harness.lazy_imports"}
"""Standard-library helpers below every module: any place may import them."""

GENERIC = [p for p in HARNESS.rglob("*.py") if "families" not in p.relative_to(HARNESS).parts and p.name != "cli.py"]
"""Everything but the families and the CLI (the one place that wires commands to a family's functions)."""

DATA_SET_WRITERS = {HARNESS / "families" / "catalogue_qa" / "build.py"}
"""Modules that write a built data set's own manifest.json (not a run folder's)."""
RUN_FOLDER_FILES = re.compile(r"summary\.json|scores\.jsonl|manifest\.json|responses\.jsonl|\b(MANIFEST|SCORES|SUMMARY|RESPONSES)\b")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def code_of(path: Path) -> str:
    """The module's code without comments and docstrings: a rule may be cited in prose, not named in code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            node.body = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                  and isinstance(s.value.value, str))] or [ast.Pass()]
    return ast.unparse(tree)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("where", sorted(FORBIDDEN))
def test_imports_point_forward(where: str) -> None:
    root = ROOT / where
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    assert files
    for path in files:
        for module in imported_modules(path) - BASE:
            for prefix in FORBIDDEN[where]:
                assert not module.startswith(prefix), f"{path.relative_to(ROOT)} imports {module}"


def test_generic_modules_never_import_a_family() -> None:
    offenders = [f"{p.relative_to(ROOT)} imports {m}" for p in GENERIC for m in imported_modules(p)
                 if m.startswith("harness.families")]
    assert offenders == []


def test_generic_modules_name_no_protocol() -> None:
    protocol = re.compile(r"urollmeval|UroLlmEval|snippets_correct")
    offenders = [str(p.relative_to(ROOT)) for p in GENERIC if protocol.search(code_of(p))]
    assert offenders == []


def test_only_the_store_knows_the_run_folder() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in HARNESS.rglob("*.py")
                 if p.name != "store.py" and p not in DATA_SET_WRITERS and RUN_FOLDER_FILES.search(code_of(p))]
    assert offenders == []


def test_no_import_cycles() -> None:
    modules = {module_name(p): p for p in HARNESS.rglob("*.py")}
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for imported in imported_modules(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            # an edge into a package's __init__ only re-exports; the modules behind it carry the real edges
            if imported and imported != name and imported not in packages:
                edges.add(imported)
        graph[name] = edges
    from graphlib import CycleError, TopologicalSorter

    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_cli_start_is_light() -> None:
    code = (
        "import sys, harness.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'lm_eval', 'datasets', 'pandas', 'scipy') if m in sys.modules]; "
        "families = [m for m in sys.modules if m.startswith('harness.families')]; "
        "print(','.join(heavy + families))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""

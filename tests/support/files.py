"""Paths and small file helpers shared by the tests (``from support.files import FIXTURES, write_jsonl``).

pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in pyproject.toml), so ``support`` imports as a package.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS = REPO_ROOT / "tests"
FIXTURES = TESTS / "fixtures"


def _materialise_catalogue_fixtures() -> Path:
    """The hand-written catalogue fixtures under their real file names, in a catalogue-shaped folder."""
    sources = FIXTURES / "catalogue-sources"
    target = Path(tempfile.mkdtemp(prefix="onkobench-catalogue-fixtures-")) / "catalogues"
    for neutral, real in json.loads((sources / "layout.json").read_text(encoding="utf-8")).items():
        (target / real).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources / neutral, target / real)
    return target


CATALOGUE_FIXTURES = _materialise_catalogue_fixtures()


def real_catalogue_root() -> Path | None:
    """The real catalogue files: ``$ONKOBENCH_CATALOGUE_DIR``, else ``<repo>/../shared/data/catalogues``; None
    when they are absent (the tests that need them skip)."""
    configured = os.environ.get("ONKOBENCH_CATALOGUE_DIR", "").strip()
    root = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "catalogues"
    return root if (root / "icd10gm" / "2024").is_dir() else None


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

"""The clinical-variation sets: ``<set>_clinical/test.jsonl`` derived from each base set's written test split.

Only the test split's rows are varied (read back from ``<set>/test.jsonl``), so no varied term is ever in a
few-shot pool or a training split; the few-shot pool is the base set's, copied as it is. Each source row gets
``variants_per_row`` variants (1 where the base split has >= ``MIN_ITEMS`` rows, else enough to pass it, at most
``MAX_VARIANTS_PER_ROW``); variant ``k`` of a row is drawn from ``item_rng(seed, source id, k)``, and a variant
whose text equals its source text or another item's text is skipped (the next ``k`` is tried, a few times).

Every row keeps the pointer a reviewer needs: ``source_id`` and ``source_text`` (the catalogue row), ``rules``
(the names applied, in order) and one boolean column ``rule_<name>`` per rule; the gold column and the base
row's other columns (stratum, codes) are unchanged. The rules and why they keep the gold: variation.py.
"""

from __future__ import annotations

import math
import re
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.config.io import REPO_ROOT
from harness.data import read_jsonl
from harness.errors import OnkobenchError
from harness.records import file_sha256
from harness.families.catalogue_qa.variation import (
    LEXICON_PATH,
    RULE_NAMES,
    Item,
    Kind,
    Rule,
    item_rng,
    load_lexicon,
    make_rules,
    vary,
)
from harness.store import write_jsonl_atomic

SUFFIX = "_clinical"
MIN_ITEMS = 500
"""Items wanted per clinical set (reached where the base test split allows)."""
MAX_VARIANTS_PER_ROW = 3
EXTRA_TRIES = 4
"""Tries beyond ``variants_per_row`` per source row before giving up on a row's remaining variants."""

BASE_SETS: dict[str, tuple[Kind, str]] = {
    "alphaid_icd10gm_neoplasms": ("icd10gm", "icd10gm_code"),
    "alphaid_icd10gm_all": ("icd10gm", "icd10gm_code"),
    "icdo3_topography": ("topography", "icdo3_topography_code"),
    "icdo3_morphology": ("morphology", "icdo3_morphology_code"),
    "tumour_recognition": ("recognition", "is_tumour"),
}
"""Base set -> (what its items are, for the rules; its gold column)."""

_WORDS = re.compile(r"[A-Za-zÄÖÜäöüß]+")


def rule_column(name: str) -> str:
    return f"rule_{name}"


def _field(row: dict[str, Any], name: str, path: Path, line: int) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value:
        raise OnkobenchError(f"{path}: row {line}: field {name!r} missing or not a non-empty string")
    return value


def item_of(row: dict[str, Any], kind: Kind, gold_field: str, path: Path, line: int) -> Item:
    """A base test row as the rules see it; a missing field names the file, row and field."""
    text = _field(row, "text", path, line)
    source_id = _field(row, "id", path, line)
    gold = _field(row, gold_field, path, line)
    if kind != "recognition":
        return Item(kind, text, gold, source_id)
    # recognition: the class comes from the row's primary code; "Nein" items may only get harmless rules
    return Item(kind, text, _field(row, "code", path, line), source_id,
                negative=gold != "Ja", procedure=row.get("source") == "ops")


def variants_per_row(n_rows: int, min_items: int = MIN_ITEMS) -> int:
    return max(1, min(MAX_VARIANTS_PER_ROW, math.ceil(min_items / max(n_rows, 1))))


def vary_rows(rows: list[dict[str, Any]], kind: Kind, gold_field: str, rules: tuple[Rule, ...], seed: int,
              path: Path, min_items: int = MIN_ITEMS) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The clinical rows of one base test split, and the counts of skipped variants by reason."""
    per_row = variants_per_row(len(rows), min_items)
    seen = {row.get("text") for row in rows}  # a variant equal to any source text is no new item
    skipped: Counter[str] = Counter()
    out: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=1):
        item = item_of(row, kind, gold_field, path, line)
        kept = 0
        for k in range(per_row + EXTRA_TRIES):
            if kept == per_row:
                break
            variant = vary(item, rules, item_rng(seed, item.source_id, k))
            if variant.text == item.text:
                skipped["same_as_source"] += 1
                continue
            if variant.text in seen:
                skipped["duplicate_text"] += 1
                continue
            seen.add(variant.text)
            kept += 1
            rest = {key: value for key, value in row.items() if key not in ("id", "text")}
            out.append({"id": f"{item.source_id}~v{k}", "text": variant.text, **rest, "source_id": item.source_id,
                        "source_text": item.text, "rules": list(variant.rules),
                        **{rule_column(name): name in variant.rules for name in RULE_NAMES}})
    return out, dict(skipped)


def known_words(sources: Iterable[Any]) -> set[str]:
    """Every word of the catalogues' texts (Alpha-ID rows, catalogue titles), casefolded: a typo must spell none."""
    words: set[str] = set()
    for source in sources:
        if source is None:
            continue
        entries = getattr(source, "entries", None)
        texts = (e.title for e in entries.values()) if entries is not None else (e.text for e in source)
        for text in texts:
            words.update(w.casefold() for w in _WORDS.findall(text or ""))
    return words


def _shown(path: Path) -> str:
    # the committed lexicon by its path in the checkout, another one as given
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def build_clinical_sets(out_dir: Path, seed: int, catalogues: Iterable[Any] = (), min_items: int = MIN_ITEMS,
                        lexicon_path: Path = LEXICON_PATH) -> dict[str, dict[str, Any]]:
    """Write ``<set>_clinical/test.jsonl`` and ``fewshot.jsonl`` for every base set written in ``out_dir``;
    returns the manifest entries (``sets.<set>_clinical``). ``catalogues``: the loaded catalogues whose words a
    typo must not spell."""
    lexicon = load_lexicon(lexicon_path)
    rules = make_rules(lexicon, known_words(catalogues))
    entries: dict[str, dict[str, Any]] = {}
    for name, (kind, gold_field) in BASE_SETS.items():
        test_path = out_dir / name / "test.jsonl"
        if not test_path.exists():
            continue
        rows = read_jsonl(test_path)
        varied, skipped = vary_rows(rows, kind, gold_field, rules, seed, test_path, min_items)
        target = out_dir / f"{name}{SUFFIX}"
        write_jsonl_atomic(target / "test.jsonl", varied)
        shutil.copyfile(out_dir / name / "fewshot.jsonl", target / "fewshot.jsonl")
        counts = Counter(rule for row in varied for rule in row["rules"])
        entries[f"{name}{SUFFIX}"] = {
            "kind": "clinical_variation",
            "base_set": name,
            "seed": seed,
            "items": len(varied),
            "source_rows": len({row["source_id"] for row in varied}),
            "base_test_rows": len(rows),
            "variants_per_row": variants_per_row(len(rows), min_items),
            "test": len(varied),
            "fewshot": len(read_jsonl(target / "fewshot.jsonl")),
            "rules": {rule: counts.get(rule, 0) for rule in RULE_NAMES},
            "rules_per_item": dict(sorted(Counter(str(len(row["rules"])) for row in varied).items())),
            "skipped": skipped,
            "typo_rate": lexicon.typo_rate,
            "lexicon": {"path": _shown(lexicon_path), "sha256": file_sha256(lexicon_path)},
        }
    return entries

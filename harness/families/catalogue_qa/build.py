"""``onkobench catalogue build-tasks``: evaluation sets built from official catalogue files.

Like the study's ICDOPS-QA pairs, every set maps a catalogue text to its code: Alpha-ID diagnosis
texts -> ICD-10-GM (neoplasms only, and all chapters), ICD-O-3 topography and morphology terms ->
codes, and tumour-diagnosis recognition (neoplasm texts against other diagnoses and, given an OPS
file, procedure texts). Sampling is seeded and stratified, texts are de-duplicated (a text with two
different codes is dropped as ambiguous), and the few-shot pool never shares a text with the test
split. Nothing built here may be committed: the output is a local data set with its own manifest.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.catalogues.codes import is_neoplasm
from harness.errors import OnkobenchError
from harness.provenance import utc_now
from harness.store import write_json_atomic, write_jsonl_atomic

BFARM_NOTICE = (
    "Die Erstellung erfolgt unter Verwendung der maschinenlesbaren Fassung des Bundesinstituts für "
    "Arzneimittel und Medizinprodukte (BfArM)."
)
SETS = ("alphaid_icd10gm_neoplasms", "alphaid_icd10gm_all", "icdo3_topography", "icdo3_morphology", "tumour_recognition")


@dataclass
class Candidate:
    text: str
    answer: str
    stratum: str
    source_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SetReport:
    available: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    test: int = 0
    fewshot: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip()


def deduplicate(candidates: Iterable[Candidate], report: SetReport) -> list[Candidate]:
    """One candidate per text; a text seen with two different answers is ambiguous and dropped."""
    by_text: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        report.available += 1
        by_text[_key(candidate.text)].append(candidate)
    kept = []
    for group in by_text.values():
        answers = {c.answer for c in group}
        if len(answers) > 1:
            for _ in group:
                report.drop("ambiguous_text")
            continue
        for _ in group[1:]:
            report.drop("duplicate_text")
        kept.append(group[0])
    report.kept = len(kept)
    return kept


def stratified_split(
    candidates: list[Candidate], n_test: int, n_fewshot: int, seed: int
) -> tuple[list[Candidate], list[Candidate]]:
    """Seeded, proportional to strata (largest remainder), test and few-shot pool disjoint by text."""
    rng = random.Random(seed)
    ordered = sorted(candidates, key=lambda c: (c.stratum, _key(c.text)))
    rng.shuffle(ordered)
    fewshot = ordered[:n_fewshot]
    rest = ordered[n_fewshot:]
    if n_test >= len(rest):
        return _shuffled(rest, seed), fewshot
    strata: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in rest:
        strata[candidate.stratum].append(candidate)
    quotas = {s: n_test * len(items) / len(rest) for s, items in strata.items()}
    counts = {s: int(q) for s, q in quotas.items()}
    leftover = n_test - sum(counts.values())
    for stratum in sorted(quotas, key=lambda s: (-(quotas[s] - counts[s]), s))[:leftover]:
        counts[stratum] += 1
    test = [c for s, items in sorted(strata.items()) for c in items[: counts[s]]]
    return _shuffled(test, seed), fewshot


def _shuffled(candidates: list[Candidate], seed: int) -> list[Candidate]:
    # a seeded order, so that the first N rows (--limit) are themselves a random sample
    ordered = sorted(candidates, key=lambda c: c.source_id)
    random.Random(seed + 1).shuffle(ordered)
    return ordered


def _rows(candidates: list[Candidate], answer_field: str) -> list[dict[str, Any]]:
    return [{"id": c.source_id, "text": c.text, answer_field: c.answer, "stratum": c.stratum, **c.extra} for c in candidates]


def _fewshot_rows(candidates: list[Candidate]) -> list[dict[str, Any]]:
    return [{"id": c.source_id, "text": c.text, "answer": c.answer} for c in candidates]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def alphaid_candidates(entries: list[Any], catalogue: Any, report: SetReport, neoplasms_only: bool) -> Iterable[Candidate]:
    for entry in entries:
        code = entry.primary
        if not code:
            continue  # cross-references without a code
        if neoplasms_only and not is_neoplasm(code):
            continue
        found = catalogue.get(code)
        if found is None or not found.terminal:
            report.drop(f"not_terminal_in_icd10gm_{catalogue.year}")
            continue
        yield Candidate(entry.text, code, found.block or code[:3], f"alpha-{entry.alpha_id}",
                        {"chapter": found.chapter, "alphaid_year": entry.year})


def recognition_candidates(entries: list[Any], catalogue: Any, ops: Any | None, report: SetReport) -> Iterable[Candidate]:
    for entry in entries:
        code = entry.primary
        if not code or catalogue.get(code) is None:
            continue
        label = "Ja" if is_neoplasm(code) else "Nein"
        yield Candidate(entry.text, label, f"{label}:{'diagnosis'}", f"alpha-{entry.alpha_id}", {"source": "alphaid", "code": code})
    if ops is not None:
        for code, item in ops.entries.items():
            if item.terminal and item.title:
                yield Candidate(item.title, "Nein", "Nein:procedure", f"ops-{code}", {"source": "ops", "code": code})


def balanced(candidates: list[Candidate], n_test: int, n_fewshot: int, seed: int) -> tuple[list[Candidate], list[Candidate]]:
    """Half positive, half negative; negatives stratified by source (other diagnoses, procedures)."""
    positives = [c for c in candidates if c.answer == "Ja"]
    negatives = [c for c in candidates if c.answer == "Nein"]
    pos_test, pos_shots = stratified_split(positives, n_test // 2, n_fewshot // 2, seed)
    neg_test, neg_shots = stratified_split(negatives, n_test - len(pos_test), n_fewshot - len(pos_shots), seed + 1)
    shots = [c for pair in zip(pos_shots, neg_shots) for c in pair]  # alternate, so first_n stays balanced
    return _shuffled(pos_test + neg_test, seed), shots


def term_candidates(catalogue: Any, stratum: Callable[[str], str]) -> Iterable[Candidate]:
    for code, entry in catalogue.entries.items():
        if entry.title:
            yield Candidate(entry.title, code, stratum(code), code.replace("/", "-"))


def build_catalogue_tasks(
    out_dir: Path,
    root: Path | None = None,
    icd10gm_year: int = 2024,
    alphaid_year: int = 2010,
    icdo3_year: int = 2019,
    ops_year: int | None = None,
    n_test: int = 500,
    n_fewshot: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the sets (``<set>/test.jsonl``, ``<set>/fewshot.jsonl``) and ``manifest.json``; returns the manifest."""
    from harness.catalogues import find_files, load_alphaid, load_catalogue

    icd10 = load_catalogue("icd10gm", icd10gm_year, root)
    alphaid = load_alphaid(alphaid_year, root)
    topography = load_catalogue("icdo3_topography", icdo3_year, root)
    morphology = load_catalogue("icdo3_morphology", icdo3_year, root)
    ops = load_catalogue("ops", ops_year, root) if ops_year else None
    sources = [*icd10.sources, *find_files("alphaid", alphaid_year, root).values(), *topography.sources, *morphology.sources]
    if ops is not None:
        sources.extend(ops.sources)
    reports = {name: SetReport() for name in SETS}
    plans: dict[str, tuple[list[Candidate], list[Candidate], str]] = {}
    for name, neoplasms in (("alphaid_icd10gm_neoplasms", True), ("alphaid_icd10gm_all", False)):
        kept = deduplicate(alphaid_candidates(alphaid, icd10, reports[name], neoplasms), reports[name])
        plans[name] = (*stratified_split(kept, n_test, n_fewshot, seed), "icd10gm_code")
    kept = deduplicate(term_candidates(topography, lambda c: c[:3]), reports["icdo3_topography"])
    plans["icdo3_topography"] = (*stratified_split(kept, n_test, n_fewshot, seed), "icdo3_topography_code")
    kept = deduplicate(term_candidates(morphology, lambda c: c[-1]), reports["icdo3_morphology"])
    plans["icdo3_morphology"] = (*stratified_split(kept, n_test, n_fewshot, seed), "icdo3_morphology_code")
    kept = deduplicate(recognition_candidates(alphaid, icd10, ops, reports["tumour_recognition"]), reports["tumour_recognition"])
    plans["tumour_recognition"] = (*balanced(kept, n_test, n_fewshot, seed), "is_tumour")
    for name, (test, shots, answer_field) in plans.items():
        overlap = {_key(c.text) for c in test} & {_key(c.text) for c in shots}
        if overlap:  # pragma: no cover - guarded by construction
            raise OnkobenchError(f"{name}: test and few-shot pool share {len(overlap)} texts")
        write_jsonl_atomic(out_dir / name / "test.jsonl", _rows(test, answer_field))
        write_jsonl_atomic(out_dir / name / "fewshot.jsonl", _fewshot_rows(shots))
        reports[name].test, reports[name].fewshot = len(test), len(shots)
    manifest = {
        "created_at": utc_now(),
        "seed": seed,
        "n_test": n_test,
        "n_fewshot": n_fewshot,
        "years": {"icd10gm": icd10gm_year, "alphaid": alphaid_year, "icdo3": icdo3_year, "ops": ops_year},
        "sources": [{"path": str(p), "sha256": _sha256(Path(p))} for p in sources],
        "sets": {name: vars(report) for name, report in reports.items()},
        "notice": BFARM_NOTICE,
        "terms": "Derived from BfArM classification files (codes and texts unchanged); ICD-O-3 rights lie with the WHO. "
        "Do not commit or publish this folder.",
    }
    write_json_atomic(out_dir / "manifest.json", manifest)
    (out_dir / ".gitignore").write_text("*\n", encoding="utf-8")
    (out_dir / "README.txt").write_text(BFARM_NOTICE + "\n" + manifest["terms"] + "\n", encoding="utf-8")
    return manifest

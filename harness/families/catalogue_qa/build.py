"""``onkobench catalogue build-tasks``: evaluation sets built from official catalogue files.

Like the study's ICDOPS-QA pairs, every set maps a catalogue text to its code: Alpha-ID diagnosis
texts -> ICD-10-GM (neoplasms only, and all chapters), ICD-O-3 topography and morphology terms ->
codes, and tumour-diagnosis recognition (neoplasm texts against other diagnoses and, given an OPS
file, procedure texts). Sampling is seeded and stratified, texts are de-duplicated (a text with two
different codes is dropped as ambiguous), and the few-shot pool never shares a text with the test
split, nor a code (where the answer is a code; for recognition, the row's primary code). Nothing
built here may be committed: the output is a local data set with its own manifest.

Label rules (also in tasks/icd_catalogue_qa/README.md and the manifest's ``label_rules``):

* ICD-O-3 topography: only codable four-character codes (``Cxx.x``) are items. The file's
  three-character category headings ("C18 Kolon") are dropped (``category_heading``): the prompt asks
  for ``Cxx.x``, eight categories have no ``.9`` code to map to, and where one exists it is an item
  of its own already.
* Tumour recognition: a row is "Ja" when ANY of its codes (primary, dagger/star, additional) lies in
  C00-D48, or when it codes a personal history of a malignant neoplasm (Z85: UroLlmEval counts a
  past carcinoma of the patient as a tumour diagnosis). Family history (Z80), screening (Z12) and
  observation for a suspected malignancy (Z03.1) are "Nein" (someone else's tumour, or none
  asserted). Rows whose code presupposes a tumour of the patient without diagnosing one (follow-up
  after cancer treatment Z08, chemotherapy sessions Z51.1/Z51.82, cytostatic chemotherapy in the
  history Z92.6, other neoplasms in the history Z86.0) are dropped as ``ambiguous_tumour_context``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.catalogues.codes import is_neoplasm, recognition_label
from harness.errors import OnkobenchError
from harness.records import file_sha256
from harness.families.catalogue_qa.clinical import build_clinical_sets
from harness.families.catalogue_qa.lookup_check import SetLookups
from harness.provenance import utc_now
from harness.store import write_json_atomic, write_jsonl_atomic

BFARM_NOTICE = (
    "Die Erstellung erfolgt unter Verwendung der maschinenlesbaren Fassung des Bundesinstituts für "
    "Arzneimittel und Medizinprodukte (BfArM)."
)
SETS = ("alphaid_icd10gm_neoplasms", "alphaid_icd10gm_all", "icdo3_topography", "icdo3_morphology", "tumour_recognition")

TOPOGRAPHY_CODE = re.compile(r"C\d{2}\.\d")
"""A codable ICD-O-3 topography code; the file's three-character category headings do not match."""

LABEL_RULES = {
    "icdo3_topography": "gold is a codable four-character code Cxx.x; three-character category headings "
    "of the topography file are dropped (category_heading), not mapped to .9",
    "tumour_recognition": "Ja = any code of the Alpha-ID row (primary, dagger/star, additional) in C00-D48, "
    "or a personal history of malignant neoplasm (Z85, counted as a tumour diagnosis as in UroLlmEval); "
    "Nein = all other diagnoses, including family history (Z80), screening (Z12), suspected malignancy "
    "(Z03.1) and OPS procedures; dropped as ambiguous_tumour_context: Z08, Z51.1, Z51.82, Z86.0, Z92.6",
    "train": "train.jsonl holds every kept row of the set that is no test item and no few-shot example of any set "
    "(by normalised text); codes may repeat; it is what fine-tunes and the fair lookup baselines may learn from",
    "fewshot": "the few-shot pool shares no text and no code with the test split (code = the answer for "
    "coding sets, the row's primary code for tumour_recognition); test items with a pool code are excluded",
}


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
    excluded_same_code_as_fewshot: int = 0
    fewshot_test_overlap: dict[str, int] = field(default_factory=dict)
    train: int = 0
    train_excluded_held_out_elsewhere: int = 0
    """Rows left out of the training split because their text is a test item or few-shot example of another set."""
    train_overlap: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

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


def answer_code(candidate: Candidate) -> str | None:
    """The code a candidate must not share with the few-shot pool: its answer (coding sets)."""
    return candidate.answer


def primary_code(candidate: Candidate) -> str | None:
    """The row's primary code (tumour recognition, where the answer is Ja/Nein)."""
    return candidate.extra.get("code")


def fewshot_pool(
    candidates: list[Candidate], n_fewshot: int, seed: int, code_of: Callable[[Candidate], str | None] = answer_code
) -> tuple[list[Candidate], list[Candidate]]:
    """The seeded few-shot pool (one candidate per code) and the rest in the same seeded order."""
    rng = random.Random(seed)
    ordered = sorted(candidates, key=lambda c: (c.stratum, _key(c.text)))
    rng.shuffle(ordered)
    shots: list[Candidate] = []
    codes: set[str] = set()
    rest: list[Candidate] = []
    for candidate in ordered:
        code = code_of(candidate)
        if len(shots) < n_fewshot and (code is None or code not in codes):
            shots.append(candidate)
            if code is not None:
                codes.add(code)
        else:
            rest.append(candidate)
    return shots, rest


def stratified_test(
    rest: list[Candidate], n_test: int, seed: int, banned: Collection[str] = frozenset(),
    code_of: Callable[[Candidate], str | None] = answer_code,
) -> list[Candidate]:
    """Proportional to strata (largest remainder) from ``rest``, leaving out candidates with a banned code."""
    rest = [c for c in rest if code_of(c) not in banned]
    if n_test >= len(rest):
        return _shuffled(rest, seed)
    strata: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in rest:
        strata[candidate.stratum].append(candidate)
    quotas = {s: n_test * len(items) / len(rest) for s, items in strata.items()}
    counts = {s: int(q) for s, q in quotas.items()}
    leftover = n_test - sum(counts.values())
    for stratum in sorted(quotas, key=lambda s: (-(quotas[s] - counts[s]), s))[:leftover]:
        counts[stratum] += 1
    test = [c for s, items in sorted(strata.items()) for c in items[: counts[s]]]
    return _shuffled(test, seed)


def stratified_split(
    candidates: list[Candidate], n_test: int, n_fewshot: int, seed: int,
    code_of: Callable[[Candidate], str | None] = answer_code,
) -> tuple[list[Candidate], list[Candidate]]:
    """Seeded, proportional to strata (largest remainder); test and few-shot pool disjoint by text and
    by code (``code_of``; the answer by default): a test candidate with a pool code is left out."""
    shots, rest = fewshot_pool(candidates, n_fewshot, seed, code_of)
    banned = {code for c in shots if (code := code_of(c)) is not None}
    return stratified_test(rest, n_test, seed, banned, code_of), shots


def _shuffled(candidates: list[Candidate], seed: int) -> list[Candidate]:
    # a seeded order, so that the first N rows (--limit) are themselves a random sample
    ordered = sorted(candidates, key=lambda c: c.source_id)
    random.Random(seed + 1).shuffle(ordered)
    return ordered


def _rows(candidates: list[Candidate], answer_field: str) -> list[dict[str, Any]]:
    return [{"id": c.source_id, "text": c.text, answer_field: c.answer, "stratum": c.stratum, **c.extra} for c in candidates]


def _fewshot_rows(candidates: list[Candidate]) -> list[dict[str, Any]]:
    return [{"id": c.source_id, "text": c.text, "answer": c.answer} for c in candidates]


def training_split(
    kept: list[Candidate], in_this_set: set[int], held_out: set[str], report: SetReport,
) -> list[Candidate]:
    """What a fine-tuned model (and a fair baseline) may learn from: the set's other rows, minus every text that
    is a test item or few-shot example of ANY set (the Alpha-ID sets share texts). Codes may repeat, as in
    ICDOPS-QA: the split teaches the catalogue, not the answers to the test texts."""
    train = []
    for candidate in kept:
        if id(candidate) in in_this_set:
            continue
        if _key(candidate.text) in held_out:
            report.train_excluded_held_out_elsewhere += 1
            continue
        train.append(candidate)
    report.train = len(train)
    report.train_overlap = {"texts_held_out": sum(1 for c in train if _key(c.text) in held_out)}
    return sorted(train, key=lambda c: c.source_id)


def topography_candidates(catalogue: Any, report: SetReport) -> Iterable[Candidate]:
    """Topography terms with their codable Cxx.x code; category headings (C18 "Kolon") are dropped."""
    for code, entry in catalogue.entries.items():
        if not entry.title:
            continue
        if not TOPOGRAPHY_CODE.fullmatch(code):
            report.drop("category_heading")
            continue
        yield Candidate(entry.title, code, code[:3], code)


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
        if not code:
            continue  # cross-references and rows with an additional code only
        if catalogue.get(code) is None:
            report.drop(f"code_not_in_icd10gm_{catalogue.year}")
            continue
        codes = entry.codes
        label, rule = recognition_label(codes)
        if label is None:
            report.drop(rule)
            continue
        yield Candidate(entry.text, label, f"{label}:diagnosis", f"alpha-{entry.alpha_id}",
                        {"source": "alphaid", "code": code, "codes": codes, "label_rule": rule})
    if ops is not None:
        for code, item in ops.entries.items():
            if item.terminal and item.title:
                yield Candidate(item.title, "Nein", "Nein:procedure", f"ops-{code}",
                                {"source": "ops", "code": code, "codes": [code], "label_rule": "ops_procedure"})


def balanced(candidates: list[Candidate], n_test: int, n_fewshot: int, seed: int) -> tuple[list[Candidate], list[Candidate]]:
    """Half positive, half negative; negatives stratified by source (other diagnoses, procedures); no
    test item shares its primary code with a few-shot example of either side."""
    positives = [c for c in candidates if c.answer == "Ja"]
    negatives = [c for c in candidates if c.answer == "Nein"]
    pos_shots, pos_rest = fewshot_pool(positives, n_fewshot // 2, seed, primary_code)
    neg_shots, neg_rest = fewshot_pool(negatives, n_fewshot - len(pos_shots), seed + 1, primary_code)
    banned = {code for c in pos_shots + neg_shots if (code := primary_code(c)) is not None}
    pos_test = stratified_test(pos_rest, n_test // 2, seed, banned, primary_code)
    neg_test = stratified_test(neg_rest, n_test - len(pos_test), seed + 1, banned, primary_code)
    shots = [c for pair in zip(pos_shots, neg_shots) for c in pair]  # alternate, so first_n stays balanced
    shots += pos_shots[len(neg_shots):] + neg_shots[len(pos_shots):]
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
    lookup_check: bool = True,
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
    plans: dict[str, tuple[list[Candidate], list[Candidate], str, Callable[[Candidate], str | None]]] = {}
    kept_by_set: dict[str, list[Candidate]] = {}

    def keep(name: str, candidates: Iterable[Candidate]) -> list[Candidate]:
        kept_by_set[name] = deduplicate(candidates, reports[name])
        return kept_by_set[name]

    for name, neoplasms in (("alphaid_icd10gm_neoplasms", True), ("alphaid_icd10gm_all", False)):
        kept = keep(name, alphaid_candidates(alphaid, icd10, reports[name], neoplasms))
        plans[name] = (*stratified_split(kept, n_test, n_fewshot, seed), "icd10gm_code", answer_code)
    kept = keep("icdo3_topography", topography_candidates(topography, reports["icdo3_topography"]))
    plans["icdo3_topography"] = (*stratified_split(kept, n_test, n_fewshot, seed), "icdo3_topography_code", answer_code)
    kept = keep("icdo3_morphology", term_candidates(morphology, lambda c: c[-1]))
    plans["icdo3_morphology"] = (*stratified_split(kept, n_test, n_fewshot, seed), "icdo3_morphology_code", answer_code)
    kept = keep("tumour_recognition", recognition_candidates(alphaid, icd10, ops, reports["tumour_recognition"]))
    for candidate in kept:
        rule = f"{candidate.answer}:{candidate.extra['label_rule']}"
        reports["tumour_recognition"].labels[rule] = reports["tumour_recognition"].labels.get(rule, 0) + 1
    plans["tumour_recognition"] = (*balanced(kept, n_test, n_fewshot, seed), "is_tumour", primary_code)
    held_out = {_key(c.text) for test, shots, _, _ in plans.values() for c in (*test, *shots)}
    for name, (test, shots, answer_field, code_of) in plans.items():
        overlap = {_key(c.text) for c in test} & {_key(c.text) for c in shots}
        pool_codes = {code for c in shots if (code := code_of(c)) is not None}
        shared = {code for c in test if (code := code_of(c)) is not None} & pool_codes
        if overlap or shared:  # pragma: no cover - guarded by construction
            raise OnkobenchError(f"{name}: test and few-shot pool share {len(overlap)} texts and {len(shared)} codes")
        write_jsonl_atomic(out_dir / name / "test.jsonl", _rows(test, answer_field))
        write_jsonl_atomic(out_dir / name / "fewshot.jsonl", _fewshot_rows(shots))
        report = reports[name]
        report.test, report.fewshot = len(test), len(shots)
        in_shots = {id(c) for c in shots}
        report.excluded_same_code_as_fewshot = sum(
            1 for c in kept_by_set[name] if id(c) not in in_shots and code_of(c) in pool_codes)
        report.fewshot_test_overlap = {"texts": len(overlap), "codes": len(shared)}
        train = training_split(kept_by_set[name], {id(c) for c in (*test, *shots)}, held_out, report)
        write_jsonl_atomic(out_dir / name / "train.jsonl", _fewshot_rows(train))
    clinical = build_clinical_sets(out_dir, seed, (alphaid, icd10, topography, morphology, ops))
    sets: dict[str, dict[str, Any]] = {
        **{name: {"kind": "catalogue_recall", **vars(report)} for name, report in reports.items()}, **clinical}
    lookups: dict[str, SetLookups] = {}
    for name, entry in sets.items() if lookup_check else ():
        base = entry.get("base_set", name)
        if base not in lookups:
            lookups[base] = SetLookups(out_dir, base, [(c.text, c.answer) for c in kept_by_set[base]],
                                       fallback="Nein" if base == "tumour_recognition" else "")
        entry["lookup"] = lookups[base].shares(name, plans[base][2])
    manifest = {
        "created_at": utc_now(),
        "seed": seed,
        "n_test": n_test,
        "n_fewshot": n_fewshot,
        "years": {"icd10gm": icd10gm_year, "alphaid": alphaid_year, "icdo3": icdo3_year, "ops": ops_year},
        "sources": [{"path": str(p), "sha256": file_sha256(Path(p))} for p in sources],
        "sets": sets,
        "label_rules": LABEL_RULES,
        "notice": BFARM_NOTICE,
        "terms": "Derived from BfArM classification files (codes and texts unchanged); ICD-O-3 rights lie with the WHO. "
        "Do not commit or publish this folder.",
    }
    write_json_atomic(out_dir / "manifest.json", manifest)
    (out_dir / ".gitignore").write_text("*\n", encoding="utf-8")
    (out_dir / "README.txt").write_text(BFARM_NOTICE + "\n" + manifest["terms"] + "\n", encoding="utf-8")
    return manifest

"""Deterministic non-LLM baselines: lexicon lookup and keyword matching, answering in each task's format."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.datasources import read_jsonl
from harness.errors import OnkobenchError
from harness.models import ModelConfig
from harness.records import Request, Response
from harness.runners.base import resolve_config_path
from harness.config_io import read_yaml

DETECTION_KIND = "tumour_mentions"
"""Answer kind of tumour detection tasks: a JSON array of the diagnoses found."""
CATEGORY_KIND = "icd10_category"
"""Three-character ICD-10 code of the ``diagnosis`` input (UroLlmEval step 2)."""
DATE_KIND = "first_diagnosis_date"
RECOGNITION_KIND = "tumour_recognition"
METHODS = ("lexicon_exact", "lexicon_fuzzy", "regex_date", "catalogue_lookup")
ANSWER_KINDS = {
    "lexicon_exact": {DETECTION_KIND, CATEGORY_KIND, "icd10gm_code", "icdo3_topography_code"},
    "lexicon_fuzzy": {DETECTION_KIND, CATEGORY_KIND, "icd10gm_code", "icdo3_topography_code"},
    "regex_date": {DATE_KIND},
    "catalogue_lookup": {CATEGORY_KIND, RECOGNITION_KIND, "icd10gm_code", "icdo3_topography_code", "icdo3_morphology_code"},
}
_SENTENCE_SPLIT = re.compile(r"(?:\n|(?<=[.;!?])\s+)")


def _is_neoplasm(code: str) -> bool:
    return code[:1] == "C" or (code[:1] == "D" and code[1:3].isdigit() and int(code[1:3]) <= 48)


class CatalogueIndex:
    """Catalogue texts -> code: exact on normalised text, else the best rapidfuzz match above a score."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        counts: dict[str, dict[str, int]] = {}
        for text, code in pairs:
            slot = counts.setdefault(_normalise(text).strip(), {})
            slot[code] = slot.get(code, 0) + 1
        # a text listed with several codes answers its most frequent one (ties: the smallest code)
        self.exact = {text: min(codes, key=lambda c: (-codes[c], c)) for text, codes in counts.items()}
        self.texts = list(self.exact)

    def find(self, text: str, fuzzy: bool, min_score: float) -> str | None:
        key = _normalise(text).strip()
        if key in self.exact:
            return self.exact[key]
        if not fuzzy:
            return None
        from rapidfuzz import fuzz, process

        best = process.extractOne(key, self.texts, scorer=fuzz.WRatio, score_cutoff=min_score)
        return self.exact[best[0]] if best else None


def check_answer_kind(config: ModelConfig, answer_kind: str, task: str) -> None:
    """Refuse, before any request, a baseline method that cannot answer a task of this kind."""
    method = config.options.get("method")
    if answer_kind not in ANSWER_KINDS.get(str(method), set()):
        raise OnkobenchError(f"baseline {config.name} ({method}) cannot answer {answer_kind} tasks ({task})")


def _normalise(text: str) -> str:
    return " " + re.sub(r"\s+", " ", text.casefold()).strip() + " "


class BaselineRunner:
    """``lexicon_exact``: longest lexicon term found in the text; ``lexicon_fuzzy``: rapidfuzz best match,
    and for detection keyword stems with negation cues per sentence; ``regex_date``: UroLlmEval's step-3
    heuristic, the first regex date within ``max_line_dist`` lines of the fuzzily located diagnosis."""

    def __init__(self, config: ModelConfig, config_dir: Path) -> None:
        options = dict(config.options)
        self.name = config.name
        self.method = options.pop("method", None)
        if self.method not in METHODS:
            raise OnkobenchError(f"model {config.name}: options.method must be one of {', '.join(METHODS)}")
        self.min_score = float(options.pop("min_score", 60))
        self.max_line_dist = int(options.pop("max_line_dist", 0))
        self.fuzzy = bool(options.pop("fuzzy", self.method == "lexicon_fuzzy"))
        self.years = {"alphaid": int(options.pop("alphaid_year", 2010)), "icdo3": int(options.pop("icdo3_year", 2019))}
        self._indexes: dict[str, CatalogueIndex] = {}
        lexicon_path = options.pop("lexicon", None)
        keywords_path = options.pop("keywords", None)
        if options:
            raise OnkobenchError(f"model {config.name}: unknown baseline option(s) {', '.join(options)}")
        if lexicon_path is None and self.method in ("lexicon_exact", "lexicon_fuzzy"):
            raise OnkobenchError(f"model {config.name}: options.lexicon is required")
        self.lexicon = self._load_lexicon(resolve_config_path(config_dir, lexicon_path, f"model {config.name}: options.lexicon")) if lexicon_path else []
        self.keywords = (self._load_keywords(resolve_config_path(config_dir, keywords_path, f"model {config.name}: options.keywords"))
                         if keywords_path else None)
        if self.method == "lexicon_fuzzy" and self.keywords is None:
            raise OnkobenchError(f"model {config.name}: lexicon_fuzzy needs options.keywords")

    @staticmethod
    def _load_lexicon(path: Path) -> list[dict[str, Any]]:
        rows = read_jsonl(path)
        for number, row in enumerate(rows, start=1):
            if not isinstance(row.get("term"), str) or not row["term"].strip():
                raise OnkobenchError(f"{path}: line {number}: needs a non-empty 'term'")
        # longest first, so the most specific term wins in a substring search
        return sorted(rows, key=lambda r: -len(r["term"]))

    @staticmethod
    def _load_keywords(path: Path) -> dict[str, list[str]]:
        data = read_yaml(path)
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("tumour_terms", "negation_cues")):
            raise OnkobenchError(f"{path}: needs lists 'tumour_terms' and 'negation_cues'")
        return {k: [str(v).casefold() for v in data[k]] for k in ("tumour_terms", "negation_cues")}

    def describe(self) -> dict[str, Any]:
        return {"engine": "baseline", "method": self.method, "device": "cpu"}

    def close(self) -> None:
        pass

    def _field(self, request: Request, name: str) -> str:
        value = request.inputs.get(name)
        if not isinstance(value, str):
            raise OnkobenchError(f"baseline {self.name}: task {request.task} has no {name!r} input field")
        return value

    def _detect(self, text: str) -> list[str]:
        if self.method == "lexicon_exact":
            haystack = _normalise(text)
            return [row["term"] for row in self.lexicon if _normalise(row["term"]).strip() in haystack][:1]
        assert self.keywords is not None
        found = []
        for sentence in _SENTENCE_SPLIT.split(text):
            lowered = _normalise(sentence)
            if any(cue in lowered for cue in self.keywords["negation_cues"]):
                continue
            found.extend(sentence.strip() for term in self.keywords["tumour_terms"] if term in lowered)
        return list(dict.fromkeys(found))

    def _code(self, text: str, field: str) -> str:
        entries = [row for row in self.lexicon if row.get(field)]
        if self.method == "lexicon_exact":
            haystack = _normalise(text)
            for row in entries:
                if _normalise(row["term"]).strip() in haystack:
                    return str(row[field])
            return ""
        from rapidfuzz import fuzz, process, utils

        best = process.extractOne(
            text, [row["term"] for row in entries], scorer=fuzz.WRatio, processor=utils.default_process
        )
        if best is None or best[1] < self.min_score:
            return ""
        return str(entries[best[2]][field])

    def _catalogue_index(self, kind: str) -> "CatalogueIndex":
        source = "alphaid" if kind in (CATEGORY_KIND, RECOGNITION_KIND, "icd10gm_code") else kind
        if source not in self._indexes:
            from harness import catalogues

            if source == "alphaid":
                pairs = [(e.text, e.primary) for e in catalogues.load_alphaid(self.years["alphaid"]) if e.primary]
            else:
                system = "icdo3_topography" if source == "icdo3_topography_code" else "icdo3_morphology"
                pairs = [(e.title, code) for code, e in catalogues.load_catalogue(system, self.years["icdo3"]).entries.items()]
            self._indexes[source] = CatalogueIndex(pairs)
        return self._indexes[source]

    def _lookup(self, request: Request) -> str:
        kind = request.answer_kind
        text = self._field(request, "diagnosis" if kind == CATEGORY_KIND else "text")
        code = self._catalogue_index(kind).find(text, self.fuzzy, self.min_score) or ""
        if kind == RECOGNITION_KIND:
            return "Ja" if code and _is_neoplasm(code) else "Nein"
        return code[:3] if kind == CATEGORY_KIND else code

    def answer(self, request: Request) -> str:
        kind = request.answer_kind
        if kind not in ANSWER_KINDS[self.method]:
            raise OnkobenchError(f"baseline {self.name} ({self.method}) cannot answer {kind} tasks ({request.task})")
        if self.method == "catalogue_lookup":
            return self._lookup(request)
        if self.method == "regex_date":
            if kind != DATE_KIND:
                raise OnkobenchError(f"baseline {self.name} ({self.method}) answers only {DATE_KIND} tasks, not {request.task}")
            from harness.textmatch import first_date_near

            date = first_date_near(self._field(request, "text"), self._field(request, "diagnosis"), self.max_line_dist)
            return date or "Nein"
        if kind == DETECTION_KIND:
            return json.dumps(self._detect(self._field(request, "text")), ensure_ascii=False)
        if kind == CATEGORY_KIND:
            return self._code(self._field(request, "diagnosis"), "icd10gm_code")[:3]
        return self._code(self._field(request, "text"), kind)

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        for request in requests:
            start = time.perf_counter()
            text = self.answer(request)
            yield Response(key=request.key, text=text, finish_reason="stop", latency_s=time.perf_counter() - start, n_batch=1)

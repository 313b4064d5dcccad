"""Deterministic non-LLM baselines: lexicon lookup and keyword matching, answering in each task's format."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import read_jsonl
from harness.catalogues.codes import recognition_label
from harness.errors import OnkobenchError
from harness.config.models import ModelConfig
from harness.records import Request, Response
from harness.registry import Registry
from harness.runners.base import Runner, resolve_config_path
from harness.config.io import read_yaml

DETECTION_KIND = "tumour_mentions"
"""Answer kind of tumour detection tasks: a JSON array of the diagnoses found."""
CATEGORY_KIND = "icd10_category"
"""Three-character ICD-10 code of the ``diagnosis`` input (a chained coding step)."""
RECOGNITION_KIND = "tumour_recognition"
KNOWLEDGE = {
    "train": "the task's training split (dataset.train): what a fine-tuned model may learn, never a test item",
    "catalogue": "the whole catalogue, test items included: an oracle that knows the answer key (a ceiling)",
}
"""What the catalogue lookup may look answers up in."""
ANSWER_KINDS = {
    "lexicon_exact": {DETECTION_KIND, CATEGORY_KIND, "icd10gm_code", "icdo3_topography_code"},
    "lexicon_fuzzy": {DETECTION_KIND, CATEGORY_KIND, "icd10gm_code", "icdo3_topography_code"},
    "catalogue_lookup": {CATEGORY_KIND, RECOGNITION_KIND, "icd10gm_code", "icdo3_topography_code", "icdo3_morphology_code"},
}
"""The built-in methods and the answer kinds each can give."""


@dataclass(frozen=True)
class BaselineMethod:
    """A method a family adds (e.g. a study's own heuristic): the answer kinds it gives and how."""

    answer_kinds: frozenset[str]
    answer: Callable[["BaselineRunner", Request], str]


BASELINE_METHODS: Registry[BaselineMethod] = Registry("baseline method")


def method_answer_kinds(method: str) -> set[str]:
    """The answer kinds a method can give; an unknown method gives none."""
    if method in ANSWER_KINDS:
        return ANSWER_KINDS[method]
    return set(BASELINE_METHODS.get(method).answer_kinds) if method in BASELINE_METHODS else set()
_SENTENCE_SPLIT = re.compile(r"(?:\n|(?<=[.;!?])\s+)")


class CatalogueIndex:
    """Known texts -> answer (a code, or a label): exact on normalised text, else the best rapidfuzz match above a score."""

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


def _normalise(text: str) -> str:
    return " " + re.sub(r"\s+", " ", text.casefold()).strip() + " "


class BaselineRunner(Runner):
    """Deterministic non-LLM baselines (lexicon, keywords, catalogue lookup), answering in each task's format.

    ``lexicon_exact``: longest lexicon term found in the text; ``lexicon_fuzzy``: rapidfuzz best match,
    and for detection keyword stems with negation cues per sentence; ``catalogue_lookup``: the catalogue's
    training split (``knowledge: train``, the default: only what a fine-tuned model may learn) or the whole
    catalogue (``knowledge: catalogue``: an oracle that knows the answer key, a ceiling row); methods families
    register (``BASELINE_METHODS``) answer by their own rule."""

    uses_prompt = False
    needs_model = False
    reads_training_split = True
    engine_packages = ("onkobench", "rapidfuzz")
    file_options = ("lexicon", "keywords")

    @classmethod
    def check_task(cls, config: ModelConfig, answer_kind: str, task_name: str) -> None:
        """Refuse, before any request, a baseline method that cannot answer a task of this kind."""
        method = config.options.get("method")
        if answer_kind not in method_answer_kinds(str(method)):
            raise OnkobenchError(f"baseline {config.name} ({method}) cannot answer {answer_kind} tasks ({task_name})")

    def __init__(self, config: ModelConfig, config_dir: Path) -> None:
        options = dict(config.options)
        self.name = config.name
        self.method = options.pop("method", None)
        methods = [*ANSWER_KINDS, *BASELINE_METHODS]
        if self.method not in methods:
            raise OnkobenchError(f"model {config.name}: options.method must be one of {', '.join(methods)}")
        self.min_score = float(options.pop("min_score", 60))
        self.max_line_dist = int(options.pop("max_line_dist", 0))
        self.fuzzy = bool(options.pop("fuzzy", self.method == "lexicon_fuzzy"))
        self.knowledge = options.pop("knowledge", "train")
        if self.knowledge not in KNOWLEDGE:
            raise OnkobenchError(f"model {config.name}: options.knowledge must be one of {', '.join(KNOWLEDGE)}")
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
        described = {"engine": "baseline", "method": self.method, "device": "cpu"}
        if self.method == "catalogue_lookup":
            described["knowledge"] = self.knowledge
        return described

    def close(self) -> None:
        pass

    def field(self, request: Request, name: str) -> str:
        """A text input field of the request's sample; a task without it is a user error."""
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
        source = {CATEGORY_KIND: "alphaid", "icd10gm_code": "alphaid"}.get(kind, kind)
        if source not in self._indexes:
            from harness import catalogues

            if source == RECOGNITION_KIND:
                # the set builder's own label rule over every code of the row, so the oracle knows the answer key
                labelled = ((e.text, recognition_label(e.codes)[0]) for e in catalogues.load_alphaid(self.years["alphaid"]))
                pairs = [(text, label) for text, label in labelled if label is not None]
            elif source == "alphaid":
                pairs = [(e.text, e.primary) for e in catalogues.load_alphaid(self.years["alphaid"]) if e.primary]
            else:
                system = "icdo3_topography" if source == "icdo3_topography_code" else "icdo3_morphology"
                pairs = [(e.title, code) for code, e in catalogues.load_catalogue(system, self.years["icdo3"]).entries.items()]
                if system == "icdo3_topography":
                    # three-character category headings are no codable answer ("C18 Kolon" beside "C18.9 Kolon o.n.A.")
                    pairs = [(text, code) for text, code in pairs if "." in code]
            self._indexes[source] = CatalogueIndex(pairs)
        return self._indexes[source]

    def _training_index(self, request: Request) -> "CatalogueIndex":
        path = request.training_split
        if path is None:
            raise OnkobenchError(
                f"baseline {self.name}: task {request.task} declares no training split (dataset.train), so the fair "
                "lookup has nothing to learn from; set options.knowledge: catalogue for the oracle"
            )
        if path not in self._indexes:
            rows = read_jsonl(Path(path))
            pairs = []
            for number, row in enumerate(rows, start=1):
                text, answer = row.get("text"), row.get("answer")
                if not isinstance(text, str) or not isinstance(answer, str):
                    raise OnkobenchError(f"{path}: line {number}: a training row needs string fields 'text' and 'answer'")
                pairs.append((text, answer))
            self._indexes[path] = CatalogueIndex(pairs)
        return self._indexes[path]

    def _lookup(self, request: Request) -> str:
        kind = request.answer_kind
        text = self.field(request, "diagnosis" if kind == CATEGORY_KIND else "text")
        index = self._training_index(request) if self.knowledge == "train" else self._catalogue_index(kind)
        answer = index.find(text, self.fuzzy, self.min_score) or ""
        if kind == RECOGNITION_KIND:
            return answer or "Nein"  # nothing similar known: no tumour asserted
        return answer[:3] if kind == CATEGORY_KIND else answer

    def answer(self, request: Request) -> str:
        kind = request.answer_kind
        if kind not in method_answer_kinds(self.method):
            raise OnkobenchError(f"baseline {self.name} ({self.method}) cannot answer {kind} tasks ({request.task})")
        if self.method == "catalogue_lookup":
            return self._lookup(request)
        if self.method in BASELINE_METHODS:
            return BASELINE_METHODS.get(self.method).answer(self, request)
        if kind == DETECTION_KIND:
            return json.dumps(self._detect(self.field(request, "text")), ensure_ascii=False)
        if kind == CATEGORY_KIND:
            return self._code(self.field(request, "diagnosis"), "icd10gm_code")[:3]
        return self._code(self.field(request, "text"), kind)

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        for request in requests:
            start = time.perf_counter()
            text = self.answer(request)
            yield Response(key=request.key, text=text, finish_reason="stop", latency_s=time.perf_counter() - start, n_batch=1)

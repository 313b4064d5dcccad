"""What an exported lm-eval task calls at run time: onkobench's prompts, parser, scorer and metrics.

The exported ``*_utils.py`` holds no logic of its own; it loads the bridge from the JSON file written
next to it, so lm-eval's numbers come from the same code as onkobench's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.config.tasks import Task, Variant
from harness.data import Sample

SHOT_FIELD = "_onkobench_shot"
"""Marks a few-shot example handed to lm-eval (its index among the variant's examples)."""
INDEX_FIELD = "_onkobench_row"
"""The row's position in the data set: the sample id of tasks without an id column (as UroLlmEval's)."""


class LmEvalBridge:
    """One task variant as lm-eval sees it: fixed examples, a user turn and a score per doc.

    The system text is the YAML's ``description``; the examples are kept in the bridge file because
    lm-eval asks for them without a doc.
    """

    def __init__(self, task: Task, variant_name: str, shots: Sequence[tuple[str, str]] = ()) -> None:
        from harness.prompts import PromptRenderer

        self.task = task
        self.variant: Variant = task.variant(variant_name)
        if self.variant.queries is not None:
            raise OnkobenchError(f"{task.name} variant {variant_name}: several queries per sample cannot be one lm-eval doc")
        if task.upstream is not None:
            raise OnkobenchError(f"{task.name}: a chained step builds its samples from a previous run; lm-eval cannot")
        self.renderer = PromptRenderer(task, self.variant)
        self.renderer.check()  # as before a run: refused templates never reach lm-eval
        self._score_sample: Any = None  # built on first use: a catalogue scorer loads its catalogue
        self._samples: dict[Any, Sample | None] = {}  # by row number: lm-eval asks about each doc several times
        self.shots = [tuple(pair) for pair in shots]

    @classmethod
    def from_file(cls, path: Path) -> "LmEvalBridge":
        from harness.config.tasks import load_task

        spec = json.loads(path.read_text(encoding="utf-8"))
        return cls(load_task(spec["task"]), spec["variant"], spec.get("shots", []))

    # -- documents ---------------------------------------------------------------------------
    def sample(self, doc: dict[str, Any]) -> Sample | None:
        """The onkobench sample of an lm-eval doc (a raw data set row); None when the task's keep_if drops it."""
        from harness.data import map_columns
        from harness.data import build_samples

        row_number = doc.get(INDEX_FIELD)
        if row_number is not None and row_number in self._samples:
            return self._samples[row_number]
        row = {k: v for k, v in doc.items() if k != INDEX_FIELD}
        samples = build_samples(self.task, map_columns(self.task, [row], "lm-eval doc"), "lm-eval doc")
        sample = samples[0] if samples else None
        if sample is not None and self.task.dataset.id_field is None and row_number is not None:
            sample = replace(sample, id=str(row_number))
        if row_number is not None:
            self._samples[row_number] = sample
        return sample

    def process_docs(self, dataset: Any) -> Any:
        """Number the rows (before any is dropped), then drop what the task's keep_if drops."""
        numbered = dataset.map(lambda _doc, index: {INDEX_FIELD: index}, with_indices=True)
        return numbered.filter(lambda doc: self.sample(doc) is not None)

    def conversation(self, sample: Sample) -> tuple[str, list[tuple[str, str]], str]:
        """(system text, [(user, assistant)] example turns, final user text) of a sample's chat."""
        messages = self.renderer.messages(sample)
        system = ""
        if messages and messages[0]["role"] == "system":
            system = messages.pop(0)["content"]
        roles = [m["role"] for m in messages]
        if not messages or roles != ["user", "assistant"] * (len(messages) // 2) + ["user"]:
            raise OnkobenchError(
                f"{self.task.name} variant {self.variant.name}: turns {roles} are not (user, assistant)* then user, "
                "which is what lm-eval's multi-turn few-shot builds"
            )
        pairs = [(messages[i]["content"], messages[i + 1]["content"]) for i in range(0, len(messages) - 1, 2)]
        return system, pairs, messages[-1]["content"]

    # -- lm-eval hooks -------------------------------------------------------------------------
    def doc_to_text(self, doc: dict[str, Any]) -> str:
        if SHOT_FIELD in doc:
            return self.shots[int(doc[SHOT_FIELD])][0]
        sample = self._sample_or_error(doc)
        return self.conversation(sample)[2]

    def doc_to_target(self, doc: dict[str, Any]) -> str:
        if SHOT_FIELD in doc:
            return self.shots[int(doc[SHOT_FIELD])][1]
        target = self._sample_or_error(doc).target
        return target if isinstance(target, str) else json.dumps(target, ensure_ascii=False)

    def fewshot_samples(self) -> list[dict[str, Any]]:
        return [{SHOT_FIELD: index} for index in range(len(self.shots))]

    def process_results(self, doc: dict[str, Any], results: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Parse and score one generation; every metric gets the scored sample, aggregated by ``aggregate``."""
        from harness.scoring import ModelOutput, make_sample_scorer

        if self._score_sample is None:
            self._score_sample = make_sample_scorer(self.task, self.variant)
        text = results[0] if results else ""
        scored = self._score_sample(self._sample_or_error(doc), [ModelOutput(text=text)])
        payload = {"sample_id": scored.sample_id, "group": scored.group, "status": scored.status, "values": scored.values}
        return {metric: payload for metric in self.task.metrics}

    @staticmethod
    def aggregate(metric: str, items: Sequence[dict[str, Any]]) -> float:
        from harness.scoring import ScoreTable, compute_metrics

        table = ScoreTable()
        for item in items:
            table.add(item["sample_id"], item.get("group"), item["status"], item["values"])
        return compute_metrics([metric], table)[metric].value

    def _sample_or_error(self, doc: dict[str, Any]) -> Sample:
        sample = self.sample(doc)
        if sample is None:
            raise OnkobenchError(f"{self.task.name}: an lm-eval doc that the task's keep_if drops was not filtered out")
        return sample

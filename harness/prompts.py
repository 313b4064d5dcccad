"""Task x Variant x Sample -> Request: render the chat turns, pick the few-shot examples."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from harness.data import read_jsonl
from harness.errors import OnkobenchError
from harness.records import Request, Sampling, stable_hash
from harness.config.models import ModelConfig
from harness.config.tasks import Task, Turn, Variant
from harness.data import Sample
from harness.registry import Registry

PROMPT_FILTERS: Registry[Callable[..., Any]] = Registry("prompt filter")
"""Jinja filters for templates and ``queries``/``skip_when_empty`` expressions (families register theirs)."""


class PromptRenderer:
    """Renders one variant's turns; templates come from a prompt pack folder, then the task folder."""

    def __init__(self, task: Task, variant: Variant, prompts_dir: Path | None = None) -> None:
        self.task = task
        self.variant = variant
        search = [str(prompts_dir)] if prompts_dir else []
        search.append(str(task.folder))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are plain text, never HTML
            keep_trailing_newline=False,
        )
        self.env.filters.update({name: PROMPT_FILTERS.get(name) for name in PROMPT_FILTERS})
        self._templates: dict[str, tuple[jinja2.Template, str]] = {}
        self.shots = self._select_shots()

    def _template(self, ref: str) -> tuple[jinja2.Template, str]:
        if ref not in self._templates:
            where = f"{self.task.name} variant {self.variant.name}"
            try:
                if ref.endswith(".j2"):
                    source, _, _ = self.env.loader.get_source(self.env, ref)  # type: ignore[union-attr]
                else:
                    source = ref
                self._templates[ref] = (self.env.from_string(source), source)
            except jinja2.TemplateNotFound:
                raise OnkobenchError(f"{where}: template {ref!r} not found under {self.task.folder}") from None
            except jinja2.TemplateSyntaxError as err:
                raise OnkobenchError(f"{where}: template {ref!r} line {err.lineno}: {err.message}") from None
        return self._templates[ref]

    def _select_shots(self) -> list[dict[str, Any]]:
        spec = self.variant.shots
        if spec is None:
            return []
        from harness.config.io import confined_path

        pool_path = confined_path(self.task.folder, spec.pool, f"{self.task.name} variant {self.variant.name}: shots.pool")
        pool = [row for row in read_jsonl(pool_path) if all(row.get(k) == v for k, v in spec.where.items())]
        for number, row in enumerate(pool, start=1):
            if "answer" not in row or "id" not in row:
                raise OnkobenchError(f"{pool_path}: example {number}: needs 'id' and 'answer'")
        if len(pool) < spec.k:
            raise OnkobenchError(
                f"{pool_path}: variant {self.variant.name} asks for {spec.k} examples, pool has {len(pool)}"
            )
        if spec.sampler == "first_n":
            return pool[: spec.k]
        return random.Random(spec.seed).sample(pool, spec.k)

    def _render(self, ref: str, context: dict[str, Any], sample_id: str) -> str:
        template, _ = self._template(ref)
        try:
            return template.render(**context)
        except jinja2.UndefinedError as err:
            raise OnkobenchError(
                f"{self.task.name} variant {self.variant.name}: template {ref!r}, sample {sample_id}: {err.message}"
            ) from None

    def _expand(self, turns: Sequence[Turn], context: dict[str, Any], sample_id: str) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = []
        for turn in turns:
            if turn.shots is not None:
                for shot in self.shots:
                    messages.extend(self._expand(turn.shots, {**context, "shot": shot}, sample_id))
            else:
                assert turn.role is not None and turn.template is not None
                messages.append({"role": turn.role, "content": self._render(turn.template, context, sample_id)})
        return messages

    def _context(self, sample: Sample) -> dict[str, Any]:
        return {"sample": {**sample.fields, "id": sample.id}, "shots": self.shots, "k": len(self.shots)}

    def messages(self, sample: Sample, item: Any = None) -> list[dict[str, str]]:
        context = self._context(sample)
        if item is not None:
            context["item"] = item
        return self._expand(self.variant.turns, context, sample.id)

    def evaluate(self, expression: str, sample: Sample, what: str) -> Any:
        """A variant's Jinja expression (``queries.each``, ``skip_when_empty``) for one sample."""
        where = f"{self.task.name} variant {self.variant.name}: {what}"
        try:
            compiled = self.env.compile_expression(expression, undefined_to_none=False)
            return compiled(**self._context(sample))
        except jinja2.TemplateSyntaxError as err:
            raise OnkobenchError(f"{where}: invalid expression {expression!r}: {err.message}") from None
        except jinja2.UndefinedError as err:
            raise OnkobenchError(f"{where}: sample {sample.id}: {err.message}") from None

    def queries(self, sample: Sample) -> list[tuple[Any, list[dict[str, str]] | None]]:
        """(item, messages) per query; messages None means skipped by rule."""
        variant = self.variant
        if variant.skip_when_empty and not self.evaluate(variant.skip_when_empty, sample, "skip_when_empty"):
            return [(None, None)]
        if variant.queries is None:
            return [(None, self.messages(sample))]
        items = list(self.evaluate(variant.queries.each, sample, "queries.each") or [])
        if not items:
            return [(None, None)]
        return [(item, self.messages(sample, item)) for item in items]

    def template_hash(self) -> str:
        """Hash of every template source and example this variant uses."""
        refs: list[str] = []

        def collect(turns: Sequence[Turn]) -> None:
            for turn in turns:
                if turn.shots is not None:
                    collect(turn.shots)
                elif turn.template is not None:
                    refs.append(turn.template)

        collect(self.variant.turns)
        sources: dict[str, str] = {}
        while refs:
            ref = refs.pop()
            if ref in sources:
                continue
            sources[ref] = self._template(ref)[1]
            # included templates count too: an edit to a shared rules file changes the hash
            refs.extend(r for r in meta.find_referenced_templates(self.env.parse(sources[ref])) if r)
        return stable_hash({"templates": sources, "shots": self.shots})


def build_requests(
    task: Task, variant: Variant, samples: Sequence[Sample], config: ModelConfig, renderer: PromptRenderer | None = None,
) -> list[Request]:
    """One Request per sample (or per query); deterministic for the same inputs.

    ``renderer``: the variant's renderer (with its prompt pack); default: the task folder's templates.
    A reasoning model's ``reasoning_budget`` adds new tokens for its trace on top of the answer budget.
    """
    renderer = renderer or PromptRenderer(task, variant)
    gen = task.generation_for(variant)
    sampling = Sampling(
        max_tokens=gen.max_tokens + (config.reasoning_budget or 0), temperature=gen.temperature, top_p=gen.top_p,
        seed=gen.seed, stop=gen.stop,
    )
    model_identity = config.identity()
    kwargs = config.chat_template_kwargs_for_requests()
    adapter = config.adapter.name if config.adapter else None
    sampling_fields = asdict(sampling)  # what stable_hash would make of it, once instead of per request
    shot_ids = tuple(str(s["id"]) for s in renderer.shots)
    requests = []
    for sample in samples:
        for index, (item, messages) in enumerate(renderer.queries(sample)):
            skipped = messages is None
            key = stable_hash(
                {
                    "model": model_identity, "task": task.name, "sample": sample.id, "query": index,
                    "messages": messages, "sampling": sampling_fields, "chat_template_kwargs": kwargs,
                    "skip_answer": variant.skip_answer if skipped else None,
                    "structured_regex": variant.structured_regex,
                },
                length=24,
            )
            requests.append(
                Request(
                    key=key,
                    task=task.name,
                    variant=variant.name,
                    sample_id=sample.id,
                    messages=tuple(messages or ()),
                    sampling=sampling,
                    shot_ids=shot_ids,
                    inputs=sample.fields,
                    answer_kind=task.answer_kind,
                    chat_template_kwargs=kwargs,
                    query_index=index,
                    query_item=item,
                    skip_answer=variant.skip_answer if skipped else None,
                    structured_regex=variant.structured_regex,
                    adapter=adapter,
                )
            )
    return requests

"""Task x Variant x Sample -> Request: render the chat turns, pick the few-shot examples."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.parser import Parser

from harness.data import read_jsonl
from harness.errors import OnkobenchError
from harness.records import Request, Sampling, stable_hash
from harness.config.models import ModelConfig
from harness.config.tasks import Task, Turn, Variant
from harness.data import Sample, training_split
from harness.registry import Registry
from harness.template_reads import DETERMINISTIC_GLOBALS, EverythingRead, assigned_names, context_reads, fold_defined
from harness.templating import ConfinedLoader, render_error, sandboxed_environment, unsafe_lines

PROMPT_FILTERS: Registry[Callable[..., Any]] = Registry("prompt filter")
"""Jinja filters for templates and ``queries``/``skip_when_empty`` expressions (families register theirs). A filter
must give the same text for the same arguments: a turn that reads no sample renders once per variant."""
TASK_LEVEL = frozenset({"shots", "k"})
"""Context variables that are the same for every sample of a variant (``shot`` too, inside an example turn)."""


def _short(ref: str) -> str:
    """A turn's template as an error names it: a file name, or the start of an inline template."""
    return ref if len(ref) <= 40 else ref[:37] + "..."


def _key(ref: str, from_file: bool) -> str:
    # a file and an inline template with the same text are different templates
    return f"file:{ref}" if from_file else ref


class PromptRenderer:
    """Renders one variant's turns; templates come from a prompt pack folder, then the task folder.

    Templates are contributor code: they render in Jinja's sandbox and load only through a
    ``ConfinedLoader`` (``harness.templating``); :meth:`problems` checks them all before a run.
    """

    def __init__(self, task: Task, variant: Variant, prompts_dir: Path | None = None) -> None:
        self.task = task
        self.variant = variant
        search = [prompts_dir] if prompts_dir else []
        search.append(task.folder)
        self.env = sandboxed_environment(ConfinedLoader(search))
        self.env.filters.update({name: PROMPT_FILTERS.get(name) for name in PROMPT_FILTERS})
        self._templates: dict[str, tuple[jinja2.Template, str, str]] = {}
        self._independent: dict[tuple[str, bool], bool] = {}
        self._fixed_turns: dict[tuple[int, ...], str] = {}
        """Text of each turn that reads no sample, by its place in the variant (turn and example numbers)."""
        self.where = f"{task.name} variant {variant.name}"
        from harness.config.io import confined_path

        self._pool_path = (
            confined_path(task.folder, variant.shots.pool, f"{self.where}: shots.pool") if variant.shots else None
        )

    @cached_property
    def shots(self) -> list[dict[str, Any]]:
        """The variant's few-shot examples, read on first use: checking the templates needs no pool (the
        pool of a catalogue task exists only once its data set is built); its path is checked at once."""
        return self._select_shots()

    def _template(self, ref: str, from_file: bool | None = None) -> tuple[jinja2.Template, str, str]:
        """(template, source, label) of a turn's ``ref``: a ``.j2`` file or inline text; ``from_file`` forces
        a file (a name another template includes, imports or extends)."""
        from_file = ref.endswith(".j2") if from_file is None else from_file
        key = _key(ref, from_file)
        if key not in self._templates:
            label = ref if from_file else f"inline template {_short(ref)!r}"
            try:
                if from_file:
                    source, label, _ = self.env.loader.get_source(self.env, ref)  # type: ignore[union-attr]
                    # compiled under its name and file, so a render error names the file and line
                    code = self.env.compile(source, name=ref, filename=label)
                    template = self.env.template_class.from_code(self.env, code, self.env.make_globals(None))
                else:
                    source, template = ref, self.env.from_string(ref)
                self._templates[key] = (template, source, label)
            except jinja2.TemplateNotFound:
                raise OnkobenchError(f"{self.where}: template {ref!r} not found under {self.task.folder}") from None
            except jinja2.TemplateSyntaxError as err:
                raise OnkobenchError(f"{self.where}: {label} line {err.lineno}: {err.message}") from None
            except OnkobenchError as err:  # the loader refused it (outside the allowed folders)
                raise OnkobenchError(f"{self.where}: {err}") from None
        return self._templates[key]

    def _turn_refs(self) -> list[str]:
        refs: list[str] = []

        def collect(turns: Sequence[Turn]) -> None:
            for turn in turns:
                if turn.shots is not None:
                    collect(turn.shots)
                elif turn.template is not None:
                    refs.append(turn.template)

        collect(self.variant.turns)
        return refs

    def _walk(self, errors: list[str] | None = None,
              refs: Sequence[str] | None = None) -> dict[str, tuple[str, str, jinja2.nodes.Template]]:
        """Every template the variant uses (or ``refs`` use), by key: its turns and, transitively, what they
        include, import or extend, as (source, label, parse tree; each call parses afresh). A template that cannot
        be loaded raises, or with ``errors`` is listed there and left out."""
        pending: list[tuple[str, bool | None]] = [(ref, None) for ref in (self._turn_refs() if refs is None else refs)]
        found: dict[str, tuple[str, str, jinja2.nodes.Template]] = {}
        failed: set[str] = set()
        while pending:
            ref, from_file = pending.pop(0)
            key = _key(ref, ref.endswith(".j2") if from_file is None else from_file)
            if key in found or key in failed:
                continue
            try:
                _, source, label = self._template(ref, from_file)
            except OnkobenchError as err:
                if errors is None:
                    raise
                errors.append(str(err))
                failed.add(key)
                continue
            tree = self.env.parse(source)
            found[key] = (source, label, tree)
            # a name built at render time (include sample.x) cannot be followed here; the loader confines it then
            pending.extend((name, True) for name in meta.find_referenced_templates(tree) if name)
        return found

    def problems(self) -> list[str]:
        """Every reason to refuse this variant's templates before a run, one line each: a template that is
        missing, lies outside the allowed folders or does not parse, and any access to a name starting
        with ``_`` in a template or in the ``queries`` / ``skip_when_empty`` expressions."""
        errors: list[str] = []
        for _, label, tree in self._walk(errors).values():
            errors.extend(f"{self.where}: {line}" for line in unsafe_lines(tree, label))
        expressions = {"skip_when_empty": self.variant.skip_when_empty,
                       "queries.each": self.variant.queries.each if self.variant.queries else None}
        for what, expression in expressions.items():
            if expression is None:
                continue
            try:
                node = Parser(self.env, expression, state="variable").parse_expression()
            except jinja2.TemplateSyntaxError as err:
                errors.append(f"{self.where}: {what}: invalid expression {expression!r}: {err.message}")
                continue
            errors.extend(f"{self.where}: {line}" for line in unsafe_lines(node, f"{what} {expression!r}"))
        return errors

    def check(self) -> None:
        """Refuse the variant (before any request) when :meth:`problems` finds anything."""
        errors = self.problems()
        if errors:
            raise OnkobenchError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))

    def _select_shots(self) -> list[dict[str, Any]]:
        spec, pool_path = self.variant.shots, self._pool_path
        if spec is None or pool_path is None:
            return []
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
        template, _, _ = self._template(ref)
        try:
            return template.render(**context)
        except Exception as err:
            # a template is contributor code: whatever fails in it (a refused attribute, an include outside
            # the folders, an undefined field, a filter's error) is reported by template file and line
            raise OnkobenchError(
                f"{self.where}: template {_short(ref)!r}, sample {sample_id}: {render_error(err, 'inline template')}"
            ) from None

    def reads_only_task_level(self, ref: str, in_example: bool) -> bool:
        """Whether the turn template ``ref`` (with everything it includes, imports or extends) gives the same text
        for every sample: it reads nothing but ``shots``, ``k``, deterministic globals and, in an example turn,
        ``shot``. Decided on the parse trees (``harness.template_reads``); anything it cannot see through
        counts as reading the sample."""
        key = (ref, in_example)
        if key not in self._independent:
            self._independent[key] = self._analyse(ref, in_example)
        return self._independent[key]

    def _analyse(self, ref: str, in_example: bool) -> bool:
        try:
            trees = [tree for _, _, tree in self._walk(refs=[ref]).values()]
        except OnkobenchError:
            return False  # rendering names the problem, sample by sample as before
        if any(None in meta.find_referenced_templates(tree) for tree in trees):
            return False  # a template name built at render time
        # an included template sees the includer's own names, so a name bound anywhere is never folded
        bound = set().union(*(assigned_names(tree) for tree in trees))
        defined = {name: value for name, value in {"sample": True, "shots": True, "k": True, "shot": in_example}.items()
                   if name not in bound}
        allowed = TASK_LEVEL | DETERMINISTIC_GLOBALS | ({"shot"} if in_example else set())
        try:
            return all(context_reads(fold_defined(tree, defined), self.env) <= allowed for tree in trees)
        except EverythingRead:
            return False

    def _turn_text(self, ref: str, context: dict[str, Any], sample_id: str, in_example: bool,
                   place: tuple[int, ...]) -> str:
        if not self.reads_only_task_level(ref, in_example):
            return self._render(ref, context, sample_id)
        if place not in self._fixed_turns:
            # rendered for the first sample that needs it: an error names that sample, as without the reuse
            self._fixed_turns[place] = self._render(ref, context, sample_id)
        return self._fixed_turns[place]

    def _expand(self, turns: Sequence[Turn], context: dict[str, Any], sample_id: str, in_example: bool = False,
                place: tuple[int, ...] = ()) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = []
        for number, turn in enumerate(turns):
            if turn.shots is not None:
                for shot_number, shot in enumerate(self.shots):
                    messages.extend(self._expand(turn.shots, {**context, "shot": shot}, sample_id, True,
                                                 (*place, number, shot_number)))
            else:
                assert turn.role is not None and turn.template is not None
                text = self._turn_text(turn.template, context, sample_id, in_example, (*place, number))
                messages.append({"role": turn.role, "content": text})
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
        where = f"{self.where}: {what}"
        try:
            compiled = self.env.compile_expression(expression, undefined_to_none=False)
        except jinja2.TemplateSyntaxError as err:
            raise OnkobenchError(f"{where}: invalid expression {expression!r}: {err.message}") from None
        try:
            return compiled(**self._context(sample))
        except Exception as err:  # contributor code, as in _render
            message = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
            raise OnkobenchError(f"{where}: sample {sample.id}: {message}") from None

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
        """Hash of every template source and example this variant uses (included templates too: an edit to
        a shared rules file changes the hash)."""
        # keyed as before the file/inline distinction (the name as written), so stored hashes stay valid
        sources = {key.removeprefix("file:"): source for key, (source, _, _) in self._walk().items()}
        return stable_hash({"templates": sources, "shots": self.shots})


def build_requests(
    task: Task, variant: Variant, samples: Sequence[Sample], config: ModelConfig, renderer: PromptRenderer | None = None,
    engine_version: str | None = None,
) -> list[Request]:
    """One Request per sample (or per query); deterministic for the same inputs.

    ``renderer``: the variant's renderer (with its prompt pack); default: the task folder's templates.
    ``engine_version``: the keys as a machine with that engine would make them (default: this machine's).
    A reasoning model's ``reasoning_budget`` adds new tokens for its trace on top of the answer budget.
    """
    renderer = renderer or PromptRenderer(task, variant)
    renderer.check()
    gen = task.generation_for(variant)
    sampling = Sampling(
        max_tokens=gen.max_tokens + (config.reasoning_budget or 0), temperature=gen.temperature, top_p=gen.top_p,
        seed=gen.seed, stop=gen.stop,
    )
    model_identity = config.identity(engine_version)
    kwargs = config.chat_template_kwargs_for_requests()
    adapter = config.adapter.name if config.adapter else None
    sampling_fields = asdict(sampling)  # what stable_hash would make of it, once instead of per request
    shot_ids = tuple(str(s["id"]) for s in renderer.shots)
    train = training_split(task) if config.runner_class.reads_training_split else None
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
                    **({"training_split": train.sha256} if train else {}),
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
                    training_split=str(train.path) if train else None,
                )
            )
    return requests

"""Task definitions: ``tasks/<family>/<task>.yaml`` -> Task, Variant; dataset rows -> Sample."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.config.io import REPO_ROOT, did_you_mean, read_yaml, read_yaml_mapping, validated
from harness.errors import OnkobenchError

TASKS_DIR_ENV = "ONKOBENCH_TASKS_DIR"
FAMILY_DEFAULTS_FILE = "_family.yaml"


def default_tasks_dir() -> Path:
    """``$ONKOBENCH_TASKS_DIR`` or the ``tasks/`` folder of this checkout."""
    env = os.environ.get(TASKS_DIR_ENV)
    return Path(env) if env else REPO_ROOT / "tasks"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HubSource(_Frozen):
    """A Hugging Face dataset loaded with ``datasets.load_dataset``."""

    repo: str
    split: str
    revision: str | None = None
    name: str | None = None
    reference_commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")
    """The commit of the data set (full id or its first 7+ hex digits) that published numbers of this task come
    from; a run on a copy known to be another commit, or a hub load whose commit cannot be told, warns."""


class DatasetSpec(_Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    path: str | None = None
    """Local file (.jsonl, .json, .parquet, .csv); relative paths start at the task's folder."""
    hub: HubSource | None = None
    id_field: str | None = None
    """Column holding the sample id; None means the row index (for data sets without an id column)."""
    required_columns: tuple[str, ...] = ()
    schema_: str | None = Field(default=None, alias="schema")
    """Registered row schema every row must fit (families register theirs)."""
    private: bool = False
    """Private data: outputs may quote it, so nothing per-sample is ever published."""
    synthetic: bool = False
    set_kind: str = ""
    """What the set measures, shown on its tables (e.g. "catalogue recall", "clinical variation")."""
    training_data: bool = False
    """In-distribution training data of fine-tuned models (e.g. ICDOPS-QA-2024): marked so in reports."""
    licence: str | None = None
    description: str = ""
    how_to_get: str = ""
    """Shown when the local file is missing (e.g. the command that builds it)."""
    columns: dict[str, str] = {}
    """Our field -> the source's column, for data sets whose layout is not ours (e.g. ``text: question``)."""
    keep_if: str | None = None
    """Jinja expression over a row; rows where it is false are left out (e.g. only ICD-10 questions)."""
    train: str | None = None
    """The task's training split: JSON Lines of ``id``, input fields and ``answer`` (the few-shot pool's layout),
    relative to the task folder; what a fine-tune may learn from, and what the runners that learn (the lookup
    baselines) read. Never a test item or few-shot example."""
    messages_column: str | None = None
    """A column of chat messages [{role, content}]: the first user turn becomes ``text``, the last
    assistant turn ``answer``."""

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetSpec":
        if self.path is None and self.hub is None:
            raise ValueError("needs 'path' or 'hub'")
        return self


class ShotSpec(_Frozen):
    pool: str
    """JSON Lines file of examples (``id``, input fields, ``answer``), relative to the task folder."""
    k: int = Field(ge=1)
    sampler: Literal["first_n", "random"] = "first_n"
    seed: int = 0
    where: dict[str, Any] = {}
    """Keep only pool rows whose fields equal these values (e.g. ``domain: uro``)."""
    draws: int = Field(default=1, ge=1)
    """With ``sampler: random``: this many seeded draws, each its own variant ``<name>@<i>`` (seed + i)."""


class GenerationSpec(_Frozen):
    max_tokens: int = Field(gt=0)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: tuple[str, ...] = ()


class ComponentSpec(_Frozen):
    """A registered parser or scorer by name, with its options."""

    name: str
    options: dict[str, Any] = {}


class Turn(_Frozen):
    """One chat turn: a role and a template (a ``.j2`` path or inline Jinja text), or a shot block."""

    role: Literal["system", "user", "assistant"] | None = None
    template: str | None = None
    shots: tuple["Turn", ...] | None = None
    """Turns repeated once per few-shot example, with ``shot`` in the template context."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        # `- user: prompts/q.j2` is the short form of `- {role: user, template: prompts/q.j2}`
        if isinstance(data, dict) and len(data) == 1:
            (key, value), = data.items()
            if key in ("system", "user", "assistant"):
                return {"role": key, "template": value}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> "Turn":
        if (self.shots is None) == (self.role is None or self.template is None):
            raise ValueError("a turn is either {role, template} or {shots: [...]}")
        return self


class QuerySpec(_Frozen):
    """Several queries per sample: one per element of a list, bound as ``item`` in the templates."""

    each: str
    """Jinja expression over ``sample`` giving the list (e.g. candidate dates near the diagnosis)."""


class Variant(_Frozen):
    name: str
    description: str = ""
    turns: tuple[Turn, ...]
    shots: ShotSpec | None = None
    generation: dict[str, Any] = {}
    """Overrides of the task's generation settings for this variant."""
    parser: ComponentSpec | None = None
    """Overrides the task's parser (e.g. yes/no answers of a verify variant)."""
    queries: QuerySpec | None = None
    aggregate: ComponentSpec | None = None
    """Combines the parsed answers of a sample's queries into its answer; needed with ``queries``."""
    skip_when_empty: str | None = None
    """Jinja expression over ``sample``; when it gives an empty value no query is sent (skipped by rule)."""
    skip_answer: str = ""
    """The answer recorded for a query skipped by rule (and for a sample with no ``queries`` items)."""
    upstream: dict[str, Any] = {}
    """Options for building this variant's samples from an earlier step's run."""
    structured_regex: str | None = None
    """Constrained decoding: the answer must match this regex (vLLM structured outputs); separates
    format errors from knowledge errors."""

    @model_validator(mode="after")
    def _consistent(self) -> "Variant":
        has_block = any(t.shots is not None for t in self.turns)
        if has_block != (self.shots is not None):
            raise ValueError("a 'shots' turn block and a 'shots' spec go together")
        if (self.queries is None) != (self.aggregate is None):
            raise ValueError("'queries' and 'aggregate' go together")
        return self


class UpstreamSpec(_Frozen):
    """A chained step: samples come from a run of ``task`` (or from gold labels) over the same data."""

    task: str
    expand: str
    """Registered builder: base samples + the upstream run's scored answers -> this step's samples."""
    gold: str
    """Registered builder of the same samples from gold labels (``--gold``)."""
    options: dict[str, Any] = {}


class Task(_Frozen):
    name: str
    version: int = 1
    description: str = ""
    dataset: DatasetSpec
    target: str
    """Jinja expression over a row's fields giving the gold answer, e.g. ``label | length > 0``."""
    answer_kind: str
    """What the model is asked for; baselines answer by it, scoring ignores it."""
    parser: ComponentSpec
    scorer: ComponentSpec
    metrics: tuple[str, ...]
    primary_metric: str
    generation: GenerationSpec
    variants: dict[str, Variant]
    upstream: UpstreamSpec | None = None
    folder: Path = Field(exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _name_variants(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("variants"), dict):
            data = dict(data)
            variants: dict[str, Any] = {}
            for name, spec in data["variants"].items():
                spec = dict(spec or {})
                shots = spec.get("shots")
                draws = shots.get("draws", 1) if isinstance(shots, dict) else 1
                if isinstance(draws, int) and draws > 1 and shots.get("sampler") == "random":
                    # several seeded draws of the examples, so that the spread across draws can be shown
                    for i in range(draws):
                        drawn = {**shots, "seed": int(shots.get("seed", 0)) + i, "draws": 1}
                        variants[f"{name}@{i}"] = {**spec, "name": f"{name}@{i}", "shots": drawn}
                else:
                    variants[str(name)] = {"name": str(name), **spec}
            data["variants"] = variants
        return data

    @model_validator(mode="after")
    def _primary_listed(self) -> "Task":
        if self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not in metrics")
        if not self.variants:
            raise ValueError("a task needs at least one variant")
        return self

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise OnkobenchError(
                f"task {self.name}: unknown variant {name!r} (known: {', '.join(self.variants)})"
            )
        return self.variants[name]

    def expand_variant(self, name: str) -> list[str]:
        """A variant name, or all seeded draws ``name@i`` of a random few-shot variant."""
        if name in self.variants:
            return [name]
        draws = [v for v in self.variants if v.startswith(f"{name}@")]
        if draws:
            return draws
        self.variant(name)  # raises the usual error
        return []

    def generation_for(self, variant: Variant) -> GenerationSpec:
        if not variant.generation:
            return self.generation
        merged = {**self.generation.model_dump(), **variant.generation}
        return validated(GenerationSpec, merged, f"{self.name} variant {variant.name}: generation")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_task_file(path: Path) -> Task:
    """Load one task YAML, merged over its family's ``_family.yaml`` defaults."""
    data = read_yaml_mapping(path, "a task file")
    defaults_path = path.parent / FAMILY_DEFAULTS_FILE
    if defaults_path.exists():
        defaults = read_yaml(defaults_path) or {}  # an empty defaults file sets nothing
        if not isinstance(defaults, dict):
            raise OnkobenchError(f"{defaults_path}: must be a YAML mapping")
        data = _deep_merge(defaults, data)
    return validated(Task, {**data, "folder": path.parent}, str(path))


def task_files(tasks_dir: Path | None = None) -> list[Path]:
    root = tasks_dir or default_tasks_dir()
    return sorted(p for p in root.glob("*/*.yaml") if not p.name.startswith("_"))


def load_all_tasks(tasks_dir: Path | None = None) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for path in task_files(tasks_dir):
        task = load_task_file(path)
        if task.name in tasks:
            raise OnkobenchError(f"{path}: task name {task.name!r} already defined")
        tasks[task.name] = task
    return tasks


def load_task(name_or_path: str, tasks_dir: Path | None = None) -> Task:
    """A task by name (``demo.tumour_detection``) or by the path of its YAML file."""
    if name_or_path.endswith((".yaml", ".yml")):
        return load_task_file(Path(name_or_path))
    tasks = load_all_tasks(tasks_dir)
    if name_or_path not in tasks:
        raise OnkobenchError(f"unknown task {name_or_path!r}{did_you_mean(name_or_path, list(tasks))} (see `onkobench tasks`)")
    return tasks[name_or_path]

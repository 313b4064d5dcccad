"""``onkobench publish``: run folders -> small result files for ``leaderboards/results/``.

A published result holds metrics, intervals, latency, tokens, hardware, the model config and its hash,
provenance, the primary metric's per-unit outcomes keyed by unit id (``units``: snippet by snippet for a per-snippet
metric, sample by sample otherwise, so paired tests can be recomputed) and the per-item outcomes (``items``: each
sample's parse status, cluster and scorer values) from which every published metric, interval and unit outcome is
recomputed exactly: metrics are pure functions of a ``ScoreTable`` and
bootstrap intervals are seeded. ``onkobench validate`` recomputes them and refuses any difference.
It never holds sample text or model output; for a private data set this is checked on the written
bytes against every stored output (near-quotes too: see ``check_no_text``), and publishing stops instead
of writing.

``PublishedResult`` is the schema of those files. It reads like a ``RunSummary`` (same field names,
``primary``, ``table_fingerprint``), so the report treats a published result and a local run alike.
"""

from __future__ import annotations

import html
import json
import math
import os
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.config.io import REPO_ROOT, error_lines, validated
from harness.config.tasks import default_tasks_dir
from harness.errors import OnkobenchError
from harness.store import (
    MetricEstimate, ModelSummary, PromptPackRecord, RunManifest, RunStore, RunSummary, find_run_folders, refuse_shard,
    table_fingerprint, write_json_atomic,
)

RESULT_KIND = "onkobench-result"
if TYPE_CHECKING:
    from harness.scoring.table import ScoreTable

RESULT_FORMAT = 4
"""Version of a published result file. 1: written field by field, read without a schema; 2: ``PublishedResult``
(the same fields, all required); 3: with ``items``, the per-item outcomes every metric is recomputed from;
4: ``units`` (the primary metric's per-unit outcomes) replaces the per-sample ``correct`` vector, which compared a
per-snippet metric query by query. A format-3 file still reads and validates: its units follow from its items
(``PublishedResult.paired_units``). A format-1 or 2 file still reads (``items`` None) for a local report, but its
numbers cannot be recomputed, so ``onkobench validate`` refuses it and the published site never shows it:
republish it from its run folder."""
MIN_TEXT_CHECK = 12
"""Outputs shorter than this (a code, "Nein") cannot quote a snippet; longer ones are searched for."""
FRAGMENT_CHARS = 32
"""A result sharing this many consecutive characters after ``normalised`` (whitespace is not counted) with an output
or sample text quotes it: any 40-character piece of ordinary prose (up to 8 spaces or line breaks) is caught."""
MAX_VALUE_CHARS = 64
"""A scorer value that is a string is a code, an outcome class or a date; a longer one would be text."""
MAX_ID_CHARS = 200
"""Sample ids and cluster ids (snippet ids) are short keys; under the 300-character text bound of ``validate``."""
MAX_RESULT_BYTES = 64 * 2**20
"""A result file larger than this is refused unread (about 150,000 items of the catalogue-aware scorers): no
leaderboard file is that large, and reading stops at a bound whatever the file claims to be."""
PROPORTION_METHODS = frozenset({"wilson", "clopper-pearson"})
"""Interval methods of a share: value and bounds lie in [0, 1]. (A bootstrap may estimate any statistic, such
as a mean distance, so its range is left to the recomputation.)"""


def read_bounded(path: Path, limit: int = MAX_RESULT_BYTES) -> bytes:
    """A plain file's bytes, at most ``limit`` of them; a symbolic link, a device, a pipe or a larger file is an
    error naming the file. The link is refused by the open itself (``O_NOFOLLOW``), so a link to /dev/zero is never
    read, and reading stops after ``limit`` bytes even if the file grows meanwhile."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    if path.is_symlink():
        raise OnkobenchError(f"{path}: a symbolic link; published results are plain files (links are never followed)")
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise OnkobenchError(f"{path}: cannot be read ({err.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OnkobenchError(f"{path}: not a plain file")
        if info.st_size > limit:
            raise OnkobenchError(f"{path}: {info.st_size} bytes, over the {limit}-byte bound of a result file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OnkobenchError(f"{path}: over the {limit}-byte bound of a result file")
    return data


def _plain_value(value: Any) -> bool:
    """A scorer value a metric may read: a flag, a number, a code-like string, or a list of those (gold codes)."""
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_VALUE_CHARS
    return isinstance(value, list) and all(not isinstance(v, list) and _plain_value(v) for v in value)


class ItemOutcome(BaseModel):
    """One item as the metrics read it: sample id, cluster (the snippet of several queries; None = the sample),
    parse status and the scorer's values. Never the sample's text, the model's output or the parsed answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(max_length=MAX_ID_CHARS)
    group: str | None = Field(max_length=MAX_ID_CHARS)
    status: str = Field(max_length=MAX_VALUE_CHARS)
    values: dict[str, Any]

    @field_validator("values", mode="before")
    @classmethod
    def _plain(cls, values: Any) -> Any:
        # checked on the raw values: a nested object or a long string is text or a trick, not a scorer column
        if isinstance(values, dict):
            for name, value in values.items():
                if len(name) > MAX_VALUE_CHARS or not _plain_value(value):
                    raise ValueError(f"{name[:MAX_VALUE_CHARS]}: not a scorer value (a flag, a number, a string of at "
                                     f"most {MAX_VALUE_CHARS} characters or a list of those)")
        return values

    @property
    def correct(self) -> int:
        return int(bool(self.values.get("correct")))


class PairedUnits(BaseModel):
    """The primary metric's per-unit outcomes (see ``harness.scoring.units``): the metric is the sum of the
    numerators over the sum of the denominators; what paired tests align across results by unit id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str = Field(max_length=MAX_VALUE_CHARS)
    unit: str = Field(max_length=MAX_VALUE_CHARS)
    """What one unit is: ``sample``, or a family's name for a group of samples (a snippet of several queries)."""
    if_empty: float | None
    """The metric when no unit is counted (None: undefined)."""
    outcomes: dict[str, tuple[float, float]]
    """Unit id -> (numerator, denominator), in table order: a share counts 1/1 (right), 0/1 (wrong) or 0/0 (a unit it
    leaves out, such as an unanswered sample of a share among answered ones)."""

    @field_validator("outcomes")
    @classmethod
    def _plain(cls, outcomes: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for unit, (numerator, denominator) in outcomes.items():
            if len(unit) > MAX_ID_CHARS:
                raise ValueError(f"unit id longer than {MAX_ID_CHARS} characters")
            if not (math.isfinite(numerator) and math.isfinite(denominator) and 0 <= numerator <= denominator):
                raise ValueError(f"{unit[:MAX_ID_CHARS]}: needs 0 <= numerator <= denominator, finite")
        return outcomes

    def value(self) -> float | None:
        """The metric these outcomes give (None: undefined)."""
        total = sum(denominator for _, denominator in self.outcomes.values())
        if total > 0:
            return sum(numerator for numerator, _ in self.outcomes.values()) / total
        return self.if_empty


def primary_units(items: Sequence[ItemOutcome], metric: str) -> PairedUnits | None:
    """The per-unit outcomes of ``metric`` on these items; None where the metric declares no units."""
    return _units_of(score_table(items), metric)


def _units_of(table: ScoreTable, metric: str) -> PairedUnits | None:
    from harness.scoring.metrics import unit_outcomes

    units = unit_outcomes(metric, table)
    if units is None:
        return None
    # built, not validated: the numbers come from a metric's own rule (a large run's units are many)
    return PairedUnits.model_construct(
        metric=metric, unit=units.unit, if_empty=None if math.isnan(units.if_empty) else units.if_empty,
        outcomes=dict(zip(units.ids, zip(units.numerator.tolist(), units.denominator.tolist()))),
    )


class Reproduction(BaseModel):
    """A maintainer's rerun of the same config compared with this result (``onkobench verify``; the rule is in
    ``harness.verification``). The only block a maintainer adds to a committed result; publishing again drops it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reproduced: bool
    """Agreement at least ``agreement_threshold`` and every submitted metric inside the rerun's 95% interval."""
    agreement: float = Field(ge=0.0, le=1.0)
    """Share of compared items whose per-item outcome is the same in the rerun (an item on one side only disagrees)."""
    agreement_threshold: float
    """The threshold this verification applied."""
    n_compared: int = Field(ge=0)
    """Items compared: the sample ids of the result and of the rerun together."""
    metric_differences: dict[str, float | None]
    """Per published metric: the rerun's value minus the submitted one (None where either is undefined)."""
    max_metric_difference: float = Field(ge=0.0)
    """The largest absolute difference above (0 when none is defined)."""
    metrics_outside_interval: list[str]
    """Published metrics whose submitted value lies outside the rerun's 95% interval (or is defined on one side only)."""
    result_digest: str
    """Hash of the result without this block when it was verified: a result changed afterwards loses the mark."""
    rerun_run_id: str
    rerun_commit: str | None
    """The onkobench commit the rerun ran on."""
    verified_at: str


SUMMARY_FIELDS = ("run_id", "task", "task_version", "family", "answer_kind", "variant", "primary_metric",
                  "metric_order", "metrics", "n_samples", "status_counts", "latency", "tokens", "model", "engine",
                  "hardware", "prompt_pack")
"""The fields a published result takes from the run's summary as they are (the rest is made public first)."""


class PublishedResult(BaseModel):
    """One ``leaderboards/results/**/*.json`` file: what a run may show publicly, and nothing else."""

    # populate_by_name: ``from_run`` sets ``config=``; files use the alias (validate_by_name needs pydantic 2.11)
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=(), populate_by_name=True)

    kind: Literal["onkobench-result"]
    format: Literal[4]
    run_id: str
    task: str
    task_version: int
    family: str
    answer_kind: str
    variant: str
    primary_metric: str
    metric_order: list[str]
    metrics: dict[str, MetricEstimate]
    n_samples: int = Field(ge=0)
    status_counts: dict[str, int]
    latency: dict[str, float | None]
    tokens: dict[str, float | None]
    model: ModelSummary
    config: dict[str, Any] = Field(alias="model_config")
    """The full model config of the run (``model_config`` in the file; that name is pydantic's own)."""
    model_config_hash: str
    engine: dict[str, Any]
    hardware: dict[str, Any]
    dataset: dict[str, Any]
    """As in the run's summary, with a local path shortened (see ``_public_dataset``)."""
    upstream: dict[str, Any] | None
    """For a chained step: the tag and run id it was built from and, where recorded, the lineage of upstream runs
    (task, variant, model config name; no local folder)."""
    prompt_pack: PromptPackRecord | None = None
    """The prompt pack the run's wording came from (name and content hash); None: the task's own wording."""
    provenance: dict[str, Any]
    units: PairedUnits | None
    """The primary metric's per-unit outcomes (what paired comparisons read; they follow from ``items``); None where the
    metric declares no units, and in a file of format 3 or older."""
    items: list[ItemOutcome] | None
    """Per-item outcomes in scoring order (bootstrap intervals depend on it); None only in a format-1/2 file."""
    correct: dict[str, int] | None = None
    """Formats 1-3 only: per-sample correctness (0 or 1) keyed by sample id, what verification compares for a
    format-1/2 file (it has no items). Not the unit of every primary metric, hence replaced by ``units``."""
    reproduction: Reproduction | None = None
    """Set by ``onkobench verify`` when a maintainer reran the config; None: self-reported."""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Format 1 had the fields of format 2; its readers tolerated an empty metric order (= the order of metrics).
        Neither has per-item outcomes: ``items`` None, which ``onkobench validate`` refuses as not recomputable.
        Formats 1-3 have no ``units`` (None; format 3's follow from its items, see ``paired_units``)."""
        if isinstance(data, dict) and data.get("format") in (1, 2, 3):
            data = {"items": None, "units": None, **data, "format": RESULT_FORMAT}
            if not data.get("metric_order") and isinstance(data.get("metrics"), dict):
                data["metric_order"] = list(data["metrics"])
        elif isinstance(data, dict) and "correct" in data:
            raise ValueError("correct: not a field of format 4 (the primary metric's per-unit outcomes, units, replace it)")
        return data

    @field_validator("correct", mode="before")
    @classmethod
    def _zero_or_one(cls, value: Any) -> Any:
        # checked on the raw values, so "1", 1.0 or 2 are refused instead of coerced; one line for the whole vector
        if isinstance(value, dict) and not all(isinstance(v, int) and v in (0, 1) for v in value.values()):
            raise ValueError("values must be 0 or 1")
        return value

    @classmethod
    def from_run(cls, summary: RunSummary, manifest: RunManifest, items: list[ItemOutcome]) -> PublishedResult:
        upstream = summary.upstream
        return cls(
            kind=RESULT_KIND,
            format=RESULT_FORMAT,
            **{name: getattr(summary, name) for name in SUMMARY_FIELDS},
            config=manifest.model,
            # recomputed from the stored config, so the hash always follows the current definition
            model_config_hash=_config_hash(manifest),
            dataset=_public_dataset(summary.dataset),
            upstream=_public_upstream(upstream),
            provenance={**summary.provenance, "packages": manifest.packages},
            units=primary_units(items, summary.primary_metric),
            items=items,
        )

    @property
    def primary(self) -> MetricEstimate:
        return self.metrics[self.primary_metric]

    def paired_units(self) -> PairedUnits | None:
        """The primary metric's per-unit outcomes: as published, or for a format-3 file from its items (None for a
        format-1/2 file: its per-sample ``correct`` vector is not the primary metric's unit in general)."""
        if self.units is not None or self.items is None:
            return self.units
        return primary_units(self.items, self.primary_metric)

    @property
    def table_fingerprint(self) -> str:
        return table_fingerprint(self.dataset)

    def to_json(self) -> dict[str, Any]:
        """The file's content (``model_config`` under its own name; no ``correct``, which format 4 replaced)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"correct"} if self.correct is None else None)

    def problems(self) -> list[str]:
        """What the file contradicts itself in, or numbers no run can have, one ``field: message`` each; the checks
        against the repository (config, task, recomputed metrics) are ``onkobench validate``'s."""
        return [*self._count_problems(), *self._number_problems(), *self._item_problems()]

    def _count_problems(self) -> list[str]:
        problems = []
        if len(set(self.metric_order)) != len(self.metric_order) or set(self.metric_order) != set(self.metrics):
            problems.append(f"metric_order: {self.metric_order} does not list the metrics {sorted(self.metrics)} once each")
        if self.primary_metric not in self.metrics:
            problems.append(f"primary_metric: {self.primary_metric!r} is not among the metrics")
        if self.correct is not None and len(self.correct) != self.n_samples:
            problems.append(f"correct: {len(self.correct)} items for n_samples {self.n_samples}")
        if any(count < 0 for count in self.status_counts.values()) or sum(self.status_counts.values()) != self.n_samples:
            problems.append(f"status_counts: do not add up to n_samples {self.n_samples}")
        return problems

    def _number_problems(self) -> list[str]:
        problems = []
        for name, estimate in self.metrics.items():
            numbers = [x for x in (estimate.value, estimate.lo, estimate.hi) if x is not None]
            if not all(math.isfinite(x) for x in numbers):
                problems.append(f"metrics.{name}: not a finite number")
            elif estimate.method in PROPORTION_METHODS and not all(0.0 <= x <= 1.0 for x in numbers):
                problems.append(f"metrics.{name}: a {estimate.method} share outside [0, 1]")
            elif estimate.lo is not None and estimate.hi is not None and estimate.lo > estimate.hi:
                problems.append(f"metrics.{name}: lo above hi")
            if not 0 <= estimate.n <= self.n_samples:
                problems.append(f"metrics.{name}.n: {estimate.n} outside 0..n_samples ({self.n_samples})")
        for field, numbers in (("latency", self.latency), ("tokens", self.tokens)):
            for key, x in numbers.items():
                if x is not None and not (math.isfinite(x) and x >= 0):
                    problems.append(f"{field}.{key}: {x} is not a finite number >= 0")
        return [*problems, *self._unit_problems()]

    def _unit_problems(self) -> list[str]:
        """The per-unit outcomes must be of the primary metric (whose value they give: ``recompute_problems``)."""
        if self.units is None:
            return []
        if self.units.metric != self.primary_metric:
            return [f"units.metric: {self.units.metric!r} is not the primary metric {self.primary_metric!r}"]
        if len(self.units.outcomes) > self.n_samples:
            return [f"units: {len(self.units.outcomes)} units for n_samples {self.n_samples}"]
        return []

    def _item_problems(self) -> list[str]:
        if self.items is None:
            return []  # a format-1/2 file: nothing to compare (validate refuses it as not recomputable)
        if len(self.items) != self.n_samples:
            return [f"items: {len(self.items)} items for n_samples {self.n_samples}"]
        problems = []
        repeated = [sample_id for sample_id, n in Counter(item.id for item in self.items).items() if n > 1]
        if repeated:
            problems.append(f"items: sample id {repeated[0]!r} more than once")
        if self.correct is not None and {item.id: item.correct for item in self.items} != self.correct:
            problems.append("correct: differs from the items' correct values")
        if dict(Counter(item.status for item in self.items)) != self.status_counts:
            problems.append("status_counts: differ from the items' statuses")
        return problems


ResultSummary = RunSummary | PublishedResult
"""What a leaderboard row shows: a local run's summary or a published result (both read the same)."""


def read_result(path: Path) -> PublishedResult | None:
    """The published result in a ``*.json`` file; None for any other JSON (or non-JSON) file.
    A file of the result kind that breaks the schema or contradicts itself is an error naming the file and field;
    a link or an oversized file is an error too (read with ``read_bounded``)."""
    try:
        data = json.loads(read_bounded(path))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond the decoder's depth
        return None
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        return None
    result: PublishedResult = validated(PublishedResult, data, str(path))
    problems = result.problems()
    if problems:
        raise OnkobenchError(f"{path}: {problems[0]}")
    return result


def score_table(items: Iterable[ItemOutcome]) -> ScoreTable:
    """The table the run's metrics were computed from, rebuilt from the published per-item outcomes."""
    from harness.scoring.table import ScoreTable

    table = ScoreTable()
    for item in items:
        table.add(item.id, item.group, item.status, dict(item.values))
    return table


def recompute_problems(result: PublishedResult, metric_names: Sequence[str]) -> list[str]:
    """Every metric of ``metric_names`` recomputed from ``result.items`` and compared with the published one, field by
    field (intervals included: bootstrap draws are seeded), then the per-unit outcomes (``units``) against the items
    and the primary metric; one ``field: message`` per difference."""
    if result.items is None:
        return [f"items: none (a format-1 or 2 result): its metrics cannot be recomputed; republish it from its run "
                f"folder with onkobench publish"]
    from harness.scoring.metrics import METRICS

    table = score_table(result.items)
    problems = []
    for name in metric_names:
        published = result.metrics.get(name)
        if published is None:
            problems.append(f"metrics.{name}: missing")
            continue
        try:
            recomputed = METRICS.get(name)(table).to_dict()
        except OnkobenchError as err:
            problems.append(f"metrics.{name}: {err}")
            continue
        except Exception as err:  # noqa: BLE001 - a metric's own code on hostile per-item values: refuse, never crash
            problems.append(f"metrics.{name}: cannot be recomputed from the items ({type(err).__name__}: {err})")
            continue
        shown = published.model_dump()
        differing = [field for field in shown if shown[field] != recomputed.get(field)]
        if differing:
            problems.append(f"metrics.{name}: {', '.join(differing)} {[shown[f] for f in differing]} differ from the "
                            f"items, which give {[recomputed.get(f) for f in differing]}")
    return [*problems, *_units_problems(result)]


def _primary_from_units(result: PublishedResult) -> list[str]:
    """The primary metric recomputed from the published per-unit outcomes (sum of numerators over denominators)."""
    if result.units is None or result.primary_metric not in result.metrics:
        return []
    value, published = result.units.value(), result.primary.value
    if (value is None) != (published is None) or (value is not None and round(value, 6) != published):
        return [f"units: give {result.primary_metric} {value if value is None else round(value, 6)}, not the "
                f"published {published}"]
    return []


def _units_problems(result: PublishedResult) -> list[str]:
    """The published per-unit outcomes: they give the published primary metric, and the items give them (a
    format-3 file has none to compare: its units are derived from its items)."""
    if result.units is None and result.correct is not None:
        return []
    return [*_primary_from_units(result), *_units_from_items(result)]


def _units_from_items(result: PublishedResult) -> list[str]:
    try:
        recomputed = primary_units(result.items or [], result.primary_metric)
    except OnkobenchError as err:
        return [f"units: {err}"]
    except Exception as err:  # noqa: BLE001 - a metric's own code on hostile per-item values: refuse, never crash
        return [f"units: cannot be recomputed from the items ({type(err).__name__}: {err})"]
    if recomputed == result.units:
        return []
    if recomputed is None or result.units is None:
        return [f"units: {'none' if result.units is None else 'published'}, but the primary metric "
                f"{result.primary_metric} {'declares' if recomputed is not None else 'declares no'} per-unit outcomes"]
    differing = [unit for unit in recomputed.outcomes.keys() | result.units.outcomes.keys()
                 if recomputed.outcomes.get(unit) != result.units.outcomes.get(unit)]
    if not differing:  # the same outcomes: the unit's name or the value of an empty metric differs
        return [f"units: unit {result.units.unit!r} or if_empty {result.units.if_empty} differ from the items, which "
                f"give {recomputed.unit!r}, {recomputed.if_empty}"]
    first = min(differing)
    return [f"units: {len(differing)} unit outcomes differ from the items (first: {first!r}: "
            f"{result.units.outcomes.get(first)} published, {recomputed.outcomes.get(first)} from the items)"]


def run_units(folder: Path) -> PairedUnits | None:
    """A local run's per-unit outcomes of its primary metric, from its scores (what the report pairs runs on); read
    straight into a column table, as scoring does, so a large run costs no per-item objects."""
    from harness.scoring.table import ScoreTable

    store = RunStore(folder)
    table = ScoreTable()
    for number, row in enumerate(store.iter_scores(), start=1):
        if not isinstance(row, dict) or "sample_id" not in row or not isinstance(row.get("values") or {}, dict):
            raise OnkobenchError(f"{store.scores_path}: line {number}: not a score row (rescore the run)")
        table.add(str(row["sample_id"]), row.get("group"), str(row.get("status")), row.get("values") or {})
    return _units_of(table, store.read_summary().primary_metric)


def _stored_texts(folder: Path) -> set[str]:
    texts: set[str] = set()
    for row in RunStore(folder).iter_responses():
        for field in ("text", "reasoning", "raw_text"):
            value = row.get(field)
            if isinstance(value, str) and len(value.strip()) >= MIN_TEXT_CHECK:
                texts.add(value.strip())
    return texts


def _config_hash(manifest: RunManifest) -> str:
    from harness.config.models import ModelConfig

    try:
        return ModelConfig.model_validate(manifest.model).config_hash()
    except ValueError:
        return manifest.model_config_hash  # a config from an older schema: keep what the run recorded


def _public_upstream(upstream: dict[str, Any] | None) -> dict[str, Any] | None:
    """The chain as published: tag, run id and lineage (which upstream runs, for matching published studies' chains),
    never the local folder."""
    if not upstream:
        return None
    public = {"tag": upstream.get("tag"), "run_id": upstream.get("run_id")}
    if isinstance(upstream.get("lineage"), list):
        public["lineage"] = upstream["lineage"]
    return public


def _public_dataset(dataset: dict[str, Any]) -> dict[str, Any]:
    """The data set as published: a path inside the checkout or the tasks folder (``$ONKOBENCH_TASKS_DIR``) as
    ``tasks/...`` relative to it, any other local path cut to its file name (the rest says nothing another machine
    can use and may name a person)."""
    public = dict(dataset)
    source = str(public.get("source", ""))
    if source and not source.startswith("hf://"):
        path = Path(source)
        tasks = default_tasks_dir().resolve()
        if path.is_relative_to(REPO_ROOT):
            public["source"] = str(path.relative_to(REPO_ROOT))  # data shipped with onkobench
        elif path.is_relative_to(tasks):
            public["source"] = str(Path("tasks") / path.relative_to(tasks))
        else:
            public["source"] = path.name
    return public


def _item(row: Any, where: str) -> ItemOutcome:
    """A score row's per-item outcome (its answer, target and reason stay behind)."""
    if not isinstance(row, dict) or "sample_id" not in row or not isinstance(row.get("values", {}), dict):
        raise OnkobenchError(f"{where}: not a score row (rescore the run)")
    try:
        return ItemOutcome(id=str(row["sample_id"]), group=row.get("group"), status=row.get("status"),
                           values=row.get("values") or {})
    except ValidationError as err:
        raise OnkobenchError(error_lines(err, where)[0]) from None


def stored_items(store: RunStore) -> list[ItemOutcome]:
    """The run's per-item outcomes in scoring order; a broken line (a file cut inside a character too) names it."""
    items: list[ItemOutcome] = []
    try:
        for number, row in enumerate(store.iter_scores(), start=1):
            items.append(_item(row, f"{store.scores_path}: line {number}"))
    except UnicodeDecodeError:  # decoded in blocks: the broken line cannot be told, only the file
        raise OnkobenchError(f"{store.scores_path}: not UTF-8 (a file cut inside a character?); rescore the run") from None
    return items


def published_result(folder: Path) -> PublishedResult:
    """The publishable result of one run folder."""
    store = RunStore(folder)
    summary, manifest = store.read_summary(), store.read_manifest()
    refuse_shard(manifest.shard or summary.shard, folder, "publish (and verify)")
    items = stored_items(store)
    try:
        return PublishedResult.from_run(summary, manifest, items)
    except ValidationError as err:
        raise OnkobenchError(error_lines(err, str(folder))[0]) from None


def published_strings(result: PublishedResult) -> set[str]:
    """The strings a result publishes by design: sample and cluster ids and the scorers' code-like values. An
    output or sample field equal to one of them (a code answered, an id column) is no quote of text."""
    strings = {s for item in result.items or () for s in (item.id, item.group) if s is not None}
    for item in result.items or ():
        for value in item.values.values():
            strings.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    return strings


def check_consistent(result: PublishedResult, where: str) -> None:
    """Refuse to publish a run whose scores do not give its summary (a cut or edited scores file, an old summary)."""
    problems = [*result.problems(), *recompute_problems(result, result.metric_order)]
    if problems:
        raise OnkobenchError(f"{where}: refusing to publish: {problems[0]} (its scores and summary disagree: rescore it)")


def normalised(text: str) -> str:
    """Text as compared for quotes: HTML entities decoded, Unicode NFKC, case folded, whitespace removed. A quote
    re-spaced, re-cased, escaped for HTML or written with compatibility characters (full-width letters, ligatures)
    is still the quote. NFKC follows each step: folding or removing a space may leave a composable sequence."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", html.unescape(text)).casefold())
    # NFKC once more without the whitespace: a mark that followed a space may now compose with the letter before it
    return unicodedata.normalize("NFKC", "".join(folded.split()))


def _json_strings(value: Any) -> Iterator[str]:
    """Every key and string of parsed JSON, without recursion (a deep file cannot exhaust the stack)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield from (str(key) for key in current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, str):
            yield current


def _windows(strings: Iterable[str], width: int) -> set[str]:
    return {s[i:i + width] for s in strings for i in range(len(s) - width + 1)}


def _shares_fragment(text: str, pieces: set[str], fragments: set[str]) -> bool:
    """Whether ``text`` has a ``FRAGMENT_CHARS``-long piece in ``fragments``. Such a piece covers a half-length
    piece of the text starting at a multiple of the half length, so only those are looked up in ``pieces`` (every
    half-length piece of the payload) first: a twentieth of the lookups of trying every offset."""
    half = FRAGMENT_CHARS // 2
    for start in range(0, len(text) - half + 1, half):
        if text[start:start + half] in pieces:
            for begin in range(max(0, start - half), min(start, len(text) - FRAGMENT_CHARS) + 1):
                if text[begin:begin + FRAGMENT_CHARS] in fragments:
                    return True
    return False


def check_no_text(payload: str, texts: Iterable[str], where: str) -> None:
    """Refuse a JSON payload that quotes any of ``texts`` (outputs or sample texts): as written, JSON-escaped, or as
    a near-quote: the whole text or any ``FRAGMENT_CHARS``-character piece of it after ``normalised``, in any
    key or string of the payload."""
    refusal = OnkobenchError(f"{where}: refusing to publish: it would contain model output or sample text")
    try:
        strings = [normalised(s) for s in _json_strings(json.loads(payload))]
    except (ValueError, RecursionError):
        strings = [normalised(payload)]
    joined = "\x00".join(strings)
    long = [s for s in strings if len(s) >= FRAGMENT_CHARS]
    pieces, fragments = _windows(long, FRAGMENT_CHARS // 2), _windows(long, FRAGMENT_CHARS)
    for text in texts:
        # as written in the JSON too, where quotes and newlines are escaped
        if text in payload or json.dumps(text, ensure_ascii=False)[1:-1] in payload:
            raise refusal
        near = normalised(text)
        if len(near) >= FRAGMENT_CHARS and _shares_fragment(near, pieces, fragments):
            raise refusal
        if MIN_TEXT_CHECK <= len(near) < FRAGMENT_CHARS and near in joined:
            raise refusal


def publish_runs(run_paths: list[Path], out_dir: Path) -> list[Path]:
    written = []
    for folder in find_run_folders(run_paths):
        result = published_result(folder)
        check_consistent(result, str(folder))
        content = result.to_json()
        if result.dataset.get("private"):
            texts = _stored_texts(folder) - published_strings(result)
            check_no_text(json.dumps(content, ensure_ascii=False, sort_keys=True), texts, str(folder))
        target = out_dir / f"{result.run_id}.json"
        write_json_atomic(target, content)
        written.append(target)
    return written

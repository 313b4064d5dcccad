"""Rows -> samples: a task's dataset rows from local files (JSONL, JSON, Parquet, CSV) or a Hugging Face
dataset, checked against a registered row schema, turned into Samples with their gold targets."""

from __future__ import annotations

import json
import re
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, partial
from operator import itemgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.gc_pacing import collector_paused, paced_collector
from harness.errors import DataRevisionWarning, OnkobenchError
from harness.jsonl import quick_loads, quick_loads_many
from harness.records import file_sha256, stable_hash_of_rows
from harness.catalogues.codes import first_icd10_code
from harness.config.tasks import Task
from harness.registry import Registry

LOCAL_FORMATS = (".jsonl", ".json", ".parquet", ".csv")


@dataclass(slots=True)
class Sample:
    """One item of a task's data: its id, its fields and its gold answer.

    Not a frozen dataclass, although nothing changes a sample once built: a frozen one's ``__init__`` sets each field
    through ``object.__setattr__``, which made building 500,000 samples take 0.47 s instead of 0.17 s."""

    id: str
    fields: dict[str, Any]
    target: Any
    group: str | None = None
    """The unit this sample belongs to (the snippet of a step-2 query); None = itself."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields a chained step added to the row (e.g. the diagnosis found in step 1); also in ``fields``."""


TARGET_FILTERS = {"icd10gm_code": first_icd10_code}
"""Filters for ``target`` and ``keep_if`` expressions, e.g. ``answer | icd10gm_code``."""


_JINJA_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})


class _TargetExpression:
    """The task's ``target`` Jinja expression, compiled once."""

    def __init__(self, source: str, where: str) -> None:
        from jinja2 import StrictUndefined, TemplateSyntaxError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
        env.filters.update(TARGET_FILTERS)
        try:
            self._expr = env.compile_expression(source, undefined_to_none=False)
        except TemplateSyntaxError as err:
            raise OnkobenchError(f"{where}: target: invalid expression {source!r}: {err.message}") from None
        self.source = source
        self.where = where
        # a bare column name (the usual target) is looked up directly: same result, no template context per row
        self.column = source.strip() if source.strip().isidentifier() and source.strip() not in _JINJA_LITERALS else None

    def __call__(self, row: dict[str, Any], source_label: str, index: int | None = None) -> Any:
        """The expression's value on ``row``; an error names the row: ``source_label`` (and ``index``: "row N" of it)."""
        if self.column is not None:
            if self.column not in row:
                raise OnkobenchError(f"{_row_label(source_label, index)}: target {self.source!r}: '{self.column}' is undefined")
            return row[self.column]

        from jinja2 import UndefinedError

        try:
            return self._expr(**row)
        except UndefinedError as err:
            raise OnkobenchError(f"{_row_label(source_label, index)}: target {self.source!r}: {err.message}") from None


def _row_label(source_label: str, index: int | None) -> str:
    return source_label if index is None else f"{source_label}: row {index}"


def build_samples(task: Task, rows: list[dict[str, Any]], source_label: str) -> list[Sample]:
    """Turn dataset rows into Samples: id, fields, target; errors name the row."""
    target = _TargetExpression(task.target, task.name)
    keep = _TargetExpression(task.dataset.keep_if, task.name) if task.dataset.keep_if else None
    if keep is None and target.column is not None and task.dataset.id_field is not None:
        samples = _samples_by_column(rows, task.dataset.id_field, target.column, task.dataset.required_columns)
        if samples is not None:
            return samples
    required_columns = task.dataset.required_columns
    required = frozenset(required_columns)
    id_field = task.dataset.id_field
    column = target.column
    samples: list[Sample] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if keep is not None and not keep(row, source_label, index):
            continue
        if not row.keys() >= required:
            missing = [c for c in required_columns if c not in row]
            raise OnkobenchError(f"{_row_label(source_label, index)}: missing column(s) {', '.join(missing)}")
        if id_field is None:
            sample_id = str(index)
        else:
            raw_id = row.get(id_field)
            if raw_id in (None, ""):
                raise OnkobenchError(f"{_row_label(source_label, index)}: empty id column {id_field!r}")
            sample_id = raw_id if type(raw_id) is str else str(raw_id)
        if sample_id in seen:
            raise OnkobenchError(f"{_row_label(source_label, index)}: duplicate sample id {sample_id!r}")
        seen.add(sample_id)
        # a target naming a column is that column's value (the expression's own error where it is absent)
        gold = row[column] if column is not None and column in row else target(row, source_label, index)
        samples.append(Sample(sample_id, row, gold))  # rows are fresh: no copy
    return samples


def _samples_by_column(rows: list[dict[str, Any]], id_field: str, target_column: str,
                       required_columns: tuple[str, ...]) -> list[Sample] | None:
    """``build_samples`` for the usual data set (an id column, a target column, no filter), a column at a time; None
    when any row would raise (a column missing, an empty or repeated id): the row-by-row path then names it."""
    try:
        ids = list(map(itemgetter(id_field), rows))
        golds = list(map(itemgetter(target_column), rows))
        if required_columns:
            deque(map(itemgetter(*required_columns), rows), maxlen=0)
    except (KeyError, TypeError):
        return None
    if set(map(type, ids)) != {str} or "" in ids or len(set(ids)) != len(ids):
        return None  # ids of other types are turned into strings, and errors named, row by row
    return list(map(Sample, ids, rows, golds))  # rows are fresh: no copy


@dataclass(frozen=True)
class TaskData:
    """A task's samples plus where they came from."""

    samples: list[Sample]
    source: str
    fingerprint: str
    chain: dict[str, Any] | None = None
    """For a chained step: where its samples came from (``tag``, ``run_id``, ``folder``, or gold)."""
    revision: str | None = None
    """The data set commit that was loaded, where it can be told (a hub load, or a copy in the hub's cache)."""
    revision_warning: str | None = None
    """Why the data may not be the commit the task's published numbers come from (``reference_commit``)."""

    @cached_property
    def by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}


ROW_SCHEMAS: Registry[type[BaseModel]] = Registry("row schema")
"""Row schemas of known data sets (registered by families): a row that does not fit names the row and field."""


def validate_rows(schema: str, rows: list[dict[str, Any]], source: str) -> None:
    model = ROW_SCHEMAS.get(schema)
    for index, row in enumerate(rows):
        try:
            model.model_validate(row)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(row)"
            raise OnkobenchError(f"{source}: row {index}: {loc}: {first['msg']}") from None


def iter_jsonl(path: Path, start: int = 0, lines_before: int = 0) -> Iterator[dict[str, Any]]:
    """JSON Lines of objects, one at a time; an error names the file and line (bad UTF-8 too: lines are split as
    bytes and decoded one by one, so the error names the line, not an offset inside a read buffer). ``start``: the
    byte to read from (the start of a line), after ``lines_before`` lines (which count in the line numbers)."""
    try:
        with path.open("rb") as handle:
            if start:
                handle.seek(start)  # only then: a pipe cannot seek
            number = lines_before
            for lines in iter(partial(handle.readlines, _BATCH_BYTES), []):
                rows = quick_loads_many(lines)
                if rows is not None and set(map(type, rows)) <= {dict}:
                    yield from rows
                    number += len(lines)
                    continue
                for raw in lines:  # a line orjson leaves to the stdlib, a blank line, or an error to name
                    number += 1
                    row = _jsonl_row(path, number, raw)
                    if row is not None:
                        yield row
    except FileNotFoundError:
        raise OnkobenchError(f"{path}: file not found") from None


_BATCH_BYTES = 1 << 20
"""Lines read and decoded together: about a megabyte of them."""


def _jsonl_row(path: Path, number: int, raw: bytes) -> dict[str, Any] | None:
    """Line ``number`` as an object; None for a blank line; an error naming the line for anything else."""
    row = quick_loads(raw)
    if type(row) is dict:
        return row
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise OnkobenchError(f"{path}: not UTF-8 in line {number} ({err.reason} at byte {err.start} of the line)") from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise OnkobenchError(f"{path}: line {number}: invalid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise OnkobenchError(f"{path}: line {number}: expected a JSON object")
    return row


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON Lines of objects; an error names the file and line."""
    return list(iter_jsonl(path))


def read_local_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise OnkobenchError(f"{path}: dataset file not found")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise OnkobenchError(f"{path}: invalid JSON ({err})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise OnkobenchError(f"{path}: expected a JSON array of objects")
        return data
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            # to_pylist keeps nested lists/structs as plain Python (pandas would give numpy arrays)
            return pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several unrelated types for a bad file
            raise OnkobenchError(f"{path}: not a readable Parquet file ({err})") from None
    if suffix == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError) as err:
            raise OnkobenchError(f"{path}: not a readable UTF-8 CSV file ({err})") from None
        return frame.to_dict(orient="records")
    raise OnkobenchError(f"{path}: unsupported dataset format {suffix!r} (use {', '.join(LOCAL_FORMATS)})")


_COMMIT = re.compile(r"[0-9a-f]{40}")


def commit_in_path(path: str | Path) -> str | None:
    """The data set commit a file path names, if any: the hub's cache keeps a download under ``snapshots/<commit>/``
    and ``datasets`` its prepared copy under ``.../<version>/<commit>/`` (the nearest such folder wins). The
    ``datasets`` library keeps no other record of the commit it resolved a revision such as ``main`` to."""
    for part in reversed(Path(path).parts):
        if _COMMIT.fullmatch(part):
            return part
    return None


def _revision_warning(task: Task, commit: str | None, from_hub: bool) -> str | None:
    """A warning when the data is not known to be the commit the task's published numbers come from; a local copy
    whose commit cannot be told is recorded as unknown without a warning (most copies are plain files)."""
    hub = task.dataset.hub
    reference = hub.reference_commit if hub else None
    if reference is None:
        return None
    # no task name: the steps of a chained protocol share the data set, so a suite warns once
    published = "the commit its published numbers come from"
    if commit is None:
        if not from_hub:
            return None
        return f"{hub.repo}: cannot tell which commit revision {hub.revision or 'main'} loaded; {published} is {reference}"
    if not commit.startswith(reference):
        return f"{hub.repo}: loaded commit {commit[:12]}, not {reference} ({published}); results may differ from them"
    return None


def read_hub_rows(task: Task) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of the task's Hugging Face dataset and the commit they came from (None if it cannot be told); respects
    the offline cache (HF_DATASETS_OFFLINE)."""
    hub = task.dataset.hub
    assert hub is not None
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - datasets is a core dependency
        raise OnkobenchError("reading a hub dataset needs the 'datasets' package") from err
    try:
        data = datasets.load_dataset(hub.repo, hub.name, split=hub.split, revision=hub.revision)
    except Exception as err:  # the hub client raises many types: gated, offline, missing
        raise OnkobenchError(
            f"{task.name}: could not load dataset {hub.repo} (split {hub.split}, revision {hub.revision}): "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}. "
            "If it is gated, accept its terms and log in (huggingface-cli login); "
            "or pass a local copy with --data PATH"
        ) from None
    files = [entry.get("filename", "") for entry in getattr(data, "cache_files", None) or []]
    commits = {commit_in_path(name) for name in files} - {None}
    return [dict(row) for row in data], next(iter(commits)) if len(commits) == 1 else None


def _message_text(messages: Any, role: str, last: bool) -> str | None:
    turns = [m for m in messages if isinstance(m, dict) and m.get("role") == role]
    if not turns:
        return None
    return str((turns[-1] if last else turns[0]).get("content", ""))


def map_columns(task: Task, rows: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Rename a foreign layout into the task's fields; an error lists the columns that were found."""
    spec = task.dataset
    if not spec.columns and spec.messages_column is None:
        return rows
    found = ", ".join(sorted(rows[0]))
    wanted = [*spec.columns.values(), *([spec.messages_column] if spec.messages_column else [])]
    absent = [c for c in wanted if c not in rows[0]]
    if absent:
        raise OnkobenchError(
            f"{source}: column(s) {', '.join(absent)} named in {task.name}'s dataset mapping are missing; "
            f"the data has: {found}"
        )
    mapped = []
    for index, row in enumerate(rows):
        new = {ours: row.get(theirs) for ours, theirs in spec.columns.items()}
        if spec.messages_column:
            messages = row.get(spec.messages_column)
            if not isinstance(messages, list):
                raise OnkobenchError(f"{source}: row {index}: {spec.messages_column!r} is not a list of messages")
            new.setdefault("text", _message_text(messages, "user", last=False))
            new.setdefault("answer", _message_text(messages, "assistant", last=True))
        mapped.append(new)
    return mapped


def resolve_data_path(task: Task, override: str | Path | None) -> Path | None:
    if override is not None:
        return Path(override).expanduser()
    if task.dataset.path is None:
        return None
    from harness.config.io import confined_path

    return confined_path(task.folder, task.dataset.path, f"{task.name}: dataset.path")


@dataclass(frozen=True)
class TrainingSplit:
    """A task's training split as a runner that learns may read it: the file and its content hash."""

    path: Path
    sha256: str


def training_split(task: Task, required: bool = True) -> TrainingSplit | None:
    """The task's ``dataset.train`` file (confined to the task's folder), or None when the task declares none
    (or, unless ``required``, when the file is not built: a runner that does not learn runs without it)."""
    if task.dataset.train is None:
        return None
    from harness.config.io import confined_path

    path = confined_path(task.folder, task.dataset.train, f"{task.name}: dataset.train")
    if not path.is_file():
        if not required:
            return None
        hint = f"; build it with: {task.dataset.how_to_get}" if task.dataset.how_to_get else ""
        raise OnkobenchError(f"{path}: training split of {task.name} not found{hint}")
    return TrainingSplit(path, file_sha256(path))


@paced_collector()
def load_task_data(task: Task, data_path: str | Path | None = None) -> TaskData:
    """The task's samples, from ``data_path`` if given, else from the task's own dataset spec."""
    path = resolve_data_path(task, data_path)
    if path is not None:
        if not path.exists() and task.dataset.how_to_get and data_path is None:
            raise OnkobenchError(f"{path}: dataset file not found; build it with: {task.dataset.how_to_get}")
        with collector_paused():  # JSON, CSV or Parquet rows: trees of plain values
            rows = read_local_rows(path)
        source = str(path)
        commit = commit_in_path(path.absolute())  # not resolved: the hub cache links snapshots to content-named blobs
    else:
        rows, commit = read_hub_rows(task)
        hub = task.dataset.hub
        source = f"hf://{hub.repo}@{hub.revision or 'main'}/{hub.split}"  # type: ignore[union-attr]
    warning = _revision_warning(task, commit, from_hub=path is None)
    if warning:
        warnings.warn(warning, DataRevisionWarning, stacklevel=2)
    if not rows:
        raise OnkobenchError(f"{source}: the dataset has no rows")
    with collector_paused():
        rows = map_columns(task, rows, source)
    if task.dataset.schema_:
        validate_rows(task.dataset.schema_, rows, source)
    with collector_paused():  # samples refer to their rows; the fingerprint's JSON is bytes
        samples = build_samples(task, rows, source)
        fingerprint = stable_hash_of_rows(rows, length=32)
    return TaskData(samples=samples, source=source, fingerprint=fingerprint, revision=commit, revision_warning=warning)

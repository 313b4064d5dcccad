"""Read a task's dataset rows: local files (JSONL, JSON, Parquet, CSV) or a Hugging Face dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.records import stable_hash_of_rows
from harness.tasks import Task, TaskData, build_samples

LOCAL_FORMATS = (".jsonl", ".json", ".parquet", ".csv")


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """JSON Lines of objects, one at a time; an error names the file and line."""
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise OnkobenchError(f"{path}: line {number}: invalid JSON ({err.msg})") from None
                if not isinstance(row, dict):
                    raise OnkobenchError(f"{path}: line {number}: expected a JSON object")
                yield row
    except FileNotFoundError:
        raise OnkobenchError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise OnkobenchError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None


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


def read_hub_rows(task: Task) -> list[dict[str, Any]]:
    """Rows of the task's Hugging Face dataset; respects the offline cache (HF_DATASETS_OFFLINE)."""
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
    return [dict(row) for row in data]


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
    from harness.paths import confined_path

    return confined_path(task.folder, task.dataset.path, f"{task.name}: dataset.path")


def load_task_data(task: Task, data_path: str | Path | None = None) -> TaskData:
    """The task's samples, from ``data_path`` if given, else from the task's own dataset spec."""
    path = resolve_data_path(task, data_path)
    if path is not None:
        if not path.exists() and task.dataset.how_to_get and data_path is None:
            raise OnkobenchError(f"{path}: dataset file not found; build it with: {task.dataset.how_to_get}")
        rows = read_local_rows(path)
        source = str(path)
    else:
        rows = read_hub_rows(task)
        hub = task.dataset.hub
        source = f"hf://{hub.repo}@{hub.revision or 'main'}/{hub.split}"  # type: ignore[union-attr]
    if not rows:
        raise OnkobenchError(f"{source}: the dataset has no rows")
    rows = map_columns(task, rows, source)
    if task.dataset.schema_:
        from harness.schemas import validate_rows

        validate_rows(task.dataset.schema_, rows, source)
    samples = build_samples(task, rows, source)
    return TaskData(samples=samples, source=source, fingerprint=stable_hash_of_rows(rows, length=32))

"""lm-eval sample logs (``samples_<task>_<date>.jsonl`` from ``--log_samples``) -> onkobench output records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.data import iter_jsonl
from harness.errors import OnkobenchError
from harness.lmeval.bridge import INDEX_FIELD, LmEvalBridge


def _generation(row: dict[str, Any], where: str) -> str:
    """The raw generation: ``resps`` is one list per request, each with the model's text (before lm-eval's filters)."""
    resps = row.get("resps")
    first = resps[0] if isinstance(resps, list) and resps else None
    text = first[0] if isinstance(first, list) and first else first
    if not isinstance(text, str):
        raise OnkobenchError(f"{where}: 'resps' holds no generated text (is this a generate_until task's log?)")
    return text


def iter_lmeval_records(path: Path, bridge: LmEvalBridge) -> Iterator[dict[str, Any]]:
    """``{"id", "output"}`` per logged doc, the id found the way the task finds it (id column or row number)."""
    for number, row in enumerate(iter_jsonl(path), start=1):
        where = f"{path}: line {number}"
        doc = row.get("doc")
        if not isinstance(doc, dict):
            raise OnkobenchError(f"{where}: no 'doc' object (not an lm-eval samples file?)")
        if bridge.task.dataset.id_field is None and INDEX_FIELD not in doc:
            raise OnkobenchError(f"{where}: the doc has no {INDEX_FIELD!r}; log the task exported by onkobench")
        sample = bridge.sample(doc)
        if sample is None:
            raise OnkobenchError(f"{where}: the task's keep_if drops this doc")
        yield {"id": sample.id, "output": _generation(row, where)}

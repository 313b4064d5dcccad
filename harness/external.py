"""Scoring outputs produced elsewhere: a JSON Lines file of sample ids and model texts -> a run folder."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.chains import EXPANDERS
from harness.datasources import read_jsonl
from harness.errors import OnkobenchError
from harness.evaluation import RunOutcome, build_manifest, run_id_for, scored_row
from harness.models import ModelConfig
from harness.provenance import utc_now
from harness.records import stable_hash
from harness.scoring import ModelOutput, score_samples
from harness.store import RunStore, write_jsonl_atomic
from harness.summary import summarize
from harness.tasks import Task, TaskData

EXTERNAL_VARIANT = "external"


def read_output_records(path: Path, known_ids: set[str], required: tuple[str, ...]) -> list[dict[str, Any]]:
    """Records with ``id``, ``output`` and the ``required`` keys; errors name the record."""
    records = []
    for number, row in enumerate(read_jsonl(path), start=1):
        missing = [key for key in ("id", "output", *required) if key not in row]
        if missing:
            raise OnkobenchError(f"{path}: record {number}: needs key(s) {', '.join(missing)}")
        if not isinstance(row["output"], str):
            raise OnkobenchError(f"{path}: record {number}: 'output' must be a string")
        if str(row["id"]) not in known_ids:
            raise OnkobenchError(f"{path}: record {number}: id {str(row['id'])!r} is not a sample id of the dataset")
        records.append({**row, "id": str(row["id"]), "_number": number})
    return records


def _single_step(path: Path, data: TaskData) -> tuple[TaskData, dict[str, str]]:
    outputs: dict[str, str] = {}
    for record in read_output_records(path, set(data.by_id), ()):
        if record["id"] in outputs:
            raise OnkobenchError(f"{path}: record {record['_number']}: id {record['id']!r} appears twice")
        outputs[record["id"]] = record["output"]
    return data, outputs


def _chained_step(path: Path, task: Task, data: TaskData) -> tuple[TaskData, dict[str, str]]:
    """Step 2 records: {id: snippet id, diagnosis, output}; step 3 records add the step-2 ``code``.

    The records play the part of the previous step's run: they go through the same sample builder.
    """
    assert task.upstream is not None
    expand = task.upstream.expand
    required = ("diagnosis", "code") if expand == "step2_codes" else ("diagnosis",)
    records = read_output_records(path, set(data.by_id), required)
    by_snippet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_snippet[record["id"]].append(record)
    outputs = {f"{snippet}/{i}": r["output"] for snippet, rs in by_snippet.items() for i, r in enumerate(rs)}
    if expand == "step1_diagnoses":
        upstream = [{"sample_id": s, "status": "ok", "answer": [str(r["diagnosis"]) for r in rs]} for s, rs in by_snippet.items()]
    elif expand == "step2_codes":
        upstream = [
            {"sample_id": f"{s}/{i}", "group": s, "values": {"code": str(r["code"])}, "extra": {"diagnosis": str(r["diagnosis"])}}
            for s, rs in by_snippet.items() for i, r in enumerate(rs)
        ]
    else:
        raise OnkobenchError(f"task {task.name}: outputs for its sample builder {expand!r} cannot be scored from a file")
    samples = EXPANDERS.get(expand)(task, data.samples, upstream, dict(task.upstream.options))
    chain = {"tag": "external", "run_id": None, "folder": str(path), "base_fingerprint": data.fingerprint}
    fingerprint = stable_hash({"base": data.fingerprint, "records": [(r["id"], r["diagnosis"]) for r in records]}, length=32)
    return TaskData(samples, data.source, fingerprint, chain=chain), outputs


def score_outputs_file(task: Task, data: TaskData, outputs_path: Path, out_dir: Path, model_name: str) -> RunOutcome:
    """Score outputs produced elsewhere as a run folder of their own (model runner ``external``)."""
    if task.upstream is None:
        data, outputs = _single_step(outputs_path, data)
    else:
        data, outputs = _chained_step(outputs_path, task, data)
    kept = {sample.id for sample in data.samples}
    config = ModelConfig(name=model_name, runner="external", metadata={"description": f"scored from {outputs_path}"})
    run_id = run_id_for(task.name, EXTERNAL_VARIANT, config.name)
    store = RunStore(out_dir / run_id)
    now = utc_now()
    manifest = build_manifest(run_id, task, EXTERNAL_VARIANT, config, data,
                              {"engine": "external", "outputs": str(outputs_path)}, now, finished_at=now)
    store.write_manifest(manifest)
    # records a chained step drops by rule (a code that is no gold label) are not part of the run
    rows = [{"key": f"external:{sid}", "sample_id": sid, "text": text, "error": None} for sid, text in outputs.items() if sid in kept]
    write_jsonl_atomic(store.responses_path, rows)  # this folder mirrors the outputs file; it is not resumed
    scored = score_samples(task, data.samples, {r["sample_id"]: [ModelOutput(text=r["text"], key=r["key"])] for r in rows})
    store.write_scores(scored_row(s) for s in scored)
    summary = summarize(manifest, task, scored, rows)
    store.write_summary(summary)
    return RunOutcome(store.folder, summary, n_generated=0, n_reused=len(rows))

"""Scoring in chunks and worker processes (issue 17): one and two workers write the same bytes, and the same bytes as
scoring one sample at a time (the way scoring worked before chunks); a hostile outputs line or an unreadable stored
line is an error naming the file and the line (or byte), and the files of the previous scoring stay as they were."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

import pytest

from harness.catalogues import load_catalogue
from harness.config.models import ModelConfig
from harness.config.tasks import load_all_tasks, load_task_file
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.jsonl import json_line
from harness.pipeline.chains import ChainSource, chained_data
from harness.pipeline.outputs_file import score_outputs_file
from harness.pipeline.run import finish_run, run_task_variant
from harness.pipeline.spec import RunSpec
from harness.prompts import PromptRenderer, build_requests
from harness.records import Response
from harness.scoring import SampleScorer, ModelOutput
from harness.scoring import chunks as chunking
from harness.scoring.stages import StageTimes
from harness.scoring.workers import AUTO_MIN_SAMPLES, scoring_workers
from harness.store import ResponseIndex, RunStore

from fake_runner import ScriptedRunner
from support.files import CATALOGUE_FIXTURES, write_jsonl

CHUNK = 97
"""Samples per chunk in these tests: a few thousand samples make dozens of chunks (an odd size ends chunks
mid-snippet)."""

TASK_YAML = """name: tiny.icd_lookup
version: 1
description: generated items scored against the fixture catalogue (year 2099)
dataset:
  path: data.jsonl
  id_field: id
  required_columns: [id, text, code]
  synthetic: true
target: code
answer_kind: icd10gm_code
parser: {name: icd10gm_code}
scorer: {name: icd10gm_hierarchy, options: {year: 2099, primary_expected: true}}
metrics: [accuracy, partial_accuracy, p_same_4char, p_same_block, p_malformed, p_hallucinated, p_secondary_neoplasm]
primary_metric: accuracy
generation: {max_tokens: 8}
variants:
  "0":
    description: the text
    turns:
      - user: "{{ sample.text }}"
"""

HOSTILE = ["\ud800 C61", 'C61 "quoted" \\ back\\slash', "%s %d %(x)s C34.1", "\x00\x1f\x7f", "C61\u2028C62.0",
           "  c 61  ", "C34.1 (Oberlappen)", "C61 oder C62.9", "Kein Code.", "", " ", "C79.5", "E14.30†", "😀" * 50,
           "C90.00", "Z99.99", "C61.99", "9" * 25]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunking, "CHUNK_SAMPLES", CHUNK)


@pytest.fixture
def fixture_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONKOBENCH_CATALOGUE_DIR", str(CATALOGUE_FIXTURES))  # workers start with this environment


def coding_task(folder: Path, n: int, shuffled: bool = True, seed: int = 7) -> tuple[Path, list[dict]]:
    """A coding task of ``n`` items on the fixture catalogue and outputs for it: every outcome class, hostile texts;
    shuffled, with every 13th sample left without an output (chunks are scored once every line is copied), or complete
    and in the data set's order (each chunk is scored as soon as its lines are copied)."""
    codes = load_catalogue("icd10gm", 2099).terminal_codes()
    rng = random.Random(seed)
    rows = [{"id": f"s{i:05d}", "text": f"Diagnose {i}", "code": rng.choice(codes)} for i in range(n)]
    write_jsonl(folder / "data.jsonl", rows)
    (folder / "task.yaml").write_text(TASK_YAML, encoding="utf-8")
    outputs = []
    for i, row in enumerate(rows):
        if shuffled and i % 13 == 5:
            continue
        gold = row["code"]
        output = rng.choice([gold, gold, gold, gold.lower(), f"Der Code ist {gold}.", rng.choice(codes), gold[:3],
                             f"{gold[:3]}.99", *HOSTILE])
        outputs.append({"id": row["id"], "output": output})
    if shuffled:
        rng.shuffle(outputs)
    return folder / "task.yaml", outputs


def write_outputs(path: Path, outputs: list[dict]) -> Path:
    """JSON Lines with \\u escapes (a lone surrogate can be written no other way)."""
    path.write_text("".join(json.dumps(row) + "\n" for row in outputs), encoding="utf-8")
    return path


def scored_one_at_a_time(store: RunStore, task, variant, data, queries) -> bytes:
    """scores.jsonl as scoring wrote it before chunks: each sample read by offset, scored by the task's scorer
    (``SampleScorer``), and written with ``json_line``."""
    index = store.response_index()
    score = SampleScorer(task, variant)
    lines = []
    with store.open_responses() as reader:
        for sample in data.samples:
            outputs = []
            for query in queries.get(sample.id, ()):
                offset = index.offsets.get(query.key)
                if offset is None:
                    continue
                row = reader.read_at(offset)
                outputs.append(ModelOutput(text=row.get("text") or "", key=query.key, error=row.get("error"),
                                           item=query.query_item, reasoning_truncated=bool(row.get("reasoning_truncated"))))
            scored = score(sample, outputs)
            lines.append(json_line({"sample_id": scored.sample_id, "group": scored.group, "extra": scored.extra,
                                    "key": scored.key, "status": scored.status, "reason": scored.reason,
                                    "answer": scored.answer, "target": scored.target, "values": scored.values}))
    return b"".join(lines)


def without_times(summary_path: Path) -> dict:
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    for key in ("started_at", "finished_at", "git_dirty", "git_commit"):
        summary["provenance"].pop(key)
    return summary


@pytest.mark.parametrize("shuffled", [True, False])
def test_outputs_file_scored_by_one_or_two_workers_gives_the_same_bytes(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None, shuffled: bool,
) -> None:
    task_file, outputs = coding_task(tmp_path, 3000, shuffled)
    outputs_path = write_outputs(tmp_path / "outputs.jsonl", outputs)
    task = load_task_file(task_file)
    data = load_task_data(task)
    folders = {}
    for workers in (1, 2):
        outcome = score_outputs_file(task, data, outputs_path, tmp_path / f"runs-{workers}", "m", workers=workers)
        folders[workers] = outcome.folder
    one, two = (RunStore(folders[w]) for w in (1, 2))
    assert one.scores_path.read_bytes() == two.scores_path.read_bytes()
    assert one.responses_path.read_bytes() == two.responses_path.read_bytes()
    assert without_times(one.summary_path) == without_times(two.summary_path)
    from harness.pipeline.outputs_file import _OneLineEach

    assert one.scores_path.read_bytes() == scored_one_at_a_time(one, task, None, data, _OneLineEach(data))
    summary = one.read_summary()
    assert summary.n_samples == 3000
    assert summary.status_counts.get("missing", 0) == (len(range(5, 3000, 13)) if shuffled else 0)
    assert {"ok", "malformed", "empty"} <= set(summary.status_counts)
    assert multiprocessing.active_children() == []  # the workers are gone


class UnevenRunner(ScriptedRunner):
    """Answers verify questions at random with uneven latencies and token counts; some requests fail or run out of
    tokens inside the reasoning."""

    def generate(self, requests):
        rng = random.Random(3)
        for request in requests:
            roll = rng.random()
            yield Response(key=request.key, text=rng.choice(["Ja", "Nein", " ja", "Nein.", "vielleicht", ""]),
                           latency_s=rng.random() / 7, n_batch=rng.choice([1, 4, None]),
                           n_prompt_tokens=rng.randrange(50, 90), n_output_tokens=rng.choice([1, 2, None]),
                           error="timeout" if roll < 0.03 else None, reasoning_truncated=0.03 <= roll < 0.05)


def test_a_run_with_several_queries_per_sample_is_scored_alike_by_one_or_two_workers(tmp_path: Path, small_chunks: None) -> None:
    rng = random.Random(11)
    snippets = []
    for i in range(700):
        dates = [f"{rng.randrange(1, 13):02d}/{rng.randrange(2000, 2024)}" for _ in range(rng.randrange(0, 4))]
        text = f"Prostatakarzinom ED {' '.join(dates)}.\nPSA {rng.randrange(1990, 2024)}." if dates else "Prostatakarzinom."
        snippets.append({"text": text, "label": [{"diagnosis": "C61", "date": dates[0][3:] + "-" + dates[0][:2] if dates else "0"}]})
    data_path = write_jsonl(tmp_path / "snippets.jsonl", snippets)
    task = load_all_tasks()["urollmeval.step3"]
    variant = task.variant("0-verify")
    data = chained_data(task, variant, load_task_data(task, data_path), ChainSource(None))
    spec = RunSpec(task, variant, ModelConfig(name="s", runner="baseline"), data)
    outcome = run_task_variant(spec, tmp_path / "runs", lambda: UnevenRunner({}), progress=False, score_workers=1)
    store = RunStore(outcome.folder)
    by_one, summary_by_one = store.scores_path.read_bytes(), without_times(store.summary_path)
    requests = build_requests(task, variant, data.samples, spec.model, PromptRenderer(task, variant, None))
    assert len(requests) > len(data.samples) > 2 * CHUNK  # several queries per sample, many chunks
    finish_run(store, store.read_manifest(), spec, requests, workers=2)
    assert store.scores_path.read_bytes() == by_one
    assert without_times(store.summary_path) == summary_by_one
    queries: dict[str, list] = {}
    for request in requests:
        queries.setdefault(request.sample_id, []).append(request)
    assert by_one == scored_one_at_a_time(store, task, variant, data, queries)
    assert {"ok", "error", "no_think_end"} <= set(store.read_summary().status_counts)


def test_a_hostile_outputs_line_names_file_and_line_and_keeps_the_previous_scores(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None,
) -> None:
    # in the data set's order: chunks before the hostile line are already being scored by the workers when it comes
    task_file, outputs = coding_task(tmp_path, 1500, shuffled=False)
    task = load_task_file(task_file)
    data = load_task_data(task)
    good = write_outputs(tmp_path / "outputs.jsonl", outputs)
    outcome = score_outputs_file(task, data, good, tmp_path / "runs", "m", workers=2)
    store = RunStore(outcome.folder)
    before = {path.name: path.read_bytes() for path in outcome.folder.iterdir() if path.name != "manifest.json"}
    lines = good.read_bytes().splitlines(keepends=True)
    for number, hostile, message in [
        (1234, b'{"id": "s00001", "output": "C61"\n', "line 1234: invalid JSON"),
        (777, b'{"id": "s00002", "output": 61}\n', "record 777: 'output' must be a string"),
        (901, b'{"id": "s00003", "output": "\xff\xfe"}\n', "not UTF-8 in line 901"),
        (1100, b'{"id": "nobody", "output": "C61"}\n', "record 1100: id 'nobody' is not a sample id"),
    ]:
        broken = tmp_path / f"broken-{number}.jsonl"
        broken.write_bytes(b"".join(lines[: number - 1] + [hostile] + lines[number:]))
        times = StageTimes()
        with pytest.raises(OnkobenchError, match=f"{broken}: {message}"):
            score_outputs_file(task, data, broken, tmp_path / "runs", "m", workers=2, times=times)
        assert "join chunks" in times.seconds  # chunks before the line had been scored: their scores are dropped
        # the scores, summary and copy of the outputs that were there before are still there, unchanged
        assert {path.name: path.read_bytes() for path in outcome.folder.iterdir() if path.name != "manifest.json"} == before
        assert store.read_summary().n_samples == 1500
        assert multiprocessing.active_children() == []


def test_an_unreadable_stored_line_found_by_a_worker_names_file_and_byte_and_keeps_the_previous_scores(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None,
) -> None:
    task_file, outputs = coding_task(tmp_path, 1500)
    task = load_task_file(task_file)
    data = load_task_data(task)
    outcome = score_outputs_file(task, data, write_outputs(tmp_path / "outputs.jsonl", outputs), tmp_path / "runs", "m",
                                 workers=2)
    store = RunStore(outcome.folder)
    scores, summary = store.scores_path.read_bytes(), store.summary_path.read_bytes()
    index = store.response_index()
    late_key = list(index.offsets)[-5]
    moved = index.offsets[late_key] + 3  # the file "changed since it was indexed": the offset is inside a line
    broken = ResponseIndex()
    broken.offsets = {**index.offsets, late_key: moved}
    from harness.pipeline.outputs_file import _OneLineEach
    from harness.scoring.run import score_stored

    with pytest.raises(OnkobenchError, match=f"{store.responses_path}: the line at byte {moved} is not a readable response"):
        score_stored(store, store.read_manifest(), task, None, data, _OneLineEach(data), broken, workers=2)
    assert store.scores_path.read_bytes() == scores and store.summary_path.read_bytes() == summary
    assert multiprocessing.active_children() == []


def test_workers_are_chosen_by_the_size_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.scoring.workers.available_cores", lambda: 16)
    assert scoring_workers(None, AUTO_MIN_SAMPLES - 1) == 1  # starting workers would cost more than they save
    assert scoring_workers(None, 500_000) == 8  # every core, at most AUTO_MAX_WORKERS
    assert scoring_workers(3, 500_000) == 3
    assert scoring_workers(4, 100) == 1  # one chunk: nothing to share
    with pytest.raises(OnkobenchError, match="workers: must be at least 1"):
        scoring_workers(0, 10)


def test_cli_workers_options(tmp_path: Path, small_chunks: None, fixture_catalogue: None,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``onkobench score --workers N`` and ``onkobench run --score-workers N`` score with N processes and write the same
    scores for any N."""
    from click.testing import CliRunner

    from harness.cli import main
    from harness.scoring.workers import ScoringPool
    from support.leaderboard import write_task

    started: list[int] = []
    start = ScoringPool.__init__

    def counting_start(self, task, variant, workers, fork=False):
        started.append(workers)
        start(self, task, variant, workers, fork)

    monkeypatch.setattr(ScoringPool, "__init__", counting_start)

    task_file, outputs = coding_task(tmp_path, 400, shuffled=False)
    outputs_path = write_outputs(tmp_path / "outputs.jsonl", outputs)
    scores = {}
    for workers in ("1", "2"):
        result = CliRunner().invoke(main, ["score", "--task", str(task_file), "--outputs", str(outputs_path),
                                           "--out", str(tmp_path / f"scored-{workers}"), "--workers", workers])
        assert result.exit_code == 0, result.output
        (scores[workers],) = (tmp_path / f"scored-{workers}").glob("*/scores.jsonl")
    assert scores["1"].read_bytes() == scores["2"].read_bytes() and started == [1, 2]
    refused = CliRunner().invoke(main, ["score", "--task", str(task_file), "--outputs", str(outputs_path), "--workers", "0"])
    assert refused.exit_code == 2 and "--workers" in refused.output

    coding = write_task(tmp_path / "tasks", "demo.coding", 400)
    for workers in ("1", "2"):
        result = CliRunner().invoke(main, ["run", "--task", str(coding), "--variant", "zero", "--model", "baseline-lexicon-exact",
                                           "--out", str(tmp_path / f"run-{workers}"), "--no-progress", "--score-workers", workers])
        assert result.exit_code == 0, result.output
        (scores[workers],) = (tmp_path / f"run-{workers}").glob("*/scores.jsonl")
    assert scores["1"].read_bytes() == scores["2"].read_bytes() and started == [1, 2, 1, 2]

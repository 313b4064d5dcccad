"""Run folders for the leaderboard tests: small coding tasks whose answers a test chooses item by item, scripted
models of every kind, and a protocol-B-like set of runs on catalogue sets built from the fixture catalogues (with
the committed lookup baseline and oracle configs)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from fake_runner import ScriptedRunner

from harness.cli import main
from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.pipeline.spec import RunSpec

from support.files import CATALOGUE_FIXTURES, REPO_ROOT, read_jsonl, write_jsonl

CODES = ("C61", "C67.2", "C34.1", "C90.00", "C50.9", "C18.7")
WRONG = "D09.9"
"""A well-formed code that is never the gold of a written task."""

TASK_YAML = """name: {name}
version: 1
description: a coding task written by a test, {n} items
dataset:
  path: data/{stem}.jsonl
  id_field: id
  required_columns: [id, text, code]
  synthetic: {synthetic}
{set_kind}target: code
answer_kind: icd10gm_code
parser:
  name: code
  options: {{pattern: '(?<![A-Za-z0-9])([A-Z][0-9]{{2}}(?:\\.[0-9]{{1,2}})?)(?![0-9])'}}
scorer: {{name: code_match, options: {{partial_chars: 3}}}}
metrics: [accuracy, partial_accuracy, p_malformed]
primary_metric: accuracy
generation: {{max_tokens: 8}}
variants:
  zero:
    description: the text as it is
    turns:
      - user: "{{{{ sample.text }}}}"
  asked:
    description: the text with a question
    turns:
      - user: "Code? {{{{ sample.text }}}}"
"""


def write_task(tasks: Path, name: str, n: int, synthetic: bool = False, set_kind: str = "") -> Path:
    """``tasks/<family>/<task>.yaml`` with ``n`` items (ids ``i000``...) whose gold codes cycle through CODES."""
    family, stem = name.split(".", 1)
    folder = tasks / family
    write_jsonl(folder / "data" / f"{stem}.jsonl",
                [{"id": f"i{k:03d}", "text": f"Diagnose {k}", "code": CODES[k % len(CODES)]} for k in range(n)])
    path = folder / f"{stem}.yaml"
    path.write_text(TASK_YAML.format(name=name, n=n, stem=stem, synthetic=str(synthetic).lower(),
                                     set_kind=f"  set_kind: {set_kind}\n" if set_kind else ""), encoding="utf-8")
    return path


def model(name: str, kind: str | None = None, weight_type: str = "original", reasoning: bool | None = None,
          params: str = "", licence: str = "", runner: str = "transformers") -> ModelConfig:
    """A model config for scripted runs (the runner is replaced by a script; its name only labels the row)."""
    metadata: dict[str, Any] = {"weight_type": weight_type, "params": params, "licence": licence}
    if kind:
        metadata["kind"] = kind
    config: dict[str, Any] = {"name": name, "runner": runner, "reasoning": reasoning, "metadata": metadata}
    if runner != "baseline":
        config |= {"model_id": f"test/{name}", "revision": "r1"}
    return ModelConfig.model_validate(config)


def run_scripted(task_file: Path, runs: Path, config: ModelConfig, correct: int, variant: str = "zero",
                 delay_s: float = 0.0) -> None:
    """A run whose first ``correct`` items are answered right and the rest wrong."""
    task = load_task_file(task_file)
    data = load_task_data(task)
    answers = {sample.id: str(sample.target) if k < correct else WRONG for k, sample in enumerate(data.samples)}
    spec = RunSpec(task, task.variant(variant), config, data)
    run_task_variant(spec, runs, lambda: ScriptedRunner(answers, delay_s), progress=False)


CATALOGUE_SETS = {"alphaid_icd10gm_neoplasms": "icd10gm_code", "icdo3_topography": "icdo3_topography_code",
                  "alphaid_icd10gm_neoplasms_clinical": "icd10gm_code"}
"""The protocol-B-like overview's tasks and their gold fields."""
FIXTURE_YEAR = ("--icd10gm-year", "2097", "--alphaid-year", "2097", "--icdo3-year", "2097")


def catalogue_runs(root: Path, n_test: int = 12) -> Path:
    """Runs on catalogue QA sets built from the fixture catalogues: the committed fair fuzzy lookup and exact oracle
    (on the fixture year), and scripted models of each kind; one of them skips the clinical-variation set.
    Needs ``ONKOBENCH_CATALOGUE_DIR`` pointing at the fixtures (the oracle reads the catalogue)."""
    folder = root / "icd_catalogue_qa"
    shutil.copytree(REPO_ROOT / "tasks" / "icd_catalogue_qa", folder, ignore=shutil.ignore_patterns("generated"))
    for task_file in folder.glob("*.yaml"):  # scored against the fixture catalogues' year
        text = task_file.read_text(encoding="utf-8")
        task_file.write_text(text.replace("year: 2024", "year: 2097").replace("year: 2019", "year: 2097"), encoding="utf-8")
    built = CliRunner().invoke(main, ["catalogue", "build-tasks", "--catalogues", str(CATALOGUE_FIXTURES), "--out",
                                      str(folder / "generated"), *FIXTURE_YEAR, "--n-test", str(n_test),
                                      "--n-fewshot", "2", "--seed", "1"], catch_exceptions=False)
    assert built.exit_code == 0, built.output
    runs = root / "runs"
    configs = []
    for name in ("catalogue-lookup-fuzzy", "catalogue-oracle-exact"):
        text = (REPO_ROOT / "leaderboards" / "models" / f"{name}.yaml").read_text(encoding="utf-8")
        (root / f"{name}.yaml").write_text(text.replace("_year: 2010", "_year: 2097").replace("_year: 2019", "_year: 2097"),
                                           encoding="utf-8")
        configs += ["--model", str(root / f"{name}.yaml")]
    scripted = [(model("instruct-8b", params="8B", licence="Apache-2.0"), 1.0),
                (model("tuned-8b", weight_type="adapter", params="8B", licence="Llama"), 0.75),
                (model("thinker-32b", reasoning=True, params="32B", licence="Apache-2.0"), 0.75),
                (model("partial-1b", params="1B", licence="MIT"), 0.5)]
    for set_name, gold_field in CATALOGUE_SETS.items():
        task_file = folder / f"{set_name}.yaml"
        result = CliRunner().invoke(main, ["run", "--task", str(task_file), "--variant", "0", *configs, "--out", str(runs),
                                           "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        gold = {row["id"]: row[gold_field] for row in read_jsonl(folder / "generated" / set_name / "test.jsonl")}
        task = load_task_file(task_file)
        data = load_task_data(task)
        for config, share in scripted:
            if config.name == "partial-1b" and set_name.endswith("_clinical"):
                continue  # a model missing a task: no mean, no rank
            right = round(share * len(data.samples))
            answers = {s.id: gold[s.id] if k < right else "Z99.9" for k, s in enumerate(data.samples)}
            spec = RunSpec(task, task.variant("0"), config, data)
            run_task_variant(spec, runs, lambda a=answers: ScriptedRunner(a, 0.002), progress=False)
    return runs

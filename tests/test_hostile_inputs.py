"""Hostile or broken inputs: paths outside the allowed folders, and property tests for every parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.config.models import ModelConfig
from harness.prompts import PromptRenderer
from harness.runners.base import resolve_config_path
from harness.scoring.parsers import MALFORMED_STATUSES, OK, PARSERS, make_parser
from harness.config.tasks import load_task_file

PARSER_OPTIONS = {"code": {"pattern": r"([A-Z][0-9]{2})"}}


@pytest.mark.parametrize("value", ["../../../../../etc/passwd", "/etc/passwd", "~/.ssh/id_rsa"])
def test_config_paths_stay_inside_allowed_folders(tmp_path: Path, value: str) -> None:
    with pytest.raises(OnkobenchError, match="lies outside the allowed folders"):
        resolve_config_path(tmp_path, value, "model x: adapter.path")


def test_allowed_paths_can_be_extended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "adapters" / "mine"
    outside.mkdir(parents=True)
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    with pytest.raises(OnkobenchError):
        resolve_config_path(config_dir, str(outside), "adapter.path")
    monkeypatch.setenv("ONKOBENCH_ALLOWED_PATHS", str(tmp_path / "adapters"))
    assert resolve_config_path(config_dir, str(outside), "adapter.path") == outside.resolve()


def test_baseline_lexicon_path_traversal(tmp_path: Path) -> None:
    from harness.runners.baseline import BaselineRunner

    config = ModelConfig(name="evil", runner="baseline", options={"method": "lexicon_exact", "lexicon": "../../../../etc/passwd"})
    with pytest.raises(OnkobenchError, match="options.lexicon: '../../../../etc/passwd' lies outside"):
        BaselineRunner(config, tmp_path)


def test_task_paths_stay_in_the_task_folder(mini_task_file: Path) -> None:
    text = mini_task_file.read_text(encoding="utf-8")
    mini_task_file.write_text(text.replace("path: data/diagnoses.jsonl", "path: ../../../../../../etc/passwd"), encoding="utf-8")
    with pytest.raises(OnkobenchError, match="dataset.path: .* lies outside the allowed folders"):
        load_task_data(load_task_file(mini_task_file))
    mini_task_file.write_text(text.replace("pool: fewshot/coding.jsonl", "pool: /etc/passwd"), encoding="utf-8")
    task = load_task_file(mini_task_file)
    with pytest.raises(OnkobenchError, match="shots.pool: '/etc/passwd' lies outside"):
        PromptRenderer(task, task.variant("two-shot"))


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None)
@given(text=st.one_of(
    st.text(max_size=300),
    st.text(alphabet="[]{}\"',:\\\u201c\u201d\u201e0123456789CDcd./- \n\t\x00\x1b", max_size=300),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(0, 3000)),
))
def test_every_parser_gives_a_value_or_a_reason(name: str, text: str) -> None:
    parsed = make_parser(name, PARSER_OPTIONS.get(name, {}))(text)
    assert parsed.status == OK or (parsed.status in MALFORMED_STATUSES and parsed.reason)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_parser_survives_a_huge_output(name: str) -> None:
    text = ("C61 Prostatakarzinom [\"x\", [1, 2]] Nein 12.03.2019 " * 40_000)[:2_000_000]
    parsed = make_parser(name, PARSER_OPTIONS.get(name, {}))(text)
    assert parsed.status in (OK, *MALFORMED_STATUSES)


def test_suite_data_paths_stay_inside_allowed_folders(tmp_path: Path) -> None:
    from harness.pipeline.plan import plan_runs

    suite = tmp_path / "evil.yaml"
    suite.write_text("name: evil\nmodels: [baseline-lexicon-exact]\ntasks:\n"
                     "  - task: demo.icd10gm_coding\n    data: ../../../../../../etc/passwd\n", encoding="utf-8")
    with pytest.raises(OnkobenchError, match="tasks.data: .* lies outside the allowed folders"):
        plan_runs(str(suite), None, (), (), None)

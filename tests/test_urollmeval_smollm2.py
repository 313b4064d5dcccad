"""SmolLM2 through UroLlmEval steps 2 and 3 on gold inputs (synthetic snippets): real generation, real parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

from support.files import REPO_ROOT

pytestmark = pytest.mark.slow
SNIPPETS = REPO_ROOT / "tasks" / "demo" / "data" / "snippets.jsonl"


def test_smollm2_on_gold_chain(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    for step, variant in (("urollmeval.step2", "0-uro-ctx"), ("urollmeval.step3", "0-verify")):
        result = CliRunner().invoke(main, [
            "run", "--task", step, "--variant", variant, "--gold", "--data", str(SNIPPETS), "--limit", "6",
            "--model", "smollm2-135m-instruct-cpu", "--out", str(out), "--no-progress",
        ], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    summaries = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/summary.json")]
    assert {s["task"] for s in summaries} == {"urollmeval.step2", "urollmeval.step3"}
    for summary in summaries:
        assert summary["n_samples"] > 0 and summary["upstream"]["tag"] == "gold"
        assert summary["tokens"]["mean_n_output_tokens"] and summary["latency"]["mean_s"]
        assert "error" not in summary["status_counts"]

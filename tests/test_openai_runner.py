"""The OpenAI-compatible runner against local servers: retries, round-robin, reasoning fields, errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.fake_openai import FakeOpenAI, echo_code, run_with_openai_runner

from harness.config.models import ModelConfig

from support.files import read_jsonl


def config(*urls: str, reasoning: bool | None = None, retries: int = 4, timeout: float = 5.0, stop_after: int = 10) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "served", "runner": "openai", "model_id": "tiny", "reasoning": reasoning,
        "server": {"endpoints": [{"base_url": u} for u in urls], "max_retries": retries, "backoff_s": 0.01,
                   "timeout_s": timeout, "max_concurrency": 3, "stop_after_failures": stop_after},
    })


run = run_with_openai_runner


def test_transient_faults_are_retried(mini_task_file: Path, tmp_path: Path) -> None:
    faults = {"http500": 1, "reset": 1, "truncated": 1}
    with FakeOpenAI(faults=faults) as server:
        outcome = run(mini_task_file, tmp_path, config(server.base_url))
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    assert sorted(r["sample_id"] for r in rows) == ["a", "b", "c", "d", "e"]
    assert all(r["error"] is None and r["text"] in ("C61", "C34.1") for r in rows)
    assert all(count == 4 for count in server.attempts.values())  # three faults, then success
    assert outcome.summary.metrics["accuracy"].value == pytest.approx(2 / 5)  # a: C61, c: C34.1


def test_slow_server_times_out_then_answers(mini_task_file: Path, tmp_path: Path) -> None:
    with FakeOpenAI(faults={"slow": 1}, slow_s=1.5) as server:
        outcome = run(mini_task_file, tmp_path, config(server.base_url, timeout=0.5))
    assert outcome.summary.status_counts.get("error") is None
    assert all(count == 2 for count in server.attempts.values())


def test_a_refused_request_is_recorded_with_its_own_latency(mini_task_file: Path, tmp_path: Path) -> None:
    """HTTP 400 is final (not retried); the row counts as one request of its own in seconds per item, not as part
    of an engine call of unknown size."""
    with FakeOpenAI(faults={"http400": 10}) as server:
        outcome = run(mini_task_file, tmp_path, config(server.base_url))
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    assert all(r["error"].startswith("HTTP 400") and r["n_batch"] == 1 for r in rows) and len(rows) == 5
    assert outcome.summary.latency["seconds_per_item"] == pytest.approx(
        sum(r["latency_s"] for r in rows) / 5, abs=1e-5)


def test_exhausted_retries_are_recorded_per_sample_and_rerun_later(mini_task_file: Path, tmp_path: Path) -> None:
    with FakeOpenAI(faults={"http500": 10}) as server:
        outcome = run(mini_task_file, tmp_path, config(server.base_url, retries=1))
    assert outcome.summary.status_counts == {"error": 5}
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    assert all("gave up after 2 attempts: HTTP 500" in r["error"] for r in rows)
    with FakeOpenAI() as healthy:
        outcome = run(mini_task_file, tmp_path, config(healthy.base_url))
    assert outcome.summary.status_counts == {"ok": 5}
    assert len(healthy.served) == 5  # only the failed samples were sent again


def test_round_robin_over_endpoints(mini_task_file: Path, tmp_path: Path) -> None:
    with FakeOpenAI() as one, FakeOpenAI() as two:
        run(mini_task_file, tmp_path, config(one.base_url, two.base_url))
    assert len(one.served) + len(two.served) == 5 and one.served and two.served


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_field_and_truncation(mini_task_file: Path, tmp_path: Path, field: str) -> None:
    def answer(body: dict) -> dict:
        if "Prostata" in body["messages"][-1]["content"]:
            return {"content": None, "reasoning": "Ich überlege ...", "finish_reason": "length", "reasoning_tokens": 40}
        return {"content": "C34.1", "reasoning": "Lunge, Oberlappen.", "reasoning_tokens": 5}

    with FakeOpenAI(answer, reasoning_field=field) as server:
        outcome = run(mini_task_file, tmp_path, config(server.base_url, reasoning=True))
    rows = {r["sample_id"]: r for r in read_jsonl(outcome.folder / "responses.jsonl")}
    assert rows["a"]["reasoning_truncated"] and rows["a"]["text"] == "" and rows["a"]["n_reasoning_tokens"] == 40
    assert rows["c"]["reasoning"] == "Lunge, Oberlappen." and rows["c"]["text"] == "C34.1"
    scores = {s["sample_id"]: s for s in read_jsonl(outcome.folder / "scores.jsonl")}
    assert scores["a"]["status"] == "no_think_end"  # never parsed as an answer
    assert outcome.summary.tokens["mean_n_reasoning_tokens"] == pytest.approx((40 + 4 * 5) / 5)  # a: 40, b-e: 5 each


def test_think_tags_in_content_are_split(mini_task_file: Path, tmp_path: Path) -> None:
    with FakeOpenAI(lambda body: {"content": "<think>kurz</think>\n\nC61"}) as server:
        outcome = run(mini_task_file, tmp_path, config(server.base_url, reasoning=True))
    row = read_jsonl(outcome.folder / "responses.jsonl")[0]
    assert row["text"] == "C61" and row["reasoning"] == "kurz" and row["raw_text"].startswith("<think>")


def test_server_gone_stops_the_run_then_resumes(mini_task_file: Path, tmp_path: Path) -> None:
    from harness.errors import RunnerUnavailableError

    cfg = ModelConfig.model_validate({
        "name": "served", "runner": "openai", "model_id": "tiny",
        "server": {"endpoints": [{"base_url": "http://127.0.0.1:9/v1"}], "max_retries": 1, "backoff_s": 0.01,
                   "timeout_s": 2, "max_concurrency": 1, "stop_after_failures": 2},
    })
    with pytest.raises(RunnerUnavailableError, match="2 requests in a row failed after all retries.*rerun to continue"):
        run(mini_task_file, tmp_path, cfg)
    stored = read_jsonl(tmp_path / "mini.coding--zero--served" / "responses.jsonl")
    assert len(stored) == 2 and all(r["error"] for r in stored)  # what happened is recorded
    with FakeOpenAI() as server:
        healthy = cfg.model_copy(update={"server": cfg.server.model_copy(update={"endpoints": config(server.base_url).server.endpoints})})
        outcome = run(mini_task_file, tmp_path, healthy.model_copy(update={}))
    assert outcome.summary.status_counts == {"ok": 5}


DEMO_TASK = Path(__file__).resolve().parents[1] / "tasks" / "demo" / "icd10gm_coding.yaml"


def test_a_replica_killed_mid_run_loses_no_sample_and_the_run_finishes(tmp_path: Path) -> None:
    """Three replicas, one killed after its 8th request while others are in flight: every one of the 60 demo
    samples is stored exactly once, answered, and the run finishes on the two that live (2 attempts per request:
    the one on the dead replica and one elsewhere)."""
    def answer(body: dict) -> dict:
        time.sleep(0.01)  # requests overlap, so some are in flight on the replica when it dies
        return echo_code(body)

    with FakeOpenAI(answer) as one, FakeOpenAI(answer, die_after=8) as dying, FakeOpenAI(answer) as three:
        outcome = run(DEMO_TASK, tmp_path, config(one.base_url, dying.base_url, three.base_url, retries=1, stop_after=2),
                      variant="0")
        assert dying.dead.is_set()
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 60 and len({r["sample_id"] for r in rows}) == 60
    assert all(r["error"] is None for r in rows)
    assert outcome.summary.status_counts.get("error") is None and outcome.summary.n_samples == 60
    assert len(dying.served) <= 8 and dying.received > 8
    assert len(one.served) + len(dying.served) + len(three.served) == 60  # each prompt answered once in all


def test_a_replica_back_from_its_cooldown_gets_requests_again(mini_task_file: Path, tmp_path: Path) -> None:
    """A replica failing attempts is left out, probed after its cool-down, and back in the turn once it answers:
    in the next run of the same runner (its pool remembers the failures) it takes its share (2 of 5 in turn with
    one other), not one probe per cool-down."""
    with FakeOpenAI() as steady, FakeOpenAI(faults={"http500": 100}) as flaky:  # fails every attempt until cleared
        cfg = config(steady.base_url, flaky.base_url, retries=1)
        cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update={"endpoint_cooldown_s": 0.01})})
        from harness.runners.openai import OpenAIRunner

        runner = OpenAIRunner(cfg, tmp_path)
        try:
            outcome = run(mini_task_file, tmp_path / "first", cfg, runner=runner)
            assert outcome.summary.status_counts == {"ok": 5} and not flaky.served  # its every attempt failed
            flaky.faults = {}
            time.sleep(0.5)  # longer than its longest cool-down (5 failures in a row: 0.16 s)
            run(mini_task_file, tmp_path / "second", cfg, runner=runner)
        finally:
            runner.close()
    assert len(flaky.served) >= 2

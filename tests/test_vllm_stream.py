"""The vLLM runner hands each answer on as its request finishes (queue the batch, step the engine), against a stand-in
of vLLM's offline queue-and-step interface: no vllm needed. ``tests/test_vllm_runner.py`` does the same on the real
engine (vllm environment)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.models import ModelConfig
from harness.records import Request, Sampling


class _Output:
    def __init__(self, request_id: str, text: str) -> None:
        completion = type("Completion", (), {"text": text, "token_ids": [1, 2], "finish_reason": "stop"})
        self.request_id, self.outputs, self.finished = request_id, [completion()], True
        self.prompt_token_ids, self.metrics, self.num_cached_tokens = [1, 2, 3], None, 0


class _SteppedEngine:
    """``LLM`` and its ``llm_engine`` in one: ``enqueue_chat`` returns ids as vLLM 0.32 does (``<id>-<random>``),
    each ``step`` finishes ``per_step`` queued requests (answering with their prompt) and may fail at a given step."""

    def __init__(self, per_step: int = 2, fail_at_step: int | None = None) -> None:
        self.llm_engine = self
        self.per_step, self.fail_at_step = per_step, fail_at_step
        self.queued: list[tuple[str, str]] = []
        self.counter = self.steps = 0
        self.aborted: list[str] = []
        self.chat_calls: list[int] = []

    def enqueue_chat(self, messages: list[list[dict[str, str]]], **kwargs: Any) -> list[str]:
        ids = []
        for chat in messages:
            self.queued.append((str(self.counter), chat[-1]["content"]))
            ids.append(f"{self.counter}-0a1b2c3d")
            self.counter += 1
        return ids

    def has_unfinished_requests(self) -> bool:
        return bool(self.queued)

    def step(self) -> list[_Output]:
        self.steps += 1
        if self.steps == self.fail_at_step:
            raise RuntimeError("engine core died")
        done, self.queued = self.queued[: self.per_step], self.queued[self.per_step :]
        return [_Output(request_id, text) for request_id, text in done]

    def abort_request(self, request_ids: list[str], internal: bool = False) -> None:
        assert internal  # the ids enqueue returned
        self.aborted.extend(request_ids)
        gone = {request_id.split("-")[0] for request_id in request_ids}
        self.queued = [(request_id, text) for request_id, text in self.queued if request_id not in gone]

    def chat(self, messages: list[list[dict[str, str]]], **kwargs: Any) -> list[_Output]:
        self.chat_calls.append(len(messages))
        return [_Output("-", chat[-1]["content"]) for chat in messages]


def runner_on(engine: _SteppedEngine, monkeypatch: pytest.MonkeyPatch):
    from harness.runners.vllm import VLLMRunner

    runner = object.__new__(VLLMRunner)  # the engine replaced by the stand-in; no vllm needed
    runner.config = ModelConfig(name="tiny", runner="vllm", model_id="tiny")
    runner.llm, runner.lora_requests, runner.chat_template, runner.completion = engine, {}, None, None
    monkeypatch.setattr(VLLMRunner, "_sampling_params", lambda self, sampling, regex: sampling)
    return runner


def requests(n: int) -> list[Request]:
    return [Request(key=f"k{i}", task="t", variant="v", sample_id=f"s{i}", messages=({"role": "user", "content": f"q{i}"},),
                    sampling=Sampling(max_tokens=8)) for i in range(n)]


def test_each_answer_is_handed_on_when_its_request_finishes(monkeypatch) -> None:
    engine = _SteppedEngine(per_step=2)
    responses = runner_on(engine, monkeypatch).generate(requests(6))
    first = next(responses)
    assert engine.steps == 1 and len(engine.queued) == 4  # the rest is still in the engine
    answered = [first, *responses]
    assert {r.key: r.text for r in answered} == {f"k{i}": f"q{i}" for i in range(6)}
    assert engine.chat_calls == [] and engine.aborted == []


def test_an_engine_failure_mid_batch_keeps_the_answers_and_retries_the_rest_alone(monkeypatch) -> None:
    engine = _SteppedEngine(per_step=2, fail_at_step=2)
    answered = list(runner_on(engine, monkeypatch).generate(requests(6)))
    assert sorted(r.key for r in answered) == [f"k{i}" for i in range(6)]  # each once
    assert all(r.error is None and r.text == f"q{r.key[1:]}" for r in answered)
    assert engine.chat_calls == [1, 1, 1, 1]  # the two answered in step 1 are not sent again
    assert len(engine.aborted) == 4 and not engine.queued  # the engine is left clean


def test_a_batch_left_early_is_aborted(monkeypatch) -> None:
    engine = _SteppedEngine(per_step=2)
    responses = runner_on(engine, monkeypatch).generate(requests(6))
    next(responses)
    responses.close()  # the run stopped: a full disk, Ctrl-C
    # everything not handed on: request 1 finished in the same step as 0, the others were still queued
    assert engine.aborted == [f"{i}-0a1b2c3d" for i in range(1, 6)] and not engine.queued


def test_answers_finished_before_a_kill_mid_batch_are_stored(mini_task_file, tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from harness.config.tasks import load_task_file
    from harness.data import load_task_data, read_jsonl
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec

    class Interrupted(_SteppedEngine):
        def step(self) -> list[_Output]:
            if self.steps == 2:
                raise KeyboardInterrupt  # Ctrl-C (or the engine's process killed) in the middle of the batch
            return super().step()

    runner = runner_on(Interrupted(per_step=2), monkeypatch)
    runner.vllm, runner.weights = SimpleNamespace(__version__="stand-in"), {}
    task = load_task_file(mini_task_file)
    spec = RunSpec(task, task.variant("zero"), ModelConfig(name="tiny", runner="vllm", model_id="tiny"), load_task_data(task))
    with pytest.raises(KeyboardInterrupt):
        run_task_variant(spec, tmp_path, lambda: runner, progress=False)
    stored = read_jsonl(next(tmp_path.glob("*/responses.jsonl")))
    assert len(stored) == 4  # two steps of two answers, of the batch of 5: kept, not lost with the batch


def test_the_shares_of_a_streamed_call_add_up_to_its_wall_time(monkeypatch) -> None:
    """Each answer is stored before its batch ends, so no row can carry the call's wall time: each carries the time
    since the call's previous answer instead, and the run's seconds per item is the call's wall time over its items."""
    import time

    from harness.scoring.response_stats import ResponseStats

    class Slow(_SteppedEngine):
        def step(self) -> list[_Output]:
            time.sleep(0.02)
            return super().step()

    started = time.perf_counter()
    answered = list(runner_on(Slow(per_step=2), monkeypatch).generate(requests(6)))
    wall = time.perf_counter() - started
    assert all(r.n_batch == 6 and r.share_s > 0 for r in answered)
    assert 0.06 <= sum(r.share_s for r in answered) <= wall
    stats = ResponseStats()
    for response in answered:
        stats.add({**response.to_dict(), "latency_s": 0.5})  # the stand-in reports no engine metrics
    assert stats.latency()["seconds_per_item"] == pytest.approx(sum(r.share_s for r in answered) / 6, abs=1e-5)


def test_a_dead_engine_mid_stream_stops_the_run_after_the_answers_it_gave(monkeypatch) -> None:
    from harness.errors import RunnerUnavailableError

    class EngineDeadError(Exception):
        pass

    class Dying(_SteppedEngine):
        def step(self) -> list[_Output]:
            if self.steps == 1:
                self.steps += 1
                raise EngineDeadError("EngineCore encountered an issue")
            return super().step()

    engine = Dying(per_step=2)
    answered = []
    with pytest.raises(RunnerUnavailableError, match="the vLLM engine died"):
        for response in runner_on(engine, monkeypatch).generate(requests(6)):
            answered.append(response)
    assert [r.key for r in answered] == ["k0", "k1"] and engine.chat_calls == []  # no request recorded as failed

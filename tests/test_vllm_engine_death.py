"""A vLLM engine that dies stops the run instead of recording every remaining request as failed (under a starved
CPU an engine step timed out and the rest of a suite, 3,600 requests, was stored as failures). Runs without vLLM:
the engine is a stand-in with vLLM's output shape."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.config.models import ModelConfig
from harness.errors import RunnerUnavailableError
from harness.records import Request, Sampling
from harness.runners.vllm import VLLMRunner


class EngineDeadError(Exception):
    """Named as vLLM names it (vllm.v1.engine.exceptions.EngineDeadError)."""


class PromptTooLong(Exception):
    pass


class DyingEngine:
    """Answers the first chat call; every later call finds the engine dead. A prompt marked too long is refused
    on its own, as vLLM refuses one prompt over the context."""

    def __init__(self) -> None:
        self.calls = 0

    def chat(self, conversations: list[Any], **_: Any) -> list[Any]:
        self.calls += 1
        if any(c[-1]["content"] == "too long" for c in conversations):
            raise PromptTooLong("prompt longer than max_model_len")
        if self.calls > 1:
            raise EngineDeadError("EngineCore encountered an issue. See stack trace (above) for the root cause.")
        return [SimpleNamespace(outputs=[SimpleNamespace(text="C61", finish_reason="stop", token_ids=[1, 2])],
                                prompt_token_ids=[1, 2, 3], metrics=None, num_cached_tokens=0) for _ in conversations]


def request(key: str, max_tokens: int, text: str = "Prostatakarzinom") -> Request:
    return Request(key=key, task="t", variant="v", sample_id=key, messages=({"role": "user", "content": text},),
                   sampling=Sampling(max_tokens=max_tokens))


@pytest.fixture
def runner() -> VLLMRunner:
    runner = object.__new__(VLLMRunner)  # the engine is the stand-in: no weights, no vLLM
    runner.config = ModelConfig(name="tiny", runner="vllm", model_id="test/tiny", revision="r1")
    runner.llm, runner.lora_requests, runner.completion, runner.chat_template = DyingEngine(), {}, None, None
    runner._sampling_params = lambda sampling, regex: None
    return runner


def test_a_dead_engine_stops_the_run_after_the_answers_it_gave(runner: VLLMRunner) -> None:
    answered = []
    with pytest.raises(RunnerUnavailableError, match=r"model tiny: the vLLM engine died \(EngineDeadError: .*rerun to continue"):
        # two sampling groups: two engine calls, the second finds the engine dead
        for response in runner.generate([request("a", 8), request("b", 8), request("c", 16)]):
            answered.append(response)
    # the group that went first is answered and kept; the other never becomes a stored failure
    assert sorted(r.key for r in answered) in (["a", "b"], ["c"])
    assert all(r.text == "C61" and r.error is None and r.n_batch == len(answered) and r.share_s is not None
               for r in answered)


def test_a_request_the_engine_refuses_alone_is_still_a_failed_request(runner: VLLMRunner) -> None:
    (response,) = runner.generate([request("x", 8, text="too long")])
    assert response.text == "" and response.error.startswith("vllm: PromptTooLong: ")

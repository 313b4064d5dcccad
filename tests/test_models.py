"""Model configs: the shipped examples validate; broken copies fail with the file and field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.errors import OnkobenchError
from harness.config.models import MODELS_DIR, load_model_config

EXAMPLES = ["llama-3.1-8b-instruct", "llama-3.1-8b-instruct-icd-lora", "qwen3-8b-reasoning-on", "qwen3-8b-reasoning-off",
            "qwen3-8b-served", "smollm2-135m-instruct-cpu"]


def test_shipped_configs_validate() -> None:
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    for name in EXAMPLES:
        config, _ = load_model_config(name)
        assert config.name == name
    assert load_model_config("qwen3-8b-reasoning-on")[0].chat_template_kwargs_for_requests() == {"enable_thinking": True}
    assert load_model_config("qwen3-8b-reasoning-off")[0].chat_template_kwargs_for_requests() == {"enable_thinking": False}


def broken(tmp_path: Path, name: str, edit) -> Path:
    data = yaml.safe_load((MODELS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("llama-3.1-8b-instruct", lambda d: d.update(runner="tensorrt"), "runner: Value error, unknown runner 'tensorrt'"),
        ("llama-3.1-8b-instruct", lambda d: d.update(runner="vlm"), "did you mean 'vllm'? (known: baseline, external,"),
        ("llama-3.1-8b-instruct", lambda d: d["engine"].update(gpu_memory_utilization=1.5), "engine.gpu_memory_utilization: Input should be less than or equal to 1"),
        ("llama-3.1-8b-instruct", lambda d: d.update(colour="blue"), "colour: Extra inputs are not permitted"),
        ("llama-3.1-8b-instruct", lambda d: d.pop("revision"), "revision: required for hub models"),
        ("llama-3.1-8b-instruct-icd-lora", lambda d: d["adapter"].update(base_model="Qwen/Qwen3-8B"), "adapter.base_model 'Qwen/Qwen3-8B' is not model_id"),
        ("qwen3-8b-reasoning-off", lambda d: d.update(reasoning_budget=100), "reasoning_budget needs reasoning: true"),
        ("qwen3-8b-reasoning-off", lambda d: d.update(chat_template_kwargs={"enable_thinking": True}), "set reasoning: true|false instead"),
        ("qwen3-8b-served", lambda d: d["server"]["endpoints"][0].update(base_url="ftp://x"), "server.endpoints.0.base_url: String should match pattern"),
        ("qwen3-8b-reasoning-on", lambda d: d.update(trust_remote_code=True), "trust_remote_code: refused"),
        ("llama-3.1-8b-instruct", lambda d: d["engine"].update(distributed_executor_backend="torchrun"),
         "engine.distributed_executor_backend: Input should be 'mp', 'ray' or 'uni'"),
        ("llama-3.1-8b-instruct", lambda d: d["engine"].update(distributed_executor_backend="external_launcher"),
         "engine.distributed_executor_backend: Input should be 'mp', 'ray' or 'uni'"),
        ("llama-3.1-8b-instruct", lambda d: d["engine"].update(data_parallel_size=0),
         "engine.data_parallel_size: Input should be greater than or equal to 1"),
        ("llama-3.1-8b-instruct", lambda d: d["engine"].update(data_parallel_size=2),
         "engine.data_parallel_size 2: vLLM's offline engine (runner 'vllm') runs one copy of the model per process"),
        ("qwen3-8b-served", lambda d: d["server"].update(endpoint_cooldown_s=0),
         "server.endpoint_cooldown_s: Input should be greater than 0"),
    ],
)
def test_broken_copies_fail_precisely(tmp_path: Path, name: str, edit, message: str) -> None:
    path = broken(tmp_path, name, edit)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and str(path) in result.output


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = broken(tmp_path, "llama-3.1-8b-instruct", lambda d: d.update(runner="x", dtype="int3", colour="blue"))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "runner:" in result.output and "dtype:" in result.output and "colour:" in result.output


def test_remote_code_needs_the_flag(tmp_path: Path) -> None:
    path = broken(tmp_path, "qwen3-8b-reasoning-on", lambda d: d.update(trust_remote_code=True))
    with pytest.raises(OnkobenchError, match="trust_remote_code: refused"):
        load_model_config(str(path))
    config, _ = load_model_config(str(path), allow_remote_code=True)
    assert config.trust_remote_code
    assert CliRunner().invoke(main, ["validate", "--trust-remote-code", str(path)]).exit_code == 0


def test_engine_sharing_key() -> None:
    base, _ = load_model_config("llama-3.1-8b-instruct")
    lora, _ = load_model_config("llama-3.1-8b-instruct-icd-lora")
    on, _ = load_model_config("qwen3-8b-reasoning-on")
    off, _ = load_model_config("qwen3-8b-reasoning-off")
    assert base.engine_key() == lora.engine_key()  # adapters are per request: one engine
    assert on.engine_key() == off.engine_key()  # so is enable_thinking
    assert base.engine_key() != on.engine_key()
    assert load_model_config("smollm2-135m-instruct-cpu")[0].engine_key() is None


def test_validate_goes_by_the_nearest_folder_name(tmp_path: Path) -> None:
    """A checkout under ~/tasks must not turn model configs into task files."""
    import shutil

    from harness.config.models import MODELS_DIR
    from harness.validation import check_path

    models = tmp_path / "tasks" / "checkout" / "leaderboards" / "models"
    models.mkdir(parents=True)
    config = shutil.copy(MODELS_DIR / "llama-3.1-8b-instruct.yaml", models)
    assert check_path(Path(config)) == []


def test_a_description_too_long_to_publish_is_refused_when_the_config_loads() -> None:
    from pydantic import ValidationError

    from harness.config.models import ModelConfig

    with pytest.raises(ValidationError, match="metadata.description"):
        ModelConfig.model_validate({"name": "m", "runner": "baseline", "options": {"method": "catalogue_lookup"},
                                    "metadata": {"description": "x" * 301}})

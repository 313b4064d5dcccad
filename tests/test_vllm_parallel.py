"""vLLM's parallel layout in a model config (tensor, pipeline, data parallel sizes; executor backend): validated,
handed to vLLM's ``LLM`` as its own keywords, and recorded in the engine block from the manifest to the site.
vLLM is replaced by a fake module here, so this runs in the normal suite; tests/test_vllm_runner.py checks the
real engine (vllm marker)."""

from __future__ import annotations

import json
import sys
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config.models import ModelConfig
from harness.errors import OnkobenchError

from support.files import read_jsonl


class FakeLLM:
    """Records its keywords; answers every chat with ``C61``; its config says which executor backend it used."""

    made: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        FakeLLM.made.append(kwargs)
        used = kwargs.get("distributed_executor_backend") or "uni"  # vLLM picks one when none is asked for
        self.llm_engine = SimpleNamespace(vllm_config=SimpleNamespace(
            parallel_config=SimpleNamespace(distributed_executor_backend=used)))

    def get_tokenizer(self) -> Any:
        return SimpleNamespace(encode=lambda text, add_special_tokens=False: text.split())

    def chat(self, messages: list, **_: Any) -> list[Any]:
        return [SimpleNamespace(outputs=[SimpleNamespace(text="C61", token_ids=[1, 2], finish_reason="stop")],
                                prompt_token_ids=[1, 2, 3], metrics=None, num_cached_tokens=0) for _ in messages]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[FakeLLM]:
    FakeLLM.made = []
    vllm = ModuleType("vllm")
    vllm.__version__ = "0.32.0-fake"
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kwargs: SimpleNamespace(**kwargs)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    if find_spec("torch") is None:  # describe() names torch's version; a fake only where there is no torch (scipy
        torch = ModuleType("torch")  # and others look into an imported torch)
        torch.__version__ = "none"
        torch.cuda = SimpleNamespace(is_available=lambda: False)
        monkeypatch.setitem(sys.modules, "torch", torch)
    return FakeLLM


def vllm_config(**engine: Any) -> ModelConfig:
    return ModelConfig.model_validate({"name": "tiny-vllm", "runner": "vllm", "model_id": "org/model", "revision": "abc",
                                       "reasoning": False, "engine": engine})


def test_the_layout_reaches_the_llm_constructor(fake_vllm: type[FakeLLM], tmp_path: Path) -> None:
    from harness.runners.vllm import VLLMRunner

    VLLMRunner(vllm_config(tensor_parallel_size=2, distributed_executor_backend="mp"), tmp_path)
    VLLMRunner(vllm_config(), tmp_path)
    asked, default = fake_vllm.made[-2:]
    assert (asked["tensor_parallel_size"], asked["pipeline_parallel_size"], asked["data_parallel_size"],
            asked["distributed_executor_backend"]) == (2, 1, 1, "mp")
    # left open: not passed at all, so vLLM chooses as it would without onkobench
    assert default["data_parallel_size"] == 1 and "distributed_executor_backend" not in default


def test_ray_without_the_ray_package_is_one_line_naming_the_field(fake_vllm: type[FakeLLM], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from harness.runners.vllm import VLLMRunner

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(OnkobenchError, match=r"model tiny-vllm: engine.distributed_executor_backend: ray needs the ray "
                                             r"package on every node: pip install 'ray\[default\]'"):
        VLLMRunner(vllm_config(tensor_parallel_size=2, distributed_executor_backend="ray"), tmp_path)
    assert fake_vllm.made == []  # refused before the engine starts


def test_a_served_model_records_the_servers_data_parallel_size() -> None:
    """The openai runner's engine settings say how its servers were started (``vllm serve -dp 2``): accepted,
    kept in the config (and so in the manifest and the published config), never sent anywhere."""
    cfg = ModelConfig.model_validate({"name": "served", "runner": "openai", "model_id": "tiny",
                                      "server": {"endpoints": [{"base_url": "http://127.0.0.1:8000/v1"}]},
                                      "engine": {"data_parallel_size": 2}})
    assert cfg.model_dump(mode="json")["engine"]["data_parallel_size"] == 2


def test_parallel_settings_change_no_request_key_but_the_engine_and_the_config_hash() -> None:
    """Decided: how the engine is spread does not change what the model computes (data parallel copies each answer
    their own prompts with the same weights; TP and PP were never in the key), so stored answers are reused across
    layouts; a differently spread engine is another engine (never shared) and another config (hash)."""
    one, spread = vllm_config(), vllm_config(tensor_parallel_size=2, distributed_executor_backend="mp")
    assert one.identity() == spread.identity()
    assert one.engine_key() != spread.engine_key()
    assert one.config_hash() != spread.config_hash()
    assert vllm_config(data_parallel_size=1).config_hash() == one.config_hash()  # the defaults keep old hashes


def test_the_layout_is_recorded_from_manifest_to_site(fake_vllm: type[FakeLLM], mini_task_file: Path,
                                                      tmp_path: Path) -> None:
    from harness.config.tasks import load_task_file
    from harness.data import load_task_data
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.results import publish_runs
    from harness.runners.vllm import VLLMRunner

    cfg = vllm_config(tensor_parallel_size=2, distributed_executor_backend="mp")
    task = load_task_file(mini_task_file)
    runner = VLLMRunner(cfg, tmp_path)
    outcome = run_task_variant(RunSpec(task, task.variant("zero"), cfg, load_task_data(task)), tmp_path / "runs",
                               lambda: runner, progress=False)
    layout = {"tensor_parallel_size": 2, "pipeline_parallel_size": 1, "data_parallel_size": 1,
              "distributed_executor_backend": "mp", "executor_backend_used": "mp"}
    manifest = json.loads((outcome.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["parallel"] == layout
    assert manifest["model"]["engine"]["distributed_executor_backend"] == "mp"
    assert json.loads((outcome.folder / "summary.json").read_text(encoding="utf-8"))["engine"]["parallel"] == layout
    (published,) = publish_runs([tmp_path / "runs"], tmp_path / "results")
    result = json.loads(published.read_text(encoding="utf-8"))
    assert result["engine"]["parallel"] == layout and result["model_config"]["engine"]["tensor_parallel_size"] == 2
    assert len(read_jsonl(outcome.folder / "responses.jsonl")) == 5
    site = tmp_path / "site"
    report = CliRunner().invoke(main, ["report", str(tmp_path / "runs"), "--out", str(site)])
    assert report.exit_code == 0, report.output
    (run_page,) = (site / "runs").glob("*.html")
    assert "&#34;executor_backend_used&#34;: &#34;mp&#34;" in run_page.read_text(encoding="utf-8")  # the engine block
    (task_page,) = (site / "tasks").glob("*.html")
    assert "TP 2 · mp" in task_page.read_text(encoding="utf-8")


@pytest.mark.parametrize(("engine", "label"), [
    ({"engine": "vllm", "parallel": {"tensor_parallel_size": 1, "data_parallel_size": 1}}, ""),
    ({"engine": "vllm", "parallel": {"tensor_parallel_size": 8, "pipeline_parallel_size": 2,
                                     "executor_backend_used": "ray"}}, "TP 8 · PP 2 · ray"),
    ({"engine": "openai-compatible", "replicas": 3}, "3 replicas"),
    ({"parallel": "TP 9", "replicas": "many"}, ""),  # a result file's odd shapes give no label, never an error
    ("not an object", ""),
])
def test_engine_layout_label(engine: Any, label: str) -> None:
    from harness.report.site import _engine_layout

    assert _engine_layout(engine) == label

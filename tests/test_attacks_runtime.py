"""Attacks on a run while it runs: hostile replies and texts, a trickling server, two runs on one folder, a
corrupted responses file, a read-only output folder, a broken manifest, an engine that refuses a batch.

Each test names the item of issue #14 it covers; docs/reliability.md lists them."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fake_openai import FakeOpenAI, LocalServer, run_with_openai_runner
from support.files import FIXTURES, REPO_ROOT, read_jsonl

from harness.cli import main
from harness.config.models import ModelConfig
from harness.records import Request, Response, Sampling
from harness.runners.openai import OpenAIRunner
from harness.store import RunStore, json_line

RUN_FOLDER = "mini.coding--zero--served"


def served_config(url: str, timeout: float = 5.0, retries: int = 1) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "served", "runner": "openai", "model_id": "tiny",
        "server": {"endpoints": [{"base_url": url}], "max_retries": retries, "backoff_s": 0.01, "timeout_s": timeout,
                   "max_concurrency": 2, "stop_after_failures": 50},
    })


run = run_with_openai_runner


def model_file(folder: Path, url: str, retries: int = 1) -> Path:
    path = folder / "served.yaml"
    path.write_text(json.dumps({  # JSON is YAML
        "name": "served", "runner": "openai", "model_id": "tiny",
        "server": {"endpoints": [{"base_url": url}], "max_retries": retries, "backoff_s": 0.01, "timeout_s": 5},
    }), encoding="utf-8")
    path.chmod(0o644)
    return path


def request(key: str = "k") -> Request:
    return Request(key=key, task="t", variant="v", sample_id=key, messages=({"role": "user", "content": "Prostata"},),
                   sampling=Sampling(max_tokens=8))


class RawServer(LocalServer):
    """A local HTTP server whose POST handler writes whatever ``reply(handler, body)`` writes, byte by byte if it
    likes; ``stopping`` is set when the server closes, so a handler that trickles forever ends then."""

    def __init__(self, reply: Callable[[BaseHTTPRequestHandler, dict[str, Any], threading.Event], None]) -> None:
        self.stopping = threading.Event()
        stopping = self.stopping

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    reply(self, body, stopping)
                except OSError:  # the client hung up: what these servers are for
                    pass

        super().__init__(Handler)

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        super().__exit__(*exc)


def json_reply(body_for: Callable[[dict[str, Any]], Any]) -> Callable[..., None]:
    def reply(handler: BaseHTTPRequestHandler, body: dict[str, Any], stopping: threading.Event) -> None:
        payload = json.dumps(body_for(body)).encode("utf-8")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return reply


def completion(message: Any, usage: Any = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage if usage is not None else {"prompt_tokens": 7, "completion_tokens": 3}}


# --- item 8: lone surrogates in model replies and outputs files -----------------------------------------------


def test_lone_surrogate_in_a_reply_is_stored_replaced_and_scored(mini_task_file: Path, tmp_path: Path) -> None:
    def answer(body: dict) -> dict:
        # the fake server writes JSON with \ud800 escapes: the client decodes them to lone surrogates
        return {"content": "C61\ud800" if "Prostata" in body["messages"][-1]["content"] else "\ud800"}

    with FakeOpenAI(answer) as server:
        outcome = run(mini_task_file, tmp_path, served_config(server.base_url))
    rows = {r["sample_id"]: r for r in read_jsonl(outcome.folder / "responses.jsonl")}
    assert sorted(rows) == ["a", "b", "c", "d", "e"]  # the whole flush batch is stored
    assert rows["a"]["text"] == "C61\ufffd" and rows["b"]["text"] == "\ufffd"
    scores = {s["sample_id"]: s for s in read_jsonl(outcome.folder / "scores.jsonl")}
    # the parser decides on the replaced text: a code before U+FFFD is still a code, U+FFFD alone is none
    assert scores["a"]["status"] == "ok" and scores["a"]["values"]["correct"]
    assert {scores[s]["status"] for s in "bcde"} == {"malformed"}
    with FakeOpenAI() as untouched:  # a rerun reads the stored rows back and reuses them
        again = run(mini_task_file, tmp_path, served_config(untouched.base_url))
    assert again.n_reused == 5 and not untouched.served


def test_lone_surrogate_in_an_outputs_line_is_scored(mini_task_file: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "outs.jsonl"
    outputs.write_text('{"id": "a", "output": "C61\\ud800"}\n{"id": "b", "output": "\\udfff"}\n', encoding="ascii")
    result = CliRunner().invoke(main, ["score", "--task", str(mini_task_file), "--outputs", str(outputs),
                                       "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "runs").iterdir())
    assert [r["text"] for r in read_jsonl(folder / "responses.jsonl")] == ["C61\ufffd", "\ufffd"]
    scores = {s["sample_id"]: s["status"] for s in read_jsonl(folder / "scores.jsonl")}
    assert scores["a"] == "ok" and scores["b"] == "malformed"


def as_valid_unicode(text: str) -> str:
    """The oracle, code point by code point: a high+low surrogate pair is its character, any other surrogate U+FFFD."""
    out, i = [], 0
    while i < len(text):
        code = ord(text[i])
        if 0xD800 <= code <= 0xDBFF and i + 1 < len(text) and 0xDC00 <= ord(text[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((code - 0xD800) << 10) + (ord(text[i + 1]) - 0xDC00)))
            i += 2
            continue
        out.append("\ufffd" if 0xD800 <= code <= 0xDFFF else text[i])
        i += 1
    return "".join(out)


unicode_text = st.lists(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=40).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(unicode_text, min_size=1, max_size=5))
def test_any_unicode_is_stored_and_read_back(tmp_path_factory, texts: list[str]) -> None:
    store = RunStore(tmp_path_factory.mktemp("unicode"))
    rows = [Response(key=f"k{i}", text=text, reasoning=text or None).to_dict() for i, text in enumerate(texts)]
    store.append_responses(rows)
    assert store.quarantine_unreadable() == 0  # every stored line is a readable row
    expected = [as_valid_unicode(text) for text in texts]
    assert [r["text"] for r in store.iter_responses()] == expected
    index = store.response_index()
    with store.open_responses() as reader:
        assert [reader.read_at(index.offsets[f"k{i}"])["text"] for i in range(len(texts))] == expected


# --- item 9: reply shapes that crashed the openai runner ----------------------------------------------------


SHAPES = {
    "message_is_a_string": (lambda body: {"choices": [{"message": "C61", "finish_reason": "stop"}]},
                            "choices[0].message is a string"),
    "content_is_a_number": (lambda body: completion({"role": "assistant", "content": 61}), "message.content is a number"),
    "body_is_a_list": (lambda body: [completion({"content": "C61"})], "the body is a list"),
    "no_choices": (lambda body: {"choices": []}, "choices is a list"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_unreadable_reply_is_a_failed_request(mini_task_file: Path, tmp_path: Path, shape: str) -> None:
    body_for, message = SHAPES[shape]
    with RawServer(json_reply(body_for)) as server:
        outcome = run(mini_task_file, tmp_path, served_config(server.base_url, retries=1))
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    assert len(rows) == 5 and all(message in r["error"] for r in rows), rows[0]["error"]
    assert all(r["error"].startswith("gave up after 2 attempts: unreadable reply") for r in rows)
    assert outcome.summary.status_counts == {"error": 5}


def test_content_parts_are_joined_and_a_list_usage_is_ignored(mini_task_file: Path, tmp_path: Path) -> None:
    def body_for(body: dict) -> dict:
        parts = [{"type": "text", "text": "C"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "61"}]
        return completion({"role": "assistant", "content": parts}, usage=[7, 3])

    with RawServer(json_reply(body_for)) as server:
        outcome = run(mini_task_file, tmp_path, served_config(server.base_url))
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    assert {r["text"] for r in rows} == {"C61"} and all(r["error"] is None for r in rows)
    assert all(r["n_prompt_tokens"] is None and r["n_output_tokens"] is None for r in rows)
    assert outcome.summary.status_counts == {"ok": 5}


class _Replies:
    """Stands in for the runner's httpx client: every post returns the given body."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def post(self, url: str, **kwargs: Any) -> Any:
        import httpx

        return httpx.Response(200, content=self.content, request=httpx.Request("POST", url))

    def close(self) -> None:
        pass


@functools.cache
def _runner_without_client() -> OpenAIRunner:
    runner = OpenAIRunner(served_config("http://127.0.0.1:9/v1", retries=0), Path("."))
    runner.client.close()
    return runner


def reply_runner(content: bytes) -> OpenAIRunner:
    runner = _runner_without_client()
    runner.client = _Replies(content)
    return runner


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | unicode_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
parts = st.lists(st.dictionaries(st.sampled_from(["type", "text", "image_url"]), json_values | st.just("text"), max_size=3)
                 | json_values, max_size=3)
near_replies = st.fixed_dictionaries({
    "choices": st.lists(st.fixed_dictionaries({
        "message": st.dictionaries(st.sampled_from(["role", "content", "reasoning", "reasoning_content"]),
                                   json_values | parts, max_size=4) | json_values,
        "finish_reason": json_values,
    }) | json_values, max_size=2) | json_values,
    "usage": st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "completion_tokens_details",
                                              "prompt_tokens_details"]),
                             json_values | st.dictionaries(st.sampled_from(["reasoning_tokens", "cached_tokens"]), json_values),
                             max_size=4) | json_values,
})


@settings(max_examples=300, deadline=None)
@given(data=json_values | near_replies)
def test_any_reply_body_becomes_a_response(data: Any) -> None:
    runner = reply_runner(json.dumps(data).encode("utf-8"))
    response = runner.complete(request())
    assert isinstance(response, Response) and response.key == "k"
    assert response.error is None or response.error.startswith("gave up after 1 attempts")
    for count in (response.n_prompt_tokens, response.n_output_tokens, response.n_reasoning_tokens, response.n_cached_tokens):
        assert count is None or (type(count) is int and count >= 0)
    assert json.loads(json_line(response.to_dict()))["key"] == "k"  # storable as it is


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe{}", b'{"choices": [{"message": {"content": "C6'])
def test_deep_invalid_or_cut_bodies_are_failed_requests(content: bytes) -> None:
    response = reply_runner(content).complete(request())
    assert response.error and "truncated or invalid response" in response.error


# --- item 10: a total deadline per attempt ----------------------------------------------------------------


def trickle(headers_too: bool) -> Callable[..., None]:
    """A reply that never finishes: a byte every 0.1 s (headers first, or the body after honest headers)."""

    def reply(handler: BaseHTTPRequestHandler, body: dict[str, Any], stopping: threading.Event) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        if not headers_too:
            handler.wfile.write(head)
            head = b'{"choices": [{"message": {"content": "' + b"x" * 99_000
        for byte in head:
            if stopping.wait(0.1):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    return reply


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_trickling_server_is_cut_off_at_the_deadline(headers_too: bool) -> None:
    with RawServer(trickle(headers_too)) as server:
        runner = OpenAIRunner(served_config(server.base_url, timeout=1.0, retries=0), Path("."))
        responses: list[Response] = []
        worker = threading.Thread(target=lambda: responses.append(runner.complete(request())), daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(30)  # before: each byte restarted the read timeout, so this never ended
        elapsed, hung = time.monotonic() - started, worker.is_alive()
        runner.close()
    assert not hung and elapsed < 20, "the request did not end at its deadline"
    (response,) = responses
    assert response.error == "gave up after 1 attempts: no complete reply within 1 s"


# --- item 11: one run per folder ----------------------------------------------------------------------------


@pytest.fixture
def cli_task(tmp_path: Path) -> Path:
    target = tmp_path / "tasks"
    shutil.copytree(FIXTURES / "tasks", target)
    return target / "mini" / "coding.yaml"


def test_second_run_on_a_held_folder_exits_2_naming_the_holder(cli_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    with FakeOpenAI() as server, RunStore(out / RUN_FOLDER).lock():
        result = CliRunner().invoke(main, ["run", "--variant", "zero", "--task", str(cli_task), "--model", str(model_file(tmp_path, server.base_url)),
                                           "--out", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "another run is writing this folder" in lines[0]
    assert f"pid {os.getpid()} on {os.uname().nodename}, since 20" in lines[0] and "--wait" in lines[0]
    assert not server.served


def test_wait_starts_when_the_holder_is_done(cli_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with RunStore(out / RUN_FOLDER).lock():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    threading.Timer(1.0, release.set).start()
    with FakeOpenAI() as server:
        result = CliRunner().invoke(main, ["run", "--variant", "zero", "--task", str(cli_task), "--model", str(model_file(tmp_path, server.base_url)),
                                           "--out", str(out), "--no-progress", "--wait"])
    thread.join()
    assert result.exit_code == 0, result.output
    assert len(server.served) == 5


# root ignores file permissions: this launcher drops that power (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the
# bounding set, then execs the command, which then runs as the permissions say
_AS_PERMISSIONS_SAY = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for capability in (1, 2):
    if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        sys.exit(f"prctl: {os.strerror(ctypes.get_errno())}")
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def cli_process(args: list[str], honour_permissions: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    launcher = ["-c", _AS_PERMISSIONS_SAY] if honour_permissions and os.geteuid() == 0 else []
    return subprocess.Popen([sys.executable, *launcher, "-m", "harness.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "no-wait"])
def test_two_identical_runs_at_once_generate_each_sample_once(cli_task: Path, tmp_path: Path, wait: bool) -> None:
    procs: list[subprocess.Popen] = []

    def slow(body: dict) -> dict:
        time.sleep(1.5)  # long enough for both processes to reach the folder while the first generates
        if not wait:
            # on a loaded machine the second process may start after the first finished: hold the answers
            # until one of the two has given up, so that the refusal is what is tested
            deadline = time.monotonic() + 60
            while all(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
                time.sleep(0.05)
        return {"content": "C61"}

    with FakeOpenAI(slow) as server:
        args = ["run", "--variant", "zero", "--task", str(cli_task), "--model", str(model_file(tmp_path, server.base_url)),
                "--out", str(tmp_path / "runs"), "--no-progress", *(["--wait"] if wait else [])]
        procs.extend([cli_process(args), cli_process(args)])
        results = [proc.communicate(timeout=120) for proc in procs]
    assert len(server.served) == 5, results  # before: 10, every sample twice
    assert len(read_jsonl(tmp_path / "runs" / RUN_FOLDER / "responses.jsonl")) == 5
    if wait:  # the second starts when the first is done and finds everything stored
        assert [proc.returncode for proc in procs] == [0, 0], results
        assert sorted("generated 5, reused 0" in out for out, _ in results) == [False, True]
    else:
        assert sorted(proc.returncode for proc in procs) == [0, 2], results
        (refused,) = [err for proc, (_, err) in zip(procs, results) if proc.returncode == 2]
        assert "another run is writing this folder (pid " in refused and len(refused.strip().splitlines()) == 1


# --- item 12: a line corrupted in the middle of responses.jsonl -------------------------------------------


def test_corrupted_middle_line_is_quarantined_and_its_sample_redone(cli_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = ["run", "--variant", "zero", "--task", str(cli_task), "--out", str(out), "--no-progress"]
    with FakeOpenAI() as server:
        first = CliRunner().invoke(main, [*args, "--model", str(model_file(tmp_path, server.base_url))])
    assert first.exit_code == 0, first.output
    responses = out / RUN_FOLDER / "responses.jsonl"
    lines = responses.read_bytes().splitlines(keepends=True)
    victim = json.loads(lines[2])
    # the key stays findable, the rest of the line is garbage: before, this stopped every rerun for good
    lines[2] = lines[2][:-20] + b"\x00\x00\x00\x00\n"
    responses.write_bytes(b"".join(lines))
    offset = sum(len(line) for line in lines[:2])
    with FakeOpenAI() as server:
        result = CliRunner().invoke(main, [*args, "--model", str(model_file(tmp_path, server.base_url))])
    assert result.exit_code == 0, result.output + result.stderr
    assert len(server.served) == 1 and "generated 1, reused 4" in result.stdout
    (warning,) = result.stderr.strip().splitlines()
    assert "1 unreadable line(s)" in warning and "responses.quarantine.jsonl" in warning
    (moved,) = read_jsonl(out / RUN_FOLDER / "responses.quarantine.jsonl")
    assert moved["offset"] == offset and victim["key"] in moved["line"]
    stored = read_jsonl(responses)
    assert len(stored) == 5 and sorted(r["sample_id"] for r in stored) == ["a", "b", "c", "d", "e"]


# --- item 14b: read-only output folder, broken manifest ---------------------------------------------------


def one_line_exit_2(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_read_only_output_folder_is_one_line_exit_2(cli_task: Path, tmp_path: Path, existing: bool) -> None:
    out = tmp_path / "runs"
    out.mkdir()
    with FakeOpenAI() as server:
        args = ["run", "--variant", "zero", "--task", str(cli_task), "--model", str(model_file(tmp_path, server.base_url)),
                "--out", str(out), "--no-progress"]
        if existing:  # a finished run, then its folder made read-only; the rerun rewrites manifest and scores
            first = cli_process(args)
            assert first.wait(timeout=120) == 0, first.communicate()
            for path in (out / RUN_FOLDER).iterdir():
                path.chmod(0o444)
            (out / RUN_FOLDER).chmod(0o555)
        else:
            out.chmod(0o555)
        try:
            line = one_line_exit_2(cli_process(args, honour_permissions=True))
        finally:
            out.chmod(0o755)
            if existing:
                (out / RUN_FOLDER).chmod(0o755)
    assert "Permission denied" in line and "--out" in line and str(out) in line


@pytest.mark.parametrize("manifest", ['{"run_id": 5}', "{not json", "[]"], ids=["wrong-fields", "not-json", "a-list"])
def test_broken_manifest_is_one_line_saying_what_to_do(cli_task: Path, tmp_path: Path, manifest: str) -> None:
    out = tmp_path / "runs"
    (out / RUN_FOLDER).mkdir(parents=True)
    (out / RUN_FOLDER / "manifest.json").write_text(manifest, encoding="utf-8")
    with FakeOpenAI() as server:
        result = CliRunner().invoke(main, ["run", "--variant", "zero", "--task", str(cli_task), "--model", str(model_file(tmp_path, server.base_url)),
                                           "--out", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "manifest.json" in line and "delete it and rerun" in line and "move" in line


def test_deleting_the_broken_manifest_as_advised_reuses_the_stored_responses(cli_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    with FakeOpenAI() as server:
        args = ["run", "--variant", "zero", "--task", str(cli_task), "--model", str(model_file(tmp_path, server.base_url)), "--out", str(out),
                "--no-progress"]
        assert CliRunner().invoke(main, args).exit_code == 0
        (out / RUN_FOLDER / "manifest.json").write_text("{broken", encoding="utf-8")
        assert CliRunner().invoke(main, args).exit_code == 2
        (out / RUN_FOLDER / "manifest.json").unlink()
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "generated 0, reused 5" in result.output
    assert len(server.served) == 5


# --- item 16: the vLLM runner records what the engine refuses, as the openai runner does ------------------


class _Output:
    def __init__(self, text: str) -> None:
        completion = type("Completion", (), {"text": text, "token_ids": [1, 2], "finish_reason": "stop"})
        self.outputs = [completion()]
        self.prompt_token_ids = [1, 2, 3]
        self.metrics = None
        self.num_cached_tokens = 0


class _PickyEngine:
    """Refuses a whole batch when one prompt is too long, as vLLM does (it checks every prompt before it starts)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def chat(self, messages: list[list[dict[str, str]]], **kwargs: Any) -> list[_Output]:
        self.calls.append(len(messages))
        if any("zu lang" in chat[-1]["content"] for chat in messages):
            raise ValueError("The decoder prompt (length 5000) is longer than the maximum model length of 1024.\nMake it shorter.")
        return [_Output("C61") for _ in messages]


def test_vllm_batch_failure_is_retried_one_by_one_and_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.runners.vllm import VLLMRunner

    runner = object.__new__(VLLMRunner)  # the engine replaced by one that refuses batches; no vllm needed
    runner.config = ModelConfig(name="tiny", runner="vllm", model_id="tiny")
    runner.llm, runner.lora_requests, runner.chat_template, runner.completion = _PickyEngine(), {}, None, None
    monkeypatch.setattr(VLLMRunner, "_sampling_params", lambda self, sampling, regex: sampling)

    def req(key: str, text: str) -> Request:
        return Request(key=key, task="t", variant="v", sample_id=key, messages=({"role": "user", "content": text},),
                       sampling=Sampling(max_tokens=8))

    responses = {r.key: r for r in runner.generate([req("a", "Prostata"), req("b", "zu lang " * 500), req("c", "Lunge")])}
    assert sorted(responses) == ["a", "b", "c"]
    assert responses["a"].text == responses["c"].text == "C61" and responses["a"].error is None
    assert responses["b"].text == "" and responses["b"].error.startswith("vllm: ValueError: The decoder prompt")
    assert "\n" not in responses["b"].error
    assert runner.llm.calls == [3, 1, 1, 1]  # the batch, then each request alone

"""A local OpenAI-compatible server for tests: answers by a rule, and fails on purpose when told to."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config.models import ModelConfig

Answer = Callable[[dict[str, Any]], dict[str, Any]]
"""Request body -> {"content": ..., "reasoning": ..., "finish_reason": ...}."""


def echo_code(body: dict[str, Any]) -> dict[str, Any]:
    last = body["messages"][-1]["content"]
    return {"content": "C61" if "Prostata" in last else "C34.1", "finish_reason": "stop"}


class LocalServer:
    """A threading HTTP server on a free local port, started and stopped as a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_with_openai_runner(task_file: Path, out: Path, cfg: "ModelConfig", variant: str = "zero",  # noqa: ANN201
                           runner: "OpenAIRunner | None" = None):
    """Run one variant of a task file with the openai runner of ``cfg`` into ``out``; the RunOutcome. ``runner``: one
    already made (its endpoint pool remembers earlier runs), left open; else a fresh one, closed after."""
    from harness.config.tasks import load_task_file
    from harness.data import load_task_data
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.runners.openai import OpenAIRunner

    task = load_task_file(task_file)
    own = runner is None
    used = OpenAIRunner(cfg, out) if runner is None else runner
    try:
        return run_task_variant(RunSpec(task, task.variant(variant), cfg, load_task_data(task)), out, lambda: used,
                                progress=False)
    finally:
        if own:
            used.close()


class FakeOpenAI(LocalServer):
    """``faults`` maps a fault name to how many times it happens per distinct prompt before success:
    ``http500``, ``reset`` (connection closed), ``truncated`` (half a JSON body), ``slow`` (sleep ``slow_s``).

    ``die_after``: the server dies when request number ``die_after + 1`` arrives, as a killed process does: that
    request and those still being answered get no reply (their connections are closed), and the port refuses
    every later connection."""

    def __init__(self, answer: Answer = echo_code, faults: dict[str, int] | None = None, slow_s: float = 0.0,
                 reasoning_field: str = "reasoning", die_after: int | None = None) -> None:
        self.answer = answer
        self.faults = faults or {}
        self.slow_s = slow_s
        self.reasoning_field = reasoning_field
        self.die_after = die_after
        self.received = 0
        self.dead = threading.Event()
        self.attempts: Counter[str] = Counter()
        self.served: list[str] = []
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def _dies_now(self) -> bool:
        """Counts a request; True once the server is dead (it dies on request ``die_after + 1``)."""
        with self.lock:
            self.received += 1
            if self.die_after is not None and self.received > self.die_after and not self.dead.is_set():
                self.dead.set()
                # shutdown() waits for the accept loop, which this handler thread is not: close the port beside it
                threading.Thread(target=self._close_port, daemon=True).start()
        return self.dead.is_set()

    def _close_port(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _fault_for(self, prompt: str) -> str | None:
        with self.lock:
            attempt = self.attempts[prompt]
            self.attempts[prompt] += 1
        seen = 0
        for fault, times in self.faults.items():
            if attempt < seen + times:
                return fault
            seen += times
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if server._dies_now():
                    self.connection.close()
                    return
                prompt = json.dumps(body["messages"], ensure_ascii=False)
                fault = server._fault_for(prompt)
                if fault == "reset":
                    self.connection.close()
                    return
                if fault in ("http500", "http400"):
                    self.send_response(int(fault[4:]))
                    self.end_headers()
                    return
                if fault == "slow":
                    time.sleep(server.slow_s)
                answer = server.answer(body)
                message = {"role": "assistant", "content": answer.get("content")}
                if answer.get("reasoning") is not None:
                    message[server.reasoning_field] = answer["reasoning"]
                payload = json.dumps({
                    "choices": [{"index": 0, "message": message, "finish_reason": answer.get("finish_reason", "stop")}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "completion_tokens_details": {"reasoning_tokens": answer.get("reasoning_tokens")}},
                }).encode("utf-8")
                if fault == "truncated":
                    payload = payload[: len(payload) // 2]
                if server.dead.is_set():  # died while this reply was being made: it never leaves
                    self.connection.close()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                with server.lock:
                    server.served.append(prompt)

        return Handler

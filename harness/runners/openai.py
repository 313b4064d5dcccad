"""OpenAI-compatible chat completions (``vllm serve`` and others): bounded concurrency, retries with
backoff on timeouts, resets and 5xx, several base URLs shared round-robin, client-side latency."""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError, RunnerUnavailableError
from harness.config.models import ModelConfig
from harness.records import Request, Response
from harness.runners.base import Runner
from harness.runners.reasoning import split_reasoning

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
GAVE_UP = "gave up after"


class _Retryable(Exception):
    pass


class OpenAIRunner(Runner):
    """OpenAI-compatible chat server(s) (e.g. ``vllm serve``), round-robin with retries and backoff."""

    engine_packages = ("httpx",)

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        super().check_config(config)
        if config.server is None:
            raise ValueError("runner 'openai' needs server.endpoints")

    def __init__(self, config: ModelConfig, config_dir: Path) -> None:
        import httpx

        if config.server is None:
            raise OnkobenchError(f"model {config.name}: runner 'openai' needs server.endpoints")
        self.config = config
        self.server = config.server
        self.urls = [e.base_url.rstrip("/") for e in self.server.endpoints]
        self.headers = []
        for endpoint in self.server.endpoints:
            key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
            if endpoint.api_key_env and not key:
                raise OnkobenchError(f"model {config.name}: environment variable {endpoint.api_key_env} is not set")
            self.headers.append({"Authorization": f"Bearer {key}"} if key else {})
        self.model_name = self.server.served_model_name or (config.adapter.name if config.adapter else config.model_id)
        limits = httpx.Limits(max_connections=self.server.max_concurrency * 2)
        self.client = httpx.Client(timeout=self.server.timeout_s, limits=limits)
        self.httpx = httpx
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def describe(self) -> dict[str, Any]:
        return {"engine": "openai-compatible", "endpoints": self.urls, "served_model_name": self.model_name,
                "max_concurrency": self.server.max_concurrency, "httpx": self.httpx.__version__}

    def close(self) -> None:
        self.client.close()

    def body(self, request: Request) -> dict[str, Any]:
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": list(request.messages),
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if request.chat_template_kwargs:
            body["chat_template_kwargs"] = dict(request.chat_template_kwargs)
        if request.structured_regex:
            body["structured_outputs"] = {"regex": request.structured_regex}
        return body

    def _endpoint(self) -> int:
        with self._lock:
            return next(self._next) % len(self.urls)

    def _attempt(self, request: Request) -> Response:
        index = self._endpoint()
        start = time.perf_counter()
        try:
            reply = self.client.post(f"{self.urls[index]}/chat/completions", json=self.body(request), headers=self.headers[index])
        except (self.httpx.TimeoutException, self.httpx.TransportError) as err:
            raise _Retryable(f"{type(err).__name__}: {err}") from err
        latency = time.perf_counter() - start
        if reply.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {reply.status_code} from {self.urls[index]}")
        if reply.status_code >= 400:
            return Response(key=request.key, text="", error=f"HTTP {reply.status_code}: {reply.text[:300]}", latency_s=latency)
        try:
            data = reply.json()
            choice = data["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise _Retryable(f"truncated or invalid response ({type(err).__name__})") from err
        return self._response(request, data, choice, message, latency)

    def _response(self, request: Request, data: dict, choice: dict, message: dict, latency: float) -> Response:
        content = message.get("content") or ""
        # vLLM >= 0.33 puts the trace in `reasoning`; older servers in `reasoning_content`
        trace = message.get("reasoning") or message.get("reasoning_content")
        finish = choice.get("finish_reason")
        if trace is not None:
            answer, truncated = content, bool(self.config.reasoning) and not content.strip() and finish == "length"
        else:
            split = split_reasoning(content, bool(self.config.reasoning), self.config.think_end)
            answer, trace, truncated = split.answer, split.reasoning, split.truncated
        usage = data.get("usage") or {}
        details = usage.get("completion_tokens_details") or {}
        return Response(
            key=request.key, text=answer, reasoning=trace, reasoning_truncated=truncated,
            raw_text=content if content != answer else None, finish_reason=finish,
            n_prompt_tokens=usage.get("prompt_tokens"), n_output_tokens=usage.get("completion_tokens"),
            n_reasoning_tokens=details.get("reasoning_tokens"),
            n_cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
            latency_s=latency, n_batch=1,
        )

    def complete(self, request: Request) -> Response:
        """One request with retries; after the last failed attempt a Response with ``error`` set."""
        last = ""
        for attempt in range(self.server.max_retries + 1):
            try:
                return self._attempt(request)
            except _Retryable as err:
                last = str(err)
                if attempt < self.server.max_retries:
                    with self._lock:
                        jitter = self._rng.uniform(0, self.server.backoff_s)
                    time.sleep(self.server.backoff_s * 2**attempt + jitter)
        return Response(key=request.key, text="", error=f"{GAVE_UP} {self.server.max_retries + 1} attempts: {last}")

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        failures_in_a_row = 0
        with ThreadPoolExecutor(max_workers=self.server.max_concurrency, thread_name_prefix="onkobench-http") as pool:
            futures = [pool.submit(self.complete, request) for request in requests]
            try:
                for future in as_completed(futures):
                    response = future.result()
                    yield response
                    failures_in_a_row = failures_in_a_row + 1 if (response.error or "").startswith(GAVE_UP) else 0
                    if failures_in_a_row >= self.server.stop_after_failures:
                        raise RunnerUnavailableError(
                            f"model {self.config.name}: {failures_in_a_row} requests in a row failed after all retries "
                            f"({response.error}); the run stopped, finished samples are stored - rerun to continue"
                        )
            finally:
                for future in futures:
                    future.cancel()

"""OpenAI-compatible chat completions (``vllm serve`` and others): bounded concurrency, retries with
backoff on timeouts, resets and 5xx, several base URLs (replicas) shared round-robin with a failing one left
out for a while, client-side latency, a total deadline per attempt, and replies read defensively (a reply of
the wrong shape is a failed request)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError, RunnerUnavailableError
from harness.config.models import ModelConfig, redact_url
from harness.records import Request, Response
from harness.runners.base import Runner
from harness.runners.endpoints import EndpointPool
from harness.runners.reasoning import split_reasoning

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
GAVE_UP = "gave up after"


class _Retryable(Exception):
    pass


_DEADLINE = threading.local()
"""``at``: the monotonic time by which the calling thread's current attempt must be done (None: none)."""


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` capped by what is left of this thread's deadline; ``expired`` is raised once it has passed."""
    deadline = getattr(_DEADLINE, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's total time limit passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """An httpcore network stream whose every read and write ends by the calling thread's deadline."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        import httpcore

        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        import httpcore

        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> "_DeadlineStream":
        import httpcore

        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend:
    """An httpcore network backend whose connections are ``_DeadlineStream`` s."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> _DeadlineStream:
        import httpcore

        return _DeadlineStream(self._backend.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout),
                                                         local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> _DeadlineStream:
        import httpcore

        return _DeadlineStream(self._backend.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bound_total_time(client: Any) -> None:
    """Make every connection pool of an ``httpx.Client`` honour the per-thread deadline set by ``_attempt``.

    httpx's timeouts bound each read, not a request (encode/httpx#1450): a server that trickles a byte at a
    time never times out. httpx has no hook for this, so the network backend of each pool (the default one
    and any proxy's) is wrapped; a version of httpx without those pools is an error, never an unbounded run.
    """
    transports = [client._transport, *(t for t in getattr(client, "_mounts", {}).values() if t is not None)]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is None or not hasattr(pool, "_network_backend"):
            import httpx

            raise OnkobenchError(f"httpx {httpx.__version__}: cannot bound the total time of a request "
                                 "(its connection pool changed); install httpx 0.27 or 0.28")
        pool._network_backend = _DeadlineBackend(pool._network_backend)


class UnreadableReply(ValueError):
    """A reply that arrived whole but is not a chat completion (wrong JSON shape or types)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the runner takes from a chat completion body, each part of the type it must have."""

    content: str
    trace: str | None
    finish_reason: str | None
    n_prompt_tokens: int | None
    n_output_tokens: int | None
    n_reasoning_tokens: int | None
    n_cached_tokens: int | None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _text(value: Any, where: str) -> str | None:
    """A text field: a string, null, or a list of content parts whose text parts are joined."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise UnreadableReply(f"{where} is {_kind(value)}, not text")
    texts = []
    for part in value:  # [{"type": "text", "text": "..."}, ...]: the OpenAI content-part form
        if isinstance(part, str):
            texts.append(part)
        elif not isinstance(part, dict):
            raise UnreadableReply(f"{where}: a content part is {_kind(part)}")
        elif part.get("type", "text") == "text":
            if not isinstance(part.get("text"), str):
                raise UnreadableReply(f"{where}: a text part has no text")
            texts.append(part["text"])
        # other parts (images, refusals, tool calls) hold no answer text
    return "".join(texts)


def _count(value: Any) -> int | None:
    """A token count, or None for anything that is not one (a count is metadata: never a reason to drop the answer)."""
    return value if type(value) is int and 0 <= value < 2**53 else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_reply(data: Any) -> Reply:
    """The checked parts of a chat completion body (parsed JSON); ``UnreadableReply`` names what is wrong."""
    if not isinstance(data, dict):
        raise UnreadableReply(f"the body is {_kind(data)}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise UnreadableReply(f"choices is {_kind(choices)}, not a non-empty list")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise UnreadableReply(f"choices[0] is {_kind(choice)}, not an object")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UnreadableReply(f"choices[0].message is {_kind(message)}, not an object")
    content = _text(message.get("content"), "message.content") or ""
    # vLLM >= 0.33 puts the trace in `reasoning`; older servers in `reasoning_content`
    trace = _text(message.get("reasoning"), "message.reasoning") or _text(message.get("reasoning_content"),
                                                                          "message.reasoning_content")
    finish = choice.get("finish_reason")
    usage = _object(data.get("usage"))
    return Reply(
        content=content, trace=trace, finish_reason=finish if isinstance(finish, str) else None,
        n_prompt_tokens=_count(usage.get("prompt_tokens")), n_output_tokens=_count(usage.get("completion_tokens")),
        n_reasoning_tokens=_count(_object(usage.get("completion_tokens_details")).get("reasoning_tokens")),
        n_cached_tokens=_count(_object(usage.get("prompt_tokens_details")).get("cached_tokens")),
    )


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
        bound_total_time(self.client)
        self.httpx = httpx
        self.pool = EndpointPool(len(self.urls), self.server.endpoint_cooldown_s)
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def describe(self) -> dict[str, Any]:
        return {"engine": "openai-compatible", "endpoints": [redact_url(u) for u in self.urls],  # recorded: no secrets
                "replicas": len(self.urls), "served_model_name": self.model_name, "max_concurrency": self.server.max_concurrency,
                "httpx": self.httpx.__version__}

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

    def _attempt(self, request: Request, index: int) -> Response:
        """One HTTP request to endpoint ``index``, all of it (connect, send, the whole reply) within ``timeout_s``."""
        start = time.perf_counter()
        _DEADLINE.at = deadline = time.monotonic() + self.server.timeout_s
        try:
            reply = self.client.post(f"{self.urls[index]}/chat/completions", json=self.body(request), headers=self.headers[index])
        except (self.httpx.TimeoutException, self.httpx.TransportError) as err:
            if time.monotonic() >= deadline:
                raise _Retryable(f"no complete reply within {self.server.timeout_s:g} s") from err
            raise _Retryable(f"{type(err).__name__}: {err}") from err
        finally:
            _DEADLINE.at = None
        latency = time.perf_counter() - start
        if reply.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {reply.status_code} from {redact_url(self.urls[index])}")
        if reply.status_code >= 400:
            return Response(key=request.key, text="", error=f"HTTP {reply.status_code}: {reply.text[:300]}", latency_s=latency,
                            n_batch=1)
        try:
            parsed = read_reply(reply.json())
        except UnreadableReply as err:
            raise _Retryable(f"unreadable reply: {err}") from err
        except (ValueError, RecursionError) as err:  # cut short, not JSON, or nested past the parser's depth
            raise _Retryable(f"truncated or invalid response ({type(err).__name__})") from err
        return self.response(request, parsed, latency)

    def response(self, request: Request, reply: Reply, latency: float | None = None) -> Response:
        """The Response for a read reply: reasoning split off by field or by end-of-thinking marker."""
        content, trace, finish = reply.content, reply.trace, reply.finish_reason
        if trace is not None:
            answer, truncated = content, bool(self.config.reasoning) and not content.strip() and finish == "length"
        else:
            split = split_reasoning(content, bool(self.config.reasoning), self.config.think_end)
            answer, trace, truncated = split.answer, split.reasoning, split.truncated
        return Response(
            key=request.key, text=answer, reasoning=trace, reasoning_truncated=truncated,
            raw_text=content if content != answer else None, finish_reason=finish,
            n_prompt_tokens=reply.n_prompt_tokens, n_output_tokens=reply.n_output_tokens,
            n_reasoning_tokens=reply.n_reasoning_tokens, n_cached_tokens=reply.n_cached_tokens,
            latency_s=latency, n_batch=1,
        )

    def complete(self, request: Request) -> Response:
        """One request with retries; after the last failed attempt a Response with ``error`` set. A failed
        attempt leaves its endpoint out for a while; the next attempt goes at once to another endpoint that is
        up (a dead replica among live ones costs no sample and no wait), and backs off only while none is."""
        last = ""
        for attempt in range(self.server.max_retries + 1):
            index, picked_at = self.pool.pick()
            try:
                response = self._attempt(request, index)
            except _Retryable as err:
                last = str(err)
                self.pool.failed(index, picked_at)
                if attempt < self.server.max_retries and not self.pool.any_up():
                    with self._lock:
                        jitter = self._rng.uniform(0, self.server.backoff_s)
                    time.sleep(self.server.backoff_s * 2**attempt + jitter)
                continue
            self.pool.answered(index)
            return response
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

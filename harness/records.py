"""Requests and responses: the records every stage passes on (stdlib only)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from itertools import chain
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    return str(obj)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, streamed (any size): the content hash configs, manifests and caches record."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex sha256 of the canonical JSON form of ``obj``."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def stable_hash_of_rows(rows: Sequence[Any], length: int = 16, chunk: int = 4096) -> str:
    """``stable_hash(rows)`` for a list, computed chunk by chunk so that a large data set is never one string."""
    digest = hashlib.sha256(b"[")
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        data = _plain_rows_json(part)
        if data is None:
            data = ",".join(
                json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain) for row in part
            ).encode("utf-8")
        digest.update((b"," if start else b"") + data)
    digest.update(b"]")
    return digest.hexdigest()[:length]


_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def _plain_rows_json(rows: Sequence[Any]) -> bytes | None:
    """The rows' canonical JSON joined by commas, by orjson, for rows it writes exactly as ``stable_hash`` does: flat
    dicts of strings, integers, booleans and None (a data set's rows, usually). None for any other rows."""
    if set(map(type, rows)) != {dict}:
        return None
    if not _PLAIN_TYPES.issuperset(map(type, chain.from_iterable(map(dict.values, rows)))):
        return None  # floats are written differently (1e-05 vs 1e-5), other types go through _plain
    import orjson  # not at the top: this module is the stdlib-only base every stage imports

    try:
        # keys are sorted by code point either way (orjson by UTF-8 bytes: the same order)
        return orjson.dumps(list(rows), option=orjson.OPT_SORT_KEYS)[1:-1]
    except orjson.JSONEncodeError:
        return None  # a lone surrogate, a non-string key, an integer beyond 64 bits: the stdlib's way


@dataclass(frozen=True, slots=True)
class Sampling:
    """Generation settings sent to a runner; always explicit, never an engine's defaults."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """One chat request for one sample of one task variant."""

    key: str
    """Hash of model identity, rendered messages and sampling: cache and resume key."""
    task: str
    variant: str
    sample_id: str
    messages: tuple[dict[str, str], ...]
    sampling: Sampling
    shot_ids: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    """The sample's input fields; non-LLM baselines read these instead of the chat."""
    answer_kind: str = ""
    """What the task asks for (e.g. ``icd10gm_code``); LLM runners ignore it."""
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    query_index: int = 0
    """Position among the sample's queries (variants with several queries per sample)."""
    query_item: Any = None
    """The element this query asks about (e.g. a candidate date), stored with the response."""
    skip_answer: str | None = None
    """Set when a rule answers this query without a model (e.g. no candidate dates); never sent."""
    structured_regex: str | None = None
    """Constrain the answer to this regex (structured outputs), for engines that support it."""
    training_split: str | None = None
    """The task's training split file, for runners that learn from it (``reads_training_split``); others get None."""
    adapter: str | None = None
    """The LoRA adapter to answer with (engines that serve several adapters on one base model)."""

    @property
    def messages_hash(self) -> str:
        return stable_hash(list(self.messages))


@dataclass(frozen=True, slots=True)
class Response:
    """What a runner returned for one request; ``error`` set when it failed for good."""

    key: str
    text: str
    """The final answer: for reasoning models only what follows the end-of-thinking marker."""
    reasoning: str | None = None
    reasoning_truncated: bool = False
    """The token budget ran out inside the reasoning, so there is no answer (never parsed as one)."""
    raw_text: str | None = None
    """Everything the model generated, when it differs from ``text`` (reasoning included)."""
    finish_reason: str | None = None
    n_prompt_tokens: int | None = None
    n_output_tokens: int | None = None
    n_reasoning_tokens: int | None = None
    n_cached_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    queue_s: float | None = None
    decode_s: float | None = None
    n_batch: int | None = None
    """Requests processed together with this one; ``latency_s`` covers the whole batch unless ``share_s`` is given.
    (vLLM rows stored on 2026-11-30 before ``share_s`` carry ``batch_s``, the engine call's wall time; the scoring
    still reads it from those rows.)"""
    share_s: float | None = None
    """This request's share of the wall time of the engine call that answered it, for engines that hand answers on
    as they finish and whose ``latency_s`` is the request's own (continuous batching: vLLM): the time from the call's
    previous answer (the first: from the call's start) to this one, so the shares of a call add up to its wall time."""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # every field is a str, number, bool or None: no deep copy needed (``asdict`` costs 10x as much per row)
        return {name: getattr(self, name) for name in _RESPONSE_FIELDS}


_RESPONSE_FIELDS = tuple(item.name for item in fields(Response))

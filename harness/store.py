"""Run folders: manifest, append-only raw responses (the source of truth), derived scores and summary.

The only module that knows a run folder's file names and formats: everything else asks a RunStore.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import OnkobenchError
from harness.jsonl import ColumnEncoder, json_line, loads, loads_or, quick_loads_many

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, run folders are not locked there
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"
RESPONSES = "responses.jsonl"
SCORES = "scores.jsonl"
SUMMARY = "summary.json"
QUARANTINE = "responses.quarantine.jsonl"
"""Lines of responses.jsonl that could not be read, moved aside with their byte offset (their samples run again)."""
LOCK = "run.lock"
"""Held (flock) by the run writing the folder; names the holder while it is held, empty otherwise."""
HOLDER_UNKNOWN = "holder not yet recorded"
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def table_fingerprint(dataset: dict[str, Any]) -> str:
    """The data a run's numbers can be compared on: a chained step's base data set, else its own."""
    return str(dataset.get("base_fingerprint", dataset.get("fingerprint", "")))


class PromptPackRecord(BaseModel):
    """The prompt pack a run was started with (``onkobench run --prompts DIR``); part of the run's identity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The pack folder's name (never its path)."""
    hash: str = Field(max_length=64)
    """Hash of the pack's content (``harness.config.prompt_packs.PromptPack``)."""
    variant_in_pack: bool
    """False: the pack has no wording for the run's variant, so the task's own turns were used instead."""


class ShardRecord(BaseModel):
    """The part of a run one machine ran (``onkobench run --shard i/n``): the folder holds only the samples whose id
    hashes to shard ``index`` of ``count`` (``harness.pipeline.shards``), so it is never a whole run. Report, publish,
    verify and chained steps refuse it; ``onkobench merge`` joins all ``count`` shards into the whole run, which
    records the fields below as its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=1)
    """1-based."""
    count: int = Field(ge=1)
    fingerprint: str
    """The whole run's data fingerprint (the shard's own ``dataset.fingerprint`` is that of its part)."""
    base_fingerprint: str | None = None
    """A chained step's whole base data fingerprint."""
    n_samples: int = Field(ge=0)
    """Samples of the whole run."""
    first: int | None = Field(default=None, ge=1)
    """The data was cut to its first N samples (``--limit``, a suite's ``limit``) before the split."""
    engine_version: str
    """The engine versions in the shard machine's request keys: the merge rebuilds those keys with them."""

    @model_validator(mode="after")
    def _index_in_count(self) -> "ShardRecord":
        if self.index > self.count:
            raise ValueError(f"shard {self.index}/{self.count}: the index exceeds the count")
        return self

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


class RunManifest(BaseModel):
    """Everything needed to know what a run was; written before the first request."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    run_id: str
    task: str
    task_version: int
    variant: str
    model: dict[str, Any]
    """The full model config."""
    model_config_hash: str
    dataset: dict[str, Any]
    """Source, fingerprint, private/synthetic flags and sample count."""
    prompt_template_hash: str
    shot_ids: list[str]
    generation: dict[str, Any]
    harness_version: str
    git_commit: str | None
    git_dirty: bool | None
    packages: dict[str, str]
    hardware: dict[str, Any]
    engine: dict[str, Any] = {}
    """What the runner reported about itself (engine, version, device)."""
    upstream: dict[str, Any] | None = None
    """For a chained step: the run (or gold labels) its samples were built from."""
    prompt_pack: PromptPackRecord | None = None
    """The prompt pack of the run; None: the task's own wording."""
    shard: ShardRecord | None = None
    """Set on a shard of a run (``--shard i/n``); None: the whole run."""
    merged_from: list[dict[str, Any]] | None = None
    """Set by ``onkobench merge``: each shard's index, times, engine, hardware and commit (the provenance above is
    shard 1's)."""
    started_at: str
    finished_at: str | None = None

    @property
    def table_fingerprint(self) -> str:
        return table_fingerprint(self.dataset)

    @property
    def chain_tag(self) -> str | None:
        return (self.upstream or {}).get("tag")


SUMMARY_FORMAT = 1
"""Version of summary.json; a reader of an older format migrates it in ``RunSummary``."""


class MetricEstimate(BaseModel):
    """A metric's value with its 95% interval; None where it is undefined (e.g. n = 0)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float | None
    lo: float | None
    hi: float | None
    n: int
    method: str


class ModelSummary(BaseModel):
    """What a table row shows of the model (the full config is in the manifest)."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    name: str
    display_name: str
    runner: str
    metadata: dict[str, Any] = {}
    reasoning: bool | None = None
    model_id: str | None = None
    revision: str | None = None
    adapter: str | None = None


class RunSummary(BaseModel):
    """summary.json: a run's metrics with intervals, status counts, latency, tokens and provenance.

    Written by scoring, read by the CLI, chains, report and results; derived from the stored files only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    format: int = SUMMARY_FORMAT
    run_id: str
    task: str
    task_version: int
    family: str
    answer_kind: str = ""
    variant: str
    model: ModelSummary
    model_config_hash: str
    dataset: dict[str, Any]
    upstream: dict[str, Any] | None = None
    prompt_pack: PromptPackRecord | None = None
    """The prompt pack of the run (from the manifest); None: the task's own wording."""
    shard: ShardRecord | None = None
    """Set on a shard of a run (from the manifest): its numbers are of a part of the samples."""
    primary_metric: str
    metrics: dict[str, MetricEstimate]
    metric_order: list[str] = []
    """Metrics in the task's order (older summaries: the order of ``metrics``)."""
    n_samples: int
    status_counts: dict[str, int]
    latency: dict[str, float | None]
    tokens: dict[str, float | None]
    engine: dict[str, Any] = {}
    hardware: dict[str, Any] = {}
    provenance: dict[str, Any] = {}

    def model_post_init(self, context: Any) -> None:
        if not self.metric_order:
            object.__setattr__(self, "metric_order", list(self.metrics))

    @property
    def table_fingerprint(self) -> str:
        return table_fingerprint(self.dataset)

    @property
    def primary(self) -> MetricEstimate:
        return self.metrics[self.primary_metric]


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary handle on a temp file beside ``path``; on success it is fsynced and renamed over ``path``,
    on any error (Ctrl-C included) removed, so a reader sees the old or the new file, never half of one."""
    with _atomic_file_at(path) as (handle, _):
        yield handle


@contextmanager
def _atomic_file_at(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """``atomic_file``, also giving the temp file's path (others may read what was flushed to it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, Path(tmp)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over the target."""
    with atomic_file(path) as handle:
        handle.write((json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with atomic_file(path) as handle:
        for row in rows:
            handle.write(json_line(row))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OnkobenchError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OnkobenchError(f"{path}: invalid JSON ({err})") from None


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _strict_row(line: bytes) -> Any:
    return json.loads(line.decode("utf-8"))


def _readable_row(line: bytes) -> bool:
    """Whether a stored line is a response row: strict UTF-8 (the store writes nothing else), a JSON object, a key."""
    try:
        row = loads_or(line, _strict_row)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(row, dict) and isinstance(row.get("key"), str)


def _lenient_row(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        return None


def _decode_line(line: bytes) -> dict[str, Any] | None:
    row = loads_or(line, _lenient_row)
    return row if isinstance(row, dict) and "key" in row else None


_KEY = b'"key": "'
_NO_ERROR = b'"error": null'


def _key_and_failure(line: bytes) -> tuple[str | None, bool]:
    """The row's key and whether it records an error, without decoding the whole row where that is safe.

    Inside a JSON string every quote is escaped, so in a line that ``append_responses`` wrote
    (``", "`` and ``": "`` separators) the bytes ``"key": "`` occur only as an object key; when they
    occur exactly once (no nested object with a "key"), the key is the JSON string that follows.
    """
    if line.count(_KEY) == 1 and line.count(b'"error": ') == 1:
        start = line.index(_KEY) + len(_KEY)
        end = line.find(b'"', start)
        key = line[start:end]
        if end > 0 and b"\\" not in key:
            return key.decode("utf-8", errors="replace"), _NO_ERROR not in line
    row = _decode_line(line)
    if row is None:
        return None, False
    return str(row["key"]), row.get("error") is not None


class ResponseIndex:
    """Byte offsets of the latest response line per request key, plus the keys whose latest try failed."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}
        self.failed: set[str] = set()

    def done(self) -> set[str]:
        """Keys with a stored answer (a failed try is run again)."""
        return self.offsets.keys() - self.failed


BLOCK_BYTES = 8 * 2**20
"""The most bytes ``ResponseReader.read_many`` reads at once (beyond it, line by line)."""


class ResponseReader:
    """Reads single response lines by offset; consecutive offsets read on without seeking."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: BinaryIO | None = None
        self._position = 0

    def _open(self) -> BinaryIO:
        if self._handle is None:
            self._handle = self._path.open("rb")
        return self._handle

    def read_at(self, offset: int) -> dict[str, Any]:
        handle = self._open()
        if offset != self._position:
            handle.seek(offset)
        line = handle.readline()
        self._position = offset + len(line)
        row = _decode_line(line)
        if row is None:
            self._unreadable(offset)
        return row

    def read_many(self, offsets: list[int]) -> list[dict[str, Any]]:
        """The rows starting at these offsets, in their order: lines that lie close together (a chunk of an outputs file's
        mirror, in sample order) are read as one block of at most ``BLOCK_BYTES``, others one by one."""
        if not offsets:
            return []
        first, last = min(offsets), max(offsets)
        handle = self._open()
        handle.seek(last)
        end = self._position = last + len(handle.readline())
        if end - first > BLOCK_BYTES:
            return [self.read_at(offset) for offset in offsets]
        handle.seek(first)
        block = handle.read(end - first)
        lines = block.split(b"\n")[:-1]  # a JSON line holds no raw newline
        self._position = end
        starts = list(accumulate(map((1).__add__, map(len, lines)), initial=first))[:-1]
        if starts != offsets:
            at = dict(zip(starts, lines))
            missing = next((offset for offset in offsets if offset not in at), None)
            if missing is not None:  # not the start of a line: the file changed since it was indexed
                self._unreadable(missing)
            lines = [at[offset] for offset in offsets]
        rows = quick_loads_many(lines, block)
        if rows is None or not all(type(row) is dict and "key" in row for row in rows):
            rows = list(map(_decode_line, lines))
        if None in rows:
            self._unreadable(offsets[rows.index(None)])
        return rows  # type: ignore[return-value]

    def _unreadable(self, offset: int) -> NoReturn:
        raise OnkobenchError(
            f"{self._path}: the line at byte {offset} is not a readable response (changed while being read, or "
            "corrupted); rerun `onkobench run` with the same options: it moves such lines aside and redoes their samples"
        )

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> "ResponseReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ResponseMirror:
    """Writes response rows of outputs made elsewhere and indexes those given as columns as they go (rows already
    encoded, which nothing looks up, are only counted); what it wrote can be read at ``path`` (the temp file, until
    the mirror is complete) once ``flush`` is called."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self.path = path
        self._encoder = ColumnEncoder()
        self._position = 0
        self._unindexed = 0
        self.index = ResponseIndex()

    def write(self, columns: dict[str, list[Any]]) -> None:
        """Append rows given as columns (``key`` and ``error`` among them; row i: every column's item i)."""
        data, keys, errors = self._encoder.lines(columns), columns["key"], columns["error"]
        # a JSON line holds no raw newline, so the line ends are the newlines
        starts = accumulate(map((1).__add__, map(len, data.split(b"\n")[:-1])), initial=self._position)
        self.index.offsets.update(zip(keys, starts))  # the latest line of a key counts, as in response_index()
        failed = self.index.failed
        if failed or errors.count(None) != len(errors):
            for key, error in zip(keys, errors):
                if error is not None:
                    failed.add(key)
                else:
                    failed.discard(key)
        self._append(data)

    def write_unindexed(self, data: bytes, n_rows: int) -> None:
        """Append ``n_rows`` response lines already encoded (by a ``ColumnEncoder``, none failed) without indexing them:
        rows whose keys are never looked up here (an outputs file's lines in the data set's order, scored from their
        own texts, each the only line of its sample)."""
        self._append(data)
        self._unindexed += n_rows

    def _append(self, data: bytes) -> None:
        self._handle.write(data)
        self._position += len(data)

    @property
    def n_rows(self) -> int:
        """Rows written: one per key indexed (its latest) and every row written unindexed."""
        return len(self.index.offsets) + self._unindexed

    def flush(self) -> None:
        self._handle.flush()


class RunStore:
    """One run's folder. Responses are appended and flushed per batch; a torn last line is dropped on open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    @property
    def responses_path(self) -> Path:
        return self.folder / RESPONSES

    @property
    def scores_path(self) -> Path:
        return self.folder / SCORES

    @property
    def summary_path(self) -> Path:
        return self.folder / SUMMARY

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def has_scores(self) -> bool:
        return self.scores_path.exists()

    def has_summary(self) -> bool:
        return self.summary_path.exists()

    def write_manifest(self, manifest: RunManifest) -> None:
        write_json_atomic(self.manifest_path, manifest.model_dump(mode="json"))

    def read_manifest(self) -> RunManifest:
        """The run's manifest; a broken one is an error in one line saying what to do."""
        path = self.manifest_path
        advice = (f"delete it and rerun to rebuild it (the stored responses are kept), or move {self.folder} away "
                  "to start this run over")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OnkobenchError(f"{path}: file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise OnkobenchError(f"{path}: not valid JSON ({_first_line(err)}); {advice}") from None
        try:
            return RunManifest.model_validate(data)
        except ValidationError as err:
            errors = err.errors()
            where = ".".join(str(part) for part in errors[0]["loc"]) or "the file"
            more = f" and {len(errors) - 1} more problem(s)" if len(errors) > 1 else ""
            raise OnkobenchError(f"{path}: not a run manifest ({where}: {errors[0]['msg']}{more}); {advice}") from None

    @contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the folder for one writing run: a second run on it fails naming the holder, or waits with ``wait``.

        An flock on a file that stays in the folder (deleting it would let a third run lock a new file while a
        second one waits on the old); the kernel drops the lock when the holder exits, however it ends.
        """
        handle = self._open_lock_file()
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not wait:
                        raise OnkobenchError(
                            f"{self.folder}: another run is writing this folder ({self._recorded_holder(handle)}); wait for it "
                            "to finish, or rerun with --wait to start when it is done"
                        ) from None
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()  # nobody holds it any more
        finally:
            handle.close()  # releases the flock

    def _open_lock_file(self) -> Any:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return (self.folder / LOCK).open("a+", encoding="utf-8")
        except OSError as err:
            if err.errno in _NOT_WRITABLE:
                raise OnkobenchError(f"{self.folder}: cannot write the run folder ({err.strerror}); give a writable "
                                     "output folder (--out) or fix its permissions") from None
            raise

    @classmethod
    def _recorded_holder(cls, handle: Any, patience_s: float = 2.0) -> str:
        """The holder, waiting briefly for it: between taking the lock and writing its name the holder is unnamed
        for a moment, and a run refused in that moment would name nobody."""
        deadline = time.monotonic() + patience_s
        holder = cls._holder(handle)
        while holder == HOLDER_UNKNOWN and time.monotonic() < deadline:
            time.sleep(0.05)
            holder = cls._holder(handle)
        return holder

    @staticmethod
    def _holder(handle: Any) -> str:
        handle.seek(0)
        try:
            holder = json.loads(handle.read() or "{}")
        except json.JSONDecodeError:
            holder = {}
        if not isinstance(holder, dict) or "pid" not in holder:
            return HOLDER_UNKNOWN
        return f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started_at')}"

    def repair_torn_tail(self) -> bool:
        """Cut a last line that has no newline (a write interrupted by a crash). True if one was cut."""
        path = self.responses_path
        if not path.exists() or path.stat().st_size == 0:
            return False
        with path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) == b"\n":
                return False
            # find the last newline and truncate just after it
            size = handle.seek(0, os.SEEK_END)
            block = 65536
            position = size
            while position > 0:
                start = max(0, position - block)
                handle.seek(start)
                chunk = handle.read(position - start)
                index = chunk.rfind(b"\n")
                if index >= 0:
                    handle.truncate(start + index + 1)
                    return True
                position = start
            handle.truncate(0)
            return True

    def iter_responses(self) -> Iterator[dict[str, Any]]:
        """Stored response lines in order; lines that are not valid JSON objects are skipped."""
        if not self.responses_path.exists():
            return
        with self.responses_path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    return  # torn tail: not a finished record
                row = _decode_line(line)
                if row is not None:
                    yield row

    def response_index(self, keys: Container[str] | None = None) -> "ResponseIndex":
        """Where the last stored response of each key starts, and which keys last failed; texts stay on disk.

        ``keys`` limits the index to those keys (a page that shows a few thousand of a huge run's rows).
        """
        index = ResponseIndex()
        if not self.responses_path.exists():
            return index
        with self.responses_path.open("rb") as handle:
            offset = 0
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn tail: not a finished record
                key, failed = _key_and_failure(line)
                if key is not None and (keys is None or key in keys):
                    index.offsets[key] = offset
                    if failed:
                        index.failed.add(key)
                    else:
                        index.failed.discard(key)
                offset += len(line)
        return index

    def open_responses(self) -> "ResponseReader":
        return ResponseReader(self.responses_path)

    def latest_responses(self) -> dict[str, dict[str, Any]]:
        """The last stored response per request key (a retried error is superseded by its retry)."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self.iter_responses():
            latest[row["key"]] = row
        return latest

    def append_responses(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows as one write, flushed to disk; lone surrogates in texts are stored as U+FFFD (``json_line``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = b"".join(json_line(row) for row in rows)
        if not payload:
            return
        with self.responses_path.open("ab") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    @property
    def quarantine_path(self) -> Path:
        return self.folder / QUARANTINE

    def quarantine_unreadable(self) -> int:
        """Move complete lines of the responses file that are not readable rows to the quarantine file; their
        samples then count as not done and run again. Returns how many lines were moved.

        A line corrupted in the middle of the file (a flipped byte, a block of NULs after a power cut) would
        otherwise stop every later scoring. Call it while holding ``lock()``: the file is rewritten.
        """
        path = self.responses_path
        if not path.exists():
            return 0
        bad: list[tuple[int, bytes]] = []
        with path.open("rb") as handle:
            offset = 0
            for line in handle:
                if line.endswith(b"\n") and not _readable_row(line):
                    bad.append((offset, line))
                offset += len(line)
        if not bad:
            return 0
        moved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # the quarantine file first: a crash before the rewrite below only repeats this on the next run
        with self.quarantine_path.open("ab") as handle:
            for offset, line in bad:
                handle.write(json_line({"offset": offset, "moved_at": moved_at,
                                        "line": line[:-1].decode("utf-8", errors="backslashreplace")}))
            handle.flush()
            os.fsync(handle.fileno())
        drop = {offset for offset, _ in bad}
        with atomic_file(path) as out, path.open("rb") as handle:
            offset = 0
            for line in handle:
                if offset not in drop:
                    out.write(line)
                offset += len(line)
        return len(bad)

    def write_scores(self, rows: Iterable[dict[str, Any]]) -> None:
        write_jsonl_atomic(self.scores_path, rows)

    @contextmanager
    def scores_writer(self) -> Iterator[Callable[[bytes], Any]]:
        """A function that appends encoded score lines; the file replaces scores.jsonl only when the block ends without
        an error, so a failed scoring leaves the previous scores in place."""
        with atomic_file(self.scores_path) as handle:
            yield handle.write

    @contextmanager
    def mirror_responses(self) -> Iterator["ResponseMirror"]:
        """Replace the responses file with the rows written to the yielded mirror (outputs made elsewhere, not resumed):
        atomically, as the block ends without an error; the mirror's ``index`` is where each row given as columns went,
        so the file need not be read again to find them."""
        with _atomic_file_at(self.responses_path) as (handle, path):
            yield ResponseMirror(handle, path)

    def write_summary(self, summary: RunSummary) -> None:
        write_json_atomic(self.summary_path, summary.model_dump(mode="json"))

    def read_summary(self) -> RunSummary:
        return read_summary(self.summary_path)

    def iter_scores(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """The rows of scores.jsonl in order (at most ``limit``); a broken line is an error naming it."""
        if not self.scores_path.exists():
            return
        with self.scores_path.open("rb") as handle:  # bytes: a line cut inside a character is named like any other
            for number, line in enumerate(handle, start=1):
                if limit is not None and number > limit:
                    return
                try:
                    yield loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise OnkobenchError(f"{self.scores_path}: line {number}: invalid JSON") from None


def read_summary(path: Path) -> RunSummary:
    """A summary.json file (of this or an older format)."""
    try:
        return RunSummary.model_validate(read_json(path))
    except ValidationError as err:
        raise OnkobenchError(f"{path}: not a run summary ({err.errors()[0]['loc']}: {err.errors()[0]['msg']})") from None


def refuse_shard(shard: ShardRecord | None, folder: Path, what: str) -> None:
    """Refuse a shard of a run where a whole run is needed (``what``: the command or step that needs it)."""
    if shard is not None:
        raise OnkobenchError(
            f"{folder}: shard {shard.label} of a run (a part of its samples); {what} takes whole runs only: join all "
            f"{shard.count} shards with `onkobench merge SHARD_DIRS... --out DIR` first"
        )


def run_folders_under(folder: Path) -> list[Path]:
    """Run folders with a summary at or below ``folder``, sorted."""
    if (folder / SUMMARY).exists():
        return [folder]
    return sorted(p.parent for p in folder.rglob(SUMMARY)) if folder.is_dir() else []


def find_run_folders(paths: list[Path]) -> list[Path]:
    """Every scored run folder at or below the given paths; an error when there is none."""
    folders = sorted({folder for path in paths for folder in run_folders_under(path)})
    if not folders:
        raise OnkobenchError(f"no run results (summary.json) under {', '.join(map(str, paths))}")
    return folders


def is_summary_file(path: Path) -> bool:
    return path.name == SUMMARY


def run_manifests(runs_dir: Path) -> Iterator[tuple[Path, RunManifest]]:
    """(folder, manifest) of each run folder directly inside ``runs_dir``, sorted by folder name."""
    for manifest_path in sorted(runs_dir.glob(f"*/{MANIFEST}")):
        yield manifest_path.parent, RunStore(manifest_path.parent).read_manifest()

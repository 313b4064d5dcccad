"""``onkobench validate``: check model configs, suites and task definitions, every problem on its own line."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from harness.config.io import error_lines, read_yaml
from harness.errors import OnkobenchError
from harness.config.models import MODELS_DIR, ModelConfig, url_secrets
from harness.results import (
    FRAGMENT_CHARS, MAX_RESULT_BYTES, MIN_TEXT_CHECK, RESULT_KIND, PublishedResult, check_no_text, published_strings,
    read_bounded, recompute_problems,
)
from harness.store import RunStore
from harness.config.suites import SUITES_DIR, Suite
from harness.config.tasks import default_tasks_dir, load_task_file, task_files

if TYPE_CHECKING:
    from harness.config.tasks import Task
    from harness.data import Sample


def _schema_errors(model: type, path: Path) -> list[str]:
    try:
        data = read_yaml(path)
    except OnkobenchError as err:
        return [str(err)]
    if not isinstance(data, dict):
        return [f"{path}: must be a YAML mapping"]
    try:
        model.model_validate(data)
    except ValidationError as err:
        return error_lines(err, str(path))
    return []


def check_model(path: Path, allow_remote_code: bool = False) -> list[str]:
    errors = _schema_errors(ModelConfig, path)
    if errors:
        return errors
    config = ModelConfig.model_validate(read_yaml(path))
    if config.trust_remote_code and not allow_remote_code:
        errors.append(f"{path}: trust_remote_code: refused (runs code from the model repository)")
    if config.name != path.stem:
        errors.append(f"{path}: name: {config.name!r} differs from the file name {path.stem!r}")
    if config.runner_class.loads_weights and config.wheel_file is None and config.revision is None:
        errors.append(f"{path}: revision: required for hub models (pin the commit you evaluated)")
    if config.adapter is not None and config.adapter.hub_id and config.adapter.revision is None:
        errors.append(f"{path}: adapter.revision: required for hub adapters")
    for index, endpoint in enumerate(config.server.endpoints if config.server else ()):
        if secrets := url_secrets(endpoint.base_url):
            errors.append(f"{path}: server.endpoints.{index}.base_url: holds a secret ({', '.join(secrets)}); a committed "
                          "config is published: put the key in an environment variable named by api_key_env")
    if "file_sha256" in config.model_fields_set:
        errors.append(f"{path}: file_sha256: set by onkobench from the files the config names; leave it out")
    try:
        config.with_file_hashes(path.parent, str(path))  # the files it names exist and are allowed
    except OnkobenchError as err:
        errors.append(str(err))
    return errors


def check_suite(path: Path) -> list[str]:
    errors = _schema_errors(Suite, path)
    if errors:
        return errors
    from harness.config.models import load_model_config
    from harness.config.tasks import load_task

    suite = Suite.model_validate(read_yaml(path))
    for entry in suite.tasks:
        try:
            task = load_task(entry.task)
            for variant in entry.variants or ():
                task.variant(variant)
        except OnkobenchError as err:
            errors.append(f"{path}: tasks: {err}")
    names = {*suite.models, *(m for e in suite.tasks for m in (*(e.models or ()), *e.baselines))}
    for name in sorted(names):
        try:
            load_model_config(name)
        except OnkobenchError as err:
            errors.append(f"{path}: models: {err}")
    return errors


def check_task(path: Path) -> list[str]:
    try:
        task = load_task_file(path)
    except OnkobenchError as err:
        return [str(err)]
    errors = []
    from harness.scoring import METRICS, PARSERS, SCORERS

    for name in task.metrics:
        if name not in METRICS:
            errors.append(f"{path}: metrics: unknown metric {name!r}")
    for label, spec in (("parser", task.parser), ("scorer", task.scorer)):
        registry = PARSERS if label == "parser" else SCORERS
        if spec.name not in registry:
            errors.append(f"{path}: {label}.name: unknown {label} {spec.name!r}")
    return errors + _template_errors(path, task)


FIRST_SAMPLES = 3
"""How many samples ``validate`` renders every variant on: enough to reach most branches, cheap on any set."""


def _first_samples(task: "Task") -> list["Sample"]:
    """The first rows of the task's local data set as samples; none for a hub set (validate downloads
    nothing), a chained step (its samples come from an earlier run) or a set that is not built yet."""
    from itertools import islice

    from harness.data import build_samples, iter_jsonl, map_columns, read_local_rows, resolve_data_path

    path = resolve_data_path(task, None)
    if task.upstream is not None or path is None or not path.is_file():
        return []
    if path.suffix.lower() == ".jsonl":
        rows = list(islice(iter_jsonl(path), FIRST_SAMPLES))  # a large set is not read whole
    else:
        rows = read_local_rows(path)[:FIRST_SAMPLES]
    return build_samples(task, map_columns(task, rows, str(path)), str(path)) if rows else []


def _template_errors(path: Path, task: "Task") -> list[str]:
    """Every variant's templates: loaded (confined to the allowed folders), parsed, checked for names that
    reach Python's internals, then rendered in the sandbox on the first samples."""
    from harness.prompts import PromptRenderer

    try:
        samples = _first_samples(task)
    except OnkobenchError as err:
        return [f"{path}: dataset: {err}"]
    errors: list[str] = []
    for variant in task.variants.values():
        try:
            renderer = PromptRenderer(task, variant)
            problems = renderer.problems()
            if not problems:
                for sample in samples:
                    renderer.queries(sample)
        except OnkobenchError as err:
            problems = [str(err)]
        errors.extend(f"{path}: {problem}" for problem in problems)
    return errors


RESULTS_DIR = MODELS_DIR.parent / "results"


def default_targets() -> list[Path]:
    results = [RESULTS_DIR] if RESULTS_DIR.exists() else []
    return [*sorted(MODELS_DIR.glob("*.yaml")), *sorted(SUITES_DIR.glob("*.yaml")), *task_files(default_tasks_dir()), *results]


_KINDS = ("results", "suites", "tasks", "models")
KIND_NAMES = {"models": "model config", "suites": "suite", "tasks": "task", "results": "result"}


def _kind(path: Path) -> str | None:
    """The nearest enclosing folder named results, suites, tasks or models decides (not one further up, such
    as a checkout that happens to live under ~/tasks); None where no such folder encloses the path. A file's
    own name is never resolved: a link is judged where it lies, not where it points."""
    folder = path if path.is_dir() and not path.is_symlink() else path.parent
    return next((part for part in reversed(folder.resolve().parts) if part in _KINDS), None)


def one_line(text: str) -> str:
    """A problem as one printable line: a key or file name may hold a newline or a control character."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_results_path(path: Path) -> bool:
    """Whether ``path`` lies in a results folder (then only published results belong there)."""
    return _kind(path) == "results"


@dataclass
class Checked:
    """What ``validate`` looked at: a problem line each, and how many files of each kind it checked."""

    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, problems: list[str]) -> None:
        self.counts[kind] += 1
        self.problem(*problems)

    def problem(self, *lines: str) -> None:
        self.problems.extend(map(one_line, lines))

    def summary(self) -> str:
        """``3 model configs, 1 suite, 12 results`` (kinds in a fixed order)."""
        return ", ".join(f"{n} {KIND_NAMES[kind]}{'s' if n != 1 else ''}" for kind in _KINDS[::-1]
                         if (n := self.counts[kind]))


def validate_paths(paths: list[Path], allow_remote_code: bool = False) -> Checked:
    """Check every path (a file or a folder, its kind decided by ``_kind``); a path with nothing to check is a problem."""
    checked = Checked()
    for path in paths:
        before = (sum(checked.counts.values()), len(checked.problems))
        _check_into(path, allow_remote_code, checked)
        if (sum(checked.counts.values()), len(checked.problems)) == before:
            checked.problem(f"{path}: nothing to validate (no model config, suite, task or published result)")
    return checked


def check_path(path: Path, allow_remote_code: bool = False) -> list[str]:
    """Decide by location what a file is: a model config, a suite, a task definition or a published result."""
    return validate_paths([path], allow_remote_code).problems


def _check_into(path: Path, allow_remote_code: bool, checked: Checked) -> None:
    kind = _kind(path)
    if not path.exists() and not path.is_symlink():
        checked.problem(f"{path}: file not found")
    elif kind == "results":
        _check_results(path, checked)
    elif path.is_dir():
        _check_folder(path, kind, allow_remote_code, checked)
    else:
        _check_file(path, kind or _loose_kind(path), allow_remote_code, checked)


def _loose_kind(path: Path) -> str | None:
    """A file outside the four folders: a YAML file is a model config (as ever), a JSON file of the result kind a
    published result; anything else cannot be told."""
    if path.suffix in (".yaml", ".yml"):
        return "models"
    if path.suffix == ".json" and not path.is_symlink():
        try:
            data = json.loads(read_bounded(path))
        except (OnkobenchError, ValueError, RecursionError):
            return None
        return "results" if isinstance(data, dict) and data.get("kind") == RESULT_KIND else None
    return None


def _check_file(path: Path, kind: str | None, allow_remote_code: bool, checked: Checked) -> None:
    if kind is None:
        checked.problem(f"{path}: cannot tell what this is (a model config, suite or task is a .yaml file under "
                        "models/, suites/ or tasks/; a published result a .json file of kind onkobench-result)")
    elif kind == "results":
        checked.add(kind, check_result(path))
    elif kind == "suites":
        checked.add(kind, check_suite(path))
    elif kind == "tasks":
        checked.add(kind, check_task(path))
    else:
        checked.add("models", check_model(path, allow_remote_code))


def _check_folder(path: Path, kind: str | None, allow_remote_code: bool, checked: Checked) -> None:
    """A folder of model configs, suites or tasks: its ``*.yaml`` files (``_``-prefixed ones are shared defaults).
    A folder of no known kind: every entry, and what cannot be told apart is a problem."""
    if kind is not None:
        for child in sorted(path.glob("*.yaml")):
            if not child.name.startswith("_"):
                _check_file(child, kind, allow_remote_code, checked)
        return
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.is_symlink():
            checked.problem(f"{child}: a folder inside {path}; validate it on its own")
        else:
            _check_file(child, _loose_kind(child), allow_remote_code, checked)


def results_tree(folder: Path) -> tuple[list[Path], list[str]]:
    """The published result files under a results folder, and a problem for everything else there: a link (never
    followed), a run folder (its outputs are private; ``onkobench publish`` makes the result), a file that is not
    ``*.json``, a device or pipe, a file over the size bound. Nothing but these files ever reaches the site."""
    files: list[Path] = []
    problems: list[str] = []
    entries = sorted(os.scandir(folder), key=lambda e: e.path, reverse=True)
    while entries:  # depth first, in path order, without recursion (a deep tree cannot exhaust the stack)
        entry = entries.pop()
        path = Path(entry.path)
        if entry.is_symlink():
            problems.append(f"{path}: a symbolic link; a results folder holds plain files only (links are never followed)")
        elif entry.is_dir(follow_symlinks=False):
            if RunStore(path).exists() or RunStore(path).has_summary() or RunStore(path).responses_path.exists():
                problems.append(f"{path}: a run folder (per-sample outputs, never published); publish it with "
                                "onkobench publish instead of copying it")
            else:
                entries.extend(sorted(os.scandir(path), key=lambda e: e.path, reverse=True))
        elif not entry.is_file(follow_symlinks=False):
            problems.append(f"{path}: not a plain file")
        elif not entry.name.endswith(".json"):
            problems.append(f"{path}: not a published result (*.json); a results folder holds nothing else")
        elif entry.stat(follow_symlinks=False).st_size > MAX_RESULT_BYTES:
            problems.append(f"{path}: over the {MAX_RESULT_BYTES}-byte bound of a result file")
        else:
            files.append(path)
    return files, problems


@dataclass
class LoadedResults:
    """A results folder (or file) as checked: the files read as results, those that passed, every problem."""

    files: list[Path]
    results: list[PublishedResult]
    problems: list[str]


def load_results(path: Path) -> LoadedResults:
    """The results at or under ``path`` (in a results folder) and every problem found: the tree, each file
    (``check_result``), and each suite-named folder's completeness."""
    if path.is_dir() and not path.is_symlink():
        files, problems = results_tree(path)
    else:
        files, problems = [path], []
    loaded = [(file, *_load_result(file)) for file in files]
    problems = [one_line(line) for line in (*problems, *(line for _, _, lines in loaded for line in lines))]
    by_folder: dict[Path, list[PublishedResult]] = {}
    for file, result, _ in loaded:
        if result is not None:
            by_folder.setdefault(file.parent, []).append(result)
    if not problems:
        problems += [line for folder, results in sorted(by_folder.items()) for line in _suite_problems(folder, results)]
    return LoadedResults(files, [result for _, result, _ in loaded if result is not None], problems)


def _check_results(path: Path, checked: Checked) -> None:
    loaded = load_results(path)
    checked.counts["results"] += len(loaded.files)
    checked.problem(*loaded.problems)


def validated_results(path: Path) -> list[PublishedResult]:
    """The published results under a results folder for the site: all of them pass ``onkobench validate``, or
    none is shown (an error naming the first problem)."""
    loaded = load_results(path)
    if loaded.problems:
        more = f" (and {len(loaded.problems) - 1} more)" if len(loaded.problems) > 1 else ""
        raise OnkobenchError(f"{loaded.problems[0]}{more}; the site shows validated results only "
                             f"(onkobench validate {path})")
    return loaded.results


TEXT_KEYS = frozenset({"text", "output", "outputs", "raw_text", "reasoning", "messages", "prompt", "snippet", "responses"})
MAX_STRING = 300
"""No field of a result needs a string this long; a longer one is treated as leaked text."""
LOCAL_PATH = re.compile(r"(?:^|\s)(?:~|[A-Za-z]:)?[/\\][^\s/\\]+[/\\]")
"""An absolute local path inside a string (``/home/x/``, ``scored from /tmp/y/``, ``C:\\Users\\``): results carry none
(a relative path such as ``tasks/demo/data/x.jsonl`` or a URL does not match)."""


def _walk_strings(value: object) -> Iterator[tuple[str, str]]:
    """(field path, string) of every string in parsed JSON, without recursion (a deeply nested file cannot exhaust
    the stack)."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, dict):
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in reversed(current.items()))
        elif isinstance(current, list):
            stack.extend((f"{path}.{index}", item) for index, item in reversed(list(enumerate(current))))
        elif isinstance(current, str):
            yield path, current


def _text_problems(data: object) -> list[str]:
    problems = []
    for field_path, text in _walk_strings(data):
        if field_path.rsplit(".", 1)[-1] in TEXT_KEYS or len(text) > MAX_STRING:
            problems.append(f"{field_path}: looks like sample text or model output; results carry none")
        elif LOCAL_PATH.search(text):
            problems.append(f"{field_path}: holds a local path; results carry none")
    return problems


MAX_DEPTH = 16
"""A result nests a few levels (``items.0.values.gold.0``); a deeper file is refused before any code walks it."""


def _depth(value: object) -> int:
    """How deeply parsed JSON nests (iteratively: the check itself must not exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(current, (dict, list)) and level <= MAX_DEPTH:
            stack.extend((item, level + 1) for item in (current.values() if isinstance(current, dict) else current))
    return deepest


def _read_json(path: Path) -> tuple[object, list[str]]:
    try:
        data = json.loads(read_bounded(path))
    except OnkobenchError as err:
        return None, [str(err)]
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, nested beyond the decoder's depth
        return None, [f"{path}: not valid JSON ({type(err).__name__})"]
    if _depth(data) > MAX_DEPTH:
        return None, [f"{path}: nested deeper than {MAX_DEPTH} levels; a result is a flat record"]
    return data, []


def _load_result(path: Path) -> tuple[PublishedResult | None, list[str]]:
    """A published result and every problem with it: size and links, the schema, leaked text and local paths, its
    own consistency, the model config, the task, the metrics recomputed from its items, and (for a private data set
    whose file is here) quotes of the data.

    The text check walks the file as written, so a field the schema does not know is searched too.
    """
    data, problems = _read_json(path)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [f"{path}: not a JSON object (a published result is one)"]
    if data.get("kind") != RESULT_KIND:
        return None, [f"{path}: kind: expected {RESULT_KIND}"]
    problems = [f"{path}: {line}" for line in _text_problems(data)]
    try:
        result = PublishedResult.model_validate(data)
    except ValidationError as err:
        return None, [*error_lines(err, str(path)), *problems]
    problems += [f"{path}: {line}" for line in result.problems()]
    if not problems:
        task, task_problems = _task_of(result)
        problems += [f"{path}: {line}" for line in (*_model_problems(result), *task_problems)]
        if task is not None and not problems:
            problems += [f"{path}: {line}" for line in recompute_problems(result, task.metrics)]
            problems += _private_data_problems(path, result, task)
    return (None if problems else result), problems


def _model_problems(result: PublishedResult) -> list[str]:
    """The model config in the file against its hash, its summary and the committed config of the same name; a
    result of outputs scored elsewhere (runner ``external``) cannot stand for a leaderboard model."""
    from harness.config.models import load_model_config
    from harness.scoring.run import model_summary

    name = result.model.name
    try:
        own = ModelConfig.model_validate(result.config)
    except ValidationError as err:
        return [f"model_config: not a model config ({error_lines(err, 'model_config')[0]})"]
    problems = []
    if own.config_hash() != result.model_config_hash:
        problems.append("model_config_hash: is not the hash of model_config")
    summary = model_summary(result.config).model_dump()
    problems += [f"model.{key}: differs from model_config" for key, value in result.model.model_dump().items()
                 if summary.get(key) != value]
    committed = MODELS_DIR / f"{name}.yaml"
    if "external" in (result.model.runner, own.runner):
        if committed.exists():
            problems.append(f"model.name: {name!r} is a leaderboard model (leaderboards/models/{name}.yaml); outputs "
                            "scored with runner 'external' cannot stand for it")
        return problems
    try:
        config, _ = load_model_config(name, allow_remote_code=True)
    except OnkobenchError:
        return [*problems, f"model.name: no config {name!r} in leaderboards/models"]
    if config.config_hash() != result.model_config_hash:
        problems.append(f"model_config_hash: does not match leaderboards/models/{name}.yaml (rerun or republish)")
    if own != config:
        fields = [key for key in type(config).model_fields if getattr(own, key) != getattr(config, key)]
        problems.append(f"model_config: {', '.join(fields) or 'the config'} differs from leaderboards/models/{name}.yaml")
    return problems


def _task_of(result: PublishedResult) -> tuple["Task | None", list[str]]:
    """The result's task, and where the result disagrees with it (its metrics are recomputed with the task's list)."""
    from harness.config.tasks import load_task

    try:
        task = load_task(result.task)
    except OnkobenchError as err:
        return None, [f"task: {err}"]
    problems = [f"{field}: {mine!r}, but task {task.name} has {theirs!r} (rerun or republish)"
                for field, mine, theirs in (("task_version", result.task_version, task.version),
                                            ("family", result.family, task.family),
                                            ("answer_kind", result.answer_kind, task.answer_kind),
                                            ("primary_metric", result.primary_metric, task.primary_metric),
                                            ("metric_order", result.metric_order, list(task.metrics)))
                if mine != theirs]
    return task, problems


def _private_data_problems(path: Path, result: PublishedResult, task: "Task") -> list[str]:
    """For a private data set whose local file is here: no sample text, nor a near-quote of one, in the file."""
    from harness.data import read_local_rows, resolve_data_path

    if not (result.dataset.get("private") or task.dataset.private):
        return []
    try:
        data_path = resolve_data_path(task, None)
        rows = read_local_rows(data_path) if data_path is not None and data_path.is_file() else []
    except OnkobenchError:
        rows = []  # not available here (or broken: the task's own check says so); the text walk is what can run
    texts = {text for row in rows for _, text in _walk_strings(row) if len(text.strip()) >= MIN_TEXT_CHECK}
    try:
        check_no_text(read_bounded(path).decode("utf-8"), texts - published_strings(result), str(path))
    except OnkobenchError:
        return [f"{path}: quotes the private data set of {task.name} (a sample text, or {FRAGMENT_CHARS} characters "
                "of one, spaces not counted); results carry none"]
    return []


def check_result(path: Path) -> list[str]:
    """A published result: see ``_load_result``; one line per problem."""
    return [one_line(line) for line in _load_result(path)[1]]


def _suite_problems(folder: Path, results: list[PublishedResult]) -> list[str]:
    """For a folder named after a suite: each model has every task of the suite."""
    from harness.config.suites import load_suite

    if not (SUITES_DIR / f"{folder.name}.yaml").exists():
        return []
    suite, _ = load_suite(folder.name)
    have: dict[str, set[str]] = {}
    for result in results:
        have.setdefault(result.model.name, set()).add(result.task)
    problems = []
    for model, tasks in sorted(have.items()):
        missing = [t.task for t in suite.tasks if t.task not in tasks and (t.models is None or model in t.models or model in t.baselines)]
        if missing:
            problems.append(f"{folder}: model {model}: missing results for {', '.join(missing)} (suite {suite.name})")
    return problems

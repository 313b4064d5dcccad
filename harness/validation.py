"""``onkobench validate``: check model configs, suites and task definitions, every problem on its own line."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from harness.config.io import error_lines, read_yaml
from harness.errors import OnkobenchError
from harness.config.models import MODELS_DIR, ModelConfig
from harness.results import RESULT_KIND, PublishedResult
from harness.config.suites import SUITES_DIR, Suite
from harness.config.tasks import default_tasks_dir, load_task_file, task_files


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
    return errors


RESULTS_DIR = MODELS_DIR.parent / "results"


def default_targets() -> list[Path]:
    results = [RESULTS_DIR] if RESULTS_DIR.exists() else []
    return [*sorted(MODELS_DIR.glob("*.yaml")), *sorted(SUITES_DIR.glob("*.yaml")), *task_files(default_tasks_dir()), *results]


_KINDS = ("results", "suites", "tasks", "models")


def _kind(path: Path) -> str:
    """The nearest enclosing folder named results, suites, tasks or models decides (not one further up, such
    as a checkout that happens to live under ~/tasks)."""
    parts = path.resolve().parts if path.is_dir() else path.resolve().parent.parts
    return next((part for part in reversed(parts) if part in _KINDS), "models")


def check_path(path: Path, allow_remote_code: bool = False) -> list[str]:
    """Decide by location what a file is: a model config, a suite, a task definition or a published result."""
    if path.is_dir() and _kind(path) == "results":
        return check_results_dir(path) if any(path.glob("*.json")) else [
            line for child in sorted(p for p in path.iterdir() if p.is_dir()) for line in check_results_dir(child)]
    if path.is_dir():
        return [line for child in sorted(path.glob("*.yaml")) if not child.name.startswith("_")
                for line in check_path(child, allow_remote_code)]
    if not path.exists():
        return [f"{path}: file not found"]
    kind = _kind(path)
    if kind == "results":
        return check_result(path)
    if kind == "suites":
        return check_suite(path)
    if kind == "tasks":
        return check_task(path)
    return check_model(path, allow_remote_code)


TEXT_KEYS = frozenset({"text", "output", "outputs", "raw_text", "reasoning", "messages", "prompt", "snippet", "responses"})
MAX_STRING = 300
"""No field of a result needs a string this long; a longer one is treated as leaked text."""


def _walk_strings(value: object, path: str = ""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, f"{path}.{index}")
    elif isinstance(value, str):
        yield path, value


def _load_result(path: Path) -> tuple[PublishedResult | None, list[str]]:
    """A published result and every problem with it: the schema, leaked text, the config hash.

    The text check walks the file as written, so a field the schema does not know is searched too.
    """
    from harness.config.models import load_model_config

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return None, [f"{path}: not valid JSON ({err})"]
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        return None, [f"{path}: kind: expected {RESULT_KIND}"]
    errors = [f"{path}: {field_path}: looks like sample text or model output; results carry none"
              for field_path, text in _walk_strings(data)
              if field_path.rsplit(".", 1)[-1] in TEXT_KEYS or len(text) > MAX_STRING]
    try:
        result = PublishedResult.model_validate(data)
    except ValidationError as err:
        return None, [*error_lines(err, str(path)), *errors]
    name = result.model.name
    if result.model.runner != "external":
        try:
            config, _ = load_model_config(name, allow_remote_code=True)
        except OnkobenchError:
            errors.append(f"{path}: model.name: no config {name!r} in leaderboards/models")
        else:
            if config.config_hash() != result.model_config_hash:
                errors.append(f"{path}: model_config_hash: does not match leaderboards/models/{name}.yaml (rerun or republish)")
    return (None if errors else result), errors


def check_result(path: Path) -> list[str]:
    """A published result: the ``PublishedResult`` schema, no text, the config hash matches the model config file."""
    return _load_result(path)[1]


def check_results_dir(folder: Path) -> list[str]:
    """Every result file, and for a folder named after a suite: each model has every task of the suite."""
    from harness.config.suites import load_suite

    loaded = [_load_result(path) for path in sorted(folder.glob("*.json"))]
    errors = [line for _, lines in loaded for line in lines]
    if (SUITES_DIR / f"{folder.name}.yaml").exists() and not errors:
        suite, _ = load_suite(folder.name)
        have: dict[str, set[str]] = {}
        for result, _ in loaded:
            assert result is not None  # no errors: every file loaded
            have.setdefault(result.model.name, set()).add(result.task)
        for model, tasks in sorted(have.items()):
            missing = [t.task for t in suite.tasks if t.task not in tasks and (t.models is None or model in t.models or model in t.baselines)]
            if missing:
                errors.append(f"{folder}: model {model}: missing results for {', '.join(missing)} (suite {suite.name})")
    return errors

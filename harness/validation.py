"""``onkobench validate``: check model configs, suites and task definitions, every problem on its own line."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from harness.config_io import error_lines, read_yaml
from harness.errors import OnkobenchError
from harness.models import MODELS_DIR, ModelConfig
from harness.suites import SUITES_DIR, Suite
from harness.tasks import default_tasks_dir, load_task_file, task_files


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
    if config.runner in ("vllm", "transformers") and config.wheel_file is None and config.revision is None:
        errors.append(f"{path}: revision: required for hub models (pin the commit you evaluated)")
    if config.adapter is not None and config.adapter.hub_id and config.adapter.revision is None:
        errors.append(f"{path}: adapter.revision: required for hub adapters")
    return errors


def check_suite(path: Path) -> list[str]:
    errors = _schema_errors(Suite, path)
    if errors:
        return errors
    from harness.models import load_model_config
    from harness.tasks import load_task

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


def default_targets() -> list[Path]:
    return [*sorted(MODELS_DIR.glob("*.yaml")), *sorted(SUITES_DIR.glob("*.yaml")), *task_files(default_tasks_dir())]


def check_path(path: Path, allow_remote_code: bool = False) -> list[str]:
    """Decide by location what a file is: a model config, a suite or a task definition."""
    if path.is_dir():
        return [line for child in sorted(path.glob("*.yaml")) if not child.name.startswith("_")
                for line in check_path(child, allow_remote_code)]
    if not path.exists():
        return [f"{path}: file not found"]
    parts = path.resolve().parts
    if "suites" in parts:
        return check_suite(path)
    if "tasks" in parts:
        return check_task(path)
    return check_model(path, allow_remote_code)

"""What `onkobench list` shows: registered components with the first line of their docstring."""

from __future__ import annotations

from collections.abc import Iterator

from harness.errors import OnkobenchError


def _first_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def entries(kind: str) -> Iterator[tuple[str, str]]:
    if kind in ("metrics", "parsers", "scorers"):
        from harness.scoring import METRICS, PARSERS, SCORERS

        registry = {"metrics": METRICS, "parsers": PARSERS, "scorers": SCORERS}[kind]
        for name in registry:
            yield name, _first_line(registry.get(name))
    elif kind == "runners":
        from harness.runners import RUNNERS

        for name in RUNNERS:
            yield name, ""
    elif kind == "models":
        from harness.models import MODELS_DIR, load_model_config

        for path in sorted(MODELS_DIR.glob("*.yaml")):
            config, _ = load_model_config(str(path))
            yield config.name, f"{config.label} ({config.runner})"
    elif kind == "suites":
        from harness.suites import SUITES_DIR, load_suite

        for path in sorted(SUITES_DIR.glob("*.yaml")):
            suite, _ = load_suite(str(path))
            yield suite.name, suite.description.strip().splitlines()[0] if suite.description else ""
    else:  # pragma: no cover - click restricts the choices
        raise OnkobenchError(f"unknown kind {kind!r}")

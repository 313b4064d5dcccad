"""The completion prompt format: a task's chat turns as plain few-shot text, for base (pretrained) models that
have no chat template (lm-eval's format without ``--apply_chat_template``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from harness.errors import OnkobenchError

if TYPE_CHECKING:
    from harness.config.models import ModelConfig

DEFAULT_COMPLETION_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}{{ m.content }}\nAntwort:"
    "{% elif m.role == 'assistant' %} {{ m.content }}\n\n"
    "{% endif %}"
    "{% endfor %}"
)
"""A system turn, then each question followed by ``Antwort:`` and, for a few-shot example, its answer and a
blank line; the prompt ends with ``Antwort:``, so the model continues with the answer (the tasks stop at a
line break). Example (3-shot): ``Q1\\nAntwort: C61\\n\\nQ2\\nAntwort: C67\\n\\nQ3\\nAntwort: C50\\n\\nQ\\nAntwort:``."""


class CompletionFormat:
    """Renders chat messages into one completion prompt with a sandboxed Jinja template."""

    def __init__(self, template_path: Path | None = None) -> None:
        from harness.templating import check_chat_template, sandboxed_environment

        source = check_chat_template(template_path) if template_path is not None else DEFAULT_COMPLETION_TEMPLATE
        self.label = str(template_path) if template_path is not None else "the default completion template"
        try:
            self.template = sandboxed_environment().from_string(source)
        except jinja2.TemplateSyntaxError as err:
            raise OnkobenchError(f"{self.label}: line {err.lineno}: {err.message}") from None

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        try:
            return self.template.render(messages=list(messages))
        except jinja2.TemplateError as err:
            from harness.templating import render_error

            raise OnkobenchError(render_error(err, self.label)) from None


def completion_format(config: "ModelConfig", config_dir: Path) -> CompletionFormat | None:
    """The config's completion format, or None for chat models."""
    if config.prompt_format != "completion":
        return None
    from harness.runners.base import resolve_config_path

    path = (resolve_config_path(config_dir, config.completion_template, f"model {config.name}: completion_template")
            if config.completion_template else None)
    return CompletionFormat(path)

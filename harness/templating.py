"""Jinja templates that people write (task turns, includes, prompt packs, chat templates) are contributor
code: they render in Jinja's immutable sandbox, load only from the allowed folders, and are checked before
a run.

Plain Jinja hands a template Python's object graph (``self.__init__.__globals__`` reaches ``os``), and
its file loader follows a symlink anywhere; the sandbox and :class:`ConfinedLoader` close both. Every
refusal is an ``OnkobenchError`` that names the template and its line or path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from harness.config.io import ALLOWED_ENV, allowed_roots
from harness.errors import OnkobenchError

INLINE = "<template>"
"""The file name Jinja gives a template made from a string (an inline turn, a chat template's text)."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, refusing an unsafe attribute where it is reached (Jinja's own gives an
    undefined value, whose error then names whatever the template did with it next)."""

    def unsafe_undefined(self, obj: object, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")


def sandboxed_environment(loader: jinja2.BaseLoader | None = None) -> ImmutableSandboxedEnvironment:
    """The one environment for prompt text: sandboxed, strict about undefined names, no HTML escaping."""
    return _Sandbox(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text, never HTML
        keep_trailing_newline=False,
    )


class ConfinedLoader(jinja2.BaseLoader):
    """Templates from ``folders`` (first match wins), each resolved with its symlinks and refused when it
    lies outside the allowed folders (``config.io.allowed_roots`` of each folder). Turn files,
    ``include``, ``import`` and ``extends`` all come through here."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = [Path(folder) for folder in folders]
        self.roots = sorted({root for folder in self.folders for root in allowed_roots(folder)})

    def _allowed(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = [piece for piece in template.split("/") if piece and piece != "."]
        if ".." in pieces:
            raise OnkobenchError(f"template {template!r}: '..' leaves the template folders {_names(self.folders)}")
        for folder in self.folders:
            candidate = folder.joinpath(*pieces)
            if not candidate.is_file():
                continue
            # checked before reading, on the path with every symlink resolved: a link may not lead out
            resolved = candidate.resolve()
            if not self._allowed(resolved):
                raise OnkobenchError(
                    f"template {template!r}: {candidate} leads to {resolved}, outside the allowed folders "
                    f"(add it to ${ALLOWED_ENV} if intended)"
                )
            try:
                source = resolved.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise OnkobenchError(f"{candidate}: not UTF-8 text ({err.reason} at byte {err.start})") from None
            mtime = resolved.stat().st_mtime
            return source, str(candidate), lambda: resolved.is_file() and resolved.stat().st_mtime == mtime
        raise jinja2.TemplateNotFound(template)


def _names(folders: Iterable[Path]) -> str:
    return ", ".join(str(folder) for folder in folders)


def _is_private(value: object) -> bool:
    return isinstance(value, str) and value.startswith("_")


def unsafe_names(node: nodes.Node) -> list[tuple[int, str]]:
    """(line, name) of every attribute or key starting with ``_`` that a parsed template or expression
    reaches: ``x._y``, ``x['_y']``, ``x|attr('_y')``, ``map(attribute='_y')``. The sandbox refuses such
    an access when it happens; this finds it before, in branches the first samples never take."""
    found = []
    for child in node.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Keyword)):
        if isinstance(child, nodes.Getattr) and _is_private(child.attr):
            found.append((child.lineno, child.attr))
        elif isinstance(child, nodes.Getitem) and isinstance(child.arg, nodes.Const) and _is_private(child.arg.value):
            found.append((child.lineno, child.arg.value))
        elif isinstance(child, nodes.Filter) and child.name == "attr" and child.args:
            arg = child.args[0]
            if isinstance(arg, nodes.Const) and _is_private(arg.value):
                found.append((child.lineno, arg.value))
        elif isinstance(child, nodes.Keyword) and child.key == "attribute":
            if isinstance(child.value, nodes.Const) and _is_private(child.value.value):
                found.append((child.lineno, child.value.value))
    return found


def unsafe_lines(node: nodes.Node, label: str) -> list[str]:
    """One problem line per template line that reaches a ``_`` name: ``label line N: ...``."""
    by_line: dict[int, set[str]] = {}
    for line, name in unsafe_names(node):
        by_line.setdefault(line, set()).add(name)
    return [f"{label} line {line}: {', '.join(repr(n) for n in sorted(names))} refused "
            "(names starting with '_' reach Python's internals)" for line, names in sorted(by_line.items())]


def error_line(err: BaseException) -> tuple[str, int] | None:
    """(template file, line) of the innermost template frame of a render error; Jinja rewrites the
    traceback so that each template frame carries its file name and line (``INLINE`` for a string)."""
    where = None
    tb = err.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return where


def render_error(err: Exception, inline_label: str) -> str:
    """``<file or inline label> line N: <what went wrong>`` for an exception raised while rendering: the
    innermost template, so an error inside an included file names that file."""
    where = error_line(err)
    if isinstance(err, jinja2.TemplateSyntaxError):  # an included template that does not parse
        where = (err.filename or err.name or INLINE, err.lineno)
    label = inline_label if where is None or where[0] == INLINE else where[0]
    line = f" line {where[1]}" if where else ""
    kind = "" if isinstance(err, (jinja2.TemplateError, OnkobenchError)) else f"{type(err).__name__}: "
    message = getattr(err, "message", None) or str(err)
    if isinstance(err, jinja2.TemplateNotFound):
        message = f"included template {err.name!r} not found"
    return f"{label}{line}: {kind}{message}"


_RAW_END = re.compile(r"\{%[-+]?\s*endraw\b")


def ends_raw_block(text: str) -> bool:
    """Whether ``text`` would close a ``{% raw %}`` block it is put into (any spacing or ``-``/``+``)."""
    return bool(_RAW_END.search(text))


def literal_template(text: str) -> str:
    """Jinja source that renders exactly ``text``: a raw block, each ``{%`` in it written as an expression
    so that no tag inside the text (an ``endraw`` above all) is ever read as Jinja."""
    escaped = text.replace("{%", "{% endraw %}{{ '{%' }}{% raw %}")
    return "{% raw %}" + escaped + "{% endraw %}"


def check_chat_template(path: Path) -> str:
    """The text of a chat template file named in a model config, refused when it reaches a ``_`` name.

    The engines render it themselves, in transformers' sandbox (vLLM hands it to the same tokenizer
    method); this check only makes the refusal come before the model loads, as one line. A template
    with an engine's own tags (``{% generation %}``) does not parse here and is left to that sandbox.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise OnkobenchError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    env = sandboxed_environment()
    env.add_extension("jinja2.ext.loopcontrols")
    try:
        tree = env.parse(text)
    except jinja2.TemplateSyntaxError:
        return text
    problems = unsafe_lines(tree, str(path))
    if problems:
        raise OnkobenchError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return text

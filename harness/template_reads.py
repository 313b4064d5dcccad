"""Which context variables a prompt template reads, decided on its parse tree.

A few-shot example turn usually reads only the example (``shot``) and task-level variables, so its text is the
same for every sample and ``harness.prompts`` renders it once per variant. That is only safe when the template
provably cannot see the sample: this module finds the names a template reads from its context, after folding
``x is defined`` tests whose answer is known in the turn (``shot`` is defined in an example turn, never outside),
so the common ``{% set item = shot if shot is defined else sample %}`` counts as reading ``shot`` only there.
Whatever the analysis cannot see through (a template name built at render time, a filter that receives the whole
context, a random global) makes the template depend on everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

DETERMINISTIC_GLOBALS = frozenset({"range", "dict", "cycler", "joiner", "namespace"})
"""Jinja's globals whose result follows from their arguments alone (``lipsum`` is random)."""
_CONTEXT_HANDLERS = frozenset({"map", "select", "reject", "selectattr", "rejectattr"})
"""Built-in filters that take the context only to hand it to the filter or test they are given by name."""


class EverythingRead(Exception):
    """The template may read any context variable (the analysis cannot bound what it reads)."""


def assigned_names(tree: nodes.Node) -> set[str]:
    """Every name a template binds itself: ``set``, loop and ``with`` targets, macro and call-block
    parameters, import targets. Such a name's definedness is not the context's."""
    names = {node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")}
    names.update(node.target for node in tree.find_all(nodes.Import))
    for node in tree.find_all(nodes.FromImport):
        names.update(name if isinstance(name, str) else name[1] for name in node.names)
    return names


class _DefinedFolder(NodeTransformer):
    """Replaces ``name is defined`` / ``is undefined`` of names with a known answer by constants, then drops the
    branches of ``if``, ``x if c else y``, ``and`` and ``or`` that the constants rule out (Python's semantics,
    which Jinja compiles to)."""

    def __init__(self, defined: Mapping[str, bool]) -> None:
        self.defined = defined

    def visit_Test(self, node: nodes.Test) -> nodes.Node:
        self.generic_visit(node)
        target = node.node
        if (node.name in ("defined", "undefined") and isinstance(target, nodes.Name) and target.name in self.defined
                and not node.args and not node.kwargs and node.dyn_args is None and node.dyn_kwargs is None):
            known = self.defined[target.name]
            return nodes.Const(known if node.name == "defined" else not known, lineno=node.lineno)
        return node

    def visit_Not(self, node: nodes.Not) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Const(not node.node.value, lineno=node.lineno) if isinstance(node.node, nodes.Const) else node

    def visit_And(self, node: nodes.And) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node.left, nodes.Const):
            return node.right if node.left.value else node.left
        return node

    def visit_Or(self, node: nodes.Or) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node.left, nodes.Const):
            return node.left if node.left.value else node.right
        return node

    def visit_CondExpr(self, node: nodes.CondExpr) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node.test, nodes.Const) and (node.test.value or node.expr2 is not None):
            return node.expr1 if node.test.value else node.expr2
        return node

    def visit_If(self, node: nodes.If) -> nodes.Node | list[nodes.Node]:
        if node.elif_:  # `elif` as an `if` in the `else`: the same output, and one rule below folds both
            first, *rest = node.elif_
            inner = nodes.If(first.test, first.body, rest, node.else_, lineno=first.lineno)
            node = nodes.If(node.test, node.body, [], [inner], lineno=node.lineno)
        node.test = self.visit(node.test)
        if isinstance(node.test, nodes.Const):
            # an if-block opens no scope in Jinja, so the branch taken can stand in the statement's place
            return self._statements(node.body if node.test.value else node.else_)
        node.body, node.else_ = self._statements(node.body), self._statements(node.else_)
        return node

    def _statements(self, body: list[nodes.Node]) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        for statement in body:
            visited = self.visit(statement)
            out.extend(visited if isinstance(visited, list) else [visited])
        return out


def fold_defined(tree: nodes.Template, defined: Mapping[str, bool]) -> nodes.Template:
    """``tree`` (changed in place: pass a tree parsed for this) with the definedness tests of ``defined`` folded.
    A name the template binds itself is left alone: its definedness is not known from the context."""
    known = {name: value for name, value in defined.items() if name not in assigned_names(tree)}
    folded = _DefinedFolder(known).visit(tree)
    folded.set_environment(tree.environment)  # type: ignore[attr-defined]
    return folded


def _passes_context(implementation: Any) -> bool:
    return _PassArg.from_obj(implementation) is _PassArg.context


def _check_callables(tree: nodes.Node, env: jinja2.Environment) -> None:
    """Raise EverythingRead when a filter or test may read the whole context: one that receives it (``random``,
    a family's context filter), or one of ``map``/``select``/... handing it to a filter or test named at render
    time or named here and receiving it."""
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        table = env.filters if isinstance(node, nodes.Filter) else env.tests
        implementation = table.get(node.name)
        if implementation is None or not _passes_context(implementation):
            continue
        if node.name not in _CONTEXT_HANDLERS or node.dyn_args is not None or node.dyn_kwargs is not None:
            raise EverythingRead(f"{node.name!r} receives the whole context")
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            if not isinstance(arg, nodes.Const):
                raise EverythingRead(f"{node.name!r} is given a name built at render time")
            if isinstance(arg.value, str) and any(
                arg.value in named and _passes_context(named[arg.value]) for named in (env.filters, env.tests)
            ):
                raise EverythingRead(f"{node.name!r} hands the context to {arg.value!r}")


class _ReadTracker(CodeGenerator):
    """Jinja's code generator run for its symbol tables only (as ``jinja2.meta`` does), keeping the globals it
    would resolve too: ``jinja2.meta.find_undeclared_variables`` leaves them out, ``lipsum`` included."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment, "<reads>", "<reads>")
        self.names: set[str] = set()

    def write(self, x: str) -> None:
        pass

    def enter_frame(self, frame: Frame) -> None:
        super().enter_frame(frame)
        self.names.update(name for action, name in frame.symbols.loads.values() if action == "resolve")


def context_reads(tree: nodes.Template, env: jinja2.Environment) -> set[str]:
    """The names ``tree`` reads from its context and the environment's globals (Jinja's own analysis, the one
    that decides what a compiled template loads); raises EverythingRead when it may read more than it names."""
    _check_callables(tree, env)
    tracker = _ReadTracker(env)
    tracker.visit(tree)
    return tracker.names

"""Name -> object maps with lazy ``module:attr`` entries and did-you-mean errors."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from harness.errors import OnkobenchError

T = TypeVar("T")

PLUGINS = "harness.families"
"""The package whose ``load_builtin()`` registers the benchmark families (see harness/families)."""
_plugins_loaded = False


def load_plugins() -> None:
    """Register the families' components, once; asked for on a registry's first miss, so generic code never
    imports a family and ``onkobench --help`` imports none."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    importlib.import_module(PLUGINS).load_builtin()


class Registry(Generic[T]):
    """Maps names to objects; values may be ``"module:attr"`` strings imported on first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T | str] = {}

    def add(self, name: str, value: T | str) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = value

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def get(self, name: str) -> T:
        if name not in self._items:
            load_plugins()
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OnkobenchError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._items))})")
        value = self._items[name]
        if isinstance(value, str):
            module_name, _, attr = value.partition(":")
            value = getattr(importlib.import_module(module_name), attr)
            self._items[name] = value
        return value  # type: ignore[return-value]

    def build(self, name: str, options: dict) -> Any:
        """Call a registered factory with its options from a task file; bad options are a user error."""
        factory = self.get(name)
        try:
            return factory(**options)  # type: ignore[operator]
        except TypeError as err:
            raise OnkobenchError(f"{self.kind} {name!r}: bad options {options}: {err}") from None

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        load_plugins()
        return iter(sorted(self._items))

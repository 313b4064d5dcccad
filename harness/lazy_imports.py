"""Modules imported at their first use rather than at the import of the module that names them."""

from __future__ import annotations

import threading
from importlib import import_module
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name`` and imports it at the first access to one of its attributes (in whichever
    thread comes first; the others wait for the import to finish: ``importlib.util.LazyLoader`` lets them see a
    half-run module on Python 3.11). Each attribute is kept here once read, so later reads cost a plain lookup."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name
        self._lazy_lock = threading.Lock()
        self._lazy_module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:  # only for attributes not kept yet
        if attribute.startswith("__"):
            raise AttributeError(attribute)  # pickle, copy and introspection probe these on any object
        module = self._lazy_module
        if module is None:
            with self._lazy_lock:
                if self._lazy_module is None:
                    self._lazy_module = import_module(self._lazy_name)
                module = self._lazy_module
        value = getattr(module, attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<module {self._lazy_name!r}, {'imported' if self._lazy_module is not None else 'imported at first use'}>"


def lazy_module(name: str) -> Any:
    """The module ``name``, imported at its first use (``LazyModule``)."""
    return LazyModule(name)


numpy: Any = lazy_module("numpy")
"""numpy for the scoring modules, one stand-in shared by all: numpy starts a thread pool (OpenBLAS) when imported, so
a process that has imported it runs more than one thread and its scoring workers cannot be forked
(``harness.scoring.workers.start_method``), and workers that never compute a metric would pay its import."""

"""Modules imported at their first use rather than at the import of the module that names them."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, run at the first access to one of its attributes (``importlib.util.LazyLoader``).

    numpy starts a thread pool (OpenBLAS) when imported: a process that has imported it runs more than one thread, so
    its scoring workers cannot be forked (``harness.scoring.workers.start_method``), and workers that never compute a
    metric would pay its import. The scoring modules name it through this; any other import of numpy gets the same
    module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module

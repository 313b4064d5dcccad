"""numpy is imported at its first use by the scoring modules: importing them starts no thread (so scoring workers can
be forked), and threads that reach numpy first at the same moment all see the whole module."""

from __future__ import annotations

import subprocess
import sys

FIRST_USE_IN_FOUR_THREADS = """
import os, sys, threading
import harness.stats, harness.scoring.metrics, harness.scoring.table, harness.scoring.units
import harness.scoring.response_stats
from harness.stats import np
assert "numpy" not in sys.modules, "imported with the scoring modules"
assert len(os.listdir("/proc/self/task")) == 1 if os.path.isdir("/proc/self/task") else True
start, errors, sums = threading.Barrier(4), [], []
def first_use():
    start.wait()
    try:
        sums.append(int(np.fromiter(iter([1, 2, 3]), int, 3).sum()))
    except Exception as err:  # a half-imported module: AttributeError
        errors.append(repr(err))
threads = [threading.Thread(target=first_use) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert errors == [], errors
assert sums == [6, 6, 6, 6]
assert "numpy" in sys.modules and np.ndarray is sys.modules["numpy"].ndarray
print("ok")
"""


def test_numpy_comes_at_first_use_whole_to_every_thread() -> None:
    done = subprocess.run([sys.executable, "-c", FIRST_USE_IN_FOUR_THREADS], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"]


def test_probing_a_lazy_module_for_special_names_does_not_import_it() -> None:
    """copy, pickle and introspection ask any object for ``__copy__``, ``__reduce_ex__`` and the like: that alone must
    not import numpy (a forked worker's parent would then run its thread pool)."""
    import copy

    from harness.lazy_imports import lazy_module

    lazy = lazy_module("json")
    assert not hasattr(lazy, "__copy__") and not hasattr(lazy, "__wrapped__")
    copy.copy(lazy)
    assert "imported at first use" in repr(lazy)
    assert lazy.dumps([1]) == "[1]" and "imported" in repr(lazy) and "first use" not in repr(lazy)

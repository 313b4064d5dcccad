"""Benchmark families: everything specific to one protocol (its row schema, sample builders, parsers,
scorers, metrics, prompt filters, baseline methods), registered into the generic registries.

Generic code never imports a family. A registry asks for the families on its first miss
(``harness.registry.load_plugins``), like datasette's default plugins: the built-in ones below, then
modules named in ``$ONKOBENCH_FAMILIES`` (comma-separated) and in the ``onkobench.families`` entry-point
group, so an out-of-tree family registers exactly as the built-in ones do.
"""

from __future__ import annotations

import importlib
import os
from importlib import metadata

BUILTIN = ("harness.families.urollmeval", "harness.families.catalogue_qa")
FAMILIES_ENV = "ONKOBENCH_FAMILIES"
ENTRY_POINT_GROUP = "onkobench.families"


def family_modules() -> list[str]:
    """Module names of every family to load, built-in first."""
    extra = [name.strip() for name in os.environ.get(FAMILIES_ENV, "").split(",") if name.strip()]
    entry_points = [ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return list(dict.fromkeys([*BUILTIN, *extra, *entry_points]))


def load_builtin() -> None:
    """Import every family module; each registers its components when imported (once per process)."""
    for name in family_modules():
        importlib.import_module(name)

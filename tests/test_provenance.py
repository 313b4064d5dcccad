"""Where a result came from (``harness.provenance``)."""

from __future__ import annotations

import subprocess

from harness import provenance as module


def test_provenance_is_looked_up_once_per_process(monkeypatch) -> None:
    module._process_provenance.cache_clear()
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(command, *args, **kwargs):
        calls.append(list(command))
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(module.subprocess, "run", counting_run)
    first = module.provenance()
    first["packages"]["edited"] = "by a caller"  # each caller gets its own copy
    second = module.provenance()
    assert len(calls) == 2  # git rev-parse and git status, for the first run of the process only
    assert "edited" not in second["packages"] and second["harness_version"] == first["harness_version"]
    module._process_provenance.cache_clear()

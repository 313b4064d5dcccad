"""Run mini.coding with a slow scripted runner; the SIGKILL test kills this process mid-run.

Run as a script (``python tests/kill_target.py ...``): Python puts the script's folder, tests/, first on
``sys.path``, so ``fake_runner`` imports without a path edit; the tests pass the repository root in PYTHONPATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fake_runner import ScriptedRunner

from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.pipeline.run import run_task_variant

ANSWERS = {"a": "C61", "b": "C67.9", "c": "Code C34.1", "d": "weiß nicht", "e": "C50.9"}
ANSWERS.update({f"s{i:03d}": ("C61" if i % 3 else "keine Ahnung") for i in range(1000)})

if __name__ == "__main__":
    task_file, out_dir, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    task = load_task_file(task_file)
    data = load_task_data(task, sys.argv[4] if len(sys.argv) > 4 else None)
    from harness.pipeline.spec import RunSpec

    config = ModelConfig(name="scripted", runner="baseline")
    spec = RunSpec(task, task.variant("zero"), config, data)
    outcome = run_task_variant(spec, out_dir, lambda: ScriptedRunner(ANSWERS, delay), progress=False)
    print(outcome.summary.metrics["accuracy"].value)

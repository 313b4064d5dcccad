"""Run mini.coding with a slow scripted runner; the SIGKILL test kills this process mid-run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_runner import ScriptedRunner  # noqa: E402

from harness.data import load_task_data  # noqa: E402
from harness.pipeline.run import run_task_variant  # noqa: E402
from harness.config.models import ModelConfig  # noqa: E402
from harness.config.tasks import load_task_file  # noqa: E402

ANSWERS = {"a": "C61", "b": "C67.9", "c": "Code C34.1", "d": "weiß nicht", "e": "C50.9"}
ANSWERS.update({f"s{i:03d}": ("C61" if i % 3 else "keine Ahnung") for i in range(1000)})

if __name__ == "__main__":
    task_file, out_dir, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    task = load_task_file(task_file)
    data = load_task_data(task, sys.argv[4] if len(sys.argv) > 4 else None)
    config = ModelConfig(name="scripted", runner="baseline")
    outcome = run_task_variant(task, "zero", config, data, out_dir, lambda: ScriptedRunner(ANSWERS, delay), progress=False)
    print(outcome.summary.metrics["accuracy"].value)

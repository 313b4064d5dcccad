"""CLI start-up: `onkobench --help` vs `python -c "import click"` (heavy libraries must load lazily).

    python benchmarks/cli_startup.py [--repeat 15]

Target (issue 8): ratio <= 2. Medians of alternating runs, each a fresh interpreter.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGET = 2.0


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    onkobench = shutil.which("onkobench") or sys.exit("onkobench is not on PATH (activate the venv)")
    cli, click = [], []
    for _ in range(args.repeat):  # alternating, so a busy moment hits both
        cli.append(_seconds([onkobench, "--help"]))
        click.append(_seconds([sys.executable, "-c", "import click"]))
    heavy = subprocess.run([sys.executable, "-c", "import sys, harness.cli; print(sorted(m for m in ('torch', 'transformers', "
                            "'vllm', 'lm_eval', 'datasets', 'pandas', 'scipy') if m in sys.modules))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    ratio = statistics.median(cli) / statistics.median(click)
    print(f"onkobench --help: median {1000 * statistics.median(cli):.0f} ms; python -c 'import click': "
          f"median {1000 * statistics.median(click):.0f} ms ({args.repeat} runs each)")
    print(f"heavy modules imported by the CLI module: {heavy}")
    print(f"ratio = {ratio:.2f}  (target <= {TARGET:.0f}: {'met' if ratio <= TARGET else 'missed'})")


if __name__ == "__main__":
    main()

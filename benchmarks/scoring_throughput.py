"""Scoring throughput and memory: 500,000 generated catalogue samples, scored vs merely read and JSON-decoded.

    python benchmarks/scoring_throughput.py [--n 500000] [--workers 1,2] [--preamble-chars 0]

Target (issue 17): scoring / plain read <= 3 as ``onkobench score`` does it by default (one worker per core, at most
8), reported at 1 and 2 worker processes, with the CPU microseconds per sample by stage (the workers' CPU added up, so
a stage that runs in two workers shows its whole cost). Each step runs
in its own process (benchmarks/large_run.py) so that the peak resident set sizes are the step's own (the main
process's: each worker holds its imports, the catalogue and a few chunks besides). Needs the ICD-10-GM 2024 files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.scoring.workers import AUTO_MAX_WORKERS, available_cores

LARGE_RUN = Path(__file__).resolve().parent / "large_run.py"
TARGET = 3.0


def step(*args: str) -> dict:
    done = subprocess.run([sys.executable, str(LARGE_RUN), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"large_run.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "unknown"


def print_stages(runs: dict[int, dict], n: int) -> None:
    stages = list(dict.fromkeys(stage for scored in runs.values() for stage in scored["stage_seconds"]))
    print("CPU microseconds per sample by stage (import, task and data set: the main process; the chunk stages "
          "read ... JSON encode: summed over the workers)")
    print(f"{'stage':<42}" + "".join(f"{f'{w} worker' + ('s' if w > 1 else ''):>12}" for w in runs))
    for stage in stages:
        print(f"{stage:<42}" + "".join(f"{1e6 * scored['stage_seconds'].get(stage, 0.0) / n:>12.2f}" for scored in runs.values()))
    print(f"{'all stages (CPU)':<42}" + "".join(f"{1e6 * sum(s['stage_seconds'].values()) / n:>12.2f}" for s in runs.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--workers", default=None,
                        help="comma-separated worker counts to score with (default: 1 and onkobench's default)")
    parser.add_argument("--preamble-chars", type=int, default=0)
    args = parser.parse_args()
    default = min(available_cores(), AUTO_MAX_WORKERS)
    worker_counts = [int(w) for w in args.workers.split(",")] if args.workers else sorted({1, default})
    print(f"machine: {os.cpu_count()} cores, load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = step("generate", str(folder), "--n", str(args.n), "--preamble-chars", str(args.preamble_chars))
        read = step("read", str(folder))
        runs = {w: step("score", str(folder), "--workers", str(w), "--out", f"runs-{w}") for w in worker_counts}
        reported = step("report", str(folder), "--out", f"runs-{worker_counts[0]}")
    mb = (made["dataset_bytes"] + made["outputs_bytes"]) / 2**20
    print(f"samples: {args.n:,} (data set + outputs: {mb:.0f} MB); load average after: {load()}")
    print(f"read + json.loads of both files: {read['seconds']:.2f} s   peak {read['peak_mb']:.0f} MB")
    for workers, scored in runs.items():
        ratio = scored["seconds"] / read["seconds"]
        print(f"onkobench scoring, {workers} worker(s) (load, validate, parse, catalogue, metrics, write): "
              f"{scored['seconds']:.2f} s   peak {scored['peak_mb']:.0f} MB (after loading the data set: "
              f"{scored['peak_after_load_mb']:.0f} MB)")
        verdict = (f"target <= {TARGET:.0f}: {'met' if ratio <= TARGET else 'missed'}" if workers == default
                   else f"for comparison; the target is for the default, {default} worker(s) here")
        print(f"ratio scoring / plain read, {workers} worker(s) = {ratio:.1f}  ({verdict})   CPU: main process "
              f"{scored['cpu_seconds']:.2f} s, workers {scored['workers_cpu_seconds']:.2f} s; reading {read['cpu_seconds']:.2f} s")
    same = len({scored["scores_sha256"] for scored in runs.values()}) == 1
    print(f"scores.jsonl identical for {', '.join(map(str, runs))} worker(s): {'yes' if same else 'NO'}")
    print(f"site from that run: {reported['seconds']:.2f} s   peak {reported['peak_mb']:.0f} MB")
    print(f"per sample: {1e6 * read['seconds'] / args.n:.1f} us reading; scoring "
          + ", ".join(f"{1e6 * s['seconds'] / args.n:.1f} us with {w} worker(s)" for w, s in runs.items()))
    print_stages(runs, args.n)
    if not same:
        sys.exit("the scores differ between worker counts")


if __name__ == "__main__":
    main()

"""Scoring throughput and memory: 500,000 generated catalogue samples, scored vs merely read and JSON-decoded.

    python benchmarks/scoring_throughput.py [--n 500000] [--workers 1,2] [--preamble-chars 0] [--repeat 3]

Target (issue 17): scoring / plain read <= 3 as ``onkobench score`` does it by default (for a large file one worker
per core, at most 8), reported in one process and at that default, with the CPU microseconds per sample by stage (the
workers' CPU added up, so a stage that runs in two workers shows its whole cost). Reading and each scoring run in
turn, ``--repeat`` rounds: on a 2-vCPU machine one round's ratio moves by 0.2 either way, so each ratio is the median
over the rounds (the lower middle one for an even number), and the round it comes from is the one shown. Each step runs
in its own process (benchmarks/large_run.py) so that the peak resident set sizes are the step's own (the main
process's: each worker holds its imports, the catalogue and a few chunks besides). Needs the ICD-10-GM 2024 files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.scoring.workers import scoring_workers

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
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of reading and each scoring, in turn; each ratio is the median over the rounds")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    default = scoring_workers(None, args.n)  # what `onkobench score` starts for a file of --n lines
    worker_counts = [int(w) for w in args.workers.split(",")] if args.workers else sorted({1, default})
    print(f"machine: {os.cpu_count()} cores, load average before: {load()}")
    rounds: list[tuple[dict, dict[int, dict]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = step("generate", str(folder), "--n", str(args.n), "--preamble-chars", str(args.preamble_chars))
        for number in range(args.repeat):
            read = step("read", str(folder))
            runs = {w: step("score", str(folder), "--workers", str(w), "--out", f"runs-{w}-{number}") for w in worker_counts}
            rounds.append((read, runs))
            if number:  # the site is built from the first round's run; the others only take room
                for w in worker_counts:
                    shutil.rmtree(folder / f"runs-{w}-{number}")
        reported = step("report", str(folder), "--out", f"runs-{worker_counts[0]}-0")
    ratios = {w: [runs[w]["seconds"] / read["seconds"] for read, runs in rounds] for w in worker_counts}
    # the round whose ratio at the default is the median stands for the rest (times, memory, stages)
    standing = default if default in worker_counts else worker_counts[-1]
    ranked = sorted(range(len(rounds)), key=lambda r: ratios[standing][r])
    read, runs = rounds[ranked[(len(ranked) - 1) // 2]]  # statistics.median_low's round
    mb = (made["dataset_bytes"] + made["outputs_bytes"]) / 2**20
    print(f"samples: {args.n:,} (data set + outputs: {mb:.0f} MB); load average after: {load()}; "
          f"{args.repeat} round(s), the median one shown")
    print(f"read + json.loads of both files: {read['seconds']:.2f} s   peak {read['peak_mb']:.0f} MB")
    for workers, scored in runs.items():
        ratio = statistics.median_low(ratios[workers])
        print(f"onkobench scoring, {workers} worker(s) (load, validate, parse, catalogue, metrics, write): "
              f"{scored['seconds']:.2f} s   peak {scored['peak_mb']:.0f} MB (after loading the data set: "
              f"{scored['peak_after_load_mb']:.0f} MB)")
        verdict = (f"target <= {TARGET:.0f}: {'met' if ratio <= TARGET else 'missed'}" if workers == default
                   else f"for comparison; the target is for the default, {default} worker(s) here")
        print(f"ratio scoring / plain read, {workers} worker(s) = {ratio:.2f}, median of "
              f"{', '.join(f'{r:.2f}' for r in ratios[workers])}  ({verdict})   CPU: main process "
              f"{scored['cpu_seconds']:.2f} s, workers {scored['workers_cpu_seconds']:.2f} s; reading {read['cpu_seconds']:.2f} s")
    same = len({scored["scores_sha256"] for _, runs_of in rounds for scored in runs_of.values()}) == 1
    print(f"scores.jsonl identical for {', '.join(map(str, worker_counts))} worker(s) in every round: {'yes' if same else 'NO'}")
    print(f"site from that run: {reported['seconds']:.2f} s   peak {reported['peak_mb']:.0f} MB")
    print(f"per sample: {1e6 * read['seconds'] / args.n:.1f} us reading; scoring "
          + ", ".join(f"{1e6 * s['seconds'] / args.n:.1f} us with {w} worker(s)" for w, s in runs.items()))
    print_stages(runs, args.n)
    if not same:
        sys.exit("the scores differ between worker counts")


if __name__ == "__main__":
    main()

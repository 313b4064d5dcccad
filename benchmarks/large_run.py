"""One step on a large generated catalogue run, in its own process, printing one JSON line with its peak memory.

    python benchmarks/large_run.py generate FOLDER --n 500000 [--preamble-chars 600]
    python benchmarks/large_run.py read FOLDER     # read and JSON-decode the files scoring reads (the baseline)
    python benchmarks/large_run.py score FOLDER [--workers N] [--out runs]   # onkobench's scoring of the outputs file
    python benchmarks/large_run.py report FOLDER [--out runs]   # the site from that run folder

``score`` also prints the CPU seconds per stage (``harness.scoring.stages``: the workers' seconds added up) and the
sha256 of the scores file (the same for any number of workers).

Each step runs alone so that its peak resident set size is its own (tests/test_large_run.py,
benchmarks/scoring_throughput.py). The catalogue comes from $ONKOBENCH_CATALOGUE_DIR or ../shared/data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory import peak_mb  # noqa: E402
from catalogue_samples import ICD10_TASK, write_catalogue_samples  # noqa: E402


def generate(folder: Path, n: int, preamble_chars: int) -> dict:
    from harness.catalogues import load_catalogue

    codes = load_catalogue("icd10gm", 2024).terminal_codes()
    dataset, outputs = write_catalogue_samples(folder, n, codes, preamble_chars=preamble_chars)
    return {"n": n, "dataset_bytes": dataset.stat().st_size, "outputs_bytes": outputs.stat().st_size}


def read(folder: Path) -> dict:
    rows = 0
    for name in ("dataset.jsonl", "outputs.jsonl"):
        with (folder / name).open(encoding="utf-8") as handle:
            for line in handle:
                json.loads(line)
                rows += 1
    return {"rows": rows}


def score(folder: Path, workers: int | None, out: str) -> dict:
    started = time.process_time()
    from harness.data import load_task_data
    from harness.pipeline.outputs_file import outputs_scoring_pool, score_outputs_file
    from harness.config.tasks import load_task
    from harness.scoring.stages import StageTimes

    times = StageTimes()
    times.add("import onkobench", time.process_time() - started)
    with times.timed("load task"):
        task = load_task(ICD10_TASK)
    # as `onkobench score` does: the workers start before the data set is read
    with outputs_scoring_pool(task, folder / "outputs.jsonl", workers=workers) as pool:
        with times.timed("data set (read, samples, fingerprint)"):
            data = load_task_data(task, folder / "dataset.jsonl")
        peak_after_load = peak_mb()
        outcome = score_outputs_file(task, data, folder / "outputs.jsonl", folder / out, "generated", times=times,
                                     pool=pool)
    scores = outcome.folder / "scores.jsonl"
    return {"peak_after_load_mb": round(peak_after_load, 1), "run": str(outcome.folder),
            "accuracy": outcome.summary.metrics["accuracy"].value, "n_samples": outcome.summary.n_samples,
            "scores_sha256": hashlib.sha256(scores.read_bytes()).hexdigest(),
            "stage_seconds": {stage: round(seconds, 4) for stage, seconds in times.seconds.items()}}


def report(folder: Path, out: str) -> dict:
    from harness.report.site import build_site

    runs = sorted((folder / out).iterdir())
    index = build_site(runs, folder / "site")
    return {"index": str(index)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("generate", "read", "score", "report"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--preamble-chars", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="score: worker processes (default: onkobench's choice)")
    parser.add_argument("--out", default="runs", help="score, report: the runs folder inside FOLDER")
    args = parser.parse_args()
    started, started_cpu = time.perf_counter(), time.process_time()
    if args.step == "generate":
        result = generate(args.folder, args.n, args.preamble_chars)
    elif args.step == "score":
        result = score(args.folder, args.workers, args.out)
    elif args.step == "report":
        result = report(args.folder, args.out)
    else:
        result = read(args.folder)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the scoring workers, joined by now
    result.update(step=args.step, seconds=round(time.perf_counter() - started, 3),
                  cpu_seconds=round(time.process_time() - started_cpu, 3),
                  workers_cpu_seconds=round(children.ru_utime + children.ru_stime, 3), peak_mb=round(peak_mb(), 1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

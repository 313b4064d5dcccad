"""Statistics and site for a large leaderboard: models x task variants x items, and how time grows.

    python benchmarks/stats_and_site.py [--models 50] [--variants 10] [--items 2000] [--no-growth]

Per (task variant, model) it computes the run's metrics with intervals from a column table (Wilson)
plus a percentile bootstrap of accuracy (2,000 resamples), then every task's paired matrix (exact
McNemar + paired bootstrap, Holm) and the whole static site from the published-result files.
Then it repeats with fewer models and fewer items to show the growth. No target: the figures go to
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "leaderboards" / "results" / "demo" / "demo.icd10gm_coding--0--baseline-lexicon-exact.json"


def _results(models: int, variants: int, items: int, seed: int = 0) -> list[tuple[dict, np.ndarray]]:
    """Published-result skeletons (from a committed demo result) with generated per-item outcomes."""
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.3, 0.9, size=models)
    out = []
    for v in range(variants):
        difficulty = rng.normal(0, 1.0, size=items)
        for m in range(models):
            p = 1 / (1 + np.exp(-(np.log(skill[m] / (1 - skill[m])) - difficulty)))
            correct = (rng.random(items) < p).astype(np.int8)
            result = {**template, "task": f"bench.task{v}", "variant": "0", "run_id": f"bench.task{v}--0--model{m:02d}",
                      "model": {**template["model"], "name": f"model{m:02d}", "display_name": f"Model {m:02d}"},
                      "n_samples": items, "dataset": {**template["dataset"], "n_samples": items, "fingerprint": f"bench{items}"}}
            out.append((result, correct))
    return out


def _metrics(results: list[tuple[dict, np.ndarray]]) -> float:
    from harness.scoring import ScoreTable, compute_metrics
    from harness.stats import bootstrap_interval

    started = time.perf_counter()
    for result, correct in results:
        table = ScoreTable()
        for i, c in enumerate(correct.tolist()):
            table.add(f"i{i}", None, "ok" if i % 23 else "malformed", {"correct": c, "partial": c})
        metrics = compute_metrics(["accuracy", "partial_accuracy", "accuracy_wellformed", "p_malformed"], table)
        boot = bootstrap_interval(correct.astype(float), lambda stack: stack.mean(axis=-1))
        result["metrics"] = {name: estimate.to_dict() for name, estimate in metrics.items()}
        result["metrics"]["accuracy"].update(lo=boot.lo, hi=boot.hi, method="bootstrap")
        result["metric_order"] = list(result["metrics"])
        result["status_counts"] = table.status_counts()
        # the accuracy's per-item outcomes, as a format-4 result publishes them (a skeleton: no per-item rows)
        result["units"] = {"metric": "accuracy", "unit": "sample", "if_empty": None,
                           "outcomes": {f"i{i}": [float(c), 1.0] for i, c in enumerate(correct.tolist())}}
        result["items"] = None
    return time.perf_counter() - started


def _paired_and_site(results: list[tuple[dict, np.ndarray]], folder: Path) -> tuple[float, float, int]:
    from harness.report.site import build_site
    from harness.report.pages import build_tables, load_rows, paired_matrix

    for result, _ in results:
        (folder / f"{result['run_id']}.json").write_text(json.dumps(result), encoding="utf-8")
    started = time.perf_counter()
    tables = build_tables(load_rows([folder]), None)
    n_tests = sum(paired_matrix(table).n_tests for table in tables)
    paired = time.perf_counter() - started
    started = time.perf_counter()
    build_site([folder], folder / "site")
    return paired, time.perf_counter() - started, n_tests


def measure(models: int, variants: int, items: int) -> dict:
    results = _results(models, variants, items)
    with tempfile.TemporaryDirectory() as tmp:
        metrics_s = _metrics(results)
        paired_s, site_s, n_tests = _paired_and_site(results, Path(tmp))
    return {"models": models, "variants": variants, "items": items, "runs": len(results), "metrics_s": round(metrics_s, 2),
            "paired_s": round(paired_s, 2), "paired_tests": n_tests, "site_s": round(site_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--no-growth", action="store_true", help="only the full size")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "benchmarks"))
    full = measure(args.models, args.variants, args.items)
    rows = [full]
    if not args.no_growth:
        for models in (args.models // 5, args.models // 2):
            rows.append(measure(models, args.variants, args.items))
        for items in (args.items // 4, args.items // 2):
            rows.append(measure(args.models, args.variants, items))
    print(f"{'models':>6} {'items':>6} {'runs':>5} {'metrics+CI s':>12} {'paired s':>9} {'tests':>7} {'site s':>7}")
    for r in rows:
        print(f"{r['models']:>6} {r['items']:>6} {r['runs']:>5} {r['metrics_s']:>12} {r['paired_s']:>9} {r['paired_tests']:>7} {r['site_s']:>7}")
    base = rows[1] if len(rows) > 1 else full
    if len(rows) > 1:
        print(f"growth, {base['models']} -> {full['models']} models (x{full['models'] / base['models']:.0f}): "
              f"metrics x{full['metrics_s'] / base['metrics_s']:.1f}, paired x{full['paired_s'] / max(base['paired_s'], 1e-9):.1f} "
              f"(tests x{full['paired_tests'] / max(base['paired_tests'], 1):.0f}), site x{full['site_s'] / base['site_s']:.1f}")
        fewer = rows[3]
        print(f"growth, {fewer['items']} -> {full['items']} items (x{full['items'] / fewer['items']:.0f}): "
              f"metrics x{full['metrics_s'] / fewer['metrics_s']:.1f}, paired x{full['paired_s'] / max(fewer['paired_s'], 1e-9):.1f}, "
              f"site x{full['site_s'] / fewer['site_s']:.1f}")
    from _memory import peak_mb

    print(f"peak RSS {peak_mb():.0f} MB")
    print(json.dumps({"full": full, "rows": rows}))


if __name__ == "__main__":
    main()

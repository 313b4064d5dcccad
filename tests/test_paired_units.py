"""Paired tests and published per-unit outcomes on the metric that is ranked (issue #15 E).

A table's rows are compared on its primary metric, unit by unit: snippet for snippet for step 2's per-snippet
metrics, query for query for a per-query one, item for item otherwise; binary outcomes by McNemar, ratios such as
F1 by the paired bootstrap of the metric itself. Published results carry those per-unit outcomes, and validate
recomputes them from the items and the primary metric from them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main

SNIPPETS = "tasks/demo/data/snippets.jsonl"
BASELINES = ("--model", "baseline-lexicon-exact", "--model", "baseline-lexicon-fuzzy")


def cli(*args: str) -> None:
    result = CliRunner().invoke(main, [*args, "--no-progress"] if args[0] == "run" else list(args))
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def step2_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's step 2: both lexicon baselines on the best step-1 run (p_snippets_correct 0.897 and 0.793)."""
    out = tmp_path_factory.mktemp("step2")
    cli("run", "--task", "urollmeval.step1", "--variant", "0", *BASELINES, "--data", SNIPPETS, "--out", str(out))
    cli("run", "--task", "urollmeval.step2", "--variant", "0-uro", *BASELINES, "--data", SNIPPETS, "--chain", "best",
        "--out", str(out))
    return out


def _step2_table(sources: list[Path]):
    from harness.report.pages import build_tables

    (table,) = [t for t in build_tables(sources) if t.task == "urollmeval.step2"]
    return table


def _snippet_outcomes(folder: Path) -> dict[str, int]:
    """p_snippets_correct per snippet, by hand from the run's scores: all gold codes answered and no other
    (C77-C79 allowed)."""
    answers: dict[str, tuple[set[str], set[str]]] = {}
    for line in (folder / "scores.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold, codes = answers.setdefault(row["group"], (set(row["values"]["gold"]), set()))
        if row["values"].get("code"):
            codes.add(row["values"]["code"])
    return {s: int(gold <= codes <= gold | {"C77", "C78", "C79"}) for s, (gold, codes) in answers.items()}


def test_step2_rows_are_compared_snippet_by_snippet(step2_runs: Path) -> None:
    """The demo's step-2 page showed +0.0 between rows at 89.7 and 79.3: the pairs were of queries' `correct`."""
    from harness.report.pages import paired_matrix
    from harness.stats import mcnemar_exact

    table = _step2_table([step2_runs])
    assert table.primary_metric == "p_snippets_correct" and len(table.rows) == 2
    first, second = table.rows
    a, b = first.primary, second.primary
    assert (round(a.value, 3), round(b.value, 3)) == (0.897, 0.793) and a.n == b.n == 29
    cell = paired_matrix(table).cells[(first.run_id, second.run_id)]
    ours, theirs = _snippet_outcomes(first.folder), _snippet_outcomes(second.folder)
    shared = sorted(ours.keys() & theirs.keys())
    assert len(shared) == 29  # 46 queries on 29 snippets
    by_hand = sum(ours[s] - theirs[s] for s in shared) / len(shared)
    assert cell.difference == pytest.approx(by_hand) and by_hand == pytest.approx(a.value - b.value, abs=2e-6)
    assert cell.difference != 0 and cell.n == 29
    only_a = sum(ours[s] > theirs[s] for s in shared)
    only_b = sum(ours[s] < theirs[s] for s in shared)
    assert cell.p == pytest.approx(mcnemar_exact(only_a, only_b))
    assert paired_matrix(table).cells[(second.run_id, first.run_id)].difference == pytest.approx(-by_hand)


def test_published_step2_units_are_snippets_and_validate_recomputes_them(step2_runs: Path, tmp_path: Path) -> None:
    """Published per-unit outcomes are the primary metric's: one per snippet, giving p_snippets_correct; the site
    built from the published results pairs them as the local runs do; a lie about them is refused."""
    from harness.report.pages import paired_matrix

    results = tmp_path / "results" / "x"
    step2 = sorted(p for p in step2_runs.iterdir() if p.name.startswith("urollmeval.step2"))
    cli("publish", *map(str, step2), "--out", str(results))
    files = sorted(results.glob("*.json"))
    data = json.loads(files[0].read_text(encoding="utf-8"))
    units = data["units"]
    assert units["metric"] == "p_snippets_correct" and units["unit"] == "snippet" and "correct" not in data
    assert set(units["outcomes"]) == {item["group"] for item in data["items"]} and len(units["outcomes"]) == 29
    assert {k: int(n) for k, (n, d) in units["outcomes"].items()} == _snippet_outcomes(step2[0])
    assert sum(n for n, _ in units["outcomes"].values()) / 29 == pytest.approx(data["metrics"]["p_snippets_correct"]["value"])
    result = CliRunner().invoke(main, ["validate", str(results)])
    assert result.exit_code == 0, result.output

    local = paired_matrix(_step2_table([step2_runs]))
    published = paired_matrix(_step2_table([results]))
    assert published.unit == local.unit == "snippet"
    assert [(c.difference, c.lo, c.hi, c.p, c.n) for c in published.cells.values()] == \
        [(c.difference, c.lo, c.hi, c.p, c.n) for c in local.cells.values()]

    wrong = next(k for k, (n, _) in units["outcomes"].items() if n == 0)
    lie = json.loads(json.dumps(data))
    lie["units"]["outcomes"][wrong] = [1.0, 1.0]
    files[0].write_text(json.dumps(lie), encoding="utf-8")
    refused = CliRunner().invoke(main, ["validate", str(files[0])])
    assert refused.exit_code == 2
    assert f"{files[0]}: units: give p_snippets_correct " in refused.output
    assert f"{files[0]}: units: 1 unit outcomes differ from the items (first: '{wrong}': (1.0, 1.0) published, " \
           "(0.0, 1.0) from the items)" in refused.output
    queries = json.loads(json.dumps(data))  # the old per-query vector under the new name: not the primary's units
    queries["units"]["outcomes"] = {item["id"]: [float(item["values"]["correct"]), 1.0] for item in data["items"]}
    files[0].write_text(json.dumps(queries), encoding="utf-8")
    refused = CliRunner().invoke(main, ["validate", str(files[0])])
    assert refused.exit_code == 2 and f"{files[0]}: units: " in refused.output


# --- synthetic tables: the unit of each kind of metric --------------------------------------------------------------

def _items(rows: list[tuple[str, str | None, str, dict]]):
    from harness.results import ItemOutcome

    return [ItemOutcome(id=i, group=g, status=s, values=v) for i, g, s, v in rows]


def _row(run_id: str, metric: str, items) -> SimpleNamespace:
    """A table row as paired_matrix reads it: run id, primary value and the per-unit outcomes its items give."""
    from harness.report.pages import Row
    from harness.results import primary_units, score_table
    from harness.scoring.metrics import METRICS

    value = METRICS.get(metric)(score_table(items)).value
    summary = SimpleNamespace(run_id=run_id, primary=SimpleNamespace(value=None if math.isnan(value) else value, lo=0, hi=1))
    row = Row(summary, None)  # type: ignore[arg-type]
    row.__dict__["units"] = primary_units(items, metric)
    return row


def _matrix(metric: str, *runs):
    from harness.report.pages import TaskTable, paired_matrix

    rows = [_row(f"run{k}", metric, items) for k, items in enumerate(runs)]
    table = TaskTable("t", "f", metric, [metric], "fp", rows=rows)
    return paired_matrix(table), rows


def _query(sample: str, snippet: str, code: str | None, gold: list[str]) -> tuple:
    """A step-2 query as the step-2 scorer scores it (NA: no code, or C77-C79)."""
    na = code is None or code in ("C77", "C78", "C79")
    values = {"code": code, "c77_79": int(code in ("C77", "C78", "C79")), "na": int(na),
              "correct": int(not na and code in gold), "gold": gold}
    return (sample, snippet, "ok" if code else "malformed", values)


def test_query_level_metric_is_compared_query_by_query() -> None:
    """p_potentially_correct_diagnoses (correct among non-NA step-2 answers) counts queries, and each run its own
    answered ones: the rows differ by the metric itself (paired bootstrap), not by the share correct of all queries."""
    import harness.families.urollmeval  # noqa: F401  (registers the step-2 metrics)
    from harness.results import score_table
    from harness.scoring.metrics import METRICS

    gold = ["C61"]
    a = _items([_query("1/0", "1", "C61", gold), _query("1/1", "1", None, gold), _query("2/0", "2", "C61", gold),
                _query("3/0", "3", "C67", gold), _query("4/0", "4", None, gold), _query("4/1", "4", "C61", gold)])
    b = _items([_query("1/0", "1", "C61", gold), _query("1/1", "1", "C20", gold), _query("2/0", "2", "C61", gold),
                _query("3/0", "3", "C67", gold), _query("4/0", "4", "C34", gold), _query("4/1", "4", "C61", gold)])
    metric = "p_potentially_correct_diagnoses"
    matrix, (ra, _) = _matrix(metric, a, b)
    assert ra.units.unit == "sample" and set(ra.units.outcomes) == {"1/0", "1/1", "2/0", "3/0", "4/0", "4/1"}
    cell = matrix.cells[("run0", "run1")]
    # a: 3 right of 4 answered; b: 3 right of 6 answered
    assert cell.difference == pytest.approx(3 / 4 - 3 / 6) == pytest.approx(
        METRICS.get(metric)(score_table(a)).value - METRICS.get(metric)(score_table(b)).value)
    assert cell.method == "bootstrap" and cell.n == 6 and matrix.methods == ("bootstrap",)
    # the old per-query `correct` vector gives 0: both runs have 3 of 6 queries right
    assert sum(i.values["correct"] for i in a) == sum(i.values["correct"] for i in b) == 3


def test_query_level_share_of_all_queries_uses_queries_not_snippets() -> None:
    """p_C77_79 (a share of all step-2 answers) pairs query by query, although the queries share snippets."""
    import harness.families.urollmeval  # noqa: F401
    from harness.stats import mcnemar_exact

    gold = ["C61"]
    a = _items([_query(f"{s}/{q}", str(s), "C61", gold) for s in range(4) for q in range(2)])
    b = _items([_query(f"{s}/{q}", str(s), "C78" if q == 0 else "C61", gold) for s in range(4) for q in range(2)])
    matrix, (ra, _) = _matrix("p_C77_79", a, b)
    cell = matrix.cells[("run0", "run1")]
    assert ra.units.unit == "sample" and cell.n == 8 and cell.method == "mcnemar"
    assert cell.difference == pytest.approx(0 - 4 / 8) and cell.p == pytest.approx(mcnemar_exact(0, 4))


def test_item_level_metric_is_compared_item_by_item_with_mcnemar() -> None:
    """Accuracy: each item a unit, McNemar on the discordant items, difference = accuracy difference."""
    from harness.stats import mcnemar_exact

    right_a = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1]
    right_b = [0, 1, 0, 0, 1, 1, 0, 0, 0, 1]
    a = _items([(f"x{k}", None, "ok", {"correct": c}) for k, c in enumerate(right_a)])
    b = _items([(f"x{k}", None, "ok", {"correct": c}) for k, c in enumerate(right_b)])
    matrix, (ra, _) = _matrix("accuracy", a, b)
    cell = matrix.cells[("run0", "run1")]
    assert ra.units.unit == "sample" and matrix.unit == "sample" and cell.method == "mcnemar" and cell.n == 10
    assert cell.difference == pytest.approx(0.7 - 0.4) and cell.p == pytest.approx(mcnemar_exact(4, 1))


def test_share_of_the_same_subset_pairs_only_the_counted_units() -> None:
    """A per-snippet share over the snippets with gold codes: both rows count the same snippets; the pair is McNemar
    over those snippets only (n = 2, not 3)."""
    import harness.families.urollmeval  # noqa: F401

    a = _items([_query("1/0", "1", "C61", ["C61"]), _query("2/0", "2", "C67", ["C67", "C61"]),
                _query("3/0", "3", "C61", [])])
    b = _items([_query("1/0", "1", "C20", ["C61"]), _query("2/0", "2", "C61", ["C67", "C61"]),
                _query("3/0", "3", "C61", [])])
    matrix, (ra, _) = _matrix("p_all_diagnoses_found_in_snippets_with_diagnoses", a, b)
    cell = matrix.cells[("run0", "run1")]
    assert ra.units.unit == "snippet" and ra.units.outcomes["3"] == (0.0, 0.0)
    assert cell.method == "mcnemar" and cell.n == 2 and cell.difference == pytest.approx(0.5 - 0.0)


def _detection(gold: list[int], predicted: list[int | None]):
    return _items([(str(k), None, "ok" if p is not None else "malformed",
                    {"correct": int(p == g), "gold": bool(g), "predicted": None if p is None else bool(p)})
                   for k, (g, p) in enumerate(zip(gold, predicted))])


def _f1(gold: np.ndarray, predicted: np.ndarray, ok: np.ndarray) -> float:
    tp = (gold & predicted & ok).sum()
    denominator = 2 * tp + (~gold & predicted & ok).sum() + (gold & ~predicted & ok).sum()
    return 2 * tp / denominator if denominator else math.nan


def test_f1_is_compared_by_a_seeded_paired_bootstrap_of_f1_itself() -> None:
    """F1 is no mean of per-item values: each resample draws items, both runs' F1 is recomputed on it; the interval
    and p are those of the differences, the same on every call (seed 0), equal to a plain loop over the draws."""
    from harness.stats import bootstrap_draws

    rng = np.random.default_rng(7)
    gold = (rng.random(60) < 0.4).astype(int).tolist()
    pred_a = [g if rng.random() < 0.85 else 1 - g for g in gold]
    pred_b = [None if rng.random() < 0.1 else (g if rng.random() < 0.65 else 1 - g) for g in gold]
    a, b = _detection(gold, pred_a), _detection(gold, pred_b)
    matrix, (ra, _) = _matrix("f1", a, b)
    cell = matrix.cells[("run0", "run1")]
    assert ra.units.unit == "sample" and cell.method == "bootstrap" and cell.n == 60

    order = sorted(range(60), key=str)  # units are aligned by id: the draws index the ids in sorted order
    g = np.array(gold, bool)[order]
    pa, pb = np.array(pred_a, bool)[order], np.array([bool(p) for p in pred_b])[order]
    ok_a, ok_b = np.ones(60, bool), np.array([p is not None for p in pred_b])[order]
    assert cell.difference == pytest.approx(_f1(g, pa, ok_a) - _f1(g, pb, ok_b))
    (draws,) = bootstrap_draws(60, 2000, 0)
    differences = np.array([_f1(g[d], pa[d], ok_a[d]) - _f1(g[d], pb[d], ok_b[d]) for d in draws])
    differences = differences[~np.isnan(differences)]
    lo, hi = np.quantile(differences, [0.025, 0.975])
    assert (cell.lo, cell.hi) == (pytest.approx(lo), pytest.approx(hi))
    tail = min((differences <= 0).sum(), (differences >= 0).sum())
    assert cell.p == pytest.approx(min(1.0, 2 * (tail + 1) / (len(differences) + 1)))
    again = _matrix("f1", a, b)[0].cells[("run0", "run1")]
    assert (again.difference, again.lo, again.hi, again.p) == (cell.difference, cell.lo, cell.hi, cell.p)


def test_rows_whose_metric_declares_no_units_are_not_paired() -> None:
    """A metric without per-unit outcomes (a family's mean distance, say) gives no pair, rather than pairs on `correct`."""
    from harness.report.pages import TaskTable, paired_matrix
    from harness.results import primary_units
    from harness.scoring.metrics import METRICS

    def undeclared(table):  # noqa: ANN001, ANN202
        """Test: accuracy's number without accuracy's declared units."""
        return METRICS.get("accuracy")(table)

    if "test_units_undeclared" not in METRICS:
        METRICS.add("test_units_undeclared", undeclared)
    items = _items([("a", None, "ok", {"correct": 1}), ("b", None, "ok", {"correct": 0})])
    assert primary_units(items, "test_units_undeclared") is None
    rows = [_row(f"r{k}", "accuracy", items) for k in range(2)]
    for row in rows:
        row.__dict__["units"] = None
    matrix = paired_matrix(TaskTable("t", "f", "test_units_undeclared", [], "fp", rows=rows))
    assert matrix.n_tests == 0 and matrix.cells == {}


# --- every declared metric: its units give it ------------------------------------------------------------------------

def _random_table(seed: int):
    """A table with every column the built-in scorers write: flags, codes, outcome classes, gold lists, groups."""
    from harness.scoring.table import ScoreTable

    rng = np.random.default_rng(seed)
    table = ScoreTable()
    codes = ["C61", "C67", "C78", "C34", None]
    for k in range(int(rng.integers(0, 30))):
        status = str(rng.choice(["ok", "ok", "ok", "malformed", "empty", "error", "no_think_end"]))
        code = codes[int(rng.integers(0, len(codes)))]
        gold = [c for c in ("C61", "C67") if rng.random() < 0.5]
        flags = {name: int(rng.random() < 0.5) for name in ("correct", "partial", "same_4char", "same_block",
                                                           "same_chapter", "same_histology", "same_behaviour", "c77_79", "na")}
        values = {**flags, "gold": gold,  # a list of codes (step 2); as a flag, non-empty = positive (detection)
                  "predicted": bool(rng.random() < 0.5), "code": code,
                  "outcome": str(rng.choice(["exact", "empty", "no_code", "several_codes", "hallucinated",
                                             "secondary_neoplasm", "valid_wrong"]))}
        table.add(f"s{k}", f"g{int(rng.integers(0, 6))}" if seed % 2 else None, status, values)
    return table


@pytest.mark.parametrize("seed", range(12))
def test_every_declared_metric_is_the_ratio_of_its_unit_outcomes(seed: int) -> None:
    """One rule gives both the metric and its units: sum(numerator) / sum(denominator) is the metric's value."""
    import harness.families  # noqa: F401
    from harness.registry import load_plugins
    from harness.scoring.metrics import METRICS, unit_outcomes

    load_plugins()
    table = _random_table(seed)
    declared = [name for name in METRICS if getattr(METRICS.get(name), "unit_outcomes", None) is not None]
    built_in = [name for name in METRICS if METRICS.get(name).__module__.startswith("harness.")]
    assert set(built_in) <= set(declared) and len(built_in) >= 30  # every metric of onkobench can be paired
    assert {"accuracy", "f1", "p_correct", "p_snippets_correct", "urollmeval_f1", "p_C77_79"} <= set(declared)
    for name in declared:
        units = unit_outcomes(name, table)
        value = METRICS.get(name)(table).value
        assert units is not None and len(set(units.ids)) == len(units.ids), name
        assert (math.isnan(units.value()) and math.isnan(value)) or units.value() == pytest.approx(value), name


def test_format_3_results_read_with_units_from_their_items(tmp_path: Path) -> None:
    """A format-3 file (per-sample `correct` vector, no units) still reads and validates; its units follow from
    its items, and those are what the report pairs."""
    from harness.config.io import REPO_ROOT
    from harness.results import read_result

    committed = REPO_ROOT / "leaderboards" / "results" / "demo" / "demo.tumour_detection--0--baseline-lexicon-exact.json"
    data = json.loads(committed.read_text(encoding="utf-8"))
    units = data.pop("units")
    data["format"] = 3
    data["correct"] = {item["id"]: int(bool(item["values"]["correct"])) for item in data["items"]}
    old = tmp_path / "results" / "x" / committed.name
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(data), encoding="utf-8")
    result = read_result(old)
    assert result is not None and result.format == 4 and result.units is None
    derived = result.paired_units()
    assert derived is not None and derived.model_dump(mode="json") == units
    validated = CliRunner().invoke(main, ["validate", str(old)])
    assert validated.exit_code == 0, validated.output

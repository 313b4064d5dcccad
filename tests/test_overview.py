"""The front page's overview (issue #16): one row per model, a column per task, the mean over tasks with a stratified
bootstrap interval, ranks with ties, oracles shown but not ranked, synthetic data in groups of its own; the label-quality
band on real data only; the Pareto chart's time axis covering every point."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from harness.config.models import ModelConfig
from harness.report.overview import build_overviews, model_kind, parameter_count
from harness.report.pages import ParetoChart, TaskTable, build_tables, pareto_chart
from harness.report.site import build_site
from harness.results import publish_runs
from harness.stats import bootstrap_draws, stratified_mean_interval, wilson_interval
from harness.store import ModelSummary

from support.leaderboard import catalogue_runs, model, run_scripted, write_task
from test_report import parse


# --- the interval of the mean over tasks (harness.stats) ---

def test_stratified_interval_of_tasks_without_spread_is_their_mean() -> None:
    """A task all right and one all wrong: every resample gives 0.5. Averaging the two tasks' own (Wilson) bounds
    would claim [0.44, 0.54] instead: the tasks' uncertainty added up as if it were the mean's."""
    right = (np.ones(30), np.ones(30))
    wrong = (np.zeros(50), np.ones(50))
    estimate = stratified_mean_interval([right, wrong])
    assert (estimate.value, estimate.lo, estimate.hi, estimate.n) == (0.5, 0.5, 0.5, 80)
    averaged = [(a + b) / 2 for a, b in zip((wilson_interval(30, 30).lo, wilson_interval(30, 30).hi),
                                            (wilson_interval(0, 50).lo, wilson_interval(0, 50).hi))]
    assert averaged[0] < 0.45 and averaged[1] > 0.53


def test_stratified_interval_resamples_each_task_on_its_own_stream() -> None:
    """The same numbers as drawing each task's units apart (task k with seed k) and averaging the tasks' ratios; a ratio
    metric (a share among answered units: denominator 0 for the rest) is recomputed per resample, not averaged per unit."""
    rng = np.random.default_rng(7)
    strata = []
    for n in (40, 25, 60):
        denominator = (rng.random(n) < 0.8).astype(float)
        numerator = denominator * (rng.random(n) < 0.6)
        strata.append((numerator, denominator))
    estimate = stratified_mean_interval(strata, n_resamples=500, seed=3)
    by_hand = np.zeros(500)
    for k, (numerator, denominator) in enumerate(strata):
        (draws,) = list(bootstrap_draws(len(numerator), 500, 3 + k))
        by_hand += numerator[draws].sum(axis=1) / denominator[draws].sum(axis=1)
    by_hand /= 3
    assert estimate.value == pytest.approx(np.mean([num.sum() / den.sum() for num, den in strata]))
    assert (estimate.lo, estimate.hi) == pytest.approx(tuple(np.quantile(by_hand, [0.025, 0.975])))
    assert stratified_mean_interval(strata, n_resamples=500, seed=3) == estimate  # seeded
    assert stratified_mean_interval(strata, n_resamples=500, seed=4) != estimate


def test_averaging_independent_tasks_narrows_the_interval() -> None:
    """Two independent tasks at 50 %: the mean's interval is about 1/sqrt(2) as wide as one task's."""
    half = (np.tile([1.0, 0.0], 100), np.ones(200))
    one = stratified_mean_interval([half])
    two = stratified_mean_interval([half, half])
    assert 0.6 < (two.hi - two.lo) / (one.hi - one.lo) < 0.8
    with pytest.raises(ValueError, match="stratum 1"):
        stratified_mean_interval([half, (np.ones(3), np.ones(2))])


def test_each_stratum_has_its_own_value_when_nothing_counts() -> None:
    """F1 of a task with no positive answer is 0 by its definition, a share among no answered items undefined."""
    nothing = (np.zeros(10), np.zeros(10))
    half = (np.tile([1.0, 0.0], 10), np.ones(20))
    assert stratified_mean_interval([nothing, half], if_empty=[0.0, math.nan]).value == 0.25
    assert math.isnan(stratified_mean_interval([nothing, half]).value)
    assert math.isnan(stratified_mean_interval([nothing, half]).lo)  # every resample undefined
    with pytest.raises(ValueError, match="if_empty: 1 values for 2 strata"):
        stratified_mean_interval([nothing, half], if_empty=[0.0])


# --- the overview's data ---

@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    return tmp_path / "tasks"


def overviews_of(runs: Path):
    return build_overviews(build_tables([runs]))


def by_name(overview):
    return {row.model.name: row for row in overview.rows}


def test_mean_over_tasks_with_its_interval_from_the_items(tasks: Path, tmp_path: Path) -> None:
    coding = write_task(tasks, "bench.coding", 40)
    topography = write_task(tasks, "bench.topography", 40, set_kind="catalogue recall")
    runs = tmp_path / "runs"
    run_scripted(coding, runs, model("m"), 30)
    run_scripted(topography, runs, model("m"), 20)
    (overview,) = overviews_of(runs)
    assert [c.title for c in overview.columns] == ["coding", "topography"]
    assert [c.set_kind for c in overview.columns] == ["", "catalogue recall"]
    (row,) = overview.rows
    assert row.aggregate.value == pytest.approx(0.625)
    units = [(np.array([1.0] * k + [0.0] * (40 - k)), np.ones(40)) for k in (30, 20)]
    expected = stratified_mean_interval(units)
    assert (row.aggregate.lo, row.aggregate.hi) == pytest.approx((expected.lo, expected.hi))
    # not the mean of the tasks' own bounds
    tasks_lo = (wilson_interval(30, 40).lo + wilson_interval(20, 40).lo) / 2
    assert row.aggregate.lo - tasks_lo > 0.02
    assert row.rank == 1 and row.kind == "instruct"


def test_ties_share_a_rank_on_overlapping_intervals(tasks: Path, tmp_path: Path) -> None:
    first, second = write_task(tasks, "bench.a", 40), write_task(tasks, "bench.b", 40)
    runs = tmp_path / "runs"
    for name, (a, b) in {"perfect": (40, 40), "close": (34, 35), "closer": (33, 34), "none": (0, 0)}.items():
        run_scripted(first, runs, model(name), a)
        run_scripted(second, runs, model(name), b)
    (overview,) = overviews_of(runs)
    assert [(r.model.name, r.rank) for r in overview.rows] == [("perfect", 1), ("close", 2), ("closer", 2), ("none", 4)]
    close, closer = by_name(overview)["close"].aggregate, by_name(overview)["closer"].aggregate
    assert closer.hi >= close.lo  # overlapping: a tie


def test_a_model_missing_a_task_has_no_mean_and_no_rank(tasks: Path, tmp_path: Path) -> None:
    first, second = write_task(tasks, "bench.a", 20), write_task(tasks, "bench.b", 20)
    runs = tmp_path / "runs"
    run_scripted(first, runs, model("both"), 10)
    run_scripted(second, runs, model("both"), 10)
    run_scripted(first, runs, model("one"), 20)  # better on its one task, but the mean needs both
    (overview,) = overviews_of(runs)
    one = by_name(overview)["one"]
    assert one.aggregate is None and one.rank is None and list(one.cells) == [overview.columns[0].key]
    assert [r.model.name for r in overview.rows] == ["both", "one"]  # rows without a mean after the ranked ones
    assert by_name(overview)["both"].rank == 1


def test_oracle_is_shown_as_a_ceiling_and_never_ranked(tasks: Path, tmp_path: Path) -> None:
    first, second = write_task(tasks, "bench.a", 30), write_task(tasks, "bench.b", 30)
    runs = tmp_path / "runs"
    for config, right in ((model("oracle", weight_type="oracle", runner="baseline"), 30), (model("llm"), 15),
                          (model("lookup", weight_type="baseline", runner="baseline"), 5)):
        run_scripted(first, runs, config, right)
        run_scripted(second, runs, config, right)
    (overview,) = overviews_of(runs)
    rows = by_name(overview)
    assert [r.model.name for r in overview.rows] == ["oracle", "llm", "lookup"]  # shown at its value
    assert rows["oracle"].kind == "oracle" and not rows["oracle"].ranked and rows["oracle"].rank is None
    assert rows["oracle"].aggregate.value == 1.0
    assert (rows["llm"].rank, rows["lookup"].rank) == (1, 2)  # the oracle lies above both, yet ranks no one down
    assert rows["lookup"].kind == "baseline"


def test_synthetic_data_is_a_group_of_its_own_after_real_data(tasks: Path, tmp_path: Path) -> None:
    real = write_task(tasks, "bench.real", 30)
    synthetic = write_task(tasks, "bench.synthetic", 30, synthetic=True)
    demo = write_task(tasks, "demo.coding", 30, synthetic=True)
    runs = tmp_path / "runs"
    for task_file in (real, synthetic, demo):
        run_scripted(task_file, runs, model("m"), 10)
    run_scripted(synthetic, runs, model("synthetic-star"), 30)
    run_scripted(demo, runs, model("synthetic-star"), 30)
    groups = overviews_of(runs)
    assert [(g.family, g.synthetic, [c.title for c in g.columns]) for g in groups] == [
        ("bench", False, ["real"]), ("bench", True, ["synthetic"]), ("demo", True, ["coding"])]
    assert [r.model.name for r in groups[0].rows] == ["m"]  # a synthetic result never ranks beside real data
    assert by_name(groups[1])["synthetic-star"].rank == 1 and by_name(groups[1])["m"].rank == 2
    index = build_site([runs], tmp_path / "site")
    html = index.read_text(encoding="utf-8")
    sections = [html.index(f'id="{g.anchor}"') for g in groups]
    assert sections == sorted(sections)  # real first, then synthetic
    assert html.count('<span class="tag synthetic">synthetic data</span>') == 2


def test_each_cell_is_the_best_variant_and_names_it(tasks: Path, tmp_path: Path) -> None:
    first, second = write_task(tasks, "bench.a", 20), write_task(tasks, "bench.b", 20)
    runs = tmp_path / "runs"
    run_scripted(first, runs, model("m"), 5, variant="zero")
    run_scripted(first, runs, model("m"), 15, variant="asked")
    run_scripted(second, runs, model("m"), 10, variant="zero")
    (overview,) = overviews_of(runs)
    (row,) = overview.rows
    cell = row.cells[overview.columns[0].key]
    assert (cell.row.summary.variant, cell.n_variants, cell.row.primary.value) == ("asked", 2, 0.75)
    assert row.aggregate.value == pytest.approx((0.75 + 0.5) / 2)
    build_site([runs], tmp_path / "site")
    (table,) = [t for t in parse(tmp_path / "site" / "index.html").tables if t[0][0] == "Rank"]
    header, (cells,) = table[0], table[1:]
    assert header[:6] == ["Rank", "Model", "Kind", "Params", "Licence", "Mean over tasks"]
    assert cells[6].startswith("75.0") and cells[6].endswith("asked")  # the chosen variant is named


def test_chained_tables_are_not_overview_columns(tasks: Path, tmp_path: Path) -> None:
    first = write_task(tasks, "bench.a", 10)
    runs = tmp_path / "runs"
    run_scripted(first, runs, model("m"), 5)
    (table,) = build_tables([runs])
    gold = TaskTable("bench.b", "bench", "accuracy", ["accuracy"], "fp", rows=table.rows, upstream={"tag": "gold"})
    chained = TaskTable("bench.c", "bench", "accuracy", ["accuracy"], "fp", rows=table.rows,
                        upstream={"tag": "zero.m.abc123", "run_id": "bench.a--zero--m"})
    (overview,) = build_overviews([table, gold, chained])
    assert [c.table.task for c in overview.columns] == ["bench.a", "bench.b"]
    assert overview.chained == [chained]


def test_overview_is_recomputed_from_published_results(tasks: Path, tmp_path: Path) -> None:
    """Published results hold the per-unit outcomes: the same means and intervals as from the run folders."""
    first, second = write_task(tasks, "bench.a", 30), write_task(tasks, "bench.b", 30)
    runs = tmp_path / "runs"
    for name, right in (("x", 12), ("y", 25)):
        run_scripted(first, runs, model(name), right)
        run_scripted(second, runs, model(name), right - 5)
    publish_runs(sorted(runs.iterdir()), tmp_path / "pub")
    local, published = overviews_of(runs)[0], overviews_of(tmp_path / "pub")[0]
    assert all(row.cells[key].row.folder is None for row in published.rows for key in row.cells)
    assert [(r.model.name, r.aggregate, r.rank) for r in published.rows] == \
        [(r.model.name, r.aggregate, r.rank) for r in local.rows]
    assert published.rows[0].aggregate.lo is not None


def test_protocol_b_catalogue_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catalogue sets built from the fixture catalogues, the committed lookup baseline and oracle, scripted models of
    each kind: one group, the set kinds in the column headers, the oracle unranked, a model missing a set unranked."""
    from support.files import CATALOGUE_FIXTURES

    monkeypatch.setenv("ONKOBENCH_CATALOGUE_DIR", str(CATALOGUE_FIXTURES))
    runs = catalogue_runs(tmp_path)
    (overview,) = overviews_of(runs)
    assert overview.family == "icd_catalogue_qa" and not overview.synthetic
    assert [(c.title, c.set_kind) for c in overview.columns] == [
        ("alphaid_icd10gm_neoplasms", "catalogue recall"), ("alphaid_icd10gm_neoplasms_clinical", "clinical variation"),
        ("icdo3_topography", "catalogue recall")]
    rows = by_name(overview)
    assert {name: row.kind for name, row in rows.items()} == {
        "catalogue-oracle-exact": "oracle", "catalogue-lookup-fuzzy": "baseline", "instruct-8b": "instruct",
        "tuned-8b": "fine-tuned", "thinker-32b": "reasoning", "partial-1b": "instruct"}
    assert rows["catalogue-oracle-exact"].rank is None and rows["partial-1b"].rank is None
    assert rows["instruct-8b"].rank == 1 and rows["instruct-8b"].aggregate.value == 1.0
    assert rows["tuned-8b"].rank == rows["thinker-32b"].rank  # the same scores: a tie
    assert rows["partial-1b"].aggregate is None and len(rows["partial-1b"].cells) == 2
    build_site([runs], tmp_path / "site")
    model_page = (tmp_path / "site" / "models" / "tuned-8b.html").read_text(encoding="utf-8")
    assert "<dt>kind</dt><dd>fine-tuned <span" in model_page  # derived, and said so


# --- model kind and parameters ---

def _summary(runner: str = "transformers", reasoning: bool | None = None, **metadata) -> ModelSummary:
    return ModelSummary(name="m", display_name="m", runner=runner, reasoning=reasoning, metadata=metadata)


def test_model_kind_is_set_or_derived() -> None:
    assert model_kind(_summary(kind="base")) == "base"
    assert model_kind(_summary(kind="instruct", weight_type="adapter")) == "instruct"  # the config's word wins
    assert model_kind(_summary(runner="baseline", weight_type="oracle")) == "oracle"
    assert model_kind(_summary(weight_type="baseline")) == "baseline"
    assert model_kind(_summary(runner="baseline")) == "baseline"
    assert model_kind(_summary(reasoning=True, weight_type="original")) == "reasoning"
    assert model_kind(_summary(reasoning=False, weight_type="adapter")) == "fine-tuned"
    assert model_kind(_summary(weight_type="merged")) == "fine-tuned"
    assert model_kind(_summary(fine_tuned_from="meta-llama/Llama-3.1-8B")) == "fine-tuned"
    assert model_kind(_summary(weight_type="original")) == "instruct"
    assert model_kind(_summary()) == "instruct"  # an old result without metadata
    config = ModelConfig.model_validate({"name": "b", "runner": "baseline", "metadata": {"kind": "base"}})
    assert config.metadata.kind == "base"
    with pytest.raises(ValidationError, match="metadata.kind"):
        ModelConfig.model_validate({"name": "b", "runner": "baseline", "metadata": {"kind": "chat"}})


def test_kind_keeps_committed_config_hashes() -> None:
    """An unset kind is a default: the hashes of configs written before it are unchanged."""
    plain = ModelConfig.model_validate({"name": "b", "runner": "baseline"})
    assert "kind" not in plain.model_dump(exclude_defaults=True).get("metadata", {})


def test_parameter_count_sorts_written_sizes() -> None:
    assert [parameter_count(t) for t in ("135M", "8B", "1.7b", "70 B", "8x7B", "", "12")] == \
        [1.35e8, 8e9, 1.7e9, 7e10, None, None, 12.0]


# --- the label-quality band (fails before #16: drawn on synthetic data too) ---

def test_ceiling_band_is_drawn_on_real_data_only(tasks: Path, tmp_path: Path) -> None:
    synthetic = write_task(tasks, "bench.synthetic", 20, synthetic=True)
    real = write_task(tasks, "bench.real", 20)
    recall = write_task(tasks, "bench.recall", 20, set_kind="catalogue recall")
    runs = tmp_path / "runs"
    for task_file in (synthetic, real, recall):
        run_scripted(task_file, runs, model("m"), 10)
        run_scripted(task_file, runs, model("n"), 12)
    tables = {t.task: t for t in build_tables([runs])}  # the committed ceiling (answer kind icd10gm_code)
    assert tables["bench.synthetic"].bands == {}
    assert set(tables["bench.real"].bands) == {"accuracy", "partial_accuracy"}
    assert set(tables["bench.recall"].bands) == {"accuracy", "partial_accuracy"}
    build_site([runs], tmp_path / "site")
    for task, shown in (("bench.synthetic", False), ("bench.real", True)):
        (page,) = (tmp_path / "site" / "tasks").glob(f"{task}--*.html")
        html = page.read_text(encoding="utf-8")
        assert ("label-quality ceiling" in html) is shown and ('class="ceiling"' in html) is shown


def test_a_band_can_narrow_the_data_it_applies_to(tasks: Path, tmp_path: Path) -> None:
    real = write_task(tasks, "bench.real", 10)
    recall = write_task(tasks, "bench.recall", 10, set_kind="catalogue recall")
    runs = tmp_path / "runs"
    for task_file in (real, recall):
        run_scripted(task_file, runs, model("m"), 5)
    published = tmp_path / "published"
    published.mkdir()
    (published / "band.yaml").write_text(
        "source: a review\ndataset: somewhere\nbands:\n"
        "  - {metric: accuracy, answer_kind: icd10gm_code, lo: 0.6, hi: 0.8, label: ceiling,\n"
        "     where: {synthetic: false, set_kind: ''}}\n", encoding="utf-8")
    tables = {t.task: t for t in build_tables([runs], published)}
    assert set(tables["bench.real"].bands) == {"accuracy"} and tables["bench.recall"].bands == {}


# --- the Pareto chart's time axis (fails before #16: the fastest point on the axis, 0 s left out) ---

def test_pareto_axis_covers_every_point_and_clamps_zero_time(tasks: Path, tmp_path: Path) -> None:
    task_file = write_task(tasks, "bench.speed", 6)
    runs = tmp_path / "runs"
    for name, right, delay in (("instant", 3, 0.0), ("lookup", 4, 0.00007), ("small", 5, 0.01), ("large", 6, 0.1)):
        run_scripted(task_file, runs, model(name), right, delay_s=delay)
    (table,) = build_tables([runs])
    chart = pareto_chart(table)
    assert chart is not None and len(chart.points) == 4  # the 0 s row too
    assert all(ParetoChart.left < p.px < ParetoChart.plot_right for p in chart.points)
    ticks = [seconds for _, seconds in chart.x_ticks]
    measured = [p.x for p in chart.points if p.x > 0]
    assert ticks[0] < min(measured) and ticks[-1] > max(measured)
    assert all(ParetoChart.left < x < ParetoChart.plot_right for x, _ in chart.x_ticks)
    (instant,) = [p for p in chart.points if p.x == 0]
    assert instant.clamped and instant.px == pytest.approx(chart.x_ticks[0][0])
    assert not any(p.clamped for p in chart.points if p.x > 0)
    assert min(p.px for p in chart.points if p.x > 0) > instant.px
    build_site([runs], tmp_path / "site")
    (page,) = (tmp_path / "site" / "tasks").glob("*.html")
    html = page.read_text(encoding="utf-8")
    assert "≤ 10 µs" in html and "drawn at the lowest tick" in html and ">0.0 ms<" not in html


def test_pareto_axis_with_one_decade_of_times() -> None:
    """Times within one decade still get a whole decade, with both ticks outside the points."""
    from harness.report.pages import _time_axis

    assert _time_axis([0.2, 0.5]) == (-1, 0)
    assert _time_axis([0.1]) == (-2, 0)  # 0.1 s exactly: ticks below and above it, never on it
    assert all(math.isfinite(x) for x in _time_axis([1e-7, 30.0]))

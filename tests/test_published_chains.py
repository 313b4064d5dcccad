"""Published rows of chained steps attach only to tables on the same chain (issue #15 C).

The demo suite runs UroLlmEval's three steps with lexicon and regex baselines on synthetic data: step 2 on the best
step-1 run (baseline-lexicon-fuzzy [0]) and on gold, step 3 on the best step-2 run (baseline-lexicon-exact [0-uro],
built on that step-1 run) and on gold. A hand-written published set then names chains in the study's terms.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.report.pages import build_tables
from harness.report.site import build_site
from harness.results import published_result

from test_report import parse

BEST_STEP3 = "urollmeval.step3--0--regex-match-same-line--from-0-uro.baseline-lexicon-exact.50fa97"
LINEAGE = [{"task": "urollmeval.step2", "variant": "0-uro", "model": "baseline-lexicon-exact"},
           {"task": "urollmeval.step1", "variant": "0", "model": "baseline-lexicon-fuzzy"}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chains") / "runs"
    result = CliRunner().invoke(main, ["run", "--suite", "urollmeval-demo", "--out", str(out), "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def summary(runs: Path, run_id: str) -> dict:
    return json.loads((runs / run_id / "summary.json").read_text(encoding="utf-8"))


def write_published(folder: Path, dataset: str) -> Path:
    """Study models X (= baseline-lexicon-exact), Y (= baseline-lexicon-fuzzy), Z (no onkobench config) and the
    same-line heuristic; step-3 values on the demo's best chain, on another chain, and without a chain."""
    folder.mkdir(parents=True, exist_ok=True)
    chain = "{kind: overall-best, upstream: [{task: urollmeval.step2, model: X, variant: 0-uro}, " \
            "{task: urollmeval.step1, model: Y, variant: '0'}]}"
    other = "{kind: own-best, upstream: [{task: urollmeval.step2, model: Z, variant: 0-uro}, " \
            "{task: urollmeval.step1, model: Z, variant: '0'}]}"
    (folder / "study.yaml").write_text(f"""source: a study
dataset: {json.dumps(dataset)}
models:
  X: {{onkobench: [baseline-lexicon-exact]}}
  Y: {{onkobench: [baseline-lexicon-fuzzy]}}
  Z: {{hub_id: org/z}}
  Regex same-line: {{onkobench: [regex-match-same-line]}}
rows:
  - {{task: urollmeval.step3, metric: p_correct_total, model: Z, variant: '0', value: 0.61, figure: Fig 3, chain: {chain}, metrics: {{p_correct: 0.62, p_na: 0.01}}}}
  - {{task: urollmeval.step3, metric: p_correct_total, model: Z, variant: '3', value: 0.51, figure: Fig 3, chain: {chain}}}
  - {{task: urollmeval.step3, metric: p_correct_total, model: Z, variant: 3-dates, value: 0.61, figure: Fig 3, chain: {chain}}}
  - {{task: urollmeval.step3, metric: p_correct_total, model: Regex same-line, value: 0.41, figure: Fig 3, chain: {chain}}}
  - {{task: urollmeval.step3, metric: p_correct_total, model: Z, variant: 0-dates, value: 0.91, figure: Fig 3, chain: {other}}}
  - {{task: urollmeval.step3, metric: p_correct_total, model: Z, variant: '0', value: 0.31}}
  - {{task: urollmeval.step2, metric: p_snippets_correct, model: Z, variant: 0-uro, value: 0.71, chain: {{kind: overall-best, upstream: [{{task: urollmeval.step1, model: Y, variant: '0'}}]}}}}
  - {{task: urollmeval.step1, metric: p_correct_total, model: Z, variant: '0', value: 0.81}}
""", encoding="utf-8")
    return folder


def refs(tables: list, task: str, tag: str | None) -> list[tuple[str, str | None, float, bool, bool]]:
    (table,) = [t for t in tables if t.task == task and (t.upstream or {}).get("tag", None) == tag
                or t.task == task and tag is None and t.upstream is None]
    return [(p.model, p.variant, p.value, p.same_chain, p.inline) for p in table.published]


def test_runs_record_the_runs_their_chain_is_built_on(runs: Path) -> None:
    assert summary(runs, BEST_STEP3)["upstream"]["lineage"] == LINEAGE
    step2 = "urollmeval.step2--0-uro--baseline-lexicon-exact--from-0.baseline-lexicon-fuzzy.97a47f"
    assert summary(runs, step2)["upstream"]["lineage"] == LINEAGE[1:]
    gold_step3 = "urollmeval.step3--0--regex-match-same-line--from-gold"
    assert "lineage" not in summary(runs, gold_step3)["upstream"]
    # a published result keeps the lineage (and no local folder)
    upstream = published_result(runs / BEST_STEP3).upstream
    assert upstream == {"tag": "0-uro.baseline-lexicon-exact.50fa97", "run_id": summary(runs, BEST_STEP3)["upstream"]["run_id"],
                        "lineage": LINEAGE}


def test_published_rows_attach_to_the_table_on_their_chain(runs: Path, tmp_path: Path) -> None:
    source = summary(runs, BEST_STEP3)["dataset"]["source"]
    published = write_published(tmp_path / "published", source)
    tables = build_tables(sorted(runs.iterdir()), published)
    # the step-3 table on the demo's best chain: Z's three values on that chain (Z's best inline, both variants of
    # a tie, the other listed), the regex value inline (a local row runs the same heuristic); another chain's and a
    # chain-less value apart
    assert refs(tables, "urollmeval.step3", "0-uro.baseline-lexicon-exact.50fa97") == [
        ("Z", "0", 0.61, True, True), ("Z", "3", 0.51, True, False), ("Z", "3-dates", 0.61, True, True),
        ("Regex same-line", None, 0.41, True, True), ("Z", "0-dates", 0.91, False, False), ("Z", "0", 0.31, False, False)]
    assert refs(tables, "urollmeval.step2", "0.baseline-lexicon-fuzzy.97a47f") == [("Z", "0-uro", 0.71, True, True)]
    assert refs(tables, "urollmeval.step1", None) == [("Z", "0", 0.81, True, True)]
    assert refs(tables, "urollmeval.step3", "gold") == []  # the study reports chained results only

    index = build_site([runs], tmp_path / "site", published)
    page = next((tmp_path / "site" / "tasks").glob("urollmeval.step3--*--0-uro.*.html"))
    html = page.read_text(encoding="utf-8")
    board = parse(page).tables[0]
    header, inline = board[0], [r for r in board[1:] if "published" in r[1]]
    assert [(r[1], r[2], r[3]) for r in inline] == [("Z published", "0", "61.0"), ("Z published", "3-dates", "61.0"),
                                                      ("Regex same-line published", "–", "41.0")]
    from_end = {name: i - len(header) for i, name in enumerate(header)}  # the source cell spans the middle columns
    assert (inline[0][from_end["p_correct"]], inline[0][from_end["p_na"]], inline[2][from_end["p_na"]]) == ("62.0", "1.0", "")
    assert "Published p_correct_total on this chain: all 4 values" in html
    assert "Published, other chain: 2 values" in html
    assert "on Z [0-uro] on Z [0] (own-best)" in html and "not reported" in html
    assert index.exists()


def test_a_table_whose_runs_do_not_record_their_chain_shows_chained_values_apart(runs: Path, tmp_path: Path) -> None:
    """A run made before lineages were recorded (or a published result without one): onkobench cannot tell."""
    import shutil

    old = tmp_path / "runs"
    shutil.copytree(runs, old)
    for path in old.glob("urollmeval.step3--*--from-0-uro.*/summary.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        del data["upstream"]["lineage"]
        path.write_text(json.dumps(data), encoding="utf-8")
    published = write_published(tmp_path / "published", data["dataset"]["source"])
    tables = build_tables(sorted(old.iterdir()), published)
    assert not any(same or inline for *_, same, inline in refs(tables, "urollmeval.step3", "0-uro.baseline-lexicon-exact.50fa97"))
    build_site([old], tmp_path / "site", published)
    html = next((tmp_path / "site" / "tasks").glob("urollmeval.step3--*--0-uro.*.html")).read_text(encoding="utf-8")
    assert "Published, other chain: 6 values" in html and "this table's runs do not record their chain" in html


def test_other_data_lists_the_chain_values_below_the_table_only(runs: Path, tmp_path: Path) -> None:
    published = write_published(tmp_path / "published", "hf://somebody/else")
    tables = build_tables(sorted(runs.iterdir()), published)
    assert [inline for *_, inline in refs(tables, "urollmeval.step3", "0-uro.baseline-lexicon-exact.50fa97")] == [False] * 6
    build_site([runs], tmp_path / "site", published)
    html = next((tmp_path / "site" / "tasks").glob("urollmeval.step3--*--0-uro.*.html")).read_text(encoding="utf-8")
    assert "all 4 values (on the study's own data; not comparable with this data set)" in html


def test_a_published_set_names_every_model_it_maps(tmp_path: Path) -> None:
    from harness.errors import OnkobenchError
    from harness.report.published import load_published

    folder = write_published(tmp_path, "x")
    text = (folder / "study.yaml").read_text(encoding="utf-8").replace("  Z: {hub_id: org/z}\n", "")
    (folder / "study.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"study.yaml: .*rows.0: model 'Z' is not listed under models"):
        load_published(folder)

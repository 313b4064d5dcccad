"""The front page's "What this shows" (issue #16): sentences per benchmark group written from the measured numbers:
the leader and ties, a fine-tune against its base (paired test per task, malformed rate before and after), base
against instruct, baselines and the oracle per set kind, few-shot against zero-shot; nothing about absent models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from scipy.stats import binomtest

from fake_runner import ScriptedRunner

from harness.cli import main
from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.pipeline.spec import RunSpec
from harness.report.findings import Findings, group_findings, shots_of
from harness.report.overview import Overview, build_overviews
from harness.report.pages import build_tables, paired_matrix
from harness.report.site import build_site

from support.files import REPO_ROOT
from support.leaderboard import WRONG, model, write_task
from test_report import parse

N = 40


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    return tmp_path / "tasks"


def run_items(task_file: Path, runs: Path, config: ModelConfig, right: set[int], malformed: frozenset[int] = frozenset(),
              variant: str = "zero") -> None:
    """A run answering item k right when k is in ``right``, with no code at all when in ``malformed``, else wrong."""
    task = load_task_file(task_file)
    data = load_task_data(task)
    answers = {s.id: str(s.target) if k in right else "keine Ahnung" if k in malformed else WRONG
               for k, s in enumerate(data.samples)}
    run_task_variant(RunSpec(task, task.variant(variant), config, data), runs, lambda: ScriptedRunner(answers),
                     progress=False)


def adapter_model(name: str, base_id: str, display_name: str = "") -> ModelConfig:
    """A LoRA adapter on ``base_id``'s weights (the link: the same model_id, with an adapter)."""
    return ModelConfig.model_validate({
        "name": name, "display_name": display_name, "runner": "transformers", "model_id": base_id, "revision": "r1",
        "adapter": {"name": "icd", "hub_id": "test/icd-lora", "base_model": base_id},
        "metadata": {"weight_type": "adapter"}})


def merged_model(name: str, tuned_from: str) -> ModelConfig:
    """Merged fine-tuned weights of their own (the link: ``fine_tuned_from`` names the base's model_id)."""
    return ModelConfig.model_validate({
        "name": name, "runner": "transformers", "model_id": f"test/{name}", "revision": "r1",
        "metadata": {"weight_type": "merged", "fine_tuned_from": tuned_from}})


def named(config: ModelConfig, display_name: str) -> ModelConfig:
    return config.model_copy(update={"display_name": display_name})


def findings_of(runs: Path) -> list[tuple[Overview, Findings]]:
    return [(overview, group_findings(overview)) for overview in build_overviews(build_tables([runs]))]


def text_of(findings: Findings) -> str:
    return " ".join(sentence.text for sentence in findings.sentences)


def mcnemar(right_a: set[int], right_b: set[int]) -> float:
    """Exact McNemar written out: a two-sided binomial test of the items only one of the two got right."""
    only_a, only_b = len(right_a - right_b), len(right_b - right_a)
    return 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue


# --- a fine-tune against its base ---

def test_fine_tune_against_its_base_per_task_counts_p_and_malformed(tasks: Path, tmp_path: Path) -> None:
    """Better on one task, worse on one, no significant difference on the third: exactly those counts, each p the exact
    McNemar p of the item outcomes, the difference and interval as the task page's paired matrix has them, and the
    malformed rates before and after."""
    runs = tmp_path / "runs"
    base = named(model("instruct-8b"), "Instruct 8B")
    tuned = adapter_model("tuned-8b", "test/instruct-8b", "Tuned 8B")
    # item sets: discordant pairs both ways, so the p-values are not a plain 2 * 0.5**d
    plan = {  # task: (base right, base malformed, tuned right, tuned malformed)
        "bench.a": (set(range(0, 20)), frozenset(range(20, 28)), set(range(5, 35)), frozenset({35, 36})),
        "bench.b": (set(range(0, 24)), frozenset(), set(range(8, 18)) | {30}, frozenset(range(36, 40))),
        "bench.c": (set(range(0, 20)), frozenset(), set(range(2, 21)) | {25, 26}, frozenset()),
    }
    for task, (b_right, b_bad, t_right, t_bad) in plan.items():
        task_file = write_task(tasks, task, N)
        run_items(task_file, runs, base, b_right, b_bad)
        run_items(task_file, runs, tuned, t_right, t_bad)
    ((overview, findings),) = findings_of(runs)
    (pair,) = findings.pairs
    assert (pair.model.model.name, pair.reference.model.name) == ("tuned-8b", "instruct-8b")
    assert [t.task for t in pair.tasks] == ["a", "b", "c"]
    assert [t.outcome for t in pair.tasks] == ["higher", "lower", "no difference"]
    assert (pair.count("higher"), pair.count("lower"), pair.count("no difference"), pair.n_tested) == (1, 1, 1, 3)
    tables = {t.task: t for t in build_tables([runs])}
    for comparison, (task, (b_right, b_bad, t_right, t_bad)) in zip(pair.tasks, plan.items()):
        c = comparison.comparison
        assert c.p_value == pytest.approx(mcnemar(t_right, b_right), rel=1e-9)
        assert c.difference == pytest.approx((len(t_right) - len(b_right)) / N)
        assert (c.only_a, c.only_b) == (len(t_right - b_right), len(b_right - t_right))
        cell = paired_matrix(tables[task]).cells[(f"{task}--zero--tuned-8b", f"{task}--zero--instruct-8b")]
        assert (c.lo, c.hi, c.method) == (pytest.approx(cell.lo), pytest.approx(cell.hi), cell.method)
        assert comparison.malformed == (pytest.approx(len(b_bad) / N), pytest.approx(len(t_bad) / N))
    # a: 30 vs 20 right, 15 only by the tune, 5 only by the base; b: 11 vs 24; c: 21 vs 20
    assert mcnemar(plan["bench.a"][2], plan["bench.a"][0]) < 0.05 < mcnemar(plan["bench.c"][2], plan["bench.c"][0])
    text = text_of(findings)
    assert ("Tuned 8B (fine-tuned; an adapter on Instruct 8B) is higher than Instruct 8B on 1 of 3 tasks at p < 0.05, "
            "lower on 1, no significant difference at p < 0.05 on 1") in text
    p_a = mcnemar(plan["bench.a"][2], plan["bench.a"][0])
    a = pair.tasks[0].comparison
    assert (f"Tuned 8B minus Instruct 8B per task (primary metric, best variant of each): a +25.0 points "
            f"[95% CI {100 * a.lo:+.1f} to {100 * a.hi:+.1f}], p = {p_a:.3f} (exact McNemar); b -32.5 points") in text
    assert "p < 0.001 (exact McNemar); c +2.5 points" in text and "p = 1.000 (exact McNemar)." in text
    # malformed: a 8/40 -> 2/40, b 0/40 -> 4/40, c 0 -> 0
    assert "Malformed answers, Instruct 8B → Tuned 8B: a 20.0 % → 5.0 %; b 0.0 % → 10.0 %; c 0.0 % → 0.0 %." in text


def test_merged_fine_tune_is_linked_by_fine_tuned_from(tasks: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    task_file = write_task(tasks, "bench.a", N)
    run_items(task_file, runs, model("instruct-8b"), set(range(10)))
    run_items(task_file, runs, merged_model("merged-8b", "test/instruct-8b"), set(range(10)))
    ((_, findings),) = findings_of(runs)
    (pair,) = findings.pairs
    assert (pair.model.model.name, pair.reference.model.name) == ("merged-8b", "instruct-8b")
    assert pair.tasks[0].comparison.p_value == 1.0 and pair.tasks[0].outcome == "no difference"
    assert "merged-8b (fine-tuned; fine-tuned from instruct-8b) is higher than instruct-8b on 0 of 1 task" in text_of(findings)


def test_no_fine_tune_sentence_without_its_base(tasks: Path, tmp_path: Path) -> None:
    """A fine-tune whose base did not run (another model_id is in the group): no comparison, no sentence about it."""
    runs = tmp_path / "runs"
    task_file = write_task(tasks, "bench.a", N)
    run_items(task_file, runs, adapter_model("tuned-8b", "test/absent-8b"), set(range(30)), frozenset({35}))
    run_items(task_file, runs, merged_model("merged-8b", "test/absent-8b"), set(range(25)))
    run_items(task_file, runs, model("other-8b"), set(range(20)))
    ((_, findings),) = findings_of(runs)
    assert findings.pairs == []
    text = text_of(findings)
    assert "is higher than" not in text and "Malformed answers" not in text and "fine-tuned" not in text
    assert "absent" not in text


def test_the_base_pairs_with_the_same_reasoning_setting(tasks: Path, tmp_path: Path) -> None:
    """Several configs of the base weights (reasoning on, off): the adapter is compared with the one set like it."""
    runs = tmp_path / "runs"
    task_file = write_task(tasks, "bench.a", N)
    plain = model("qwen")
    thinking = ModelConfig.model_validate({**plain.model_dump(exclude_defaults=True), "name": "qwen-think", "reasoning": True})
    for config in (plain, thinking, adapter_model("qwen-icd", "test/qwen")):
        run_items(task_file, runs, config, set(range(20)))
    ((_, findings),) = findings_of(runs)
    assert [(p.model.model.name, p.reference.model.name) for p in findings.pairs] == [("qwen-icd", "qwen")]


# --- the leader and ties ---

def test_leader_and_ties_are_named_from_the_intervals(tasks: Path, tmp_path: Path) -> None:
    first, second = write_task(tasks, "bench.a", N), write_task(tasks, "bench.b", N)
    runs = tmp_path / "runs"
    for name, (a, b) in {"perfect": (40, 40), "close": (34, 35), "closer": (33, 34), "none": (0, 0)}.items():
        run_items(first, runs, model(name), set(range(a)))
        run_items(second, runs, model(name), set(range(b)))
    ((overview, findings),) = findings_of(runs)
    rows = {r.model.name: r for r in overview.rows}
    leader, following = findings.sentences[:2]
    assert leader.text == "On the mean over the 2 tasks, perfect (100.0 % [95% CI 100.0–100.0]) ranks first."
    shown = {name: f"{name} ({100 * e.value:.1f} % [95% CI {100 * e.lo:.1f}–{100 * e.hi:.1f}])"
             for name, e in ((n, rows[n].aggregate) for n in ("close", "closer"))}
    assert rows["close"].rank == rows["closer"].rank == 2  # the next rank is a tie too: both named
    assert max(rows["close"].aggregate.hi, rows["closer"].aggregate.hi) < rows["perfect"].aggregate.lo  # entirely below
    assert following.text == (f"Next, sharing rank 2: {shown['close']} lies entirely below the interval of perfect; "
                              f"{shown['closer']} lies entirely below the interval of perfect.")
    assert following.models == ("close", "closer", "perfect")
    # without the leader, close and closer tie (their intervals overlap) and are named as a tie
    tied_runs = tmp_path / "tied"
    for name, (a, b) in {"close": (34, 35), "closer": (33, 34), "none": (0, 0)}.items():
        run_items(first, tied_runs, model(name), set(range(a)))
        run_items(second, tied_runs, model(name), set(range(b)))
    ((overview, findings),) = findings_of(tied_runs)
    rows = {r.model.name: r for r in overview.rows}
    assert rows["close"].rank == rows["closer"].rank == 1
    leader, following = findings.sentences[:2]
    assert leader.models == ("close", "closer")
    shown = {name: f"{name} ({100 * e.value:.1f} % [95% CI {100 * e.lo:.1f}–{100 * e.hi:.1f}])"
             for name, e in ((n, rows[n].aggregate) for n in ("close", "closer"))}  # the same models, a new interval
    assert shown["closer"].startswith("closer (83.7 % [")  # (33 + 34) / 80, one decimal as the table shows it
    assert leader.text == (f"On the mean over the 2 tasks, {shown['close']} and {shown['closer']} share rank 1, a tie: "
                           "no model's 95% interval lies entirely above theirs.")
    assert following.text == ("The next, at rank 3: none (0.0 % [95% CI 0.0–0.0]) lies entirely below the intervals of "
                              "close and closer.")


def test_nothing_mentions_a_model_absent_from_the_group(tasks: Path, tmp_path: Path) -> None:
    """Two groups (real and synthetic data): each group's sentences name only its own rows; no names made up."""
    real, synthetic = write_task(tasks, "bench.a", N), write_task(tasks, "demo.b", N, synthetic=True)
    runs = tmp_path / "runs"
    run_items(real, runs, named(model("instruct-8b"), "Instruct Eight"), set(range(20)))
    run_items(real, runs, adapter_model("tuned-8b", "test/instruct-8b", "Tuned Eight"), set(range(25)))
    run_items(real, runs, named(model("lookup", weight_type="baseline", runner="baseline"), "Lookup Rule"), set(range(5)))
    run_items(synthetic, runs, named(model("elsewhere"), "Elsewhere Model"), set(range(30)), variant="zero")
    run_items(synthetic, runs, named(model("instruct-8b-demo"), "Demo Eight"), set(range(10)))
    (real_group, real_findings), (demo_group, demo_findings) = findings_of(runs)
    for group, findings, absent in ((real_group, real_findings, ("Elsewhere Model", "Demo Eight")),
                                    (demo_group, demo_findings, ("Instruct Eight", "Tuned Eight", "Lookup Rule"))):
        assert findings.sentences
        assert findings.models <= {row.model.name for row in group.rows}
        assert not any(name in text_of(findings) for name in absent)
    assert "Tuned Eight" in text_of(real_findings) and "Lookup Rule" in text_of(real_findings)


# --- base against instruct; baselines and the oracle ---

def test_base_and_instruct_of_one_family_and_size(tasks: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    task_file = write_task(tasks, "bench.a", N)
    base = ModelConfig.model_validate({**model("fam-1b").model_dump(exclude_defaults=True),
                                       "metadata": {"kind": "base", "family": "Fam", "params": "1B"}})
    chat = ModelConfig.model_validate({**model("fam-1b-it").model_dump(exclude_defaults=True),
                                       "metadata": {"family": "Fam", "params": "1B"}})
    big = ModelConfig.model_validate({**model("fam-9b-it").model_dump(exclude_defaults=True),
                                      "metadata": {"family": "Fam", "params": "9B"}})
    right = {"fam-1b": set(range(8)), "fam-1b-it": set(range(4, 30)), "fam-9b-it": set(range(36))}
    for config in (base, chat, big):
        run_items(task_file, runs, config, right[config.name])
    ((overview, findings),) = findings_of(runs)
    (pair,) = findings.pairs  # the 9B instruct model is of the family, not of the size
    assert (pair.model.model.name, pair.reference.model.name) == ("fam-1b-it", "fam-1b")
    assert pair.tasks[0].comparison.p_value == pytest.approx(mcnemar(right["fam-1b-it"], right["fam-1b"]))
    rows = {r.model.name: r for r in overview.rows}
    base_mean, best_instruct = rows["fam-1b"].aggregate, rows["fam-9b-it"].aggregate
    assert best_instruct.lo > base_mean.hi
    assert (f"the best base model, fam-1b, has 20.0 % [95% CI {100 * base_mean.lo:.1f}–{100 * base_mean.hi:.1f}]; "
            f"the best instruct model, fam-9b-it, has 90.0 % [95% CI {100 * best_instruct.lo:.1f}–"
            f"{100 * best_instruct.hi:.1f}]: the two intervals do not overlap.") in text_of(findings)
    assert "fam-1b-it (instruct; the same family and size as fam-1b: Fam, 1B) is higher than fam-1b on 1 of 1 task" \
        in text_of(findings)


def test_oracle_and_baselines_per_set_kind(tasks: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    files = [write_task(tasks, "bench.recall_a", N, set_kind="catalogue recall"),
             write_task(tasks, "bench.recall_b", N, set_kind="catalogue recall"),
             write_task(tasks, "bench.variation", N, set_kind="clinical variation")]
    oracle = named(model("oracle", weight_type="oracle", runner="baseline"), "Exact oracle")
    lookup = named(model("lookup", weight_type="baseline", runner="baseline"), "Fuzzy lookup")
    scores: dict[str, tuple[int, int, int]] = {"oracle": (40, 38, 10), "lookup": (30, 26, 6), "strong": (39, 39, 39),
                                               "similar": (28, 28, 10), "weak": (2, 2, 0)}
    configs = {"oracle": oracle, "lookup": lookup, "strong": model("strong"), "similar": model("similar"),
               "weak": model("weak")}
    for name, rights in scores.items():
        for task_file, right in zip(files, rights):
            run_items(task_file, runs, configs[name], set(range(right)))
    ((overview, findings),) = findings_of(runs)
    text = text_of(findings)
    # the oracle: (40 + 38) / 2 / 40 = 97.5 % on the two recall sets, 10 / 40 = 25.0 % on the variation set
    assert ("Exact oracle, an oracle (it knows the answer key: a ceiling, not ranked), scores a mean of 97.5 % on the 2 "
            "catalogue recall tasks and 25.0 % on the clinical variation task.") in text
    assert "Fuzzy lookup, a baseline, scores a mean of 70.0 % on the 2 catalogue recall tasks and 15.0 % on the " \
           "clinical variation task." in text
    rows = {r.model.name: r for r in overview.rows}
    b = rows["lookup"].aggregate
    others = [rows[n].aggregate for n in ("strong", "similar", "weak")]
    above = sum(a.lo > b.hi for a in others)
    below = sum(a.hi < b.lo for a in others)
    assert (above, below) == (1, 1)  # strong above, weak below, similar overlapping
    assert (f"Of the ranked models other than baselines (3), the interval of the mean lies entirely above that of the "
            f"best baseline, Fuzzy lookup ({100 * b.value:.1f} % [95% CI {100 * b.lo:.1f}–{100 * b.hi:.1f}]), for 1, "
            "overlaps it for 1 and lies entirely below it for 1.") in text
    assert "oracle" not in " ".join(s.text for s in findings.sentences[:2])  # never the leader: not ranked


# --- few-shot against zero-shot ---

def fewshot_task(tasks: Path, name: str) -> Path:
    """A task whose variants are ``0`` (zero-shot) and ``2-shot`` (two example turns), plus ``asked`` (no number)."""
    path = write_task(tasks, name, N)
    text = path.read_text(encoding="utf-8").replace("  zero:\n", '  "0":\n')
    text += ('  "2-shot":\n    description: two examples as earlier turns\n    turns:\n'
             '      - user: "Diagnose 1"\n      - assistant: "C67.2"\n      - user: "Diagnose 2"\n'
             '      - assistant: "C34.1"\n      - user: "{{ sample.text }}"\n')
    path.write_text(text, encoding="utf-8")
    return path


def test_few_shot_against_zero_shot_per_model(tasks: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first, second = fewshot_task(tasks, "bench.a"), fewshot_task(tasks, "bench.b")
    m, z = named(model("m"), "Model M"), named(model("zero-only"), "Zero Only")
    plan = {(first, "0"): 10, (first, "2-shot"): 16, (first, "asked"): 40, (second, "0"): 20, (second, "2-shot"): 18}
    for (task_file, variant), right in plan.items():
        run_items(task_file, runs, m, set(range(right)), variant=variant)
    run_items(first, runs, z, set(range(5)), variant="0")
    run_items(second, runs, z, set(range(5)), variant="0")
    ((_, findings),) = findings_of(runs)
    (effect,) = findings.few_shot  # the zero-shot-only model has none; "asked" has no number of examples
    assert effect.model == "m"
    assert effect.differences == {"a": pytest.approx(6 / 40), "b": pytest.approx(-2 / 40)}
    assert effect.mean == pytest.approx(0.05)
    assert ("Few-shot against zero-shot prompts (per task the best variant of each, primary metric): Model M +5.0 "
            "points on average over 2 tasks (higher on 1, lower on 1, equal on 0).") in text_of(findings)
    assert "Zero Only" not in findings.sentences[-1].text


def test_shots_of_reads_the_leading_number() -> None:
    assert [shots_of(v) for v in ("0", "3-shot", "4-uro", "2-uro@1", "0-uro-ctx", "10", "zero", "asked", "x2")] == \
        [0, 3, 4, 2, 0, 10, None, None, None]


# --- on the site ---

def test_front_page_shows_the_paragraph_under_each_group(tasks: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    task_file = write_task(tasks, "bench.a", N)
    run_items(task_file, runs, named(model("instruct-8b"), "Instruct <b>8B</b>"), set(range(10)), frozenset({30}))
    run_items(task_file, runs, adapter_model("tuned-8b", "test/instruct-8b", "Tuned 8B"), set(range(30)))
    index = build_site([runs], tmp_path / "site")
    html = index.read_text(encoding="utf-8")
    section = html[html.index('id="overview--bench"'):]
    section = section[:section.index("</section>")]
    assert "<h3>What this shows</h3>" in section
    assert section.index("</table>") < section.index("What this shows")  # under the group's table
    assert "Malformed answers, Instruct &lt;b&gt;8B&lt;/b&gt; → Tuned 8B: a 2.5 % → 0.0 %." in section  # escaped
    assert "<b>8B</b>" not in html
    ((_, findings),) = findings_of(runs)
    paragraph = re.search(r"<h3>What this shows</h3>\s*<p>(.*?)</p>", section, re.DOTALL).group(1)
    assert paragraph.replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'") == text_of(findings)


def test_demo_site_builds_with_its_paragraph(tmp_path: Path) -> None:
    """The committed demo results: the site builds and its group says what the numbers say."""
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["report", str(REPO_ROOT / "leaderboards" / "results"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = parse(out / "index.html")
    html = (out / "index.html").read_text(encoding="utf-8")
    groups = findings_of(REPO_ROOT / "leaderboards" / "results")
    assert html.count("<h3>What this shows</h3>") == len(groups) >= 1  # one paragraph per group
    ((overview, findings),) = [(o, f) for o, f in groups if o.synthetic and o.family == "demo"]
    assert findings.models <= {row.model.name for row in overview.rows}
    (effect,) = findings.few_shot
    assert effect.model == "smollm2-135m-instruct-cpu" and len(effect.differences) == 3
    assert f"{100 * effect.mean:+.1f} points on average over 3 tasks" in html
    assert page.tables  # the overview table is still there

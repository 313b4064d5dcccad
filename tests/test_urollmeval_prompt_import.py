"""``onkobench prompts import-urollmeval`` against a stand-in of the study's code (``tests/fixtures/fake_urollmeval``):
the pack sends what the study sends where a diagnosis spans several lines, where step-2 answers of one code are
merged for a verify question, and where a snippet holds the verify placeholder; and the importer's own check
(which runs without the study's code) refuses a pack that would not. ``test_urollmeval_study_parity.py`` compares
with the real study where a checkout is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.files import FIXTURES

from harness.config.models import ModelConfig
from harness.config.prompt_packs import apply_prompt_pack
from harness.config.tasks import Task, load_task
from harness.data import Sample
from harness.families.urollmeval.expanders import expand_step2_codes
from harness.families.urollmeval.prompt_import import _call_builders, import_urollmeval
from harness.prompts import build_requests

FAKE_STUDY = FIXTURES / "fake_urollmeval"
MODEL = ModelConfig(name="m", runner="baseline")
MERGED_SNIPPET = ("Urothelkarzinom der Harnblase 03/2020.\nZusätzlich Prostatakarzinom ED 2018.\n\n"
                  "Rezidiv des Blasenkarzinoms 2022.")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pack") / "fake-study"
    import_urollmeval(FAKE_STUDY, folder)
    return folder


def packed(step: int, pack: Path) -> Task:
    return apply_prompt_pack(load_task(f"urollmeval.step{step}"), pack)


def messages_of(task: Task, variant: str, samples: list[Sample]) -> list[list[dict[str, str]]]:
    return [[dict(m) for m in r.messages] for r in build_requests(task, task.variant(variant), samples, MODEL)]


def study_messages(step: int, prompt_type: str, args: list[str], date: str | None = None) -> list[dict[str, str]]:
    """What the stand-in study sends: its builder's messages (a verify query: the date filled into the last one)."""
    (messages,) = _call_builders(FAKE_STUDY, {step: [args]})[str(step)]["results"][prompt_type]
    if date is not None:
        messages[-1]["content"] = messages[-1]["content"].replace("[DATE]", date)
    return messages


def merged_verify_sample(snippet: str, answers: list[tuple[str, str]]) -> list[Sample]:
    """Step-3 verify samples from step-2 answers (diagnosis, code) of one snippet, merged by code as the task does."""
    labels = [{"diagnosis": code, "date": "2020"} for code in dict.fromkeys(code for _, code in answers)]
    base = [Sample("0", {"text": snippet, "label": labels}, labels)]
    upstream = [{"sample_id": f"0/{i}", "group": "0", "values": {"code": code}, "extra": {"diagnosis": d}}
                for i, (d, code) in enumerate(answers)]
    return expand_step2_codes(load_task("urollmeval.step3"), base, upstream, {"merge_same_code": True})


# 1. The study joins the lines of a diagnosis where it passes the prompt through no_linebreaks.

def test_pack_joins_a_diagnosis_over_several_lines_as_the_study(pack: Path) -> None:
    snippet, diagnosis = "Adenokarzinom der Prostata\nGleason 7", "Adenokarzinom\nder Prostata\n\nGleason 7\n"
    sample = Sample("0/0", {"text": snippet, "diagnosis": diagnosis}, ["C61"])
    (ours,) = messages_of(packed(2, pack), "0-uro", [sample])
    assert ours == study_messages(2, "0-uro", [snippet, diagnosis])
    assert "Adenokarzinom der Prostata\n Gleason 7 " in ours[0]["content"]  # one break of the blank line stays
    # where the builder inserts the diagnosis as it is, so does the pack
    (ctx,) = messages_of(packed(2, pack), "0-uro-ctx", [sample])
    assert ctx == study_messages(2, "0-uro-ctx", [snippet, diagnosis]) and diagnosis in ctx[0]["content"]


# 2. A merged verify sample asks each question with the diagnosis of the step-2 answer it came from.

def test_pack_verify_questions_name_their_own_diagnosis(pack: Path) -> None:
    answers = [("Urothelkarzinom der Harnblase", "C67"), ("Rezidiv des Blasenkarzinoms", "C67")]
    (sample,) = merged_verify_sample(MERGED_SNIPPET, answers)
    ours = messages_of(packed(3, pack), "0-verify", [sample])
    expected = [study_messages(3, "0-verify", [MERGED_SNIPPET, "Urothelkarzinom der Harnblase"], date)
                for date in ("03/2020", "2018")]
    expected += [study_messages(3, "0-verify", [MERGED_SNIPPET, "Rezidiv des Blasenkarzinoms"], date)
                 for date in ("2022", "2018")]
    assert ours == expected


def test_own_verify_wording_names_each_questions_diagnosis() -> None:
    answers = [("Urothelkarzinom der Harnblase", "C67"), ("Rezidiv des Blasenkarzinoms", "C67")]
    (sample,) = merged_verify_sample(MERGED_SNIPPET, answers)
    task = load_task("urollmeval.step3")
    requests = build_requests(task, task.variant("0-verify"), [sample], MODEL)
    asked = [(r.query_item["diagnosis"], r.query_item["date"]) for r in requests]
    assert asked == [("Urothelkarzinom der Harnblase", "03/2020"), ("Urothelkarzinom der Harnblase", "2018"),
                     ("Rezidiv des Blasenkarzinoms", "2022"), ("Rezidiv des Blasenkarzinoms", "2018")]
    for request, (diagnosis, date) in zip(requests, asked):
        assert f"Diagnose: {diagnosis}\nIst {date} das Datum" in request.messages[-1]["content"]


# 4. The study fills the date into every placeholder of the last message, one in the snippet too.

def test_pack_fills_the_date_into_a_placeholder_in_the_snippet(pack: Path) -> None:
    snippet = "Prostatakarzinom ED 03/2019, Kontrolle [DATE]."
    (sample,) = merged_verify_sample(snippet, [("Prostatakarzinom", "C61")])
    (ours,) = messages_of(packed(3, pack), "0-verify", [sample])
    assert ours == study_messages(3, "0-verify", [snippet, "Prostatakarzinom"], "03/2019")
    assert "Kontrolle 03/2019." in ours[-1]["content"] and "[DATE]" not in ours[-1]["content"]


# The importer's own check (no study code needed to run a pack) refuses a pack that misses any of the above.

def builder_runs(step: int, prompt_type: str) -> tuple[list[Any], list[list[str]]]:
    from harness.families.urollmeval.prompt_import import _probe_args

    probes = _probe_args(step)
    return _call_builders(FAKE_STUDY, {step: probes})[str(step)]["results"][prompt_type], probes


def naive(turns: list[dict[str, str]], old: str, new: str) -> list[dict[str, str]]:
    changed = [{**t, "template": t["template"].replace(old, new)} for t in turns]
    assert changed != turns, f"{old!r} is not in the turns"
    return changed


@pytest.mark.parametrize("step, prompt_type, old, new", [
    (2, "0-uro", " | no_linebreaks", ""),  # 1. the diagnosis inserted as it is
    (3, "0-verify", "item.diagnosis", "sample.diagnosis"),  # 2. the merged sample's first diagnosis
    # 4. only the template's own placeholder filled, not one in the snippet
    (3, "0-verify", "{% filter replace('[DATE]', item.date) %}", ""),
])
def test_import_check_refuses_a_pack_the_study_would_not_send(step: int, prompt_type: str, old: str, new: str) -> None:
    from harness.families.urollmeval.prompt_import import _turns_for, check_turns

    runs, probes = builder_runs(step, prompt_type)
    turns, note = _turns_for(step, prompt_type, runs, probes)
    assert turns is not None and note == "" and check_turns(step, prompt_type, turns, runs, probes) == ""
    wrong = naive(turns, old, new)
    if "filter" in old:
        wrong = naive(wrong, "{% endfilter %}", "")
        wrong = naive(wrong, "[DATE]", "{% endraw %}{{ item.date }}{% raw %}")
    assert check_turns(step, prompt_type, wrong, runs, probes).startswith("left out:")


def test_import_leaves_out_a_builder_whose_line_joining_depends_on_the_text_around(tmp_path: Path) -> None:
    """A builder that joins the diagnosis's lines together with the line break before it (no quote between) gives
    what no filter on the diagnosis alone gives for a diagnosis starting with a break: the variant is left out."""
    study = tmp_path / "study"
    study.mkdir()
    for path in FAKE_STUDY.iterdir():
        (study / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    step2 = study / "run_evaluation_step2.py"
    step2.write_text(step2.read_text(encoding="utf-8").replace(
        """f'{RULES}\\nICD-10 (3 Stellen)\\nfür "{diagnosis_text}"?'""", """f'{RULES}\\nfür:\\n{diagnosis_text}'"""),
        encoding="utf-8")
    report = import_urollmeval(study, tmp_path / "pack")
    assert report["urollmeval.step2"]["0-uro"].startswith("left out:")
    assert "0-uro-ctx" not in report["urollmeval.step2"]


def test_no_linebreaks_joins_lines_and_keeps_one_break_of_a_blank_line() -> None:
    from harness.families.urollmeval.filters import no_linebreaks

    # each break not followed by another becomes a space: "\n\n" -> "\n ", "\n\n\n" -> "\n\n "
    assert no_linebreaks("a\nb\n\nc\n\n\nd\n") == "a b\n c\n\n d "
    assert no_linebreaks("ohne Umbruch") == "ohne Umbruch"

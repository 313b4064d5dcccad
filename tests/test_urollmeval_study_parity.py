"""The imported prompt pack and the date search against the study's own code (stefan-m-lenz/UroLlmEval).

Skipped unless ``UROLLMEVAL_REPO`` names a local checkout of the study's repository (e.g.
``git clone https://github.com/stefan-m-lenz/UroLlmEval``); nothing of the study is part of onkobench. The
study's functions run in a child process with their heavy imports stubbed (``tests/support/urollmeval_study.py``).

Parity means: for every snippet, step and imported variant, onkobench sends exactly the message lists the study
sends (step 2 from step-1 answers, step 3 from step-2 answers; the verify variants one query per date near each
answer's own diagnosis, with step-2 answers of one snippet and code merged into one sample as onkobench does).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.files import REPO_ROOT, TESTS, read_jsonl, write_jsonl

from harness.config.models import ModelConfig
from harness.config.prompt_packs import apply_prompt_pack
from harness.config.tasks import Task, load_task
from harness.data import Sample, load_task_data
from harness.families.urollmeval.prompt_import import import_urollmeval
from harness.families.urollmeval.textmatch import dates_near, fuzzy_find
from harness.pipeline.chains import EXPANDERS
from harness.prompts import build_requests

STUDY = os.environ.get("UROLLMEVAL_REPO")
pytestmark = pytest.mark.skipif(not STUDY, reason="set UROLLMEVAL_REPO to a local checkout of stefan-m-lenz/UroLlmEval")

MODEL = ModelConfig(name="m", runner="baseline")
NAMES = yaml.safe_load((REPO_ROOT / "tasks/urollmeval/data/gold_diagnosis_names.yaml").read_text(encoding="utf-8"))

# Our own snippets for what the demo data lacks; each with the diagnoses a step-1 answer would name and their codes.
CRAFTED = [
    {  # line breaks in the diagnosis (the study joins them in some prompts) and a literal date placeholder
        "text": "Adenokarzinom der Prostata\nGleason 3+4=7, ED 03/2019.\nKontrolle [DATE] unauffällig.\n\nPSA 2021 0,1.",
        "label": [{"diagnosis": "C61", "date": "2019-03"}],
        "diagnoses": [("Adenokarzinom der Prostata\nGleason 3+4=7", "C61")],
    },
    {  # two answers with the same code, not next to each other, each near other dates
        "text": "Urothelkarzinom der Harnblase 03/2020.\nZusätzlich Prostatakarzinom ED 2018.\n\n\n"
                "Rezidiv des Blasenkarzinoms 2022, TUR-B 05/2022.",
        "label": [{"diagnosis": "C67", "date": "2020-03"}, {"diagnosis": "C61", "date": "2018"}],
        "diagnoses": [("Urothelkarzinom der Harnblase", "C67"), ("Prostatakarzinom", "C61"),
                      ("Rezidiv des Blasenkarzinoms", "C67")],
    },
    {  # the placeholder inside a diagnosis, a blank line inside it, and a snippet ending in line breaks
        "text": "Z.n. Nierenzellkarzinom [DATE] rechts\n\nED 11/2015, Nephrektomie 12/2015\n\n",
        "label": [{"diagnosis": "C64", "date": "2015-11"}],
        "diagnoses": [("Nierenzellkarzinom [DATE]\n\nrechts", "C64"), ("Nierenzellkarzinom", "C64")],
    },
    {  # no date at all: the verify variants send nothing, the others ask anyway
        "text": "Harnblasenkarzinom pT1 G3,\nNachresektion geplant.",
        "label": [{"diagnosis": "C67", "date": "0"}],
        "diagnoses": [("Harnblasenkarzinom pT1 G3,\nNachresektion", "C67")],
    },
]


def run_study(request: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run([sys.executable, str(TESTS / "support" / "urollmeval_study.py"), str(STUDY)],
                            input=json.dumps(request), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def cases() -> list[dict[str, Any]]:
    """Every snippet with its step-1 diagnoses and their codes: the demo snippets (each gold label named by its
    German term) and the crafted ones."""
    demo = read_jsonl(REPO_ROOT / "tasks/demo/data/snippets.jsonl")
    rows = [{**row, "diagnoses": [(NAMES[label["diagnosis"]], label["diagnosis"]) for label in row["label"]]} for row in demo]
    return rows + CRAFTED


def plain(messages: Any) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def our_queries(task: Task, variant: str, samples: list[Sample]) -> dict[str, list[list[dict[str, str]]]]:
    """Per sample id, the message lists onkobench sends (a query skipped by rule sends none)."""
    out: dict[str, list[list[dict[str, str]]]] = {s.id: [] for s in samples}
    for request in build_requests(task, task.variant(variant), samples, MODEL):
        if request.messages:
            out[request.sample_id].append(plain(request.messages))
    return out


def expanded(task: Task, variant: str, base: list[Sample], upstream: list[dict[str, Any]]) -> list[Sample]:
    assert task.upstream is not None
    options = {**task.upstream.options, **task.variant(variant).upstream}
    return EXPANDERS.get(task.upstream.expand)(task, base, upstream, options)


def compare(ours: dict[str, list], theirs: dict[str, list]) -> tuple[int, int, list[str]]:
    """(identical message lists, all message lists, the first differing groups) of one variant."""
    same = total = 0
    differing = []
    for group in sorted(set(ours) | set(theirs)):
        a, b = ours.get(group, []), theirs.get(group, [])
        total += max(len(a), len(b))
        hits = sum(1 for x, y in zip(a, b) if x == y)
        same += hits
        if hits < max(len(a), len(b)):
            differing.append(group)
    return same, total, differing


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int, list[str]]]:
    tmp = tmp_path_factory.mktemp("parity")
    pack = tmp / "pack"
    import_urollmeval(Path(str(STUDY)), pack)
    rows = cases()
    data = write_jsonl(tmp / "snippets.jsonl", [{"text": r["text"], "label": r["label"]} for r in rows])
    by_id = {str(i): row for i, row in enumerate(rows)}
    step2_calls = [(sid, i, row["text"], d) for sid, row in by_id.items() for i, (d, _) in enumerate(row["diagnoses"])]
    step3_calls = [(sid, i, row["text"], d, code) for sid, row in by_id.items()
                   for i, (d, code) in enumerate(row["diagnoses"])]
    study = run_study({"messages": {
        "1": [[row["text"]] for row in by_id.values()],
        "2": [[text, d] for _, _, text, d in step2_calls],
        "3": [[text, d] for _, _, text, d, _ in step3_calls],
    }})["messages"]
    results: dict[str, tuple[int, int, list[str]]] = {}
    tasks = {step: apply_prompt_pack(load_task(f"urollmeval.step{step}"), pack) for step in (1, 2, 3)}
    packed = {step: yaml.safe_load((pack / f"urollmeval.step{step}.yaml").read_text(encoding="utf-8"))["variants"]
              for step in (1, 2, 3)}
    base = {step: load_task_data(tasks[step], data).samples for step in (1, 2, 3)}

    for variant in packed[1]:
        theirs = {sid: [plain(m)] for sid, m in zip(by_id, study["1"][variant])}
        results[f"step1 {variant}"] = compare(our_queries(tasks[1], variant, base[1]), theirs)

    step1_answers = [{"sample_id": sid, "status": "ok", "answer": [d for d, _ in row["diagnoses"]]} for sid, row in by_id.items()]
    for variant in packed[2]:
        samples = expanded(tasks[2], variant, base[2], step1_answers)
        theirs = {f"{sid}/{i}": [plain(m)] for (sid, i, _, _), m in zip(step2_calls, study["2"][variant])}
        results[f"step2 {variant}"] = compare(our_queries(tasks[2], variant, samples), theirs)

    step2_answers = [{"sample_id": f"{sid}/{i}", "group": sid, "values": {"code": code}, "extra": {"diagnosis": d}}
                     for sid, i, _, d, code in step3_calls]
    for variant in packed[3]:
        samples = expanded(tasks[3], variant, base[3], step2_answers)
        theirs: dict[str, list] = {}
        for (sid, i, _, _, code), sent in zip(step3_calls, study["3"][variant]):
            if variant.endswith("-verify"):  # the study's queries of one answer, grouped as onkobench merges them
                theirs.setdefault(f"{sid}/{code}", []).extend(plain(m) for m in sent)
            else:
                theirs[f"{sid}/{i}"] = [plain(sent)]
        results[f"step3 {variant}"] = compare(our_queries(tasks[3], variant, samples), theirs)
    return results


def test_the_imported_pack_sends_exactly_the_studys_messages(parity: dict[str, tuple[int, int, list[str]]]) -> None:
    same = sum(s for s, _, _ in parity.values())
    total = sum(t for _, t, _ in parity.values())
    print(f"\nidentical message lists: {same} of {total}")
    for name, (s, t, groups) in parity.items():
        print(f"  {name}: {s}/{t}" + (f" (differ: {groups[:5]})" if groups else ""))
    # every step and variant of the pack is compared, on enough queries to reach the crafted cases
    assert len(parity) == 7 + 8 + 4
    assert parity["step3 0-verify"][1] >= 40 and parity["step2 0-uro"][1] >= 40
    assert {name: groups for name, (_, _, groups) in parity.items() if groups} == {}
    assert same == total


def test_fuzzy_find_and_its_dates_as_the_study_on_random_texts() -> None:
    """18,000 random texts and queries over date-like and word-like pieces with line breaks: the same match start and
    text as the study's fuzzy_find and the same dates within 0, 1 and 2 lines, in the same order (repeats dropped,
    as every caller of the study does)."""
    rng = random.Random(15)
    pieces = ["a", "b", "c", " ", "\n", "\n\n", "ED ", "2019", "03/2019", "1.2.2020", "12/19", "Karzinom",
              "Prostatakarzinom", "Prostata", "Ca", "pT2"]
    pairs = []
    while len(pairs) < 18_000:
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        if len(query) <= len(text):  # the study raises otherwise (onkobench finds nothing there)
            pairs.append((text, query))
    theirs = run_study({"fuzzy": pairs})["fuzzy"]
    differing = []
    for (text, query), study in zip(pairs, theirs):
        span = fuzzy_find(text, query)
        ours = {"start": span[0], "match": text[span[0]:span[1]]} if span else None
        dates = [dates_near(text, query, distance) for distance in (0, 1, 2)]
        if "error" in study:
            differing.append((text, query, "study raised", study["error"]))
            continue
        expected_dates = [list(dict.fromkeys(found)) for found in study["dates"]]
        if ours != {"start": study["start"], "match": study["match"]} or dates != expected_dates:
            differing.append((text, query, ours, dates, study))
    print(f"\nfuzzy_find and dates: {len(pairs) - len(differing)} of {len(pairs)} identical")
    assert differing == []

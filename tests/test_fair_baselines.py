"""Protocol B baselines that know only what a model may learn (#18.1): the training split that
`catalogue build-tasks` writes, the fair lookup over it (the default), and the whole-catalogue oracle
labelled as the ceiling it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.families.catalogue_qa.build import SETS
from harness.prompts import build_requests
from harness.runners.baseline import BaselineRunner

from support.files import CATALOGUE_FIXTURES, REPO_ROOT, read_jsonl

LABEL_RULE_YEARS = ("--icd10gm-year", "2097", "--alphaid-year", "2097", "--icdo3-year", "2097")
FIXTURE_YEARS = ("--icd10gm-year", "2099", "--alphaid-year", "2099", "--icdo3-year", "2099", "--ops-year", "2099")


@pytest.fixture(autouse=True)
def fixture_catalogues(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle reads the catalogue itself: the hand-written fixture files."""
    monkeypatch.setenv("ONKOBENCH_CATALOGUE_DIR", str(CATALOGUE_FIXTURES))


def task_folder_with_sets(tmp_path: Path, *options: str) -> Path:
    """A copy of tasks/icd_catalogue_qa (definitions and prompts) with its sets built from the fixtures."""
    folder = tmp_path / "icd_catalogue_qa"
    shutil.copytree(REPO_ROOT / "tasks" / "icd_catalogue_qa", folder, ignore=shutil.ignore_patterns("generated"))
    result = CliRunner().invoke(main, ["catalogue", "build-tasks", "--catalogues", str(CATALOGUE_FIXTURES),
                                       "--out", str(folder / "generated"), *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder


def lookup(knowledge: str, fuzzy: bool = False, year: int = 2097) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": f"lookup-{knowledge}-{'fuzzy' if fuzzy else 'exact'}", "runner": "baseline",
        "options": {"method": "catalogue_lookup", "knowledge": knowledge, "fuzzy": fuzzy, "min_score": 80,
                    "alphaid_year": year, "icdo3_year": year},
    })


def answers(folder: Path, set_name: str, config: ModelConfig) -> dict[str, str]:
    """text -> the baseline's answer for every test item of a set (variant 0)."""
    task = load_task_file(folder / f"{set_name}.yaml")
    samples = load_task_data(task).samples
    requests = build_requests(task, task.variants["0"], samples, config)
    runner = BaselineRunner(config, REPO_ROOT)
    by_key = {r.key: r for r in requests}
    return {by_key[response.key].inputs["text"]: response.text for response in runner.generate(requests)}


def test_training_split_shares_no_text_with_any_test_split_or_fewshot_pool(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *FIXTURE_YEARS, "--n-test", "6", "--n-fewshot", "2", "--seed", "1")
    generated = folder / "generated"
    manifest = json.loads((generated / "manifest.json").read_text(encoding="utf-8"))
    held_out = set()
    for name in SETS:
        held_out |= {r["text"].casefold() for r in read_jsonl(generated / name / "test.jsonl")}
        held_out |= {r["text"].casefold() for r in read_jsonl(generated / name / "fewshot.jsonl")}
    trained = 0
    for name in SETS:
        train = read_jsonl(generated / name / "train.jsonl")
        assert all(set(row) == {"id", "text", "answer"} for row in train), name
        assert not {r["text"].casefold() for r in train} & held_out, name
        assert manifest["sets"][name]["train"] == len(train)
        trained += len(train)
    assert trained > 0  # the fixtures leave rows over for training
    # the Alpha-ID sets share texts: a neoplasm text held out by one set is excluded from the others' training
    assert sum(manifest["sets"][name]["train_excluded_held_out_elsewhere"] for name in SETS) > 0
    assert "train" in manifest["label_rules"]


def test_fair_lookup_does_not_find_a_term_that_is_only_in_the_test_split(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "6", "--n-fewshot", "2")
    test = read_jsonl(folder / "generated" / "alphaid_icd10gm_neoplasms" / "test.jsonl")
    train_texts = {r["text"] for r in read_jsonl(folder / "generated" / "alphaid_icd10gm_neoplasms" / "train.jsonl")}
    only_in_test = [r for r in test if r["text"] not in train_texts]
    assert only_in_test
    fair = answers(folder, "alphaid_icd10gm_neoplasms", lookup("train"))
    oracle = answers(folder, "alphaid_icd10gm_neoplasms", lookup("catalogue"))
    for row in only_in_test:
        assert fair[row["text"]] == "", row  # never seen: the fair exact lookup has no answer
        assert oracle[row["text"]] == row["icd10gm_code"], row  # the oracle knows the answer key
    # the default knowledge is the training split
    default = ModelConfig.model_validate({"name": "d", "runner": "baseline", "options": {"method": "catalogue_lookup"}})
    assert BaselineRunner(default, REPO_ROOT).knowledge == "train"


def test_fair_fuzzy_lookup_answers_from_similar_training_terms(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "6", "--n-fewshot", "0", "--seed", "3")
    train = read_jsonl(folder / "generated" / "alphaid_icd10gm_neoplasms" / "train.jsonl")
    fuzzy = answers(folder, "alphaid_icd10gm_neoplasms", lookup("train", fuzzy=True))
    known = {r["answer"] for r in train}
    # every answer the fair fuzzy lookup gives is a training answer: it cannot know anything else
    assert all(answer in known for answer in fuzzy.values() if answer)


def test_recognition_oracle_labels_by_every_code_and_the_history_rule(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "100", "--n-fewshot", "0")
    test = {r["text"]: r["is_tumour"] for r in read_jsonl(folder / "generated" / "tumour_recognition" / "test.jsonl")}
    oracle = answers(folder, "tumour_recognition", lookup("catalogue"))
    assert oracle["HIV-Krankheit mit Kaposi-Sarkom"] == "Ja"  # B21 + C46.9: the additional code decides
    assert oracle["Mammakarzinom in der Eigenanamnese"] == "Ja"  # Z85
    assert oracle["Mammakarzinom in der Familienanamnese"] == "Nein"  # Z80
    assert oracle == test  # the oracle applies the builder's own label rule: right on every item


def test_fair_recognition_lookup_answers_the_label_of_the_training_row(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "6", "--n-fewshot", "2")
    generated = folder / "generated" / "tumour_recognition"
    test = read_jsonl(generated / "test.jsonl")
    fair = answers(folder, "tumour_recognition", lookup("train"))
    assert set(fair.values()) <= {"Ja", "Nein"} and len(fair) == len(test)
    # an unseen Ja text gets the fallback Nein: nothing learnt says otherwise
    train_texts = {r["text"].casefold() for r in read_jsonl(generated / "train.jsonl")}
    unseen_positive = [r["text"] for r in test if r["is_tumour"] == "Ja" and r["text"].casefold() not in train_texts]
    assert unseen_positive and all(fair[text] == "Nein" for text in unseen_positive)


def test_a_rebuilt_training_split_changes_the_request_keys(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "6", "--n-fewshot", "2")
    task = load_task_file(folder / "alphaid_icd10gm_neoplasms.yaml")
    samples = load_task_data(task).samples
    fair, llm = lookup("train"), ModelConfig.model_validate(
        {"name": "m", "runner": "openai", "model_id": "x", "server": {"endpoints": [{"base_url": "http://127.0.0.1:1/v1"}]}})
    before = [r.key for r in build_requests(task, task.variants["0"], samples, fair)]
    llm_before = [r.key for r in build_requests(task, task.variants["0"], samples, llm)]
    train = folder / "generated" / "alphaid_icd10gm_neoplasms" / "train.jsonl"
    train.write_text(train.read_text(encoding="utf-8") + json.dumps({"id": "x", "text": "neu", "answer": "C61"}) + "\n",
                     encoding="utf-8")
    assert [r.key for r in build_requests(task, task.variants["0"], samples, fair)] != before
    # a model that does not learn from the split at run time keeps its keys (and its stored answers)
    assert [r.key for r in build_requests(task, task.variants["0"], samples, llm)] == llm_before


def test_fair_lookup_without_a_training_split_names_the_task_and_the_oracle_option(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "6", "--n-fewshot", "2")
    task_file = folder / "alphaid_icd10gm_neoplasms.yaml"
    task_file.write_text("\n".join(line for line in task_file.read_text(encoding="utf-8").splitlines()
                                   if not line.strip().startswith("train:")) + "\n", encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"declares no training split.*knowledge: catalogue"):
        answers(folder, "alphaid_icd10gm_neoplasms", lookup("train"))
    (folder / "generated" / "alphaid_icd10gm_neoplasms" / "train.jsonl").unlink()
    task_file.write_text(task_file.read_text(encoding="utf-8").replace(
        "  path: generated/alphaid_icd10gm_neoplasms/test.jsonl\n",
        "  path: generated/alphaid_icd10gm_neoplasms/test.jsonl\n  train: generated/alphaid_icd10gm_neoplasms/train.jsonl\n"),
        encoding="utf-8")
    with pytest.raises(OnkobenchError, match="training split of icd_catalogue_qa.alphaid_icd10gm_neoplasms not found"):
        answers(folder, "alphaid_icd10gm_neoplasms", lookup("train"))


def test_unknown_knowledge_is_refused() -> None:
    with pytest.raises(OnkobenchError, match="options.knowledge must be one of train, catalogue"):
        BaselineRunner(lookup("everything"), REPO_ROOT)


def test_committed_configs_label_the_oracle_and_default_to_the_fair_lookup() -> None:
    from harness.config.models import load_model_config

    for kind in ("exact", "fuzzy"):
        fair, _ = load_model_config(f"catalogue-lookup-{kind}")
        oracle, _ = load_model_config(f"catalogue-oracle-{kind}")
        assert fair.options["knowledge"] == "train" and fair.metadata.weight_type == "baseline"
        assert oracle.options["knowledge"] == "catalogue" and oracle.metadata.weight_type == "oracle"
        assert "answer key" in oracle.display_name


def test_report_labels_protocol_b_tables_with_the_set_kind_and_the_oracle(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "6", "--n-fewshot", "2")
    runs, site = tmp_path / "runs", tmp_path / "site"
    models = []
    for name in ("catalogue-lookup-fuzzy", "catalogue-oracle-exact"):  # the committed configs, on the fixture year
        text = (REPO_ROOT / "leaderboards" / "models" / f"{name}.yaml").read_text(encoding="utf-8")
        (tmp_path / f"{name}.yaml").write_text(text.replace("_year: 2010", "_year: 2097"), encoding="utf-8")
        models += ["--model", str(tmp_path / f"{name}.yaml")]
    result = CliRunner().invoke(main, ["run", "--task", str(folder / "tumour_recognition.yaml"), "--variant", "0", *models,
                                       "--out", str(runs), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((runs / "icd_catalogue_qa.tumour_recognition--0--catalogue-lookup-fuzzy" / "manifest.json")
                          .read_text(encoding="utf-8"))
    assert manifest["dataset"]["set_kind"] == "catalogue recall"
    assert len(manifest["dataset"]["training_split"]["sha256"]) == 64
    assert CliRunner().invoke(main, ["report", str(runs), "--out", str(site)]).exit_code == 0
    page = next(site.rglob("icd_catalogue_qa.tumour_recognition*.html")).read_text(encoding="utf-8")
    assert '<span class="tag set-kind">catalogue recall</span>' in page
    assert ">oracle</span>" in page and "knows the answer key" in page


def test_manifest_lookup_check_equals_the_fair_fuzzy_baseline(tmp_path: Path) -> None:
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "8", "--n-fewshot", "2", "--seed", "2")
    manifest = json.loads((folder / "generated" / "manifest.json").read_text(encoding="utf-8"))
    for set_name, gold_field in (("alphaid_icd10gm_neoplasms", "icd10gm_code"), ("tumour_recognition", "is_tumour"),
                                 ("alphaid_icd10gm_neoplasms_clinical", "icd10gm_code")):
        got = answers(folder, set_name, lookup("train", fuzzy=True))
        gold = {r["text"]: r[gold_field] for r in read_jsonl(folder / "generated" / set_name / "test.jsonl")}
        share = round(sum(got[text] == answer for text, answer in gold.items()) / len(gold), 4)
        assert manifest["sets"][set_name]["lookup"]["fair_fuzzy"] == share, set_name


def test_topography_oracle_answers_the_codable_code_not_a_category_heading(tmp_path: Path) -> None:
    # "Prostata" is the text of the heading C61 and of the code C61.9: the oracle knows the codable one
    folder = task_folder_with_sets(tmp_path, *LABEL_RULE_YEARS, "--n-test", "100", "--n-fewshot", "0")
    test = {r["text"]: r["icdo3_topography_code"] for r in read_jsonl(folder / "generated" / "icdo3_topography" / "test.jsonl")}
    oracle = answers(folder, "icdo3_topography", lookup("catalogue"))
    assert test["Prostata"] == "C61.9" and oracle["Prostata"] == "C61.9"
    assert oracle == test

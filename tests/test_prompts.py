from __future__ import annotations

from pathlib import Path

import pytest

from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.prompts import PromptRenderer, build_requests
from harness.pipeline.chains import ChainSource, chained_data
from harness.config.tasks import load_all_tasks, load_task_file

from support.files import CATALOGUE_FIXTURES, REPO_ROOT, write_jsonl

IDENTITY = {"name": "m", "runner": "vllm", "model_id": "x", "revision": "r"}


def model(**changes: object):
    """The model config the requests are built for (its identity is part of every request key)."""
    from harness.config.models import ModelConfig

    return ModelConfig.model_validate({**IDENTITY, **changes})


def test_few_shot_turns_are_prior_chat_turns(mini_task_file: Path) -> None:
    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    requests = build_requests(task, task.variant("two-shot"), data.samples, model())
    messages = requests[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "ICD-10-GM-Code für: Harnblasenkarzinom am Dach"
    assert messages[2]["content"] == "C67.1"
    assert messages[4]["content"] == "C62.9"
    assert messages[-1]["content"] == "ICD-10-GM-Code für: Prostatakarzinom"
    assert requests[0].shot_ids == ("s1", "s2")
    assert requests[0].sampling.max_tokens == 12


def test_requests_are_deterministic_and_keyed_by_model(mini_task_file: Path) -> None:
    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    a = build_requests(task, task.variant("zero"), data.samples, model())
    b = build_requests(task, task.variant("zero"), data.samples, model())
    c = build_requests(task, task.variant("zero"), data.samples, model(revision="other"))
    assert [r.key for r in a] == [r.key for r in b]
    assert len({r.key for r in a}) == len(a)
    assert all(x.key != y.key for x, y in zip(a, c))


def test_random_shots_are_seeded(mini_task_file: Path) -> None:
    text = mini_task_file.read_text(encoding="utf-8").replace("k: 2}", "k: 2, sampler: random, seed: 3}")
    mini_task_file.write_text(text, encoding="utf-8")
    task = load_task_file(mini_task_file)
    first = PromptRenderer(task, task.variant("two-shot")).shots
    again = PromptRenderer(task, task.variant("two-shot")).shots
    assert first == again and len(first) == 2
    picks = set()
    for seed in range(8):  # the seed decides: other seeds pick other examples
        mini_task_file.write_text(text.replace("seed: 3", f"seed: {seed}"), encoding="utf-8")
        task = load_task_file(mini_task_file)
        picks.add(tuple(shot["id"] for shot in PromptRenderer(task, task.variant("two-shot")).shots))
    assert len(picks) > 1


def test_prompt_pack_overrides_templates(mini_task_file: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack" / "prompts"
    pack.mkdir(parents=True)
    (pack / "question.j2").write_text("Code? {{ sample.text }}", encoding="utf-8")
    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    variant = task.variant("zero")
    requests = build_requests(task, variant, data.samples, model(), PromptRenderer(task, variant, tmp_path / "pack"))
    assert requests[0].messages[0]["content"] == "Code? Prostatakarzinom"


def test_undefined_template_variable_is_named(mini_task_file: Path) -> None:
    (mini_task_file.parent / "prompts" / "question.j2").write_text("{{ sample.missing }}", encoding="utf-8")
    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    with pytest.raises(OnkobenchError, match="template 'prompts/question.j2', sample a"):
        build_requests(task, task.variant("zero"), data.samples, model())


def test_template_hash_follows_includes(tmp_path: Path) -> None:
    import shutil

    family = tmp_path / "demo"
    shutil.copytree(REPO_ROOT / "tasks" / "demo", family)
    task = load_task_file(family / "tumour_detection.yaml")
    before = PromptRenderer(task, task.variant("0")).template_hash()
    rules = family / "prompts" / "detection_rules.j2"  # only included, never named by the task
    rules.write_text(rules.read_text(encoding="utf-8") + "\nEine Regel mehr.", encoding="utf-8")
    assert PromptRenderer(task, task.variant("0")).template_hash() != before


SYNTHETIC_SNIPPETS = REPO_ROOT / "tasks" / "demo" / "data" / "snippets.jsonl"
ICDOPS_LIKE = [{"question": "ICD-10-GM-Code für Prostatakarzinom?", "answer": "C61"}]


@pytest.fixture(scope="module")
def catalogue_family(tmp_path_factory):
    """A copy of tasks/icd_catalogue_qa whose generated/ sets come from the hand-written catalogue fixtures."""
    import shutil

    from harness.families.catalogue_qa.build import build_catalogue_tasks

    folder = tmp_path_factory.mktemp("tasks") / "icd_catalogue_qa"
    shutil.copytree(REPO_ROOT / "tasks" / "icd_catalogue_qa", folder, ignore=shutil.ignore_patterns("generated"))
    build_catalogue_tasks(folder / "generated", CATALOGUE_FIXTURES, 2099, 2099, 2099, 2099, n_test=6, n_fewshot=4)
    return folder


def shipped_task_data(task, catalogue_family, tmp_path):
    """The task's own data; synthetic snippets for the gated UroLlmEvalSet; built sets for catalogue tasks."""
    if task.family == "icd_catalogue_qa":
        return task.model_copy(update={"folder": catalogue_family}), None
    if task.family == "icdops_qa":
        return task, load_task_data(task, write_jsonl(tmp_path / "icdops.jsonl", ICDOPS_LIKE))
    if task.dataset.path is not None:
        return task, load_task_data(task)
    return task, load_task_data(task, SYNTHETIC_SNIPPETS)


@pytest.mark.parametrize("name", sorted(load_all_tasks()))
def test_every_shipped_variant_renders(name: str, catalogue_family, tmp_path) -> None:
    task, base = shipped_task_data(load_all_tasks()[name], catalogue_family, tmp_path)
    base = base or load_task_data(task)
    for variant in task.variants.values():
        data = chained_data(task, variant, base, ChainSource(None)) if task.upstream else base
        requests = build_requests(task, variant, data.samples[:6], model())
        sent = [r for r in requests if r.skip_answer is None]
        assert sent, variant.name
        for request in sent:
            assert request.messages[-1]["role"] == "user"
            assert all(m["content"] and m["content"] == m["content"].strip() for m in request.messages)
            assert data.by_id[request.sample_id].fields["text"] in request.messages[-1]["content"] or task.upstream

from __future__ import annotations

import json
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


# Turns that read no sample (example turns, a fixed system or setup turn) render once per variant.

def count_renders(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts: dict[str, int] = {}
    render = PromptRenderer._render

    def counting(self, ref, context, sample_id):
        counts[ref] = counts.get(ref, 0) + 1
        return render(self, ref, context, sample_id)

    monkeypatch.setattr(PromptRenderer, "_render", counting)
    return counts


def test_turns_that_read_no_sample_render_once_per_variant(mini_task_file: Path, monkeypatch) -> None:
    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    counts = count_renders(monkeypatch)
    requests = build_requests(task, task.variant("two-shot"), data.samples, model())
    # 5 samples; the system turn once, each of the 2 examples' question and answer once, the question per sample
    # (every turn for every sample: 5 x (1 + 2 x 2 + 1) = 30 renders)
    assert counts == {"Du bist Kodierer.": 1, "{{ shot.answer }}": 2, "prompts/question.j2": 2 + 5}
    assert [r.messages[-1]["content"] for r in requests] == [f"ICD-10-GM-Code für: {s.fields['text']}" for s in data.samples]
    assert all(r.messages[1:5] == requests[0].messages[1:5] for r in requests)
    assert requests[0].messages[1] is not requests[1].messages[1]  # each request owns its message dicts


@pytest.mark.parametrize("answer_turn, include", [
    ("'{{ shot.answer }} ({{ sample.text }})'", ""),
    ("prompts/answer.j2", "{% include 'prompts/rule.j2' %}"),  # read in an included file
    ("'{% set q = namespace(t=shot) %}{% set q.t = sample %}{{ shot.answer }} ({{ q.t.text }})'", ""),
])
def test_an_example_turn_that_reads_the_sample_renders_per_sample(mini_task_file: Path, answer_turn: str,
                                                                 include: str) -> None:
    prompts = mini_task_file.parent / "prompts"
    (prompts / "answer.j2").write_text("{{ shot.answer }} " + include, encoding="utf-8")
    (prompts / "rule.j2").write_text("({{ sample.text }})", encoding="utf-8")
    text = mini_task_file.read_text(encoding="utf-8").replace('"{{ shot.answer }}"', answer_turn)
    mini_task_file.write_text(text, encoding="utf-8")
    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    requests = build_requests(task, task.variant("two-shot"), data.samples, model())
    for request, sample in zip(requests, data.samples):
        assert request.messages[2]["content"].endswith(f"({sample.fields['text']})")


def test_a_random_filter_in_an_example_turn_is_never_reused(mini_task_file: Path) -> None:
    task = load_task_file(mini_task_file)
    renderer = PromptRenderer(task, task.variant("two-shot"))
    assert renderer.reads_only_task_level("{{ shot.answer }}", True)
    assert not renderer.reads_only_task_level("{{ shot.answer }}{{ ['', ' ']|random }}", True)
    assert not renderer.reads_only_task_level("{{ shot.answer }}{{ lipsum(1) }}", True)
    assert not renderer.reads_only_task_level("{% include shot.file %}", True)  # a name built at render time


def test_an_error_in_a_reused_turn_names_the_first_sample(mini_task_file: Path) -> None:
    text = mini_task_file.read_text(encoding="utf-8").replace('"{{ shot.answer }}"', '"{{ shot.missing }}"')
    mini_task_file.write_text(text, encoding="utf-8")
    task = load_task_file(mini_task_file)
    with pytest.raises(OnkobenchError, match=r"template '\{\{ shot.missing \}\}', sample a: .*missing"):
        build_requests(task, task.variant("two-shot"), load_task_data(task).samples, model())


def rendered_both_ways(task, variant, samples, renderer_args=(), monkeypatch=None):
    """(messages with turns reused, messages with every turn rendered for every sample, turns reused)."""
    from harness.runners.completion import CompletionFormat

    reused = PromptRenderer(task, variant, *renderer_args)
    fast = build_requests(task, variant, samples, model(), reused)
    with monkeypatch.context() as patch:
        patch.setattr(PromptRenderer, "reads_only_task_level", lambda self, ref, in_example: False)
        slow = build_requests(task, variant, samples, model(), PromptRenderer(task, variant, *renderer_args))
    completion = CompletionFormat()
    assert [r.key for r in fast] == [r.key for r in slow]
    for a, b in zip(fast, slow):
        assert json.dumps(a.messages, ensure_ascii=False) == json.dumps(b.messages, ensure_ascii=False)
        assert completion.render(a.messages) == completion.render(b.messages)
    return len(reused._fixed_turns)


def assert_variants_render_the_same(task, base, monkeypatch, renderer_args=()) -> None:
    for variant in task.variants.values():
        data = chained_data(task, variant, base, ChainSource(None)) if task.upstream else base
        reused = rendered_both_ways(task, variant, data.samples, renderer_args, monkeypatch)
        if variant.shots is not None:  # every shipped example turn reads no sample
            assert reused >= 2 * variant.shots.k, variant.name


@pytest.mark.parametrize("name", sorted(load_all_tasks()))
def test_reused_turns_give_the_same_messages_for_every_shipped_variant(name: str, catalogue_family, tmp_path,
                                                                      monkeypatch) -> None:
    task, base = shipped_task_data(load_all_tasks()[name], catalogue_family, tmp_path)
    assert_variants_render_the_same(task, base or load_task_data(task), monkeypatch)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_reused_turns_give_the_same_messages_with_an_imported_study_pack(step: int, study_pack: Path, monkeypatch) -> None:
    from harness.config.prompt_packs import apply_prompt_pack

    task = apply_prompt_pack(load_all_tasks()[f"urollmeval.step{step}"], study_pack)
    assert_variants_render_the_same(task, load_task_data(task, SYNTHETIC_SNIPPETS), monkeypatch, (study_pack,))


@pytest.fixture(scope="module")
def study_pack(tmp_path_factory) -> Path:
    """The prompt pack imported from the stand-in of the study's code."""
    from harness.families.urollmeval.prompt_import import import_urollmeval

    from support.files import FIXTURES

    folder = tmp_path_factory.mktemp("pack") / "fake-study"
    import_urollmeval(FIXTURES / "fake_urollmeval", folder)
    return folder

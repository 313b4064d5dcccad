"""Hostile templates (issue #14, "Trust"): a task, prompt pack, chat template or exported lm-eval task runs
no code, and no template reads a file outside the allowed folders. Every refusal is one line (exit 2)
naming the template and its line or path, on ``run`` and on ``validate``."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.config.tasks import default_tasks_dir, load_task_file, task_files
from harness.errors import OnkobenchError
from harness.records import Request, Sampling

BASELINE = "baseline-lexicon-exact"
"""A model that needs no weights; the prompts are rendered for it all the same (they are part of the key)."""


def code(marker: Path) -> str:
    """A Jinja expression that creates ``marker`` if plain Jinja ever evaluates it."""
    return f"cycler.__init__.__globals__.os.system('touch {marker}')"


def hidden_code(marker: Path) -> str:
    """The same, with the dunder names built at render time: only the sandbox can stop it."""
    return f"(cycler|attr('__in' ~ 'it__')|attr('__glo' ~ 'bals__'))['os'].system('touch {marker}')"


def write_task(folder: Path, variants: dict, name: str = "attack") -> Path:
    spec = {
        "name": f"mini.{name}",
        "dataset": {"path": "data/diagnoses.jsonl", "id_field": "id", "synthetic": True},
        "target": "code",
        "answer_kind": "icd10gm_code",
        "parser": {"name": "code", "options": {"pattern": "([A-Z][0-9]{2})"}},
        "scorer": {"name": "code_match"},
        "metrics": ["accuracy"],
        "primary_metric": "accuracy",
        "generation": {"max_tokens": 8},
        "variants": variants,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def run(task_file: Path, variant: str, out: Path, *extra: str):
    return CliRunner().invoke(main, ["run", "--task", str(task_file), "--variant", variant, "--model", BASELINE,
                                     "--out", str(out), "--no-progress", *extra])


def validate(path: Path):
    return CliRunner().invoke(main, ["validate", str(path)])


def one_line_error(result, *parts: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def validate_errors(result, *parts: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    problems = [line for line in result.output.strip().splitlines() if not line.startswith("error:")]
    assert problems, result.output
    for part in parts:
        assert any(part in line for line in problems), result.output
    return "\n".join(problems)


# -- 1. code execution ---------------------------------------------------------------------------------


def _attack_variant(case: str, folder: Path, marker: Path) -> tuple[dict, tuple[str, ...]]:
    """A variant that runs code under plain Jinja, and the parts its refusal must name."""
    prompts = folder / "prompts"
    if case == "inline turn":
        return {"turns": [{"user": "{{ " + code(marker) + " }}"}]}, ("inline template", "line 1", "__globals__")
    if case == "turn file":
        (prompts / "evil.j2").write_text("Frage:\n{{ " + code(marker) + " }}\n", encoding="utf-8")
        return {"turns": [{"user": "prompts/evil.j2"}]}, ("evil.j2 line 2", "__globals__")
    if case == "hidden in an included file":
        (prompts / "wrap.j2").write_text("Frage:\n{% include 'prompts/evil.j2' %}", encoding="utf-8")
        (prompts / "evil.j2").write_text("eins\nzwei\n{{ " + hidden_code(marker) + " }}", encoding="utf-8")
        return {"turns": [{"user": "prompts/wrap.j2"}]}, ("evil.j2 line 3", "unsafe")
    if case == "skip_when_empty":
        return ({"turns": [{"user": "prompts/question.j2"}], "skip_when_empty": code(marker) + " == 0"},
                ("skip_when_empty", "__globals__"))
    raise AssertionError(case)


CASES = ["inline turn", "turn file", "hidden in an included file", "skip_when_empty"]


@pytest.mark.parametrize("case", CASES)
def test_code_in_a_task_template_never_runs_on_run(case: str, mini_tasks: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = mini_tasks / "mini"
    variant, parts = _attack_variant(case, folder, marker)
    result = run(write_task(folder, {"evil": variant}), "evil", tmp_path / "runs")
    one_line_error(result, "mini.attack variant evil", *parts)
    assert not marker.exists()


@pytest.mark.parametrize("case", CASES)
def test_validate_refuses_code_in_a_task_template(case: str, mini_tasks: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = mini_tasks / "mini"
    variant, parts = _attack_variant(case, folder, marker)
    task_file = write_task(folder, {"evil": variant, "fine": {"turns": [{"user": "prompts/question.j2"}]}})
    problems = validate_errors(validate(task_file), str(task_file), "variant evil", *parts)
    assert "variant fine" not in problems
    assert not marker.exists()


def test_validate_renders_each_variant_on_the_first_samples(mini_tasks: Path, tmp_path: Path) -> None:
    """A refusal that only rendering finds: the names are built at render time, and only for sample a."""
    marker = tmp_path / "PWNED"
    folder = mini_tasks / "mini"
    (folder / "prompts" / "evil.j2").write_text(
        "{% if sample.id == 'a' %}\n{{ " + hidden_code(marker) + " }}\n{% endif %}{{ sample.text }}", encoding="utf-8")
    task_file = write_task(folder, {"evil": {"turns": [{"user": "prompts/evil.j2"}]}})
    validate_errors(validate(task_file), "evil.j2 line 2", "sample a", "unsafe")
    assert not marker.exists()


def test_a_prompt_pack_renders_in_the_sandbox(mini_tasks: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    task_file = write_task(mini_tasks / "mini", {"zero": {"turns": [{"user": "prompts/question.j2"}]}})
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "mini.attack.yaml").write_text(yaml.safe_dump(
        {"variants": {"zero": {"turns": [{"user": "prompts/pack.j2"}]}}}), encoding="utf-8")
    (pack / "prompts").mkdir()
    (pack / "prompts" / "pack.j2").write_text("{{ " + hidden_code(marker) + " }}", encoding="utf-8")
    result = run(task_file, "zero", tmp_path / "runs", "--prompts", str(pack))
    one_line_error(result, "pack.j2 line 1", "unsafe")
    assert not marker.exists()


def test_prompt_import_keeps_the_builders_text_inert(tmp_path: Path) -> None:
    """A study message that closes the raw block in another spelling (``{%endraw%}``) would run as Jinja
    when the import checks its templates; it is left out, and the check renders in the sandbox anyway."""
    from harness.families.urollmeval.prompt_import import _probe_args, _render, _turns_for

    marker = tmp_path / "PWNED"
    payload = "{%endraw%}{{ " + code(marker) + " }}{%raw%}"
    probes = _probe_args(1)
    runs = [[{"role": "user", "content": f"Text {payload} {args[0]}"}] for args in probes]
    turns, note = _turns_for(1, "zero-shot", runs, probes)
    assert turns is None and "endraw" in note
    assert not marker.exists()
    with pytest.raises(Exception, match="unsafe"):
        _render([{"role": "user", "template": "{{ " + code(marker) + " }}"}], {})
    assert not marker.exists()


@pytest.mark.parametrize("tags", ["{% endraw %}{{ CODE }}{% raw %}", "{%- endraw -%}{{ CODE }} {# x #} {%raw%}"])
def test_lmeval_description_stays_text_in_lm_eval(tags: str, mini_tasks: Path, tmp_path: Path) -> None:
    """lm-eval renders the exported description with plain Jinja: a system text that holds Jinja tags of
    its own (here made by a harmless template) must come out as that text, never run."""
    from lm_eval.utils import apply_template

    from harness.data import load_task_data
    from harness.lmeval.export import export_lmeval

    marker = tmp_path / "PWNED"
    system = "Du bist Kodierer. " + tags.replace("CODE", code(marker)) + " Ende"
    task_file = write_task(mini_tasks / "mini", {"zero": {"turns": [
        {"system": "{{ " + json.dumps(system) + " }}"}, {"user": "prompts/question.j2"}]}})
    task = load_task_file(task_file)
    export = export_lmeval(task, "zero", load_task_data(task), tmp_path / "lm")
    description = yaml.safe_load(export.yaml_path.read_text(encoding="utf-8").replace("!function", ""))["description"]
    assert apply_template(description, {}) == system
    assert not marker.exists()


def test_lmeval_utils_module_holds_no_task_text(mini_tasks: Path, tmp_path: Path) -> None:
    """The exported ``*_utils.py`` is imported by lm-eval: a variant name must not be able to add code to it."""
    from harness.data import load_task_data
    from harness.lmeval.export import export_lmeval

    evil = 'x"""\nimport os\nos.system("touch PWNED")\n"""'
    task_file = write_task(mini_tasks / "mini", {evil: {"turns": [{"user": "prompts/question.j2"}]}})
    task = load_task_file(task_file)
    export = export_lmeval(task, evil, load_task_data(task), tmp_path / "lm")
    module = ast.parse(next(export.folder.glob("*_utils.py")).read_text(encoding="utf-8"))
    imports = [node for node in module.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [getattr(node, "module", None) for node in imports] == ["pathlib", "harness.lmeval.bridge"]
    calls = [node for node in module.body if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant)]
    assert calls == [] and "PWNED" not in ast.unparse(module)


# -- chat templates: transformers renders them in its own sandbox; ours are checked before the model loads


def _transformers_config(tmp_path: Path, template: str):
    from harness.config.models import ModelConfig

    (tmp_path / "chat.jinja").write_text(template, encoding="utf-8")
    return ModelConfig.model_validate({"name": "evil-chat", "runner": "transformers", "model_id": "org/never-loaded",
                                       "revision": "0" * 40, "chat_template": "chat.jinja"})


def test_contributed_chat_template_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from harness.runners.transformers import TransformersRunner

    marker = tmp_path / "PWNED"
    config = _transformers_config(tmp_path, "{% for m in messages %}{{ m['content'] }}{% endfor %}\n{{ " + code(marker) + " }}")
    with pytest.raises(OnkobenchError, match=r"chat\.jinja line 2: .*'__globals__'"):
        TransformersRunner(config, tmp_path)
    assert not marker.exists()


def test_chat_template_refusal_at_render_is_one_line(tmp_path: Path) -> None:
    """transformers renders chat templates in an ImmutableSandboxedEnvironment; the runner turns its refusal
    (and a template's own raise_exception) into one line naming the template."""
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from harness.runners.transformers import TransformersRunner

    marker = tmp_path / "PWNED"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}\n{{ " + hidden_code(marker) + " }}"
    runner = TransformersRunner.__new__(TransformersRunner)  # no weights: only the prompt step is under test
    runner.config = _transformers_config(tmp_path, "unused")
    runner.tokenizer = tokenizer
    runner.chat_template_label = "chat template chat.jinja"
    request = Request(key="k", task="t", variant="v", sample_id="s", messages=({"role": "user", "content": "Hallo"},),
                      sampling=Sampling(max_tokens=4))
    with pytest.raises(OnkobenchError, match=r"model evil-chat: chat template chat\.jinja line 2: .*'__globals__'"):
        runner._prompt(request)
    assert not marker.exists()


def test_vllm_checks_its_chat_template_before_the_engine_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM hands the template to the tokenizer's apply_chat_template (transformers' sandbox); the runner
    refuses it before starting the engine. vLLM is not installed here: a stand-in fails if the engine starts."""
    import sys
    import types

    from harness.config.models import ModelConfig
    from harness.runners.vllm import VLLMRunner

    def engine(**kwargs):
        raise AssertionError("the engine started with a refused chat template")

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=engine))
    (tmp_path / "chat.jinja").write_text("{% for m in messages %}{{ m.__class__ }}{% endfor %}", encoding="utf-8")
    config = ModelConfig.model_validate({"name": "evil-chat", "runner": "vllm", "model_id": "org/never-loaded",
                                         "revision": "0" * 40, "chat_template": "chat.jinja"})
    with pytest.raises(OnkobenchError, match=r"chat\.jinja line 1: '__class__' refused"):
        VLLMRunner(config, tmp_path)


# -- 2. template files confined to the allowed folders -------------------------------------------------


SECRET = "GEHEIM-4711"


def _escape(folder: Path, how: str, secret: Path) -> tuple[dict, str]:
    """A variant whose prompt would carry ``secret``, and the template its refusal names."""
    prompts = folder / "prompts"
    if how == "symlinked turn file":
        (prompts / "leak.j2").symlink_to(secret)
        return {"turns": [{"user": "prompts/leak.j2"}]}, "prompts/leak.j2"
    (prompts / "rules.j2").symlink_to(secret)
    tag = {"symlinked include": "{% include 'prompts/rules.j2' %}",
           "symlinked import": "{% import 'prompts/rules.j2' as rules %}{{ rules }}",
           "symlinked extends": "{% extends 'prompts/rules.j2' %}"}[how]
    (prompts / "wrap.j2").write_text("Frage: {{ sample.text }}\n" + tag, encoding="utf-8")
    return {"turns": [{"user": "prompts/wrap.j2"}]}, "prompts/rules.j2"


ESCAPES = ["symlinked turn file", "symlinked include", "symlinked import", "symlinked extends"]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "id_rsa"
    path.parent.mkdir()
    path.write_text(SECRET, encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ESCAPES)
def test_template_outside_the_allowed_folders_is_refused_on_run(how: str, mini_tasks: Path, tmp_path: Path,
                                                                 secret: Path) -> None:
    variant, template = _escape(mini_tasks / "mini", how, secret)
    out = tmp_path / "runs"
    result = run(write_task(mini_tasks / "mini", {"leak": variant}), "leak", out)
    one_line_error(result, repr(template), str(secret), "outside the allowed folders")
    assert SECRET not in result.output
    assert not any(SECRET in p.read_text(encoding="utf-8", errors="ignore") for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("how", ESCAPES)
def test_template_outside_the_allowed_folders_is_refused_by_validate(how: str, mini_tasks: Path, secret: Path) -> None:
    variant, template = _escape(mini_tasks / "mini", how, secret)
    task_file = write_task(mini_tasks / "mini", {"leak": variant})
    problems = validate_errors(validate(task_file), str(task_file), repr(template), str(secret))
    assert SECRET not in problems


def test_dotdot_include_is_one_line_not_a_traceback(mini_tasks: Path, tmp_path: Path, secret: Path) -> None:
    folder = mini_tasks / "mini"
    (folder / "prompts" / "wrap.j2").write_text("{% include '../../../outside/id_rsa' %}", encoding="utf-8")
    task_file = write_task(folder, {"leak": {"turns": [{"user": "prompts/wrap.j2"}]}})
    one_line_error(run(task_file, "leak", tmp_path / "runs"), "'../../../outside/id_rsa'", "'..' leaves")
    validate_errors(validate(task_file), "'../../../outside/id_rsa'", "'..' leaves")


def test_an_allowed_folder_may_be_added(mini_tasks: Path, tmp_path: Path, secret: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.data import load_task_data
    from harness.prompts import PromptRenderer

    variant, _ = _escape(mini_tasks / "mini", "symlinked include", secret)
    monkeypatch.setenv("ONKOBENCH_ALLOWED_PATHS", str(secret.parent))
    task = load_task_file(write_task(mini_tasks / "mini", {"shared": variant}))
    sample = load_task_data(task).samples[0]
    assert SECRET in PromptRenderer(task, task.variant("shared")).messages(sample)[0]["content"]


def test_shared_rules_file_in_the_task_folder_is_still_included(mini_tasks: Path, tmp_path: Path) -> None:
    from harness.data import load_task_data
    from harness.prompts import PromptRenderer

    folder = mini_tasks / "mini"
    (folder / "prompts" / "rules.j2").write_text("Regel: nur der Code.", encoding="utf-8")
    (folder / "prompts" / "same_rules.j2").symlink_to(folder / "prompts" / "rules.j2")  # a link that stays inside
    (folder / "prompts" / "ask.j2").write_text(
        "{% include 'prompts/rules.j2' %}\n{% include 'prompts/same_rules.j2' %}\n{{ sample.text }}", encoding="utf-8")
    task_file = write_task(folder, {"zero": {"turns": [{"user": "prompts/ask.j2"}]}})
    assert validate(task_file).exit_code == 0
    task = load_task_file(task_file)
    sample = load_task_data(task).samples[0]
    content = PromptRenderer(task, task.variant("zero")).messages(sample)[0]["content"]
    assert content == f"Regel: nur der Code.\nRegel: nur der Code.\n{sample.fields['text']}"
    result = run(task_file, "zero", tmp_path / "runs")
    assert result.exit_code == 0, result.output


def test_the_repositorys_tasks_all_validate() -> None:
    from harness.validation import check_task

    files = task_files(default_tasks_dir())
    assert files
    assert [line for path in files for line in check_task(path)] == []

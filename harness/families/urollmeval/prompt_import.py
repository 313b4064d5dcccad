"""``onkobench prompts import-urollmeval``: a prompt pack from a local checkout of the UroLlmEval code.

The study's own builders are called in a separate Python process in which pandas, datasets,
scikit-learn, transformers and the other heavy libraries resolve to inert stand-ins, so the step modules
load without them. Each message is turned into a template by putting Jinja variables where probe
strings were passed in, and kept only when it renders, for other probes, exactly what the builder returns.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.errors import OnkobenchError
from harness.provenance import git_state
from harness.config.prompt_packs import pack_file
from harness.templating import ends_raw_block, sandboxed_environment

STEPS = {1: "urollmeval.step1", 2: "urollmeval.step2", 3: "urollmeval.step3"}
DATE_PLACEHOLDER = "[DATE]"
"""The study's verify builders leave this in the last message; one query per candidate date fills it."""

# Runs in the child process: stub heavy modules, import the step modules, call their builders.
_CHILD = r'''
import importlib.abc, importlib.machinery, json, sys, types
HEAVY = {"pandas", "numpy", "datasets", "sklearn", "scipy", "transformers", "torch", "accelerate",
         "bitsandbytes", "peft", "requests", "ollama", "Levenshtein", "rapidfuzz", "huggingface_hub",
         "matplotlib", "plotly", "seaborn", "tqdm", "openai", "vllm"}

class Inert:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return Inert()
    def __getattr__(self, name): return Inert()
    def __iter__(self): return iter(())
    def __bool__(self): return False
    def __mro_entries__(self, bases): return (object,)

class InertModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"): raise AttributeError(name)
        return Inert()

class Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None
    def create_module(self, spec):
        module = InertModule(spec.name); module.__path__ = []; return module
    def exec_module(self, module): pass

sys.meta_path.insert(0, Stubs())
checkout, calls = sys.argv[1], json.loads(sys.stdin.read())
sys.path.insert(0, checkout)
out = {}
for step, probes in calls.items():
    module = __import__(f"run_evaluation_step{step}")
    types_ = list(getattr(module, "PROMPT_TYPES", []))
    results = {}
    for prompt_type in types_:
        runs = []
        for args in probes:
            try:
                value = module.build_query_messages(prompt_type, *args)
            except Exception as err:
                value = {"error": f"{type(err).__name__}: {err}"}
            if not isinstance(value, (list, dict)):
                value = {"error": "the builder returns no messages for it (a non-LLM method?)" if value is None else f"builder returned {type(value).__name__}"}
            runs.append(value)
        results[prompt_type] = runs
    out[step] = {"prompt_types": types_, "results": results}
print(json.dumps(out))
'''


def _call_builders(checkout: Path, probes: dict[int, list[list[str]]]) -> dict[str, Any]:
    for step in STEPS:
        if not (checkout / f"run_evaluation_step{step}.py").exists():
            raise OnkobenchError(f"{checkout}: no run_evaluation_step{step}.py (is this a UroLlmEval checkout?)")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(checkout.resolve())],
        input=json.dumps({str(k): v for k, v in probes.items()}),
        capture_output=True, text=True, cwd=checkout, timeout=300,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise OnkobenchError(f"{checkout}: loading the study's modules failed: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _template(text: str, replacements: dict[str, str]) -> str:
    """Literal text in raw blocks, each probe replaced by its Jinja expression."""
    if ends_raw_block(text):
        # it would close the raw block early and the rest of the message would run as Jinja
        raise ValueError("message contains '{% endraw %}'")
    pieces: list[str] = []
    rest = text
    while rest:
        hits = [(rest.find(probe), probe) for probe in replacements if probe in rest]
        if not hits:
            pieces.append("{% raw %}" + rest + "{% endraw %}")
            break
        index, probe = min(hits)
        if index:
            pieces.append("{% raw %}" + rest[:index] + "{% endraw %}")
        pieces.append(replacements[probe])
        rest = rest[index + len(probe):]
    return "".join(pieces)


def _render(turns: list[dict[str, str]], context: dict[str, Any]) -> list[dict[str, str]]:
    env = sandboxed_environment()  # the same sandbox the templates will run in
    return [{"role": t["role"], "content": env.from_string(t["template"]).render(**context)} for t in turns]


def _probe_sets(step: int) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Builder arguments per probe, and the matching template context."""
    token = secrets.token_hex(4)
    snippets = [f"ONKOSNIPPET{token}A", "Z.n. RPE 03/2019 bei Prostatakarzinom {{ x }} {% y %}\n\"Zeile\" 2 – ÄÖÜ ß\n"]
    diagnoses = [f"ONKODIAGNOSIS{token}A", "Adenokarzinom der Prostata {# z #}"]
    if step == 1:
        return [[s] for s in snippets], [{"sample": {"text": s}} for s in snippets]
    return ([[s, d] for s, d in zip(snippets, diagnoses)],
            [{"sample": {"text": s, "diagnosis": d}} for s, d in zip(snippets, diagnoses)])


def _turns_for(step: int, prompt_type: str, runs: list[Any], probes: list[list[str]]) -> tuple[list[dict[str, str]] | None, str]:
    first, *others = runs
    if isinstance(first, dict):
        return None, f"left out: {first.get('error', 'no messages')}"
    replacements = {probes[0][0]: "{{ sample.text }}"}
    if step > 1:
        replacements[probes[0][1]] = "{{ sample.diagnosis }}"
    verify = prompt_type.endswith("-verify")
    turns = []
    for index, message in enumerate(first):
        content = str(message.get("content", ""))
        try:
            template = _template(content, replacements)
        except ValueError as err:
            return None, f"left out: {err}"
        if verify and index == len(first) - 1:
            template = template.replace(DATE_PLACEHOLDER, "{% endraw %}{{ item.date }}{% raw %}")
        turns.append({"role": str(message.get("role")), "template": template})
    if not any(probe in json.dumps(first) for probe in probes[0]):
        return None, "left out: the builder does not put the snippet into the messages verbatim"
    contexts = _probe_sets(step)[1]
    for run, context, args in zip(others, contexts[1:], probes[1:]):
        if isinstance(run, dict):
            return None, f"left out: {run.get('error')}"
        expected = [{"role": m["role"], "content": m["content"]} for m in run]
        if verify:
            expected[-1]["content"] = expected[-1]["content"].replace(DATE_PLACEHOLDER, "03/2019")
            context = {**context, "item": {"date": "03/2019", "diagnosis": args[1]}}
        if _render(turns, context) != expected:
            return None, "left out: the builder's output depends on the snippet beyond inserting it (e.g. candidate dates)"
    return turns, ""


def import_urollmeval(checkout: Path, out_dir: Path) -> dict[str, dict[str, str]]:
    """Write ``<task>.yaml`` per step into ``out_dir``; returns per task the variants left out and why."""
    probe_args = {step: _probe_sets(step)[0] for step in STEPS}
    results = _call_builders(checkout, probe_args)
    commit, dirty = git_state(checkout)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the study's prompt texts must never be committed: keep git away from the whole pack
    (out_dir / ".gitignore").write_text("*\n", encoding="utf-8")
    report: dict[str, dict[str, str]] = {}
    for step, task_name in STEPS.items():
        step_result = results[str(step)]
        variants: dict[str, Any] = {}
        notes: dict[str, str] = {}
        for prompt_type in step_result["prompt_types"]:
            turns, note = _turns_for(step, prompt_type, step_result["results"][prompt_type], probe_args[step])
            if turns is None:
                notes[prompt_type] = note
            else:
                variants[prompt_type] = {"description": f"imported from the study's builder ({prompt_type})", "turns": turns}
        pack = {
            "source": {"checkout": str(checkout.resolve()), "git_commit": commit, "git_dirty": dirty,
                       "module": f"run_evaluation_step{step}.py"},
            "variants": variants,
            "notes": notes,
        }
        pack_file(out_dir, task_name).write_text(
            "# Imported from a local UroLlmEval checkout: never commit this file.\n"
            + yaml.safe_dump(pack, allow_unicode=True, sort_keys=False, width=1000),
            encoding="utf-8",
        )
        report[task_name] = notes
    return report

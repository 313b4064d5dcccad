"""``onkobench prompts import-urollmeval``: a prompt pack from a local checkout of the UroLlmEval code.

The study's own builders are called in a separate Python process in which pandas, datasets,
scikit-learn, transformers and the other heavy libraries resolve to inert stand-ins, so the step modules
load without them. Each message is turned into a template by putting Jinja variables where probe
strings were passed in (with the ``no_linebreaks`` filter where the builder joined the probe's lines), and a
variant is kept only when its templates render, for every probe, exactly the messages the study sends: for a
verify variant that is the builder's output with the query's date filled into the last message, asked for one
diagnosis of a merged sample.
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
from harness.families.urollmeval.filters import no_linebreaks
from harness.prompts import PROMPT_FILTERS
from harness.templating import ends_raw_block, sandboxed_environment

STEPS = {1: "urollmeval.step1", 2: "urollmeval.step2", 3: "urollmeval.step3"}
DATE_PLACEHOLDER = "[DATE]"
"""The study's verify builders leave this in the last message; one query per candidate date fills it."""
CHECK_DATE = "03/2019"
CHECK_SNIPPETS = (
    'Z.n. RPE 03/2019 bei Prostatakarzinom {{ x }} {% y %}\n"Zeile" 2 – ÄÖÜ ß\nKontrolle [DATE]\n\n\nED [DATE]\n',
    "\nProstatakarzinom [DATE]\n\n",
)
"""Snippets the pack is checked on besides the first probe: Jinja syntax, quotes, umlauts, single and repeated line
breaks at the start, inside and at the end, a literal date placeholder (the study fills it in a verify question's
snippet too)."""
CHECK_DIAGNOSES = ("Adenokarzinom der Prostata {# z #}\nGleason [DATE]\n\n\nrechts\n", "\nProstatakarzinom\n\n")
"""Their diagnoses: over several lines (the study joins them in some prompts; a break at either end shows whether
the joining depends on the text around the diagnosis), with the placeholder."""
OTHER_DIAGNOSIS = "Prostata-Ca (zweite Antwort mit demselben Code)"
"""The first diagnosis of the merged sample a verify variant is checked on; its questions are about the other one."""

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
        hits = [(rest.find(probe), -len(probe), probe) for probe in replacements if probe in rest]
        if not hits:
            pieces.append("{% raw %}" + rest + "{% endraw %}")
            break
        index, _, probe = min(hits)  # the earliest, the longest there
        if index:
            pieces.append("{% raw %}" + rest[:index] + "{% endraw %}")
        pieces.append(replacements[probe])
        rest = rest[index + len(probe):]
    return "".join(pieces)


def _render(turns: list[dict[str, str]], context: dict[str, Any]) -> list[dict[str, str]]:
    env = sandboxed_environment()  # the same sandbox, with the same filters, the templates will run in
    env.filters.update({name: PROMPT_FILTERS.get(name) for name in PROMPT_FILTERS})
    return [{"role": t["role"], "content": env.from_string(t["template"]).render(**context)} for t in turns]


def _is_verify(prompt_type: str) -> bool:
    return prompt_type.endswith("-verify")


def _expressions(step: int, verify: bool) -> list[str]:
    """The Jinja expression of each builder argument, in the builder's order."""
    if step == 1:
        return ["sample.text"]
    # a verify query asks about its own item's diagnosis: a merged sample (step-2 answers of one snippet with the
    # same code) asks each of its questions with the diagnosis text that question came from, as the study does
    return ["sample.text", "item.diagnosis" if verify else "sample.diagnosis"]


def _probe_args(step: int) -> list[list[str]]:
    """Builder arguments per probe. The templates are cut from the first (unique tokens around a line break, so a
    value inserted as it is can be told from one passed through no_linebreaks); every probe checks them."""
    token = secrets.token_hex(4)
    snippets = [f"ONKOSNIPPET{token}A\nONKOSNIPPET{token}B", *CHECK_SNIPPETS]
    if step == 1:
        return [[s] for s in snippets]
    diagnoses = [f"ONKODIAGNOSIS{token}A\nONKODIAGNOSIS{token}B", *CHECK_DIAGNOSES]
    return [[s, d] for s, d in zip(snippets, diagnoses)]


def _check_context(step: int, args: list[str], verify: bool) -> dict[str, Any]:
    """The template context onkobench gives for these builder arguments (a verify query: one of a merged sample)."""
    if step == 1:
        return {"sample": {"text": args[0]}}
    snippet, diagnosis = args
    if not verify:
        return {"sample": {"text": snippet, "diagnosis": diagnosis}}
    return {"sample": {"text": snippet, "diagnosis": OTHER_DIAGNOSIS, "diagnoses": [OTHER_DIAGNOSIS, diagnosis]},
            "item": {"diagnosis": diagnosis, "date": CHECK_DATE}}


def _expected(run: list[dict[str, Any]], verify: bool) -> list[dict[str, str]]:
    """The messages the study sends for one builder output (a verify query: with its date filled in)."""
    messages = [{"role": str(m.get("role")), "content": str(m.get("content", ""))} for m in run]
    if verify and messages:
        messages[-1]["content"] = messages[-1]["content"].replace(DATE_PLACEHOLDER, CHECK_DATE)
    return messages


def check_turns(step: int, prompt_type: str, turns: list[dict[str, str]], runs: list[Any], probes: list[list[str]]) -> str:
    """Empty when ``turns`` render, for every probe, exactly the messages the study sends (``runs``: the builder's
    output per probe); else why the variant is left out."""
    verify = _is_verify(prompt_type)
    for run, args in zip(runs, probes):
        if isinstance(run, dict):
            return f"left out: {run.get('error')}"
        try:
            rendered = _render(turns, _check_context(step, args, verify))
        except Exception as err:  # noqa: BLE001 - any failure to render is a reason to leave the variant out
            return f"left out: its template does not render ({type(err).__name__}: {err})"
        if rendered != _expected(run, verify):
            return "left out: the builder's output depends on the snippet beyond inserting it (e.g. candidate dates)"
    return ""


def _turns_for(step: int, prompt_type: str, runs: list[Any], probes: list[list[str]]) -> tuple[list[dict[str, str]] | None, str]:
    first = runs[0]
    if isinstance(first, dict):
        return None, f"left out: {first.get('error', 'no messages')}"
    verify = _is_verify(prompt_type)
    replacements: dict[str, str] = {}
    for value, expression in zip(probes[0], _expressions(step, verify)):
        replacements[value] = "{{ " + expression + " }}"
        replacements[no_linebreaks(value)] = "{{ " + expression + " | no_linebreaks }}"
    contents = [str(message.get("content", "")) for message in first]
    if not any(value in content for value in replacements for content in contents):
        return None, "left out: the builder does not put the snippet into the messages verbatim"
    turns = []
    for index, (message, content) in enumerate(zip(first, contents)):
        try:
            template = _template(content, replacements)
        except ValueError as err:
            return None, f"left out: {err}"
        if verify and index == len(first) - 1:
            # the study fills the date into the finished last message, wherever the placeholder stands: in its own
            # text, and in a snippet or diagnosis that happens to contain it (run_evaluation_step3.py,
            # change_queries_to_incorporate_dates)
            template = f"{{% filter replace({DATE_PLACEHOLDER!r}, item.date) %}}{template}{{% endfilter %}}"
        turns.append({"role": str(message.get("role")), "template": template})
    note = check_turns(step, prompt_type, turns, runs, probes)
    return (None, note) if note else (turns, "")


def import_urollmeval(checkout: Path, out_dir: Path) -> dict[str, dict[str, str]]:
    """Write ``<task>.yaml`` per step into ``out_dir``; returns per task the variants left out and why."""
    probe_args = {step: _probe_args(step) for step in STEPS}
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

"""Run UroLlmEval's own prompt builders and date search from a local checkout, for the parity tests only.

Used as a script in a child process: ``python urollmeval_study.py CHECKOUT < request.json``. The study's modules
import pandas, datasets, scikit-learn, transformers and an inference client at the top; here those resolve to
inert stand-ins so that only the prompt and text functions run, and ``Levenshtein`` (python-Levenshtein) resolves
to rapidfuzz's implementation of the same distance. Nothing of the study is copied here: its functions are
imported from the checkout named on the command line, and the tests that use this skip without one.

Request: ``{"messages": {"1": [[snippet]], "2": [[snippet, diagnosis]], "3": [[snippet, diagnosis]]},
"fuzzy": [[text, query]]}``. Answer: per step and prompt type the builder's messages per argument list; for a
verify type of step 3, the list of queries the study sends for it (one per date near the diagnosis, the date
filled into the last message); for each fuzzy pair the study's match start and text and its dates within 0, 1, 2
lines (or the error it raises).
"""

from __future__ import annotations

import copy
import importlib.abc
import importlib.machinery
import json
import sys
import types

HEAVY = {"pandas", "numpy", "datasets", "sklearn", "scipy", "transformers", "torch", "accelerate", "bitsandbytes",
         "peft", "requests", "ollama", "huggingface_hub", "matplotlib", "plotly", "seaborn", "tqdm",
         "openai", "vllm"}
VERIFY_MAX_LINE_DIST = 2
"""The study's default line distance for the dates of a verify question."""


class _Inert:
    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Inert:
        return _Inert()

    def __getattr__(self, name: str) -> _Inert:
        return _Inert()

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)


class _InertModule(types.ModuleType):
    def __getattr__(self, name: str) -> _Inert:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name.split(".")[0] in HEAVY:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _InertModule(spec.name)
        module.__path__ = []  # type: ignore[attr-defined]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def _levenshtein_module() -> types.ModuleType:
    from rapidfuzz.distance import Levenshtein

    module = types.ModuleType("Levenshtein")
    module.distance = Levenshtein.distance  # type: ignore[attr-defined]
    return module


def _verify_queries(step3: types.ModuleType, heuristics: types.ModuleType, prompt_type: str, snippet: str,
                    diagnosis: str) -> list[list[dict[str, str]]]:
    """What the study sends for one step-2 answer in a verify variant (its per-row expansion of the dates)."""
    template = step3.build_query_messages(prompt_type, snippet, diagnosis)
    dates = list(dict.fromkeys(heuristics.fuzzy_find_dates(snippet, diagnosis, max_line_dist=VERIFY_MAX_LINE_DIST)))
    queries = []
    for date in dates:
        messages = copy.deepcopy(template)
        messages[-1]["content"] = messages[-1]["content"].replace("[DATE]", date)
        queries.append(messages)
    return queries


def _messages(request: dict[str, list[list[str]]]) -> dict[str, dict[str, list]]:
    heuristics = __import__("find_dates_heuristics")
    out: dict[str, dict[str, list]] = {}
    for step, calls in request.items():
        module = __import__(f"run_evaluation_step{step}")
        by_type: dict[str, list] = {}
        for prompt_type in module.PROMPT_TYPES:
            if step == "3" and prompt_type.endswith("-verify"):
                by_type[prompt_type] = [_verify_queries(module, heuristics, prompt_type, *args) for args in calls]
            else:
                by_type[prompt_type] = [module.build_query_messages(prompt_type, *args) for args in calls]
        out[step] = by_type
    return out


def _fuzzy(pairs: list[list[str]]) -> list[dict[str, object]]:
    heuristics = __import__("find_dates_heuristics")
    results: list[dict[str, object]] = []
    for text, query in pairs:
        try:
            start, match = heuristics.fuzzy_find(text, query)
            dates = [heuristics.fuzzy_find_dates(text, query, distance) for distance in (0, 1, 2)]
            results.append({"start": start, "match": match, "dates": dates})
        except ValueError as err:
            results.append({"error": str(err)})
    return results


def main() -> None:
    checkout = sys.argv[1]
    sys.meta_path.insert(0, _Stubs())
    sys.modules["Levenshtein"] = _levenshtein_module()
    sys.path.insert(0, checkout)
    request = json.loads(sys.stdin.read())
    answer = {"messages": _messages(request.get("messages", {})), "fuzzy": _fuzzy(request.get("fuzzy", []))}
    print(json.dumps(answer, ensure_ascii=False))


if __name__ == "__main__":
    main()

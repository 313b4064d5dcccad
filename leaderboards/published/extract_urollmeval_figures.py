"""Write leaderboards/published/urollmeval.yaml from the data embedded in UroLlmEval's supplementary figures.

Usage (from the repository root):

    python leaderboards/published/extract_urollmeval_figures.py PATH [--out FILE]

PATH is a checkout of stefan-m-lenz/UroLlmEval (the figures are in ``docs/supplementary_files``) or a folder
holding ``Figure S1.html``, ``Figure S2.html`` and ``Figure S3.html``. ``--out`` defaults to the committed
``urollmeval.yaml`` beside this script; the output depends only on the three files, so a rerun on the same
figures gives the same bytes (``tests/test_published_urollmeval.py`` checks that when ``UROLLMEVAL_REPO`` is set).

What it reads: each figure page embeds its chart data as one JSON object (``preparedData``): one record per model
and prompt variant, named by the study's result file (``step3_<model>__<variant>_step2_<model>__<variant>_...``,
an empty model meaning "the model of the step that builds on it"), plus, in Figure S3, the regex baseline on the
overall-best chain. Only the numbers are taken: the records' text columns quote the private data set (model
answers) and are never read. Every chain is classified and checked against the figures themselves (see
``classify_chains``); anything unexpected stops the script with the figure and record named.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "urollmeval.yaml"
FIGURE_FOLDER = Path("docs") / "supplementary_files"
FIGURES = {1: "Figure S1.html", 2: "Figure S2.html", 3: "Figure S3.html"}
DATA_MARKER = "const preparedData = "

# The study's model ids as they appear in its result names ("org_name"), in the figures' order, with the label the
# leaderboard shows, the hub id and the onkobench model configs (leaderboards/models) that run the same weights.
# meta-llama renamed Meta-Llama-3.1-8B-Instruct to Llama-3.1-8B-Instruct on the hub; the weights are the same.
STUDY_MODELS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "meta-llama_Llama-3.2-1B-Instruct": ("Llama 3.2 1B", "meta-llama/Llama-3.2-1B-Instruct", ()),
    "utter-project_EuroLLM-1.7B-Instruct": ("EuroLLM 1.7B", "utter-project/EuroLLM-1.7B-Instruct", ()),
    "meta-llama_Llama-3.2-3B-Instruct": ("Llama 3.2 3B", "meta-llama/Llama-3.2-3B-Instruct", ()),
    "LeoLM_leo-hessianai-7b-chat": ("LeoLM 7B chat", "LeoLM/leo-hessianai-7b-chat", ()),
    "BioMistral_BioMistral-7B": ("BioMistral 7B", "BioMistral/BioMistral-7B", ()),
    "mistralai_Mistral-7B-Instruct-v0.3": ("Mistral 7B v0.3", "mistralai/Mistral-7B-Instruct-v0.3", ()),
    "meta-llama_Meta-Llama-3.1-8B-Instruct": (
        "Llama 3.1 8B", "meta-llama/Meta-Llama-3.1-8B-Instruct", ("llama-3.1-8b-instruct",)),
    "VAGOsolutions_Llama-3.1-SauerkrautLM-8b-Instruct": (
        "SauerkrautLM 8B", "VAGOsolutions/Llama-3.1-SauerkrautLM-8b-Instruct", ()),
    "mistralai_Mistral-Nemo-Instruct-2407": ("Mistral NeMo 12B", "mistralai/Mistral-Nemo-Instruct-2407", ()),
    "mistralai_Mixtral-8x7B-Instruct-v0.1": ("Mixtral 8x7B", "mistralai/Mixtral-8x7B-Instruct-v0.1", ()),
    "meta-llama_Meta-Llama-3.1-70B-Instruct": ("Llama 3.1 70B", "meta-llama/Meta-Llama-3.1-70B-Instruct", ()),
}

# The study's regex baseline is one "model" whose prompt variants are the three heuristics; in onkobench each
# heuristic is a model config of its own and has no prompt variant.
BASELINE = "levenshtein-regex"
BASELINE_MODELS: dict[str, str] = {
    "regex-match-same-line": "Levenshtein + regex (same-line)",
    "regex-match-line-dist-1": "Levenshtein + regex (line-dist-1)",
    "regex-match-line-dist-2": "Levenshtein + regex (line-dist-2)",
}


@dataclass(frozen=True)
class Step:
    task: str
    primary: str
    secondary: dict[str, str]
    """The figure's column -> onkobench's metric name, in the task's metric order."""
    variants: tuple[str, ...]
    """The task's variants, in their order (the study's names are onkobench's)."""


STEPS = {
    1: Step("urollmeval.step1", "p_correct_total",
            {"p_na": "p_na", "precision": "urollmeval_precision", "recall": "urollmeval_recall",
             "f1": "urollmeval_f1", "specificity": "specificity"},
            ("0", "2-uro", "4-uro", "6-uro", "2-gyn", "4-gyn", "6-gyn")),
    2: Step("urollmeval.step2", "p_snippets_correct",
            {"p_potentially_correct_diagnoses": "p_potentially_correct_diagnoses", "p_na": "p_na",
             "p_C77_79": "p_C77_79",
             "p_all_diagnoses_found_in_snippets_with_diagnoses": "p_all_diagnoses_found_in_snippets_with_diagnoses",
             "p_no_other_diagnoses_found_for_snippet": "p_no_other_diagnoses_found_for_snippet"},
            ("0-uro", "0-gyn", "0-uro-ctx", "0-gyn-ctx", "2-uro", "2-gyn", "2-uro-ctx", "2-gyn-ctx")),
    3: Step("urollmeval.step3", "p_correct_total", {"p_correct": "p_correct", "p_na": "p_na"},
            ("0", "3", "0-dates", "3-dates", "0-verify", "4-verify")),
}

# Columns of a record that are not a metric: the record's name and its parts, the CSV index, a count that is
# p_correct_total x 149, and the text columns, which quote the private data (never read, never written).
IGNORED_COLUMNS = frozenset({"results_file", "model", "prompt_type", "step", "Unnamed: 0", "model_prev_step",
                             "n_correct_total", "na_values", "other_diagnoses", "wrong_results"})

# "step<N>[_<model>]__<variant>[_<upstream result name>]"; the model (with its underscore) is left out where it is
# the model of the step that builds on it
_RESULT_NAME = re.compile(r"step(?P<step>[1-3])(?:_(?P<model>[^_].*?))?__(?P<variant>[^_]+)(?:_(?P<rest>step[1-3].*))?")


class FigureError(ValueError):
    """A figure does not look as this script expects (named in the message)."""


@dataclass(frozen=True)
class Result:
    """One (step, model, variant) link of a study result name; ``model`` is the study's id."""

    step: int
    model: str
    variant: str


def parse_result_name(name: str) -> list[Result]:
    """``step3_M__v_step2__w_step1_N__x`` -> [step 3 (M, v), step 2 (M, w), step 1 (N, x)]: a step without a model
    name used the model of the step that builds on it (the study names only the model that changes)."""
    links: list[Result] = []
    rest: str | None = name
    while rest:
        match = _RESULT_NAME.fullmatch(rest)
        if match is None:
            raise FigureError(f"result name {name!r}: cannot read {rest!r}")
        step = int(match["step"])
        if links and step != links[-1].step - 1:
            raise FigureError(f"result name {name!r}: step {step} after step {links[-1].step}")
        model = match["model"] or (links[-1].model if links else None)
        if not model:
            raise FigureError(f"result name {name!r}: no model named")
        links.append(Result(step, model, match["variant"]))
        rest = match["rest"]
    return links


def figure_data(path: Path) -> dict[str, Any]:
    """The JSON object a figure page embeds for its charts."""
    text = path.read_text(encoding="utf-8")
    start = text.find(DATA_MARKER)
    if start < 0 or text.find(DATA_MARKER, start + 1) >= 0:
        raise FigureError(f"{path}: expected exactly one {DATA_MARKER.strip()!r}")
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start + len(DATA_MARKER))
    except json.JSONDecodeError as err:
        raise FigureError(f"{path}: the embedded chart data is not JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise FigureError(f"{path}: the embedded chart data has no 'data' list")
    return data


@dataclass(frozen=True)
class Record:
    """One value of a figure: its result name parsed, the primary value and the secondary metrics."""

    figure: str
    chain: tuple[Result, ...]
    """This result first, then its upstream results (nearest first)."""
    value: float
    metrics: dict[str, float]
    drawn: bool = True
    """False for values the page embeds but does not draw (see ``read_records``)."""

    @property
    def own(self) -> Result:
        return self.chain[0]


def _number(record: dict[str, Any], column: str, where: str) -> float:
    value = record.get(column)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 1:
        raise FigureError(f"{where}: {column}: expected a share in [0, 1], got {value!r}")
    return float(value)


def _check_known(link: Result, may_be_baseline: bool, where: str) -> None:
    """A model of the study and a variant of its step (the regex baseline only as a step-3 result itself)."""
    if link.model == BASELINE and may_be_baseline:
        if link.variant not in BASELINE_MODELS:
            raise FigureError(f"{where}: unknown regex baseline {link.variant!r}")
        return
    if link.model not in STUDY_MODELS:
        raise FigureError(f"{where}: unknown model {link.model!r} in step {link.step}")
    if link.variant not in STEPS[link.step].variants:
        raise FigureError(f"{where}: unknown variant {link.variant!r} of step {link.step}")


def _record(figure: str, step: int, raw: dict[str, Any], drawn: bool = True) -> Record:
    name = raw.get("results_file")
    where = f"{figure}: record {name!r}"
    if not isinstance(name, str):
        raise FigureError(f"{figure}: a record without a result name")
    chain = tuple(parse_result_name(name))
    if chain[0].step != step or len(chain) != step:
        raise FigureError(f"{where}: not a step-{step} result with its {step - 1} upstream step(s)")
    if raw.get("model") != chain[0].model or raw.get("prompt_type") != chain[0].variant:
        raise FigureError(f"{where}: model/prompt_type columns disagree with the result name")
    for link in chain:
        _check_known(link, link is chain[0] and step == 3, where)
    spec = STEPS[step]
    unknown = set(raw) - IGNORED_COLUMNS - {spec.primary} - set(spec.secondary)
    if unknown:
        raise FigureError(f"{where}: unknown column(s) {sorted(unknown)}")
    metrics = {ours: _number(raw, theirs, where) for theirs, ours in spec.secondary.items()}
    return Record(figure, chain, _number(raw, spec.primary, where), metrics, drawn)


def read_records(folder: Path) -> list[Record]:
    """Every value of Figures S1-S3: one record per model and variant, plus S3's baseline on the overall-best chain.

    Figure S3 embeds the regex baseline twice: in its per-variant records (each heuristic on the chain where it
    did best, like every model) and apart, on the overall-best chain, which is the one the page draws."""
    records: list[Record] = []
    for step, file_name in FIGURES.items():
        figure = f"Figure S{step}"
        data = figure_data(folder / file_name)
        for raw in data["data"]:
            record = _record(figure, step, raw, drawn=raw.get("model") != BASELINE)
            records.append(record)
        for raw in data.get("levenshtein_regex", []):
            records.append(_record(figure, step, raw))
    seen: set[tuple[str, tuple[Result, ...]]] = set()
    for record in records:
        key = (record.figure, record.chain)
        if key in seen:
            raise FigureError(f"{record.figure}: the result {record.chain[0]} on the same chain twice")
        seen.add(key)
    return records


OVERALL_BEST = "overall-best"
OWN_BEST = "own-best"
OTHER_MODEL_OWN_BEST = "other-model-own-best"


def _single(chains: set[tuple[Result, ...]], what: str) -> tuple[Result, ...]:
    if len(chains) != 1:
        raise FigureError(f"expected one {what}, found {len(chains)}: {sorted(map(str, chains))}")
    return next(iter(chains))


def overall_best_chains(records: list[Record]) -> dict[int, tuple[Result, ...]]:
    """The study's overall best step-1 and step-2 results (with their upstream), read off the chains it used.

    A step-2 value of a model on another model's step-1 result can only be on the overall best one; likewise for
    step 3 (the regex baseline aside). Then checked: the step-1 result has the highest accuracy in Figure S1 (a
    tie is possible: the study took the first), and the step-2 result the highest snippet accuracy in Figure S2
    among the results on that step-1 result, and it is the chain Figure S3 draws the baseline on."""
    by_step: dict[int, list[Record]] = {}
    for record in records:
        by_step.setdefault(record.own.step, []).append(record)
    step1 = _single({r.chain[1:] for r in by_step[2] if r.chain[1].model != r.own.model}, "overall best step-1 result")
    step2 = _single({r.chain[1:] for r in by_step[3] if r.own.model != BASELINE
                     and any(link.model != r.own.model for link in r.chain[1:])}, "overall best step-2 result")
    if step2[1:] != step1:
        raise FigureError(f"the overall best step-2 result {step2[0]} is not on the overall best step-1 result")
    values1 = {r.own: r.value for r in by_step[1]}
    if values1.get(step1[0]) != max(values1.values()):
        raise FigureError(f"Figure S1: {step1[0]} is not the highest p_correct_total")
    on_best = {r.own: r.value for r in by_step[2] if r.chain[1:] == step1}
    if on_best.get(step2[0]) != max(on_best.values()):
        raise FigureError(f"Figure S2: {step2[0]} is not the highest p_snippets_correct on {step1[0]}")
    drawn_baseline = {r.chain[1:] for r in by_step[3] if r.own.model == BASELINE and r.drawn}
    if drawn_baseline != {step2}:
        raise FigureError("Figure S3: the baseline is not drawn on the overall best chain")
    return {2: step1, 3: step2}


def classify_chains(records: list[Record]) -> dict[tuple[str, tuple[Result, ...]], str]:
    """Each step-2/3 record's chain kind: ``overall-best`` (the chain every model ran on; for the model that made it
    also its own best, which the study ran once), ``own-best`` (the model's own best result in every earlier
    step) or ``other-model-own-best`` (another model's own chain: the regex baseline ran inside every model's
    step-3 runs, and its figure values are on the chain where it did best). An own-best step-1 result must have
    the model's highest accuracy in Figure S1."""
    overall = overall_best_chains(records)
    best1: dict[str, float] = {}
    values1 = {}
    for r in records:
        if r.own.step == 1:
            best1[r.own.model] = max(best1.get(r.own.model, 0.0), r.value)
            values1[r.own] = r.value
    kinds = {}
    for record in records:
        if record.own.step == 1:
            continue
        upstream = record.chain[1:]
        upstream_models = {link.model for link in upstream}
        if upstream == overall[record.own.step]:
            kind = OVERALL_BEST
        elif upstream_models == {record.own.model}:
            kind = OWN_BEST
        elif record.own.model == BASELINE and len(upstream_models) == 1:
            kind = OTHER_MODEL_OWN_BEST
        else:
            raise FigureError(f"{record.figure}: {record.own} is on a chain of no known kind: {upstream}")
        first = upstream[-1]
        if kind != OVERALL_BEST and values1.get(first) != best1.get(first.model):
            raise FigureError(f"{record.figure}: {record.own} builds on {first}, not that model's best step-1 result")
        kinds[(record.figure, record.chain)] = kind
    return kinds


def _label(model: str, variant: str) -> tuple[str, str | None]:
    """The leaderboard's model label and variant for a study model id and variant (both checked on reading)."""
    if model == BASELINE:
        return BASELINE_MODELS[variant], None
    return STUDY_MODELS[model][0], variant


def _row(record: Record, kind: str | None) -> dict[str, Any]:
    step = record.own.step
    model, variant = _label(record.own.model, record.own.variant)
    row: dict[str, Any] = {"task": STEPS[step].task, "metric": STEPS[step].primary, "model": model}
    if variant is not None:
        row["variant"] = variant
    row["value"] = record.value
    row["figure"] = record.figure
    if kind is not None:
        upstream = []
        for link in record.chain[1:]:
            upstream.append({"task": STEPS[link.step].task, "model": _label(link.model, link.variant)[0],
                             "variant": link.variant})
        row["chain"] = {"kind": kind, "upstream": upstream}
    row["metrics"] = record.metrics
    if not record.drawn:
        row["note"] = "in the figure's data, not drawn: the page draws the baseline on the overall-best chain"
    return row


def _order(record: Record) -> tuple[Any, ...]:
    """Figure, then model in the figures' order (the baseline last), variant in the task's order, then chain."""
    models = [*STUDY_MODELS, BASELINE]

    def position(link: Result) -> tuple[int, int]:
        return models.index(link.model), [*STEPS[link.step].variants, *BASELINE_MODELS].index(link.variant)

    return (record.own.step, position(record.own), [position(link) for link in record.chain[1:]])


def build_document(records: list[Record]) -> dict[str, Any]:
    kinds = classify_chains(records)
    models: dict[str, Any] = {}
    for label, hub_id, names in STUDY_MODELS.values():
        models[label] = {"hub_id": hub_id, "onkobench": list(names)}
    for name, label in BASELINE_MODELS.items():
        models[label] = {"hub_id": None, "onkobench": [name]}
    rows = [_row(record, kinds.get((record.figure, record.chain))) for record in sorted(records, key=_order)]
    return {
        "source": "Lenz et al. 2025, BioData Mining 18:48 (arXiv 2501.12106), supplementary Figures S1-S3",
        "dataset": "hf://stefan-m-lenz/UroLlmEvalSet",
        "models": models,
        "rows": rows,
    }


def _figure_hashes(folder: Path) -> list[str]:
    return [f"#   {name}: sha256 {hashlib.sha256((folder / name).read_bytes()).hexdigest()}" for name in FIGURES.values()]


def render(document: dict[str, Any], folder: Path) -> str:
    """The YAML text: a header, then one line per model entry and per row (flow style, keys in a fixed order)."""
    def flow(value: Any) -> str:
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True,
                              width=math.inf).strip()

    def pair(key: str, value: Any) -> str:
        return flow({key: value})[1:-1]  # a one-entry mapping without its braces: no document end marker

    n_secondary = sum(len(row["metrics"]) for row in document["rows"])
    lines = [
        "# Published reference rows of UroLlmEval: every value embedded in the study's supplementary Figures S1-S3",
        f"# ({len(document['rows'])} primary values, {n_secondary} secondary metric values). Generated, do not edit:",
        "#   python leaderboards/published/extract_urollmeval_figures.py PATH_TO_UroLlmEval_CHECKOUT",
        "# from (the output depends on these files only):",
        *_figure_hashes(folder),
        "# chain: the upstream results a step-2/3 value was measured on (nearest first); kind overall-best, own-best",
        "# or other-model-own-best (tasks/urollmeval/README.md, 'Published values'). models: the study's models, their",
        "# hub ids and the onkobench model configs that run the same weights (a chain matches a table through these).",
        pair("source", document["source"]),
        pair("dataset", document["dataset"]),
        "models:",
        *(f"  {pair(label, entry)}" for label, entry in document["models"].items()),
        "rows:",
        *(f"  - {flow(row)}" for row in document["rows"]),
    ]
    return "\n".join(lines) + "\n"


def figure_folder(path: Path) -> Path:
    """The folder holding the figures: ``path`` itself or a checkout's ``docs/supplementary_files``."""
    for folder in (path, path / FIGURE_FOLDER):
        if all((folder / name).is_file() for name in FIGURES.values()):
            return folder
    raise FigureError(f"{path}: neither it nor {path / FIGURE_FOLDER} holds {', '.join(FIGURES.values())}")


def extract(path: Path) -> str:
    """The YAML text for the figures under ``path`` (a checkout or the figures' folder)."""
    folder = figure_folder(path)
    return render(build_document(read_records(folder)), folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a checkout of stefan-m-lenz/UroLlmEval, or the figures' folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    try:
        text = extract(args.path)
    except (FigureError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``onkobench`` command: parse options, call one function, print. Heavy imports stay inside commands."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness import __version__
from harness.errors import DataRevisionWarning, OnkobenchError

if TYPE_CHECKING:
    from harness.store import MetricEstimate


class _UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:  # one line, no "Usage:" block
        click.echo(f"error: {self.message}", err=True)


def _warning_printer(show_other):
    """Data warnings as one line on stderr, each once per command (the steps of a suite share their data; the source
    line says nothing to a user); other warnings as Python shows them."""
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, DataRevisionWarning):
            show_other(message, category, filename, lineno, file, line)
        elif str(message) not in shown:
            shown.add(str(message))
            click.echo(f"warning: {message}", err=True)
    return show


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", DataRevisionWarning)  # the printer shows each message once
                warnings.showwarning = _warning_printer(warnings.showwarning)
                return super().invoke(ctx)
        except OnkobenchError as err:
            raise _UserError(str(err)) from err
        except KeyboardInterrupt:
            click.echo("interrupted; what finished is stored, rerun the same command to continue", err=True)
            sys.exit(130)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise _UserError(
                    f"no space left to write {err.filename or 'results'} ({err.strerror}); what finished is stored, "
                    "free some space and rerun the same command to continue"
                ) from err
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise _UserError(
                    f"{err.filename or 'a file'}: {err.strerror}; check its permissions (an output folder must be "
                    "writable, see --out) and rerun the same command (what finished is stored)"
                ) from err
            raise


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="onkobench")
def main() -> None:
    """onkobench: benchmark LLMs on coding German tumour documentation (ICD-10-GM, ICD-O-3)."""


@main.command("tasks")
@click.option("--tasks-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder of task families.")
def tasks_command(tasks_dir: Path | None) -> None:
    """List tasks and their prompt variants."""
    from harness.config.tasks import load_all_tasks

    for name, task in load_all_tasks(tasks_dir).items():
        flags = " [private data]" if task.dataset.private else (" [synthetic data]" if task.dataset.synthetic else "")
        click.echo(f"{name} (v{task.version}){flags}: {task.description.strip().splitlines()[0] if task.description else ''}")
        for variant in task.variants.values():
            click.echo(f"  {variant.name:<14} {variant.description}")


# what `onkobench list` shows: registered components with the first line of their docstring
def _first_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _entries(kind: str) -> Iterator[tuple[str, str]]:
    if kind in ("metrics", "parsers", "scorers"):
        from harness.scoring import METRICS, PARSERS, SCORERS

        registry = {"metrics": METRICS, "parsers": PARSERS, "scorers": SCORERS}[kind]
        for name in registry:
            yield name, _first_line(registry.get(name))
    elif kind == "runners":
        from harness.runners import RUNNERS

        for name in RUNNERS:
            yield name, _first_line(RUNNERS.get(name))
    elif kind == "models":
        from harness.config.models import MODELS_DIR, load_model_config

        for path in sorted(MODELS_DIR.glob("*.yaml")):
            config, _ = load_model_config(str(path))
            yield config.name, f"{config.label} ({config.runner})"
    elif kind == "suites":
        from harness.config.suites import SUITES_DIR, load_suite

        for path in sorted(SUITES_DIR.glob("*.yaml")):
            suite, _ = load_suite(str(path))
            yield suite.name, suite.description.strip().splitlines()[0] if suite.description else ""
    else:  # pragma: no cover - click restricts the choices
        raise OnkobenchError(f"unknown kind {kind!r}")


@main.command("list")
@click.argument("kind", type=click.Choice(["metrics", "parsers", "scorers", "runners", "models", "suites"]))
def list_command(kind: str) -> None:
    """List registered metrics, parsers, scorers, runners, or the shipped models and suites."""
    for name, doc in _entries(kind):
        click.echo(f"{name:<30} {doc}")


def _shard_option(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    from harness.pipeline.shards import Shard

    try:
        return Shard.parse(value)
    except OnkobenchError as err:
        raise click.BadParameter(str(err).removeprefix(f"--shard {value!r}: ")) from None


@main.command("run")
@click.option("--suite", "suite_name", help="Suite name (leaderboards/suites) or YAML path.")
@click.option("--task", "task_name", help="Task name or YAML path (instead of --suite).")
@click.option("--variant", "variants", multiple=True, help="Prompt variant(s); default: all of the task.")
@click.option("--model", "models", multiple=True, help="Model name (leaderboards/models) or YAML path; repeatable.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path), help="Local copy of the task's dataset.")
@click.option("--prompts", "prompts_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), help="Prompt pack folder.")
@click.option("--chain", "chains", multiple=True,
              help="Chained step: build on a run folder of the previous step, or 'best' / 'own-best' among --runs.")
@click.option("--gold", is_flag=True, help="Chained step: build on gold labels instead of a previous run.")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where --chain best/own-best looks for previous runs (default: --out).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N samples (for a quick check).")
@click.option("--trust-remote-code", is_flag=True, help="Allow model configs that set trust_remote_code (runs their code).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--wait", is_flag=True,
              help="When another run is writing the same run folder, wait for it to finish instead of exiting.")
@click.option("--shard", callback=_shard_option, metavar="I/N",
              help="Run only shard I of N (1-based) of every run's samples, split by sample id; join the shards' --out "
                   "folders with `onkobench merge`.")
@click.option("--score-workers", type=click.IntRange(min=1), default=None,
              help="Processes that score the stored outputs (default: 1 below 50,000 samples, else one per core).")
def run_command(suite_name, task_name, variants, models, out_dir, data_path, prompts_dir, chains, gold, runs_dir, limit,
                trust_remote_code, no_progress, wait, shard, score_workers) -> None:
    """Run models on tasks; an interrupted run continues where it stopped when rerun."""
    from harness.pipeline.plan import plan_runs, run_plan
    from harness.store import RunStore

    plan = plan_runs(suite_name, task_name, variants, models, data_path, tuple(chains) + (("gold",) if gold else ()),
                     prompts_dir=prompts_dir, allow_remote_code=trust_remote_code)
    for planned in plan:
        for variant, reason in planned.not_in_pack.items():
            click.echo(f"warning: prompt pack {planned.prompt_pack.name}: no wording for {planned.task.name} variant "
                       f"{variant} ({reason}); onkobench's own wording is used, and the run records it "
                       f"(prompt_pack.variant_in_pack: false)", err=True)
    part = f" shard {shard}" if shard else ""
    for outcome in run_plan(plan, out_dir, limit=limit, progress=not no_progress, runs_dir=runs_dir, wait=wait,
                            shard=shard, score_workers=score_workers):
        if outcome.n_quarantined:
            click.echo(f"warning: {outcome.n_quarantined} unreadable line(s) of the stored responses moved to "
                       f"{RunStore(outcome.folder).quarantine_path}; their samples were run again", err=True)
        summary = outcome.summary
        primary = summary.primary_metric
        est = summary.primary
        click.echo(
            f"{summary.task}[{summary.variant}] {summary.model.name}{part}: {primary} "
            f"{_fmt(est)}  (generated {outcome.n_generated}, reused {outcome.n_reused}) -> {outcome.folder}"
        )


@main.command("merge")
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the merged runs (as `run --out` writes).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Local copy of the data the shards ran (default: the task's, or the file the shards recorded).")
@click.option("--prompts", "prompts_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The prompt pack the shards ran with (runs made with --prompts).")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where a chained step's merged previous step lies (default: --out).")
def merge_command(shard_dirs, out_dir, data_path, prompts_dir, runs_dir) -> None:
    """Join the --out folders of `onkobench run --shard i/n` (all n shards) into whole runs, each sample once,
    scored anew; report, publish and verify take them as runs made on one machine."""
    from harness.pipeline.merge import merge_shards

    for outcome in merge_shards(list(shard_dirs), out_dir, data_path, prompts_dir, runs_dir):
        summary = outcome.summary
        click.echo(f"{summary.task}[{summary.variant}] {summary.model.name}: {summary.primary_metric} "
                   f"{_fmt(summary.primary)}  ({outcome.n_shards} shards, {summary.n_samples} samples) -> {outcome.folder}")


@main.command("score")
@click.option("--task", "task_name", required=True, help="Task name or YAML path.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path), help="Dataset file (default: the task's).")
@click.option("--outputs", "outputs_path", type=click.Path(dir_okay=False, path_type=Path),
              help='JSON Lines of {"id": sample id, "output": model text}.')
@click.option("--lm-eval-samples", "lmeval_samples", type=click.Path(dir_okay=False, path_type=Path),
              help="An lm-eval samples_<task>_<date>.jsonl (--log_samples) of a task exported with `onkobench export lm-eval`.")
@click.option("--variant", default=None, help="The prompt variant that produced the outputs (needed with --lm-eval-samples).")
@click.option("--name", "model_name", default=None, help="Model name for the result (default: the outputs file's stem).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that score chunks of samples (default: 1 below 50,000 samples, else one per core); "
                   "the files are the same for any number.")
def score_command(task_name, data_path, outputs_path, lmeval_samples, variant, model_name, out_dir, workers) -> None:
    """Score outputs produced elsewhere; prints and writes the same metrics as a run."""
    from harness.data import load_task_data
    from harness.pipeline.outputs_file import outputs_scoring_pool, score_outputs_file
    from harness.config.tasks import load_task

    if (outputs_path is None) == (lmeval_samples is None):
        raise click.UsageError("give exactly one of --outputs and --lm-eval-samples")
    if lmeval_samples is not None and variant is None:
        raise click.UsageError("--lm-eval-samples needs --variant (the variant the lm-eval task was exported from)")
    task = load_task(task_name)
    source = outputs_path or lmeval_samples
    name = _model_name(model_name, source)
    # the scoring workers start first: they load the scorer while the data set is read
    with outputs_scoring_pool(task, source, variant, workers) as pool:
        data = load_task_data(task, data_path)
        records = None
        if lmeval_samples is not None:
            from harness.lmeval.bridge import LmEvalBridge
            from harness.lmeval.samples import iter_lmeval_records

            records = iter_lmeval_records(lmeval_samples, LmEvalBridge(task, variant))
        outcome = score_outputs_file(task, data, source, out_dir, name, records, variant, pool=pool)
    click.echo(f"{task.name}: {outcome.summary.n_samples} samples, statuses {outcome.summary.status_counts}")
    for metric, est in outcome.summary.metrics.items():
        click.echo(f"  {metric:<28} {_fmt(est)}")
    click.echo(f"written to {outcome.folder}")


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
"""A model name as ModelConfig allows it (it becomes part of a folder name)."""


def _model_name(given: str | None, source: Path) -> str:
    """``--name`` as given (checked), else a valid name made from the file name: ``my outputs (1).jsonl`` -> ``my-outputs-1``."""
    if given is not None:
        if not _NAME.match(given):
            raise _UserError(f"--name {given!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit")
        return given
    return re.sub(r"[^A-Za-z0-9._-]+", "-", source.stem).strip("-._") or "outputs"


@main.group("export")
def export_group() -> None:
    """Export tasks for other harnesses."""


@export_group.command("lm-eval")
@click.option("--task", "task_name", required=True, help="Task name or YAML path.")
@click.option("--variant", required=True, help="Prompt variant.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the task YAML, its utils.py and bridge file (pass it to lm_eval --include_path).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Local data file (default: the task's); for a hub data set a local copy to check against, "
                   "the YAML still references the hub.")
def export_lmeval_command(task_name: str, variant: str, out_dir: Path, data_path: Path | None) -> None:
    """Write an lm-eval task whose prompts, parser and metrics are onkobench's."""
    from harness.data import load_task_data
    from harness.lmeval.export import export_lmeval
    from harness.config.tasks import load_task

    task = load_task(task_name)
    data = load_task_data(task, data_path)
    task_ref = str(Path(task_name).resolve()) if task_name.endswith((".yaml", ".yml")) else task.name
    export = export_lmeval(task, variant, data, out_dir, task_ref)
    click.echo(f"{export.name}: {export.n_samples} docs -> {export.yaml_path}")
    click.echo(f"run: lm_eval run --include_path {out_dir} --tasks {export.name} --apply_chat_template --log_samples "
               f"--output_path OUT --model ...")
    click.echo(f"score its log: onkobench score --task {task.name} --variant {variant} --lm-eval-samples OUT/<model>/samples_{export.name}_<date>.jsonl")


@main.group("prompts")
def prompts_group() -> None:
    """Prompt packs: swap a task's prompt wording with --prompts DIR."""


@prompts_group.command("import-urollmeval")
@click.argument("checkout", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the pack (git-ignored inside; never commit it).")
def import_urollmeval_command(checkout: Path, out_dir: Path) -> None:
    """Build a prompt pack from a local checkout of the UroLlmEval code, using its own prompt builders."""
    from harness.families.urollmeval.prompt_import import import_urollmeval

    report = import_urollmeval(checkout, out_dir)
    for task, notes in report.items():
        click.echo(f"{task}: written to {out_dir / (task + '.yaml')}")
        for variant, note in notes.items():
            click.echo(f"  {variant}: {note}")
    click.echo(f"use it with: onkobench run ... --prompts {out_dir}")


@main.group("catalogue")
def catalogue_group() -> None:
    """Official catalogue files: build evaluation sets from them."""


@catalogue_group.command("build-tasks")
@click.option("--catalogues", "root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Catalogue folder (default: $ONKOBENCH_CATALOGUE_DIR or ../shared/data/catalogues).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("tasks/icd_catalogue_qa/generated"), show_default=True)
@click.option("--icd10gm-year", default=2024, show_default=True)
@click.option("--alphaid-year", default=2010, show_default=True)
@click.option("--icdo3-year", default=2019, show_default=True)
@click.option("--ops-year", type=int, default=None, help="Add OPS procedure texts as negatives (needs the OPS file).")
@click.option("--n-test", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--n-fewshot", default=16, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=0, show_default=True)
@click.option("--lookup-check/--no-lookup-check", default=True, show_default=True,
              help="Measure what the exact oracle and the fair fuzzy lookup get on each set (a few minutes).")
def build_tasks_command(root, out_dir, icd10gm_year, alphaid_year, icdo3_year, ops_year, n_test, n_fewshot, seed,
                        lookup_check) -> None:
    """Build the catalogue QA sets (Alpha-ID -> ICD-10-GM, ICD-O-3 terms -> codes, tumour recognition), their
    clinical-variation sets and training splits."""
    from harness.families.catalogue_qa.build import build_catalogue_tasks

    manifest = build_catalogue_tasks(out_dir, root, icd10gm_year, alphaid_year, icdo3_year, ops_year, n_test, n_fewshot, seed,
                                     lookup_check=lookup_check)
    for name, report in manifest["sets"].items():
        lookup = report.get("lookup")
        if lookup:
            click.echo(f"{name}: exact oracle finds {lookup['oracle_exact']:.1%}, fair fuzzy lookup gets "
                       f"{lookup['fair_fuzzy']:.1%} of {lookup['n']} test items")
        if report.get("kind") == "clinical_variation":
            applied = ", ".join(f"{rule} {n}" for rule, n in report["rules"].items() if n)
            click.echo(f"{name}: {report['items']} items from {report['source_rows']} test rows of {report['base_set']} "
                       f"(rules: {applied})")
            continue
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(report["dropped"].items())) or "none"
        click.echo(f"{name}: {report['available']} candidates, {report['kept']} kept, test {report['test']}, "
                   f"few-shot {report['fewshot']} (dropped: {dropped})")
    click.echo(f"written to {out_dir} (with its manifest); never commit it")


@main.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--trust-remote-code", is_flag=True, help="Accept configs that set trust_remote_code.")
def validate_command(paths, trust_remote_code) -> None:
    """Check model configs, suites and task definitions (default: all shipped ones); one line per problem."""
    from harness.validation import default_targets, validate_paths

    targets = list(paths) or default_targets()
    checked = validate_paths(targets, trust_remote_code)
    for line in checked.problems:
        click.echo(line, err=True)
    if checked.problems:
        raise _UserError(f"{len(checked.problems)} problem(s); checked {checked.summary() or 'nothing'}")
    click.echo(f"ok: {checked.summary()}")


@main.command("publish")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("leaderboards/results"),
              show_default=True)
def publish_command(run_dirs, out_dir) -> None:
    """Write publishable result summaries (metrics, CIs, per-unit and per-item outcomes; never text) for run folders."""
    from harness.results import publish_runs

    written = publish_runs(list(run_dirs), out_dir)
    click.echo(f"{len(written)} result(s) written to {out_dir}")


@main.command("verify")
@click.argument("result_path", metavar="RESULT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The maintainer's rerun: its run folder, or a folder holding it (chosen by run id).")
def verify_command(result_path: Path, run_dir: Path) -> None:
    """Compare a published RESULT with a rerun of the same config and write the verdict into RESULT.

    The rerun must have the same task, variant, model config hash, data fingerprint and sample count (else
    exit 2). Reproduced: at least 99% of the items have the same per-item outcome (ids of both sides;
    decoding is greedy) and every published metric's submitted value lies inside the rerun's 95% interval.
    The file gains a `reproduction` block either way; exit 1 when it is not reproduced.
    """
    from harness.verification import verify

    found = verify(result_path, run_dir)
    block = found.reproduction
    verdict = "reproduced" if block.reproduced else "NOT reproduced"
    click.echo(f"{found.result.run_id}: {verdict}: agreement {block.agreement:.1%} of {block.n_compared} items "
               f"(threshold {block.agreement_threshold:.0%}), max metric difference {block.max_metric_difference:.3f}")
    for name, difference in block.metric_differences.items():
        rerun = found.rerun.metrics.get(name)
        mark = "  outside the rerun's 95% interval" if name in block.metrics_outside_interval else ""
        shown = "n/a" if difference is None else f"{difference:+.3f}"
        submitted = found.result.metrics[name].value
        click.echo(f"  {name:<24} submitted {'n/a' if submitted is None else f'{submitted:.3f}'}  "
                   f"rerun {_fmt(rerun) if rerun else 'n/a'}  difference {shown}{mark}")
    if found.disagreeing:
        more = f" and {len(found.disagreeing) - 10} more" if len(found.disagreeing) > 10 else ""
        click.echo(f"  items that differ: {', '.join(found.disagreeing[:10])}{more}")
    click.echo(f"written to {result_path}")
    if not block.reproduced:
        sys.exit(1)


@main.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("site"), show_default=True)
@click.option("--published", "published_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Folder of published reference rows (default: leaderboards/published).")
def report_command(run_dirs, out_dir, published_dir) -> None:
    """Build the static HTML leaderboard from run folders (opens from disk, no server)."""
    from harness.report.site import build_site

    index = build_site(list(run_dirs), out_dir, published_dir)
    click.echo(f"leaderboard: {index.resolve()}")


def _fmt(est: "MetricEstimate") -> str:
    if est.value is None:
        return "n/a"
    ci = f" [{est.lo:.3f}, {est.hi:.3f}]" if est.lo is not None and est.hi is not None else ""
    return f"{est.value:.3f}{ci} (n={est.n})"


if __name__ == "__main__":  # pragma: no cover
    main()

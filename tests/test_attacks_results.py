"""Attacks on published results (issue #14 "Trust"): results that lie, private data in the results folder, links
and huge files there, malformed files, local paths, and folders validate cannot classify.

Every published metric and interval is recomputed from the result's per-item outcomes, the model config is
compared with the committed one, the site is built from validated result files only, links are never followed,
and every refusal is exit 2 with one line per problem (never a traceback)."""

from __future__ import annotations

import copy
import html
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main

from support.files import REPO_ROOT, TESTS

CODING = "demo.icd10gm_coding--0--baseline-lexicon-exact"
DETECTION = "demo.tumour_detection--0--baseline-lexicon-exact"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def run_demo(out: Path, task: str) -> None:
    result = cli("run", "--task", task, "--variant", "0", "--model", "baseline-lexicon-exact", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exact baseline on coding (Wilson intervals) and detection (a seeded bootstrap for F1), run once."""
    out = tmp_path_factory.mktemp("runs")
    run_demo(out, "demo.icd10gm_coding")
    run_demo(out, "demo.tumour_detection")
    return out


@pytest.fixture
def results(runs: Path, tmp_path: Path) -> Path:
    """Both runs published into tmp_path/results/x (a results folder not named after a suite)."""
    folder = tmp_path / "results" / "x"
    published = cli("publish", str(runs), "--out", str(folder))
    assert published.exit_code == 0, published.output
    return folder


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")


def refused(result: Result) -> list[str]:
    """The problem lines of a refusal: exit 2, no traceback, every line one problem or the summary."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()


def assert_edit_refused(results: Path, edit, message: str) -> None:
    """Edit the coding result as ``edit`` says; validate must refuse it with ``message`` for that file."""
    path = results / f"{CODING}.json"
    data = load(path)
    edit(data)
    write(path, data)
    lines = refused(cli("validate", str(path)))
    assert any(line.startswith(f"{path}: {message}") for line in lines), lines


# --- 4. results that lie ---------------------------------------------------------------------------------------

def _set_accuracy(value: float) -> Callable[[dict], None]:
    return lambda d: d["metrics"]["accuracy"].update(value=value)


@pytest.mark.parametrize(("edit", "message"), [
    (_set_accuracy(0.99), "metrics.accuracy: value [0.99] differ from the items, which give [0.666667]"),
    (lambda d: d["metrics"]["accuracy"].update(hi=0.95), "metrics.accuracy: hi"),
    (lambda d: d["metrics"]["partial_accuracy"].update(n=59), "metrics.partial_accuracy: n"),
    (_set_accuracy(float("nan")), "metrics.accuracy: not a finite number"),
    (_set_accuracy(-0.2), "metrics.accuracy: a wilson share outside [0, 1]"),
    (_set_accuracy(1.5), "metrics.accuracy: a wilson share outside [0, 1]"),
    (lambda d: d["metrics"]["accuracy"].update(n=10**9), "metrics.accuracy.n: 1000000000 outside 0..n_samples (60)"),
    (lambda d: d.update(n_samples=10**18), "items: 60 items for n_samples 1000000000000000000"),
    (lambda d: d["latency"].update(mean_s=-1.0), "latency.mean_s: -1.0 is not a finite number >= 0"),
    (lambda d: d["tokens"].update(mean_n_output_tokens=float("inf")), "tokens.mean_n_output_tokens: inf is not"),
    (lambda d: d["status_counts"].update(ok=99), "status_counts: do not add up to n_samples 60"),
])
def test_numbers_that_do_not_follow_from_the_items_are_refused(results: Path, edit, message: str) -> None:
    """Accuracy 0.99 over a vector of 40/60 used to pass and rank first; NaN, negative, > 1, n = 1e18 too."""
    assert_edit_refused(results, edit, message)


def test_lie_about_the_items_is_refused(results: Path) -> None:
    """Per-item outcomes and the per-unit outcomes must agree with each other, with n_samples and with the metrics."""
    path = results / f"{CODING}.json"
    original = load(path)
    cut = copy.deepcopy(original)  # a scores file cut at a line boundary: 5 entries for n = 60
    cut["items"] = cut["items"][:5]
    cut["units"]["outcomes"] = {item["id"]: cut["units"]["outcomes"][item["id"]] for item in cut["items"]}
    write(path, cut)
    assert f"{path}: items: 5 items for n_samples 60" in refused(cli("validate", str(path)))
    all_right = copy.deepcopy(original)  # the units say every item is right; the items do not (nor the metric)
    all_right["units"]["outcomes"] = dict.fromkeys(all_right["units"]["outcomes"], [1.0, 1.0])
    write(path, all_right)
    lines = refused(cli("validate", str(path)))
    assert f"{path}: units: give accuracy 1.0, not the published 0.666667" in lines, lines
    assert any(line.startswith(f"{path}: units: 20 unit outcomes differ from the items") for line in lines), lines
    forged = copy.deepcopy(original)  # items and units both forged, the published numbers left: they do not follow
    for item in forged["items"]:
        item["values"]["correct"] = 1
    forged["units"]["outcomes"] = dict.fromkeys(forged["units"]["outcomes"], [1.0, 1.0])
    write(path, forged)
    lines = refused(cli("validate", str(path)))
    assert any(line.startswith(f"{path}: metrics.accuracy: value, lo, hi [0.666667,") for line in lines), lines
    old_vector = copy.deepcopy(original)  # format 4 has no per-sample correct vector: a file carrying one is refused
    old_vector["correct"] = {item["id"]: 1 for item in old_vector["items"]}
    write(path, old_vector)
    assert any("correct: not a field of format 4" in line for line in refused(cli("validate", str(path))))


def _rehash(data: dict) -> None:
    from harness.config.models import ModelConfig

    data["model_config_hash"] = ModelConfig.model_validate(data["model_config"]).config_hash()


def _external(data: dict) -> None:
    """Outputs scored elsewhere claiming to be the leaderboard's exact baseline (runner external skipped every check)."""
    data["model"]["runner"] = data["model_config"]["runner"] = "external"
    data["model_config"]["options"] = {}
    data["model_config"].pop("file_sha256", None)  # no files named: the default
    _rehash(data)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["model"].update(display_name="GPT-7 Medical"), "model.display_name: differs from model_config"),
    (lambda d: (d["model"].update(display_name="GPT-7"), d["model_config"].update(display_name="GPT-7"), _rehash(d)),
     "model_config: display_name differs from leaderboards/models/baseline-lexicon-exact.yaml"),
    (lambda d: d["model_config"]["options"].update(method="lexicon_fuzzy"), "model_config_hash: is not the hash of model_config"),
    (_external, "model.name: 'baseline-lexicon-exact' is a leaderboard model"),
])
def test_model_is_compared_with_its_config_file(results: Path, edit, message: str) -> None:
    assert_edit_refused(results, edit, message)


def test_scores_cut_at_a_line_boundary_are_not_published(runs: Path, tmp_path: Path) -> None:
    folder = tmp_path / CODING
    shutil.copytree(runs / CODING, folder)
    scores = folder / "scores.jsonl"
    scores.write_text("".join(scores.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")
    lines = refused(cli("publish", str(folder), "--out", str(tmp_path / "out")))
    assert lines == [f"error: {folder}: refusing to publish: items: 5 items for n_samples 60 (its scores and "
                     "summary disagree: rescore it)"]
    assert not (tmp_path / "out").exists()


def test_committed_results_are_recomputed_and_pass() -> None:
    """The committed demo results carry per-item outcomes; validate recomputes every metric from them."""
    committed = sorted((REPO_ROOT / "leaderboards" / "results").rglob("*.json"))
    assert committed and all(load(path)["format"] == 4 and load(path)["items"] and load(path)["units"] for path in committed)
    result = cli("validate", str(REPO_ROOT / "leaderboards" / "results"))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"ok: {len(committed)} results"


# --- 7. private data and the site -------------------------------------------------------------------------------

def test_run_folder_in_results_is_refused_and_never_a_page(runs: Path, results: Path, tmp_path: Path) -> None:
    """A run folder copied into the results folder: validate fails, and the site is not built from it."""
    shutil.copytree(runs / DETECTION, results / "copied-run")
    (results / "notes.txt").write_text("hello", encoding="utf-8")
    shutil.copyfile(runs / DETECTION / "summary.json", results / "summary.json")
    lines = refused(cli("validate", str(results)))
    assert f"{results / 'copied-run'}: a run folder (per-sample outputs, never published); publish it with onkobench " \
           "publish instead of copying it" in lines
    assert f"{results / 'notes.txt'}: not a published result (*.json); a results folder holds nothing else" in lines
    assert f"{results / 'summary.json'}: kind: expected onkobench-result" in lines
    site = tmp_path / "site"
    report = refused(cli("report", str(results.parent), "--out", str(site)))
    assert report[-1].startswith("error: ") and "the site shows validated results only" in report[-1]
    assert not site.exists()


def test_nested_results_are_validated_too(results: Path) -> None:
    """validate used to read *.json one folder deep; a result further down is checked like any other."""
    deeper = results / "a" / "b"
    deeper.mkdir(parents=True)
    data = load(results / f"{CODING}.json")
    data["metrics"]["accuracy"]["value"] = 0.99
    write(deeper / "forged.json", data)
    lines = refused(cli("validate", str(results.parent)))
    assert any(line.startswith(f"{deeper / 'forged.json'}: metrics.accuracy: value") for line in lines), lines


@pytest.fixture
def private_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo tasks as a private data set whose local file is here ($ONKOBENCH_TASKS_DIR)."""
    tasks = tmp_path / "tasks"
    shutil.copytree(REPO_ROOT / "tasks" / "demo", tasks / "demo")
    family = tasks / "demo" / "_family.yaml"
    family.write_text(family.read_text(encoding="utf-8").replace("private: false", "private: true"), encoding="utf-8")
    monkeypatch.setenv("ONKOBENCH_TASKS_DIR", str(tasks))
    return tasks / "demo" / "data" / "snippets.jsonl"


def test_validate_refuses_near_quotes_of_private_data(private_demo: Path, tmp_path: Path) -> None:
    run_demo(tmp_path / "runs", "demo.tumour_detection")
    out = tmp_path / "results" / "private"
    assert cli("publish", str(tmp_path / "runs"), "--out", str(out)).exit_code == 0
    path = out / f"{DETECTION}.json"
    assert cli("validate", str(path)).exit_code == 0
    snippet = json.loads(private_demo.read_text(encoding="utf-8").splitlines()[2])["text"]
    data = load(path)
    data["provenance"]["note"] = "  ".join(snippet[10:60].upper().split())  # re-spaced, re-cased, 50 characters
    write(path, data)
    assert refused(cli("validate", str(path)))[0] == (
        f"{path}: quotes the private data set of demo.tumour_detection (a sample text, or 32 characters of one, "
        "spaces not counted); results carry none")


OUTPUT = "Prostatakarzinom <ED 03/2019> & Lymphknoten-Metastasen, Gleason 3+4=7a, pT2c pN0 R0."
FRAGMENT = OUTPUT[30:70]
"""40 characters from the middle of the output, with spaces."""


@pytest.mark.parametrize("quote", [
    pytest.param(OUTPUT, id="as-is"),
    pytest.param(" \n ".join(OUTPUT.split()), id="whitespace"),
    pytest.param(OUTPUT.swapcase(), id="case"),
    pytest.param("".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in OUTPUT), id="fullwidth-nfkc"),
    pytest.param(html.escape(OUTPUT), id="html-escaped"),
    pytest.param("".join(f"&#{ord(c)};" for c in OUTPUT), id="html-character-references"),
    pytest.param("note: " + FRAGMENT + " (cut)", id="40-character-fragment"),
    pytest.param(html.escape(FRAGMENT.upper()).replace(" ", "\n"), id="fragment-recased-escaped-respaced"),
])
def test_publish_guard_catches_near_quotes(quote: str) -> None:
    from harness.errors import OnkobenchError
    from harness.results import check_no_text

    payload = json.dumps({"provenance": {"note": quote}, "correct": {"a": 1}})
    with pytest.raises(OnkobenchError, match="refusing to publish"):
        check_no_text(payload, {OUTPUT}, "run")


def test_publish_guard_leaves_what_is_no_quote() -> None:
    from harness.results import check_no_text

    from harness.results import FRAGMENT_CHARS, normalised

    piece = normalised(OUTPUT)[10:10 + FRAGMENT_CHARS - 1]
    payload = json.dumps({"provenance": {"note": piece}, "model": {"display_name": "Prostata model"}})
    check_no_text(payload, {OUTPUT}, "run")  # one character short of a fragment
    check_no_text(json.dumps({"provenance": {"note": normalised(OUTPUT)[10:10 + FRAGMENT_CHARS]}}), {"other text " * 5}, "run")


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S"), exclude_characters="&"), min_size=40,
                   max_size=120),
       start=st.integers(0, 80), spaces=st.lists(st.sampled_from([" ", "\n", "\t", "  "]), max_size=5))
def test_any_fragment_of_an_output_is_caught(text: str, start: int, spaces: list[str]) -> None:
    """Property: any 40-character piece of an output, re-cased and with whitespace put in, is refused."""
    from harness.errors import OnkobenchError
    from harness.results import FRAGMENT_CHARS, check_no_text, normalised

    near = normalised(text)
    if len(near) < FRAGMENT_CHARS:
        return
    begin = start % (len(near) - FRAGMENT_CHARS + 1)
    piece = near[begin:begin + FRAGMENT_CHARS]
    if normalised(piece.upper()) == piece:  # re-cased where case folding undoes it (not for a dotless i)
        piece = piece.upper()
    for i, space in enumerate(spaces):
        position = (i * 7) % len(piece)
        piece = piece[:position] + space + piece[position:]
    with pytest.raises(OnkobenchError):
        check_no_text(json.dumps({"provenance": {"note": piece}}), {text}, "run")


# --- 13b. links and huge files ------------------------------------------------------------------------------------

def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


def bounded_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process with 2 GB of address space and a minute: reading /dev/zero would hit either bound."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(TESTS)]), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=_limited)


def test_links_devices_and_huge_files_are_never_read(results: Path, tmp_path: Path) -> None:
    (results / "zero.json").symlink_to("/dev/zero")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(results / f"{CODING}.json", elsewhere / "copy.json")
    (results / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    os.mkfifo(results / "pipe.json")
    with (results / "huge.json").open("wb") as handle:
        handle.truncate(65 * 2**20)  # sparse: nothing is written, nothing may be read
    validate = bounded_cli("validate", str(results))
    assert validate.returncode == 2, validate.stderr
    lines = validate.stderr.strip().splitlines()
    assert f"{results / 'zero.json'}: a symbolic link; a results folder holds plain files only (links are never followed)" in lines
    assert f"{results / 'linked-folder'}: a symbolic link; a results folder holds plain files only (links are never followed)" in lines
    assert f"{results / 'pipe.json'}: not a plain file" in lines
    assert f"{results / 'huge.json'}: over the 67108864-byte bound of a result file" in lines
    assert len(lines) == 5 and lines[-1] == "error: 4 problem(s); checked 2 results"
    direct = bounded_cli("validate", str(results / "zero.json"))  # named on the command line: still not followed
    assert direct.returncode == 2 and "a symbolic link" in direct.stderr
    report = bounded_cli("report", str(results), "--out", str(tmp_path / "site"))
    assert report.returncode == 2 and "Traceback" not in report.stderr
    assert report.stderr.strip().splitlines()[-1].startswith(f"error: {results / 'huge.json'}: over the")
    assert "(and 3 more); the site shows validated results only" in report.stderr


# --- 14a. one line, never a traceback --------------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: {**d, "units": {**d["units"], "outcomes": list(d["units"]["outcomes"].values())}},
     "units.outcomes: Input should be a valid dictionary"),
    (lambda d: {**d, "model": "baseline-lexicon-exact"}, "model: Input should be a valid dictionary"),
    (lambda d: json.dumps(d), "not a JSON object (a published result is one)"),
    (lambda d: [d], "not a JSON object (a published result is one)"),
    (lambda d: {**d, "provenance": {"x": json.loads("[" * 500 + "]" * 500)}}, "nested deeper than 16 levels"),
    (lambda d: {**d, "items": [{**d["items"][0], "values": {"correct": {"nested": 1}}}] + d["items"][1:]},
     "items.0.values: Value error, correct: not a scorer value"),
    (lambda d: {**d, "metrics": {**d["metrics"], "bad\nname": d["metrics"]["accuracy"]}}, "metric_order:"),
])
def test_malformed_result_is_one_line(results: Path, edit, message: str) -> None:
    path = results / f"{CODING}.json"
    write(path, edit(load(path)))
    lines = refused(cli("validate", str(path)))
    assert all(line.startswith((f"{path}: ", "error: ")) for line in lines), lines
    assert any(line.startswith(f"{path}: {message}") for line in lines), lines


@pytest.mark.parametrize(("content", "error"), [
    (b"[" * 100_000, "RecursionError"), (b'{"kind": "onkobench-result", "x": "\xff"}', "UnicodeDecodeError"),
    (b'{"kind": "onkobench-result",', "JSONDecodeError"),
])
def test_unreadable_result_is_one_line(results: Path, content: bytes, error: str) -> None:
    path = results / f"{CODING}.json"
    path.write_bytes(content)
    assert refused(cli("validate", str(path))) == [f"{path}: not valid JSON ({error})", "error: 1 problem(s); checked 1 result"]


def _cut_inside_a_character(raw: bytes) -> bytes:
    return raw[:next(i for i, byte in enumerate(raw) if byte >= 0x80) + 1]


@pytest.mark.parametrize(("cut", "message"), [
    (_cut_inside_a_character, ""),  # "not UTF-8" or "line 8: invalid JSON", as the decoder meets the cut
    (lambda raw: raw + b"7\n", "line 41: not a score row (rescore the run)"),
    (lambda raw: raw + b'{"status": "ok"}\n', "line 41: not a score row (rescore the run)"),
    (lambda raw: raw + b'{"sample_id": "z", "status": "ok", "group": null, "values": {"correct": "' + b"x" * 80 + b'"}}\n',
     "line 41: values: Value error, correct: not a scorer value"),
])
def test_broken_scores_file_in_publish_is_one_line(runs: Path, tmp_path: Path, cut, message: str) -> None:
    """A cut or edited scores.jsonl (40 rows) stops publish with one line naming it, never a traceback."""
    folder = tmp_path / DETECTION
    shutil.copytree(runs / DETECTION, folder)
    scores = folder / "scores.jsonl"
    scores.write_bytes(cut(scores.read_bytes()))
    lines = refused(cli("publish", str(folder), "--out", str(tmp_path / "out")))
    assert len(lines) == 1 and lines[0].startswith(f"error: {scores}: {message}"), lines


# --- 17. a scored outputs file publishes without its local path ---------------------------------------------------

def test_scored_outputs_publish_without_local_path(tmp_path: Path) -> None:
    diagnoses = [json.loads(line) for line in (REPO_ROOT / "tasks/demo/data/diagnoses.jsonl").read_text(encoding="utf-8").splitlines()]
    outputs = tmp_path / "private-folder" / "my-outputs.jsonl"
    outputs.parent.mkdir()
    outputs.write_text("".join(json.dumps({"id": row["id"], "output": "C61"}) + "\n" for row in diagnoses), encoding="utf-8")
    scored = cli("score", "--task", "demo.icd10gm_coding", "--outputs", str(outputs), "--name", "my-model",
                 "--out", str(tmp_path / "runs"))
    assert scored.exit_code == 0, scored.output
    out = tmp_path / "results" / "external"
    assert cli("publish", str(tmp_path / "runs"), "--out", str(out)).exit_code == 0
    [published] = out.glob("*.json")
    assert str(tmp_path) not in published.read_text(encoding="utf-8")
    data = load(published)
    assert data["engine"] == {"engine": "external", "outputs_file": "my-outputs.jsonl"}
    assert data["model"]["metadata"]["description"] == "scored from my-outputs.jsonl"
    result = cli("validate", str(published))
    assert result.exit_code == 0, result.output
    data["provenance"]["note"] = f"scored from {outputs}"  # a local path, wherever it sits, is refused
    write(published, data)
    assert refused(cli("validate", str(published)))[0] == f"{published}: provenance.note: holds a local path; results carry none"


# --- 19. validate says what it checked -------------------------------------------------------------------------

def test_validate_outside_a_results_folder_checks_and_counts(results: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    data = load(results / f"{CODING}.json")
    write(loose / "mine.json", data)
    checked = cli("validate", str(loose))
    assert checked.exit_code == 0 and checked.output.strip() == "ok: 1 result"
    data["metrics"]["accuracy"]["value"] = 0.99  # used to print "ok" after checking nothing
    write(loose / "mine.json", data)
    assert any(line.startswith(f"{loose / 'mine.json'}: metrics.accuracy: value") for line in refused(cli("validate", str(loose))))
    (loose / "mine.json").unlink()
    (loose / "summary.json").write_text("{}", encoding="utf-8")
    (loose / "sub").mkdir()
    lines = refused(cli("validate", str(loose)))
    assert f"{loose / 'summary.json'}: cannot tell what this is (a model config, suite or task is a .yaml file under " \
           "models/, suites/ or tasks/; a published result a .json file of kind onkobench-result)" in lines
    assert f"{loose / 'sub'}: a folder inside {loose}; validate it on its own" in lines
    empty = tmp_path / "empty"
    empty.mkdir()
    assert refused(cli("validate", str(empty)))[0] == f"{empty}: nothing to validate (no model config, suite, task or published result)"


def test_validate_counts_per_kind() -> None:
    result = cli("validate", str(REPO_ROOT / "leaderboards" / "models"), str(REPO_ROOT / "tasks" / "demo"))
    assert result.exit_code == 0, result.output
    n_models = len(list((REPO_ROOT / "leaderboards" / "models").glob("*.yaml")))
    assert result.output.strip() == f"ok: {n_models} model configs, 3 tasks"


# --- hypothesis: random mutations of a valid result ---------------------------------------------------------------

def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):  # the first items stand for the rest
            found += _paths(item, (*prefix, index))
    return found


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=5)


def _mutate(data: dict, path: tuple, operation: str, value: Any, delta: float) -> None:
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "nudge" and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
        parent[last] = parent[last] + delta
    else:
        parent[last] = value


@pytest.fixture(scope="module")
def valid_result(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("mutations") / "results" / "x"
    assert cli("publish", str(runs / DETECTION), "--out", str(folder)).exit_code == 0
    path = folder / f"{DETECTION}.json"
    return path, load(path)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_never_pass_a_changed_metric(valid_result: tuple[Path, dict], data: st.DataObject) -> None:
    """Property: validate accepts the unchanged file, refuses with one line per problem (never a traceback), and never
    accepts a file whose metrics changed."""
    from harness.validation import check_result

    path, original = valid_result
    paths = _paths(original)
    metric_paths = [p for p in paths if p[0] == "metrics"]
    target = data.draw(st.sampled_from(metric_paths) if data.draw(st.booleans()) else st.sampled_from(paths))
    mutated = copy.deepcopy(original)
    operation = data.draw(st.sampled_from(["replace", "delete", "nudge", "keep"]))
    if operation != "keep":
        _mutate(mutated, target, operation, data.draw(JSON_VALUES), data.draw(st.floats(-0.5, 0.5).filter(bool)))
    path.write_text(json.dumps(mutated), encoding="utf-8")
    try:
        problems = check_result(path)
    finally:
        write(path, original)
    assert all("\n" not in line and line.startswith(f"{path}: ") for line in problems), problems
    if json.dumps(mutated) == json.dumps(original):  # only an unchanged file must pass (1 for 1.0 may, or may not)
        assert problems == []
    if mutated.get("metrics") != original["metrics"]:
        assert problems, target

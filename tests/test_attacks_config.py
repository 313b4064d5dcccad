"""Attacks through what people write and what the harness writes (issue #14, "Trust"): secrets in server URLs,
stale outputs after an edited lexicon or template, a --limit run taken for the whole data set, YAML bombs,
tracebacks where one line is promised, huge outputs on pages, half-written sites, invisible characters in
names, local output folders that git would add, and CI workflows GitHub refuses."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fake_runner import ScriptedRunner
from pydantic import ValidationError
from support.fake_openai import FakeOpenAI
from support.files import FIXTURES, REPO_ROOT

from harness.cli import main
from harness.config.io import read_yaml
from harness.config.models import ModelConfig, load_model_config
from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.pipeline.run import run_task_variant
from harness.pipeline.spec import RunSpec
from harness.report.site import build_site

SNIPPETS = FIXTURES / "tasks" / "mini" / "data" / "snippets.jsonl"
DEMO_LEXICON = REPO_ROOT / "leaderboards" / "baselines" / "demo_lexicon.jsonl"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def cli(*args: str):
    """The command as a user runs it: exceptions become the exit code and output (a traceback shows as one)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def counts(output: str) -> tuple[int, int]:
    """(generated, reused) from the line `onkobench run` prints."""
    match = re.search(r"generated (\d+), reused (\d+)", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


# --- 3. credentials in a server URL ------------------------------------------------------------------------------

PASSWORD = "pa55-w0rd-xyzzy"
API_KEY = "sk-live-4242-secret"


def served_config(url: str) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "served", "runner": "openai", "model_id": "tiny",
        "server": {"endpoints": [{"base_url": url}], "max_retries": 0, "backoff_s": 0.0, "timeout_s": 5.0,
                   "stop_after_failures": 10},
    })


def test_server_url_secrets_are_never_stored_published_or_shown(mini_task_file: Path, tmp_path: Path) -> None:
    from harness.results import publish_runs
    from harness.runners.openai import OpenAIRunner

    task = load_task_file(mini_task_file)
    with FakeOpenAI(faults={"http500": 1}) as server:
        url = server.base_url.replace("http://", f"http://alice:{PASSWORD}@") + f"?api_key={API_KEY}&sig=abc123def456"
        config = served_config(url)
        assert config.server.endpoints[0].base_url == url  # the runner gets the real URL
        for _ in range(2):  # first every request fails (its error is stored), then all are answered
            runner = OpenAIRunner(config, tmp_path)
            try:
                outcome = run_task_variant(RunSpec(task, task.variant("zero"), config, load_task_data(task)),
                                           tmp_path / "runs", lambda: runner, progress=False)
            finally:
                runner.close()
    assert outcome.n_generated == 5 and outcome.summary.status_counts == {"ok": 5}
    publish_runs([outcome.folder], tmp_path / "results")
    build_site([tmp_path / "runs"], tmp_path / "site")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"manifest.json", "summary.json", "responses.jsonl", "index.html"}
    for path in written:
        text = path.read_text(encoding="utf-8")
        for secret in (PASSWORD, API_KEY, "abc123def456", "alice"):
            assert secret not in text, f"{secret} in {path}"
    manifest = json.loads((outcome.folder / "manifest.json").read_text(encoding="utf-8"))
    assert "REDACTED" in manifest["model"]["server"]["endpoints"][0]["base_url"]
    assert "REDACTED" in manifest["engine"]["endpoints"][0]


@pytest.mark.parametrize(("url", "what"), [
    ("http://user:s3cr3tvalue@example.org/v1", "user:password@"),
    ("https://example.org/v1?api_key=s3cr3tvalue", "'api_key'"),
    ("https://example.org/v1?x=1&access_token=s3cr3tvalue", "'access_token'"),
    ("https://example.org/v1?X-Amz-Signature=s3cr3tvalue", "'X-Amz-Signature'"),
])
def test_validate_refuses_a_secret_in_a_committed_server_url(tmp_path: Path, url: str, what: str) -> None:
    path = tmp_path / "models" / "served.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"name": "served", "runner": "openai", "model_id": "tiny",
                                    "server": {"endpoints": [{"base_url": "http://ok.example/v1"}, {"base_url": url}]}}),
                    encoding="utf-8")
    result = cli("validate", path)
    assert result.exit_code == 2
    problems = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert len(problems) == 1 and "server.endpoints.1.base_url" in problems[0] and what in problems[0], result.output
    assert "s3cr3tvalue" not in result.output


def test_config_hash_of_a_config_without_secrets_is_unchanged() -> None:
    # computed with the harness before secrets were redacted: published results keep matching their configs
    config = ModelConfig.model_validate({"name": "m", "runner": "openai", "model_id": "org/m",
                                         "server": {"endpoints": [{"base_url": "http://127.0.0.1:8000/v1?api-version=2"}]}})
    assert config.config_hash() == "d8244258c9412ac3"
    assert ModelConfig(name="m", runner="baseline", display_name="Ölmodell").config_hash() == "8141789011584b98"


def test_redacted_config_hash_ignores_the_secret() -> None:
    a = served_config(f"http://u:{PASSWORD}@h.example/v1?token=one")
    b = served_config("http://u:other@h.example/v1?token=two")
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != served_config("http://elsewhere.example/v1").config_hash()


# --- 6. outputs keyed on the content of the files a config names; --limit data is other data ---------------------

def lexicon_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO_LEXICON, folder / "lexicon.jsonl")
    path = folder / "lex.yaml"
    path.write_text("name: lex\nrunner: baseline\noptions: {method: lexicon_exact, lexicon: lexicon.jsonl}\n",
                    encoding="utf-8")
    return path


def test_editing_the_lexicon_reruns_the_baseline_and_changes_the_config_hash(tmp_path: Path) -> None:
    config = lexicon_config(tmp_path / "models")
    args = ("run", "--task", "demo.icd10gm_coding", "--model", config, "--out", tmp_path / "runs", "--no-progress")
    first = cli(*args)
    assert counts(first.output) == (60, 0)
    assert counts(cli(*args).output) == (0, 60)
    hash_before = load_model_config(str(config))[0].config_hash()
    lexicon = config.parent / "lexicon.jsonl"
    rows = lexicon.read_text(encoding="utf-8").splitlines()
    lexicon.write_text("\n".join(rows[1:]) + "\n", encoding="utf-8")  # one term fewer
    assert counts(cli(*args).output) == (60, 0)  # no stale answer of the old lexicon is reused
    assert load_model_config(str(config))[0].config_hash() != hash_before
    manifest = json.loads(next((tmp_path / "runs").glob("*/manifest.json")).read_text(encoding="utf-8"))
    assert manifest["model_config_hash"] == load_model_config(str(config))[0].config_hash()


def test_editing_the_chat_template_changes_request_keys_and_config_hash(tmp_path: Path) -> None:
    (tmp_path / "template.jinja").write_text("{{ messages }}", encoding="utf-8")
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nrunner: transformers\nmodel_id: org/m\nrevision: abc\nchat_template: template.jinja\n",
                    encoding="utf-8")
    before = load_model_config(str(path))[0]
    (tmp_path / "template.jinja").write_text("{{ messages }}!", encoding="utf-8")
    after = load_model_config(str(path))[0]
    assert before.identity() != after.identity()
    assert before.config_hash() != after.config_hash()


def test_validate_refuses_hand_written_file_hashes_and_missing_files(tmp_path: Path) -> None:
    config = lexicon_config(tmp_path / "models")
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "file_sha256: {options.lexicon: '0000'}\n", encoding="utf-8")
    result = cli("validate", config)
    assert result.exit_code == 2 and f"{config}: file_sha256: set by onkobench" in result.output, result.output
    config.write_text(text.replace("lexicon.jsonl", "gone.jsonl"), encoding="utf-8")
    result = cli("validate", config)
    assert result.exit_code == 2 and f"{config}: options.lexicon" in result.output, result.output


def test_limited_run_is_not_taken_for_the_whole_data_set(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    step1 = cli("run", "--task", "urollmeval.step1", "--model", "baseline-lexicon-fuzzy", "--data", SNIPPETS,
                "--out", runs, "--limit", "2", "--no-progress")
    assert step1.exit_code == 0, step1.output
    summary = json.loads(next(runs.glob("urollmeval.step1--*/summary.json")).read_text(encoding="utf-8"))
    task = load_task_file(REPO_ROOT / "tasks" / "urollmeval" / "step1.yaml")
    assert summary["dataset"]["fingerprint"] != load_task_data(task, SNIPPETS).fingerprint
    step2 = ("run", "--task", "urollmeval.step2", "--variant", "0-uro", "--chain", "best", "--model",
             "baseline-lexicon-exact", "--data", SNIPPETS, "--out", runs, "--no-progress")
    whole = cli(*step2)  # the whole data set has no step-1 run: the quick check does not count as one
    assert_one_line_error(whole, "no finished urollmeval.step1 run")
    limited = cli(*step2, "--limit", "2")  # a chain cut the same way still finds its step 1
    assert limited.exit_code == 0, limited.output
    assert "--from-0.baseline-lexicon-fuzzy" in limited.output


# --- 13a. YAML bombs ---------------------------------------------------------------------------------------------

def alias_bomb(levels: int = 9) -> str:
    text = 'name: bomb\nrunner: baseline\nl0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level in range(1, levels + 1):
        text += f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]\n"
    return text + f"display_name: *l{levels}\n"


def _limit_memory() -> None:
    limit = 1536 * 1024 * 1024  # the bomb took 2.7 GB; the harness itself needs a fraction of this
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_alias_bomb_in_a_model_config_is_refused_quickly_and_small(tmp_path: Path) -> None:
    path = tmp_path / "models" / "bomb.yaml"
    path.parent.mkdir()
    path.write_text(alias_bomb(), encoding="utf-8")
    for command in (["validate", str(path)], ["run", "--task", "demo.icd10gm_coding", "--model", str(path)]):
        result = subprocess.run([sys.executable, "-m", "harness.cli", *command], capture_output=True, text=True,
                                timeout=120, preexec_fn=_limit_memory, cwd=tmp_path,
                                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        assert result.returncode == 2, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and f"{path}: YAML too large with its aliases expanded" in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("a: &x [1, *x]\n", "an alias refers to the node that contains it"),
    ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "invalid YAML"),
    ("a: 1\n" + "# padding\n" * 500_000, "bytes"),
])
def test_recursive_deep_or_huge_yaml_is_one_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OnkobenchError, match=re.escape(str(path)) + ".*" + re.escape(message)):
        read_yaml(path)


def test_shared_anchors_still_load(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {x: 1, y: [1, 2]}\nother: *b\nmore: {<<: *b, z: 2}\n", encoding="utf-8")
    assert read_yaml(path) == {"base": {"x": 1, "y": [1, 2]}, "other": {"x": 1, "y": [1, 2]},
                               "more": {"x": 1, "y": [1, 2], "z": 2}}


# --- 14c. one line instead of a traceback --------------------------------------------------------------------------

@pytest.fixture
def baseline_runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    result = cli("run", "--task", "demo.icd10gm_coding", "--model", "baseline-lexicon-exact", "--out", runs, "--no-progress")
    assert result.exit_code == 0, result.output
    return runs


def test_report_into_an_unwritable_folder_is_one_line(baseline_runs: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    assert_one_line_error(cli("report", baseline_runs, "--out", blocker / "site"), "a-file/site: site not written")
    if os.geteuid() != 0:  # root writes into read-only folders anyway
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o555)
        assert_one_line_error(cli("report", baseline_runs, "--out", readonly / "site"), "site")


def test_report_refuses_to_replace_a_folder_that_is_not_a_site(baseline_runs: Path, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("mine", encoding="utf-8")
    assert_one_line_error(cli("report", baseline_runs, "--out", tmp_path / "docs"), "notes.md")
    assert (tmp_path / "docs" / "notes.md").read_text(encoding="utf-8") == "mine"


def test_report_of_a_truncated_scores_file_is_one_line(baseline_runs: Path) -> None:
    scores = next(baseline_runs.glob("*/scores.jsonl"))
    rows = [json.loads(line) for line in scores.read_text(encoding="utf-8").splitlines()]
    rows[3]["reason"] = "Größe unklar"
    lines = [(json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8") for row in rows]
    cut = sum(map(len, lines[:3])) + lines[3].index("ö".encode()) + 1
    scores.write_bytes(b"".join(lines)[:cut])  # cut inside a two-byte character of line 4
    assert_one_line_error(cli("report", baseline_runs, "--out", baseline_runs.parent / "site"), "scores.jsonl", "line 4")


def test_score_outputs_file_whose_name_is_no_model_name(tmp_path: Path, mini_task_file: Path) -> None:
    outputs = tmp_path / "my outputs (1).jsonl"
    outputs.write_text('{"id": "a", "output": "C61"}\n', encoding="utf-8")
    result = cli("score", "--task", mini_task_file, "--outputs", outputs, "--out", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "mini.coding--external--my-outputs-1" / "summary.json").exists()
    assert_one_line_error(cli("score", "--task", mini_task_file, "--outputs", outputs, "--name", "a b"), "--name")


# --- 15. smaller ---------------------------------------------------------------------------------------------------

def test_bad_utf8_in_an_outputs_file_names_the_line(tmp_path: Path, mini_task_file: Path) -> None:
    outputs = tmp_path / "outs.jsonl"
    long_line = json.dumps({"id": "a", "output": "C61 " + "x" * 100_000}).encode() + b"\n"  # longer than a read chunk
    outputs.write_bytes(long_line + b'{"id": "b", "output": "Gr\xf6\xdfe"}\n')  # latin-1 on line 2
    result = cli("score", "--task", mini_task_file, "--outputs", outputs, "--out", tmp_path / "runs")
    assert_one_line_error(result, "outs.jsonl", "line 2")


def test_a_huge_output_is_cut_on_its_page_and_kept_in_the_run_folder(mini_task_file: Path, tmp_path: Path) -> None:
    task = load_task_file(mini_task_file)
    huge = "C61 " + "Lorem ipsum " * 400_000  # 4.8 MB
    config = ModelConfig(name="verbose", runner="baseline")
    outcome = run_task_variant(RunSpec(task, task.variant("zero"), config, load_task_data(task)), tmp_path / "runs",
                               lambda: ScriptedRunner({"a": huge}), progress=False)
    build_site([tmp_path / "runs"], tmp_path / "site")
    page = tmp_path / "site" / "runs" / "mini.coding--zero--verbose.html"
    assert page.stat().st_size < 200_000
    shown = page.read_text(encoding="utf-8")
    assert f"{len(huge) - 20_000:,} more characters not shown" in shown
    stored = [json.loads(line) for line in (outcome.folder / "responses.jsonl").read_text(encoding="utf-8").splitlines()]
    assert huge in [row["text"] for row in stored]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_report_leaves_the_previous_site_whole(mini_task_file: Path, tmp_path: Path, monkeypatch, failure) -> None:
    import harness.report.site as site_module

    task = load_task_file(mini_task_file)
    data = load_task_data(task)
    for name in ("one", "two"):
        config = ModelConfig(name=name, runner="baseline")
        run_task_variant(RunSpec(task, task.variant("zero"), config, data), tmp_path / f"runs-{name}",
                         lambda: ScriptedRunner({"a": "C61"}), progress=False)
    site = tmp_path / "out" / "site"
    build_site([tmp_path / "runs-one"], site)
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(site_module, "model_pages", fail)  # after the index and the run pages were rendered
    with pytest.raises((OnkobenchError, KeyboardInterrupt)):
        build_site([tmp_path / "runs-one", tmp_path / "runs-two"], site)
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before  # the old site, untouched: no index linking to pages never written
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]  # no temporary file or folder left
    links = re.findall(r'href="([^"#]+\.html)', (site / "index.html").read_text(encoding="utf-8"))
    assert links and all((site / link).exists() for link in links)


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2066", "\u200f", "\ufeff"])
def test_invisible_characters_in_display_names_are_refused(tmp_path: Path, char: str) -> None:
    with pytest.raises(ValidationError, match="display_name"):
        ModelConfig(name="m", runner="baseline", display_name=f"Good{char}Model")
    with pytest.raises(ValidationError, match="metadata.family"):
        ModelConfig(name="m", runner="baseline", metadata={"family": f"x{char}y"})
    path = tmp_path / "models" / "m.yaml"
    path.parent.mkdir()
    path.write_text(f"name: m\nrunner: baseline\ndisplay_name: 'Good{char}Model'\n"
                    f"metadata: {{description: 'a{char}b'}}\n", encoding="utf-8")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert f"{path}: display_name: " in result.output and f"U+{ord(char):04X}" in result.output, result.output
    assert ModelConfig(name="m", runner="baseline", display_name="Qwen3 8B (Ü)",
                       metadata={"description": "line one\nline two"}).label == "Qwen3 8B (Ü)"


# --- 18. local output folders named in the docs are git-ignored ---------------------------------------------------

DOCS = [REPO_ROOT / "README.md", REPO_ROOT / "leaderboards" / "CONTRIBUTING.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
COMMITTED_OUTPUT = ("onkobench publish",)
"""Commands whose --out is meant to be committed (published results)."""


def doc_output_folders() -> dict[str, str]:
    """Every --out / --output_path destination in the docs -> where it is written; placeholders filled in."""
    found = {}
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8").replace("\\\n", " ")  # a command continued on the next line
        for line in text.splitlines():
            if any(command in line for command in COMMITTED_OUTPUT):
                continue
            for match in re.finditer(r"--out(?:put_path)?(?:=|\s+)([^\s`|;&)]+)", line):
                found[re.sub(r"<[^>]+>", "example", match.group(1))] = f"{doc.relative_to(REPO_ROOT)}: {line.strip()}"
    return found


def test_every_local_output_folder_in_the_docs_is_git_ignored() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    folders = doc_output_folders()
    assert {"site-cqa", "site-local", "lmeval-out", "runs/mine"} <= set(folders)  # the parser finds them
    kept = [f"{folder} ({where})" for folder, where in sorted(folders.items())
            if subprocess.run(["git", "check-ignore", "-q", f"{folder}/some-output.json"], cwd=REPO_ROOT).returncode != 0]
    assert not kept, "add to .gitignore: " + "; ".join(kept)


# --- 20. GitHub workflows ------------------------------------------------------------------------------------------

def workflows() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(WORKFLOWS.glob("*.y*ml"))}


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return {name: None for name in on} if isinstance(on, list) else ({on: None} if isinstance(on, str) else on)


def test_workflows_pass_the_github_workflow_schema() -> None:
    tool = shutil.which("check-jsonschema", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.y*ml"))
    result = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_deployment_runs_in_the_github_pages_environment() -> None:
    deploying = 0
    for name, workflow in workflows().items():
        for job_name, job in workflow["jobs"].items():
            if not any(str(step.get("uses", "")).startswith("actions/deploy-pages@") for step in job.get("steps", [])):
                continue
            deploying += 1
            environment = job.get("environment")
            environment = environment.get("name") if isinstance(environment, dict) else environment
            assert environment == "github-pages", f"{name}: job {job_name}: deploy-pages needs environment github-pages"
            permissions = {**workflow.get("permissions", {}), **job.get("permissions", {})}
            assert permissions.get("pages") == "write" and permissions.get("id-token") == "write", f"{name}: {job_name}"
    assert deploying == 1


def test_every_pull_request_runs_strict_validate_and_the_site_build() -> None:
    checking = []
    for name, workflow in workflows().items():
        pull_request = triggers(workflow).get("pull_request", False)
        if pull_request is False:
            continue
        assert not (pull_request or {}).keys() & {"paths", "paths-ignore", "branches", "branches-ignore"}, \
            f"{name}: runs only on some pull requests"
        commands = [str(step.get("run", "")) for job in workflow["jobs"].values() for step in job.get("steps", [])]
        validates = any(re.search(r"\bonkobench validate\b", c) and "--trust-remote-code" not in c for c in commands)
        builds = any(re.search(r"\bonkobench report leaderboards/results\b", c) for c in commands)
        if validates and builds:
            checking.append(name)
    assert checking, "no workflow runs `onkobench validate` and the site build on every pull request"

"""A run with a prompt pack is another run than one with the task's own wording: the pack (folder name and content
hash) is in its run id, manifest, summary, published result and the site's variant label; a variant the pack lacks
is run in the task's own wording with a warning and a mark in the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.files import FIXTURES, REPO_ROOT
from test_report import parse

from harness.cli import main
from harness.families.urollmeval.prompt_import import import_urollmeval
from harness.pipeline.spec import run_id_for

MINI_SNIPPETS = FIXTURES / "tasks" / "mini" / "data" / "snippets.jsonl"
FAKE_STUDY = FIXTURES / "fake_urollmeval"
MODEL = "baseline-lexicon-exact"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run_step1(out: Path, variant: str, *pack: str):
    result = invoke("run", "--task", "urollmeval.step1", "--variant", variant, "--data", str(MINI_SNIPPETS),
                    "--model", MODEL, "--out", str(out), "--no-progress", *pack)
    assert result.exit_code == 0, result.output
    return result


def load_prompt_pack(folder: Path):
    from harness.config.prompt_packs import (
        load_prompt_pack as load,  # imported late: a behaviour test, not an API one
    )

    return load(folder)


def read(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text(encoding="utf-8"))


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    folder = tmp_path / "uro-pack"
    import_urollmeval(FAKE_STUDY, folder)
    return folder


def test_pack_then_own_wording_are_two_runs_and_neither_summary_is_overwritten(tmp_path: Path, pack: Path) -> None:
    out = tmp_path / "runs"
    run_step1(out, "0", "--prompts", str(pack))
    (pack_run,) = [p.parent for p in out.glob("*/summary.json")]
    pack_summary = (pack_run / "summary.json").read_bytes()
    run_step1(out, "0")
    folders = sorted(p.parent.name for p in out.glob("*/summary.json"))
    assert len(folders) == 2 and (pack_run / "summary.json").read_bytes() == pack_summary
    own = f"urollmeval.step1--0--{MODEL}"  # the id a run without a pack always had
    content_hash = load_prompt_pack(pack).content_hash
    assert folders == [own, f"{own}--prompts-uro-pack-{content_hash[:8]}"]
    assert (pack_run / "summary.json").read_bytes() == pack_summary
    record = {"name": "uro-pack", "hash": content_hash, "variant_in_pack": True}
    assert read(pack_run, "manifest.json")["prompt_pack"] == record
    assert read(pack_run, "summary.json")["prompt_pack"] == record
    assert read(out / own, "manifest.json")["prompt_pack"] is None and read(out / own, "summary.json")["prompt_pack"] is None


def test_an_edited_pack_is_another_run(tmp_path: Path, pack: Path) -> None:
    before = load_prompt_pack(pack)
    pack_file = pack / "urollmeval.step1.yaml"
    pack_file.write_text(pack_file.read_text(encoding="utf-8").replace("Finde alle", "Finden Sie alle"), encoding="utf-8")
    after = load_prompt_pack(pack)
    assert after.name == before.name and after.content_hash != before.content_hash
    (pack / ".gitignore").write_text("*\n# edited\n", encoding="utf-8")
    assert load_prompt_pack(pack).content_hash == after.content_hash  # hidden files are no wording
    assert run_id_for("t", "0", "m", pack_tag=before.tag) != run_id_for("t", "0", "m", pack_tag=after.tag)
    assert run_id_for("t", "0", "m", "gold") == "t--0--m--from-gold"


def test_a_variant_the_pack_lacks_warns_and_is_marked(tmp_path: Path, pack: Path) -> None:
    # the stand-in study has step-1 types 0, 2-uro and 2-gyn only: 4-uro keeps onkobench's own wording
    result = run_step1(tmp_path / "runs", "4-uro", "--prompts", str(pack))
    assert "warning: prompt pack uro-pack: no wording for urollmeval.step1 variant 4-uro" in result.stderr
    assert "own wording is used" in result.stderr
    (folder,) = [p.parent for p in (tmp_path / "runs").glob("*/summary.json")]
    assert folder.name.endswith(f"--prompts-{load_prompt_pack(pack).tag}")
    assert read(folder, "manifest.json")["prompt_pack"]["variant_in_pack"] is False
    assert read(folder, "summary.json")["prompt_pack"]["variant_in_pack"] is False
    # a variant the pack words gives no warning
    assert "warning" not in run_step1(tmp_path / "runs", "2-uro", "--prompts", str(pack)).stderr


def test_a_left_out_variant_names_the_importers_reason(tmp_path: Path, pack: Path) -> None:
    data = tmp_path / "snips.jsonl"
    data.write_text('{"text": "Prostatakarzinom ED 03/2019.", "label": [{"diagnosis": "C61", "date": "2019-03"}]}\n',
                    encoding="utf-8")
    result = invoke("run", "--task", "urollmeval.step3", "--variant", "0-dates", "--gold", "--data", str(data),
                    "--model", "regex-match-same-line", "--out", str(tmp_path / "runs"), "--no-progress",
                    "--prompts", str(pack))
    assert result.exit_code == 0, result.output
    assert "variant 0-dates (left out: the builder's output depends on the snippet" in result.stderr


def test_pack_is_published_and_labelled_on_the_site(tmp_path: Path, pack: Path) -> None:
    out = tmp_path / "runs"
    run_step1(out, "0", "--prompts", str(pack))
    run_step1(out, "0")
    run_step1(out, "4-uro", "--prompts", str(pack))
    published = tmp_path / "results"
    assert invoke("publish", *map(str, sorted(out.iterdir())), "--out", str(published)).exit_code == 0
    tag = load_prompt_pack(pack).content_hash
    results = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in published.glob("*.json")}
    with_pack = results[f"urollmeval.step1--0--{MODEL}--prompts-uro-pack-{tag[:8]}"]
    assert with_pack["prompt_pack"] == {"name": "uro-pack", "hash": tag, "variant_in_pack": True}
    assert str(tmp_path) not in json.dumps(with_pack)  # the pack's name, never its path
    assert results[f"urollmeval.step1--0--{MODEL}"]["prompt_pack"] is None
    site = tmp_path / "site"
    assert invoke("report", str(published), "--out", str(site)).exit_code == 0
    (task_page,) = (site / "tasks").glob("urollmeval.step1*.html")
    variants = {row[2] for table in parse(task_page).tables for row in table[1:] if len(row) > 2}
    assert {"0", f"0 · prompts uro-pack@{tag[:8]}", f"4-uro (own wording; pack uro-pack@{tag[:8]} lacks it)"} <= variants


def test_committed_results_keep_their_ids_and_validate() -> None:
    from harness.results import read_result

    for path in sorted((REPO_ROOT / "leaderboards" / "results").rglob("*.json")):
        result = read_result(path)
        assert result is not None and result.prompt_pack is None
        chain_tag = (result.upstream or {}).get("tag")  # a chained step's id names its upstream (e.g. from-gold)
        assert path.stem == result.run_id == run_id_for(result.task, result.variant, result.model.name, chain_tag)
    assert invoke("validate", str(REPO_ROOT / "leaderboards" / "results")).exit_code == 0

"""The catalogue LoRA recipe (recipes/lora_catalogue_qa.py) and adapters named by content hash: the examples come
from training rows only and carry the evaluation prompt; the recipe trains a tiny model end to end; the runners
refuse an adapter folder whose content differs from the config's sha256."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.config.io import REPO_ROOT
from harness.config.models import ModelConfig
from harness.errors import OnkobenchError
from harness.runners.adapters import adapter_folder, folder_sha256
from support.catalogue_family import MEMORISING, HELD_OUT_TEXTS, TRAINING_IDS, load_recipe, train_tiny_adapter, write_family



recipe = load_recipe()


@pytest.fixture
def family(tmp_path: Path) -> Path:
    return write_family(tmp_path / "icd_catalogue_qa")


# --- the examples -------------------------------------------------------------------------------------------

def test_examples_come_from_training_rows_only(family: Path) -> None:
    tasks = recipe.family_tasks(family)
    examples, per_set = recipe.build_examples(tasks, recipe.Settings(per_set=100))
    ids = {example.row_id for example in examples}
    assert ids == TRAINING_IDS
    # the clinical set shares its base set's split: counted once, under the base set
    assert set(per_set) == {"alphaid_icd10gm_neoplasms", "tumour_recognition"}
    assert per_set["alphaid_icd10gm_neoplasms"]["dropped_held_out"] == 3
    assert per_set["tumour_recognition"]["dropped_held_out"] == 1
    for example in examples:
        text = " ".join(m["content"] for m in example.messages)
        assert not any(h.casefold() in text.casefold() for h in HELD_OUT_TEXTS), text
    expected = hashlib.sha256((family / "generated/tumour_recognition/train.jsonl").read_bytes()).hexdigest()
    assert per_set["tumour_recognition"]["train_sha256"] == expected


def test_training_prompt_is_the_evaluation_prompt(family: Path) -> None:
    from harness.data import build_samples
    from harness.prompts import build_requests

    config = ModelConfig.model_validate({"name": "m", "runner": "transformers", "model_id": "org/m", "revision": "r"})
    for task in recipe.family_tasks(family):
        variant = task.variant("0")
        test_row = json.loads((task.folder / task.dataset.path).read_text(encoding="utf-8").splitlines()[0])
        (evaluation,) = build_requests(task, variant, build_samples(task, [test_row], "test"), config)
        training_row = {"id": "x", "text": test_row["text"], "answer": "C61"}
        renderer = recipe.PromptRenderer(task, variant)
        assert recipe.render_prompt(renderer, training_row) == list(evaluation.messages)
        assert "C61" not in json.dumps(evaluation.messages)  # the answer is no part of the prompt


def test_rows_are_drawn_seeded_and_stratified() -> None:
    rows = [{"id": f"c{i}", "text": str(i), "answer": f"C{i:02d}"} for i in range(10)]
    rows += [{"id": f"d{i}", "text": str(i), "answer": f"D{i:02d}"} for i in range(2)]
    rows += [{"id": f"z{i}", "text": str(i), "answer": f"Z{i:02d}"} for i in range(10)]
    picked = recipe.select_rows(rows, 9, seed=3)
    # three strata take turns: D runs out after two, C and Z share the rest (4 + 3 or 3 + 4, C first)
    assert sorted(recipe.stratum(r["answer"]) for r in picked) == ["C"] * 4 + ["D"] * 2 + ["Z"] * 3
    assert picked == recipe.select_rows(list(reversed(rows)), 9, seed=3)  # the file's order does not matter
    assert picked != recipe.select_rows(rows, 9, seed=4)
    assert len(recipe.select_rows(rows, 100, seed=0)) == len(rows)


def test_a_bad_training_row_names_file_row_and_field(family: Path) -> None:
    path = family / "generated/tumour_recognition/train.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + json.dumps({"id": "x", "text": "Zyste"}) + "\n", encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"tumour_recognition/train\.jsonl: row 6: field 'answer'"):
        recipe.build_examples(recipe.family_tasks(family), recipe.Settings())


def test_a_missing_test_file_stops_the_recipe(family: Path) -> None:
    (family / "generated/alphaid_icd10gm_neoplasms_clinical/test.jsonl").unlink()
    with pytest.raises(OnkobenchError, match=r"clinical/test\.jsonl: not found; the held-out texts"):
        recipe.build_examples(recipe.family_tasks(family), recipe.Settings())


# --- the content hash and the configs that name it ----------------------------------------------------------

def _adapter_files(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}', encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 8)
    (folder / "sub").mkdir()
    (folder / "sub" / "ä.txt").write_text("x", encoding="utf-8")
    return folder


def test_folder_hash_is_the_documented_one_and_depends_on_content_only(tmp_path: Path) -> None:
    folder = _adapter_files(tmp_path / "a")
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {name}\n" for name, p in sorted(
        (p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file()))
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert folder_sha256(folder) == expected
    if shutil.which("sha256sum") and shutil.which("find"):  # the shell line of the module docstring
        shell = ("find . -type f -printf '%P\\n' | LC_ALL=C sort | while read -r f; do sha256sum \"$f\"; done"
                 " | sha256sum")
        assert subprocess.run(shell, shell=True, cwd=folder, capture_output=True, text=True).stdout.split()[0] == expected
    copy = tmp_path / "elsewhere" / "b"
    shutil.copytree(folder, copy)  # new place, new times
    assert folder_sha256(copy) == expected
    (copy / "sub" / "ä.txt").rename(copy / "sub" / "b.txt")
    assert folder_sha256(copy) != expected  # a name counts
    shutil.rmtree(copy)
    shutil.copytree(folder, copy)
    data = bytearray((copy / "adapter_model.safetensors").read_bytes())
    data[100] ^= 1
    (copy / "adapter_model.safetensors").write_bytes(bytes(data))
    assert folder_sha256(copy) != expected  # one bit counts


def test_a_symlink_in_an_adapter_folder_is_refused(tmp_path: Path) -> None:
    folder = _adapter_files(tmp_path / "a")
    (folder / "link.safetensors").symlink_to(folder / "adapter_model.safetensors")
    with pytest.raises(OnkobenchError, match="symbolic link in an adapter folder"):
        folder_sha256(folder)


def _lora_config(path: str, sha256: str | None = None, **extra) -> ModelConfig:
    adapter = {"name": "cat", "path": path, "base_model": "org/m", **({"sha256": sha256} if sha256 else {})}
    return ModelConfig.model_validate({"name": "m-lora", "runner": "transformers", "model_id": "org/m",
                                       "revision": "r", "adapter": adapter, **extra})


def test_cache_path_needs_sha256_and_sha256_needs_a_local_folder() -> None:
    with pytest.raises(Exception, match=r"adapter\n.*needs sha256"):
        _lora_config("cache:adapters/cat")
    with pytest.raises(Exception, match="sha256 is the hash of a local folder"):
        ModelConfig.model_validate({"name": "m", "runner": "transformers", "model_id": "org/m", "adapter": {
            "name": "cat", "hub_id": "org/cat", "revision": "abc", "base_model": "org/m", "sha256": "0" * 64}})
    with pytest.raises(Exception, match="should match pattern"):
        _lora_config("cache:adapters/cat", sha256="ABC")


def test_cache_path_resolves_in_the_cache_and_stays_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    folder = _adapter_files(tmp_path / "cache" / "adapters" / "cat")
    digest = folder_sha256(folder)
    assert adapter_folder(_lora_config("cache:adapters/cat", digest), tmp_path / "elsewhere") == folder.resolve()
    _adapter_files(tmp_path / "outside")
  # allowing the folder does not open the cache
    for path in ("cache:../outside", f"cache:{tmp_path / 'outside'}", "cache:."):
        with pytest.raises(OnkobenchError, match="must name a path inside onkobench's cache"):
            adapter_folder(_lora_config(path, digest), tmp_path)
    with pytest.raises(OnkobenchError, match=r"adapters/gone not found \(train it first"):
        adapter_folder(_lora_config("cache:adapters/gone", digest), tmp_path)


def test_a_changed_folder_is_refused_naming_config_and_both_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    folder = _adapter_files(tmp_path / "cache" / "adapters" / "cat")
    digest = folder_sha256(folder)
    (folder / "adapter_config.json").write_text('{"r": 16}', encoding="utf-8")
    found = folder_sha256(folder)
    for path in ("cache:adapters/cat", str(folder)):
        with pytest.raises(OnkobenchError) as err:
            adapter_folder(_lora_config(path, digest), tmp_path)
        assert "model m-lora: adapter cat" in str(err.value)
        assert f"expected {digest}, found {found}" in str(err.value)


def test_sha256_is_part_of_the_request_keys_and_old_keys_stay() -> None:
    without = _lora_config("adapters/cat")
    assert "sha256" not in without.identity()["adapter"]  # configs written before the field keep their keys
    one, other = _lora_config("adapters/cat", "1" * 64), _lora_config("adapters/cat", "2" * 64)
    assert one.identity()["adapter"]["sha256"] == "1" * 64
    assert len({without.config_hash(), one.config_hash(), other.config_hash()}) == 3
    from harness.prompts import build_requests
    from harness.config.tasks import load_task
    from harness.data import Sample

    task = load_task("demo.tumour_detection")
    sample = Sample(id="1", fields={"text": "Prostatakarzinom", "id": "1"}, target=True)
    keys = {build_requests(task, task.variant(next(iter(task.variants))), [sample], c)[0].key for c in (without, one, other)}
    assert len(keys) == 3


# --- the runners with a real (tiny) adapter -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("peft")
    from support.tiny_models import build_tiny_llama, build_tiny_peft_lora

    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_llama(root / "llama")
    return model, build_tiny_peft_lora(root / "lora", model)


@pytest.fixture(autouse=True)
def _allow_test_folders(tmp_path_factory, monkeypatch) -> None:
    # the tiny model (one per module) and each test's configs and adapters lie in different temporary folders
    monkeypatch.setenv("ONKOBENCH_ALLOWED_PATHS", str(tmp_path_factory.getbasetemp()))


def _tiny_config(model: Path, adapter: Path | None = None, sha256: str | None = None) -> ModelConfig:
    data = {"name": "tiny", "runner": "transformers", "model_id": str(model), "dtype": "float32"}
    if adapter is not None:
        data |= {"name": "tiny-lora", "adapter": {"name": "tinylora", "path": str(adapter), "base_model": str(model),
                                                  **({"sha256": sha256} if sha256 else {})}}
    return ModelConfig.model_validate(data)


def _answers(runner, texts: list[str]) -> list[str]:
    from harness.records import Request, Sampling

    requests = [Request(key=str(i), task="t", variant="v", sample_id=str(i), messages=({"role": "user", "content": t},),
                        sampling=Sampling(max_tokens=8)) for i, t in enumerate(texts)]
    by_key = {r.key: r.text for r in runner.generate(requests)}
    return [by_key[str(i)] for i in range(len(texts))]


def test_transformers_runner_answers_with_a_good_adapter_and_refuses_a_changed_one(tiny, tmp_path: Path, monkeypatch) -> None:
    from harness.runners.transformers import TransformersRunner


    model, lora = tiny
    digest = folder_sha256(lora)
    texts = ["Prostatakarzinom", "Mammakarzinom links", "Z.n. RPE 2019"]
    base = _answers(TransformersRunner(_tiny_config(model), model.parent), texts)
    runner = TransformersRunner(_tiny_config(model, lora, digest), model.parent)
    assert runner.describe()["peft"]
    # greedy, same prompts: only the adapter's weights can change the answers
    assert _answers(runner, texts) != base
    tampered = tmp_path / "lora"
    shutil.copytree(lora, tampered)
    config = json.loads((tampered / "adapter_config.json").read_text(encoding="utf-8"))
    (tampered / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 64}), encoding="utf-8")
    with pytest.raises(OnkobenchError, match=f"model tiny-lora: adapter tinylora: .* expected {digest}, found"):
        TransformersRunner(_tiny_config(model, tampered, digest), model.parent)


# --- the recipe end to end ----------------------------------------------------------------------------------

def _tiny_model_config(tmp_path: Path, model: Path) -> Path:
    path = tmp_path / "tiny-base.yaml"
    path.write_text(f"name: tiny-base\nrunner: transformers\nmodel_id: {model}\ndtype: float32\n", encoding="utf-8")
    return path


def test_recipe_trains_a_tiny_model_into_the_cache(tiny, family: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from harness.runners.transformers import TransformersRunner

    model, _ = tiny
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    args = ["--model", str(_tiny_model_config(tmp_path, model)), "--family-dir", str(family), "--name", "toy",
            "--per-set", "3", "--max-examples", "5", "--batch-size", "2", "--max-minutes", "5", "--threads", "1",
            "--rank", "4", "--learning-rate", "0.01"]
    assert recipe.main(args) == 0
    printed = capsys.readouterr().out
    folder = tmp_path / "cache" / "adapters" / "toy"
    digest = folder_sha256(folder)
    assert f"sha256: {digest}" in printed
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    adapter_config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter_config["r"] == 4 and adapter_config["target_modules"] == sorted(recipe.TARGET_MODULES)
    record = json.loads((folder.parent / "toy.training.json").read_text(encoding="utf-8"))
    assert record["adapter_sha256"] == digest
    assert (record["steps"], record["planned_steps"], record["examples_seen"]) == (3, 3, 5)  # 5 examples, 2 a step
    assert record["stopped_by_budget"] is False
    assert sum(s["used"] for s in record["sets"].values()) == 5 and record["settings"]["seed"] == 0
    assert set(record["versions"]) == {"torch", "transformers", "peft"}
    assert record["loss"]["curve"][0]["steps"] == "1-3"
    # a config naming it by hash is accepted (and answers differently from the base model) ...
    config = ModelConfig.model_validate({"name": "tiny-cat", "runner": "transformers", "model_id": str(model), "dtype": "float32",
                                         "adapter": {"name": "toy", "path": "cache:adapters/toy", "base_model": str(model),
                                                     "sha256": digest}})
    runner = TransformersRunner(config, tmp_path)
    assert runner.describe()["peft"]
    # ... and a retrained adapter in its place is not
    assert recipe.main(args[:-1] + ["0.02"]) == 0
    with pytest.raises(OnkobenchError, match=f"expected {digest}, found {folder_sha256(folder)}"):
        TransformersRunner(config, tmp_path)


def test_recipe_is_reproducible(tiny, family: Path, tmp_path: Path, monkeypatch) -> None:
    model, _ = tiny
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    common = ["--model", str(_tiny_model_config(tmp_path, model)), "--family-dir", str(family), "--per-set", "3",
              "--max-examples", "4", "--batch-size", "2", "--threads", "1", "--rank", "4"]
    assert recipe.main(common + ["--name", "one"]) == 0
    assert recipe.main(common + ["--name", "two"]) == 0
    assert recipe.main(common + ["--name", "three", "--seed", "1"]) == 0
    adapters = tmp_path / "cache" / "adapters"
    assert folder_sha256(adapters / "one") == folder_sha256(adapters / "two") != folder_sha256(adapters / "three")


def test_recipe_stops_cleanly_at_the_budget(tiny, family: Path, tmp_path: Path, monkeypatch) -> None:
    model, _ = tiny
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    ticks = iter(range(0, 10**6, 10))  # a clock that moves on 10 s at every reading
    monkeypatch.setattr(recipe, "_clock", lambda: next(ticks))
    args = ["--model", str(_tiny_model_config(tmp_path, model)), "--family-dir", str(family), "--name", "cut",
            "--per-set", "5", "--batch-size", "1", "--threads", "1", "--rank", "4", "--max-minutes", "1.5"]
    assert recipe.main(args) == 0
    record = json.loads((tmp_path / "cache" / "adapters" / "cut.training.json").read_text(encoding="utf-8"))
    assert record["stopped_by_budget"] is True
    assert 0 < record["steps"] < record["planned_steps"] == 8  # 8 training rows, 1 a step
    assert record["examples_seen"] == record["steps"] == sum(s["seen"] for s in record["sets"].values())
    assert sum(s["used"] for s in record["sets"].values()) == 8
    assert folder_sha256(tmp_path / "cache" / "adapters" / "cut") == record["adapter_sha256"]


def test_max_steps_retrains_the_adapter_a_budget_cut_gave(tiny, family: Path, tmp_path: Path, monkeypatch) -> None:
    """The committed adapter was cut by the wall clock; ``--max-steps`` at its recorded step count retrains the same
    weights (same schedule), and a different step count gives other ones."""
    model, _ = tiny
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    common = ["--model", str(_tiny_model_config(tmp_path, model)), "--family-dir", str(family), "--per-set", "5",
              "--batch-size", "1", "--threads", "1", "--rank", "4"]
    ticks = iter(range(0, 10**6, 10))
    monkeypatch.setattr(recipe, "_clock", lambda: next(ticks))
    assert recipe.main(common + ["--name", "cut", "--max-minutes", "1.5"]) == 0
    adapters = tmp_path / "cache" / "adapters"
    cut = json.loads((adapters / "cut.training.json").read_text(encoding="utf-8"))
    assert cut["stopped_by_budget"] is True and cut["stopped_at_max_steps"] is False
    monkeypatch.setattr(recipe, "_clock", time.monotonic)
    steps = cut["steps"]
    assert recipe.main(common + ["--name", "same", "--max-steps", str(steps)]) == 0
    assert recipe.main(common + ["--name", "other", "--max-steps", str(steps + 1)]) == 0
    same = json.loads((adapters / "same.training.json").read_text(encoding="utf-8"))
    assert same["stopped_at_max_steps"] is True and same["stopped_by_budget"] is False
    assert same["steps"] == steps and same["planned_steps"] == cut["planned_steps"]
    assert folder_sha256(adapters / "same") == cut["adapter_sha256"] != folder_sha256(adapters / "other")


def test_recipe_refuses_a_budget_too_small_for_one_step(tiny, family: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    model, _ = tiny
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    ticks = iter(range(0, 10**6, 1000))
    monkeypatch.setattr(recipe, "_clock", lambda: next(ticks))
    args = ["--model", str(_tiny_model_config(tmp_path, model)), "--family-dir", str(family), "--name", "none",
            "--threads", "1", "--max-minutes", "1"]
    assert recipe.main(args) == 2
    assert "ran out before the first training step" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "adapters" / "none").exists()


@pytest.mark.slow  # about 15 s of training and two engines on the tiny model
def test_the_trained_adapter_answers_its_training_questions(tiny, tmp_path: Path, monkeypatch) -> None:
    """Loss on the answer after the evaluation prompt, served unmerged by the runner: the tiny random model learns
    the family's training answers by heart, and answers them when asked with the evaluation prompt."""
    from harness.records import Request, Sampling
    from harness.runners.transformers import TransformersRunner

    model, _ = tiny
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    folder, digest = train_tiny_adapter(tmp_path, model, "memo", MEMORISING)
    examples, _ = recipe.build_examples(recipe.family_tasks(tmp_path / "family"), recipe.Settings())
    requests = [Request(key=e.row_id, task="t", variant="0", sample_id=e.row_id, messages=e.messages,
                        sampling=Sampling(max_tokens=8, stop=("\n",))) for e in examples]
    right = {}
    for config in (_tiny_config(model), _tiny_config(model, folder, digest)):
        answers = {r.key: r.text.strip() for r in TransformersRunner(config, tmp_path).generate(requests)}
        right[config.name] = sum(answers[e.row_id] == e.answer for e in examples)
    assert right["tiny"] == 0 and right["tiny-lora"] >= 5, right  # measured: 0 and 7 of 8


def test_the_committed_config_names_the_trained_adapter_by_hash_on_the_smollm2_weights() -> None:
    from harness.config.io import cache_dir
    from harness.config.models import load_model_config
    from harness.validation import check_model

    lora, path = load_model_config("smollm2-135m-instruct-catalogue-lora")
    base, _ = load_model_config("smollm2-135m-instruct")
    assert lora.adapter is not None and lora.adapter.sha256
    assert lora.adapter.path == f"cache:adapters/{recipe.DEFAULT_NAME}"
    assert lora.wheel_file == base.wheel_file and lora.model_id == base.model_id == lora.adapter.base_model
    assert (lora.metadata.weight_type, lora.metadata.fine_tuned_from) == ("adapter", base.model_id)
    assert lora.engine_key() == base.engine_key()  # in one suite, one engine serves both
    assert check_model(path) == []
    folder = cache_dir() / "adapters" / recipe.DEFAULT_NAME
    if not folder.exists():
        pytest.skip(f"the adapter is not trained here ({folder}): python recipes/lora_catalogue_qa.py")
    assert adapter_folder(lora, path.parent) == folder.resolve()  # this cache holds the adapter the config names


def test_the_answer_loss_is_the_loss_of_the_answer_tokens(tiny) -> None:
    """The recipe's loss (left padding, logits of the last positions only) equals transformers' own loss with
    labels -100 on the prompt, computed row by row without padding."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    model_path, _ = tiny
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = LlamaForCausalLM.from_pretrained(model_path).eval()
    examples = [recipe.Example("s", str(i), ({"role": "user", "content": text},), answer) for i, (text, answer) in
                enumerate([("Prostatakarzinom", "C61"), ("Mammakarzinom links mit einer langen Beschreibung", "C50.9"),
                           ("Nein?", "Nein")])]
    encoded = [recipe.tokenize_example(tokenizer, example, {}) for example in examples]
    (batch,) = recipe.make_batches(encoded, 8, tokenizer.pad_token_id)
    with torch.no_grad():
        ours = recipe.answer_loss(model, batch)
        total, count = 0.0, 0
        for ids, labels in encoded:
            n = sum(label != -100 for label in labels)  # the answer tokens; transformers averages over them
            loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
            total, count = total + float(loss) * n, count + n
    # every answer token counts once, the prompt never: the mean over all answer tokens of the batch
    assert float(ours) == pytest.approx(total / count, rel=1e-4)

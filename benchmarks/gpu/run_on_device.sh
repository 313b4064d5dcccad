#!/usr/bin/env bash
# The one call for the lent H200 (no vLLM, no network there; see README.md), from the repository root:
#   run(command="bash benchmarks/gpu/run_on_device.sh", carry=[".whl"])
# .whl/ holds what onkobench imports and the device image lacks (pydantic and its parts). Extra arguments go
# to the script (e.g. --repeat 2 --rounds 2 for a shorter rerun).
set -euo pipefail
OUT=${OUT:-/tmp/onkobench-device-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
{
  nvidia-smi -L
  python3 -c 'import sys, torch, transformers, pydantic; print("python", sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.version.cuda, "transformers", transformers.__version__, "pydantic", pydantic.VERSION)'
  PYTHONUNBUFFERED=1 python3 benchmarks/gpu/transformers_dummy_throughput.py --out "$OUT/gpu-transformers.json" "$@"
} 2>&1 | tee "$OUT/gpu-transformers.log"

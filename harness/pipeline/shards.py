"""Which samples of a run one of n machines takes (``onkobench run --shard i/n``).

The rule: sample ``s`` belongs to shard ``1 + (first 8 bytes of sha256("onkobench-shard\\0" + s.id)) mod n``. It reads
the sample id only, so a sample is in the same shard on every machine, whatever the order of the data, the
``--limit`` or which other shards run, for every model and variant (all queries of a sample stay together, which
its scoring needs). It does not hash the request key: that holds the engine's installed version, and two machines
with different versions would split the same data differently, losing or doubling samples.

A shard's data is other data than the whole run's: it gets its own fingerprint (as ``--limit`` does), and its
manifest records the whole run's (``ShardRecord``), which ``onkobench merge`` gives the merged run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from harness.data import TaskData
from harness.errors import OnkobenchError
from harness.records import stable_hash
from harness.store import ShardRecord

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(sample_id: str, count: int) -> int:
    """The 1-based shard of ``count`` that ``sample_id`` belongs to."""
    digest = hashlib.sha256(f"onkobench-shard\0{sample_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"i/n"`` with 1 <= i <= n, else an error saying what is wrong."""
        match = _SHARD.match(text)
        if not match:
            raise OnkobenchError(f"--shard {text!r}: give i/n, the 1-based shard index and the shard count (e.g. 2/8)")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            raise OnkobenchError(f"--shard {text!r}: the index must lie between 1 and the count {count} (1-based)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, sample_id: str) -> bool:
        return shard_of(sample_id, self.count) == self.index


def _part_fingerprint(fingerprint: str, shard: Shard) -> str:
    return stable_hash({"data": fingerprint, "shard": [shard.index, shard.count]}, length=32)


def split_data(whole: TaskData, shard: Shard, first: int | None, engine_version: str) -> tuple[TaskData, ShardRecord]:
    """The shard's part of ``whole`` (the run's data after ``--limit`` and chaining) and the record of the whole.

    The part's fingerprints (a chained step's base one too) are its own, so a shard is never in a table, a chain
    or a comparison with a whole run."""
    base = whole.chain["base_fingerprint"] if whole.chain else None
    record = ShardRecord(index=shard.index, count=shard.count, fingerprint=whole.fingerprint, base_fingerprint=base,
                         n_samples=len(whole.samples), first=first, engine_version=engine_version)
    chain = {**whole.chain, "base_fingerprint": _part_fingerprint(base, shard)} if whole.chain else None
    part = replace(whole, samples=[s for s in whole.samples if shard.holds(s.id)],
                   fingerprint=_part_fingerprint(whole.fingerprint, shard), chain=chain)
    return part, record

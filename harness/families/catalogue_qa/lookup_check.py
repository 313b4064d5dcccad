"""What a dictionary still gets on each built set: the share of test items the exact catalogue lookup (an
oracle: it knows every catalogue text, the test items' own included) and the fair fuzzy lookup (it knows
only the training split) answer right. Written into the manifest, so a reader sees at once whether a set
measures coding or look-up (on the catalogue-recall sets the exact oracle is right by construction).

The fair lookup here is the one the ``catalogue-lookup-fuzzy`` baseline runs (same index, same score
threshold, same training file), so its share equals that baseline's accuracy on the set. The oracle here knows
the set's own catalogue rows (every kept candidate, test items included); the ``catalogue-oracle-*`` baselines
look up the whole catalogue file, dropped rows too, so their scores may differ slightly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import read_jsonl
from harness.runners.baseline import CatalogueIndex

FAIR_MIN_SCORE = 80.0
"""The committed fair fuzzy baseline's ``min_score``."""


def _share(index: CatalogueIndex, items: list[tuple[str, str]], fuzzy: bool, fallback: str) -> float | None:
    if not items:
        return None
    right = sum((index.find(text, fuzzy, FAIR_MIN_SCORE) or fallback) == gold for text, gold in items)
    return round(right / len(items), 4)


class SetLookups:
    """The oracle's and the fair lookup's index for one base set, built once and shared with its clinical set."""

    def __init__(self, out_dir: Path, base_set: str, catalogue_pairs: list[tuple[str, str]], fallback: str = "") -> None:
        train = [(str(row["text"]), str(row["answer"])) for row in read_jsonl(out_dir / base_set / "train.jsonl")]
        self.out_dir, self.fallback = out_dir, fallback
        self.oracle, self.fair = CatalogueIndex(catalogue_pairs), CatalogueIndex(train)

    def shares(self, set_name: str, gold_field: str) -> dict[str, Any]:
        """``oracle_exact`` and ``fair_fuzzy`` (plus ``fair_exact``) shares of ``set_name``'s test items.

        The oracle knows every catalogue row of the base set; the fair lookup reads the base set's ``train.jsonl``
        (a clinical set learns from its base set's split); ``fallback`` is the answer when nothing is found
        (``Nein`` for recognition, as the baseline answers)."""
        items = [(str(row["text"]), str(row[gold_field])) for row in read_jsonl(self.out_dir / set_name / "test.jsonl")]
        return {
            "n": len(items),
            "oracle_exact": _share(self.oracle, items, False, self.fallback),
            "fair_exact": _share(self.fair, items, False, self.fallback),
            "fair_fuzzy": _share(self.fair, items, True, self.fallback),
            "fair_min_score": FAIR_MIN_SCORE,
        }

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


def lookup_shares(
    out_dir: Path, set_name: str, gold_field: str, catalogue_pairs: list[tuple[str, str]], train_set: str,
    fallback: str = "",
) -> dict[str, Any]:
    """``oracle_exact`` and ``fair_fuzzy`` (plus ``fair_exact``) shares of ``set_name``'s test items.

    ``catalogue_pairs``: (text, answer) of every catalogue row of the set; ``train_set``: the set whose
    ``train.jsonl`` the fair lookup reads (a clinical set learns from its base set's split); ``fallback``: the
    answer when nothing is found (``Nein`` for recognition, as the baseline answers)."""
    items = [(str(row["text"]), str(row[gold_field])) for row in read_jsonl(out_dir / set_name / "test.jsonl")]
    train = [(str(row["text"]), str(row["answer"])) for row in read_jsonl(out_dir / train_set / "train.jsonl")]
    oracle, fair = CatalogueIndex(catalogue_pairs), CatalogueIndex(train)
    return {
        "n": len(items),
        "oracle_exact": _share(oracle, items, False, fallback),
        "fair_exact": _share(fair, items, False, fallback),
        "fair_fuzzy": _share(fair, items, True, fallback),
        "fair_min_score": FAIR_MIN_SCORE,
    }

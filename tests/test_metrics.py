from __future__ import annotations

import pytest

from harness.scoring import METRICS, compute_metrics
from harness.scoring.metrics import ScoredSample


def sample(status: str = "ok", **values) -> ScoredSample:
    return ScoredSample("x", None, status, "", None, None, values)


def test_accuracy_counts_malformed_as_wrong() -> None:
    samples = [
        sample(correct=1, partial=1),
        sample(correct=0, partial=1),
        sample("malformed", correct=0, partial=0),
        sample("empty", correct=0, partial=0),
        sample("error", correct=0, partial=0),
    ]
    m = compute_metrics(["accuracy", "accuracy_wellformed", "p_malformed", "p_error", "partial_accuracy"], samples)
    assert m["accuracy"].value == pytest.approx(1 / 5)
    assert m["accuracy_wellformed"].value == pytest.approx(1 / 2)  # 2 well-formed, 1 correct
    assert m["accuracy_wellformed"].n == 2
    assert m["p_malformed"].value == pytest.approx(2 / 5)  # malformed + empty; the runner error is not the model's
    assert m["p_error"].value == pytest.approx(1 / 5)
    assert m["partial_accuracy"].value == pytest.approx(2 / 5)


def test_binary_metrics_by_hand() -> None:
    # TP=3, FN=1, TN=2, FP=2, plus one malformed that the confusion metrics leave out
    rows = [(True, True)] * 3 + [(True, False)] + [(False, False)] * 2 + [(False, True)] * 2
    samples = [sample(correct=int(g == p), gold=g, predicted=p) for g, p in rows]
    samples.append(sample("malformed", correct=0, gold=True, predicted=None))
    m = compute_metrics(["accuracy", "sensitivity", "specificity", "precision", "f1"], samples)
    assert m["accuracy"].value == pytest.approx(5 / 9)
    assert m["sensitivity"].value == pytest.approx(3 / 4)
    assert m["specificity"].value == pytest.approx(2 / 4)
    assert m["precision"].value == pytest.approx(3 / 5)
    assert m["f1"].value == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert m["f1"].lo <= m["f1"].value <= m["f1"].hi
    assert m["f1"].method == "bootstrap"


def test_every_metric_documented() -> None:
    for name in METRICS:
        assert METRICS.get(name).__doc__, name

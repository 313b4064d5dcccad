"""The collector's pacing during bulk work: raised inside, restored after (also after an error), never lowered."""

from __future__ import annotations

import gc

import pytest

from harness.gc_pacing import BULK_THRESHOLD, paced_collector


@pytest.fixture(autouse=True)
def default_pacing():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_raised_inside_and_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError):
        with paced_collector():
            assert gc.get_threshold() == (BULK_THRESHOLD, 10, 10)
            assert gc.isenabled()  # it still collects, only less often
            raise RuntimeError("a bad row")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_pacing_set_by_the_user_is_kept() -> None:
    gc.set_threshold(200_000, 10, 10)
    with paced_collector():
        assert gc.get_threshold()[0] == 200_000
    assert gc.get_threshold()[0] == 200_000


def test_the_bulk_functions_run_under_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.config.tasks import load_task
    from harness.data import build_samples, load_task_data
    import harness.data

    seen = []

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold()[0])
        return build_samples(*args, **kwargs)

    monkeypatch.setattr(harness.data, "build_samples", spy)
    load_task_data(load_task("demo.icd10gm_coding"))
    assert seen == [BULK_THRESHOLD] and gc.get_threshold()[0] == 700

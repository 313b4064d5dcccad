"""The collector's pacing during bulk work: raised inside, restored after (also after an error), never lowered; paused
while acyclic data is built, whose objects then join the oldest generation without a pass."""

from __future__ import annotations

import gc
import weakref

import pytest

from harness.gc_pacing import BULK_THRESHOLD, collector_paused, paced_collector


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
        seen.append((gc.get_threshold()[0], gc.isenabled()))
        return build_samples(*args, **kwargs)

    monkeypatch.setattr(harness.data, "build_samples", spy)
    load_task_data(load_task("demo.icd10gm_coding"))
    assert seen == [(BULK_THRESHOLD, False)] and gc.get_threshold()[0] == 700 and gc.isenabled()


class Node:
    def __init__(self) -> None:
        self.other: object = None


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_inside_and_what_was_made_there_is_old_after(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError):
            with collector_paused():
                assert not gc.isenabled()
                made = [{"row": i} for i in range(50_000)]  # far more than a young pass is due after
                cycle = Node()
                cycle.other = Node()
                cycle.other.other = cycle
                raise RuntimeError("a bad row")
        assert gc.isenabled() is enabled
        assert gc.get_count()[0] < 700  # no young pass will walk the 50,000 rows
        oldest = {id(obj) for obj in gc.get_objects(generation=2)}
        assert id(made) in oldest and id(cycle) in oldest
    finally:
        gc.enable()
    gone = weakref.ref(cycle)
    del cycle, made
    gc.collect()  # a cycle made inside is collected as any old one
    assert gone() is None


def test_objects_someone_else_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            made = [{"row": i} for i in range(1000)]
        assert gc.get_freeze_count() == frozen and gc.isenabled()
        assert id(made) not in {id(obj) for obj in gc.get_objects(generation=2)}  # left young
    finally:
        gc.unfreeze()

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.config.tasks import load_all_tasks, load_task, load_task_file

from support.files import write_jsonl


def test_demo_tasks_load_with_data() -> None:
    tasks = load_all_tasks()
    assert {"demo.tumour_detection", "demo.icd10gm_coding", "demo.icdo3_topography_coding"} <= set(tasks)
    detection = load_task_data(tasks["demo.tumour_detection"])
    assert len(detection.samples) == 40
    assert [s.id for s in detection.samples[:3]] == ["0", "1", "2"]  # row index, as UroLlmEvalSet
    assert all(isinstance(s.target, bool) for s in detection.samples)
    coding = load_task_data(tasks["demo.icd10gm_coding"])
    assert len(coding.samples) == 60
    for name, task in tasks.items():
        if name.startswith("demo."):
            assert task.dataset.synthetic and not task.dataset.private
            assert len(task.variants) >= 2


def test_family_defaults_merge(mini_tasks: Path) -> None:
    (mini_tasks / "mini" / "_family.yaml").write_text("generation: {temperature: 0.0, seed: 7}\n", encoding="utf-8")
    task = load_task_file(mini_tasks / "mini" / "coding.yaml")
    assert task.generation.seed == 7
    assert task.generation.max_tokens == 8
    assert task.generation_for(task.variant("two-shot")).max_tokens == 12


def test_target_expression(mini_tasks: Path) -> None:
    task = load_task_file(mini_tasks / "mini" / "detection.yaml")
    data = load_task_data(task)
    assert [s.target for s in data.samples] == [True, False, True, False, False]


def test_unknown_field_names_file_and_field(mini_task_file: Path) -> None:
    mini_task_file.write_text(mini_task_file.read_text(encoding="utf-8") + "colour: blue\n", encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"coding\.yaml: colour: Extra inputs are not permitted"):
        load_task_file(mini_task_file)


def test_primary_metric_must_be_listed(mini_task_file: Path) -> None:
    text = mini_task_file.read_text(encoding="utf-8").replace("primary_metric: accuracy", "primary_metric: f1")
    mini_task_file.write_text(text, encoding="utf-8")
    with pytest.raises(OnkobenchError, match="primary_metric 'f1' is not in metrics"):
        load_task_file(mini_task_file)


def test_invalid_yaml_names_line(mini_task_file: Path) -> None:
    mini_task_file.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"coding\.yaml: line \d+: invalid YAML"):
        load_task_file(mini_task_file)


def test_unknown_task_suggests() -> None:
    with pytest.raises(OnkobenchError, match="did you mean 'demo.icd10gm_coding'"):
        load_task("demo.icd10gm_codng")


def test_missing_column_names_row(mini_task_file: Path, tmp_path: Path) -> None:
    task = load_task_file(mini_task_file)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "text": "x", "code": "C61"}, {"id": "b", "text": "y"}])
    with pytest.raises(OnkobenchError, match=r"bad\.jsonl: row 1: missing column\(s\) code"):
        load_task_data(task, bad)


def test_duplicate_ids_rejected(mini_task_file: Path, tmp_path: Path) -> None:
    task = load_task_file(mini_task_file)
    bad = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "text": "x", "code": "C61"}] * 2)
    with pytest.raises(OnkobenchError, match="row 1: duplicate sample id 'a'"):
        load_task_data(task, bad)


@pytest.mark.parametrize("rows", [
    [{"id": "a", "text": "x", "code": "C61"}, {"id": "b", "text": "y", "code": None, "extra": 1}],
    [{"id": 7, "text": "x", "code": "C61"}, {"id": "8", "text": "y", "code": "C34.1"}],  # ids made strings row by row
])
def test_samples_built_a_column_at_a_time_are_those_built_row_by_row(mini_task_file: Path, rows: list[dict]) -> None:
    import harness.data as data_module

    task = load_task_file(mini_task_file)
    by_column = data_module.build_samples(task, [dict(row) for row in rows], "rows")
    by_row = [data_module.Sample(str(row["id"]), row, row["code"]) for row in rows]
    assert by_column == by_row
    assert all(type(sample.id) is str for sample in by_column)


@pytest.mark.parametrize("rows, message", [
    ([{"id": "", "text": "x", "code": "C61"}], "row 0: empty id column 'id'"),
    ([{"id": "a", "text": "x", "code": "C61"}, {"id": "b", "code": "C61"}], r"row 1: missing column\(s\) text"),
    ([{"id": "a", "text": "x", "code": "C61"}, {"text": "x", "code": "C61"}], r"row 1: missing column\(s\) id"),
    ([{"id": "a", "text": "x", "code": "C61"}, {"id": "a", "text": "y", "code": "C62"}], "row 1: duplicate sample id 'a'"),
])
def test_a_row_the_column_path_refuses_is_named_by_the_row_path(mini_task_file: Path, rows: list[dict], message: str) -> None:
    from harness.data import build_samples

    with pytest.raises(OnkobenchError, match=rf"rows: {message}"):
        build_samples(load_task_file(mini_task_file), rows, "rows")


def test_bad_json_line_named(mini_task_file: Path, tmp_path: Path) -> None:
    task = load_task_file(mini_task_file)
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"id": "a", "text": "x", "code": "C61"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"broken\.jsonl: line 2: invalid JSON"):
        load_task_data(task, bad)


def test_wrong_encoding_named(mini_task_file: Path, tmp_path: Path) -> None:
    task = load_task_file(mini_task_file)
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"id": "a", "text": "Lungenkarzinom rechts, Größe 3 cm", "code": "C34.9"}\n'.encode("latin-1"))
    with pytest.raises(OnkobenchError, match=r"latin1\.jsonl: not UTF-8"):
        load_task_data(task, bad)


def test_parquet_copy_in_urollmevalset_schema(mini_tasks: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    task = load_task_file(mini_tasks / "mini" / "detection.yaml")
    label_type = pa.list_(pa.struct([("diagnosis", pa.string()), ("date", pa.string())]))
    table = pa.table(
        {
            "text": ["Prostatakarzinom ED 2019", "keine Auffälligkeit"],
            "label": pa.array([[{"diagnosis": "C61", "date": "2019"}], []], type=label_type),
        }
    )
    path = tmp_path / "eval.parquet"
    pq.write_table(table, path)
    data = load_task_data(task, path)
    assert [s.target for s in data.samples] == [True, False]
    assert data.samples[0].fields["label"] == [{"diagnosis": "C61", "date": "2019"}]


def test_hub_dataset_absent_is_a_clear_error(mini_task_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = mini_task_file.read_text(encoding="utf-8").replace(
        "path: data/diagnoses.jsonl", "hub: {repo: onkobench-test/does-not-exist, split: eval, revision: main}"
    )
    mini_task_file.write_text(text, encoding="utf-8")
    task = load_task_file(mini_task_file)
    with pytest.raises(OnkobenchError, match="could not load dataset onkobench-test/does-not-exist.*--data PATH"):
        load_task_data(task)

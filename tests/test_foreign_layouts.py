"""Data sets with a layout not our own (ICDOPS-QA-2024): column mapping, chat messages, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.config.tasks import load_all_tasks

from support.files import write_jsonl

ROWS = [
    {"question": "Welcher ICD-10-GM-Code gilt für Prostatakarzinom?", "answer": "Der Code ist C61."},
    {"question": "Welcher OPS-Code gilt für radikale Prostatovesikulektomie?", "answer": "5-604.0"},
    {"question": "ICD-10-GM für Lungenoberlappenkarzinom?", "answer": "C34.1"},
]


def test_question_answer_columns(tmp_path: Path) -> None:
    task = load_all_tasks()["icdops_qa.icd10gm"]
    data = load_task_data(task, write_jsonl(tmp_path / "qa.jsonl", ROWS))
    # the OPS row has no ICD-10 code in its answer and is left out by keep_if
    assert [(s.id, s.target) for s in data.samples] == [("0", "C61"), ("2", "C34.1")]
    assert task.dataset.training_data


def test_chat_messages_column(tmp_path: Path) -> None:
    task = load_all_tasks()["icdops_qa.icd10gm"]
    spec = task.dataset.model_copy(update={"columns": {}, "messages_column": "messages"})
    task = task.model_copy(update={"dataset": spec})
    rows = [{"messages": [{"role": "system", "content": "Kodierer"}, {"role": "user", "content": r["question"]},
                          {"role": "assistant", "content": r["answer"]}]} for r in ROWS]
    data = load_task_data(task, write_jsonl(tmp_path / "chat.jsonl", rows))
    assert [s.fields["text"] for s in data.samples] == [ROWS[0]["question"], ROWS[2]["question"]]


def test_mapping_that_does_not_fit_lists_the_columns(tmp_path: Path) -> None:
    task = load_all_tasks()["icdops_qa.icd10gm"]
    path = write_jsonl(tmp_path / "other.jsonl", [{"prompt": "x", "completion": "C61"}])
    with pytest.raises(OnkobenchError, match=r"column\(s\) question, answer .* missing; the data has: completion, prompt"):
        load_task_data(task, path)

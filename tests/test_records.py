"""Records every stage passes on (``harness.records``)."""

from __future__ import annotations

from dataclasses import asdict, fields

from harness.records import Response


def test_a_response_row_is_its_fields_as_they_are() -> None:
    response = Response(
        key="k", text="C61", reasoning="weil", reasoning_truncated=True, raw_text="weil</think>C61", finish_reason="stop",
        n_prompt_tokens=10, n_output_tokens=3, n_reasoning_tokens=1, n_cached_tokens=8, latency_s=0.5, ttft_s=0.1,
        queue_s=0.0, decode_s=0.4, n_batch=16, error=None,
    )
    assert list(response.to_dict().items()) == list(asdict(response).items())
    # to_dict copies no values: every field must stay a plain scalar (a list would be shared with the row)
    assert {str(item.type) for item in fields(Response)} <= {"str", "str | None", "bool", "int | None", "float | None"}

"""Row schemas of known data sets: a row that does not fit is an error naming the row and field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import OnkobenchError
from harness.registry import Registry

ROW_SCHEMAS: Registry[type[BaseModel]] = Registry("row schema")


class UroLabel(BaseModel):
    model_config = ConfigDict(extra="allow")

    diagnosis: str = Field(pattern=r"^[CD][0-9]{2}$")
    """Three-character ICD-10 code."""
    date: str = Field(pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?|0)$")
    """First-diagnosis date as YYYY, YYYY-MM or YYYY-MM-DD; "0" = the text states none."""


@ROW_SCHEMAS.register("urollmevalset")
class UroLlmEvalRow(BaseModel):
    """A row of stefan-m-lenz/UroLlmEvalSet: ``text`` and ``label`` = [{diagnosis, date}]."""

    model_config = ConfigDict(extra="allow")

    text: str = Field(min_length=1)
    label: list[UroLabel]

    @field_validator("label")
    @classmethod
    def _codes_unique(cls, labels: list[UroLabel]) -> list[UroLabel]:
        codes = [label.diagnosis for label in labels]
        if len(codes) != len(set(codes)):
            raise ValueError(f"a code appears twice: {codes}")
        return labels


def validate_rows(schema: str, rows: list[dict[str, Any]], source: str) -> None:
    model = ROW_SCHEMAS.get(schema)
    for index, row in enumerate(rows):
        try:
            model.model_validate(row)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(row)"
            raise OnkobenchError(f"{source}: row {index}: {loc}: {first['msg']}") from None

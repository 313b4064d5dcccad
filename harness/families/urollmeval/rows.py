"""The row schema of stefan-m-lenz/UroLlmEvalSet: a row that does not fit is an error naming the row and field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.data import ROW_SCHEMAS


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

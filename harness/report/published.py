"""Published reference rows (numbers reported by the studies), shown beside measured rows."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from harness.config.io import REPO_ROOT, read_yaml, validated

PUBLISHED_DIR = REPO_ROOT / "leaderboards" / "published"


class PublishedRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    metric: str
    model: str
    value: float
    variant: str | None = None
    note: str = ""


class Band(BaseModel):
    """A reference range drawn behind a metric's bars (e.g. the label-quality ceiling)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    answer_kind: str
    lo: float
    hi: float
    label: str


class PublishedSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    dataset: str
    """The data the numbers were measured on (``hf://owner/name`` as in run manifests)."""
    rows: tuple[PublishedRow, ...] = ()
    bands: tuple[Band, ...] = ()


def load_published(folder: Path = PUBLISHED_DIR) -> list[PublishedSet]:
    if not folder.exists():
        return []
    return [validated(PublishedSet, read_yaml(path), str(path)) for path in sorted(folder.glob("*.yaml"))]

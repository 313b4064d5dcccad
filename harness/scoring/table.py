"""Scored samples as columns: what metrics read, a few machine words per sample instead of one object each."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable
from functools import cached_property
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from harness.scoring.parsers import MALFORMED_STATUSES, OK

if TYPE_CHECKING:
    import numpy as np
else:
    from harness.lazy_imports import numpy as np  # imported at first use: see harness.lazy_imports


class ScoreTable:
    """Per-sample status, cluster (snippet or sample id) and scorer values, appended one sample at a time.

    Repeated strings (codes, outcome classes, statuses) are stored once, so a 500,000-sample run
    costs tens of megabytes here, not the size of its outputs.
    """

    def __init__(self) -> None:
        self.status: list[str] = []
        self.ids: list[str] = []
        """Sample ids in table order (the units of per-sample metrics)."""
        self.cluster: list[str] = []
        self._columns: dict[str, list[Any]] = {}
        self._strings: dict[str, str] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._categories: dict[str, tuple[np.ndarray, dict[str, int]] | None] = {}
        """Category codes of string columns (``_equal``), built with the arrays and dropped with them."""
        self._names: tuple[str, ...] | None = ()
        self._column_list: list[list[Any]] = []

    def __len__(self) -> int:
        return len(self.status)

    def add(self, sample_id: str, group: str | None, status: str, values: dict[str, Any]) -> None:
        strings = self._strings
        self.status.append(strings.setdefault(status, status))
        self.ids.append(sample_id)
        self.cluster.append(group if group is not None else sample_id)
        if tuple(values) == self._names:  # the scorer's usual columns: append in order
            for column, value in zip(self._column_list, values.values()):
                column.append(self._compact(value))
        else:
            self._add_other(values)
        if self._arrays:  # a metric ran before this sample came in
            self._arrays.clear()
            self._categories.clear()
        self.__dict__.pop("clusters_unique", None)

    def _compact(self, value: Any) -> Any:
        if type(value) is str:
            return self._strings.setdefault(value, value)
        if type(value) is list:  # lists of gold codes repeat per snippet
            return tuple(self._compact(v) for v in value)
        return value

    def _add_other(self, values: dict[str, Any]) -> None:
        n = len(self.status) - 1
        for name, value in values.items():
            column = self._columns.get(name)
            if column is None:
                column = self._columns[name] = [None] * n
            column.append(self._compact(value))
        for column in self._columns.values():
            if len(column) == n:
                column.append(None)
        self._names = tuple(values) if len(values) == len(self._columns) else None
        self._column_list = [self._columns[name] for name in self._names or ()]

    def extend(self, other: "ScoreTable") -> None:
        """Append the samples of ``other`` (a chunk scored by itself, perhaps in another process) after these.

        Columns are joined as lists; a column one side lacks is None there, as ``add`` leaves it.
        """
        n, added = len(self), len(other)
        self.status.extend(other.status)
        self.ids.extend(other.ids)
        self.cluster.extend(other.cluster)
        for name, column in other._columns.items():
            mine = self._columns.get(name)
            if mine is None:
                mine = self._columns[name] = [None] * n
            mine.extend(column)
        for column in self._columns.values():
            if len(column) < n + added:
                column.extend([None] * (n + added - len(column)))
        self._names = tuple(self._columns)
        self._column_list = list(self._columns.values())
        self._arrays.clear()
        self._categories.clear()
        self.__dict__.pop("clusters_unique", None)

    @classmethod
    def from_columns(
        cls, ids: list[str], groups: list[str | None] | None, statuses: list[str], values: list[dict[str, Any]],
    ) -> "ScoreTable":
        """The table ``add`` builds from these samples one by one (``groups`` None: none has a group), built a column
        at a time where every sample has the same value names in the same order (the scorer's usual columns)."""
        table = cls()
        distinct = _by_identity(values)
        shapes = set(map(tuple, distinct.values()))
        if len(shapes) != 1:
            for i, sample_id in enumerate(ids):
                table.add(sample_id, groups[i] if groups is not None else None, statuses[i], values[i])
            return table
        names = shapes.pop()
        table.status = table._interned(statuses)
        table.ids = list(ids)
        table.cluster = list(ids) if groups is None else [g if g is not None else i for g, i in zip(groups, ids)]
        # each distinct dict's values compacted once (the scorer shares one dict among samples with equal values), then
        # each column read off the samples' rows of them
        compacted = {identity: tuple(map(table._compact, value.values())) for identity, value in distinct.items()}
        rows = list(map(compacted.__getitem__, map(id, values)))
        for position, name in enumerate(names):
            table._columns[name] = list(map(itemgetter(position), rows))
        table._names = names
        table._column_list = list(table._columns.values())
        return table

    def _interned(self, column: list[str]) -> list[str]:
        """``_compact`` of a column of strings: each distinct value looked up once."""
        intern = self._strings.setdefault
        one = {value: intern(value, value) for value in set(column)}
        return list(map(one.__getitem__, column))

    @classmethod
    def from_samples(cls, samples: Iterable[Any]) -> "ScoreTable":
        """From ScoredSample-like objects (``sample_id``, ``group``, ``status``, ``values``)."""
        table = cls()
        for s in samples:
            table.add(s.sample_id, s.group, s.status, s.values)
        return table

    def values(self, name: str) -> list[Any]:
        """The raw column (None where a sample's scorer did not set it)."""
        return self._columns.get(name) or [None] * len(self)

    def _cached(self, name: str, build: Any, cache: dict[str, Any] | None = None) -> Any:
        """``build()``, once per name until the table changes (in ``cache``, default the arrays)."""
        cache = self._arrays if cache is None else cache
        if name not in cache:
            cache[name] = build()
        return cache[name]

    def flag(self, name: str) -> np.ndarray:
        """bool(value) per sample; a missing value is False."""
        return self._cached(f"flag:{name}", lambda: np.fromiter(map(bool, self.values(name)), bool, len(self)))

    def equals(self, name: str, wanted: Any) -> np.ndarray:
        return self._cached(f"eq:{name}:{wanted}", lambda: self._equal(f"values:{name}", self.values(name), wanted))

    def _equal(self, column_key: str, column: list[Any], wanted: Any) -> np.ndarray:
        """value == wanted per sample; a column of strings (an outcome class, a status) is turned into category codes
        once, which a metric then compares as a whole for each category it counts."""
        coded = self._cached(f"codes:{column_key}", lambda: _category_codes(column), self._categories)
        if coded is None:
            return np.fromiter(map(operator.eq, column, repeat(wanted)), bool, len(self))
        codes, categories = coded
        code = categories.get(wanted) if type(wanted) is str else None  # only a string equals a string
        return codes == code if code is not None else np.zeros(len(self), bool)


    def present(self, name: str) -> np.ndarray:
        return self._cached(f"present:{name}",
                            lambda: np.fromiter(map(operator.is_not, self.values(name), repeat(None)), bool, len(self)))

    @property
    def ok(self) -> np.ndarray:
        return self.status_is(OK)

    @property
    def malformed(self) -> np.ndarray:
        def build() -> np.ndarray:
            mask = np.zeros(len(self), bool)
            for status in MALFORMED_STATUSES:
                mask |= self.status_is(status)
            return mask

        return self._cached("malformed", build)

    def status_is(self, status: str) -> np.ndarray:
        return self._cached(f"status:{status}", lambda: self._equal("status", self.status, status))

    @property
    def na(self) -> np.ndarray:
        """No usable answer: the scorer's own NA flag where it sets one (C77-C79), else not parsed."""
        return np.where(self.present("na"), self.flag("na"), ~self.ok)

    @cached_property
    def clusters_unique(self) -> bool:
        """Every sample its own unit (then Wilson intervals; else a cluster bootstrap)."""
        return len(set(self.cluster)) == len(self.cluster)

    def clusters(self, mask: np.ndarray | None = None) -> list[str]:
        if mask is None:
            return self.cluster
        return [c for c, keep in zip(self.cluster, mask) if keep]

    def status_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.status).items()))


def _by_identity(values: list[Any]) -> dict[int, Any]:
    """The distinct objects of ``values`` by their ``id`` (a column form shares one dict among samples with equal
    values)."""
    return dict(zip(map(id, values), values))


def _category_codes(column: list[Any]) -> tuple[np.ndarray, dict[str, int]] | None:
    """Each value's category number, and the number of each category; None unless every value is a string."""
    if set(map(type, column)) != {str}:
        return None
    categories = {value: number for number, value in enumerate(set(column))}
    return np.fromiter(map(categories.__getitem__, column), np.int32, len(column)), categories

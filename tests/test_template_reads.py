"""What a prompt template reads, decided on its parse tree (``harness.template_reads``): the basis on which an example
turn is rendered once per variant instead of once per sample."""

from __future__ import annotations

import pytest

from harness.template_reads import EverythingRead, context_reads, fold_defined
from harness.templating import sandboxed_environment

ENV = sandboxed_environment()
EXAMPLE = {"sample": True, "shots": True, "k": True, "shot": True}
"""Definedness in an example turn; outside one ``shot`` is undefined."""
QUESTION = {**EXAMPLE, "shot": False}


def reads(source: str, defined: dict[str, bool] = EXAMPLE) -> set[str]:
    return context_reads(fold_defined(ENV.parse(source), defined), ENV)


# the shipped idiom: one template for the example turns and the question
SHARED = "{% set item = shot if shot is defined else sample -%}\nDiagnose: {{ item.text }}"


def test_the_shared_question_template_reads_the_example_in_an_example_turn_and_the_sample_outside() -> None:
    assert reads(SHARED) == {"shot"}
    assert reads(SHARED, QUESTION) == {"sample"}


@pytest.mark.parametrize("source, expected", [
    ("{% if shot is not defined %}{{ sample.x }}{% elif k > 2 %}{{ shots|length }}{% else %}{{ shot.a }}{% endif %}",
     {"k", "shots", "shot"}),
    ("{% if shot is undefined %}{{ sample.x }}{% else %}{% set z = shot.a %}{% endif %}{{ z }}", {"shot"}),
    ("{{ sample.b if shot is undefined and k else shot.a }}", {"shot"}),
    ("{{ shot.a if shot is defined or k else sample.b }}", {"shot"}),
    ("{{ shot.a if not shot is undefined else sample.b }}", {"shot"}),
    ("{% for s in shots %}{{ loop.index }}. {{ s.text }}{% endfor %}", {"shots"}),
    ("{{ shots|map(attribute='answer')|join(', ') }}", {"shots"}),
    ("{{ range(3)|list }}{{ lipsum(1) }}", {"range", "lipsum"}),  # globals are named too: lipsum is random
])
def test_reads_after_folding_what_the_example_turn_knows(source: str, expected: set[str]) -> None:
    assert reads(source) == expected


@pytest.mark.parametrize("source", [
    "{{ shot.text }} / {{ sample.text }}",
    "{% if sample is defined %}{{ sample.text }}{% endif %}",
    "{% if shot %}{{ shot.text }}{% else %}{{ sample.text }}{% endif %}",  # truth, not definedness: not folded
    "{{ shot.a if shot is defined and k else sample.b }}",  # `k` decides at render time
    # a name bound in the template is not the context's: `shot` may be undefined here at render time
    "{% set shot = shots.missing %}{{ shot.text if shot is defined else sample.text }}",
    "{% macro q(shot) %}{{ shot if shot is defined else sample }}{% endmacro %}{{ q() }}",
    "{% for shot in [] %}{% endfor %}{{ shot if shot is defined else sample }}",
])
def test_a_sample_read_is_found(source: str) -> None:
    assert "sample" in reads(source)


@pytest.mark.parametrize("source", [
    "{{ shots|random }}",  # random, and receives the whole context
    "{{ shots|map('random')|list }}",  # map hands the context on to a named filter that takes it
    "{{ shots|map(shot.filter)|list }}",  # the filter is named at render time
    "{{ shots|select(*shot.tests)|list }}",
])
def test_filters_that_may_read_the_whole_context_are_refused(source: str) -> None:
    with pytest.raises(EverythingRead):
        reads(source)

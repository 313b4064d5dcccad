"""Clinical variation of catalogue texts: named rules that make a catalogue text read like a line of tumour
documentation while its gold code stays certain.

Each rule is an object with a ``name``, a one-line ``description``, ``applies(item)`` (is the rule safe
*and* possible for this item?) and ``apply(text, item, rng)``. ``RULE_NAMES`` fixes their order; ``vary``
draws 1-3 applicable rules for one item from a generator seeded by ``"<seed>:<source id>:<k>"`` (string
seeds are hashed with SHA-512 by ``random.Random``, so the draw is the same in every Python process; ``hash()``
is never used) and applies them in that order. The words the rules use live in
``tasks/icd_catalogue_qa/_variation.yaml`` (ours; ``load_lexicon``).

Why the gold holds, rule by rule (also in tasks/icd_catalogue_qa/README.md, "Clinical-variation sets"):

* ``abbreviation`` shortens a word the text already has (Karzinom -> Ca., Mammakarzinom -> Mamma-Ca.,
  "Bösartige Neubildung" at the start -> Malignom, Plattenepithelkarzinom -> PEC, links -> li.). "Zustand
  nach" and "Verdacht auf" are only shortened where the text has them (Z. n., V. a.); no rule ever adds
  them: "Z. n." would turn a tumour into history (Z85), "V. a." into a suspicion.
* ``compound_reorder`` turns "Karzinom der Prostata" into "Prostatakarzinom" and back, only for the organs
  and head nouns of the list: the same words in another order.
* ``laterality`` adds a side where the text names a paired organ of the list and has no side yet.
  ICD-10-GM chapter II and ICD-O-3 codes carry no side (no chapter II title names one), so the gold holds;
  outside chapter II some codes do (one- or both-sided hearing loss H90, inguinal hernia K40, vocal cord
  palsy J38), so items whose code is not a neoplasm never get a side.
* ``tnm_tail`` appends stage and grade ("pT2 pN0 G2") only to malignant primaries: ICD-10 C00-C76 outside
  the haematological and CNS ranges, ICD-O-3 behaviour /3, and topography terms (a site code does not
  depend on the stage); in-situ tumours (D00-D09, /2) get "pTis" only; benign, uncertain, secondary (C77-C79,
  /6) and unknown-primary items get nothing. No tail has an M category (it could contradict a metastasis).
* ``metastasis_distractor`` names a metastasis next to a malignant primary ("... mit Lebermetastasen"):
  the gold stays the primary (metastases C77-C79 are not the primary's code, the rule of UroLlmEval).
  Never on C77-C79 or /6 items, never on recognition "Nein" items (it would create a tumour), never on
  "Ja" items from the history rule (Z85), never into the organ the text names.
* ``first_diagnosis_date`` appends "ED 03/2019" and the like to tumour items only: on other chapters an
  old date can make a coder reach for a sequelae code (an old fracture: T93).
* ``context_sentence`` puts a short note line around the text ("Diagnose: ..."); lines that say the
  tumour is being treated now ("Pat. mit ... zur Therapieplanung") only around a present tumour; no line
  names a histology, side, suspicion or history.
* ``case_hyphen_noise`` changes case (never in a word with a digit) or a hyphen between two letters.
* ``typo`` swaps, drops or doubles one character inside one word of >= 6 letters (never the first letter
  or the last two, never in a word with a digit), for a documented share of items (``typo_rate``); a typo
  that spells another catalogue word ("Kolpitis" -> "Kolitis") is not used.

For the morphology set no rule adds a histology word (the metastasis distractor names metastases of the
primary, whose behaviour stays /3). Recognition "Nein" items and OPS procedure texts only get rules that
cannot create a tumour: context sentence, case/hyphen noise, typo.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.config.io import REPO_ROOT, read_yaml, validated

LEXICON_PATH = REPO_ROOT / "tasks" / "icd_catalogue_qa" / "_variation.yaml"
MAX_RULES = 3
"""At most this many rules per variant (at least one)."""

Kind = Literal["icd10gm", "topography", "morphology", "recognition"]


# --- the item and what is safe for it ---

@dataclass(frozen=True)
class Item:
    """One base-set row as the rules see it."""

    kind: Kind
    text: str
    code: str
    """The code whose class decides what is safe: the gold code; for recognition the row's primary code."""
    source_id: str = ""
    negative: bool = False
    """A recognition "Nein" item: no rule may make it read like a tumour."""
    procedure: bool = False
    """An OPS procedure text (a recognition "Nein" item)."""

    @property
    def status(self) -> str:
        """malignant, in_situ, benign, uncertain, secondary, unknown_primary, multiple, history (Z85),
        site (topography), not_a_tumour, procedure."""
        if self.procedure:
            return "procedure"
        if self.negative:
            return "not_a_tumour"
        if self.kind == "topography":
            return "site"
        if self.kind == "morphology":
            return _BEHAVIOUR.get(self.code[-1:], "not_a_tumour")
        return icd10_status(self.code)

    @property
    def tumour(self) -> bool:
        """A neoplasm item (or a recognition "Ja" from the history rule): dates and sides are its business."""
        return self.status not in ("not_a_tumour", "procedure")


_BEHAVIOUR = {"0": "benign", "1": "uncertain", "2": "in_situ", "3": "malignant", "6": "secondary", "9": "unknown_primary"}


def icd10_status(code: str) -> str:
    """The class of an ICD-10 code for the rules (C77-C79 secondary, C80 unknown primary, C97 multiple, D00-D09
    in situ, D10-D36 benign, D37-D48 uncertain, Z85 personal history of malignancy)."""
    head = code[:3]
    if len(head) < 3 or not head[1:].isdigit():
        return "not_a_tumour"
    number = int(head[1:])
    if head[0] == "C":
        return {77: "secondary", 78: "secondary", 79: "secondary", 80: "unknown_primary", 97: "multiple"}.get(number, "malignant")
    if head[0] == "D" and number <= 48:
        return "in_situ" if number <= 9 else "benign" if number <= 36 else "uncertain"
    return "history" if head == "Z85" else "not_a_tumour"


def in_ranges(code: str, ranges: Iterable[str]) -> bool:
    """Whether a code's category (ICD-10, topography: "C81") or histology ("9590") lies in one of the inclusive
    ranges "C81-C96" / "9590-9999" / "C42" (compared as strings of the range's length)."""
    for spec in ranges:
        low, _, high = spec.partition("-")
        key = code.replace(".", "")[: len(low)] if low.isdigit() else code[: len(low)]
        if low <= key <= (high or low):
            return True
    return False


# --- the lexicon (tasks/icd_catalogue_qa/_variation.yaml) ---

class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _compiled(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"not a regular expression: {pattern!r} ({err})") from None
    return patterns


class Abbreviation(_Strict):
    long: str
    short: list[str] = Field(min_length=1)

    @field_validator("long")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _compiled([value])[0]


class Compound(_Strict):
    stem: str = Field(min_length=2)
    genitive: list[str] = Field(min_length=1)


class MetastasisSite(_Strict):
    phrases: list[str] = Field(min_length=1)
    avoid: list[str] = []


class CodeRanges(_Strict):
    icd10gm: list[str] = []
    morphology: list[str] = []
    topography: list[str] = []

    def of(self, kind: str) -> list[str]:
        return self.morphology if kind == "morphology" else self.topography if kind == "topography" else self.icd10gm


class Context(_Strict):
    neutral: list[str] = Field(min_length=1)
    current: list[str] = []
    site: list[str] = Field(min_length=1)
    procedure: list[str] = Field(min_length=1)

    @field_validator("neutral", "current", "site", "procedure")
    @classmethod
    def _has_slot(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if line.count("{text}") != 1:
                raise ValueError(f"{line!r} must hold {{text}} exactly once")
        return lines


class Lexicon(_Strict):
    """The data of the rules; every pattern is checked when the file is read."""

    version: int
    rule_weights: dict[str, float]
    abbreviations: list[Abbreviation]
    compound_heads: list[str] = Field(min_length=1)
    compounds: list[Compound]
    paired_organs: list[str]
    laterality_avoid: list[str]
    laterality_forms: list[str] = Field(min_length=1)
    tnm_tails: list[str] = Field(min_length=1)
    tnm_tails_without_grading: list[str] = Field(min_length=1)
    in_situ_tails: list[str] = Field(min_length=1)
    tnm_separators: list[str] = Field(min_length=1)
    tnm_avoid: list[str]
    not_solid: CodeRanges
    no_grading: CodeRanges
    first_diagnosis_forms: list[str] = Field(min_length=1)
    first_diagnosis_years: tuple[int, int]
    metastasis_sites: list[MetastasisSite] = Field(min_length=1)
    metastasis_avoid: list[str]
    context: Context
    history_words: list[str]
    typo_rate: float = Field(ge=0.0, le=1.0)
    typo_min_letters: int = Field(ge=4)

    @field_validator("paired_organs", "laterality_avoid", "tnm_avoid", "metastasis_avoid", "history_words")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _compiled(value)

    @field_validator("rule_weights")
    @classmethod
    def _every_rule_weighted(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(RULE_NAMES) or min(value.values(), default=0) <= 0:
            raise ValueError(f"needs a positive weight for each of {', '.join(RULE_NAMES)} (found: {', '.join(value) or 'none'})")
        return value


def load_lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    """The rules' data; an error names the file and the field."""
    return validated(Lexicon, read_yaml(path), str(path))


# --- the rules ---

class Rule(Protocol):
    name: str
    description: str
    rate: float
    """Share of items for which the rule is eligible at all (a seeded draw per item); 1.0 for most rules."""
    weight: float
    """How likely the rule is drawn among those that apply (``rule_weights`` in the lexicon)."""

    def applies(self, item: Item) -> bool: ...

    def apply(self, text: str, item: Item, rng: random.Random) -> str: ...


def _any(patterns: Iterable[str], text: str) -> bool:
    return any(re.search(p, text) for p in patterns)


def _append(text: str, tail: str) -> str:
    # additions come before the note line and the noise (the rules' order), so the text is still the diagnosis
    return text.rstrip() + tail


class _Base:
    name = ""
    description = ""
    rate = 1.0

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.weight = lexicon.rule_weights[self.name]


class AbbreviationRule(_Base):
    name = "abbreviation"
    description = "shorten a word the text has (Karzinom -> Ca., Zustand nach -> Z. n.); nothing is added"

    def _found(self, text: str) -> list[tuple[Abbreviation, re.Match[str]]]:
        return [(a, m) for a in self.lexicon.abbreviations if (m := re.search(a.long, text))]

    def applies(self, item: Item) -> bool:
        return not item.negative and bool(self._found(item.text))

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        found = self._found(text)
        if not found:
            return text
        entry, match = rng.choice(found)
        return text[: match.start()] + rng.choice(entry.short) + text[match.end():]


class CompoundReorderRule(_Base):
    name = "compound_reorder"
    description = "'Karzinom der Prostata' <-> 'Prostatakarzinom' for the organs and head nouns of the list"

    @cached_property
    def _forms(self) -> list[tuple[re.Pattern[str], re.Pattern[str], Compound, str]]:
        forms = []
        for compound in self.lexicon.compounds:
            for head in self.lexicon.compound_heads:
                joined = re.compile(rf"\b{re.escape(compound.stem)}{re.escape(head)}\b")
                genitives = "|".join(re.escape(g) for g in compound.genitive)
                # the phrase must end the text or a clause: "Karzinom der Niere und des Harnleiters" stays
                phrase = re.compile(rf"\b{re.escape(head.capitalize())} (?:{genitives})(?=$|,|\.$| o\.n\.A\.)")
                forms.append((joined, phrase, compound, head))
        return forms

    def _matches(self, text: str) -> list[tuple[re.Match[str], str]]:
        found = []
        for joined, phrase, compound, head in self._forms:
            if match := joined.search(text):
                found.append((match, f"{head.capitalize()} {compound.genitive[0]}"))
            if match := phrase.search(text):
                found.append((match, f"{compound.stem}{head}"))
        return found

    def applies(self, item: Item) -> bool:
        return not item.negative and bool(self._matches(item.text))

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        found = self._matches(text)
        if not found:
            return text
        match, other = rng.choice(found)
        return text[: match.start()] + other + text[match.end():]


class LateralityRule(_Base):
    name = "laterality"
    description = "add a side (li., rechts, linksseitig) to a text naming a paired organ; the codes carry no side"

    def applies(self, item: Item) -> bool:
        return (item.tumour and _any(self.lexicon.paired_organs, item.text)
                and not _any(self.lexicon.laterality_avoid, item.text))

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        return _append(text, rng.choice(self.lexicon.laterality_forms))


def solid_malignant(item: Item, lexicon: Lexicon) -> bool:
    """A malignant primary staged by TNM: ICD-10 malignant outside the non-solid ranges, ICD-O-3 /3 the same,
    or a topography site outside them (a site code does not depend on the stage)."""
    return item.status in ("malignant", "site") and not in_ranges(item.code, lexicon.not_solid.of(item.kind))


class TnmTailRule(_Base):
    name = "tnm_tail"
    description = "append stage and grade to a malignant primary ('pT2 pN0 G2'), 'pTis' to an in-situ tumour"

    def applies(self, item: Item) -> bool:
        if _any(self.lexicon.tnm_avoid, item.text):
            return False
        return item.status == "in_situ" or solid_malignant(item, self.lexicon)

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        if item.status == "in_situ":
            tails = self.lexicon.in_situ_tails
        elif in_ranges(item.code, self.lexicon.no_grading.of(item.kind)):
            tails = self.lexicon.tnm_tails_without_grading
        else:
            tails = self.lexicon.tnm_tails
        return _append(text, rng.choice(self.lexicon.tnm_separators) + rng.choice(tails))


class FirstDiagnosisDateRule(_Base):
    name = "first_diagnosis_date"
    description = "append a date of first diagnosis ('ED 03/2019', 'Erstdiagnose 2017') to a tumour item"

    def applies(self, item: Item) -> bool:
        return item.tumour

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        first, last = self.lexicon.first_diagnosis_years
        form = rng.choice(self.lexicon.first_diagnosis_forms)
        values = {"{yyyy}": str(rng.randint(first, last)), "{mm}": f"{rng.randint(1, 12):02d}", "{dd}": f"{rng.randint(1, 28):02d}"}
        for slot, value in values.items():
            form = form.replace(slot, value)
        return _append(text, form)


class MetastasisDistractorRule(_Base):
    name = "metastasis_distractor"
    description = "name a metastasis next to a malignant primary ('mit Lebermetastasen'); the gold stays the primary"

    def _sites(self, text: str) -> list[MetastasisSite]:
        folded = text.casefold()
        return [s for s in self.lexicon.metastasis_sites if not any(stem in folded for stem in s.avoid)]

    def applies(self, item: Item) -> bool:
        return (solid_malignant(item, self.lexicon) and not _any(self.lexicon.metastasis_avoid, item.text)
                and bool(self._sites(item.text)))

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        sites = self._sites(text)
        if not sites:
            return text
        return _append(text, rng.choice(rng.choice(sites).phrases))


class ContextSentenceRule(_Base):
    name = "context_sentence"
    description = "put a short note line around the text ('Diagnose: ...', 'Pat. mit ... zur Therapieplanung.')"

    def _current_allowed(self, item: Item) -> bool:
        # "being treated now" only around a present tumour: not history, family history or any Z code
        return (item.tumour and item.status != "history" and not item.code.startswith("Z")
                and not _any(self.lexicon.history_words, item.text))

    def applies(self, item: Item) -> bool:
        return True

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        context = self.lexicon.context
        if item.procedure:
            lines = context.procedure
        elif item.kind == "topography":
            lines = context.site
        else:
            lines = context.neutral + (context.current if self._current_allowed(item) else [])
        line = rng.choice(lines)
        if text.endswith("."):  # "o.n.A." or "li." needs no second full stop
            line = line.replace("{text}.", "{text}")
        return line.replace("{text}", text)


_LETTERS = "A-Za-zÄÖÜäöüß"
_WORD = re.compile(rf"[{_LETTERS}0-9]+")
_INNER_HYPHEN = re.compile(rf"(?<=[{_LETTERS}])-(?=[{_LETTERS}])")


def _recase(text: str, change: str) -> str:
    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        if any(c.isdigit() for c in word):
            return word  # codes and TNM categories keep their case
        return word.lower() if change == "lower" else word.upper()
    return _WORD.sub(one, text)


class CaseHyphenNoiseRule(_Base):
    name = "case_hyphen_noise"
    description = "change case (all lower, all upper, first letter) or a hyphen between letters; codes untouched"

    def _options(self, text: str) -> list[str]:
        options = []
        for change in ("lower", "upper"):
            if _recase(text, change) != text:
                options.append(change)
        if text[:1].isupper() and not text[:2].isupper():
            options.append("first_lower")
        if _INNER_HYPHEN.search(text):
            options.append("hyphen_space")
            options.append("hyphen_drop")
        if self._compound(text):
            options.append("hyphen_insert")
        return options

    def _compound(self, text: str) -> re.Match[str] | None:
        stems = "|".join(re.escape(c.stem) for c in self.lexicon.compounds)
        heads = "|".join(re.escape(h) for h in self.lexicon.compound_heads)
        return re.search(rf"\b({stems})({heads})\b", text)

    def applies(self, item: Item) -> bool:
        return bool(self._options(item.text))

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        options = self._options(text)
        if not options:
            return text
        option = rng.choice(options)
        if option in ("lower", "upper"):
            return _recase(text, option)
        if option == "first_lower":
            return text[0].lower() + text[1:]
        if option == "hyphen_insert":
            match = self._compound(text)
            assert match is not None
            return text[: match.start()] + f"{match.group(1)}-{match.group(2).capitalize()}" + text[match.end():]
        hyphens = list(_INNER_HYPHEN.finditer(text))
        where = rng.choice(hyphens).start()
        return text[:where] + (" " if option == "hyphen_space" else "") + text[where + 1:]


def typo_candidates(word: str) -> list[str]:
    """Every one-character swap, drop or doubling inside a word: never the first letter, never the last two
    (mostly an inflection ending), so that the word stays recognisable; results equal to the word are left out."""
    found = []
    inner = range(1, len(word) - 2)
    for i in inner:
        found.append(word[:i] + word[i + 1:])  # drop
        found.append(word[: i + 1] + word[i:])  # double
        if i + 1 < len(word) - 2 and word[i] != word[i + 1]:
            found.append(word[:i] + word[i + 1] + word[i] + word[i + 2:])  # swap with the next
    return [f for f in dict.fromkeys(found) if f != word]


class TypoRule(_Base):
    name = "typo"
    description = "one character swapped, dropped or doubled inside one long word (never in codes or digits)"

    def __init__(self, lexicon: Lexicon, known_words: Collection[str] = frozenset()) -> None:
        super().__init__(lexicon)
        self.rate = lexicon.typo_rate
        self.known_words = {w.casefold() for w in known_words}

    def _words(self, text: str) -> list[re.Match[str]]:
        return [m for m in _WORD.finditer(text)
                if len(m.group(0)) >= self.lexicon.typo_min_letters and m.group(0).isalpha() and not m.group(0).isupper()]

    def _options(self, word: str) -> list[str]:
        # a typo that spells another catalogue word may change the meaning ("Kolpitis" -> "Kolitis")
        return [t for t in typo_candidates(word) if t.casefold() not in self.known_words]

    def applies(self, item: Item) -> bool:
        return any(self._options(m.group(0)) for m in self._words(item.text))

    def apply(self, text: str, item: Item, rng: random.Random) -> str:
        words = [m for m in self._words(text) if self._options(m.group(0))]
        if not words:
            return text
        match = rng.choice(words)
        return text[: match.start()] + rng.choice(self._options(match.group(0))) + text[match.end():]


RULE_CLASSES: tuple[type[_Base], ...] = (
    AbbreviationRule, CompoundReorderRule, LateralityRule, TnmTailRule, MetastasisDistractorRule,
    FirstDiagnosisDateRule, ContextSentenceRule, CaseHyphenNoiseRule, TypoRule,
)
"""The fixed order in which chosen rules are applied: wording first, then additions, then the note line, then noise."""
RULE_NAMES: tuple[str, ...] = tuple(cls.name for cls in RULE_CLASSES)


def make_rules(lexicon: Lexicon, known_words: Collection[str] = frozenset()) -> tuple[Rule, ...]:
    """The rules in their fixed order; ``known_words`` are the words a typo must not spell."""
    return tuple(cls(lexicon, known_words) if cls is TypoRule else cls(lexicon) for cls in RULE_CLASSES)  # type: ignore[call-arg]


@dataclass(frozen=True)
class Variant:
    text: str
    rules: tuple[str, ...]


def item_rng(seed: int, source_id: str, k: int) -> random.Random:
    """The generator of variant ``k`` of one source row: the same in every process (a string seed)."""
    return random.Random(f"{seed}:{source_id}:{k}")


def draw(eligible: list[Rule], n: int, rng: random.Random) -> set[str]:
    """``n`` rule names drawn by weight without replacement (each rule's key u ** (1 / weight), largest first)."""
    keyed = sorted(eligible, key=lambda rule: rng.random() ** (1.0 / rule.weight), reverse=True)
    return {rule.name for rule in keyed[:n]}


def vary(item: Item, rules: tuple[Rule, ...], rng: random.Random) -> Variant:
    """Draw 1-3 of the rules that apply to the item (a rule with a rate below 1 is eligible only for that share
    of items; weights favour rules that apply to few items) and apply them in the rules' order; a rule whose
    pattern an earlier one removed is dropped."""
    eligible = [rule for rule in rules if rule.applies(item) and (rule.rate >= 1.0 or rng.random() < rule.rate)]
    if not eligible:
        return Variant(item.text, ())
    chosen = draw(eligible, rng.randint(1, min(MAX_RULES, len(eligible))), rng)
    text, applied = item.text, []
    for rule in rules:
        if rule.name not in chosen:
            continue
        current = replace(item, text=text)
        if not rule.applies(current):
            continue
        changed = rule.apply(text, current, rng)
        if changed != text:
            text = changed
            applied.append(rule.name)
    return Variant(text, tuple(applied))


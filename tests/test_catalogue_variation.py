"""Clinical-variation sets (issue #18, 2): every rule input -> output -> gold unchanged, the cases where a rule
must not apply, seeded determinism, the derived sets' pointers to their source rows, and the real build's size."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import OnkobenchError
from harness.families.catalogue_qa.build import SETS, build_catalogue_tasks
from harness.families.catalogue_qa.clinical import (
    BASE_SETS,
    build_clinical_sets,
    rule_column,
    vary_rows,
)
from harness.families.catalogue_qa.variation import (
    RULE_NAMES,
    Item,
    TypoRule,
    item_rng,
    load_lexicon,
    make_rules,
    typo_candidates,
    vary,
)

from support.files import CATALOGUE_FIXTURES, REPO_ROOT, read_jsonl, real_catalogue_root

LEXICON = load_lexicon()
SAFE_FOR_NEGATIVES = {"context_sentence", "case_hyphen_noise", "typo"}
HISTOLOGY = re.compile(r"(?i)karzinom|carcinom|\bca\b|sarkom|adenom|lymphom|leukämie|tumor|neubildung|malignom|neoplas|"
                       r"melanom|blastom|gliom|zyst|nävus|papillom|fibrom|lipom|myelom|metasta|filia")
ZN_VA = re.compile(r"\b(?:Z\. ?n\.|St\. ?n\.|V\. ?a\.|Vd\. a\.|Zustand nach|Verdacht auf)", re.IGNORECASE)


def rule(name: str, known: frozenset[str] = frozenset()):
    return {r.name: r for r in make_rules(LEXICON, known)}[name]


def outputs(name: str, item: Item, n: int = 60, known: frozenset[str] = frozenset()) -> set[str]:
    chosen = rule(name, known)
    assert chosen.applies(item), (name, item.text)
    return {chosen.apply(item.text, item, random.Random(k)) for k in range(n)}


def gold_kept(name: str, rows: list[dict], kind: str, gold_field: str) -> list[str]:
    """Vary rows with this one rule (rate forced to 1): every row keeps its gold and names its source; the texts."""
    only = rule(name)
    only.rate = 1.0
    varied, _ = vary_rows(rows, kind, gold_field, (only,), seed=0, path=Path("rows.jsonl"), min_items=1)
    by_id = {row["id"]: row for row in rows}
    assert {row["source_id"] for row in varied} == set(by_id)
    for row in varied:
        source = by_id[row["source_id"]]
        assert row[gold_field] == source[gold_field] and row["source_text"] == source["text"]
        assert row["rules"] == [name] and row[rule_column(name)] and row["text"] != source["text"]
    return [row["text"] for row in varied]


def icd_rows(*pairs: tuple[str, str]) -> list[dict]:
    return [{"id": f"r{i}", "text": text, "icd10gm_code": code, "stratum": code[:3]} for i, (text, code) in enumerate(pairs)]


# --- one test per rule: input -> output -> gold unchanged, and where it must not apply ---

def test_abbreviation_shortens_only_what_the_text_has() -> None:
    assert outputs("abbreviation", Item("icd10gm", "Karzinom der Prostata", "C61")) == {
        "Ca. der Prostata", "CA der Prostata", "Ca der Prostata"}
    assert outputs("abbreviation", Item("icd10gm", "Mammakarzinom", "C50.9")) == {"Mamma-Ca.", "Mamma-Ca", "Mamma-CA"}
    assert outputs("abbreviation", Item("icd10gm", "Bösartige Neubildung der Niere", "C64")) == {"Malignom der Niere"}
    assert outputs("abbreviation", Item("icd10gm", "Zustand nach Herzinfarkt", "I25.29")) == {
        "Z. n. Herzinfarkt", "Z.n. Herzinfarkt", "St. n. Herzinfarkt"}
    assert "PEC der Lunge" in outputs("abbreviation", Item("icd10gm", "Plattenepithelkarzinom der Lunge", "C34.9"))
    # "Bösartige Neubildung" inside a phrase keeps its adjective ("Sekundäre bösartige ..."); no long form: no rule
    assert not rule("abbreviation").applies(Item("icd10gm", "Sekundäre bösartige Neubildung der Leber", "C78.7"))
    assert not rule("abbreviation").applies(Item("icd10gm", "Asthma bronchiale", "J45.9"))
    texts = gold_kept("abbreviation", icd_rows(("Karzinom der Prostata", "C61"), ("Verdacht auf Zervixinsuffizienz", "O34.3")),
                      "icd10gm", "icd10gm_code")
    assert texts[1] in {"V. a. Zervixinsuffizienz", "V.a. Zervixinsuffizienz", "Vd. a. Zervixinsuffizienz"}


def test_z_n_and_v_a_are_never_added() -> None:
    rules = make_rules(LEXICON)
    items = [Item("icd10gm", "Prostatakarzinom", "C61"), Item("icd10gm", "Mammakarzinom", "C50.9"),
             Item("morphology", "Adenokarzinom o.n.A.", "8140/3"), Item("topography", "Lunge o.n.A.", "C34.9"),
             Item("recognition", "Kaposi-Sarkom", "C46.9"), Item("recognition", "Asthma bronchiale", "J45.9", negative=True)]
    for item in items:
        for k in range(200):
            assert not ZN_VA.search(vary(item, rules, item_rng(0, "x", k)).text), item.text
    # no line, tail or phrase of the lexicon carries them
    added = [*LEXICON.context.neutral, *LEXICON.context.current, *LEXICON.context.site, *LEXICON.laterality_forms,
             *LEXICON.tnm_tails, *LEXICON.first_diagnosis_forms, *(p for s in LEXICON.metastasis_sites for p in s.phrases)]
    assert not [line for line in added if ZN_VA.search(line)]


def test_compound_reorder_both_ways_and_only_for_listed_phrases() -> None:
    assert outputs("compound_reorder", Item("icd10gm", "Karzinom der Prostata", "C61")) == {"Prostatakarzinom"}
    assert outputs("compound_reorder", Item("icd10gm", "Mammakarzinom", "C50.9")) == {"Karzinom der Mamma"}
    assert outputs("compound_reorder", Item("icd10gm", "Papilläres Karzinom der Schilddrüse", "C73")) == {
        "Papilläres Schilddrüsenkarzinom"}
    assert outputs("compound_reorder", Item("icd10gm", "Nebennierenkarzinom", "C74.9")) == {"Karzinom der Nebenniere"}
    for text, code in (("Karzinom der Niere und des Harnleiters", "C64"), ("Nierenbeckenkarzinom", "C65"),
                       ("Karzinom der Gallenwege", "C24.9"), ("Mammakarzinoms", "C50.9")):
        assert not rule("compound_reorder").applies(Item("icd10gm", text, code)), text
    texts = gold_kept("compound_reorder", icd_rows(("Krebs des Magens", "C16.9"), ("Hodentumor", "D40.1")),
                      "icd10gm", "icd10gm_code")
    assert texts == ["Magenkrebs", "Tumor des Hodens"]


def test_laterality_only_on_a_paired_organ_without_a_side() -> None:
    forms = set(LEXICON.laterality_forms)
    assert outputs("laterality", Item("icd10gm", "Mammakarzinom", "C50.9")) == {f"Mammakarzinom{f}" for f in forms}
    assert outputs("laterality", Item("topography", "Lungenoberlappen", "C34.1")) <= {f"Lungenoberlappen{f}" for f in forms}
    assert rule("laterality").applies(Item("morphology", "Nierenzellkarzinom", "8312/3"))
    for item in (Item("icd10gm", "Prostatakarzinom", "C61"),  # no paired organ
                 Item("icd10gm", "Mammakarzinom links", "C50.9"),  # a side already
                 Item("icd10gm", "Bösartige Neubildung des Mittellappens der Lunge", "C34.2"),  # right lung only
                 Item("icd10gm", "Bösartige Neubildung der Brustwirbelsäule", "C41.2"),  # unpaired look-alike
                 Item("icd10gm", "Unsichere Neubildung der Tonsilla lingualis", "D37.0"),
                 Item("icd10gm", "Primäre Gonarthrose des Knies", "M17.1"),  # outside chapter II sides change codes
                 Item("recognition", "Mammazyste", "N60.0", negative=True)):
        assert not rule("laterality").applies(item), item.text
    gold_kept("laterality", icd_rows(("Hodenkarzinom", "C62.9"), ("Gutartige Neubildung der Niere", "D30.0")),
              "icd10gm", "icd10gm_code")


def test_tnm_tail_only_on_malignant_primaries_pTis_on_in_situ() -> None:
    tails = {s + t for s in LEXICON.tnm_separators for t in LEXICON.tnm_tails}
    assert outputs("tnm_tail", Item("icd10gm", "Prostatakarzinom", "C61")) <= {f"Prostatakarzinom{t}" for t in tails}
    assert outputs("tnm_tail", Item("icd10gm", "Carcinoma in situ der Mamma", "D05.9")) == {
        "Carcinoma in situ der Mamma pTis", "Carcinoma in situ der Mamma, pTis"}
    assert outputs("tnm_tail", Item("morphology", "Adenokarzinom in situ", "8140/2")) == {
        "Adenokarzinom in situ pTis", "Adenokarzinom in situ, pTis"}
    melanoma = outputs("tnm_tail", Item("icd10gm", "Malignes Melanom der Nase", "C43.3"))
    assert not [t for t in melanoma if re.search(r"\bG\d", t)]  # melanoma: staged, not graded
    assert rule("tnm_tail").applies(Item("topography", "Prostata", "C61.9"))  # a site code ignores the stage
    assert rule("tnm_tail").applies(Item("morphology", "Adenokarzinom o.n.A.", "8140/3"))
    for item in (Item("icd10gm", "Prostataadenom", "D29.1"), Item("icd10gm", "Harnblasentumor", "D41.4"),
                 Item("icd10gm", "Lebermetastase", "C78.7"), Item("icd10gm", "Karzinom ohne Angabe der Lokalisation", "C80.9"),
                 Item("icd10gm", "Chronische lymphatische Leukämie", "C91.10"), Item("icd10gm", "Glioblastom", "C71.9"),
                 Item("morphology", "Adenom o.n.A.", "8140/0"), Item("morphology", "Metastase o.n.A.", "8000/6"),
                 Item("morphology", "Plasmazellmyelom", "9732/3"), Item("topography", "Knochenmark", "C42.1"),
                 Item("topography", "Lymphknoten o.n.A.", "C77.9"),
                 Item("icd10gm", "Gut differenziertes Adenokarzinom der Prostata", "C61"),  # grade stated already
                 Item("recognition", "Asthma bronchiale", "J45.9", negative=True)):
        assert not rule("tnm_tail").applies(item), item.text
    gold_kept("tnm_tail", [{"id": "m1", "text": "Adenokarzinom o.n.A.", "icdo3_morphology_code": "8140/3"}],
              "morphology", "icdo3_morphology_code")


def test_metastasis_distractor_keeps_the_primary_and_skips_what_it_could_change() -> None:
    phrases = {p for site in LEXICON.metastasis_sites for p in site.phrases}
    assert outputs("metastasis_distractor", Item("icd10gm", "Prostatakarzinom", "C61")) <= {f"Prostatakarzinom{p}" for p in phrases}
    liver = [p for site in LEXICON.metastasis_sites if "leber" in site.avoid for p in site.phrases]
    assert not [t for t in outputs("metastasis_distractor", Item("icd10gm", "Leberzellkarzinom", "C22.0"))
                if any(t.endswith(p) for p in liver)]  # no liver metastases for a liver primary
    for item in (Item("icd10gm", "Lebermetastase", "C78.7"),  # gold is the metastasis (C77-C79)
                 Item("morphology", "Metastase eines Adenokarzinoms", "8140/6"),  # behaviour /6
                 Item("recognition", "Asthma bronchiale", "J45.9", negative=True),  # a "Nein" would become a tumour
                 Item("recognition", "Mammakarzinom in der Eigenanamnese", "Z85.3"),  # history rule "Ja"
                 Item("icd10gm", "Kolonadenom", "D12.6"), Item("icd10gm", "Carcinoma in situ der Zervix", "D06.9"),
                 Item("icd10gm", "Akute myeloische Leukämie", "C92.00"),
                 Item("icd10gm", "Prostatakarzinom, ossär metastasiert", "C61")):  # spread named already
        assert not rule("metastasis_distractor").applies(item), item.text
    texts = gold_kept("metastasis_distractor", icd_rows(("Magenkarzinom", "C16.9")), "icd10gm", "icd10gm_code")
    assert texts[0].startswith("Magenkarzinom") and re.search("metasta|Filiae|cM1", texts[0])
    gold_kept("metastasis_distractor", [{"id": "t1", "text": "Prostata", "icdo3_topography_code": "C61.9"}],
              "topography", "icdo3_topography_code")


def test_first_diagnosis_date_only_on_tumour_items() -> None:
    first, last = LEXICON.first_diagnosis_years
    date = re.compile(r"^Mammakarzinom(?:, ED:? |, Erstdiagnose | \(ED )(?:\d{2}\.(\d{2})\.|(\d{2})/)?(\d{4})\)?$")
    for text in outputs("first_diagnosis_date", Item("icd10gm", "Mammakarzinom", "C50.9")):
        match = date.search(text)
        assert match, text
        assert first <= int(match.group(3)) <= last and 1 <= int(match.group(1) or match.group(2) or 1) <= 12
    assert rule("first_diagnosis_date").applies(Item("icd10gm", "Kolonadenom", "D12.6"))
    # an old date on a fracture could make it a sequela (T93): never on codes outside chapter II
    assert not rule("first_diagnosis_date").applies(Item("icd10gm", "Fraktur des Femurschaftes", "S72.3"))
    assert not rule("first_diagnosis_date").applies(Item("recognition", "Asthma bronchiale", "J45.9", negative=True))
    gold_kept("first_diagnosis_date", [{"id": "r1", "text": "Kaposi-Sarkom", "is_tumour": "Ja", "code": "C46.9"}],
              "recognition", "is_tumour")


def test_context_sentence_lines_fit_the_item() -> None:
    context = LEXICON.context
    def line_of(text: str, source: str) -> str:
        return text.replace(source, "{text}", 1)

    tumour = outputs("context_sentence", Item("icd10gm", "Prostatakarzinom", "C61"), n=200)
    assert {line_of(t, "Prostatakarzinom") for t in tumour} == set(context.neutral + context.current)
    history = outputs("context_sentence", Item("recognition", "Mammakarzinom in der Eigenanamnese", "Z85.3"), n=200)
    assert {line_of(t, "Mammakarzinom in der Eigenanamnese") for t in history} == set(context.neutral)
    negative = outputs("context_sentence", Item("recognition", "Asthma bronchiale", "J45.9", negative=True), n=200)
    assert {line_of(t, "Asthma bronchiale") for t in negative} == set(context.neutral)
    site = outputs("context_sentence", Item("topography", "Lunge o.n.A.", "C34.9"))
    assert {line_of(t, "Lunge o.n.A.") for t in site} <= set(context.site)
    procedure = outputs("context_sentence", Item("recognition", "Resektion der Leber", "5-502.0", negative=True, procedure=True))
    assert {line_of(t, "Resektion der Leber") for t in procedure} == set(context.procedure)
    assert "Lok.: Lunge o.n.A." in site and "Geplant: Resektion der Leber." in procedure
    # no line names a histology outside the topography lines, which name the site of a tumour
    assert not [line for line in context.neutral + context.current + context.procedure if HISTOLOGY.search(line)]
    gold_kept("context_sentence", [{"id": "r1", "text": "Asthma bronchiale", "is_tumour": "Nein", "code": "J45.9"}],
              "recognition", "is_tumour")


def test_case_hyphen_noise_never_touches_codes() -> None:
    texts = outputs("case_hyphen_noise", Item("morphology", "Inflammatorisches Karzinom C50.-", "8530/3"))
    assert texts == {"inflammatorisches karzinom C50.-", "INFLAMMATORISCHES KARZINOM C50.-", "inflammatorisches Karzinom C50.-"}
    hyphens = outputs("case_hyphen_noise", Item("icd10gm", "Non-Hodgkin-Lymphom", "C85.9"))
    assert {"Non Hodgkin-Lymphom", "NonHodgkin-Lymphom", "Non-Hodgkin Lymphom", "Non-HodgkinLymphom"} <= hyphens
    assert "Prostata-Karzinom" in outputs("case_hyphen_noise", Item("icd10gm", "Prostatakarzinom", "C61"))
    cased = outputs("case_hyphen_noise", Item("icd10gm", "Lungenkrebs pT2 pN0", "C34.9"))
    assert "LUNGENKREBS pT2 pN0" in cased and all(t.endswith(" pT2 pN0") for t in cased)  # words with a digit keep their case
    gold_kept("case_hyphen_noise", icd_rows(("Prostatakarzinom", "C61")), "icd10gm", "icd10gm_code")


def test_typo_is_one_character_in_one_long_word_at_the_stated_rate() -> None:
    for text in outputs("typo", Item("icd10gm", "Adenokarzinom der Prostata", "C61")):
        changed = [(a, b) for a, b in zip(["Adenokarzinom", "der", "Prostata"], text.split()) if a != b]
        assert len(changed) == 1 and changed[0][1] in typo_candidates(changed[0][0]), text
    assert "Kolitis" in typo_candidates("Kolpitis")  # one drop spells another diagnosis...
    assert "Kolitis" not in outputs("typo", Item("icd10gm", "Kolpitis", "N76.0"), known=frozenset({"kolitis"}))  # ...so not used
    for text in ("Lunge o.n.A.", "C34.9 pT2 pN0 G2", "HIV-KRANKHEIT"):  # short words, digits, all capitals
        assert not rule("typo").applies(Item("icd10gm", text, "C34.9")), text
    typo = TypoRule(LEXICON)
    drawn = sum(bool(vary(Item("icd10gm", "Prostatakarzinom", "C61"), (typo,), item_rng(0, "p", k)).rules) for k in range(4000))
    assert typo.rate == LEXICON.typo_rate == 0.25 and abs(drawn / 4000 - 0.25) < 0.03
    gold_kept("typo", icd_rows(("Prostatakarzinom", "C61")), "icd10gm", "icd10gm_code")


def test_negative_and_procedure_items_only_get_rules_that_cannot_create_a_tumour() -> None:
    rules = make_rules(LEXICON)
    tempting = [Item("recognition", "Mammakarzinom in der Familienanamnese", "Z80.3", negative=True),
                Item("recognition", "Abklärung bei Verdacht auf Krebs", "Z03.1", negative=True),
                Item("recognition", "Screening auf Brustkrebs", "Z12.3", negative=True),
                Item("recognition", "Mammazyste links", "N60.0", negative=True),
                Item("recognition", "Resektion der Prostata", "5-601", negative=True, procedure=True)]
    for item in tempting:
        assert {r.name for r in rules if r.applies(item)} <= SAFE_FOR_NEGATIVES, item.text
        for k in range(100):
            variant = vary(item, rules, item_rng(3, item.text, k))
            assert set(variant.rules) <= SAFE_FOR_NEGATIVES
            assert not re.search(r"metasta|Filiae|\b(?:y?p|c)[TM]\d|\bED\b|Erstdiagnose|Therapieplanung", variant.text, re.IGNORECASE)


def test_no_rule_adds_a_histology_word_to_a_morphology_item() -> None:
    items = [Item("morphology", "Adenokarzinom o.n.A.", "8140/3"), Item("morphology", "Nierenzellkarzinom", "8312/3"),
             Item("morphology", "Adenokarzinom in situ", "8140/2"), Item("morphology", "Tubuläres Adenom o.n.A.", "8211/0")]
    for name in ("laterality", "tnm_tail", "metastasis_distractor", "first_diagnosis_date", "context_sentence"):
        for item in items:
            if not rule(name).applies(item):
                continue
            for text in outputs(name, item):
                added = text.replace(item.text.rstrip("."), "", 1)
                if name == "metastasis_distractor":  # the metastases of the primary, behaviour stays /3
                    added = re.sub(r"(?i)\w*metasta\w*|filiae", "", added)
                assert item.text.rstrip(".") in text and not HISTOLOGY.search(added), (name, text)


# --- the derived sets ---

def build(out: Path, seed: int = 0, n_test: int = 100) -> dict:
    return build_catalogue_tasks(out, CATALOGUE_FIXTURES, 2099, 2099, 2099, 2099, n_test=n_test, n_fewshot=2, seed=seed)


def test_every_item_points_to_its_source_row_in_the_test_split(tmp_path: Path) -> None:
    manifest = build(tmp_path / "g")
    for name, (_, gold_field) in BASE_SETS.items():
        base = {row["id"]: row for row in read_jsonl(tmp_path / "g" / name / "test.jsonl")}
        pool = read_jsonl(tmp_path / "g" / name / "fewshot.jsonl")
        items = read_jsonl(tmp_path / "g" / f"{name}_clinical" / "test.jsonl")
        entry = manifest["sets"][f"{name}_clinical"]
        assert items and entry["kind"] == "clinical_variation" and manifest["sets"][name]["kind"] == "catalogue_recall"
        assert len({row["id"] for row in items}) == len(items) == entry["items"]
        assert len({row["text"] for row in items}) == len(items)
        for row in items:
            source = base[row["source_id"]]  # in the base test split
            assert row["source_text"] == source["text"] != row["text"] and row[gold_field] == source[gold_field]
            assert row["stratum"] == source["stratum"] and row["id"].startswith(f"{row['source_id']}~v")
            assert [n for n in RULE_NAMES if row[rule_column(n)]] == row["rules"] and 1 <= len(row["rules"]) <= 3
        assert not {row["source_id"] for row in items} & {row["id"] for row in pool}  # in no few-shot pool
        assert not {row["source_text"].casefold() for row in items} & {row["text"].casefold() for row in pool}
        assert entry["rules"] == {n: sum(row[rule_column(n)] for row in items) for n in RULE_NAMES}
        assert entry["source_rows"] == len(base) and entry["variants_per_row"] == 3  # fixture splits are small
        assert (tmp_path / "g" / f"{name}_clinical" / "fewshot.jsonl").read_bytes() == (tmp_path / "g" / name / "fewshot.jsonl").read_bytes()
    recognition = read_jsonl(tmp_path / "g" / "tumour_recognition_clinical" / "test.jsonl")
    assert {row["source"] for row in recognition} == {"alphaid", "ops"}
    for row in recognition:
        if row["is_tumour"] == "Nein":
            assert set(row["rules"]) <= SAFE_FOR_NEGATIVES, row


def test_same_seed_same_sets_other_seed_other_sets(tmp_path: Path) -> None:
    build(tmp_path / "a", seed=1)
    build(tmp_path / "b", seed=1)
    build(tmp_path / "c", seed=2)
    for name in SETS:
        part = Path(f"{name}_clinical") / "test.jsonl"
        assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes(), name
    assert any((tmp_path / "a" / f"{n}_clinical" / "test.jsonl").read_bytes() != (tmp_path / "c" / f"{n}_clinical" / "test.jsonl").read_bytes()
               for n in SETS)
    texts = {seed: [r["text"] for r in read_jsonl(tmp_path / folder / "alphaid_icd10gm_neoplasms_clinical" / "test.jsonl")]
             for seed, folder in ((1, "a"), (2, "c"))}
    assert texts[1] != texts[2]


def test_variants_are_the_same_in_another_process() -> None:
    code = ("from harness.families.catalogue_qa.variation import *; lex = load_lexicon(); rules = make_rules(lex); "
            "print([vary(Item('icd10gm', 'Karzinom der Prostata', 'C61'), rules, item_rng(7, 'alpha-1', k)).text for k in range(20)])")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT,
                           env={**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": str(REPO_ROOT)}).stdout
            for hash_seed in (1, 2)]
    here = str([vary(Item("icd10gm", "Karzinom der Prostata", "C61"), make_rules(LEXICON), item_rng(7, "alpha-1", k)).text
                for k in range(20)])
    assert runs[0].strip() == runs[1].strip() == here


def test_a_row_without_its_gold_names_the_file_row_and_field(tmp_path: Path) -> None:
    (tmp_path / "icdo3_topography").mkdir()
    (tmp_path / "icdo3_topography" / "test.jsonl").write_text('{"id": "C61.9", "text": "Prostata"}\n', encoding="utf-8")
    (tmp_path / "icdo3_topography" / "fewshot.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"test\.jsonl: row 1: field 'icdo3_topography_code' missing"):
        build_clinical_sets(tmp_path, 0)


def test_a_bad_lexicon_is_one_error_naming_file_and_field(tmp_path: Path) -> None:
    text = (REPO_ROOT / "tasks" / "icd_catalogue_qa" / "_variation.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "_variation.yaml"
    broken.write_text(text.replace("laterality_avoid:\n", "laterality_avoid:\n  - '(unclosed'\n", 1), encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"_variation\.yaml: laterality_avoid: .*not a regular expression"):
        load_lexicon(broken)
    broken.write_text(text.replace("typo: 2}", "typos: 2}", 1), encoding="utf-8")
    with pytest.raises(OnkobenchError, match=r"_variation\.yaml: rule_weights: .*needs a positive weight for each of abbreviation"):
        load_lexicon(broken)


# --- the real catalogue files ---

@pytest.fixture(scope="module")
def real_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The default build (500 test items, 16 few-shot examples per base set) from the real catalogue files."""
    root = real_catalogue_root()
    if root is None:
        pytest.skip("real catalogue files absent (../shared/data/catalogues)")
    out = tmp_path_factory.mktemp("real") / "generated"
    return out, build_catalogue_tasks(out, root)


def test_real_build_has_at_least_500_items_per_set_and_keeps_every_gold(real_sets: tuple[Path, dict]) -> None:
    out, manifest = real_sets
    used: set[str] = set()
    for name, (_, gold_field) in BASE_SETS.items():
        entry = manifest["sets"][f"{name}_clinical"]
        items = read_jsonl(out / f"{name}_clinical" / "test.jsonl")
        base = {row["id"]: row for row in read_jsonl(out / name / "test.jsonl")}
        pool = {row["id"] for row in read_jsonl(out / name / "fewshot.jsonl")}
        print(f"{name}_clinical: {entry['items']} items from {entry['source_rows']} rows; rules {entry['rules']}")
        assert len(items) == entry["items"] >= 500, name
        assert all(row[gold_field] == base[row["source_id"]][gold_field] and row["source_id"] not in pool for row in items)
        used |= {rule for rule, n in entry["rules"].items() if n}
        for row in items:
            code = base[row["source_id"]].get("code", row[gold_field])
            if row["rule_metastasis_distractor"]:  # never on a metastasis, /6, "Nein" or history item
                assert code[:3] not in ("C77", "C78", "C79", "Z85") and not code.endswith("/6")
                assert row.get("is_tumour", "Ja") == "Ja"
            if row["rule_tnm_tail"] and name != "icdo3_topography":  # malignant or in situ only
                assert code[0] == "C" or code[:2] == "D0" or code[-2:] in ("/3", "/2"), row
            if row.get("is_tumour") == "Nein":
                assert set(row["rules"]) <= SAFE_FOR_NEGATIVES
    assert used == set(RULE_NAMES)  # every rule is used somewhere


def test_real_lookup_check_shows_what_a_dictionary_still_gets(real_sets: tuple[Path, dict]) -> None:
    """#18.3: per set, the exact oracle's share and the fair fuzzy lookup's share, in the manifest."""
    _, manifest = real_sets
    for name, entry in manifest["sets"].items():
        lookup = entry["lookup"]
        print(f"{name}: oracle exact {lookup['oracle_exact']}, fair fuzzy {lookup['fair_fuzzy']} (n={lookup['n']})")
        assert lookup["n"] == entry["test"]
        if entry["kind"] == "catalogue_recall":
            assert lookup["oracle_exact"] == 1.0, name  # every test item is a catalogue row: perfect by construction
            if name != "tumour_recognition":
                assert lookup["fair_exact"] == 0.0, name  # no test text is in a training split
        else:
            assert lookup["oracle_exact"] < 0.6, name  # the rewritten items are no longer catalogue rows
        assert lookup["fair_exact"] <= lookup["fair_fuzzy"], name  # the fuzzy lookup tries the exact match first


def test_real_catalogues_name_no_side_in_chapter_ii_or_icdo3() -> None:
    """The laterality rule's premise: no ICD-10-GM chapter II code and no ICD-O-3 code is one-sided or two-sided
    (outside chapter II some are: H90, J38, K40)."""
    root = real_catalogue_root()
    if root is None:
        pytest.skip("real catalogue files absent (../shared/data/catalogues)")
    from harness.catalogues import load_catalogue

    side = re.compile(r"(?i)seitig|\blinks|\brechts|bilateral|beidseit")
    icd10 = load_catalogue("icd10gm", 2024, root)
    named = {code for code, entry in icd10.entries.items() if side.search(entry.title)}
    assert not [code for code in named if code[0] == "C" or (code[0] == "D" and int(code[1:3]) <= 48)]
    assert {"H90.0", "K40.0", "J38.03"} <= named  # the rule would change these: never used outside chapter II
    for system in ("icdo3_topography", "icdo3_morphology"):
        assert not [e for e in load_catalogue(system, 2019, root).entries.values() if e.title and side.search(e.title)]

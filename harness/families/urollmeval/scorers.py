"""UroLlmEval step 2 per query: a three-character ICD-10 code against the snippet's gold codes."""

from __future__ import annotations

from typing import Any

from harness.catalogues.codes import SECONDARY_NEOPLASMS
from harness.scoring.parsers import Parsed
from harness.scoring.scorers import SCORERS, Scorer


@SCORERS.register("icd10_category_in_gold")
def icd10_category_in_gold_scorer() -> Scorer:
    """UroLlmEval step 2 per query: code = parsed three-character code; NA = no code or C77-C79;
    correct = a non-NA code in the snippet's gold set."""

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = sorted({str(code) for code in (target or [])})
        code = parsed.value if parsed.ok else None
        secondary = code in SECONDARY_NEOPLASMS
        na = code is None or secondary
        return {"code": code, "c77_79": int(secondary), "na": int(na), "correct": int(not na and code in gold), "gold": gold}

    return score

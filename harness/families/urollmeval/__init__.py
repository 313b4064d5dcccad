"""UroLlmEval (Lenz et al. 2025): tumour detection, ICD-10 category and first-diagnosis date in German
urology snippets, three chained steps. Importing this package registers the study's rules."""

from harness.families.urollmeval import aggregators, baselines, expanders, filters, metrics, parsers, rows, scorers  # noqa: F401

"""Catalogue QA (protocol B, after Lenz et al., arXiv 2510.13624): evaluation sets built from the official
catalogue files (``onkobench catalogue build-tasks``), and their clinical-variation sets (``clinical``,
rules in ``variation``). Its parsers and scorers are the generic ICD ones
(``harness.scoring.icd``); nothing to register beyond them."""

"""Parsers for the classification files (ICD-10-GM, Alpha-ID, ICD-O-3, OPS) and a cached loader.

The files themselves are never part of the repository (publisher terms); see locate.py for
where they are looked for.
"""

from harness.catalogues.alphaid import read_alphaid
from harness.catalogues.claml import read_icd10gm_claml
from harness.catalogues.codes import SECONDARY_NEOPLASMS, is_neoplasm
from harness.catalogues.icd10gm_edv import read_icd10gm_edv
from harness.catalogues.icdo3 import read_icdo3_morphology, read_icdo3_topography
from harness.catalogues.locate import catalogue_root, clear_cache, find_files, load_alphaid, load_catalogue
from harness.catalogues.model import AlphaIdEntry, Block, Catalogue, CatalogueEntry, category_code, normalise_code
from harness.catalogues.ops import read_ops_edv

__all__ = [
    "SECONDARY_NEOPLASMS",
    "is_neoplasm",
    "AlphaIdEntry",
    "Block",
    "Catalogue",
    "CatalogueEntry",
    "catalogue_root",
    "category_code",
    "clear_cache",
    "find_files",
    "load_alphaid",
    "load_catalogue",
    "normalise_code",
    "read_alphaid",
    "read_icd10gm_claml",
    "read_icd10gm_edv",
    "read_icdo3_morphology",
    "read_icdo3_topography",
    "read_ops_edv",
]

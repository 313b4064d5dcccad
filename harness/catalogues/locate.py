"""Where the catalogue files live and a per-process cache of parsed catalogues.

Layout under the root (as in ../shared/data/catalogues):
  icd10gm/<year>/icd10gm<year>syst_kodes.txt (+ _gruppen.txt, _kapitel.txt), or a *claml*.xml there
  alphaid/<year>/*.txt
  icdo3/<year>/topographie.csv, morphologie.csv
  ops/<year>/ops<year>syst_kodes.txt
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import harness
from harness.catalogues.alphaid import read_alphaid
from harness.catalogues.claml import read_icd10gm_claml
from harness.catalogues.icd10gm_edv import read_icd10gm_edv
from harness.catalogues.icdo3 import read_icdo3_morphology, read_icdo3_topography
from harness.catalogues.model import AlphaIdEntry, Catalogue
from harness.catalogues.ops import read_ops_edv
from harness.errors import OnkobenchError

ENV_VAR = "ONKOBENCH_CATALOGUE_DIR"
SYSTEMS = ("icd10gm", "icdo3_topography", "icdo3_morphology", "ops")
_FILE_SYSTEMS = (*SYSTEMS, "icdo3", "alphaid")

# (role, resolved path, mtime_ns, size): a changed file gives a new key, so no stale cache
_Key = tuple[tuple[str, str, int, int], ...]


def default_root() -> Path:
    return Path(harness.__file__).resolve().parents[1].parent / "shared" / "data" / "catalogues"


def catalogue_root() -> Path:
    """$ONKOBENCH_CATALOGUE_DIR, else <repo>/../shared/data/catalogues."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        root = Path(configured).expanduser()
        if not root.is_dir():
            raise OnkobenchError(f"{ENV_VAR}={configured} is not a directory")
        return root
    root = default_root()
    if not root.is_dir():
        raise OnkobenchError(
            f"no catalogue files: set {ENV_VAR} to the folder holding icd10gm/, alphaid/, icdo3/, ops/ "
            f"(looked for {root})"
        )
    return root


def find_files(system: str, year: int, root: Path | None = None) -> dict[str, Path]:
    """The files of one system and year by role: icd10gm -> kodes (+ gruppen, kapitel) or claml;
    icdo3_topography -> topography; icdo3_morphology -> morphology; icdo3 -> both; ops -> kodes;
    alphaid -> alphaid."""
    if system not in _FILE_SYSTEMS:
        raise OnkobenchError(f"unknown catalogue system {system!r}; known: {', '.join(_FILE_SYSTEMS)}")
    root = Path(root) if root is not None else catalogue_root()
    family = "icdo3" if system.startswith("icdo3") else system
    folder = root / family / str(year)
    if not folder.is_dir():
        raise OnkobenchError(f"no {system} catalogue for {year}: {folder} does not exist")
    files: dict[str, Path] = {}
    if system == "icd10gm":
        kodes = folder / f"icd10gm{year}syst_kodes.txt"
        if kodes.is_file():
            files["kodes"] = kodes
            for role in ("gruppen", "kapitel"):
                extra = folder / f"icd10gm{year}syst_{role}.txt"
                if extra.is_file():
                    files[role] = extra
        else:
            claml = sorted(folder.glob("*claml*.xml"))
            if not claml:
                raise OnkobenchError(f"no ICD-10-GM {year} catalogue: neither {kodes.name} nor a *claml*.xml in {folder}")
            files["claml"] = claml[-1]
    elif system == "ops":
        files["kodes"] = _need(folder / f"ops{year}syst_kodes.txt")
    elif system == "alphaid":
        candidates = sorted(folder.glob(f"icd10gm{year}alpha*.txt")) or sorted(folder.glob("*.txt"))
        if not candidates:
            raise OnkobenchError(f"no Alpha-ID {year} file (*.txt) in {folder}")
        # several releases of one year differ in their date stamp; the last sorts newest
        files["alphaid"] = candidates[-1]
    else:
        if system in ("icdo3", "icdo3_topography"):
            files["topography"] = _need(folder / "topographie.csv")
        if system in ("icdo3", "icdo3_morphology"):
            files["morphology"] = _need(folder / "morphologie.csv")
    return files


def _need(path: Path) -> Path:
    if not path.is_file():
        raise OnkobenchError(f"catalogue file missing: {path}")
    return path


def _key(files: dict[str, Path]) -> _Key:
    parts = []
    for role, path in sorted(files.items()):
        resolved = path.resolve()
        stat = resolved.stat()
        parts.append((role, str(resolved), stat.st_mtime_ns, stat.st_size))
    return tuple(parts)


def load_catalogue(system: str, year: int, root: Path | None = None) -> Catalogue:
    """The parsed catalogue, cached per process while its files are unchanged."""
    if system not in SYSTEMS:
        raise OnkobenchError(f"unknown catalogue system {system!r}; known: {', '.join(SYSTEMS)}")
    return _load(system, year, _key(find_files(system, year, root)))


def load_alphaid(year: int, root: Path | None = None) -> list[AlphaIdEntry]:
    """The Alpha-ID rows of one year, cached like load_catalogue (each call gets its own list)."""
    return list(_load_alphaid(year, _key(find_files("alphaid", year, root))))


@functools.lru_cache(maxsize=32)
def _load(system: str, year: int, key: _Key) -> Catalogue:
    files = {role: Path(path) for role, path, _, _ in key}
    if system == "icd10gm":
        if "kodes" in files:
            return read_icd10gm_edv(files["kodes"], files.get("gruppen"), files.get("kapitel"), year=year)
        return read_icd10gm_claml(files["claml"], year=year)
    if system == "ops":
        return read_ops_edv(files["kodes"], year=year)
    if system == "icdo3_topography":
        return read_icdo3_topography(files["topography"], year=year)
    return read_icdo3_morphology(files["morphology"], year=year)


@functools.lru_cache(maxsize=8)
def _load_alphaid(year: int, key: _Key) -> tuple[AlphaIdEntry, ...]:
    return tuple(read_alphaid(Path(key[0][1]), year=year))


def clear_cache() -> None:
    """Forget parsed catalogues (tests; a long-running process that swapped files in place keeps
    working without this, as the cache key includes mtime and size)."""
    _load.cache_clear()
    _load_alphaid.cache_clear()

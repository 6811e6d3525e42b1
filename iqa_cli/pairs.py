"""Pair reference and distorted images by name, never by position.

Three ways to form pairs:

- **path**: the same relative path in both folders (case-sensitive), extension ignored
  (``a/b.png`` <-> ``a/b.bmp``).
- **prefix** (TID2013 / KADID-10k layout): a distorted file's stem starts with a reference stem followed
  by one of ``_``, ``-``, space or ``.`` (or equals it), compared case-insensitively; the longest reference
  stem wins, so ``I10_01_1`` goes to ``I10``, not ``I1``. Sub-folders are searched; only stems are compared.
- **csv**: an explicit table with ``ref`` and ``dist`` columns.

Folder pairs are sorted by distorted path; CSV pairs keep the row order of the file. Discovery is recursive,
skips hidden files and folders, and keeps only :data:`~iqa_cli.io.IMAGE_EXTENSIONS` (case-insensitive).
When one folder lies inside the other, the inner folder is left out of the outer folder's listing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from iqa_cli.errors import PairingError, UsageError
from iqa_cli.io import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

PREFIX_SEPARATORS = "_- ."
"""Characters that may follow a reference stem in a distorted file's stem (prefix mode)."""


@dataclass(frozen=True)
class Pair:
    """One reference/distorted pair of files."""

    ref: Path
    dist: Path


@dataclass
class Pairing:
    """Result of pair discovery.

    Attributes:
        pairs: Matched pairs.
        unmatched_ref: Reference files no distorted file was paired with.
        unmatched_dist: Distorted files with no reference.
        mode: How pairs were formed: ``"path"``, ``"prefix"`` or ``"csv"``.
    """

    pairs: list[Pair]
    unmatched_ref: list[Path] = field(default_factory=list)
    unmatched_dist: list[Path] = field(default_factory=list)
    mode: str = "path"


def iter_images(folder: str | Path) -> list[Path]:
    """Lists image files under a folder.

    Args:
        folder: Folder to search recursively.

    Returns:
        Sorted paths (``folder`` joined with the relative path) whose extension is in ``IMAGE_EXTENSIONS``;
        hidden files and folders (name starting with ``.``) are skipped, symlinked folders are not followed.

    Raises:
        PairingError: The folder does not exist or is not a folder.
    """
    return _iter_images(_check_dir(folder, "image"), exclude=None)


def pair_by_path(ref_dir: str | Path, dist_dir: str | Path) -> Pairing:
    """Pairs files with the same relative path in both folders, extension ignored.

    Args:
        ref_dir: Folder of reference images.
        dist_dir: Folder of distorted images.

    Returns:
        A :class:`Pairing` with ``mode="path"``.

    Raises:
        PairingError: A folder is missing, both are the same folder, or two files in one folder differ only
            by extension.
    """
    refs, dists, ref_root, dist_root = _list_both(ref_dir, dist_dir)
    ref_keys = _index(refs, lambda p: _path_key(p, ref_root), "reference", case_note="")
    dist_keys = _index(dists, lambda p: _path_key(p, dist_root), "distorted", case_note="")
    pairs = [Pair(ref_keys[k], dist_keys[k]) for k in dist_keys if k in ref_keys]
    return Pairing(
        pairs=sorted(pairs, key=lambda p: p.dist),
        unmatched_ref=sorted(p for k, p in ref_keys.items() if k not in dist_keys),
        unmatched_dist=sorted(p for k, p in dist_keys.items() if k not in ref_keys),
        mode="path",
    )


def pair_by_prefix(ref_dir: str | Path, dist_dir: str | Path) -> Pairing:
    """Pairs each distorted file with the reference whose stem is its longest prefix (TID/KADID layout).

    ``I01_03_2.png`` pairs with ``I01.png`` (case-insensitive: ``i01_01_1.bmp`` pairs with ``I01.BMP``).

    Args:
        ref_dir: Folder of reference images.
        dist_dir: Folder of distorted images.

    Returns:
        A :class:`Pairing` with ``mode="prefix"``; references without any distorted file are in
        ``unmatched_ref``.

    Raises:
        PairingError: A folder is missing, both are the same folder, or two reference files share a stem
            (case-insensitively).
    """
    refs, dists, _, _ = _list_both(ref_dir, dist_dir)
    ref_stems = _index(refs, lambda p: p.stem.lower(), "reference", case_note=" (case-insensitively)")
    pairs: list[Pair] = []
    unmatched_dist: list[Path] = []
    used: set[str] = set()
    for dist in dists:
        stem = _longest_ref_prefix(dist.stem.lower(), ref_stems)
        if stem is None:
            unmatched_dist.append(dist)
        else:
            used.add(stem)
            pairs.append(Pair(ref_stems[stem], dist))
    return Pairing(
        pairs=sorted(pairs, key=lambda p: p.dist),
        unmatched_ref=sorted(p for s, p in ref_stems.items() if s not in used),
        unmatched_dist=sorted(unmatched_dist),
        mode="prefix",
    )


def pair_folders(
    ref_dir: str | Path, dist_dir: str | Path, mode: Literal["auto", "path", "prefix"] = "auto"
) -> Pairing:
    """Pairs two folders by path or by prefix.

    Args:
        ref_dir: Folder of reference images.
        dist_dir: Folder of distorted images.
        mode: ``"path"``, ``"prefix"``, or ``"auto"``: path mode if at least one distorted file matches a
            reference by path, prefix mode otherwise.

    Returns:
        A :class:`Pairing`; its ``mode`` says which rule was used.

    Raises:
        UsageError: ``mode`` is not one of the accepted values.
        PairingError: See :func:`pair_by_path` and :func:`pair_by_prefix`.
    """
    if mode == "path":
        return pair_by_path(ref_dir, dist_dir)
    if mode == "prefix":
        return pair_by_prefix(ref_dir, dist_dir)
    if mode != "auto":
        raise UsageError(f"pairing mode must be 'auto', 'path' or 'prefix', got {mode!r}")
    by_path = pair_by_path(ref_dir, dist_dir)
    if by_path.pairs:
        logger.debug("auto pairing chose path mode (%d pairs)", len(by_path.pairs))
        return by_path
    logger.debug("auto pairing: no file matched by path, using prefix mode")
    return pair_by_prefix(ref_dir, dist_dir)


def read_pairs_csv(csv_path: str | Path, root: Path | None = None) -> Pairing:
    """Reads pairs from a CSV file with a header naming ``ref`` and ``dist`` columns.

    The table is read by :func:`iqa_cli.datasets.table.read_pair_table` (the rules every ``ref,dist[,score]``
    table follows): column names in any case, ``reference``/``distorted`` accepted, other columns ignored;
    relative paths resolved against ``root``, or the CSV's folder when ``root`` is ``None``. Files are not
    checked for existence here: the scorer reports missing files per row.

    Args:
        csv_path: The CSV file (UTF-8, optional BOM), or a Parquet file (``.parquet``/``.pq``, same columns).
        root: Folder that relative paths are resolved against.

    Returns:
        A :class:`Pairing` with ``mode="csv"``, pairs in row order and empty unmatched lists.

    Raises:
        DatasetError: The file cannot be read, is empty, lacks a column, has no rows, or a row has an empty
            ``ref`` or ``dist`` cell.
    """
    from iqa_cli.datasets.table import read_pair_table
    from iqa_cli.parquet_io import is_parquet

    rows = read_pair_table(csv_path, "pairs Parquet" if is_parquet(csv_path) else "pairs CSV", root=root)
    return Pairing(pairs=[Pair(r.ref, r.dist) for r in rows], unmatched_ref=[], unmatched_dist=[], mode="csv")


# --------------------------------------------------------------------------------------------- helpers


def _check_dir(folder: str | Path, what: str) -> Path:
    path = Path(folder)
    if not path.exists():
        raise PairingError(f"{what} folder '{path}' does not exist — check the path")
    if not path.is_dir():
        raise PairingError(f"{what} folder '{path}' is not a folder — pass a folder, or use a pairs CSV")
    return path


def _iter_images(folder: Path, exclude: Path | None) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [
            d for d in dirnames if not d.startswith(".") and (exclude is None or not _same(here / d, exclude))
        ]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.append(here / name)
    return sorted(found)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _list_both(ref_dir: str | Path, dist_dir: str | Path) -> tuple[list[Path], list[Path], Path, Path]:
    ref_root = _check_dir(ref_dir, "reference")
    dist_root = _check_dir(dist_dir, "distorted")
    if _same(ref_root, dist_root):
        raise PairingError(
            f"reference and distorted folders are the same folder ('{ref_root}') — "
            "put them in separate folders or use a pairs CSV"
        )
    refs = _iter_images(ref_root, exclude=dist_root)
    dists = _iter_images(dist_root, exclude=ref_root)
    return refs, dists, ref_root, dist_root


def _path_key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _index(paths: Iterable[Path], key_of: Callable[[Path], str], what: str, case_note: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in paths:
        key = key_of(path)
        if key in index:
            raise PairingError(
                f"two {what} files share the name '{key}'{case_note}: '{index[key]}' and '{path}' — "
                "extensions are ignored when pairing; remove or rename one"
            )
        index[key] = path
    return index


def _longest_ref_prefix(stem: str, ref_stems: dict[str, Path]) -> str | None:
    if stem in ref_stems:
        return stem
    for i in range(len(stem) - 1, 0, -1):
        if stem[i] in PREFIX_SEPARATORS and stem[:i] in ref_stems:
            return stem[:i]
    return None

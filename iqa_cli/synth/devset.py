"""The development benchmark: KADID-10k conditions re-created on held-out pristine references.

The pristine images in ``<data>/pristine`` are split once, by folder, and the split is fixed:

- **holdout** (benchmark references, never used in training): all of ``kodak24/``.
- **train** (self-supervised training): ``bsds500/train``, ``bsds500/val``, ``bsds500/test`` and
  ``urban100/``.

:func:`make_dev_pairs` turns references and the 65 conditions of ``kadid_dev_conditions.csv`` into
``(reference, distorted, condition)`` pairs whose label is the condition's mean human score.

The data folder (``<data>``, the project's ``../shared/data``) is a parameter; :func:`find_data_dir` is how entry
points (CLI, training, benchmarks, tests) locate it: ``$IQA_SHARED_DATA``, else ``../shared/data`` beside the project
folder they name (the working directory by default). The one exception is the conditions' *definitions* (type,
level, parameter; no human score), shipped with the package as ``kadid_conditions.csv`` (the definition columns of
the shared table, row for row) and read by :func:`load_condition_definitions`, so that ``iqa adapt`` works without
the data folder.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

import numpy as np

from iqa_cli.errors import DatasetError, UsageError
from iqa_cli.io import downsize_to, read_image, to_rgb
from iqa_cli.synth.kadid import kadid_distort, kadid_reference

__all__ = [
    "CONDITIONS_FILE",
    "HOLDOUT_SETS",
    "TRAIN_SETS",
    "Condition",
    "DevPair",
    "PACKAGED_CONDITIONS",
    "load_condition_definitions",
    "load_conditions",
    "load_refs",
    "make_dev_pairs",
    "pristine_paths",
    "find_data_dir",
    "require_data_dir",
]

HOLDOUT_SETS: tuple[str, ...] = ("kodak24",)
"""Folders under ``pristine/`` held out as benchmark references; never train on them."""
TRAIN_SETS: tuple[str, ...] = ("bsds500/train", "bsds500/val", "bsds500/test", "urban100")
"""Folders under ``pristine/`` used for training."""
CONDITIONS_FILE = Path("labels") / "kadid_dev_conditions.csv"
"""Location of the development conditions relative to the data folder."""

_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
PACKAGED_CONDITIONS = "kadid_conditions.csv"
"""The conditions' definitions shipped in this package (``type_id, type_name, level, parameter,
parameter_meaning``; no human score)."""
_DEFINITION_COLUMNS = ("type_id", "type_name", "level", "parameter")
_COLUMNS = (*_DEFINITION_COLUMNS, "mean_score")
_ENV_VAR = "IQA_SHARED_DATA"


@dataclass(frozen=True)
class Condition:
    """One KADID-10k (type, level) condition.

    Attributes:
        type_id: KADID type id (1..25).
        type_name: Human-readable type, e.g. ``"gaussian blur"``.
        level: 1 (mildest) .. 5 (strongest).
        parameter: The distortion parameter of this level (meaning depends on the type).
        mean_score: Mean human score of the condition over KADID's images (1..5, higher is better); NaN for a
            definition without score (:func:`load_condition_definitions`).
    """

    type_id: int
    type_name: str
    level: int
    parameter: float
    mean_score: float


@dataclass(frozen=True)
class DevPair:
    """A re-created development pair.

    Attributes:
        ref: KADID reference (min-max stretched, 8-bit values), float32 ``(H, W, C)``; read-only.
        dist: The distorted image, float32 ``(H, W, C)`` with 8-bit values.
        condition: The condition applied; ``condition.mean_score`` is the pair's label.
        ref_name: Name of the reference as passed to :func:`make_dev_pairs`.
    """

    ref: np.ndarray
    dist: np.ndarray
    condition: Condition
    ref_name: str


def find_data_dir(project: Path | None = None) -> Path | None:
    """The shared data folder for an entry point, or None if it does not exist.

    Args:
        project: The project folder whose sibling ``../shared/data`` holds the data (default: the working
            directory).

    Returns:
        ``$IQA_SHARED_DATA`` if set, else ``<project>/../shared/data``; None when that folder does not exist.
    """
    env = os.environ.get(_ENV_VAR)
    base = Path.cwd() if project is None else Path(project)
    path = Path(env).expanduser() if env else base.parent / "shared" / "data"
    return path if path.is_dir() else None


def require_data_dir(data_dir: Path | None = None) -> Path:
    """``data_dir`` if given, else :func:`find_data_dir`'s folder.

    Raises:
        DatasetError: No folder was given and none is found.
    """
    if data_dir is not None:
        return Path(data_dir)
    root = find_data_dir()
    if root is None:
        raise DatasetError(
            f"shared data folder not found: set ${_ENV_VAR} or run from the project folder (next to ../shared/data)"
        )
    return root


def load_conditions(path: Path | None = None) -> list[Condition]:
    """Read the development conditions table, with the human scores.

    Args:
        path: CSV with at least the columns ``type_id, type_name, level, parameter, mean_score``
            (default: :data:`CONDITIONS_FILE` in :func:`require_data_dir`'s folder).

    Returns:
        The conditions, in file order.

    Raises:
        DatasetError: The file is missing, lacks a column, or has a malformed value.
    """
    path = require_data_dir() / CONDITIONS_FILE if path is None else Path(path)
    return _parse_conditions(_read_table(path), str(path), scores=True)


def load_condition_definitions(path: Path | None = None) -> list[Condition]:
    """Read the development conditions' definitions only (no data folder needed by default).

    Args:
        path: CSV with at least the columns ``type_id, type_name, level, parameter``; other columns (e.g. the
            shared table's human scores) are ignored (default: :data:`PACKAGED_CONDITIONS`, shipped with the package).

    Returns:
        The conditions, in file order, each with ``mean_score`` NaN.

    Raises:
        DatasetError: The file is missing, lacks a column, or has a malformed value.
    """
    if path is None:
        resource = files(__package__ or "iqa_cli.synth") / PACKAGED_CONDITIONS
        try:
            text = resource.read_text(encoding="utf-8")
        except OSError as exc:  # pragma: no cover - a broken installation
            raise DatasetError(f"the packaged conditions {resource} cannot be read; reinstall iqa-cli") from exc
        return _parse_conditions(text, f"packaged {PACKAGED_CONDITIONS}", scores=False)
    return _parse_conditions(_read_table(Path(path)), str(path), scores=False)


def _read_table(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DatasetError(f"cannot read conditions table {path}: {reason}") from exc


def _parse_conditions(text: str, where: str, scores: bool) -> list[Condition]:
    columns = _COLUMNS if scores else _DEFINITION_COLUMNS
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
    conditions = []
    for line, row in enumerate(reader, start=2):
        try:
            conditions.append(
                Condition(
                    type_id=int(row["type_id"]),
                    type_name=row["type_name"].strip(),
                    level=int(row["level"]),
                    parameter=float(row["parameter"]),
                    mean_score=float(row["mean_score"]) if scores else math.nan,
                )
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise DatasetError(f"{where}, line {line}: malformed value ({exc})") from exc
    if not conditions:
        raise DatasetError(f"{where}: no conditions in the table")
    return conditions


def pristine_paths(split: Literal["train", "holdout"], data_dir: Path | None = None) -> list[Path]:
    """Image files of one side of the fixed pristine split, sorted by path.

    Args:
        split: ``"holdout"`` (:data:`HOLDOUT_SETS`) or ``"train"`` (:data:`TRAIN_SETS`).
        data_dir: Shared data folder (default: :func:`require_data_dir`'s).

    Returns:
        Sorted paths of the images (PNG, JPEG, BMP, TIFF) directly inside the split's folders.

    Raises:
        UsageError: ``split`` is neither ``"train"`` nor ``"holdout"``.
        DatasetError: The shared data folder or one of the split's folders is missing.
    """
    if split not in ("train", "holdout"):
        raise UsageError(f"split must be 'train' or 'holdout', got {split!r}")
    root = require_data_dir(data_dir) / "pristine"
    paths: list[Path] = []
    for folder in HOLDOUT_SETS if split == "holdout" else TRAIN_SETS:
        sub = root / folder
        if not sub.is_dir():
            raise DatasetError(f"pristine folder {sub} is missing; the {split} split needs {folder}/")
        paths.extend(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    return sorted(paths)


def load_refs(paths: Iterable[Path]) -> list[tuple[str, np.ndarray]]:
    """Read pristine images as ``(name, image)`` for :func:`make_dev_pairs`.

    Args:
        paths: Image files, e.g. from :func:`pristine_paths`.

    Returns:
        ``(name, float32 RGB image)`` where name is ``<folder>/<file>`` (e.g. ``"kodak24/kodim01.png"``).

    Raises:
        ImageError: A file cannot be read.
    """
    return [(f"{Path(p).parent.name}/{Path(p).name}", to_rgb(read_image(p).pixels)) for p in paths]


def make_dev_pairs(
    refs: Sequence[tuple[str, np.ndarray]],
    conditions: Sequence[Condition],
    seed: int = 0,
    max_side: int | None = None,
) -> Iterator[DevPair]:
    """Re-create every condition on every reference, lazily.

    Each reference is (optionally) downsized so that its longer side is at most ``max_side`` (``INTER_AREA``)
    and turned into its KADID reference (:func:`iqa_cli.synth.kadid.kadid_reference`). Each distortion draws
    from ``numpy.random.default_rng([seed, ref index, type_id, level])``, so a pair does not depend on which
    other pairs were made or in which order.

    Args:
        refs: ``(name, image)`` with float ``(H, W, 3)`` images in [0, 1].
        conditions: Conditions to apply, e.g. from :func:`load_conditions`.
        seed: Base seed.
        max_side: Optional cap on the longer side of the references, to keep it cheap.

    Yields:
        One :class:`DevPair` per (reference, condition), references outermost.

    Raises:
        UsageError: ``max_side`` is not positive, ``seed`` is negative, or a condition's type is unknown.
        ImageError: A reference is not an ``(H, W, 1|3)`` float array.
    """
    if max_side is not None and max_side < 1:
        raise UsageError(f"max_side must be a positive number of pixels, got {max_side}")
    if seed < 0:
        raise UsageError(f"seed must be non-negative, got {seed}")
    for index, (name, img) in enumerate(refs):
        small = downsize_to(img, max_side) if max_side is not None else img
        ref = kadid_reference(small)
        ref.flags.writeable = False
        for cond in conditions:
            rng = np.random.default_rng([seed, index, cond.type_id, cond.level])
            dist = kadid_distort(ref, cond.type_id, cond.parameter, rng)
            yield DevPair(ref=ref, dist=dist, condition=cond, ref_name=name)

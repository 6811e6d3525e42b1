"""What every database loader shares: the sample types, case-insensitive file lookup and score parsing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from iqa_cli.errors import DatasetError

DatasetKind = Literal["live", "csiq", "tid2008", "tid2013", "kadid10k", "pipal"]
KINDS: tuple[str, ...] = get_args(DatasetKind)
"""Official layouts :func:`iqa_cli.datasets.detect` recognises, in the order they are tried."""


@dataclass(frozen=True)
class Sample:
    """One rated pair.

    Attributes:
        ref: Reference (pristine) image.
        dist: Distorted image.
        score: Subjective score oriented so that higher = better.
    """

    ref: Path
    dist: Path
    score: float


@dataclass(frozen=True)
class Dataset:
    """A loaded database.

    Attributes:
        name: Layout id (one of :data:`iqa_cli.datasets.KINDS`, or ``"csv"``).
        root: Folder of the database, or the CSV file.
        samples: Rated pairs, in score-file order.
        score_kind: What the scores are, e.g. ``"MOS 0-9"`` or ``"DMOS (inverted: higher = better)"``.
        original_higher_is_better: Direction of the scores as stored in the score file.
    """

    name: str
    root: Path
    samples: list[Sample]
    score_kind: str
    original_higher_is_better: bool

    def __len__(self) -> int:
        return len(self.samples)


def child(folder: Path, name: str) -> Path | None:
    """Entry of ``folder`` called ``name``, compared case-insensitively; None when absent."""
    exact = folder / name
    if exact.exists():
        return exact
    if not folder.is_dir():
        return None
    lowered = name.lower()
    for entry in sorted(folder.iterdir()):
        if entry.name.lower() == lowered:
            return entry
    return None


def require_dir(root: Path, name: str, what: str) -> Path:
    """The sub-folder ``name`` of ``root`` (case-insensitive); DatasetError naming ``what`` when absent."""
    found = child(root, name)
    if found is None or not found.is_dir():
        raise DatasetError(f"{root}: no {name}/ folder ({what})")
    return found


class Index:
    """Case-insensitive lookup of image files by name or by stem in one or more folders."""

    def __init__(self, folders: Iterable[Path], recursive: bool = False) -> None:
        self.by_name: dict[str, Path] = {}
        self.by_stem: dict[str, Path] = {}
        for folder in folders:
            entries = folder.rglob("*") if recursive else folder.iterdir()
            for path in sorted(entries):
                if path.is_file() and not path.name.startswith("."):
                    self.by_name.setdefault(path.name.lower(), path)
                    self.by_stem.setdefault(path.stem.lower(), path)

    def name(self, name: str) -> Path | None:
        return self.by_name.get(name.lower())

    def stem(self, stem: str) -> Path | None:
        return self.by_stem.get(stem.lower())


@dataclass
class Matches:
    """Samples whose files were found, and the names of the files that were not (reported together at the end)."""

    samples: list[Sample] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(self, ref: Path | None, dist: Path | None, score: float, ref_label: str, dist_label: str) -> None:
        """Keep the sample if both files were found; else remember the label of each missing one."""
        if dist is None:
            self.missing.append(dist_label)
        if ref is None:
            self.missing.append(ref_label)
        if dist is not None and ref is not None:
            self.samples.append(Sample(ref=ref, dist=dist, score=score))

    def check(self, score_file: Path, where: str) -> list[Sample]:
        """The samples, or DatasetError listing (the first three) missing files."""
        missing = sorted(set(self.missing))
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise DatasetError(
                f"{score_file} names {len(missing)} image(s) not found in {where}: {shown} — "
                "check the folder is complete or remove those rows"
            )
        return self.samples


def parse_score(text: str, where: str) -> float:
    """A finite float, or DatasetError naming ``where`` (a ``file:line``)."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: score {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DatasetError(f"{where}: score {text!r} is not finite")
    return value


def read_lines(path: Path) -> list[str]:
    """Lines of a text file (UTF-8, optional BOM, undecodable bytes replaced)."""
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc

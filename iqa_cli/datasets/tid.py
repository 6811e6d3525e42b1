"""TID2008 / TID2013: ``mos_with_names.txt`` (lines "MOS filename"), MOS 0..9, higher = better -> kept."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from iqa_cli.datasets.common import Dataset, DatasetKind, Index, Matches, child, parse_score, read_lines, require_dir
from iqa_cli.errors import DatasetError

logger = logging.getLogger(__name__)

_TID_NAME = re.compile(r"^i(\d+)_(\d+)_(\d+)\.", re.IGNORECASE)


def tid_rows(path: Path) -> list[tuple[float, str, int]]:
    """Parse ``mos_with_names.txt``: lines "MOS filename" -> (mos, filename, line number)."""
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise DatasetError(f"{path}:{number}: expected 'MOS filename', got {line.strip()!r}")
        rows.append((parse_score(parts[0], f"{path}:{number}"), parts[1], number))
    return rows


def tid_version(root: Path, rows: list[tuple[float, str, int]]) -> DatasetKind:
    """TID2013 (24 types x 5 levels) or TID2008 (17 x 4), from the names, else the folder name."""
    types, levels = set(), set()
    for _, name, _ in rows:
        match = _TID_NAME.match(name)
        if match:
            types.add(int(match.group(2)))
            levels.add(int(match.group(3)))
    if (types and max(types) > 17) or (levels and max(levels) > 4):
        return "tid2013"
    folder = root.resolve().name.lower()
    if "2013" in folder:
        return "tid2013"
    if "2008" in folder:
        return "tid2008"
    logger.info("%s: distortion types <= 17 and levels <= 4 only: taking it as TID2008", root)
    return "tid2008"


def load_tid(root: Path, kind: str) -> Dataset:
    score_file = child(root, "mos_with_names.txt")
    if score_file is None:
        raise DatasetError(f"{root}: no mos_with_names.txt (TID score file, lines 'MOS filename')")
    dist_index = Index([require_dir(root, "distorted_images", "TID distorted images")])
    ref_index = Index([require_dir(root, "reference_images", "TID reference images")])
    matches = Matches()
    for mos, name, number in tid_rows(score_file):
        if not _TID_NAME.match(name):
            raise DatasetError(f"{score_file}:{number}: {name!r} is not a TID name like i01_01_1.bmp")
        dist, ref = dist_index.name(name), ref_index.stem(name[:3])
        matches.add(ref, dist, mos, f"reference_images/{name[:3].upper()}.*", f"distorted_images/{name}")
    samples = matches.check(score_file, str(root))
    return Dataset(kind, root, samples, "MOS 0-9", True)

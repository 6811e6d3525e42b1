"""PIPAL: ``Train_MOS/*.txt`` or ``Train_Label/*.txt`` (lines "name.bmp,elo"), Elo scores, higher = better -> kept."""

from __future__ import annotations

import re
from pathlib import Path

from iqa_cli.datasets.common import Dataset, Index, Matches, child, parse_score, read_lines, require_dir
from iqa_cli.errors import DatasetError


def pipal_label_dir(root: Path) -> Path | None:
    for name in ("Train_MOS", "Train_Label"):
        found = child(root, name)
        if found is not None and found.is_dir() and any(found.glob("*.txt")):
            return found
    return None


def load_pipal(root: Path) -> Dataset:
    label_dir = pipal_label_dir(root)
    if label_dir is None:
        raise DatasetError(f"{root}: no Train_MOS/*.txt or Train_Label/*.txt (PIPAL score files)")
    dist_dirs = sorted(
        d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"(distortion_.*|train_dis)", d.name.lower())
    )
    if not dist_dirs:
        raise DatasetError(f"{root}: no Distortion_*/ or Train_Dis/ folder (PIPAL distorted images)")
    dist_index = Index(dist_dirs)
    ref_index = Index([require_dir(root, "Train_Ref", "PIPAL reference images")])
    matches = Matches()
    for score_file in sorted(label_dir.glob("*.txt")):
        for number, line in enumerate(read_lines(score_file), start=1):
            parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
            if not parts:
                continue
            where = f"{score_file}:{number}"
            if len(parts) != 2:
                raise DatasetError(f"{where}: expected 'name.bmp,elo', got {line.strip()!r}")
            name, score = parts[0], parse_score(parts[1], where)
            ref_stem = name.split("_")[0]
            dist, ref = dist_index.name(name), ref_index.stem(ref_stem)
            matches.add(ref, dist, score, f"Train_Ref/{ref_stem}.*", f"Distortion_*/{name}")
    samples = matches.check(label_dir, str(root))
    return Dataset("pipal", root, samples, "Elo", True)

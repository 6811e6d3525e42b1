"""KADID-10k: ``dmos.csv``; its column is named ``dmos`` but holds a MOS 1..5, HIGHER = better -> kept."""

from __future__ import annotations

import csv
from pathlib import Path

from iqa_cli.datasets.common import Dataset, Index, Matches, child, parse_score, read_lines, require_dir
from iqa_cli.errors import DatasetError


def is_kadid_score_file(path: Path | None) -> bool:
    """Whether ``path`` is a KADID-10k ``dmos.csv`` (its header starts with ``dist_img``)."""
    if path is None or not path.is_file():
        return False
    lines = read_lines(path)
    return bool(lines) and lines[0].strip().lower().startswith("dist_img")


def load_kadid10k(root: Path) -> Dataset:
    score_file = child(root, "dmos.csv")
    if score_file is None:
        raise DatasetError(f"{root}: no dmos.csv (KADID-10k score file)")
    reader = csv.DictReader(read_lines(score_file))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if not {"dist_img", "ref_img", "dmos"} <= fields.keys():
        raise DatasetError(f"{score_file}: expected header dist_img,ref_img,dmos,var; got {reader.fieldnames}")
    index = Index([require_dir(root, "images", "KADID-10k images")])
    matches = Matches()
    for number, row in enumerate(reader, start=2):
        where = f"{score_file}:{number}"
        dist_name, ref_name = (row[fields[k]].strip() for k in ("dist_img", "ref_img"))
        score = parse_score((row[fields["dmos"]] or "").strip(), where)
        dist, ref = index.name(dist_name), index.name(ref_name)
        matches.add(ref, dist, score, f"images/{ref_name}", f"images/{dist_name}")
    samples = matches.check(score_file, str(root))
    return Dataset("kadid10k", root, samples, "MOS 1-5 (column named 'dmos', higher = better)", True)

"""CSIQ: DMOS 0..1, LOWER = better -> ``-dmos``; from ``csiq_label.txt``/``csiq.txt`` or ``csiq.DMOS.csv``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from iqa_cli.datasets.common import Dataset, Index, Matches, child, parse_score, read_lines, require_dir
from iqa_cli.errors import DatasetError

CSIQ_TEXT_FILES: tuple[str, ...] = ("csiq_label.txt", "csiq.txt")
CSIQ_CSV_FILE = "csiq.DMOS.csv"
CSIQ_XLSX_FILE = "csiq.DMOS.xlsx"

# CSIQ distortion names (sheet wording or file token, lower-cased, separators removed) -> file-name token.
_CSIQ_TYPES: dict[str, str] = {
    "awgn": "AWGN",
    "noise": "AWGN",
    "whitenoise": "AWGN",
    "jpeg": "JPEG",
    "jpeg2000": "jpeg2000",
    "jp2k": "jpeg2000",
    "fnoise": "fnoise",
    "1fnoise": "fnoise",
    "pinknoise": "fnoise",
    "blur": "BLUR",
    "gblur": "BLUR",
    "contrast": "contrast",
}


def csiq_score_file(root: Path) -> Path | None:
    for name in (*CSIQ_TEXT_FILES, CSIQ_CSV_FILE):
        found = child(root, name)
        if found is not None and found.is_file():
            return found
    return None


def _csiq_rows(score_file: Path) -> list[tuple[str, float, str]]:
    """(distorted file name, dmos, where) from csiq_label.txt / csiq.txt or csiq.DMOS.csv."""
    rows: list[tuple[str, float, str]] = []
    lines = read_lines(score_file)
    if score_file.suffix.lower() != ".csv":
        for number, line in enumerate(lines, start=1):
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            where = f"{score_file}:{number}"
            if len(parts) != 2:
                raise DatasetError(f"{where}: expected 'image dmos', got {line.strip()!r}")
            name = parts[0] if Path(parts[0]).suffix.lower() == ".png" else parts[0] + ".png"
            rows.append((name, parse_score(parts[1], where), where))
        return rows
    table = list(csv.reader(lines))
    header_at = next(
        (i for i, row in enumerate(table[:20]) if {"image", "dst_type", "dst_lev", "dmos"} <= _lower(row)),
        None,
    )
    if header_at is None:
        raise DatasetError(f"{score_file}: no header row with columns image,dst_type,dst_lev,dmos")
    header = [cell.strip().lower() for cell in table[header_at]]
    col = {name: header.index(name) for name in ("image", "dst_type", "dst_lev", "dmos")}
    for number, row in enumerate(table[header_at + 1 :], start=header_at + 2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{score_file}:{number}"
        if len(row) < len(header):
            raise DatasetError(f"{where}: expected {len(header)} columns, got {len(row)}")
        image, kind, level = (row[col[k]].strip() for k in ("image", "dst_type", "dst_lev"))
        token = _CSIQ_TYPES.get(re.sub(r"[\s_/.\-]", "", kind.lower()))
        if token is None:
            raise DatasetError(f"{where}: unknown CSIQ distortion type {kind!r}")
        try:
            level = str(int(float(level)))
        except ValueError:
            raise DatasetError(f"{where}: dst_lev {level!r} is not a number") from None
        image = image[:-2] if image.endswith(".0") else image
        rows.append((f"{image}.{token}.{level}.png", parse_score(row[col["dmos"]].strip(), where), where))
    return rows


def _lower(row: list[str]) -> set[str]:
    return {cell.strip().lower() for cell in row}


def load_csiq(root: Path) -> Dataset:
    score_file = csiq_score_file(root)
    if score_file is None:
        only_xlsx = " (only the Excel sheet is there: save it as CSV)" if child(root, CSIQ_XLSX_FILE) else ""
        raise DatasetError(f"{root}: no CSIQ score file ({', '.join((*CSIQ_TEXT_FILES, CSIQ_CSV_FILE))}){only_xlsx}")
    dist_dirs = [d for name in ("dst_imgs", "dst_imgs_all") if (d := child(root, name)) is not None]
    if not dist_dirs:
        raise DatasetError(f"{root}: no dst_imgs/ folder (CSIQ distorted images)")
    dist_index = Index(dist_dirs, recursive=True)
    ref_index = Index([require_dir(root, "src_imgs", "CSIQ reference images")])
    matches = Matches()
    for name, dmos, _ in _csiq_rows(score_file):
        dist, ref = dist_index.name(name), ref_index.stem(name.split(".")[0])
        matches.add(ref, dist, -dmos, f"src_imgs/{name.split('.')[0]}.*", f"dst_imgs/**/{name}")
    samples = matches.check(score_file, str(root))
    return Dataset("csiq", root, samples, "DMOS 0-1 (inverted: score = -DMOS, higher = better)", False)

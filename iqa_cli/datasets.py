"""Subjective-score databases for ``iqa evaluate``: official folder layouts and a generic CSV.

Every loader returns (reference, distorted, score) samples whose score is oriented higher = better.
Direction policy (databases that store DMOS are negated, ``score = -dmos``, which keeps the scale and does not
depend on which rows are present):

- LIVE release 2: ``dmos_realigned.mat`` (``dmos_new``) or ``dmos.mat`` (``dmos``), LOWER = better
  -> ``-dmos``; entries flagged ``orgs == 1`` (the undistorted originals) are dropped.
- CSIQ: DMOS 0..1, LOWER = better -> ``-dmos``.
- TID2008 / TID2013: MOS 0..9, higher = better -> kept.
- KADID-10k: the column of ``dmos.csv`` is named ``dmos`` but holds a MOS 1..5, HIGHER = better -> kept.
- PIPAL: Elo scores, higher = better -> kept.
- Generic CSV ``ref,dist,score``: kept, or negated with ``lower_better=True`` (a DMOS column).

File and folder names are matched case-insensitively (TID ships ``I01.BMP`` next to ``i01_01_1.bmp``).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from iqa_cli.errors import DatasetError, UsageError

logger = logging.getLogger(__name__)

DatasetKind = Literal["live", "csiq", "tid2008", "tid2013", "kadid10k", "pipal"]
KINDS: tuple[str, ...] = get_args(DatasetKind)
"""Official layouts :func:`detect` recognises, in the order they are tried."""

LIVE_FOLDERS: tuple[str, ...] = ("jp2k", "jpeg", "wn", "gblur", "fastfading")
LIVE_COUNTS: tuple[int, ...] = (227, 233, 174, 174, 174)  # images per folder in LIVE release 2 (982 in all)
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

_SCORE_FILES_LOOKED_FOR = (
    "live: dmos_realigned.mat or dmos.mat (+ refnames_all.mat, refimgs/, jp2k/ jpeg/ wn/ gblur/ fastfading/)",
    f"csiq: {' or '.join(CSIQ_TEXT_FILES)} or {CSIQ_CSV_FILE} (+ src_imgs/, dst_imgs/)",
    "tid2008/tid2013: mos_with_names.txt (+ reference_images/, distorted_images/)",
    "kadid10k: dmos.csv with header dist_img,ref_img,dmos,var (+ images/)",
    "pipal: Train_MOS/*.txt or Train_Label/*.txt (+ Train_Ref/, Distortion_*/)",
)


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
        name: Layout id (one of :data:`KINDS`, or ``"csv"``).
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


# --------------------------------------------------------------------------------------------------- helpers


def _child(folder: Path, name: str) -> Path | None:
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


def _require_dir(root: Path, name: str, what: str) -> Path:
    found = _child(root, name)
    if found is None or not found.is_dir():
        raise DatasetError(f"{root}: no {name}/ folder ({what})")
    return found


class _Index:
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


def _raise_missing(score_file: Path, missing: list[str], where: str) -> None:
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DatasetError(
            f"{score_file} names {len(missing)} image(s) not found in {where}: {shown} — "
            "check the folder is complete or remove those rows"
        )


def _float(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: score {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DatasetError(f"{where}: score {text!r} is not finite")
    return value


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _header_line(path: Path) -> str:
    lines = _read_lines(path)
    return lines[0].strip().lower() if lines else ""


# -------------------------------------------------------------------------------------------------- detection

_TID_NAME = re.compile(r"^i(\d+)_(\d+)_(\d+)\.", re.IGNORECASE)


def _tid_rows(path: Path) -> list[tuple[float, str, int]]:
    """Parse ``mos_with_names.txt``: lines "MOS filename" -> (mos, filename, line number)."""
    rows = []
    for number, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise DatasetError(f"{path}:{number}: expected 'MOS filename', got {line.strip()!r}")
        rows.append((_float(parts[0], f"{path}:{number}"), parts[1], number))
    return rows


def _tid_version(root: Path, rows: list[tuple[float, str, int]]) -> DatasetKind:
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


def _pipal_label_dir(root: Path) -> Path | None:
    for name in ("Train_MOS", "Train_Label"):
        found = _child(root, name)
        if found is not None and found.is_dir() and any(found.glob("*.txt")):
            return found
    return None


def _csiq_score_file(root: Path) -> Path | None:
    for name in (*CSIQ_TEXT_FILES, CSIQ_CSV_FILE):
        found = _child(root, name)
        if found is not None and found.is_file():
            return found
    return None


def detect(root: Path) -> str:
    """Which official layout a folder holds, judged by the score file found in it.

    Args:
        root: Database folder.

    Returns:
        One of ``"live"``, ``"csiq"``, ``"tid2008"``, ``"tid2013"``, ``"kadid10k"``, ``"pipal"``.

    Raises:
        DatasetError: The folder is missing, holds no known score file (the message lists what was looked
            for), or holds the score files of more than one database.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a dataset folder (a ref,dist,score CSV is read with kind 'csv')")
    hits: list[str] = []
    if _child(root, "dmos_realigned.mat") or _child(root, "dmos.mat"):
        hits.append("live")
    if _csiq_score_file(root) is not None:
        hits.append("csiq")
    tid_file = _child(root, "mos_with_names.txt")
    if tid_file is not None and tid_file.is_file():
        hits.append(_tid_version(root, _tid_rows(tid_file)))
    kadid_file = _child(root, "dmos.csv")
    if kadid_file is not None and _header_line(kadid_file).startswith("dist_img"):
        hits.append("kadid10k")
    if _pipal_label_dir(root) is not None:
        hits.append("pipal")
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise DatasetError(f"{root} holds score files of several databases ({', '.join(hits)}): pass the kind")
    if _child(root, CSIQ_XLSX_FILE) is not None:
        raise DatasetError(
            f"{root}: only {CSIQ_XLSX_FILE} found, and Excel files are not read — save its sheet as "
            f"{CSIQ_CSV_FILE} (columns image,dst_type,dst_lev,dmos) or write csiq_label.txt "
            "('name.png dmos' lines)"
        )
    looked = "; ".join(_SCORE_FILES_LOOKED_FOR)
    raise DatasetError(f"{root}: no known score file found. Looked for {looked}")


# ---------------------------------------------------------------------------------------------------- loaders


def _mat_strings(value: object) -> list[str]:
    """Strings of a MATLAB cell array read by scipy.io.loadmat."""
    import numpy as np

    out = []
    for item in np.asarray(value, dtype=object).ravel():
        flat = np.asarray(item).ravel()
        out.append(str(flat[0]).strip() if flat.size else "")
    return out


def _live_info(folder: Path) -> tuple[dict[int, str], int]:
    """``info.txt`` of a LIVE folder: image number -> reference name, and the highest image number."""
    info = _child(folder, "info.txt")
    if info is None:
        return {}, 0
    refs: dict[int, str] = {}
    for number, line in enumerate(_read_lines(info), start=1):
        tokens = line.split()
        if not tokens:
            continue
        found = [(i, m) for i, tok in enumerate(tokens[:2]) if (m := re.fullmatch(r"img(\d+)\.bmp", tok, re.I))]
        if len(tokens) < 2 or not found:
            raise DatasetError(f"{info}:{number}: expected 'refname imgN.bmp ...', got {line.strip()!r}")
        i, match = found[0]
        refs[int(match.group(1))] = tokens[1 - i]
    return refs, max(refs, default=0)


def _load_live(root: Path) -> Dataset:
    import numpy as np
    from scipy.io import loadmat

    mat_path = _child(root, "dmos_realigned.mat") or _child(root, "dmos.mat")
    if mat_path is None:
        raise DatasetError(f"{root}: no dmos_realigned.mat or dmos.mat (LIVE score file)")
    try:
        mat = loadmat(str(mat_path))
    except (OSError, ValueError, NotImplementedError) as exc:
        raise DatasetError(f"cannot read {mat_path}: {exc}") from exc
    key = next((k for k in ("dmos_new", "dmos") if k in mat), None)
    if key is None or "orgs" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetError(f"{mat_path}: expected variables dmos_new or dmos, and orgs; found {found}")
    dmos = np.asarray(mat[key], dtype=np.float64).ravel()
    orgs = np.asarray(mat["orgs"]).ravel()
    if orgs.size != dmos.size:
        raise DatasetError(f"{mat_path}: {key} has {dmos.size} entries but orgs has {orgs.size}")

    refnames: list[str] | None = None
    names_path = _child(root, "refnames_all.mat")
    if names_path is not None:
        try:
            refnames = _mat_strings(loadmat(str(names_path))["refnames_all"])
        except (OSError, ValueError, NotImplementedError, KeyError) as exc:
            raise DatasetError(f"cannot read refnames_all from {names_path}: {exc}") from exc
        if len(refnames) != dmos.size:
            raise DatasetError(f"{names_path}: {len(refnames)} names for {dmos.size} DMOS entries")

    folders = [_require_dir(root, name, "LIVE distortion folder") for name in LIVE_FOLDERS]
    infos = [_live_info(folder) for folder in folders]
    if dmos.size == sum(LIVE_COUNTS):
        counts = list(LIVE_COUNTS)
    else:
        counts = [highest for _, highest in infos]
        if sum(counts) != dmos.size:
            listed = ", ".join(f"{f}: {c}" for f, c in zip(LIVE_FOLDERS, counts, strict=True))
            raise DatasetError(
                f"{mat_path} has {dmos.size} DMOS entries but the info.txt files number {sum(counts)} images "
                f"({listed}); the entries are matched to images by position"
            )
    ref_index = _Index([_require_dir(root, "refimgs", "LIVE reference images")])
    samples: list[Sample] = []
    missing: list[str] = []
    offset = 0
    for folder, (info_refs, _), count in zip(folders, infos, counts, strict=True):
        dist_index = _Index([folder])
        for number in range(1, count + 1):
            idx = offset + number - 1
            if orgs[idx] == 1:
                continue
            dist_name = f"img{number}.bmp"
            ref_name = refnames[idx] if refnames is not None else info_refs.get(number)
            if not ref_name:
                raise DatasetError(f"{folder.name}/{dist_name}: no reference named in refnames_all.mat or info.txt")
            dist, ref = dist_index.name(dist_name), ref_index.name(ref_name)
            if dist is None:
                missing.append(f"{folder.name}/{dist_name}")
            if ref is None:
                missing.append(f"refimgs/{ref_name}")
            if dist is not None and ref is not None:
                samples.append(Sample(ref=ref, dist=dist, score=-float(dmos[idx])))
        offset += count
    _raise_missing(mat_path, sorted(set(missing)), str(root))
    return Dataset("live", root, samples, "DMOS (inverted: score = -DMOS, higher = better)", False)


def _csiq_rows(score_file: Path) -> list[tuple[str, float, str]]:
    """(distorted file name, dmos, where) from csiq_label.txt / csiq.txt or csiq.DMOS.csv."""
    rows: list[tuple[str, float, str]] = []
    lines = _read_lines(score_file)
    if score_file.suffix.lower() != ".csv":
        for number, line in enumerate(lines, start=1):
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            where = f"{score_file}:{number}"
            if len(parts) != 2:
                raise DatasetError(f"{where}: expected 'image dmos', got {line.strip()!r}")
            name = parts[0] if Path(parts[0]).suffix.lower() == ".png" else parts[0] + ".png"
            rows.append((name, _float(parts[1], where), where))
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
        rows.append((f"{image}.{token}.{level}.png", _float(row[col["dmos"]].strip(), where), where))
    return rows


def _lower(row: list[str]) -> set[str]:
    return {cell.strip().lower() for cell in row}


def _load_csiq(root: Path) -> Dataset:
    score_file = _csiq_score_file(root)
    if score_file is None:
        only_xlsx = " (only the Excel sheet is there: save it as CSV)" if _child(root, CSIQ_XLSX_FILE) else ""
        raise DatasetError(f"{root}: no CSIQ score file ({', '.join((*CSIQ_TEXT_FILES, CSIQ_CSV_FILE))}){only_xlsx}")
    dist_dirs = [d for name in ("dst_imgs", "dst_imgs_all") if (d := _child(root, name)) is not None]
    if not dist_dirs:
        raise DatasetError(f"{root}: no dst_imgs/ folder (CSIQ distorted images)")
    dist_index = _Index(dist_dirs, recursive=True)
    ref_index = _Index([_require_dir(root, "src_imgs", "CSIQ reference images")])
    samples: list[Sample] = []
    missing: list[str] = []
    for name, dmos, _ in _csiq_rows(score_file):
        dist, ref = dist_index.name(name), ref_index.stem(name.split(".")[0])
        if dist is None:
            missing.append(f"dst_imgs/**/{name}")
        if ref is None:
            missing.append(f"src_imgs/{name.split('.')[0]}.*")
        if dist is not None and ref is not None:
            samples.append(Sample(ref=ref, dist=dist, score=-dmos))
    _raise_missing(score_file, sorted(set(missing)), str(root))
    return Dataset("csiq", root, samples, "DMOS 0-1 (inverted: score = -DMOS, higher = better)", False)


def _load_tid(root: Path, kind: str) -> Dataset:
    score_file = _child(root, "mos_with_names.txt")
    if score_file is None:
        raise DatasetError(f"{root}: no mos_with_names.txt (TID score file, lines 'MOS filename')")
    dist_index = _Index([_require_dir(root, "distorted_images", "TID distorted images")])
    ref_index = _Index([_require_dir(root, "reference_images", "TID reference images")])
    samples: list[Sample] = []
    missing: list[str] = []
    for mos, name, number in _tid_rows(score_file):
        if not _TID_NAME.match(name):
            raise DatasetError(f"{score_file}:{number}: {name!r} is not a TID name like i01_01_1.bmp")
        dist, ref = dist_index.name(name), ref_index.stem(name[:3])
        if dist is None:
            missing.append(f"distorted_images/{name}")
        if ref is None:
            missing.append(f"reference_images/{name[:3].upper()}.*")
        if dist is not None and ref is not None:
            samples.append(Sample(ref=ref, dist=dist, score=mos))
    _raise_missing(score_file, sorted(set(missing)), str(root))
    return Dataset(kind, root, samples, "MOS 0-9", True)


def _load_kadid(root: Path) -> Dataset:
    score_file = _child(root, "dmos.csv")
    if score_file is None:
        raise DatasetError(f"{root}: no dmos.csv (KADID-10k score file)")
    reader = csv.DictReader(_read_lines(score_file))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if not {"dist_img", "ref_img", "dmos"} <= fields.keys():
        raise DatasetError(f"{score_file}: expected header dist_img,ref_img,dmos,var; got {reader.fieldnames}")
    index = _Index([_require_dir(root, "images", "KADID-10k images")])
    samples: list[Sample] = []
    missing: list[str] = []
    for number, row in enumerate(reader, start=2):
        where = f"{score_file}:{number}"
        dist_name, ref_name = (row[fields[k]].strip() for k in ("dist_img", "ref_img"))
        score = _float((row[fields["dmos"]] or "").strip(), where)
        dist, ref = index.name(dist_name), index.name(ref_name)
        if dist is None:
            missing.append(f"images/{dist_name}")
        if ref is None:
            missing.append(f"images/{ref_name}")
        if dist is not None and ref is not None:
            samples.append(Sample(ref=ref, dist=dist, score=score))
    _raise_missing(score_file, sorted(set(missing)), str(root))
    return Dataset("kadid10k", root, samples, "MOS 1-5 (column named 'dmos', higher = better)", True)


def _load_pipal(root: Path) -> Dataset:
    label_dir = _pipal_label_dir(root)
    if label_dir is None:
        raise DatasetError(f"{root}: no Train_MOS/*.txt or Train_Label/*.txt (PIPAL score files)")
    dist_dirs = sorted(
        d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"(distortion_.*|train_dis)", d.name.lower())
    )
    if not dist_dirs:
        raise DatasetError(f"{root}: no Distortion_*/ or Train_Dis/ folder (PIPAL distorted images)")
    dist_index = _Index(dist_dirs)
    ref_index = _Index([_require_dir(root, "Train_Ref", "PIPAL reference images")])
    samples: list[Sample] = []
    missing: list[str] = []
    for score_file in sorted(label_dir.glob("*.txt")):
        for number, line in enumerate(_read_lines(score_file), start=1):
            parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
            if not parts:
                continue
            where = f"{score_file}:{number}"
            if len(parts) != 2:
                raise DatasetError(f"{where}: expected 'name.bmp,elo', got {line.strip()!r}")
            name, score = parts[0], _float(parts[1], where)
            ref_stem = name.split("_")[0]
            dist, ref = dist_index.name(name), ref_index.stem(ref_stem)
            if dist is None:
                missing.append(f"Distortion_*/{name}")
            if ref is None:
                missing.append(f"Train_Ref/{ref_stem}.*")
            if dist is not None and ref is not None:
                samples.append(Sample(ref=ref, dist=dist, score=score))
    _raise_missing(label_dir, sorted(set(missing)), str(root))
    return Dataset("pipal", root, samples, "Elo", True)


def _load_csv(path: Path, lower_better: bool) -> Dataset:
    reader = csv.DictReader(_read_lines(path))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if not {"ref", "dist", "score"} <= fields.keys():
        raise DatasetError(f"{path}: expected a header with columns ref,dist,score; got {reader.fieldnames}")
    base = path.parent
    samples: list[Sample] = []
    missing: list[str] = []
    for number, row in enumerate(reader, start=2):
        where = f"{path}:{number}"
        ref_text, dist_text = ((row[fields[k]] or "").strip() for k in ("ref", "dist"))
        if not ref_text or not dist_text:
            raise DatasetError(f"{where}: empty ref or dist")
        score = _float((row[fields["score"]] or "").strip(), where)
        ref, dist = base / ref_text, base / dist_text
        missing.extend(str(p) for p in (ref, dist) if not p.is_file())
        samples.append(Sample(ref=ref, dist=dist, score=-score if lower_better else score))
    _raise_missing(path, sorted(set(missing)), f"{base} (paths are relative to the CSV's folder)")
    kind = "DMOS (inverted: score = -DMOS, higher = better)" if lower_better else "score (higher = better)"
    return Dataset("csv", path, samples, kind, not lower_better)


_LOADERS = {
    "live": _load_live,
    "csiq": _load_csiq,
    "kadid10k": _load_kadid,
    "pipal": _load_pipal,
}


def load_dataset(path: Path, kind: str = "auto", lower_better: bool = False) -> Dataset:
    """Load a database folder in its official layout, or a generic ``ref,dist,score`` CSV.

    Args:
        path: Database folder, or a CSV file with a header containing ``ref,dist,score`` (paths relative to
            the CSV's folder, or absolute).
        kind: ``"auto"`` (a file is read as CSV, a folder is :func:`detect`-ed), ``"csv"``, or one of
            :data:`KINDS`.
        lower_better: The CSV's score is lower = better (DMOS); it is negated. Only valid for a CSV: the
            direction of each official database is known (see the module docstring).

    Returns:
        The dataset, scores oriented higher = better.

    Raises:
        UsageError: Unknown ``kind``, ``kind`` does not fit the path, or ``lower_better`` with an official
            layout.
        DatasetError: The folder or score file is missing or malformed, or names images that are not there.
    """
    path = Path(path)
    if kind not in ("auto", "csv", *KINDS):
        raise UsageError(f"unknown dataset kind {kind!r}; expected one of auto, csv, {', '.join(KINDS)}")
    if not path.exists():
        raise DatasetError(f"dataset path {path} does not exist")
    if path.is_file():
        if kind not in ("auto", "csv"):
            raise UsageError(f"kind {kind!r} needs the database folder, but {path} is a file")
        dataset = _load_csv(path, lower_better)
    else:
        if kind == "csv":
            raise UsageError(f"kind 'csv' needs a CSV file, but {path} is a folder")
        resolved = detect(path) if kind == "auto" else kind
        if lower_better:
            raise UsageError(
                f"lower_better applies to a generic CSV only; the score direction of {resolved} is known "
                "and handled by its loader"
            )
        if resolved in ("tid2008", "tid2013"):
            dataset = _load_tid(path, resolved)
        else:
            dataset = _LOADERS[resolved](path)
    if not dataset.samples:
        raise DatasetError(f"{path}: the score file lists no samples")
    logger.info("loaded %s from %s: %d samples, %s", dataset.name, path, len(dataset), dataset.score_kind)
    return dataset

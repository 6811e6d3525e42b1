"""LIVE release 2: ``dmos_realigned.mat`` (``dmos_new``) or ``dmos.mat`` (``dmos``), LOWER = better -> ``-dmos``.

Entries flagged ``orgs == 1`` (the undistorted originals) are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from iqa_cli.datasets.common import Dataset, Index, Matches, child, read_lines, require_dir
from iqa_cli.errors import DatasetError

LIVE_FOLDERS: tuple[str, ...] = ("jp2k", "jpeg", "wn", "gblur", "fastfading")
LIVE_COUNTS: tuple[int, ...] = (227, 233, 174, 174, 174)  # images per folder in LIVE release 2 (982 in all)


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
    info = child(folder, "info.txt")
    if info is None:
        return {}, 0
    refs: dict[int, str] = {}
    for number, line in enumerate(read_lines(info), start=1):
        tokens = line.split()
        if not tokens:
            continue
        found = [(i, m) for i, tok in enumerate(tokens[:2]) if (m := re.fullmatch(r"img(\d+)\.bmp", tok, re.I))]
        if len(tokens) < 2 or not found:
            raise DatasetError(f"{info}:{number}: expected 'refname imgN.bmp ...', got {line.strip()!r}")
        i, match = found[0]
        refs[int(match.group(1))] = tokens[1 - i]
    return refs, max(refs, default=0)


def load_live(root: Path) -> Dataset:
    import numpy as np
    from scipy.io import loadmat  # type: ignore[import-untyped]

    mat_path = child(root, "dmos_realigned.mat") or child(root, "dmos.mat")
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
    names_path = child(root, "refnames_all.mat")
    if names_path is not None:
        try:
            refnames = _mat_strings(loadmat(str(names_path))["refnames_all"])
        except (OSError, ValueError, NotImplementedError, KeyError) as exc:
            raise DatasetError(f"cannot read refnames_all from {names_path}: {exc}") from exc
        if len(refnames) != dmos.size:
            raise DatasetError(f"{names_path}: {len(refnames)} names for {dmos.size} DMOS entries")

    folders = [require_dir(root, name, "LIVE distortion folder") for name in LIVE_FOLDERS]
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
    ref_index = Index([require_dir(root, "refimgs", "LIVE reference images")])
    matches = Matches()
    offset = 0
    for folder, (info_refs, _), count in zip(folders, infos, counts, strict=True):
        dist_index = Index([folder])
        for number in range(1, count + 1):
            idx = offset + number - 1
            if orgs[idx] == 1:
                continue
            dist_name = f"img{number}.bmp"
            ref_name = refnames[idx] if refnames is not None else info_refs.get(number)
            if not ref_name:
                raise DatasetError(f"{folder.name}/{dist_name}: no reference named in refnames_all.mat or info.txt")
            dist, ref = dist_index.name(dist_name), ref_index.name(ref_name)
            matches.add(ref, dist, -float(dmos[idx]), f"refimgs/{ref_name}", f"{folder.name}/{dist_name}")
        offset += count
    samples = matches.check(mat_path, str(root))
    return Dataset("live", root, samples, "DMOS (inverted: score = -DMOS, higher = better)", False)

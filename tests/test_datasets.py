"""Tests of iqa_cli.datasets: one tiny fixture per official layout, detection, score direction, errors.

The real score tables in ../shared/data/labels drive the direction tests: a fixture is written in the
database's own file format from the table's rows, loaded, and its oriented scores compared with the table's.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from iqa_cli.datasets import LIVE_COUNTS, LIVE_FOLDERS, Dataset, detect, load_dataset, read_pair_table
from iqa_cli.errors import DatasetError, UsageError

LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "labels"


def _img(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((4, 4, 3), value, dtype=np.uint8)
    if not cv2.imwrite(str(path), pixels):
        raise RuntimeError(f"could not write {path}")
    return path


def _labels(name: str) -> list[dict[str, str]]:
    table = LABELS / name
    if not table.is_file():
        pytest.skip(f"{table} not available")
    with table.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _by_dist(dataset: Dataset) -> dict[str, tuple[str, float]]:
    return {s.dist.name.lower(): (s.ref.name, s.score) for s in dataset.samples}


# ----------------------------------------------------------------------------------------------------- TID


def _make_tid(root: Path, rows: list[tuple[str, str]]) -> Path:
    """TID layout from (distorted file name, MOS text) rows; references written as upper-case I01.BMP."""
    lines = []
    for name, mos in rows:
        _img(root / "distorted_images" / name)
        _img(root / "reference_images" / f"{name[:3].upper()}.BMP")
        lines.append(f"{mos} {name}")
    (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.data
@pytest.mark.parametrize(("table", "kind", "start"), [("TID2013.csv", "tid2013", 0), ("TID2008.csv", "tid2008", 380)])
def test_tid_real_labels_keep_mos(tmp_path: Path, table: str, kind: str, start: int) -> None:
    rows = _labels(table)[start : start + 40]
    root = _make_tid(tmp_path / "db", [(Path(r["dis_img_path"]).name, r["score"]) for r in rows])
    if kind == "tid2013":  # 40 rows of type 01 only: the folder name tells the version
        root = root.rename(tmp_path / "TID2013")
    assert detect(root) == kind
    dataset = load_dataset(root)
    assert (dataset.name, dataset.original_higher_is_better, len(dataset)) == (kind, True, 40)
    loaded = _by_dist(dataset)
    for row in rows:
        ref_name, score = loaded[Path(row["dis_img_path"]).name.lower()]
        assert score == pytest.approx(float(row["score"]))
        assert ref_name.lower() == Path(row["ref_img_path"]).name.lower()
        assert (root / "reference_images" / ref_name).is_file()


def test_tid_version_from_type_ids(tmp_path: Path) -> None:
    tid2013 = _make_tid(tmp_path / "a", [("i01_01_1.bmp", "5.1"), ("i01_24_5.bmp", "3.2"), ("i02_05_2.bmp", "4")])
    tid2008 = _make_tid(tmp_path / "b", [("I01_01_1.bmp", "5.1"), ("I01_17_4.bmp", "3.2"), ("I02_05_2.bmp", "4")])
    assert detect(tid2013) == "tid2013"
    assert detect(tid2008) == "tid2008"
    dataset = load_dataset(tid2013)
    assert [s.score for s in dataset.samples] == [5.1, 3.2, 4.0]
    assert dataset.samples[2].ref.name == "I02.BMP"
    assert dataset.score_kind == "MOS 0-9"


def test_tid_missing_image_is_named(tmp_path: Path) -> None:
    root = _make_tid(tmp_path / "db", [("i01_01_1.bmp", "5.1"), ("i01_01_2.bmp", "4.0"), ("i01_01_3.bmp", "3")])
    (root / "distorted_images" / "i01_01_2.bmp").unlink()
    with pytest.raises(DatasetError, match=r"mos_with_names.txt names 1 image.*distorted_images/i01_01_2\.bmp"):
        load_dataset(root)


def test_tid_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    root = _make_tid(tmp_path / "db", [("i01_01_1.bmp", "5.1"), ("i01_01_2.bmp", "4.0"), ("i01_01_3.bmp", "3")])
    (root / "mos_with_names.txt").write_text("5.1 i01_01_1.bmp\nfive i01_01_2.bmp\n")
    with pytest.raises(DatasetError, match=r"mos_with_names.txt:2: score 'five' is not a number"):
        load_dataset(root)


# ---------------------------------------------------------------------------------------------------- LIVE


@pytest.mark.data
def test_live_real_labels_negated_at_official_positions(tmp_path: Path) -> None:
    """982-entry .mat files as in release 2; image imgK of folder f sits at offset(f) + K - 1."""
    rows = [r for f in LIVE_FOLDERS for r in [r for r in _labels("LIVE.csv") if f"/{f}/" in r["dis_img_path"]][:6]]
    offsets = dict(zip(LIVE_FOLDERS, np.cumsum((0, *LIVE_COUNTS[:-1])), strict=True))
    dmos, orgs = np.zeros(sum(LIVE_COUNTS)), np.ones(sum(LIVE_COUNTS))
    refnames = np.array(["placeholder.bmp"] * sum(LIVE_COUNTS), dtype=object)
    root = tmp_path / "databaserelease2"
    for row in rows:
        _, folder, dist_name = row["dis_img_path"].split("/")
        idx = offsets[folder] + int(dist_name[3:-4]) - 1
        dmos[idx], orgs[idx], refnames[idx] = float(row["score"]), 0, Path(row["ref_img_path"]).name
        _img(root / folder / dist_name)
        _img(root / "refimgs" / refnames[idx])
    savemat(root / "dmos_realigned.mat", {"dmos_new": dmos[None, :], "orgs": orgs[None, :], "dmos_std": dmos})
    savemat(root / "refnames_all.mat", {"refnames_all": refnames})
    assert detect(root) == "live"
    dataset = load_dataset(root)
    assert (len(dataset), dataset.original_higher_is_better) == (len(rows), False)
    loaded = {str(s.dist.relative_to(root)): (s.ref.name, s.score) for s in dataset.samples}
    for row in rows:
        ref_name, score = loaded[row["dis_img_path"].removeprefix("LIVE/")]
        assert score == pytest.approx(-float(row["score"]))
        assert ref_name == Path(row["ref_img_path"]).name


def _make_small_live(root: Path, with_info_refs: bool = True) -> Path:
    """Two images per folder, the second of 'wn' an original (orgs = 1); counts taken from info.txt."""
    dmos, orgs = [], []
    for f_index, folder in enumerate(LIVE_FOLDERS):
        lines = []
        for number in (1, 2):
            ref = f"ref{number}.bmp"
            _img(root / "refimgs" / ref)
            _img(root / folder / f"img{number}.bmp")
            lines.append(f"{ref} img{number}.bmp 0.5")
            dmos.append(10.0 * f_index + number)
            orgs.append(1 if (folder, number) == ("wn", 2) else 0)
        if with_info_refs:
            (root / folder / "info.txt").write_text("\n".join(lines) + "\n\n")
    savemat(root / "dmos.mat", {"dmos": np.array(dmos)[None, :], "orgs": np.array(orgs)[None, :]})
    return root


def test_live_small_from_info_txt_drops_originals(tmp_path: Path) -> None:
    root = _make_small_live(tmp_path / "live")
    dataset = load_dataset(root, kind="live")
    assert len(dataset) == 9
    assert "wn/img2.bmp" not in {str(s.dist.relative_to(root)) for s in dataset.samples}
    first = dataset.samples[0]
    assert (first.dist.relative_to(root).as_posix(), first.ref.name, first.score) == (
        "jp2k/img1.bmp",
        "ref1.bmp",
        -1.0,
    )
    assert dataset.samples[-1].score == -42.0
    assert "DMOS" in dataset.score_kind


def test_live_count_mismatch_and_missing_image(tmp_path: Path) -> None:
    root = _make_small_live(tmp_path / "live")
    (root / "gblur" / "img2.bmp").unlink()
    with pytest.raises(DatasetError, match=r"dmos.mat names 1 image.*gblur/img2\.bmp"):
        load_dataset(root)
    (root / "gblur" / "info.txt").write_text("ref1.bmp img1.bmp 0.5\n")
    with pytest.raises(DatasetError, match=r"10 DMOS entries but the info.txt files number 9 images"):
        load_dataset(root)


# ---------------------------------------------------------------------------------------------------- CSIQ


def _csiq_rows() -> list[dict[str, str]]:
    rows = _labels("CSIQ.csv")
    types = sorted({r["dis_img_path"].split("/")[2] for r in rows})
    return [r for t in types for r in [r for r in rows if f"/{t}/" in r["dis_img_path"]][:4]]


def _csiq_images(root: Path, rows: list[dict[str, str]]) -> None:
    for row in rows:
        _, _, folder, name = row["dis_img_path"].split("/")
        _img(root / "dst_imgs" / folder.lower() / name)
        _img(root / "src_imgs" / Path(row["ref_img_path"]).name)


@pytest.mark.data
def test_csiq_real_labels_negated_from_label_txt(tmp_path: Path) -> None:
    rows, root = _csiq_rows(), tmp_path / "CSIQ"
    _csiq_images(root, rows)
    text = "".join(f"{Path(r['dis_img_path']).name} {r['score']}\n" for r in rows)
    (root / "csiq_label.txt").write_text(text)
    assert detect(root) == "csiq"
    dataset = load_dataset(root)
    assert (len(dataset), dataset.original_higher_is_better) == (len(rows), False)
    loaded = _by_dist(dataset)
    for row in rows:
        ref_name, score = loaded[Path(row["dis_img_path"]).name.lower()]
        assert score == pytest.approx(-float(row["score"]))
        assert ref_name == Path(row["ref_img_path"]).name


@pytest.mark.data
def test_csiq_real_labels_from_sheet_csv(tmp_path: Path) -> None:
    wording = {
        "AWGN": "noise",
        "JPEG": "jpeg",
        "jpeg2000": "jpeg 2000",
        "fnoise": "1/f noise",
        "BLUR": "blur",
    }
    rows, root = _csiq_rows(), tmp_path / "CSIQ"
    _csiq_images(root, rows)
    lines = ["CSIQ subjective scores,,,,,", "image,dst_idx,dst_type,dst_lev,dmos_std,dmos"]
    for row in rows:
        image, token, level, _ = Path(row["dis_img_path"]).name.split(".")
        lines.append(f"{image},0,{wording.get(token, token)},{level},0.1,{row['score']}")
    (root / "csiq.DMOS.csv").write_text("\n".join(lines) + "\n")
    loaded = _by_dist(load_dataset(root))
    assert len(loaded) == len(rows)
    for row in rows:
        assert loaded[Path(row["dis_img_path"]).name.lower()][1] == pytest.approx(-float(row["score"]))


def test_csiq_xlsx_only_says_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "CSIQ"
    _img(root / "src_imgs" / "1600.png")
    (root / "csiq.DMOS.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(DatasetError, match=r"only csiq.DMOS.xlsx found.*save its sheet as csiq.DMOS.csv"):
        detect(root)


def test_csiq_unknown_type_in_sheet(tmp_path: Path) -> None:
    root = tmp_path / "CSIQ"
    _img(root / "dst_imgs" / "awgn" / "1600.AWGN.1.png")
    _img(root / "src_imgs" / "1600.png")
    (root / "csiq.DMOS.csv").write_text("image,dst_type,dst_lev,dmos\n1600,sparkles,1,0.1\n")
    with pytest.raises(DatasetError, match=r"csiq.DMOS.csv:2: unknown CSIQ distortion type 'sparkles'"):
        load_dataset(root)


# ----------------------------------------------------------------------------------------- KADID-10k, PIPAL


def test_kadid_dmos_column_is_a_mos_kept_as_is(tmp_path: Path) -> None:
    root = tmp_path / "kadid10k"
    rows = [
        ("I01_01_01.png", "I01.png", 4.57),
        ("I01_01_05.png", "I01.png", 1.2),
        ("I02_03_02.png", "I02.png", 3),
    ]
    for dist, ref, _ in rows:
        _img(root / "images" / dist)
        _img(root / "images" / ref)
    text = "dist_img,ref_img,dmos,var\n" + "".join(f"{d},{r},{s},0.5\n" for d, r, s in rows)
    (root / "dmos.csv").write_text(text)
    assert detect(root) == "kadid10k"
    dataset = load_dataset(root)
    assert [(s.dist.name, s.ref.name, s.score) for s in dataset.samples] == [(d, r, float(s)) for d, r, s in rows]
    assert dataset.original_higher_is_better is True
    assert "higher = better" in dataset.score_kind


@pytest.mark.data
def test_pipal_real_labels_keep_elo(tmp_path: Path) -> None:
    table = _labels("PIPAL.csv")
    rows = table[:8] + [r for r in table if r["dis_img_path"].startswith("PIPAL/Distortion_3/")][:8]
    root = tmp_path / "PIPAL"
    per_ref: dict[str, list[str]] = {}
    for row in rows:
        _, folder, name = row["dis_img_path"].split("/")
        _img(root / folder / name)
        _img(root / "Train_Ref" / Path(row["ref_img_path"]).name)
        per_ref.setdefault(Path(row["ref_img_path"]).stem, []).append(f"{name},{row['score']}")
    for stem, lines in per_ref.items():
        (root / "Train_MOS").mkdir(exist_ok=True)
        (root / "Train_MOS" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    assert detect(root) == "pipal"
    dataset = load_dataset(root)
    assert (len(dataset), dataset.original_higher_is_better) == (16, True)
    loaded = _by_dist(dataset)
    for row in rows:
        ref_name, score = loaded[Path(row["dis_img_path"]).name.lower()]
        assert score == pytest.approx(float(row["score"]))
        assert ref_name == Path(row["ref_img_path"]).name


# ----------------------------------------------------------------------------------------------- generic CSV


def _make_csv(tmp_path: Path) -> Path:
    _img(tmp_path / "refs" / "a.png")
    _img(tmp_path / "dists" / "a_1.png")
    _img(tmp_path / "dists" / "a_2.png")
    path = tmp_path / "scores.csv"
    path.write_text("ref,dist,score,comment\nrefs/a.png,dists/a_1.png,30.5,x\nrefs/a.png,dists/a_2.png,70,y\n")
    return path


def test_generic_csv_relative_paths_and_direction(tmp_path: Path) -> None:
    path = _make_csv(tmp_path)
    mos = load_dataset(path)
    assert (mos.name, mos.original_higher_is_better) == ("csv", True)
    assert [s.score for s in mos.samples] == [30.5, 70.0]
    assert mos.samples[0].ref == tmp_path / "refs" / "a.png"
    assert mos.samples[1].dist == tmp_path / "dists" / "a_2.png"
    dmos = load_dataset(path, kind="csv", lower_better=True)
    assert [s.score for s in dmos.samples] == [-30.5, -70.0]
    assert dmos.original_higher_is_better is False


def test_generic_csv_names_missing_images(tmp_path: Path) -> None:
    path = _make_csv(tmp_path)
    (tmp_path / "dists" / "a_2.png").unlink()
    with pytest.raises(DatasetError, match=r"scores.csv names 1 image.*dists/a_2\.png"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "reference,distorted,mos\nrefs/a.png,dists/a_1.png,1\n",
            r"scores CSV '.*' needs a header with columns ref,dist,score ",
        ),
        ("ref,dist,score\nrefs/a.png,dists/a_1.png,\n", r"scores.csv', line 2: score '' is not a number"),
        ("ref,dist,score\nrefs/a.png,dists/a_1.png,inf\n", r"scores.csv', line 2: score 'inf' is not finite"),
        ("ref,dist,score\n", r"has a header but no rows"),
    ],
)
def test_generic_csv_errors(tmp_path: Path, content: str, message: str) -> None:
    path = _make_csv(tmp_path)
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


# ---------------------------------------------------------------------------------------- detection, usage


def test_empty_folder_lists_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no known score file.*dmos_realigned.mat.*mos_with_names.txt.*Train_MOS"):
        detect(tmp_path)


def test_images_without_score_file(tmp_path: Path) -> None:
    root = _make_tid(tmp_path / "db", [("i01_01_1.bmp", "5.1")])
    (root / "mos_with_names.txt").unlink()
    with pytest.raises(DatasetError, match=r"no known score file"):
        load_dataset(root)
    with pytest.raises(DatasetError, match=r"no mos_with_names.txt"):
        load_dataset(root, kind="tid2013")


def test_missing_path_and_ambiguous_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"does not exist"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match=r"does not exist"):
        detect(tmp_path / "nope")
    root = _make_tid(tmp_path / "db", [("i01_01_1.bmp", "5.1")])
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\n")
    with pytest.raises(DatasetError, match=r"several databases \(tid2008, kadid10k\): pass the kind"):
        detect(root)
    assert load_dataset(root, kind="tid2008").samples[0].score == 5.1


def test_usage_errors(tmp_path: Path) -> None:
    root = _make_tid(tmp_path / "db", [("i01_01_1.bmp", "5.1")])
    with pytest.raises(UsageError, match=r"unknown dataset kind 'tid2099'"):
        load_dataset(root, kind="tid2099")
    with pytest.raises(UsageError, match=r"lower_better applies to a generic CSV only"):
        load_dataset(root, lower_better=True)
    with pytest.raises(UsageError, match=r"kind 'csv' needs a CSV file"):
        load_dataset(root, kind="csv")
    with pytest.raises(UsageError, match=r"kind 'live' needs the database folder"):
        load_dataset(root / "mos_with_names.txt", kind="live")


# ---------------------------------------------------------------------------------- the one ref,dist,score reader


def test_one_reader_serves_pairs_scores_and_labels(tmp_path: Path) -> None:
    from iqa_cli.attack import read_labels
    from iqa_cli.pairs import read_pairs_csv

    path = _make_csv(tmp_path)
    pairs = read_pairs_csv(path).pairs
    labels = read_labels(path)
    samples = load_dataset(path).samples
    assert [(p.ref, p.dist) for p in pairs] == [(s.ref, s.dist) for s in samples]
    assert labels == {(str(s.ref.resolve()), str(s.dist.resolve())): s.score for s in samples}
    assert [r.line for r in read_pair_table(path, score=True)] == [2, 3]
    assert all(math.isnan(r.score) for r in read_pair_table(path))  # no score asked for: NaN, never read


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ref,dist\nrefs/a.png,dists/a_1.png\n", r" needs a header with columns ref,dist,score .*found: ref, dist$"),
        ("REF,Dist,Score\nrefs/a.png,dists/a_1.png,good\n", r", line 2: score 'good' is not a number$"),
        ("ref,dist,score\n,dists/a_1.png,1\n", r", line 2: empty 'ref' or 'dist' cell$"),
    ],
)
def test_one_reader_one_error_type_named_by_each_caller(tmp_path: Path, content: str, message: str) -> None:
    from iqa_cli.attack import read_labels

    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=r"^labels CSV '.*t\.csv'" + message):
        read_labels(path)
    with pytest.raises(DatasetError, match=r"^scores CSV '.*t\.csv'" + message):
        load_dataset(path)
    with pytest.raises(DatasetError, match=r"^labels CSV '.*absent\.csv' not found — check the path"):
        read_labels(tmp_path / "absent.csv")

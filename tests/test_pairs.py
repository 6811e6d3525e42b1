"""Tests for iqa_cli.pairs: discovery by path, by prefix, and from a CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from iqa_cli.errors import DatasetError, PairingError, UsageError
from iqa_cli.pairs import (
    Pair,
    iter_images,
    pair_by_path,
    pair_by_prefix,
    pair_folders,
    read_pairs_csv,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _touch(root: Path, *names: str) -> None:
    """Creates empty files: discovery only looks at names, never decodes."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def _names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def _pairs(pairs: list[Pair], ref_root: Path, dist_root: Path) -> list[tuple[str, str]]:
    return [(p.ref.relative_to(ref_root).as_posix(), p.dist.relative_to(dist_root).as_posix()) for p in pairs]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    ref, dist = tmp_path / "ref", tmp_path / "dist"
    ref.mkdir()
    dist.mkdir()
    return ref, dist


def test_iter_images_filters_sorts_and_skips_hidden(tmp_path: Path) -> None:
    _touch(tmp_path, "b.PNG", "a.jpg", "sub/c.tiff", "notes.txt", ".hidden.png", ".git/x.png", "sub/.d/y.bmp")
    assert _names(iter_images(tmp_path), tmp_path) == ["a.jpg", "b.PNG", "sub/c.tiff"]


def test_iter_images_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PairingError, match=r"image folder '.*nope' does not exist — check the path"):
        iter_images(tmp_path / "nope")
    _touch(tmp_path, "f.png")
    with pytest.raises(PairingError, match="is not a folder"):
        iter_images(tmp_path / "f.png")


def test_pair_by_path_ignores_extension_and_reports_unmatched(dirs: tuple[Path, Path]) -> None:
    ref, dist = dirs
    _touch(ref, "a/b.png", "c.png", "only_ref.png")
    _touch(dist, "a/b.bmp", "c.jpg", "only_dist.png", "b.png")
    p = pair_by_path(ref, dist)
    assert p.mode == "path"
    assert _pairs(p.pairs, ref, dist) == [("a/b.png", "a/b.bmp"), ("c.png", "c.jpg")]
    assert _names(p.unmatched_ref, ref) == ["only_ref.png"]
    assert _names(p.unmatched_dist, dist) == ["b.png", "only_dist.png"]


def test_pair_by_path_duplicate_stem(dirs: tuple[Path, Path]) -> None:
    ref, dist = dirs
    _touch(ref, "x.png", "x.jpg")
    _touch(dist, "x.png")
    with pytest.raises(PairingError, match=r"two reference files share the name 'x': .*x\.jpg' and .*x\.png'"):
        pair_by_path(ref, dist)


def test_pair_by_prefix_tid_style(dirs: tuple[Path, Path]) -> None:
    ref, dist = dirs
    _touch(ref, "I01.BMP", "I1.bmp", "I10.bmp", "I99.bmp")
    _touch(dist, "i01_01_1.bmp", "I10_03_2.bmp", "I1_03_2.bmp", "I1-x.png", "I1 y.png", "I01.2.png", "zz_1.png")
    p = pair_by_prefix(ref, dist)
    assert p.mode == "prefix"
    assert _pairs(p.pairs, ref, dist) == [
        ("I01.BMP", "I01.2.png"),
        ("I1.bmp", "I1 y.png"),
        ("I1.bmp", "I1-x.png"),
        ("I10.bmp", "I10_03_2.bmp"),
        ("I1.bmp", "I1_03_2.bmp"),
        ("I01.BMP", "i01_01_1.bmp"),
    ]
    assert _names(p.unmatched_ref, ref) == ["I99.bmp"]
    assert _names(p.unmatched_dist, dist) == ["zz_1.png"]


def test_pair_by_prefix_needs_separator(dirs: tuple[Path, Path]) -> None:
    ref, dist = dirs
    _touch(ref, "img.png")
    _touch(dist, "img2_1.png", "IMG.jpg")
    p = pair_by_prefix(ref, dist)
    assert _pairs(p.pairs, ref, dist) == [("img.png", "IMG.jpg")]
    assert _names(p.unmatched_dist, dist) == ["img2_1.png"]


def test_pair_by_prefix_duplicate_ref_stem(dirs: tuple[Path, Path]) -> None:
    ref, dist = dirs
    _touch(ref, "a/I01.bmp", "b/i01.png")
    _touch(dist, "I01_1.png")
    with pytest.raises(PairingError, match=r"two reference files share the name 'i01' \(case-insensitively\)"):
        pair_by_prefix(ref, dist)


def test_pair_folders_auto(dirs: tuple[Path, Path]) -> None:
    ref, dist = dirs
    _touch(ref, "I01.bmp")
    _touch(dist, "I01_01_1.bmp")
    assert pair_folders(ref, dist).mode == "prefix"
    _touch(dist, "I01.png")
    auto = pair_folders(ref, dist)
    assert auto.mode == "path"
    assert _names(auto.unmatched_dist, dist) == ["I01_01_1.bmp"]
    assert pair_folders(ref, dist, mode="prefix").mode == "prefix"
    assert pair_folders(ref, dist, mode="path").mode == "path"
    with pytest.raises(UsageError, match="pairing mode must be 'auto', 'path' or 'prefix', got 'position'"):
        pair_folders(ref, dist, mode="position")  # type: ignore[arg-type]


def test_pair_folders_errors(tmp_path: Path) -> None:
    with pytest.raises(PairingError, match="reference folder .* does not exist"):
        pair_folders(tmp_path / "r", tmp_path)
    with pytest.raises(PairingError, match="distorted folder .* does not exist"):
        pair_folders(tmp_path, tmp_path / "d")
    with pytest.raises(PairingError, match="are the same folder"):
        pair_folders(tmp_path, tmp_path)


def test_nested_dist_folder_is_not_listed_as_reference(tmp_path: Path) -> None:
    _touch(tmp_path, "I01.bmp", "distorted/I01_01_1.bmp")
    p = pair_folders(tmp_path, tmp_path / "distorted")
    assert p.mode == "prefix"
    assert len(p.pairs) == 1 and not p.unmatched_ref and not p.unmatched_dist


def test_shared_tid_samples_pair_by_prefix() -> None:
    root = SHARED_DATA / "samples" / "tid2013_samples"
    if not (root / "reference_images").is_dir():
        pytest.skip("shared sample data not available")
    p = pair_folders(root / "reference_images", root / "distorted_images")
    assert p.mode == "prefix"
    assert [(x.ref.name, x.dist.name) for x in p.pairs] == [
        ("I03.BMP", "I03_01_1.bmp"),
        ("I01.BMP", "i01_01_5.bmp"),
    ]


# ------------------------------------------------------------------------------------------- CSV


def test_read_pairs_csv_relative_and_absolute(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "d2.png"
    csv_path = tmp_path / "lists" / "pairs.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(f"\ufeffmos,Reference, Distorted\n1.0,refs/a.png,dists/a_1.png\n\n2.0,refs/b.png,{absolute}\n")
    p = read_pairs_csv(csv_path)
    assert p.mode == "csv" and not p.unmatched_ref and not p.unmatched_dist
    assert p.pairs == [
        Pair(csv_path.parent / "refs/a.png", csv_path.parent / "dists/a_1.png"),
        Pair(csv_path.parent / "refs/b.png", absolute),
    ]
    rooted = read_pairs_csv(csv_path, root=tmp_path / "data")
    assert rooted.pairs[0] == Pair(tmp_path / "data/refs/a.png", tmp_path / "data/dists/a_1.png")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"is empty — expected a header row with columns ref,dist"),
        ("ref_name,dist_name\na,b\n", r"needs a header with columns ref,dist .*found: ref_name, dist_name"),
        ("ref,dist\n", r"has a header but no rows"),
        ("ref,dist\na.png,\n", r"'.*p\.csv', line 2: empty 'ref' or 'dist' cell"),
        ("ref,dist\n\nb.png,b1.png\n,a1.png\n", r"line 4: empty 'ref' or 'dist' cell"),  # file lines, blanks counted
    ],
)
def test_read_pairs_csv_bad(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_pairs_csv(path)


def test_read_pairs_csv_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"pairs CSV '.*none\.csv' not found — check the path"):
        read_pairs_csv(tmp_path / "none.csv")

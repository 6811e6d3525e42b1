"""Tests of iqa_cli.synth.devset: the fixed pristine split, the conditions table and the pair builder."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from iqa_cli.errors import DatasetError, UsageError
from iqa_cli.synth import devset
from iqa_cli.synth.devset import Condition

SHARED = devset.find_data_dir()
needs_data = pytest.mark.skipif(SHARED is None, reason="../shared/data is absent")


def synthetic(h: int, w: int, seed: int) -> np.ndarray:
    """Textured gradient + checker + fixed-seed noise, deliberately not spanning [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    checker = ((np.arange(h)[:, None] // 5 + np.arange(w)[None, :] // 7) % 2).astype(float)
    base = np.stack([0.2 + 0.5 * x, 0.3 + 0.4 * y, 0.4 + 0.2 * np.sin(7.0 * x + 3.0 * y)], axis=-1)
    return (0.6 * base + 0.2 * checker[..., None] + 0.1 * rng.random((h, w, 3))).astype(np.float32)


CONDITIONS = [
    Condition(1, "gaussian blur", 3, 1.0, 2.9111),
    Condition(3, "motion blur", 4, 6.0, 2.1751),
    Condition(11, "white noise", 2, 0.002, 3.3904),
    Condition(19, "jitter", 1, 0.05, 4.4194),
    Condition(23, "colour block", 1, 2.0, 2.687),
]
REFS = [("a", synthetic(40, 56, 0)), ("b", synthetic(36, 36, 1))]


@needs_data
def test_split_is_disjoint_and_holds_out_kodak() -> None:
    train = devset.pristine_paths("train")
    holdout = devset.pristine_paths("holdout")
    assert train and holdout
    assert not set(train) & set(holdout)
    assert train == sorted(train) and holdout == sorted(holdout)
    kodak = {p for p in (SHARED / "pristine" / "kodak24").iterdir() if p.suffix.lower() == ".png"}
    assert kodak == set(holdout)
    assert not any("kodak24" in p.parts for p in train)
    assert {p.parent.name for p in train} == {"train", "val", "test", "urban100"}


def test_split_name_is_checked() -> None:
    with pytest.raises(UsageError, match="split must be 'train' or 'holdout', got 'test'"):
        devset.pristine_paths("test")  # type: ignore[arg-type]


def test_missing_pristine_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="kodak24"):
        devset.pristine_paths("holdout", data_dir=tmp_path)


def test_find_data_dir_env_then_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IQA_SHARED_DATA", str(tmp_path))
    assert devset.find_data_dir() == tmp_path
    monkeypatch.setenv("IQA_SHARED_DATA", str(tmp_path / "nowhere"))
    assert devset.find_data_dir() is None
    with pytest.raises(DatasetError, match="IQA_SHARED_DATA"):
        devset.load_conditions()
    monkeypatch.delenv("IQA_SHARED_DATA")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    assert devset.find_data_dir(tmp_path / "project") == tmp_path / "shared" / "data"
    monkeypatch.chdir(tmp_path / "project")
    assert devset.require_data_dir() == tmp_path / "shared" / "data"
    assert devset.require_data_dir(tmp_path) == tmp_path  # an explicit folder wins


@needs_data
def test_load_conditions() -> None:
    conditions = devset.load_conditions()
    assert len(conditions) == 65
    types = {c.type_id for c in conditions}
    assert len(types) == 13
    for t in types:
        assert sorted(c.level for c in conditions if c.type_id == t) == [1, 2, 3, 4, 5]
    assert all(1.0 <= c.mean_score <= 5.0 for c in conditions)
    jpeg = [c.parameter for c in conditions if c.type_name == "JPEG"]
    assert jpeg == [43.0, 36.0, 24.0, 7.0, 4.0]


def test_load_conditions_bad_table(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("type_id,type_name,level,parameter\n1,blur,1,0.1\n")
    with pytest.raises(DatasetError, match="missing column.*mean_score"):
        devset.load_conditions(bad)
    bad.write_text("type_id,type_name,level,parameter,mean_score\n1,blur,x,0.1,4\n")
    with pytest.raises(DatasetError, match="line 2: malformed"):
        devset.load_conditions(bad)
    with pytest.raises(DatasetError, match="cannot read conditions table"):
        devset.load_conditions(tmp_path / "absent.csv")


def test_packaged_definitions_carry_no_human_score() -> None:
    """The shipped file holds the definition columns only, for the 65 conditions (13 types x 5 levels)."""
    from importlib.resources import files

    text = (files("iqa_cli.synth") / devset.PACKAGED_CONDITIONS).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["type_id", "type_name", "level", "parameter", "parameter_meaning"]
    assert len(rows) == 66 and all(len(r) == 5 for r in rows)
    conditions = devset.load_condition_definitions()
    assert len(conditions) == 65 and all(math.isnan(c.mean_score) for c in conditions)
    types = {c.type_id for c in conditions}
    assert len(types) == 13
    for t in types:
        assert sorted(c.level for c in conditions if c.type_id == t) == [1, 2, 3, 4, 5]
    assert [c.parameter for c in conditions if c.type_name == "JPEG"] == [43.0, 36.0, 24.0, 7.0, 4.0]


@needs_data
def test_packaged_definitions_match_the_shared_table() -> None:
    """Row for row, the packaged file is the shared table's definition columns (regenerate it if this fails)."""
    from importlib.resources import files

    assert SHARED is not None
    with (SHARED / devset.CONDITIONS_FILE).open(newline="", encoding="utf-8") as fh:
        shared = list(csv.DictReader(fh))
    text = (files("iqa_cli.synth") / devset.PACKAGED_CONDITIONS).read_text(encoding="utf-8")
    packaged = list(csv.DictReader(io.StringIO(text)))
    columns = ["type_id", "type_name", "level", "parameter", "parameter_meaning"]
    assert [{c: r[c] for c in columns} for r in shared] == packaged
    with_scores = devset.load_conditions()
    definitions = devset.load_condition_definitions()
    assert [replace(c, mean_score=0.0) for c in with_scores] == [replace(c, mean_score=0.0) for c in definitions]
    # the shared table itself is a valid definitions file too (its scores ignored)
    assert len(devset.load_condition_definitions(SHARED / devset.CONDITIONS_FILE)) == 65


def test_load_condition_definitions_from_a_file(tmp_path: Path) -> None:
    table = tmp_path / "c.csv"
    table.write_text("type_id,type_name,level,parameter\n11,white noise,3,0.003\n")
    (cond,) = devset.load_condition_definitions(table)
    assert (cond.type_id, cond.type_name, cond.level, cond.parameter) == (11, "white noise", 3, 0.003)
    assert math.isnan(cond.mean_score)
    table.write_text("type_id,type_name,level\n11,white noise,3\n")
    with pytest.raises(DatasetError, match="missing column.*parameter"):
        devset.load_condition_definitions(table)
    table.write_text("type_id,type_name,level,parameter\n11,white noise,3,x\n")
    with pytest.raises(DatasetError, match="line 2: malformed"):
        devset.load_condition_definitions(table)
    table.write_text("type_id,type_name,level,parameter\n")
    with pytest.raises(DatasetError, match="no conditions"):
        devset.load_condition_definitions(table)
    with pytest.raises(DatasetError, match="cannot read conditions table"):
        devset.load_condition_definitions(tmp_path / "absent.csv")


def test_every_packaged_condition_can_be_recreated() -> None:
    pairs = list(devset.make_dev_pairs(REFS[1:], devset.load_condition_definitions(), max_side=24))
    assert len(pairs) == 65
    assert all(p.dist.shape == p.ref.shape and np.isfinite(p.dist).all() for p in pairs)


def test_make_dev_pairs_deterministic_and_order_independent() -> None:
    pairs = list(devset.make_dev_pairs(REFS, CONDITIONS, seed=3))
    assert len(pairs) == len(REFS) * len(CONDITIONS)
    again = list(devset.make_dev_pairs(REFS, CONDITIONS, seed=3))
    for p, q in zip(pairs, again, strict=True):
        assert p.ref_name == q.ref_name and p.condition == q.condition
        assert np.array_equal(p.dist, q.dist) and np.array_equal(p.ref, q.ref)
    reordered = {
        (p.ref_name, p.condition.type_id): p.dist for p in devset.make_dev_pairs(REFS, CONDITIONS[::-1], seed=3)
    }
    for p in pairs:
        assert np.array_equal(reordered[(p.ref_name, p.condition.type_id)], p.dist)
    other_seed = next(iter(devset.make_dev_pairs(REFS[:1], CONDITIONS[2:3], seed=4)))
    assert not np.array_equal(other_seed.dist, pairs[2].dist)


def test_make_dev_pairs_content() -> None:
    pair = next(iter(devset.make_dev_pairs(REFS[:1], CONDITIONS[:1])))
    assert pair.ref.dtype == np.float32 and pair.dist.dtype == np.float32
    assert pair.ref.min() == 0.0 and pair.ref.max() == 1.0  # KADID reference: stretched
    assert np.allclose(pair.ref * 255, np.rint(pair.ref * 255), atol=1e-3)
    assert not pair.ref.flags.writeable
    assert pair.condition.mean_score == pytest.approx(2.9111)


def test_make_dev_pairs_max_side() -> None:
    pair = next(iter(devset.make_dev_pairs(REFS[:1], CONDITIONS[:1], max_side=28)))
    assert pair.ref.shape == (20, 28, 3) and pair.dist.shape == (20, 28, 3)
    with pytest.raises(UsageError, match="max_side must be a positive"):
        next(iter(devset.make_dev_pairs(REFS, CONDITIONS, max_side=0)))


@needs_data
def test_load_refs_reads_rgb() -> None:
    ((name, img),) = devset.load_refs(devset.pristine_paths("holdout")[:1])
    assert name == "kodak24/kodim01.png"
    assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert np.allclose(img * 255, np.rint(img * 255), atol=1e-4)  # 8-bit levels k / 255, as the re-creation expects


@needs_data
def test_pristine_images_read_and_shrunk_as_opencv_does() -> None:
    """The shared reader and downsizer give the pristine images exactly the values of OpenCV's own 8-bit reading and
    INTER_AREA shrink (what the shipped weights and the benchmark figures were made with)."""
    import cv2

    from iqa_cli.train.data import load_rgb_uint8

    paths = devset.pristine_paths("train") + devset.pristine_paths("holdout")
    for path in paths[::40]:
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        ((_, img),) = devset.load_refs([path])
        assert img.dtype == np.float32 and np.array_equal(img, rgb.astype(np.float32) / np.float32(255.0))
        h, w = rgb.shape[:2]
        f = 200 / max(h, w)
        small = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        assert np.array_equal(load_rgb_uint8(path, max_side=200), small)

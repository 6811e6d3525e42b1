"""Tests for ``iqa fit`` / :func:`iqa_cli.train.fit.fit`: few-label head on frozen features, folds by reference."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iqa_cli.errors import TrainingError, UsageError
from iqa_cli.train.fit import fit
from iqa_cli.train.folds import split_folds
from tests.conftest import degrade, textured, write_png

LEVELS = (0.02, 0.06, 0.12)


def _dataset(root: Path, n_refs: int = 3, score=lambda level: 5.0 - 20.0 * level, name: str = "scores.csv") -> Path:
    """``n_refs`` references x 3 noise levels; relative paths in the CSV."""
    rows = []
    for r in range(n_refs):
        ref = textured(32, 32, 3, seed=r)
        write_png(root / "ref" / f"r{r}.png", ref)
        for k, level in enumerate(LEVELS):
            write_png(root / "dist" / f"r{r}_{k}.png", degrade(ref, level, seed=10 * r + k))
            rows.append({"ref": f"ref/r{r}.png", "dist": f"dist/r{r}_{k}.png", "score": f"{score(level):.6g}"})
    path = root / name
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["ref", "dist", "score"])
        writer.writeheader()
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------------- folds


def test_folds_never_share_a_reference() -> None:
    refs = ["a"] * 5 + ["b"] * 1 + ["c"] * 3 + ["d"] * 2 + ["e"] * 4 + ["f"] * 1 + ["g"] * 2
    for folds in (2, 3, 5, 7, 10):
        parts = split_folds(refs, folds, seed=1)
        assert len(parts) == min(folds, 7)
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(refs)))
        owners = [{refs[i] for i in p} for p in parts]
        for i, a in enumerate(owners):
            assert a, "empty fold"
            for b in owners[i + 1 :]:
                assert not a & b
    assert [p.tolist() for p in split_folds(refs, 3, seed=4)] == [p.tolist() for p in split_folds(refs, 3, seed=4)]


def test_folds_need_two_references() -> None:
    with pytest.raises(UsageError, match="cross-validation needs at least 2 folds and 2 reference images"):
        split_folds(["a", "a", "a"], 5)


# -------------------------------------------------------------------------------------------------- fits


def test_tiny_fit_writes_a_few_label_model_and_reports_cv(random_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.api import load_model
    from iqa_cli.weights import read_weights

    csv_path = _dataset(tmp_path)
    out = tmp_path / "fitted.safetensors"
    report = fit(csv_path, out, base=random_weights, folds=5, device="cpu")
    assert report.n_pairs == 9 and report.n_refs == 3 and report.folds == 3  # min(folds, refs)
    assert [row["pairs"] for row in report.per_fold] == [3, 3, 3]
    assert report.cv_srcc is not None and -1.0 <= report.cv_srcc <= 1.0
    scorer = load_model(weights=out, device="cpu")
    base = load_model(weights=random_weights, device="cpu")
    assert scorer.module.config.head == "few_label"
    assert scorer.metadata["fit"]["pairs"] == 9 and scorer.metadata["base"]["sha256"] == base.weights_sha256
    tensors, _ = read_weights(out)
    base_tensors, _ = read_weights(random_weights)
    assert not np.allclose(tensors["fl_weights"].numpy(), base_tensors["fl_weights"].numpy())
    assert np.array_equal(tensors["feature_scale"].numpy(), base_tensors["feature_scale"].numpy())  # frozen
    ref = tmp_path / "ref" / "r0.png"
    dist = tmp_path / "dist" / "r0_2.png"
    assert scorer.score(ref, dist) != pytest.approx(base.score(ref, dist), abs=1e-3)
    assert scorer.score(ref, ref) == pytest.approx(100.0, abs=0.01)
    from iqa_cli.pairs import Pair
    from iqa_cli.train.features import pair_features
    from iqa_cli.train.heads import fit_head, predict

    feats, _ = pair_features(scorer.module, [Pair(ref, dist)])
    head = fit_head(np.zeros((2, feats.shape[1])), np.array([1.0, 2.0]), np.ones(feats.shape[1]), 1.0)
    assert head.floor < head.bias
    tensors_head = type(head)(tensors["fl_weights"].numpy(), float(tensors["fl_bias"]), float(tensors["fl_floor"]))
    scale = tensors["feature_scale"].numpy().astype(np.float64)
    assert predict(tensors_head, feats, scale)[0] == pytest.approx(scorer.score(ref, dist), abs=1e-3)


def test_lower_better_negates_dmos(random_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.weights import read_weights

    mos = _dataset(tmp_path, score=lambda level: -level, name="mos.csv")
    dmos = _dataset(tmp_path, score=lambda level: level, name="dmos.csv")
    a = fit(mos, tmp_path / "a.safetensors", base=random_weights, folds=0, device="cpu")
    b = fit(dmos, tmp_path / "b.safetensors", base=random_weights, folds=0, lower_better=True, device="cpu")
    assert a.note is not None and "cross-validation skipped" in a.note
    assert "DMOS" in b.score_kind
    ta, tb = read_weights(tmp_path / "a.safetensors")[0], read_weights(tmp_path / "b.safetensors")[0]
    for key in ("fl_weights", "fl_bias", "fl_floor"):
        assert np.allclose(ta[key].numpy(), tb[key].numpy()), key


# ---------------------------------------------------------------------------------------------- refusals


def test_refuses_existing_output(random_weights: Path, tmp_path: Path) -> None:
    csv_path = _dataset(tmp_path, n_refs=1)
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"keep")
    with pytest.raises(UsageError, match="output .*o.safetensors already exists — pass --force"):
        fit(csv_path, out, base=random_weights)
    assert out.read_bytes() == b"keep"


def test_refuses_too_few_pairs_and_constant_scores(random_weights: Path, tmp_path: Path) -> None:
    write_png(tmp_path / "r.png", textured(32, 32))
    (tmp_path / "two.csv").write_text("ref,dist,score\nr.png,r.png,1\nr.png,r.png,2\n")
    with pytest.raises(TrainingError, match="fit needs at least 3 rated pairs, .*two.csv has 2"):
        fit(tmp_path / "two.csv", tmp_path / "o.safetensors", base=random_weights)
    (tmp_path / "flat.csv").write_text("ref,dist,score\n" + "r.png,r.png,3\n" * 4)
    with pytest.raises(TrainingError, match="every score in .*flat.csv is 3: nothing to fit"):
        fit(tmp_path / "flat.csv", tmp_path / "o.safetensors", base=random_weights)


def test_refuses_unreadable_pairs_listing_all(random_weights: Path, tmp_path: Path) -> None:
    write_png(tmp_path / "r.png", textured(32, 32))
    (tmp_path / "bad1.png").write_bytes(b"junk")
    (tmp_path / "bad2.png").write_bytes(b"junk")
    (tmp_path / "s.csv").write_text("ref,dist,score\nr.png,r.png,5\nr.png,bad1.png,3\nr.png,bad2.png,1\n")
    with pytest.raises(TrainingError, match=r"2 of 3 pair\(s\) cannot be used") as info:
        fit(tmp_path / "s.csv", tmp_path / "o.safetensors", base=random_weights, device="cpu")
    assert "bad1.png" in str(info.value) and "bad2.png" in str(info.value)


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_fit_table_on_stderr_json_on_stdout(random_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.cli import app

    runner = CliRunner()
    csv_path = _dataset(tmp_path)
    out = tmp_path / "f.safetensors"
    args = [
        "fit",
        str(csv_path),
        "-o",
        str(out),
        "--base-weights",
        str(random_weights),
        "--folds",
        "2",
        "--device",
        "cpu",
        "--no-progress",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["folds"] == 2 and len(report["per_fold"]) == 2 and report["output"] == str(out)
    assert "fold" in result.stderr and "SRCC" in result.stderr and "split by reference" in result.stderr
    refused = runner.invoke(app, args)  # the output exists now
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.startswith("iqa: error: output ") and "pass --force" in refused.stderr


def test_finetune_stub_is_gone() -> None:
    """`--finetune` only ever refused; it is removed from the CLI and the API rather than advertised."""
    import inspect

    from iqa_cli.cli import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--finetune" not in help_text and "fine-tuning" not in help_text
    assert "finetune" not in inspect.signature(fit).parameters
    result = runner.invoke(app, ["fit", "x.csv", "-o", "y.safetensors", "--finetune"])
    assert result.exit_code == 2 and "--finetune" in result.output  # an unknown option now


def test_two_identical_fits_write_identical_files_without_machine_paths(random_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.weights import read_weights

    csv_path = _dataset(tmp_path / "data")
    a = fit(csv_path, tmp_path / "a.safetensors", base=random_weights, folds=3, device="cpu")
    b = fit(csv_path, tmp_path / "b.safetensors", base=random_weights, folds=3, device="cpu")
    assert a.sha256 == b.sha256
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    _, meta = read_weights(tmp_path / "a.safetensors")
    text = json.dumps(meta)
    for folder in (tmp_path, random_weights.parent, Path.cwd()):
        assert str(folder) not in text, f"metadata holds the machine path {folder}"
    assert meta["fit"]["csv"] == "scores.csv" and meta["base"]["weights"] == random_weights.name

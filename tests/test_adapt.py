"""Tests for ``iqa adapt`` / :func:`iqa_cli.train.adapt.adapt`: tiny runs on generated images from a random base."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iqa_cli.errors import TrainingError, UsageError
from iqa_cli.train import adapt as adapt_mod
from iqa_cli.train.adapt import adapt
from iqa_cli.train.checkpoint import checkpoint_paths
from iqa_cli.train.domain import parse_degradations
from tests.conftest import degrade, textured, write_png

TINY = {"steps": 4, "batch": 2, "crop": 32, "fit_samples": 8, "checkpoint_every": 2}


def _domain(root: Path, n: int = 4, size: int = 64) -> Path:
    for i in range(n):
        write_png(root / f"img{i}.png", textured(size, size, 3, seed=i))
    return root


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _domain(tmp_path_factory.mktemp("domain"))


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory, domain: Path, random_weights: Path):
    """One uninterrupted tiny adaptation (4 steps), shared by the tests that only read its result."""
    out = tmp_path_factory.mktemp("out") / "domain.safetensors"
    report = adapt([domain], out, base=random_weights, domain="test", **TINY)
    return out, report


def _tensors(path: Path) -> dict:
    from iqa_cli.weights import read_weights

    return read_weights(path)[0]


# ------------------------------------------------------------------------------------------------ runs


def test_tiny_adapt_writes_loadable_weights_that_change_scores(adapted, random_weights: Path) -> None:
    from iqa_cli.api import load_model

    out, report = adapted
    assert out.is_file() and report.sha256
    assert report.n_images == 4 and report.resumed_from is None and not report.grey
    assert not any(checkpoint_paths(out)[i].exists() for i in (0, 1))  # checkpoint removed after success
    scorer = load_model(weights=out, device="cpu")
    base = load_model(weights=random_weights, device="cpu")
    assert scorer.module.config.head == "label_free"
    meta = scorer.metadata
    assert meta["model"] == "causal-iqa" and meta["domain"] == "test"
    assert meta["base"]["sha256"] == base.weights_sha256
    assert meta["images"]["count"] == 4 and len(meta["images"]["sha256"]) == 64
    assert meta["recipe"]["lr"] == 5e-4 and meta["training"] == {"steps": 4, "resumed_from": None}
    ref = textured(48, 48, 3, seed=9)
    dist = degrade(ref, 0.1)
    assert scorer.score(ref, ref) == pytest.approx(100.0, abs=0.01)
    assert scorer.score(ref, dist) != pytest.approx(base.score(ref, dist), abs=1e-3)
    assert 0.0 <= scorer.score(ref, dist) < 100.0


def test_interrupted_run_resumes_to_the_uninterrupted_result(
    adapted, domain: Path, random_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "domain.safetensors"
    ckpt, recipe = checkpoint_paths(out)

    def interrupt(phase: str, done: int, total: int) -> None:
        if phase == "train" and done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt([domain], out, base=random_weights, domain="test", progress=interrupt, **TINY)
    assert not out.exists() and ckpt.is_file() and recipe.is_file()
    with pytest.raises(UsageError, match="checkpoint .* of an interrupted run exists — pass --resume"):
        adapt([domain], out, base=random_weights, **TINY)
    seen: list[tuple[str, int]] = []
    report = adapt(
        [domain],
        out,
        base=random_weights,
        domain="test",
        resume=True,
        progress=lambda p, d, t: seen.append((p, d)),
        **TINY,
    )
    assert report.resumed_from == 2
    assert [d for p, d in seen if p == "train"] == [2, 3, 4]  # counting continued from the checkpoint
    from iqa_cli.weights import read_weights

    assert read_weights(out)[1]["training"] == {"steps": 4, "resumed_from": 2}
    expected = _tensors(adapted[0])
    got = _tensors(out)
    assert set(got) == set(expected)
    for key in expected:
        assert np.allclose(got[key].numpy(), expected[key].numpy(), rtol=1e-5, atol=1e-6), key


def test_output_is_atomic_when_saving_fails(domain: Path, random_weights: Path, tmp_path: Path, monkeypatch) -> None:
    from iqa_cli import weights

    out = tmp_path / "domain.safetensors"

    def broken(path: str, data: bytes) -> None:
        assert Path(path).name.startswith(f".{out.name}.")  # written beside the output, then renamed
        Path(path).write_bytes(data[:100])
        raise OSError("disk full")

    monkeypatch.setattr(weights, "_write_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        adapt([domain], out, base=random_weights, **{**TINY, "steps": 0})
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_two_identical_runs_write_identical_files_without_machine_paths(
    adapted, domain: Path, random_weights: Path, tmp_path: Path
) -> None:
    import hashlib

    from iqa_cli.weights import read_weights

    out = tmp_path / "domain.safetensors"
    report = adapt([domain], out, base=random_weights, domain="test", **TINY)
    first = adapted[0].read_bytes()
    assert report.sha256 == hashlib.sha256(first).hexdigest() == hashlib.sha256(out.read_bytes()).hexdigest()
    _, meta = read_weights(out)
    text = json.dumps(meta)
    for folder in (tmp_path, domain, random_weights.parent, Path.cwd()):
        assert str(folder) not in text, f"metadata holds the machine path {folder}"
    assert meta["base"]["weights"] == random_weights.name


def test_grey_16bit_levels_survive_into_training_crops(random_weights: Path, tmp_path: Path, monkeypatch) -> None:
    from iqa_cli.api import load_model
    from iqa_cli.synth import distortions
    from iqa_cli.train import selfsup

    for i in range(4):  # a narrow band of 16-bit levels: ~13 distinct 8-bit values, thousands of 16-bit ones
        write_png(tmp_path / f"g{i}.png", 0.45 + 0.05 * textured(64, 64, 1, seed=i), bit_depth=16)
    crops: list[np.ndarray] = []
    real_sample = selfsup.CropSampler.sample

    def spy(self, batch, rng):
        out = real_sample(self, batch, rng)
        crops.append(out[0].numpy())
        return out

    monkeypatch.setattr(selfsup.CropSampler, "sample", spy)
    out = tmp_path / "grey.safetensors"
    report = adapt([tmp_path], out, base=random_weights, **{**TINY, "steps": 1})
    assert report.grey
    assert all(distortions.DISTORTIONS[n].grey_ok for n in report.distortion_names)
    a_ref = crops[0]
    assert a_ref.shape[1] == 1  # grey stays one channel
    assert len(np.unique(a_ref)) > 256
    assert len(np.unique(np.round(a_ref * 255))) < 30  # what 8-bit rounding would have left
    scorer = load_model(weights=out, device="cpu")
    ref = 0.45 + 0.05 * textured(48, 48, 1, seed=7)
    assert 0.0 <= scorer.score(ref, degrade(ref, 0.05)) <= 100.0


def test_unlabelled_pairs_give_clean_images_and_head_statistics(random_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.pairs import pair_folders

    for i in range(4):
        ref = textured(64, 64, 3, seed=20 + i)
        write_png(tmp_path / "ref" / f"p{i}.png", ref)
        write_png(tmp_path / "dist" / f"p{i}.png", degrade(ref, 0.05 * (i + 1)))
    pairs = pair_folders(tmp_path / "ref", tmp_path / "dist").pairs
    out = tmp_path / "pairs.safetensors"
    report = adapt([], out, base=random_weights, pairs=pairs, **{**TINY, "steps": 1})
    assert report.n_images == 4 and report.n_pairs == 4
    assert report.n_feature_samples == 8 + 4  # synthetic (2 per image) + the real distorted images


# ---------------------------------------------------------------------------------------------- refusals


def test_refuses_too_few_images(random_weights: Path, tmp_path: Path) -> None:
    _domain(tmp_path / "d", n=3)
    with pytest.raises(TrainingError, match="adapt needs at least 4 clean domain images, got 3"):
        adapt([tmp_path / "d"], tmp_path / "o.safetensors", base=random_weights)


def test_refuses_small_images_listing_all(random_weights: Path, tmp_path: Path) -> None:
    d = _domain(tmp_path / "d", n=4)
    write_png(d / "tiny1.png", textured(20, 40, 3))
    write_png(d / "tiny2.png", textured(64, 31, 3))
    with pytest.raises(TrainingError, match=r"2 domain image\(s\) smaller than 32 px on a side") as info:
        adapt([d], tmp_path / "o.safetensors", base=random_weights)
    assert "tiny1.png (40x20)" in str(info.value) and "tiny2.png (31x64)" in str(info.value)


def test_refuses_unreadable_images_listing_all(random_weights: Path, tmp_path: Path) -> None:
    d = _domain(tmp_path / "d", n=4)
    (d / "bad1.png").write_bytes(b"not an image")
    (d / "bad2.jpg").write_bytes(b"")
    with pytest.raises(TrainingError, match=r"cannot read 2 of 6 domain image\(s\)") as info:
        adapt([d], tmp_path / "o.safetensors", base=random_weights)
    assert "bad1.png" in str(info.value) and "bad2.jpg" in str(info.value)


def test_refuses_existing_output_without_force(domain: Path, random_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="output .*o.safetensors already exists — pass --force"):
        adapt([domain], out, base=random_weights)
    assert out.read_bytes() == b"keep me"


def test_refuses_resume_without_checkpoint_and_changed_inputs(
    domain: Path, random_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.safetensors"
    with pytest.raises(UsageError, match="nothing to resume: no checkpoint"):
        adapt([domain], out, base=random_weights, resume=True)
    ckpt, recipe = checkpoint_paths(out)
    ckpt.write_bytes(b"x")
    recipe.write_text(json.dumps({"images_sha256": "other"}))
    with pytest.raises(UsageError, match="cannot resume: checkpoint .* was made with a different"):
        adapt([domain], out, base=random_weights, resume=True, **TINY)


def test_refuses_missing_input_path(random_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist — pass image files or folders"):
        adapt([tmp_path / "nope"], tmp_path / "o.safetensors", base=random_weights)


# ------------------------------------------------------------------------------------------ degradations


def test_parse_degradations_weights_by_repetition() -> None:
    from iqa_cli.synth import distortions

    pool = parse_degradations("noise:2,blur:1")
    noise, blur = distortions.names(["noise"]), distortions.names(["blur"])
    assert sorted(pool) == sorted(noise * 2 + blur)
    assert parse_degradations("noise:2,gaussian_blur:2") == [*noise, "gaussian_blur"]  # divided by the gcd
    assert parse_degradations(None, grey=True) == distortions.names(grey=True)
    assert "colour_noise" not in parse_degradations("noise", grey=True)
    assert parse_degradations("colour", grey=True) == distortions.names(["colour"], grey=True)


@pytest.mark.parametrize(
    ("spec", "grey", "message"),
    [
        ("fog", False, "unknown degradation 'fog': expected a family"),
        ("noise:0", False, "weight in 'noise:0' must be a whole number >= 1"),
        ("noise:x", False, "weight in 'noise:x' must be a whole number >= 1"),
        ("desaturate", True, "degradation 'desaturate' needs colour but the domain images are grey"),
    ],
)
def test_parse_degradations_refusals(spec: str, grey: bool, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_degradations(spec, grey=grey)


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_adapt_json_and_refusal(domain: Path, random_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.cli import app

    runner = CliRunner()
    out = tmp_path / "cli.safetensors"
    args = [
        "adapt",
        str(domain),
        "-o",
        str(out),
        "--base-weights",
        str(random_weights),
        "--steps",
        "1",
        "--batch",
        "2",
        "--crop",
        "32",
        "--fit-samples",
        "8",
        "--domain",
        "cli",
        "--no-progress",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["output"] == str(out) and report["domain"] == "cli" and report["steps"] == 1
    assert "iqa: adapted on 4 image(s)" in result.stderr
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert again.stdout == ""
    assert again.stderr.startswith("iqa: error: output ") and "already exists — pass --force" in again.stderr
    score = runner.invoke(app, ["score", str(domain / "img0.png"), str(domain / "img1.png"), "--weights", str(out)])
    assert score.exit_code == 0, score.stderr
    assert 0.0 <= float(score.stdout) <= 100.0


def test_public_api_names_are_the_functions() -> None:
    import iqa_cli
    import iqa_cli.train.adapt  # noqa: F401  (importing the module must not shadow the function)

    assert iqa_cli.adapt is adapt_mod.adapt
    assert callable(iqa_cli.fit) and iqa_cli.fit.__name__ == "fit"

"""Tests of the self-supervised trainer (iqa_cli.train.selfsup), the quality heads (iqa_cli.train.heads) and the
head-selection helpers of the recipe (iqa_cli.train.selection). Everything runs on tiny images in a few seconds."""

from __future__ import annotations

import functools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import textured
from typer.testing import CliRunner

from iqa_cli.cli import app
from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalConfig, CausalIQA
from iqa_cli.models.causal.heads import FewLabelHead, write_heads
from iqa_cli.train import heads, publish, recipe, selection, selfsup
from iqa_cli.train.decoder import InterventionDecoder
from iqa_cli.train.selfsup import TrainConfig
from iqa_cli.weights import file_sha256, read_weights

TINY = {"steps": 3, "batch": 2, "crop": 32}


def tiny_images() -> list[np.ndarray]:
    """Three seeded, textured 48x48 uint8 RGB images."""
    return [np.rint(textured(48, 48, 3, seed=s) * 255).astype(np.uint8) for s in range(3)]


def encoder_state(model: CausalIQA) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.encoder.state_dict().items()}


def recorder() -> tuple[list[tuple[int, dict[str, float]]], object]:
    calls: list[tuple[int, dict[str, float]]] = []
    return calls, lambda step, values: calls.append((step, values))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One 3-step run with checkpoints every 2 steps (shared by the tests below; nobody mutates it)."""
    ckpt = tmp_path_factory.mktemp("train") / "ckpt.safetensors"
    calls, on_step = recorder()
    model = selfsup.train(tiny_images(), TrainConfig(**TINY), checkpoint=ckpt, checkpoint_every=2, on_step=on_step)
    return {"model": model, "calls": calls, "ckpt": ckpt}


# -- selfsup.train ----------------------------------------------------------------------------------------------------
def test_train_steps_are_finite_update_encoder_and_checkpoint(trained: dict) -> None:
    calls = trained["calls"]
    assert [s for s, _ in calls] == [1, 2, 3]
    for _, values in calls:
        assert set(values) == {"rec", "swap", "null", "inv", "rank", "cls", "total"}
        assert all(math.isfinite(v) for v in values.values())
    # steps=0 builds the same seeded initial model without training it
    init = encoder_state(selfsup.train(tiny_images(), TrainConfig(**(TINY | {"steps": 0}))))
    after = encoder_state(trained["model"])
    assert any(not torch.equal(init[k], after[k]) for k in init)
    assert trained["ckpt"].is_file() and trained["ckpt"].stat().st_size > 0
    assert not trained["model"].training  # returned in eval mode


def test_train_resumes_from_checkpoint(trained: dict, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt.safetensors"
    shutil.copy(trained["ckpt"], ckpt)
    calls, on_step = recorder()
    selfsup.train(
        tiny_images(), TrainConfig(**(TINY | {"steps": 4})), checkpoint=ckpt, checkpoint_every=2, on_step=on_step
    )
    assert [s for s, _ in calls] == [4]


def test_interrupted_run_resumes_to_the_same_weights(trained: dict, tmp_path: Path) -> None:
    """Stop after step 2's checkpoint, resume: model *and* optimizer state must continue exactly."""
    ckpt = tmp_path / "ckpt.safetensors"

    def stop_at_3(step: int, values: dict[str, float]) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        selfsup.train(tiny_images(), TrainConfig(**TINY), checkpoint=ckpt, checkpoint_every=2, on_step=stop_at_3)
    calls, on_step = recorder()
    resumed = selfsup.train(tiny_images(), TrainConfig(**TINY), checkpoint=ckpt, checkpoint_every=2, on_step=on_step)
    assert [s for s, _ in calls] == [3]
    assert calls[0][1] == trained["calls"][2][1]
    a, b = encoder_state(resumed), encoder_state(trained["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_is_deterministic(trained: dict) -> None:
    again = selfsup.train(tiny_images(), TrainConfig(**TINY))
    a, b = encoder_state(again), encoder_state(trained["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- selfsup.losses ---------------------------------------------------------------------------------------------------
def test_losses_keys_and_gradients_reach_decoder_and_masking() -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(**TINY)
    model = CausalIQA()
    decoder = InterventionDecoder(model.config)
    names = ["white_noise", "gaussian_blur", "jpeg"]
    classifier = torch.nn.Linear(model.config.n_learned_features, len(names))
    sampler = selfsup.CropSampler(tiny_images(), names, cfg.crop, cfg.min_strength)
    batch = sampler.sample(2, np.random.default_rng(0))
    out = selfsup.losses(model, decoder, classifier, batch, cfg)
    assert set(out) == {"rec", "swap", "null", "inv", "rank", "cls", "total"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in out.values())
    weighted = sum(getattr(cfg, f"w_{k}") * out[k] for k in ("rec", "swap", "null", "inv", "rank", "cls"))
    assert torch.allclose(out["total"], weighted)
    out["total"].backward()
    for name, module in (("decoder", decoder), ("masking", model.masking)):
        for pname, p in module.named_parameters():
            assert p.grad is not None, f"{name}.{pname} has no gradient"
            assert p.grad.abs().sum() > 0, f"{name}.{pname} has an all-zero gradient"


def test_crop_sampler_rejects_too_few_usable_images() -> None:
    with pytest.raises(ValueError, match="need at least 2 images of at least 64x64"):
        selfsup.CropSampler(tiny_images(), ["white_noise"], crop=64, min_strength=0.05)


# -- heads ------------------------------------------------------------------------------------------------------------
def test_label_free_head_unit_nonnegative_100_at_zero_and_50_at_median() -> None:
    model = CausalIQA()
    n = model.config.n_features
    rng = np.random.default_rng(0)
    v = rng.uniform(0.2, 1.0, n)
    feats = (rng.exponential(1.0, (61, 1)) * v + 0.05 * rng.random((61, n))).astype(np.float32)  # odd N: exact median
    scale = heads.fit_feature_scale(feats)
    direction, tau = heads.fit_label_free(feats, scale)
    assert direction.shape == (n,) and (direction >= 0).all()
    assert abs(float(np.linalg.norm(direction)) - 1.0) < 1e-5
    assert tau > 0
    planted = (v / scale) / np.linalg.norm(v / scale)
    assert float(direction @ planted) > 0.99  # the principal direction of the planted rank-one structure
    write_heads(
        model, scale=scale, label_free=(direction, tau), few_label=FewLabelHead(np.zeros(n, np.float32), 5.0, 1.0)
    )
    with torch.no_grad():
        assert model.head_label_free(torch.zeros(1, n)).item() == 100.0
        scores = model.head_label_free(torch.from_numpy(feats)).numpy()
    assert abs(float(np.median(scores)) - 50.0) < 1e-4


def planted_few_label(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mos = 5 - 2 log1p(x0/s0) - log1p(x1/s1) + small noise; x2 is irrelevant."""
    rng = np.random.default_rng(seed)
    s = np.array([0.5, 2.0, 1.0])
    x = rng.exponential(1.0, (n, 3)) * s
    mos = 5.0 - 2.0 * np.log1p(x[:, 0] / s[0]) - 1.0 * np.log1p(x[:, 1] / s[1]) + 0.02 * rng.standard_normal(n)
    return x, mos, s


def test_few_label_fit_recovers_planted_monotone_relation() -> None:
    x, mos, s = planted_few_label()
    w, b = heads.fit_few_label(x, mos, s, ridge=1e-4)
    assert (w >= 0).all()
    assert w[0] == pytest.approx(2.0, abs=0.05) and w[1] == pytest.approx(1.0, abs=0.05) and w[2] < 0.02
    assert b == pytest.approx(5.0, abs=0.05)
    w, _ = heads.fit_few_label(x, mos, s)  # the recipe's ridge shrinks but keeps the order
    assert (w >= 0).all() and w[0] > w[1] > 5 * w[2]


def test_few_label_head_scores_100_at_zero_and_falls_with_every_feature() -> None:
    x, mos, s = planted_few_label()
    model = CausalIQA()
    n = model.config.n_features
    w3, b = heads.fit_few_label(x, mos, s, ridge=1e-4)
    scale, w = np.ones(n), np.zeros(n, np.float32)
    scale[:3], w[:3] = s, w3
    lf = (np.full(n, 1 / math.sqrt(n), np.float32), 1.0)
    write_heads(model, scale=scale, label_free=lf, few_label=FewLabelHead(w, b, 1.0))
    with torch.no_grad():
        assert model.head_few_label(torch.zeros(1, n)).item() == 100.0
        for j in range(3):
            grid = torch.zeros(6, n)
            grid[:, j] = torch.tensor([0.0, 0.1, 0.5, 1.0, 5.0, 50.0])
            scores = model.head_few_label(grid)
            assert (scores > 0).all() and (scores <= 100).all()
            assert (scores.diff() <= 0).all()
            if w[j] > 0.1:
                assert (scores.diff() < 0).all(), f"score does not fall with feature {j}"


# -- run: head selection ----------------------------------------------------------------------------------------------
def synthetic_dev(seed: int = 0, per_type: int = 15, n_types: int = 4) -> selection.DevFeatures:
    rng = np.random.default_rng(seed)
    n = per_type * n_types
    x = rng.exponential(1.0, (n, 3))
    mos = 5.0 - 1.5 * np.log1p(x[:, 0]) - 0.7 * np.log1p(x[:, 1]) + 0.05 * rng.standard_normal(n)
    type_ids = np.repeat(np.arange(n_types), per_type)
    odd = type_ids == 2  # one type's rows are arbitrary
    x[odd] = rng.exponential(3.0, (int(odd.sum()), 3))
    mos[odd] = rng.uniform(1.0, 5.0, int(odd.sum()))
    return selection.DevFeatures(x, mos, type_ids, np.tile(np.arange(per_type) % 5, n_types), ["r"] * n)


def test_leave_one_type_out_never_sees_the_left_out_type() -> None:
    dev = synthetic_dev()
    scale = np.ones(3)
    pred = selection.leave_one_type_out(dev, scale)
    assert pred.shape == dev.mos.shape and np.isfinite(pred).all()
    for t in np.unique(dev.type_ids):
        sel = dev.type_ids == t
        changed = selection.DevFeatures(dev.features, dev.mos.copy(), dev.type_ids, dev.levels, dev.ref_names)
        changed.mos[sel] = 6.0 - changed.mos[sel] + np.linspace(-1, 1, int(sel.sum()))
        pred2 = selection.leave_one_type_out(changed, scale)
        np.testing.assert_array_equal(pred2[sel], pred[sel])  # type t's labels never reach its own predictions
        assert not np.allclose(pred2[~sel], pred[~sel])  # ... but they do reach the other types' (the test bites)


def test_feature_groups_partition_the_columns() -> None:
    model = CausalIQA()
    g = heads.feature_groups(model)
    assert set(g) == {"all", "learned", "pixel"}
    np.testing.assert_array_equal(g["all"], np.arange(model.config.n_features))
    assert not set(g["learned"]) & set(g["pixel"])
    assert sorted(set(g["learned"]) | set(g["pixel"])) == list(g["all"])
    assert len(g["learned"]) == model.config.n_learned_features
    assert set(g["pixel"]) >= set(range(model.config.n_features - 4, model.config.n_features))  # the Haar block
    g = heads.feature_groups(CausalIQA(CausalConfig(pixel_branch=False, haar=False)))
    assert set(g) == {"all", "learned"}
    np.testing.assert_array_equal(np.sort(g["learned"]), g["all"])
    g = heads.feature_groups(CausalIQA(CausalConfig(pixel_branch=False, haar=True)))
    np.testing.assert_array_equal(g["pixel"], np.arange(g["all"][-1] - 3, g["all"][-1] + 1))
    m = CausalIQA(CausalConfig(masked_haar=True))
    g = heads.feature_groups(m)
    assert set(g) == {"all", "learned", "pixel", "masked_haar"}
    np.testing.assert_array_equal(g["masked_haar"], [m.config.n_features - 2, m.config.n_features - 1])
    assert sorted(set(g["learned"]) | set(g["pixel"]) | set(g["masked_haar"])) == list(g["all"])
    assert not set(g["pixel"]) & set(g["masked_haar"])


def test_select_few_label_prefers_the_group_that_carries_the_relation() -> None:
    dev = synthetic_dev()
    noise = np.random.default_rng(1).exponential(1.0, (len(dev.mos), 2))
    dev = selection.DevFeatures(np.c_[noise, dev.features], dev.mos, dev.type_ids, dev.levels, dev.ref_names)
    groups = {"noise": np.arange(2), "signal": np.arange(2, 5)}
    best, group, softness, ridge = selection.select_few_label(dev, np.ones(5), groups)
    assert group == "signal" and best["signal"] > best["noise"] + 0.3
    assert softness in selection.SOFTNESS_GRID and ridge in selection.RIDGE_GRID
    chosen = selection.leave_one_type_out(dev, np.ones(5) * softness, ridge=ridge, columns=groups["signal"])
    assert round(srcc(chosen, dev.mos), 4) == best["signal"]  # the reported figure is the chosen setting's


def test_head_ridge_reads_the_metadata_and_defaults_for_old_files() -> None:
    assert selection.head_ridge({"heads": {"few_label_ridge": 0.1}}) == 0.1
    assert selection.head_ridge({"heads": {"few_label_group": "all"}}) == selection.RIDGE
    assert selection.head_ridge({}) == selection.RIDGE


# -- CLI --------------------------------------------------------------------------------------------------------------
def test_cli_train_help() -> None:
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "--robust" in result.stdout and "--steps" in result.stdout and "--widths" in result.stdout
    assert "--refit-heads" in result.stdout and "--device" in result.stdout


# -- CLI: where `iqa train` writes --------------------------------------------------------------------------------
CONDITIONS = """type_id,type_name,level,parameter,mean_score
1,gaussian blur,2,0.5,4.38
1,gaussian blur,4,2.0,1.87
3,motion blur,2,2.0,4.10
3,motion blur,4,6.0,2.18
11,white noise,2,0.002,3.90
11,white noise,4,0.01,2.40
"""


def shipped_bytes() -> dict[str, bytes]:
    from iqa_cli.weights import weights_dir

    return {p.name: p.read_bytes() for p in sorted(weights_dir().iterdir()) if p.is_file()}


@pytest.fixture
def tiny_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shared-data folder of three 112x112 training images and six development conditions, and the recipe's
    sizes cut down so `iqa train --steps 1` runs the whole recipe (training, features, heads, writing) in seconds."""
    from conftest import write_png

    data = tmp_path / "data"
    for sub in ("bsds500/val", "bsds500/test", "urban100"):
        (data / "pristine" / sub).mkdir(parents=True)
    for i in range(3):
        write_png(data / "pristine" / "bsds500" / "train" / f"{i}.png", textured(112, 112, 3, seed=i))
    (data / "labels").mkdir()
    (data / "labels" / "kadid_dev_conditions.csv").write_text(CONDITIONS)
    monkeypatch.setenv("IQA_SHARED_DATA", str(data))
    monkeypatch.setattr(recipe, "TrainConfig", functools.partial(TrainConfig, batch=2, crop=64))
    monkeypatch.setattr(recipe, "synthetic_features", functools.partial(recipe.synthetic_features, n=16, crop=64))
    return tmp_path


def train_args(workdir: Path, *extra: str) -> list[str]:
    return ["train", "--steps", "1", "--widths", "4,8,12", "--workdir", str(workdir), *extra]


def test_cli_train_writes_a_run_folder_deterministically_and_never_the_shipped_weights(tiny_recipe: Path) -> None:
    before = shipped_bytes()
    runner = CliRunner()
    first = runner.invoke(app, train_args(tiny_recipe / "run1"), env={"COLUMNS": "300"})
    assert first.exit_code == 0, first.output
    out = tiny_recipe / "run1" / "weights" / "causal-iqa.safetensors"
    summary = json.loads(first.stdout)
    assert summary["weights"] == str(out) and out.is_file()
    assert f"iqa: wrote {out} (sha256 {summary['sha256'][:12]}" in first.stderr
    assert "shipped weights untouched" in first.stderr
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert manifest["files"]["causal-iqa.safetensors"]["sha256"] == summary["sha256"] == file_sha256(out)
    assert shipped_bytes() == before

    # the same recipe again (another run folder): the same bytes
    second = runner.invoke(app, train_args(tiny_recipe / "run2"))
    assert second.exit_code == 0, second.output
    assert (tiny_recipe / "run2" / "weights" / "causal-iqa.safetensors").read_bytes() == out.read_bytes()
    meta = read_weights(out)[1]
    assert str(tiny_recipe) not in json.dumps(meta)  # no machine path in the metadata

    # the same run folder again: refused before any work, one line; --force overwrites it
    out.write_bytes(b"keep")
    again = runner.invoke(app, train_args(tiny_recipe / "run1"), env={"COLUMNS": "300"})
    assert again.exit_code == 2 and again.stdout == ""
    assert again.stderr.startswith("iqa: error: ") and again.stderr.count("\n") == 1
    assert "already exists — pass --force" in again.stderr and out.read_bytes() == b"keep"
    forced = runner.invoke(app, train_args(tiny_recipe / "run1", "--force"))
    assert forced.exit_code == 0, forced.output
    assert file_sha256(out) == summary["sha256"]
    assert shipped_bytes() == before


def test_cli_train_robust_makes_the_gated_jnd_model_with_its_settings_in_the_config(tiny_recipe: Path) -> None:
    from iqa_cli.api import load_model
    from iqa_cli.train.robust_recipe import RobustSettings
    from iqa_cli.weights import weights_dir

    before = shipped_bytes()
    args = ["train", "--robust", "--jnd", "3", "--rank-keep", "0.8", "--workdir", str(tiny_recipe / "rob")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    out = tiny_recipe / "rob" / "weights" / "causal-iqa-robust.safetensors"
    assert summary["weights"] == str(out) and file_sha256(out) == summary["sha256"]
    assert shipped_bytes() == before
    # the settings asked for land in the config (the others are the shipped robust model's) and in the recipe
    meta = read_weights(out)[1]
    shipped_meta = read_weights(weights_dir() / out.name)[1]
    cfg, shipped_cfg = meta["config"], shipped_meta["config"]
    assert (cfg["jnd"], cfg["rank_keep"]) == (3.0, 0.8) and cfg["masked_haar"] and cfg["head"] == "few_label"
    same = ("rank_tau", "visibility", "pool_weight")
    assert {k: cfg[k] for k in same} == {k: shipped_cfg[k] for k in same}
    assert {k: meta["recipe"][k] for k in ("jnd", "rank_keep", *same)} == {
        "jnd": 3.0,
        "rank_keep": 0.8,
    } | {k: shipped_cfg[k] for k in same}
    assert meta["recipe"]["command"].startswith("iqa train --robust --visibility 1 --rank-keep 0.8")
    assert {k: shipped_cfg[k] for k in RobustSettings().to_dict()} == RobustSettings().to_dict()  # defaults = shipped
    assert summary["train_dev_pairs"] == 18  # 3 images x 6 conditions
    # the block's learned parameters are the base's (the shipped default); one weight, on the calibrated feature
    model = load_model("causal-iqa-robust", weights=out, device="cpu").module
    base = load_model("causal-iqa", device="cpu").module
    for name in ("loss_weight", "chroma_visibility", "masking_gain", "content_energy", "reference_energy"):
        assert torch.equal(getattr(model.masked_haar, name), getattr(base.masked_haar, name)), name
    weights = model.fl_weights.numpy()
    assert weights[-1] > 0 and not weights[:-1].any()
    # the jnd guarantee: no perturbation of <= 3 levels makes an identical pair differ; 6 levels does
    scorer = load_model("causal-iqa-robust", weights=out, device="cpu")
    ref = np.rint(textured(64, 64, 3, seed=7) * 255)
    y, x = np.mgrid[0:64, 0:64]
    checker = np.repeat(np.where((x // 4 + y // 4) % 2 == 0, 1, -1)[..., None], 3, axis=2)  # moves Haar 4 the most
    noise = np.random.default_rng(0).integers(-1, 2, ref.shape)  # -1, 0 or +1 per pixel and channel

    def score(pattern: np.ndarray, levels: int) -> float:
        dist = np.clip(ref + levels * pattern, 0, 255)
        t = [torch.from_numpy(v / 255.0).permute(2, 0, 1)[None].float() for v in (ref, dist)]
        with torch.inference_mode():
            return float(scorer.score_tensors(*t)[0])

    assert [score(p, n) for p in (checker, noise) for n in (1, 2, 3)] == [100.0] * 6
    assert score(checker, 6) < 99.0


def test_cli_train_robust_options_need_robust_and_sane_values() -> None:
    for args, hint in (
        (["--jnd", "3"], "--jnd"),
        (["--robust", "--rank-keep", "0"], "--rank-keep"),
        (["--robust", "--rank-tau", "0"], "--rank-tau"),
        (["--robust", "--pool-weight", "min"], "--pool-weight"),
    ):
        result = CliRunner().invoke(app, ["train", *args, "--workdir", "/nonexistent/never-made"])
        assert result.exit_code == 2 and hint in result.output, result.output


@pytest.mark.parametrize("mode", [[], ["--robust"], ["--refit-heads"]])
def test_cli_train_refuses_the_shipped_folder_without_force(mode: list[str], tmp_path: Path) -> None:
    from iqa_cli.weights import weights_dir

    before = shipped_bytes()
    args = ["train", *mode, "--out", str(weights_dir()), "--workdir", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("iqa: error: --out ") and result.stderr.count("\n") == 1
    assert "is the shipped weights folder" in result.stderr and "--force" in result.stderr
    assert shipped_bytes() == before
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize(
    ("mode", "name", "message"),
    [
        (["--robust"], "causal-iqa-robust.safetensors", "pass --force to overwrite it"),
        (["--refit-heads"], "causal-iqa.safetensors", "pass --force to refit its heads in place"),
    ],
)
def test_cli_train_modes_refuse_existing_weights_without_force(
    mode: list[str], name: str, message: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(b"keep")
    result = CliRunner().invoke(
        app, ["train", *mode, "--out", str(out), "--workdir", str(tmp_path / "run")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("iqa: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and (out / name).read_bytes() == b"keep"


def test_denoiser_trainer_refuses_the_shipped_folder_without_force(capsys: pytest.CaptureFixture[str]) -> None:
    from iqa_cli.train import denoiser
    from iqa_cli.weights import weights_dir

    before = shipped_bytes()
    with pytest.raises(SystemExit) as info:
        denoiser.main(["--out", str(weights_dir()), "--steps", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("iqa: error: --out ") and err.count("\n") == 1 and "--force" in err
    assert shipped_bytes() == before


def test_shipped_folder_check_and_out_that_is_a_file(tmp_path: Path) -> None:
    from iqa_cli.errors import UsageError
    from iqa_cli.weights import weights_dir

    assert publish.is_shipped_folder(weights_dir()) and publish.is_shipped_folder(weights_dir() / ".." / "weights")
    assert not publish.is_shipped_folder(tmp_path)
    publish.check_out_dir(weights_dir(), "causal-iqa.safetensors", force=True)  # asked for: allowed
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is a file — pass a folder"):
        publish.check_out_dir(tmp_path / "f", "causal-iqa.safetensors", force=True)


@pytest.mark.parametrize("widths", ["8,16", "8,16,x", "7,16,24", "0,16,24"])
def test_cli_train_refuses_bad_widths(widths: str) -> None:
    result = CliRunner().invoke(app, ["train", "--widths", widths, "--workdir", "/nonexistent/never-made"])
    assert result.exit_code == 2
    assert "--widths" in result.output


def test_cli_train_device_that_is_not_here_is_an_error_not_a_fallback() -> None:
    if torch.cuda.is_available():
        args = ["train", "--robust", "--device", "cuda", "--workdir", "/nonexistent/never-made"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "--device" in result.output  # the robust stage runs on the CPU only
    else:
        result = CliRunner().invoke(app, ["train", "--device", "cuda", "--workdir", "/nonexistent/never-made"])
        assert result.exit_code != 0 and "no CUDA GPU" in result.output


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU available")
def test_train_on_cuda_returns_a_cpu_model_close_to_the_cpu_run(trained: dict, tmp_path: Path) -> None:
    calls, on_step = recorder()
    ckpt = tmp_path / "ckpt.safetensors"
    model = selfsup.train(
        tiny_images(), TrainConfig(**TINY), checkpoint=ckpt, checkpoint_every=2, on_step=on_step, device="cuda"
    )
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert [s for s, _ in calls] == [1, 2, 3]
    for (_, gpu), (_, cpu) in zip(calls, trained["calls"]):
        assert gpu["total"] == pytest.approx(cpu["total"], rel=1e-2)
    # resuming the GPU run from its checkpoint continues on the GPU
    resumed_calls, on_resumed = recorder()
    selfsup.train(
        tiny_images(),
        TrainConfig(**(TINY | {"steps": 4})),
        checkpoint=ckpt,
        checkpoint_every=2,
        on_step=on_resumed,
        device="cuda",
    )
    assert [s for s, _ in resumed_calls] == [4]

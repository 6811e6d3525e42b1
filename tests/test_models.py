"""Model tests: every registered model runs forward, identical pairs get the best score, baselines match the
published values, the causal model's tiling, masking and decoder behave."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import degrade, random_causal_model, textured

from iqa_cli.api import Scorer
from iqa_cli.errors import ImageError
from iqa_cli.io import read_image, to_tensor
from iqa_cli.models.causal import CausalConfig, CausalIQA
from iqa_cli.models.causal.learned import MaskingModule
from iqa_cli.models.registry import ModelSpec, list_specs
from iqa_cli.train.decoder import InterventionDecoder

SPECS = list_specs()


def _build(spec: ModelSpec) -> torch.nn.Module:
    """The module of a spec; learned models get seeded random weights (and a non-constant head)."""
    return random_causal_model(0, spec.factory) if "learned" in spec.tags else spec.factory().eval()


def _best(spec: ModelSpec) -> float:
    if spec.scale is None:  # psnr: identical images are capped at 100 dB
        return 100.0
    return spec.scale[1] if spec.higher_is_better else spec.scale[0]


def _pair(size: int, batch: int = 2, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    ref = torch.stack([to_tensor(textured(size, size, channels, seed=s))[0] for s in range(batch)])
    dist = torch.stack(
        [to_tensor(degrade(textured(size, size, channels, seed=s), 0.1, seed=s))[0] for s in range(batch)]
    )
    return ref, dist


def test_every_model_is_covered() -> None:
    assert {"causal-iqa", "psnr", "ssim", "ms-ssim"} <= {s.name for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_forward_shape_and_identical_is_best(spec: ModelSpec, device: str) -> None:
    model = _build(spec).to(device)
    size = max(spec.min_size, 32)
    ref, dist = (t.to(device) for t in _pair(size))
    with torch.inference_mode():
        scores = model(ref, dist)
        same = model(ref, ref.clone())
    assert scores.shape == (2,) and same.shape == (2,)
    assert torch.isfinite(scores).all()
    best = _best(spec)
    assert same.cpu().tolist() == pytest.approx([best, best], abs=1e-4)
    worse = scores < same if spec.higher_is_better else scores > same
    assert worse.all(), (spec.name, scores, same)
    if spec.scale is not None:
        assert ((scores >= spec.scale[0]) & (scores <= spec.scale[1])).all()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_min_size_is_what_the_model_accepts(spec: ModelSpec) -> None:
    scorer = Scorer(spec, _build(spec), torch.device("cpu"))
    n = spec.min_size
    ok = scorer.score(textured(n, n + 3), degrade(textured(n, n + 3), 0.05))
    assert np.isfinite(ok)
    if n > 1:
        with pytest.raises(ImageError, match=f"smaller than model '{spec.name}' accepts"):
            scorer.score(textured(n - 1, n + 3), textured(n - 1, n + 3))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.differentiable], ids=lambda s: s.name)
def test_differentiable_models_give_gradients_to_dist(spec: ModelSpec) -> None:
    model = _build(spec)
    ref, dist = _pair(max(spec.min_size, 32), batch=1)
    dist.requires_grad_(True)
    model(ref, dist).sum().backward()
    assert dist.grad is not None and torch.isfinite(dist.grad).all() and dist.grad.abs().sum() > 0


def test_causal_model_accepts_grey_input() -> None:
    model = random_causal_model(0)
    ref, dist = _pair(40, batch=1, channels=1)
    with torch.inference_mode():
        grey = model(ref, dist)
        rgb = model(ref.expand(-1, 3, -1, -1), dist.expand(-1, 3, -1, -1))
        same = model(ref, ref)
    assert grey.shape == (1,)
    assert torch.allclose(grey, rgb)
    assert same.item() == pytest.approx(100.0, abs=1e-4) and grey.item() < same.item()


def test_causal_model_rejects_other_channel_counts() -> None:
    x = torch.zeros(1, 2, 32, 32)
    with pytest.raises(ValueError, match="expected 1 or 3 channels, got 2"):
        random_causal_model(0)(x, x)


# ------------------------------------------------------------------------------------------------ calibration

CALIBRATION = {"psnr": ("psnr", 0.01), "ssim": ("ssim", 0.005), "ms-ssim": ("ms_ssim", 0.01)}


@pytest.mark.data
@pytest.mark.parametrize("model", list(CALIBRATION))
def test_baselines_match_the_official_values(shared_data: Path, model: str) -> None:
    root = shared_data / "samples" / "tid2013_samples"
    table = root / "pyiqa_calibration_results_official.csv"
    if not table.is_file():
        pytest.skip(f"{table} is absent")
    row_name, tolerance = CALIBRATION[model]
    with table.open(newline="") as fh:
        rows = {r[0]: r[1:] for r in csv.reader(fh)}
    header, official = rows["Method"], [float(v) for v in rows[row_name]]
    spec = next(s for s in SPECS if s.name == model)
    module = spec.factory().eval()
    for column, expected in zip(header, official):
        stem = Path(column).stem  # "I03"
        ref = read_image(root / "reference_images" / f"{stem}.BMP").pixels
        dist = read_image(root / "pyiqa_calibration_distorted" / f"{stem}_dist.bmp").pixels
        with torch.inference_mode():
            value = module(to_tensor(ref), to_tensor(dist)).item()
        assert value == pytest.approx(expected, abs=tolerance), (model, stem, value, expected)


# HaarPSI has no row in that table: these are piq 0.8.0's ``haarpsi`` (a port of the authors' code) on the same
# pairs, computed once with piq outside this project (it is not a dependency).
HAARPSI_PIQ = {"I03": 0.33320, "I04": 0.42798, "I06": 0.83389, "I08": 0.71030, "I19": 0.44596}


@pytest.mark.data
def test_haarpsi_matches_an_independent_implementation(shared_data: Path) -> None:
    root = shared_data / "samples" / "tid2013_samples"
    if not (root / "pyiqa_calibration_distorted").is_dir():
        pytest.skip(f"{root} is absent")
    module = next(s for s in SPECS if s.name == "haarpsi").factory().eval()
    for stem, expected in HAARPSI_PIQ.items():
        ref = read_image(root / "reference_images" / f"{stem}.BMP").pixels
        dist = read_image(root / "pyiqa_calibration_distorted" / f"{stem}_dist.bmp").pixels
        with torch.inference_mode():
            value = module(to_tensor(ref), to_tensor(dist)).item()
        assert value == pytest.approx(expected, abs=1e-4), (stem, value, expected)


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 8), (33, 47), (64, 96)])
def test_haar_magnitudes_are_the_haar_filter_convolutions(size: tuple[int, int]) -> None:
    from iqa_cli.models.functional import haar_kernels, haar_magnitudes

    lum = 255.0 * torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for mag, kernel in zip(haar_magnitudes(lum, 3), haar_kernels(3)):
        n = kernel.shape[-1]
        conv = torch.nn.functional.conv2d(torch.nn.functional.pad(lum, (n // 2 - 1, n // 2) * 2), kernel.double())
        torch.testing.assert_close(mag, conv.abs(), rtol=0.0, atol=1e-10)


def test_haarpsi_sees_a_colour_only_change_and_grey_ignores_it() -> None:
    module = next(s for s in SPECS if s.name == "haarpsi").factory().eval()
    ref = to_tensor(textured(48, 48, 3, seed=1))
    lum = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    # same luminance, chroma halved: only the I/Q term can see it
    dist = (ref - (ref * lum).sum(1, keepdim=True)) * 0.5 + (ref * lum).sum(1, keepdim=True)
    with torch.inference_mode():
        colour_score = module(ref, dist).item()
        grey_score = module((ref * lum).sum(1, keepdim=True), (dist * lum).sum(1, keepdim=True)).item()
    assert colour_score < 0.99
    assert grey_score == pytest.approx(1.0, abs=1e-5)


# ------------------------------------------------------------------------------------------------ causal model


def test_tiled_pooled_features_match_untiled() -> None:
    model = random_causal_model(1)
    ref = to_tensor(textured(300, 420, seed=4))
    dist = to_tensor(degrade(textured(300, 420, seed=4), 0.08, seed=5))
    with torch.inference_mode():
        whole = model.pooled_features(ref, dist)
        tiled = model.tiled_pooled_features(ref, dist, tile=128)
    assert tiled.shape == whole.shape == (1, model.config.n_features)
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-6)
    assert model.score_features(tiled).item() == pytest.approx(model.score_features(whole).item(), abs=1e-3)


def test_tiled_pooled_features_refuse_unaligned_tiles() -> None:
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="multiples of 16"):
        random_causal_model(0).tiled_pooled_features(x, x, tile=100)


def test_degradation_of_a_reference_against_itself_is_exactly_null() -> None:
    model = random_causal_model(2)
    ref = to_tensor(textured(48, 64, seed=2))
    with torch.inference_mode():
        masked, codes = model.masked_degradation(ref, ref.clone())
    assert all(torch.equal(d, torch.zeros_like(d)) for d in codes["d"])
    assert all(torch.equal(m, torch.zeros_like(m)) for m in masked)


def test_haar_block_is_exactly_null_for_identical_images_and_tracks_haarpsi() -> None:
    from iqa_cli.models.baselines import HaarPSI
    from iqa_cli.models.causal.fixed import HaarDegradation

    model = random_causal_model(3)
    assert model.config.haar and model.config.n_features == 2 * sum(model.config.map_channels) + 4
    ref = to_tensor(textured(64, 96, seed=3))
    with torch.inference_mode():
        assert torch.equal(model.pooled_features(ref, ref.clone()), torch.zeros(1, model.config.n_features))
        assert model(ref, ref.clone()).item() == 100.0
        losses, haarpsi = [], []
        grey_noise = np.random.default_rng(4).standard_normal((64, 96, 1)).astype(np.float32)
        for level in (0.02, 0.05, 0.1, 0.2):
            # the same noise in R, G and B changes luminance only (I and Q are compared signed, HaarPSI uses |I|, |Q|)
            dist = to_tensor(np.clip(textured(64, 96, seed=3) + level * grey_noise, 0.0, 1.0))
            block = model.pooled_features(ref, dist)[0, -4:]
            assert (block > 0).all()
            losses.append(block[-1].item())
            haarpsi.append(HaarPSI()(ref, dist).item())
    # on a luminance change the model's 1 - HaarPSI differs from the baseline only at the borders (padding)
    np.testing.assert_allclose(losses, 1.0 - np.array(haarpsi), atol=0.01)
    assert losses == sorted(losses)
    assert HaarDegradation.FEATURES == 4


def test_haar_block_counts_a_hue_inversion_as_a_loss() -> None:
    model = random_causal_model(3)
    ref = to_tensor(textured(64, 96, seed=5))
    lum = (ref * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.inference_mode():
        chroma_loss = [model.pooled_features(ref, lum + k * (ref - lum))[0, -2].item() for k in (0.8, 0.4, 0.0, -0.4)]
    # HaarPSI's |I|, |Q| would put -0.4 level with 0.4; signed chroma keeps the loss growing
    assert chroma_loss == sorted(chroma_loss), chroma_loss


def test_content_code_is_read_from_the_reference_alone() -> None:
    model = random_causal_model(3)
    ref = to_tensor(textured(48, 48, seed=1))
    with torch.inference_mode():
        _, a = model.masked_degradation(ref, to_tensor(degrade(textured(48, 48, seed=1), 0.05, seed=1)))
        _, b = model.masked_degradation(ref, to_tensor(degrade(textured(48, 48, seed=1), 0.3, seed=2)))
    assert all(torch.equal(x, y) for x, y in zip(a["c_ref"], b["c_ref"]))
    assert not all(torch.equal(x, y) for x, y in zip(a["d"], b["d"]))


def test_masking_gain_is_in_zero_one() -> None:
    torch.manual_seed(0)
    masking = MaskingModule(content_ch=6, degradation_ch=5)
    assert masking.gain.bias is not None
    with torch.no_grad():  # wide random gain weights, so the gain spans much of (0, 1]
        masking.gain.weight.normal_(0.0, 0.3)
        masking.gain.bias.normal_(0.0, 1.0)
    content = torch.randn(2, 6, 12, 12)
    degradation = torch.randn(2, 5, 12, 12)
    with torch.no_grad():
        gain = torch.exp(-torch.nn.functional.softplus(masking.gain(content)))
        masked = masking(content, degradation)
    assert (gain > 0).all() and (gain <= 1).all()
    assert gain.min() < 0.2 and gain.max() > 0.6  # the content really modulates it
    from iqa_cli.models.functional import smooth_abs

    torch.testing.assert_close(masked, smooth_abs(degradation) * gain)
    assert (masked >= 0).all() and (masked <= smooth_abs(degradation)).all()
    assert torch.equal(masking(content, torch.zeros_like(degradation)), torch.zeros_like(degradation))


def test_intervention_decoder_output_shape() -> None:
    cfg = CausalConfig()
    model = CausalIQA(cfg).eval()
    decoder = InterventionDecoder(cfg).eval()
    ref = to_tensor(textured(50, 70, seed=0))
    dist = to_tensor(degrade(textured(50, 70, seed=0), 0.1))
    with torch.no_grad():
        _, codes = model.masked_degradation(ref, dist)
        residual = decoder(codes["c_ref"], codes["d"], size=(50, 70))
        null = decoder(codes["c_ref"], [torch.zeros_like(d) for d in codes["d"]], size=(50, 70))
    assert residual.shape == null.shape == (1, 3, 50, 70)
    assert torch.isfinite(residual).all()


def test_config_round_trips_through_a_dict() -> None:
    cfg = CausalConfig(widths=(8, 16, 24), content=(4, 8, 12), degradation=(4, 8, 12), head="label_free")
    assert CausalConfig.from_dict(cfg.to_dict()) == cfg
    assert CausalIQA(cfg.to_dict()).config == cfg
    with pytest.raises(ValueError, match="unknown head"):
        CausalIQA(CausalConfig(head="nope"))


def test_visibility_floor_mutes_faint_changes_more_than_strong_ones() -> None:
    base = random_causal_model(3)
    seen = CausalIQA(CausalConfig(visibility=8.0))
    seen.load_state_dict(base.state_dict())
    assert CausalConfig.from_dict({k: v for k, v in base.config.to_dict().items() if k != "visibility"}) == base.config
    fixed = np.arange(2 * sum(base.config.degradation), base.config.n_features)  # stds, pixel maps and Haar block
    fixed = fixed[fixed >= sum(base.config.degradation)]
    ref_np = textured(64, 96, seed=6)
    ref = to_tensor(ref_np)
    ratios = []
    with torch.inference_mode():
        assert torch.equal(seen.pooled_features(ref, ref.clone()), torch.zeros(1, base.config.n_features))
        for level in (1.0 / 255.0, 0.2):
            dist = to_tensor(degrade(ref_np, level, seed=7))
            a, b = base.pooled_features(ref, dist)[0], seen.pooled_features(ref, dist)[0]
            learned = np.r_[0 : sum(base.config.degradation)]
            torch.testing.assert_close(a[learned], b[learned])  # the learned part is untouched
            haar_loss = b[-1].item() / a[-1].item()
            pixel_mean = b[sum(base.config.degradation) : sum(base.config.map_channels)].sum().item() / (
                a[sum(base.config.degradation) : sum(base.config.map_channels)].sum().item()
            )
            assert 0.0 < haar_loss < 1.0 and 0.0 < pixel_mean < 1.0
            ratios.append((haar_loss, pixel_mean))
    # a 1-level perturbation keeps a far smaller share of its features than heavy noise does
    assert ratios[0][0] < 0.6 * ratios[1][0] and ratios[0][1] < 0.9 * ratios[1][1], ratios


def test_fit_cross_validation_predicts_with_the_model_head_formula() -> None:
    """``iqa fit``'s out-of-fold predictions are the model's few-label scores, also below the floor (soft tail, not
    a clip at 0), so its cross-validated figures describe the model it writes."""
    from iqa_cli.models.causal.heads import FewLabelHead, write_heads
    from iqa_cli.train.heads import predict

    model = CausalIQA().eval()
    n = model.config.n_features
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 2.0, n)
    head = FewLabelHead(rng.uniform(0.0, 0.05, n).astype(np.float32), 5.0, 1.0)
    write_heads(model, scale=scale, few_label=head)
    feats = np.outer([0.0, 0.2, 1.0, 2.6, 3.0], rng.uniform(0.5, 1.5, n)).astype(np.float32)
    with torch.no_grad():
        expected = model.head_few_label(torch.from_numpy(feats)).numpy()
    got = predict(head, feats, model.feature_scale.numpy().astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert got[0] == pytest.approx(100.0)
    assert (got[-2:] > 0).all() and got[-1] < got[-2] < 5.0  # below the floor: distinct, positive, not clipped


@pytest.mark.parametrize("size", [(17, 23), (32, 48)])
def test_functional_means_and_gradients_equal_their_textbook_forms(size: tuple[int, int]) -> None:
    """The shifted-slice / separable forms in models/functional.py give the pooling and convolution values."""
    import torch.nn.functional as F

    from iqa_cli.models import functional as fn

    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(fn.half_mean(x), F.avg_pool2d(fn.pad_even(x), 2))
    torch.testing.assert_close(fn.mean_2x2(x), F.avg_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1))
    torch.testing.assert_close(fn.box_mean(x, 7), F.avg_pool2d(F.pad(x, (3,) * 4, mode="replicate"), 7, stride=1))
    prewitt = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=x.dtype) / 3.0
    padded = F.pad(x[:, :1], (1, 1, 1, 1), mode="replicate")
    gx, gy = F.conv2d(padded, prewitt.view(1, 1, 3, 3)), F.conv2d(padded, prewitt.t().reshape(1, 1, 3, 3))
    torch.testing.assert_close(fn.gradient_magnitude(x[:, :1]), torch.sqrt(gx * gx + gy * gy + 1e-12))
    a, b = x[0], x[1]
    torch.testing.assert_close(fn.similarity(a, b, 0.01) + fn.dissimilarity(a, b, 0.01), torch.ones_like(a))
    assert torch.equal(fn.dissimilarity(a, a, 0.01), torch.zeros_like(a))


def test_with_config_keeps_the_weights_and_refuses_another_shape() -> None:
    model = random_causal_model(0)
    other = model.with_config(head="label_free")
    assert other.config == CausalConfig(head="label_free")
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError):
        model.with_config(widths=(8, 16, 24))


def test_score_tiles_large_images_with_the_same_result() -> None:
    model = random_causal_model(0)
    ref = to_tensor(textured(64, 96, seed=0))
    dist = to_tensor(degrade(textured(64, 96, seed=0), 0.1, seed=1))
    with torch.no_grad():
        whole = model.score(ref, dist)
        assert torch.equal(whole, model(ref, dist))  # below tile_pixels: the forward pass
        model.tile_pixels = 32 * 32
        seen: list[object] = []
        tiles = model.tiled_pooled_features

        def small_tiles(r: torch.Tensor, d: torch.Tensor, branches: object) -> torch.Tensor:
            seen.append(branches)
            return tiles(r, d, tile=32, branches=branches)  # 6 tiles of 32x32 (default halo)

        model.tiled_pooled_features = small_tiles
        tiled = model.score(ref, dist)
    assert seen == [model.needed_branches()]
    assert tiled.item() == pytest.approx(whole.item(), abs=1e-3)


@pytest.mark.parametrize("size", [(2, 2), (17, 23), (48, 64)])
def test_half_mean_without_gradients_equals_the_differentiable_one(size: tuple[int, int]) -> None:
    """OpenCV's area resize (no gradient recorded, float32 CPU) against the slice sums, for odd sizes too."""
    from iqa_cli.models import functional as fn

    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fast = fn.half_mean(x)
        both = fn.half_means(x, x[:1])
        plane = fn.half_mean(x[0])
    slow = fn.half_mean(x.requires_grad_(True))
    assert slow.requires_grad and fast.shape == slow.shape == (2, 3, (size[0] + 1) // 2, (size[1] + 1) // 2)
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-6, atol=1e-7)
    assert torch.equal(both, torch.cat([fast, fast[:1]]))
    assert torch.equal(plane, fast[0])


def test_haarpsi_loss_is_the_textbook_form_without_its_float32_cancellation() -> None:
    """``1 - HaarPSI`` from a deficit: in float64 the textbook difference of squared logits; in float32 within a few
    ulps of it (the textbook form computed in float32 is off by ~1e-5 relative near small deficits)."""
    import math

    from iqa_cli.models.causal.fixed import HAARPSI_ALPHA, haarpsi_loss

    def textbook(d: torch.Tensor) -> torch.Tensor:
        top = 1.0 / (1.0 + math.exp(-HAARPSI_ALPHA))
        ratio = top - d.clamp(0.0, top - 0.5 - 1e-6)
        return (torch.log(ratio / (1.0 - ratio)) / HAARPSI_ALPHA) ** 2

    d = torch.tensor([1e-7, 1e-5, 3e-4, 7.5e-4, 0.01, 0.1, 0.3, 0.48, 0.7], dtype=torch.float64)
    expected = textbook(torch.zeros_like(d)) - textbook(d)
    torch.testing.assert_close(haarpsi_loss(d), expected, rtol=1e-8, atol=0.0)  # (float64 cancels too, less)
    torch.testing.assert_close(haarpsi_loss(d.float()).double(), expected, rtol=1e-6, atol=0.0)
    assert haarpsi_loss(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]

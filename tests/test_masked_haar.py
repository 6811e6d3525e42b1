"""The masked Haar block: its fixed special case is HaarPSI, its learned parameters act as documented, it pools and
prunes exactly, and the nested leave-one-type-out protocol never lets a held-out type choose its own setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import textured

from iqa_cli.models.baselines import HaarPSI
from iqa_cli.models.causal import CausalConfig, CausalIQA
from iqa_cli.models.causal.masked_haar import MaskedHaar
from iqa_cli.train import masked


def _texture(h: int = 96, w: int = 112, seed: int = 0) -> torch.Tensor:
    """A grey image, smooth on the left half and textured on the right half, replicated to RGB."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.2, 0.8, w).expand(h, w).clone()
    x[:, w // 2 :] += 0.2 * (torch.rand(h, w - w // 2, generator=g) - 0.5)
    return x.clamp(0, 1).expand(1, 3, h, w).clone()


def _noisy(x: torch.Tensor, sigma: float = 0.03, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = sigma * torch.randn(x.shape[-2:], generator=g)
    return (x + n).clamp(0, 1)


def _blurred(x: torch.Tensor) -> torch.Tensor:
    k = torch.ones(3, 1, 5, 5) / 25.0
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k, groups=3)


def _features(block: MaskedHaar, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return block.features(block(ref, dist).mean(dim=(2, 3)))[0]


def _set(block: MaskedHaar, **values: float) -> MaskedHaar:
    with torch.no_grad():
        for k, v in values.items():
            getattr(block, k).fill_(v)
    return block


@pytest.mark.parametrize("make", [_noisy, _blurred])
def test_fixed_special_case_is_haarpsi(make) -> None:
    ref = _texture()
    dist = make(ref)
    feats = _features(MaskedHaar(), ref, dist)
    expected = 1.0 - float(HaarPSI()(ref, dist))  # grey in RGB: I and Q are 0, signed or not
    assert feats.tolist() == pytest.approx([expected, expected], abs=1e-5)


def test_identical_images_give_exact_zeros_whatever_the_parameters() -> None:
    ref = _texture()
    block = _set(MaskedHaar(), loss_weight=2.0, chroma_visibility=3.0, masking_gain=4.0, content_energy=0.5)
    assert torch.equal(_features(block, ref, ref), torch.zeros(2))


def test_loss_weight_raises_only_the_calibrated_deficit_of_removed_structure() -> None:
    ref = _texture()
    blur = _blurred(ref)
    base = _features(MaskedHaar(), ref, blur)
    heavier = _features(_set(MaskedHaar(), loss_weight=2.0), ref, blur)
    assert heavier[0] == pytest.approx(float(base[0]))  # label-free feature: no degradation weights
    assert heavier[1] > base[1] * 1.2


def test_masking_hides_added_noise_more_in_texture_than_in_smooth_areas() -> None:
    ref = _texture()
    dist = _noisy(ref)
    block = _set(MaskedHaar(), masking_gain=1.0)
    with torch.no_grad():
        plain, hidden = MaskedHaar()(ref, dist)[0, 0], block(ref, dist)[0, 0]
    w = plain.shape[-1]
    smooth, textured = slice(4, w // 2 - 4), slice(w // 2 + 4, -4)

    def hidden_share(cols: slice) -> float:  # the share of the deficit that masking removes
        return float(1.0 - hidden[4:-4, cols].mean() / plain[4:-4, cols].mean())  # away from the zero padding

    assert hidden_share(textured) > 0.2
    assert hidden_share(textured) > 3 * hidden_share(smooth)


def test_a_low_contrast_domain_lowers_the_visibility_constant() -> None:
    ref = _texture() * 0.2 + 0.4  # a low-contrast version of the same content
    dist = _noisy(ref, 0.01)
    natural = _features(MaskedHaar(), ref, dist)
    adapted = _features(_set(MaskedHaar(), content_energy=0.04), ref, dist)  # the domain's energy / natural = 0.04
    assert adapted[0] > natural[0]


def test_chroma_visibility_lowers_the_calibrated_chroma_deficit() -> None:
    ref = _texture()
    dist = ref.clone()
    dist[:, 0] = (dist[:, 0] + 0.05).clamp(0, 1)  # a colour shift
    base = _features(MaskedHaar(), ref, dist)
    dull = _features(_set(MaskedHaar(), chroma_visibility=4.0), ref, dist)
    assert dull[1] < base[1]
    assert dull[0] == pytest.approx(float(base[0]))


def _masked_model() -> CausalIQA:
    model = CausalIQA(CausalConfig(masked_haar=True))
    _set(model.masked_haar, loss_weight=1.5, chroma_visibility=2.0, masking_gain=1.0)
    n = model.config.n_features
    with torch.no_grad():
        model.fl_weights.zero_()
        model.fl_weights[n - 1] = 2.0
        model.feature_scale[n - 2 :] = 0.05
    return model.eval()


def test_tiled_features_of_the_block_match_untiled() -> None:
    model = _masked_model()
    ref = torch.rand(1, 3, 160, 144, generator=torch.Generator().manual_seed(3))
    dist = _noisy(ref, 0.05)
    with torch.no_grad():
        full = model.pooled_features(ref, dist)[0, -2:]
        tiled = model.tiled_pooled_features(ref, dist, tile=64, halo=32)[0, -2:]
    assert torch.allclose(full, tiled, rtol=1e-5, atol=1e-7)


def test_a_head_on_the_block_alone_computes_only_the_block_and_scores_equal() -> None:
    model = _masked_model()
    branches = model.needed_branches()
    assert (branches.learned, branches.pixel_strides, branches.haar, branches.masked_haar) == (False, 0, False, True)
    ref = _texture()
    dist = _noisy(ref)
    with torch.no_grad():
        assert torch.equal(model(ref, dist), model.score_features(model.pooled_features(ref, dist)))


def test_with_masked_haar_keeps_every_old_feature_and_parameter() -> None:
    old = CausalIQA(CausalConfig()).eval()
    new = masked.with_masked_haar(old).eval()
    ref = _texture()
    dist = _noisy(ref)
    with torch.no_grad():
        f_old, f_new = old.pooled_features(ref, dist), new.pooled_features(ref, dist)
    assert torch.equal(f_new[:, : f_old.shape[1]], f_old)
    assert f_new.shape[1] == f_old.shape[1] + MaskedHaar.FEATURES
    assert torch.equal(new.fl_weights[-MaskedHaar.FEATURES :], torch.zeros(MaskedHaar.FEATURES))


def test_content_invariance_is_one_when_scores_depend_only_on_the_condition() -> None:
    cond = np.repeat(np.arange(5), 4)
    assert masked.content_invariance(cond.astype(float), cond) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    assert masked.content_invariance(cond + rng.normal(0, 2, cond.size), cond) < 0.9


def test_nested_loto_never_lets_the_held_out_type_choose_its_setting() -> None:
    rng = np.random.default_rng(0)
    types = np.repeat([1, 2, 3], 30)
    mos = rng.uniform(1, 5, types.size)
    good = (5 - mos) / 4 + 0.01 * rng.random(types.size)  # feature 0 ranks every type well
    bad = rng.random(types.size)
    train = np.stack([good, bad], axis=1)
    test = train.copy()
    pred, chosen = masked.nested_loto(train, mos, types, test, types, [0, 1])
    assert chosen == {1: 0, 2: 0, 3: 0}
    # make feature 1 perfect on type 3 only: type 3's own fold must not notice, the others may
    train2 = train.copy()
    train2[types == 3, 1] = good[types == 3] * 10
    pred2, chosen2 = masked.nested_loto(train2, mos, types, test, types, [0, 1])
    assert chosen2[3] == chosen[3]
    assert np.array_equal(pred2[types == 3], pred[types == 3])


def test_fit_masked_model_follows_the_protocol(monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    # the KADID table (condition scores) lives in ../shared/data: skipped without it
    from conftest import textured

    from iqa_cli.synth import devset

    conditions = devset.load_conditions()
    keep = [c for c in conditions if c.type_id in (1, 11) and c.level in (1, 3, 5)]  # blur and noise, 3 levels
    monkeypatch.setattr(devset, "load_conditions", lambda *a, **k: keep)
    refs = [(f"r{i}", textured(64, 80, seed=i)) for i in range(3)]
    base = CausalIQA(CausalConfig())
    model, summary = masked.fit_masked_model(base, refs)
    block = model.masked_haar
    assert block is not None and model.config.masked_haar and model.config.head == "few_label"
    assert float(block.masking_gain.detach()) in masked.GAIN_GRID and summary["masking_gain"] == float(
        block.masking_gain.detach()
    )
    assert (
        float(block.loss_weight.detach()) in masked.LOSS_GRID
        and float(block.chroma_visibility.detach()) in masked.CHROMA_GRID
    )
    assert float(block.content_energy) == float(block.reference_energy) > 0
    n = model.config.n_features
    assert torch.count_nonzero(model.fl_weights) == 1 and model.fl_weights[n - 1] > 0  # one calibrated feature
    assert torch.count_nonzero(model.lf_direction) == 1 and model.lf_direction[n - 2] == 1.0
    # condition anchors: the shipped block's mean calibrated feature per condition on the training pairs, as adapt
    # reads them (recomputed here through the block's own features)
    from iqa_cli.train.adapt_masked import anchors_of, block_features, setting_of

    feats, keys = block_features(block, [im for _, im in refs], keep, [setting_of(block)], 0)
    assert anchors_of({"heads": summary}) == masked.condition_anchors(feats[:, 0, 1], keys)
    assert sorted(summary["condition_anchors"]) == sorted(f"{c.type_id}:{c.level}" for c in keep)
    blur = [summary["condition_anchors"][f"1:{lv}"] for lv in (1, 3, 5)]
    assert blur == sorted(blur) and blur[0] < blur[-1]  # stronger blur, larger deficit
    ref = torch.from_numpy(refs[0][1]).permute(2, 0, 1)[None]
    with torch.no_grad():
        assert model.eval()(ref, ref.clone()).item() == 100.0
        blurred = _blurred(ref)
        assert model(ref, blurred).item() < 100.0
        assert model.with_config(head="label_free").eval()(ref, blurred).item() < 100.0


def test_reference_pooling_weights_do_not_move_with_the_distorted_image() -> None:
    ref = torch.from_numpy(textured(40, 48, seed=1)).permute(2, 0, 1)[None]
    flat = torch.full_like(ref, 0.5)
    dists = (ref + 0.05 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1), flat
    weights = {pool: [MaskedHaar(pool_weight=pool)(ref, d)[:, 2] for d in dists] for pool in MaskedHaar.POOL_WEIGHTS}
    assert torch.equal(*weights["ref"])  # the reference's size-8 magnitudes whatever the distorted image
    assert not torch.equal(*weights["max"])  # HaarPSI's: the larger of the two images'
    with pytest.raises(ValueError, match="pool_weight"):
        MaskedHaar(pool_weight="min")


def _pairs(h: int = 45, w: int = 62) -> tuple[torch.Tensor, torch.Tensor]:
    """Two pairs (odd height: the replicated row); the second pair identical."""
    g = torch.Generator().manual_seed(5)
    ref = torch.rand(2, 3, h, w, generator=g)
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    dist[1] = ref[1]
    return ref, dist


@pytest.mark.parametrize("config", [{}, {"jnd": 2.0, "pool_weight": "ref"}, {"visibility": 2.0}])
@pytest.mark.parametrize("label_free", [True, False])
def test_inference_maps_equal_the_differentiable_paths(config: dict, label_free: bool) -> None:
    """Without gradients the fixed colour's 2x2 means come from OpenCV: the maps stay those of the differentiable
    path to float rounding, an identical pair still gives exact zeros."""
    ref, dist = _pairs()
    block = _set(MaskedHaar(**config), loss_weight=1.7, chroma_visibility=2.5, masking_gain=0.8, content_energy=0.7)
    with torch.no_grad():
        fast = block(ref, dist, label_free=label_free)
    slow = block(ref, dist, label_free=label_free)  # gradients recorded: the differentiable path
    assert slow.requires_grad and not fast.requires_grad
    # per position the two paths' fixed colour means may differ in the last bit, which a Haar difference of nearly
    # equal magnitudes can amplify; the pooled features agree to float rounding
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(block.features(fast.mean(dim=(2, 3))), block.features(slow.mean(dim=(2, 3))).detach())
    assert (fast[0, 1] > 0).any() and (fast[0, 0] > 0).any() == label_free
    assert torch.equal(fast[1, :2], torch.zeros_like(fast[1, :2]))  # identical pair: exact zeros


def test_model_scores_without_gradients_equal_the_differentiable_forward() -> None:
    model = _masked_model()
    ref, dist = _pairs(64, 80)
    with torch.no_grad():
        fast = model.score(ref, dist)
    slow = model(ref, dist.clone().requires_grad_(True))
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-6, atol=1e-5)
    assert fast[1] == 100.0 and fast[0] < 100.0

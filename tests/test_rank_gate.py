"""The masked Haar block's soft-ranking channel gate (iqa_cli.models.causal.rank_gate) and the models that use it."""

from __future__ import annotations

import pytest
import torch
from conftest import degrade, textured

from iqa_cli import api
from iqa_cli.io import to_tensor
from iqa_cli.models.causal import Branches, CausalConfig, CausalIQA
from iqa_cli.models.causal.masked_haar import MaskedHaar
from iqa_cli.models.causal.rank_gate import gated, rank_gate, soft_rank

# five channels at one position, deliberately not in channel order
VALUES = torch.tensor([0.02, 0.30, 0.001, 0.12, 0.05])


def crafted(values: torch.Tensor = VALUES) -> torch.Tensor:
    """(1, C, 2, 3) maps whose channel c is ``values[c]`` everywhere."""
    return values.view(1, -1, 1, 1).expand(1, -1, 2, 3).clone()


def gated_model(seed: int = 0, keep: float = 0.4, tau: float = 0.25, visibility: float = 8.0) -> CausalIQA:
    """A model with the gated masked Haar block (learned parameters away from HaarPSI's special case) and a head on
    its calibrated feature alone, as the robust variant."""
    torch.manual_seed(seed)
    cfg = CausalConfig(masked_haar=True, visibility=visibility, rank_keep=keep, rank_tau=tau)
    model = CausalIQA(cfg)
    assert model.masked_haar is not None
    with torch.no_grad():
        model.masked_haar.masking_gain.fill_(2.0)
        model.masked_haar.loss_weight.fill_(1.5)
        model.masked_haar.chroma_visibility.fill_(2.0)
        model.masked_haar.content_energy.fill_(300.0)
        model.fl_weights[-1] = 3.0
        model.feature_scale[-1] = 0.05
    return model.eval()


def pair(h: int = 40, w: int = 56, sigma: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    ref = textured(h, w, seed=seed)
    return to_tensor(ref), to_tensor(degrade(ref, sigma, seed=seed + 5))


def test_gate_keeps_the_top_channels_and_damps_the_rest() -> None:
    u = crafted()
    g = rank_gate(u, keep=0.4, tau=0.25)[0, :, 0, 0]
    assert torch.all((g > 0) & (g < 1))
    order = torch.argsort(VALUES)
    assert torch.all(torch.diff(g[order]) > 0)  # monotone in the channel's size
    assert float(g[order[-2:]].min()) > 0.8  # keep 0.4 of 5: the two largest pass
    assert float(g[order[:3]].max()) < 0.1  # the other three are damped
    r = soft_rank(u, 0.25)[0, :, 0, 0]
    assert float(r.min()) >= 0.0 and float(r.max()) <= 4.0
    assert torch.equal(torch.argsort(r), order)


def test_gated_channels_are_bounded_by_the_channels_and_zero_stays_exactly_zero() -> None:
    u = torch.rand(2, 5, 6, 7, generator=torch.Generator().manual_seed(0)) ** 3
    u[:, :, :2] = 0.0  # positions where nothing changed
    u[:, 1, 3] = 0.0  # one channel zero among non-zero ones
    out = gated(u, 0.6, 0.25)
    assert torch.all(out >= 0) and torch.all(out <= u)
    assert torch.equal(out[u == 0], torch.zeros_like(out[u == 0]))
    assert (out < u)[u > 0].any()


def test_gate_depends_on_the_order_not_the_size() -> None:
    u = crafted()
    torch.testing.assert_close(rank_gate(u, 0.4, 0.25), rank_gate(7.0 * u, 0.4, 0.25))


def test_keep_one_is_the_identity_and_not_computed() -> None:
    u = torch.rand(1, 5, 3, 3)
    assert gated(u, 1.0, 0.25) is u


def test_gradients_are_finite_also_where_every_channel_is_zero() -> None:
    u = (torch.rand(1, 5, 4, 4, generator=torch.Generator().manual_seed(1)) * 0.1).double()
    u[:, :, 0] = 0.0
    u.requires_grad_(True)
    (g,) = torch.autograd.grad(gated(u, 0.4, 0.25).sum(), u)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    # nothing detached: the gradient is the function's (no gradient masking for the attack)
    x = (torch.rand(1, 5, 2, 2, generator=torch.Generator().manual_seed(2)) * 0.1 + 0.01).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: gated(t, 0.4, 0.25), (x,))


def test_block_options_are_checked() -> None:
    with pytest.raises(ValueError, match="rank_keep"):
        MaskedHaar(rank_keep=0.0)
    with pytest.raises(ValueError, match="rank_tau"):
        MaskedHaar(rank_keep=0.5, rank_tau=0.0)


def test_default_config_has_no_gate_and_old_metadata_loads_without_it() -> None:
    cfg = CausalConfig(masked_haar=True)
    assert cfg.rank_keep == 1.0
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("rank_keep", "rank_tau")}
    assert CausalConfig.from_dict(old) == cfg
    model = CausalIQA(cfg)
    assert model.masked_haar is not None and model.masked_haar.rank_keep == 1.0
    # the gate adds no parameter or buffer: weights with and without it have the same tensors
    assert model.state_dict().keys() == gated_model().state_dict().keys()


def test_gated_block_gives_zero_for_identical_images_and_never_more_than_ungated() -> None:
    model = gated_model()
    plain = CausalIQA(CausalConfig(masked_haar=True, visibility=8.0))
    plain.load_state_dict(model.state_dict(), strict=True)
    ref, dist = pair()
    with torch.no_grad():
        same = model.pooled_features(ref, ref.clone())[:, -2:]
        with_gate = model.pooled_features(ref, dist)[:, -2:]
        without = plain.pooled_features(ref, dist)[:, -2:]
        assert torch.equal(model(ref, ref.clone()), torch.full((1,), 100.0))
    assert torch.equal(same, torch.zeros_like(same))
    assert torch.all(with_gate > 0) and torch.all(with_gate < without)


def test_gated_model_is_pruned_exactly_with_finite_input_gradients() -> None:
    model = gated_model()
    assert model.needed_branches() == Branches(learned=False, pixel_strides=0, haar=False, masked_haar_label_free=False)
    ref, dist = pair()
    grads, scores = [], []
    for score_of in (model, lambda r, d: model.score_features(model.pooled_features(r, d))):
        x = dist.clone().requires_grad_(True)
        s = score_of(ref, x)
        (g,) = torch.autograd.grad(s.sum(), x)
        scores.append(s.detach())
        grads.append(g)
    assert torch.equal(scores[0], scores[1]) and float(scores[0].max()) < 100.0
    assert torch.equal(grads[0], grads[1])
    assert torch.isfinite(grads[0]).all() and grads[0].abs().sum() > 0


def test_gated_model_tiles_exactly() -> None:
    model = gated_model(seed=1)
    ref, dist = pair(150, 210, 0.08, seed=4)
    branches = model.needed_branches()
    with torch.no_grad():
        whole = model.pooled_features(ref, dist, branches)
        tiled = model.tiled_pooled_features(ref, dist, tile=64, halo=64, branches=branches)
        score = model(ref, dist)
    torch.testing.assert_close(tiled[:, -2:], whole[:, -2:], rtol=1e-4, atol=1e-7)
    assert model.score_features(tiled).item() == pytest.approx(score.item(), abs=1e-3)


# ------------------------------------------------------------------------------- just-noticeable difference (jnd)


def stripes(levels: float, h: int = 48, w: int = 64) -> torch.Tensor:
    """(1, 3, h, w) perturbation of +-``levels`` 8-bit levels in vertical stripes 2 pixels wide: on the 2x2-mean
    luminance an alternation of +-levels, which moves the size-2 Haar coefficient by the most a perturbation of that
    many levels can (2 x levels)."""
    sign = torch.tensor([1.0, 1.0, -1.0, -1.0]).repeat(w // 4)
    return (levels / 255.0) * sign.view(1, 1, 1, w).expand(1, 3, h, w)


@pytest.mark.parametrize("keep", [1.0, 0.4])
def test_a_perturbation_within_the_jnd_leaves_an_identical_pair_at_exactly_100(keep: float) -> None:
    model = gated_model(keep=keep, visibility=2.0)
    model = model.with_config(jnd=4.0).eval()
    ref = to_tensor(textured(48, 64, seed=3)) * 0.8 + 0.1  # away from 0 and 1: no clipping
    noise = (torch.rand(ref.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 4.0 / 255.0
    with torch.no_grad():
        for delta in (stripes(4.0), -stripes(4.0), noise):
            assert torch.equal(model(ref, ref + delta), torch.full((1,), 100.0))
        # just above the bound the worst-case pattern is seen, and the block without the jnd sees every one
        assert float(model(ref, ref + stripes(4.5))) < 100.0
        plain = model.with_config(jnd=0.0).eval()
        assert float(plain(ref, ref + noise)) < 100.0


def test_jnd_shrinks_changes_and_zero_is_the_identity() -> None:
    block = MaskedHaar(jnd=2.0)
    a = torch.tensor([10.0, 10.0, 10.0, 10.0])
    d = torch.tensor([10.0, 13.0, 5.0, 11.0])
    # threshold 2 x 2 = 4: +3 and +1 vanish, -5 becomes -1
    torch.testing.assert_close(block._visible(a, d, 2.0), torch.tensor([10.0, 10.0, 9.0, 10.0]))
    assert MaskedHaar()._visible(a, d, 2.0) is d


# ------------------------------------------------------------------------------------------ the shipped variant


def test_shipped_robust_variant_scores_through_the_gated_block_only() -> None:
    scorer = api.load_model("causal-iqa-robust", device="cpu")  # strict loading
    model = scorer.module
    assert isinstance(model, CausalIQA) and model.masked_haar is not None
    cfg = model.config
    assert cfg.masked_haar and cfg.rank_keep < 1.0 and cfg.jnd > 0.0
    assert model.masked_haar.rank_keep == cfg.rank_keep and model.masked_haar.jnd == cfg.jnd
    assert model.needed_branches() == Branches(learned=False, pixel_strides=0, haar=False, masked_haar_label_free=False)
    nz = torch.nonzero(model.fl_weights).flatten().tolist()
    assert nz == [cfg.n_features - 1]  # the block's calibrated feature alone
    ref, dist = pair(150, 210, 0.08, seed=4)
    with torch.no_grad():
        assert torch.equal(model(ref, ref.clone()), torch.full((1,), 100.0))
        whole = model(ref, dist)
        model.tile_pixels = 64 * 64
        tiled = model.score(ref, dist)
    assert float(whole) < 100.0
    assert tiled.item() == pytest.approx(whole.item(), abs=1e-3)

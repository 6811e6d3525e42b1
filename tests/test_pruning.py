"""Exact inference pruning of the causal model: forward, quality_map and the tiled path compute only the feature
groups the head has a non-zero weight on, and give the same scores (bitwise) as the full computation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from conftest import degrade, random_causal_model, textured

from iqa_cli import api
from iqa_cli.io import to_tensor
from iqa_cli.models.causal import Branches, CausalConfig, CausalIQA, fixed
from iqa_cli.models.causal.fixed import PixelDegradation


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two (ref, dist) pairs of 40x56 textured images, gaussian noise of sigma 0.1."""
    ref = torch.cat([to_tensor(textured(40, 56, seed=s)) for s in (0, 1)])
    dist = torch.cat([to_tensor(degrade(textured(40, 56, seed=s), 0.1, seed=s + 5)) for s in (0, 1)])
    return ref, dist


def _full(model: CausalIQA, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """The unpruned score: every feature computed."""
    return model.score_features(model.pooled_features(ref, dist))


def _feature_groups(cfg: CausalConfig) -> dict[str, torch.Tensor]:
    """Boolean masks over the pooled features: the learned group, each pixel stride, the Haar block."""
    n_mean, n_learned = sum(cfg.map_channels), sum(cfg.degradation)
    idx = torch.arange(cfg.n_features)
    channel = torch.where(idx < 2 * n_mean, idx % n_mean, -1)
    pixel_stride = torch.where(channel >= n_learned, (channel - n_learned) // PixelDegradation.CHANNELS, -1)
    groups = {"learned": (channel >= 0) & (channel < n_learned), "haar": idx >= 2 * n_mean}
    groups |= {f"stride{s}": pixel_stride == i for i, s in enumerate(PixelDegradation.STRIDES)}
    return groups


def _keep(*names: str) -> Callable[[CausalConfig], torch.Tensor]:
    return lambda cfg: torch.stack([_feature_groups(cfg)[n] for n in names]).any(dim=0)


def _one_stride8_deviation(cfg: CausalConfig) -> torch.Tensor:
    """Only the deviation of the stride-8 gradient channel (a deviation alone makes its stride needed)."""
    keep = torch.zeros(cfg.n_features, dtype=torch.bool)
    keep[sum(cfg.map_channels) + sum(cfg.degradation) + 2 * PixelDegradation.CHANNELS + 2] = True
    return keep


ALL_PIXEL = ("stride2", "stride4", "stride8", "stride16")
CASES = {
    "learned-zero": (_keep(*ALL_PIXEL, "haar"), Branches(learned=False)),
    "only-pixel-stride-4": (_keep("stride4"), Branches(learned=False, pixel_strides=2, haar=False)),
    "one-stride-8-deviation": (_one_stride8_deviation, Branches(learned=False, pixel_strides=3, haar=False)),
    "only-learned": (_keep("learned"), Branches(pixel_strides=0, haar=False)),
    "haar-zero": (_keep("learned", *ALL_PIXEL), Branches(haar=False)),
    "all-non-zero": (_keep("learned", *ALL_PIXEL, "haar"), Branches()),
}


def _sparse_model(case: str, seed: int = 0) -> CausalIQA:
    """A random causal model whose few-label weights are zero outside the case's groups."""
    model = random_causal_model(seed)
    keep, _ = CASES[case]
    with torch.no_grad():
        model.fl_weights.mul_(keep(model.config))
    return model


def _shipped(name: str) -> CausalIQA:
    model = api.load_model(name, device="cpu").module
    assert isinstance(model, CausalIQA)
    return model


@pytest.mark.parametrize("name", ["causal-iqa", "causal-iqa-robust"])
def test_shipped_heads_are_pruned_and_scores_are_bitwise_equal(name: str, pair: tuple) -> None:
    model = _shipped(name)
    assert not model.needed_branches().learned  # the shipped few-label heads leave out the learned path
    ref, dist = pair
    with torch.no_grad():
        pruned, full = model(ref, dist), _full(model, ref, dist)
    assert torch.equal(pruned, full), (pruned, full)
    assert (pruned < 100.0).all()


@pytest.mark.parametrize("name", ["causal-iqa", "causal-iqa-robust"])
def test_calibrated_head_skips_the_label_free_map_exactly(name: str, pair: tuple) -> None:
    model = _shipped(name)  # few-label head: the masked Haar block's calibrated feature alone
    branches = model.needed_branches()
    assert branches == Branches(learned=False, pixel_strides=0, haar=False, masked_haar_label_free=False)
    ref, dist = pair
    with torch.no_grad():
        pruned, full = model.pooled_features(ref, dist, branches), model.pooled_features(ref, dist)
    assert torch.equal(pruned[:, -2], torch.zeros(2)) and (full[:, -2] > 0).all()  # label-free: skipped, exactly 0
    assert torch.equal(pruned[:, -1], full[:, -1]) and (full[:, -1] > 0).all()  # calibrated: bitwise the same
    assert torch.equal(pruned[:, :-2], torch.zeros_like(pruned[:, :-2]))


@pytest.mark.parametrize("name", ["causal-iqa", "causal-iqa-robust"])
def test_label_free_head_is_pruned_as_its_weights_say_and_equal(name: str, pair: tuple) -> None:
    model = _shipped(name).with_config(head="label_free").eval()
    if model.config.masked_haar:  # label-free = the masked Haar block's label-free feature alone
        assert model.needed_branches() == Branches(learned=False, pixel_strides=0, haar=False, masked_haar=True)
    else:  # a principal direction: dense
        assert model.needed_branches() == Branches()
    ref, dist = pair
    with torch.no_grad():
        assert torch.equal(model(ref, dist), _full(model, ref, dist))


@pytest.mark.parametrize("case", CASES)
def test_forward_and_input_gradient_equal_the_unpruned_ones(case: str, pair: tuple) -> None:
    model = _sparse_model(case)
    assert model.needed_branches() == CASES[case][1]
    ref, dist = pair
    grads = []
    scores = []
    for score_of in (model, lambda r, d: _full(model, r, d)):
        x = dist.clone().requires_grad_(True)
        s = score_of(ref, x)
        (g,) = torch.autograd.grad(s.sum(), x)
        scores.append(s.detach())
        grads.append(g)
    assert torch.equal(scores[0], scores[1]), scores
    assert (scores[0] < 100.0).all()
    assert torch.equal(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


@pytest.mark.parametrize("case", CASES)
def test_quality_map_equals_the_unpruned_one(case: str, pair: tuple) -> None:
    model = _sparse_model(case, seed=1)
    ref, dist = pair
    with torch.no_grad():
        pruned, full = model.quality_map(ref, dist), model.quality_map(ref, dist, prune=False)
    assert pruned.shape == (2, 1, 40, 56)
    assert torch.equal(pruned, full)
    assert pruned.max() > 0


@pytest.mark.parametrize("case", ["learned-zero", "only-pixel-stride-4", "haar-zero"])
def test_tiled_pruned_features_score_as_the_untiled_ones(case: str) -> None:
    model = _sparse_model(case, seed=2)
    ref = to_tensor(textured(150, 210, seed=4))
    dist = to_tensor(degrade(textured(150, 210, seed=4), 0.08, seed=5))
    branches = model.needed_branches()
    with torch.no_grad():
        tiled = model.tiled_pooled_features(ref, dist, tile=64, halo=64, branches=branches)
        tiled_full = model.tiled_pooled_features(ref, dist, tile=64, halo=64)
        score = model(ref, dist)
    skipped = model.pooled_features(ref, dist, branches) == 0
    assert torch.equal(tiled[skipped], torch.zeros_like(tiled[skipped]))
    assert torch.equal(tiled[~skipped], tiled_full[~skipped])  # the computed groups are untouched
    assert model.score_features(tiled).item() == pytest.approx(score.item(), abs=1e-3)


def _count_calls(model: CausalIQA, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of encoder passes, pixel-branch strides and Haar-block passes, updated as the model runs."""
    calls = {"encoder": 0, "pixel_strides": 0, "haar": 0}

    def counter(key: str) -> Callable[..., None]:
        return lambda *_: calls.__setitem__(key, calls[key] + 1)

    model.encoder.register_forward_hook(counter("encoder"))
    assert model.haar is not None
    model.haar.register_forward_hook(counter("haar"))
    grad_mag = fixed.gradient_magnitude  # once per stride
    monkeypatch.setattr(fixed, "gradient_magnitude", lambda lum: (counter("pixel_strides")(), grad_mag(lum))[1])
    return calls


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("learned-zero", {"encoder": 0, "pixel_strides": 4, "haar": 1}),
        ("only-pixel-stride-4", {"encoder": 0, "pixel_strides": 2, "haar": 0}),
        ("only-learned", {"encoder": 2, "pixel_strides": 0, "haar": 0}),
        ("all-non-zero", {"encoder": 2, "pixel_strides": 4, "haar": 1}),
    ],
)
def test_pruning_skips_the_unused_work(
    case: str, expected: dict[str, int], pair: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _sparse_model(case)
    calls = _count_calls(model, monkeypatch)
    with torch.no_grad():
        model(*pair)
    assert calls == expected
    for key in calls:
        calls[key] = 0
    with torch.no_grad():
        model.quality_map(*pair)
    assert calls == expected


def test_train_mode_and_pooled_features_compute_everything(pair: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Head fitting reads every feature; training needs every parameter's gradient (weight decay)."""
    model = _sparse_model("learned-zero")
    calls = _count_calls(model, monkeypatch)
    with torch.no_grad():
        feats = model.pooled_features(*pair)
    assert calls == {"encoder": 2, "pixel_strides": 4, "haar": 1}
    assert (feats[:, _feature_groups(model.config)["learned"]] != 0).any()
    model.train()
    model(*pair).sum().backward()
    assert model.encoder.stage1[0].weight.grad is not None


def test_a_head_without_weights_computes_everything(pair: tuple) -> None:
    model = CausalIQA().eval()  # unfitted: fl_weights == 0, a constant score
    assert model.needed_branches() == Branches()
    x = pair[1].clone().requires_grad_(True)
    assert model(pair[0], x).requires_grad  # still connected to the input


def test_scorer_tiled_path_is_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = api.load_model("causal-iqa", device="cpu")
    model = scorer.module
    assert isinstance(model, CausalIQA)
    ref_np = textured(48, 64, seed=3)
    dist_np = degrade(ref_np, 0.05, seed=4)
    with torch.no_grad():
        expected = model(to_tensor(ref_np), to_tensor(dist_np)).item()
    calls = _count_calls(model, monkeypatch)
    monkeypatch.setattr(model, "tile_pixels", 32 * 32)  # this pair goes through tiled_pooled_features
    tiled = model.tiled_pooled_features
    seen: list[Branches | None] = []

    def spy(r: torch.Tensor, d: torch.Tensor, branches: Branches | None = None) -> torch.Tensor:
        seen.append(branches)
        return tiled(r, d, branches=branches)

    monkeypatch.setattr(model, "tiled_pooled_features", spy)
    assert scorer.score(ref_np, dist_np) == pytest.approx(expected, abs=1e-3)
    assert seen == [model.needed_branches()]
    assert calls["encoder"] == 0


def test_branches_refuse_impossible_strides() -> None:
    with pytest.raises(ValueError, match="pixel_strides must be in 0..4"):
        Branches(pixel_strides=5)
    assert np.sum(Branches(learned=False, pixel_strides=1).computed_maps(CausalConfig())) == 1

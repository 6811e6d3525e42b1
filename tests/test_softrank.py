"""Tests of the CPRL soft-ranking channel activation (iqa_cli.models.layers.SoftRankActivation)."""

from __future__ import annotations

import pytest
import torch

from iqa_cli.models.layers import SoftRankActivation, make_activation

# Channel responses, deliberately not in channel order; well separated relative to tau * mean.
RESPONSES = torch.tensor([3.0, 8.0, 1.0, 6.0, 2.0, 7.0, 4.0, 5.0])


def crafted(values: torch.Tensor = RESPONSES, size: int = 4) -> torch.Tensor:
    """(1, C, size, size) input whose channel c is the constant ``values[c]``."""
    return values.view(1, -1, 1, 1).expand(1, -1, size, size).clone()


def test_shape_is_preserved_and_factory_builds_it() -> None:
    act = make_activation("softrank", 6)
    assert isinstance(act, SoftRankActivation)
    x = torch.randn(2, 6, 5, 7)
    assert act(x).shape == x.shape
    assert act.gate(x).shape == (2, 6) and act.soft_rank(x).shape == (2, 6)


def test_gradient_flows_to_input_and_importance() -> None:
    act = SoftRankActivation(6)
    x = torch.randn(2, 6, 5, 5, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    (act(x) * torch.arange(6.0).view(1, 6, 1, 1)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert act.importance.grad is not None and torch.isfinite(act.importance.grad).all()
    assert act.importance.grad.abs().sum() > 0


def test_soft_rank_and_gate_follow_the_channel_order() -> None:
    act = SoftRankActivation(8, keep=0.5)
    x = crafted()
    order = torch.argsort(RESPONSES)
    with torch.no_grad():
        ranks, gates = act.soft_rank(x)[0], act.gate(x)[0]
        out = act(x)
    assert torch.all(torch.diff(ranks[order]) > 0)  # monotone in the channel response
    assert torch.all(torch.diff(gates[order]) >= 0) and gates[order][-1] > gates[order][0] + 0.9
    assert float(ranks.min()) >= 0.0 and float(ranks.max()) <= 1.0
    assert float(gates[order[-1]]) > 0.95  # the largest response passes
    assert float(gates[order[0]]) < 0.05  # the smallest is shut
    top, bottom = gates[order[4:]], gates[order[:4]]
    assert float(top.min()) > 0.5 > float(bottom.max())  # keep = 0.5: the top half is above the middle
    assert torch.allclose(out, torch.relu(x) * gates.view(1, -1, 1, 1))


@torch.no_grad()
def test_order_preserving_perturbation_changes_gates_little() -> None:
    act = SoftRankActivation(8, keep=0.5)
    x = crafted()
    noise = 1.0 + 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    y = x * noise  # per-pixel nudge of a few percent: pooled responses keep their order
    assert torch.equal(torch.argsort(act.soft_rank(x)[0]), torch.argsort(act.soft_rank(y)[0]))
    assert float((act.gate(x) - act.gate(y)).abs().max()) < 0.03
    # the temperature is relative to the mean response: a global gain leaves every gate unchanged
    assert torch.allclose(act.gate(x), act.gate(3.0 * x), atol=1e-6)


def test_keep_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="keep"):
        SoftRankActivation(4, keep=0.0)


@torch.no_grad()
def test_top_keep_fraction_passes_and_the_rest_is_shut() -> None:
    act = SoftRankActivation(8, keep=0.5)
    gates = act.gate(crafted(torch.tensor([10.0, 11.0, 12.0, 13.0, 1.0, 2.0, 3.0, 4.0])))[0]
    assert float(gates[:4].min()) > 0.9 and float(gates[4:].max()) < 0.1

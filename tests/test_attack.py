"""Tests of iqa_cli.attack and ``iqa attack``: eps bound (also after 8-bit rounding), reflection, gradient fallback,
report columns, reflection centre rules, and an end-to-end CLI run."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import degrade, textured, write_png
from torch import nn
from typer.testing import CliRunner

from iqa_cli.api import Scorer
from iqa_cli.attack import (
    COLUMNS,
    METHODS,
    AttackRow,
    attack_budgets,
    attack_pair,
    attack_pairs,
    eps_ladder,
    parse_eps,
    parse_eps_list,
    reflection_center,
    round_in_ball,
    sign_steps,
    step_sizes,
    summarise,
)
from iqa_cli.cli import app
from iqa_cli.errors import UsageError
from iqa_cli.models.baselines import PSNR, SSIM
from iqa_cli.models.registry import ModelSpec
from iqa_cli.pairs import Pair

EPS = 2 / 255
CPU = torch.device("cpu")


class Linear(nn.Module):
    """Non-robust toy: ``0.5 + k * mean(w * (dist - ref))`` with fixed signs ``w``."""

    def __init__(self, k: float = 50.0) -> None:
        super().__init__()
        self.k = k
        self.register_buffer("w", torch.sign(torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))))

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        return 0.5 + self.k * (self.w * (dist - ref)).flatten(1).mean(dim=1)


class Constant(nn.Module):
    """Ignores the distorted image."""

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        return ref.flatten(1).mean(dim=1) * 0.0 + 0.7


class Bump(nn.Module):
    """Smooth toy whose score peaks at a small perturbation: ``0.5 + k * mean(w * t * exp(-(t / T)^2))`` with
    ``t = dist - ref`` and T = 4/255. The raw score is highest at w * t = T / sqrt(2) (about 2.8/255 per pixel) and
    falls back to 0.5 beyond a few T: large sign steps overshoot the peak."""

    def __init__(self, k: float = 50.0, width: float = 4 / 255) -> None:
        super().__init__()
        self.k, self.width = k, width
        self.register_buffer("w", torch.sign(torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))))

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        t = dist - ref
        return 0.5 + self.k * (self.w * t * torch.exp(-((t / self.width) ** 2))).flatten(1).mean(dim=1)


class Peak(nn.Module):
    """``1 - mean((dist - ref)^2)``: highest when dist == ref, where its gradient is zero."""

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        return 1.0 - ((dist - ref) ** 2).flatten(1).mean(dim=1)


class SqrtDistance(nn.Module):
    """``-sqrt(sum (dist - ref)^2)``: its gradient at dist == ref is NaN (0 * inf)."""

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        return -torch.sqrt(((dist - ref) ** 2).flatten(1).sum(dim=1))


def scorer(module: nn.Module, scale: tuple[float, float] | None = (0.0, 1.0), name: str = "toy") -> Scorer:
    spec = ModelSpec(name=name, description="test", higher_is_better=True, scale=scale, unit="u", factory=nn.Identity)
    return Scorer(spec, module.eval(), CPU)


def images(seed: int = 0, on_grid: bool = True, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    ref = textured(size, size, 3, seed)
    dist = degrade(ref, 0.05, seed + 1)
    if on_grid:
        ref, dist = np.round(ref * 255) / 255, np.round(dist * 255) / 255
    dist[0, :4] = 0.0  # saturated pixels: the [0, 1] clip must hold too
    dist[1, :4] = 1.0
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))[None]  # noqa: E731
    return to_t(ref), to_t(dist)


# --------------------------------------------------------------------------------------------------- eps bound


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("round8", [True, False])
@pytest.mark.parametrize("on_grid", [True, False])
def test_adversarial_stays_within_eps_and_unit_range(method: str, round8: bool, on_grid: bool) -> None:
    ref, dist = images(on_grid=on_grid)
    res = attack_pair(scorer(Linear(k=500.0)), ref, dist, eps=EPS, steps=5, method=method, round8=round8)
    adv = res.adversarial
    assert float((adv - dist).abs().max()) <= EPS + 1e-6
    assert res.linf <= EPS + 1e-6 and res.linf > EPS / 2  # the attack used its budget
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    if round8:
        levels = adv.double() * 255
        assert float((levels - levels.round()).abs().max()) < 1e-4  # on the 8-bit grid, as saved


def test_rounding_goes_toward_the_clean_value_where_nearest_level_would_break_eps() -> None:
    clean = torch.tensor([100.4, 100.6, 0.2, 254.7]) / 255
    eps = 1.0 / 255
    x = torch.stack([clean + eps, clean - eps]).reshape(2, -1)  # at the edges of the ball
    q = round_in_ball(x, clean.expand(2, -1), eps)
    assert float((q - clean).abs().max()) <= eps + 1e-7
    assert torch.allclose(q[0] * 255, torch.tensor([101.0, 101.0, 1.0, 255.0]))  # 101.4 -> 101, not up to 102
    # no 8-bit level within 0.1/255 of 100.4/255: keep the clean value rather than leave the ball
    tiny = round_in_ball(clean + 0.1 / 255, clean, 0.1 / 255)
    assert float((tiny - clean).abs().max()) <= 0.1 / 255 + 1e-7


# ---------------------------------------------------------------------------------------------------- reflection


def test_reflection_moves_a_non_robust_model_far_more_than_a_constant_one() -> None:
    ref, _ = images()
    toy = Linear(k=50.0)
    dist = (ref + 3 / 255 * toy.w).clamp(0, 1)  # on the 8-bit grid; clean score about 1.08, reflection -0.08
    moved = attack_pair(scorer(toy), ref, dist, eps=EPS, steps=10, method="reflect")
    still = attack_pair(scorer(Constant()), ref, dist, eps=EPS, steps=10, method="reflect")
    assert moved.center == pytest.approx(0.5)
    assert moved.clean_score > 1.0
    assert moved.attacked_score < moved.clean_score - 0.3  # toward the mirror image 2 * 0.5 - clean
    assert abs(still.attacked_score - still.clean_score) < 1e-6
    # its gradient is zero at every step of both rungs of the eps ladder (1/255, 2/255): each one counted
    assert still.nan_grad_fallbacks == 20
    assert still.no_progress and not moved.no_progress


def test_up_and_down_attacks_move_the_score_their_way() -> None:
    ref, dist = images()
    s = scorer(Linear(k=5.0))
    up = attack_pair(s, ref, dist, eps=EPS, method="pgd-up")
    down = attack_pair(s, ref, dist, eps=EPS, method="fgsm-down")
    assert up.attacked_score > up.clean_score + 0.005 and up.center is None
    assert down.attacked_score < down.clean_score - 0.005


# ------------------------------------------------------------------------------------- monotonicity in eps

BUDGETS = [k / 255 for k in (1, 2, 4, 8, 32, 64)]


def _objective(method: str, res) -> float:
    if method == "reflect":
        return -abs(res.attacked_score - (2 * res.center - res.clean_score))
    return res.attacked_score if method.endswith("up") else -res.attacked_score


@pytest.mark.parametrize("method", ["pgd-up", "pgd-down"])
def test_toy_attack_is_never_weaker_at_a_larger_budget_in_separate_calls(method: str) -> None:
    """The old attack (fixed steps of 2.5 eps / steps) overshot the bump at large eps and returned the clean image:
    its objective fell from about +0.33 at 4/255 to 0 at 32/255 and 64/255."""
    ref, _ = images()
    dist = ref.clone()
    s = scorer(Bump())
    results = [attack_pair(s, ref, dist, eps=e, steps=10, method=method) for e in BUDGETS]
    objs = [_objective(method, r) for r in results]
    assert all(b >= a for a, b in zip(objs, objs[1:], strict=False)), objs
    peak = 50.0 * (4 / 255) / np.sqrt(2) * np.exp(-0.5)  # k * T/sqrt(2) * exp(-1/2): the bump's height
    assert objs[-1] > objs[0]
    assert abs(results[-1].attacked_score - results[-1].clean_score) > 0.9 * peak  # found the peak
    assert not any(r.no_progress for r in results)
    for e, r in zip(BUDGETS, results, strict=False):
        assert r.linf <= e + 1e-6 and r.eps == e


def test_one_call_with_several_budgets_is_monotone_and_uses_every_budget() -> None:
    ref, _ = images()
    budgets = [3 / 255, 0.05, 1 / 255, 0.2, 0.5]  # not powers of two; given out of order
    res = attack_budgets(scorer(Bump()), ref, ref.clone(), budgets=budgets, steps=5, method="pgd-up")
    assert [r.eps for r in res] == sorted(budgets)
    scores = [r.attacked_score for r in res]
    assert all(b >= a for a, b in zip(scores, scores[1:], strict=False)), scores
    assert all(r.linf <= r.eps + 1e-6 for r in res)


def test_eps_ladder_and_step_sizes() -> None:
    assert eps_ladder([2 / 255]) == pytest.approx([1 / 255, 2 / 255])
    assert eps_ladder([0.1, 2 / 255]) == pytest.approx([1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255, 0.1])
    assert eps_ladder([0.5 / 255]) == pytest.approx([0.5 / 255])
    sizes = step_sizes(0.1, 10)
    assert sizes[0] == pytest.approx(0.04) and sizes[-1] == pytest.approx(0.004)
    assert all(b < a for a, b in zip(sizes, sizes[1:], strict=False)) and sum(sizes) > 2 * 0.1
    assert step_sizes(0.1, 1) == [0.1]


# ------------------------------------------------------------------------------------- the shared PGD step loop


def test_sign_steps_follows_the_sign_and_stays_in_the_projection() -> None:
    w = torch.tensor([3.0, -0.5, 0.0, 1e-30])
    ball = lambda x: x.clamp(-0.25, 0.25)  # noqa: E731
    seen = []

    def ascent(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return w

    xs = list(sign_steps(torch.zeros(4), ascent, [0.1, 0.1, 0.1], ball))
    assert torch.equal(xs[0], torch.tensor([0.1, -0.1, 0.0, 0.1]))
    assert torch.equal(xs[-1], torch.tensor([0.25, -0.25, 0.0, 0.25]))  # the third step left the ball: projected
    assert [torch.equal(a, b) for a, b in zip(seen, [torch.zeros(4), *xs[:-1]], strict=True)] == [True] * 3


@pytest.fixture(scope="module")
def causal_crop() -> tuple[Scorer, torch.Tensor, torch.Tensor]:
    from iqa_cli.api import load_model
    from iqa_cli.io import read_image, to_tensor

    root = Path(__file__).resolve().parents[1] / "examples"
    ref = to_tensor(read_image(root / "ref" / "parrots.png").pixels)[..., 100:164, 200:264]
    dist = to_tensor(read_image(root / "dist" / "parrots_jpeg.png").pixels)[..., 100:164, 200:264]
    return load_model("causal-iqa", device="cpu"), ref, dist


@pytest.mark.parametrize("method", ["reflect", "pgd-up"])
def test_causal_iqa_attack_is_never_weaker_at_a_larger_budget(causal_crop, method: str) -> None:
    """6 budgets, 1/255 to 64/255, each its own call, on a 64x64 crop of the examples' parrots_jpeg pair. The old
    attack gave pgd-up scores 49.6, 58.3, 71.4, 82.2 and then 43.5 (the clean score) at 32/255 and 64/255; reflect
    (toward 56.5) 49.6, 57.3, 52.9, 58.6, 43.5, 43.5."""
    s, ref, dist = causal_crop
    results = [attack_pair(s, ref, dist, eps=e, steps=10, method=method) for e in BUDGETS]
    objs = [_objective(method, r) for r in results]
    assert all(b >= a for a, b in zip(objs, objs[1:], strict=False)), [r.attacked_score for r in results]
    assert objs[-1] > objs[0] and not any(r.no_progress for r in results)
    if method == "pgd-up":
        assert results[-1].attacked_score > results[3].attacked_score > results[0].attacked_score


# ----------------------------------------------------------------------------------------------- no progress


def test_no_progress_when_the_gradient_is_zero_and_no_step_helps() -> None:
    ref, _ = images()
    # the score is at its maximum at dist == ref (zero gradient there): nothing beats the clean image
    res = attack_pair(scorer(Peak()), ref, ref.clone(), eps=EPS, steps=5, method="pgd-up")
    assert res.no_progress and res.attacked_score == res.clean_score and res.linf == 0.0
    assert res.nan_grad_fallbacks > 0
    assert torch.equal(res.adversarial, ref)
    down = attack_pair(scorer(Peak()), ref, ref.clone(), eps=EPS, steps=5, method="pgd-down")
    assert not down.no_progress and down.attacked_score < down.clean_score
    const = attack_pair(scorer(Constant()), ref, ref.clone(), eps=EPS, steps=5, method="fgsm-up")
    assert const.no_progress and const.linf == 0.0


def test_summary_counts_no_progress_pairs() -> None:
    rows = [
        AttackRow("r", f"d{i}", "m", "pgd-up", None, 1.0, a, a - 1.0, 0.0, 100.0, 0, EPS, a == 1.0)
        for i, a in enumerate([1.0, 1.5, 1.0])
    ]
    assert summarise(rows)["no_progress"] == 2


# ------------------------------------------------------------------------------------------- gradient fallback


@pytest.mark.parametrize(
    ("module", "scale", "center"), [(PSNR(), None, 50.0), (SSIM(), (0.0, 1.0), None), (SqrtDistance(), None, -5.0)]
)
def test_nan_or_zero_gradient_at_dist_equal_ref_falls_back_and_still_attacks(module, scale, center) -> None:
    ref, _ = images()
    res = attack_pair(scorer(module, scale), ref, ref.clone(), eps=EPS, steps=5, method="reflect", center=center)
    assert res.nan_grad_fallbacks > 0
    assert res.linf > 0
    assert res.attacked_score < res.clean_score  # identical images score best: any perturbation moves it down


# ----------------------------------------------------------------------------------------- report and centre


def test_report_columns_are_exactly_the_documented_ones() -> None:
    expected = (
        "ref", "dist", "model", "method", "center", "clean_score", "attacked_score", "shift", "linf", "psnr_db",
        "nan_grad_fallbacks", "eps", "no_progress", "error",
    )  # fmt: skip
    assert expected == COLUMNS
    assert tuple(f.name for f in fields(AttackRow)) == expected


def test_reflection_center_rules() -> None:
    bounded = scorer(Constant(), (0.0, 100.0)).spec
    unbounded = scorer(Constant(), None).spec
    assert reflection_center(bounded, [10.0, 20.0]) == 50.0
    assert reflection_center(unbounded, [30.0, 20.0, 45.0]) == 30.0
    assert reflection_center(unbounded, [25.0], given=33.0) == 33.0
    with pytest.raises(UsageError, match="unbounded scale.*--center"):
        reflection_center(unbounded, [25.0])
    ref, dist = images()
    with pytest.raises(UsageError, match="--center"):
        attack_pair(scorer(PSNR(), None), ref, dist, eps=EPS, method="reflect")


def test_attack_pairs_refuses_one_unbounded_pair_before_any_row(tmp_path: Path) -> None:
    pair = Pair(tmp_path / "r.png", tmp_path / "d.png")  # not read: the centre is checked first
    with pytest.raises(UsageError, match="--center"):
        attack_pairs(scorer(PSNR(), None, "psnr"), [pair], eps=EPS, method="reflect")


@pytest.mark.parametrize(("text", "value"), [("2/255", 2 / 255), ("2", 2 / 255), ("0.01", 0.01), (0.5, 0.5)])
def test_parse_eps(text: str | float, value: float) -> None:
    assert parse_eps(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["0", "-1/255", "two", "1/0", "300"])
def test_parse_eps_rejects_bad_values(text: str) -> None:
    with pytest.raises(UsageError, match="--eps"):
        parse_eps(text)


def test_parse_eps_list() -> None:
    assert parse_eps_list("4/255, 1/255,2,4/255") == pytest.approx([1 / 255, 2 / 255, 4 / 255])
    assert parse_eps_list("0.1") == pytest.approx([0.1])
    for bad in ["", "2/255,", ",", "1/255,,2/255"]:
        with pytest.raises(UsageError, match="several separated by commas"):
            parse_eps_list(bad)


def test_summarise_spread_and_srcc() -> None:
    rows = [
        AttackRow("r", f"d{i}", "m", "reflect", 50.0, c, a, a - c, EPS, 45.0, 0, EPS, False)
        for i, (c, a) in enumerate([(10.0, 12.0), (20.0, 23.0), (30.0, 19.0), (40.0, 38.0)])
    ]
    rows.append(AttackRow("r", "bad", "m", "reflect", error="unreadable"))
    labels = {(str(Path("r").resolve()), str(Path(f"d{i}").resolve())): float(i) for i in range(4)}
    s = summarise(rows, labels)
    assert (s["n"], s["attacked"], s["failed"], s["center"]) == (5, 4, 1, 50.0)
    assert s["mean_abs_shift"] == pytest.approx(4.5)
    assert s["shift_over_spread"] == pytest.approx(4.5 / np.std([10, 20, 30, 40]))
    assert s["srcc_attacked_vs_clean"] == pytest.approx(0.8)
    assert s["n_labelled"] == 4 and s["srcc_clean_vs_labels"] == pytest.approx(1.0)
    assert s["srcc_attacked_vs_labels"] == pytest.approx(0.8)


# ------------------------------------------------------------------------------------------------------- CLI

runner = CliRunner()


def _pairs(tmp_path: Path) -> tuple[Path, Path]:
    for i, name in enumerate(["a.png", "sub/b.png"]):
        ref = textured(16, 16, 3, seed=i)
        write_png(tmp_path / "ref" / name, ref)
        write_png(tmp_path / "dist" / name, degrade(ref, 0.04 * (i + 1), seed=i + 7))
    return tmp_path / "ref", tmp_path / "dist"


def test_cli_attacks_two_pairs_with_ssim_and_saves_adversarials(tmp_path: Path) -> None:
    from iqa_cli.io import read_image

    ref_dir, dist_dir = _pairs(tmp_path)
    adv_dir = tmp_path / "adv"
    result = runner.invoke(
        app,
        ["attack", str(ref_dir), str(dist_dir), "--model", "ssim", "-d", "cpu", "--steps", "3",
         "--save-adversarial", str(adv_dir), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0].keys()) == COLUMNS and len(rows) == 2
    for row in rows:
        assert row["model"] == "ssim" and row["method"] == "reflect" and row["error"] == ""
        assert float(row["center"]) == 0.5 and float(row["linf"]) <= EPS + 1e-6
    assert "midpoint of the scale" in result.stderr and "mean |shift|" in result.stderr
    for name in ["a.png", "sub/b.png"]:
        adv = read_image(adv_dir / name).pixels
        dist = read_image(dist_dir / name).pixels
        assert np.abs(adv - dist).max() <= EPS + 1e-6 and np.abs(adv - dist).max() > 0


def test_cli_single_unbounded_pair_needs_center_then_json_summary(tmp_path: Path) -> None:
    ref_dir, dist_dir = _pairs(tmp_path)
    args = ["attack", str(ref_dir / "a.png"), str(dist_dir / "a.png"), "-m", "psnr", "-d", "cpu", "--steps", "2"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--center" in refused.stderr and refused.stdout == ""
    ok = runner.invoke(app, [*args, "--center", "20", "--json", "--eps", "1"])
    assert ok.exit_code == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["center"] == 20.0 and summary["center_rule"] == "given with --center"
    assert summary["eps_8bit"] == pytest.approx(1.0) and len(summary["pairs"]) == 1


@pytest.mark.parametrize(
    ("eps", "message"),
    [
        ("0", "iqa: error: --eps must be in (0, 1] of the pixel range, got '0' = 0\n"),
        ("300", "iqa: error: --eps must be in (0, 1] of the pixel range, got '300' = 1.17647\n"),
        ("two", "iqa: error: --eps must be like 2/255, 0.008 or 2 (8-bit levels), got 'two'\n"),
        ("2/255,x", "iqa: error: --eps must be like 2/255, 0.008 or 2 (8-bit levels), got 'x'\n"),
        ("2/255,", "iqa: error: --eps must be one budget or several separated by commas (2/255,4/255), got '2/255,'\n"),
    ],
)
def test_cli_bad_eps_is_a_one_line_usage_error(tmp_path: Path, eps: str, message: str) -> None:
    ref_dir, dist_dir = _pairs(tmp_path)
    result = runner.invoke(app, ["attack", str(ref_dir / "a.png"), str(dist_dir / "a.png"), "-m", "ssim", "--eps", eps])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == message


def test_cli_several_budgets_one_row_each_monotone_and_no_progress_reported(tmp_path: Path) -> None:
    ref_dir, dist_dir = _pairs(tmp_path)
    adv_dir = tmp_path / "adv"
    args = ["attack", str(ref_dir), str(dist_dir), "-m", "ssim", "-d", "cpu", "--steps", "3", "--no-progress",
            "--eps", "4/255,1/255,2", "--save-adversarial", str(adv_dir), "--method", "pgd-down"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(Path(r["dist"]).name, round(float(r["eps"]) * 255)) for r in rows] == [
        ("a.png", 1), ("a.png", 2), ("a.png", 4), ("b.png", 1), ("b.png", 2), ("b.png", 4)
    ]  # fmt: skip
    for first, second in zip(rows, rows[1:], strict=False):
        if first["dist"] == second["dist"]:
            assert float(second["attacked_score"]) <= float(first["attacked_score"])  # pgd-down: lower is stronger
    assert all(r["no_progress"] == "False" and float(r["shift"]) < 0 for r in rows)
    assert sorted(p.name for p in (adv_dir / "sub").iterdir()) == ["b_eps1.png", "b_eps2.png", "b_eps4.png"]
    assert "eps 1/255: 2 attacked, 0 failed, 0 without progress" in result.stderr
    js = runner.invoke(app, [*args[:-4], "--json"])
    summary = json.loads(js.stdout)
    assert [round(p["eps_8bit"]) for p in summary["by_eps"]] == [1, 2, 4]
    assert summary["eps_8bit"] == pytest.approx(4) and summary["no_progress"] == 0 and len(summary["pairs"]) == 6


def test_cli_reports_no_progress_instead_of_robustness(tmp_path: Path) -> None:
    ref = textured(32, 32, 3, seed=3)
    write_png(tmp_path / "r.png", ref)
    write_png(tmp_path / "d.png", ref)  # identical: SSIM is 1, its maximum; pgd-up cannot raise it
    args = ["attack", str(tmp_path / "r.png"), str(tmp_path / "d.png"), "-m", "ssim", "--method", "pgd-up"]
    result = runner.invoke(app, [*args, "--steps", "3"])
    assert result.exit_code == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["no_progress"] == "True" and float(row["shift"]) == 0.0
    assert "no progress: the attack found no image that beats the clean one" in result.stderr
    summary = json.loads(runner.invoke(app, [*args, "--steps", "3", "--json"]).stdout)
    assert summary["no_progress"] == 1 and summary["pairs"][0]["no_progress"] is True


def test_restarts_add_candidates_and_are_checked() -> None:
    ref, _ = images()
    s = scorer(Bump())
    one = attack_pair(s, ref, ref.clone(), eps=1 / 255, steps=3, method="pgd-up")
    three = attack_pair(s, ref, ref.clone(), eps=1 / 255, steps=3, method="pgd-up", restarts=3)
    assert three.attacked_score >= one.attacked_score and three.linf <= 1 / 255 + 1e-6  # one rung: a superset
    with pytest.raises(UsageError, match="--restarts"):
        attack_pair(s, ref, ref.clone(), eps=1 / 255, restarts=0)

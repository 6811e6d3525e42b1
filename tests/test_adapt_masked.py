"""``iqa adapt`` on a base with the masked Haar block: statistics re-estimated, calibrated head kept, self-check.

Tiny generated domains and a handful of development conditions (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from iqa_cli.errors import UsageError
from iqa_cli.synth.devset import Condition, make_dev_pairs
from iqa_cli.train import adapt_masked
from iqa_cli.train.adapt import adapt
from iqa_cli.train.masked import GAIN_GRID, content_invariance, pristine_content_energy
from tests.conftest import degrade, random_causal_model, textured, write_png

CONDITIONS = [
    Condition(1, "gaussian blur", 2, 0.5, 4.38),
    Condition(1, "gaussian blur", 4, 2.0, 1.87),
    Condition(11, "white noise", 3, 0.003, 3.0),
    Condition(11, "white noise", 5, 0.01, 2.0),
    Condition(5, "colour shift", 3, 6.0, 3.0),
]
BLOCK = {"content_energy": 389.95, "masking_gain": 4.0, "loss_weight": 1.5, "chroma_visibility": 2.0}
KEPT = ("loss_weight", "chroma_visibility")


@pytest.fixture(scope="module")
def masked_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random causal model with the masked Haar block at the measured values and the shipped heads' layout:
    few-label on the calibrated feature (last column), label-free on the label-free feature (the one before)."""
    from iqa_cli.train.masked import with_masked_haar
    from iqa_cli.weights import save_weights

    model = with_masked_haar(random_causal_model(0))
    n = model.config.n_features
    with torch.no_grad():
        for name, value in BLOCK.items():
            getattr(model.masked_haar, name).fill_(value)
        if hasattr(model.masked_haar, "reference_energy"):  # blocks whose visibility follows the domain's contrast
            model.masked_haar.reference_energy.fill_(BLOCK["content_energy"])
        model.fl_weights.zero_()
        model.fl_weights[n - 1] = 2.0
        model.lf_direction.zero_()
        model.lf_direction[n - 2] = 1.0
        model.feature_scale[n - 2 :] = torch.tensor([0.25, 0.3])
    model = model.with_config(head="few_label")
    path = tmp_path_factory.mktemp("weights") / "masked-base.safetensors"
    save_weights(path, model.state_dict(), {"model": "causal-iqa", "config": model.config.to_dict()})
    return path


def _domain(root: Path, n: int = 6, size: int = 64, channels: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_png(root / f"img{i}.png", textured(size, size, channels, seed=10 + i))
    return root


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _domain(tmp_path_factory.mktemp("masked-domain"))


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory, domain: Path, masked_weights: Path):
    out = tmp_path_factory.mktemp("masked-out") / "domain.safetensors"
    report = adapt([domain], out, base=masked_weights, domain="tiny", conditions=CONDITIONS)
    return out, report


def _split_images(domain: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(fit, held-out) images as adapt splits them: by file sha256, seed 0."""
    from iqa_cli.train.domain import discover_images, load_domain_images
    from iqa_cli.weights import file_sha256

    paths = discover_images([domain])
    pixels, _ = load_domain_images(paths)
    fit, held = adapt_masked.split_for_check([file_sha256(p) for p in paths], 0)
    return [pixels[i] for i in fit], [pixels[i] for i in held]


def test_statistics_reestimated_calibrated_head_and_encoder_kept(adapted, domain: Path, masked_weights: Path) -> None:
    from iqa_cli.api import load_model
    from iqa_cli.weights import read_weights

    out, report = adapted
    base = load_model(weights=masked_weights, device="cpu")
    scorer = load_model(weights=out, device="cpu")
    model, block = scorer.module, scorer.module.masked_haar
    assert report.method == "masked-statistics" and report.steps == 0 and report.default_head == "few_label"
    assert model.config == base.module.config and model.config.head == "few_label"
    fit, held = _split_images(domain)
    assert (len(fit), len(held)) == (4, 2)
    info = report.masked
    assert info["n_fit"] == 4 and info["n_check"] == 2 and info["n_fit_pairs"] == 4 * 5  # colour shift kept: RGB
    assert len(info["conditions"]) == 5
    energy = pristine_content_energy(block, fit)
    assert info["content_energy"]["estimated"] == pytest.approx(energy, rel=1e-6)
    assert info["content_energy"]["estimated"] != pytest.approx(BLOCK["content_energy"], rel=1e-3)
    assert info["masking_gain"]["chosen"] in GAIN_GRID and block.masking_gain.item() in GAIN_GRID
    if info["kept_base_masking"]:
        assert block.content_energy.item() == pytest.approx(BLOCK["content_energy"])
        assert block.masking_gain.item() == BLOCK["masking_gain"]
    else:
        assert block.content_energy.item() == pytest.approx(energy, rel=1e-6)
        assert block.masking_gain.item() == info["masking_gain"]["chosen"]
    # everything but the masking statistics and the label-free tau is the base's, bit for bit
    ours, theirs = model.state_dict(), base.module.state_dict()
    changed = {k for k in ours if not torch.equal(ours[k], theirs[k])}
    assert changed <= {"masked_haar.content_energy", "masked_haar.masking_gain", "lf_tau"}
    assert "lf_tau" in changed and report.lf_tau == pytest.approx(info["lf_tau"]["adapted"])
    for k in (*(f"masked_haar.{p}" for p in KEPT), "fl_weights", "fl_bias", "fl_floor", "feature_scale"):
        assert torch.equal(ours[k], theirs[k]), k
    meta = read_weights(out)[1]
    assert meta["kind"] == "adapted" and meta["default_head"] == "few_label" and meta["domain"] == "tiny"
    assert meta["self_check"] == report.self_check and "held-out image(s): content invariance" in meta["self_check"]
    assert meta["masked_haar"]["masking_gain"] == info["masking_gain"]
    ref = textured(48, 48, 3, seed=3)
    assert scorer.score(ref, ref) == pytest.approx(100.0, abs=0.01)
    assert 0.0 <= scorer.score(ref, degrade(ref, 0.1)) < 100.0


def test_self_check_values_are_the_models_own(adapted, domain: Path, masked_weights: Path) -> None:
    """The base invariance the self-check reports is the base model's label-free feature (full scoring path) on
    the conditions re-created on the held-out images; the adapted one that of a model with the chosen masking."""
    from iqa_cli.api import load_model

    out, report = adapted
    _, held = _split_images(domain)
    check = report.masked["self_check"]
    base = load_model(weights=masked_weights, device="cpu").module
    candidate = load_model(weights=out, device="cpu").module
    with torch.no_grad():
        candidate.masked_haar.masking_gain.fill_(report.masked["masking_gain"]["chosen"])
        candidate.masked_haar.content_energy.fill_(report.masked["content_energy"]["estimated"])
    pairs = list(make_dev_pairs([(str(i), im) for i, im in enumerate(held)], CONDITIONS, seed=0))
    groups = np.array([p.condition.type_id * 10 + p.condition.level for p in pairs])
    n = base.config.n_features

    def invariance(model) -> float:
        r = torch.stack([torch.from_numpy(np.array(p.ref)).permute(2, 0, 1) for p in pairs])
        d = torch.stack([torch.from_numpy(p.dist).permute(2, 0, 1) for p in pairs])
        with torch.inference_mode():
            lf = model.pooled_features(r, d)[:, n - 2].double().numpy()
        return content_invariance(-lf, groups)

    assert check["n_images"] == 2 and check["n_pairs"] == len(pairs) == 10
    assert check["base"] == pytest.approx(invariance(base), abs=2e-4)
    assert check["adapted"] == pytest.approx(invariance(candidate), abs=2e-4)
    assert check["gain"] == (check["adapted"] > check["base"])
    assert report.masked["kept_base_masking"] == (not check["gain"])


@pytest.mark.parametrize("gain", [True, False])
def test_self_check_decides_whether_the_masking_changes(
    gain: bool, domain: Path, masked_weights: Path, tmp_path: Path, monkeypatch
) -> None:
    calls: list[int] = []

    def fake(label_free: np.ndarray, groups: np.ndarray) -> float:  # base first, then the adapted candidate
        calls.append(len(label_free))
        return (0.5, 0.9 if gain else 0.5)[len(calls) - 1]

    monkeypatch.setattr(adapt_masked, "invariance", fake)
    report = adapt([domain], tmp_path / "o.safetensors", base=masked_weights, conditions=CONDITIONS)
    assert calls == [10, 10]
    info, line = report.masked, report.self_check
    assert info["kept_base_masking"] is (not gain)
    if gain:
        assert line.startswith("self-check on 2 held-out image(s): content invariance 0.5000 -> 0.9000 (gain)")
        assert info["masking_gain"]["adapted"] == info["masking_gain"]["chosen"]
        assert info["content_energy"]["adapted"] == pytest.approx(info["content_energy"]["estimated"], rel=1e-6)
    else:
        assert "0.5000 -> 0.5000 (no gain: the base's block is kept)" in line
        assert info["masking_gain"]["adapted"] == BLOCK["masking_gain"]
        assert info["content_energy"]["adapted"] == pytest.approx(BLOCK["content_energy"])
    assert "a label-free consistency check, not agreement with human scores" in line


def test_split_is_seeded_and_independent_of_order() -> None:
    keys = [f"{i:064x}" for i in range(10)]
    fit, held = adapt_masked.split_for_check(keys, 0)
    assert len(held) == 3 and sorted(fit + held) == list(range(10))
    shuffled = keys[::-1]
    fit2, held2 = adapt_masked.split_for_check(shuffled, 0)
    assert {shuffled[i] for i in held2} == {keys[i] for i in held}
    assert adapt_masked.split_for_check(keys, 1)[1] != held or adapt_masked.split_for_check(keys, 2)[1] != held
    assert len(adapt_masked.split_for_check(keys[:4], 0)[1]) == 2  # at least 2 held out


def test_grey_domain_drops_colour_only_conditions(masked_weights: Path, tmp_path: Path) -> None:
    grey = _domain(tmp_path / "grey", n=4, size=48, channels=1)
    report = adapt([grey], tmp_path / "g.safetensors", base=masked_weights, conditions=CONDITIONS)
    assert report.grey and "5:3" not in report.masked["conditions"] and len(report.masked["conditions"]) == 4
    assert report.masked["n_fit"] == 2 and report.masked["n_fit_pairs"] == 2 * 4


def test_works_without_the_shared_data_folder(masked_weights: Path, tmp_path: Path, monkeypatch) -> None:
    """By default the packaged definitions of the 65 conditions are used: no data folder, no human score needed."""
    from iqa_cli.cli import app
    from iqa_cli.synth import devset

    empty = tmp_path / "no-data"
    empty.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("IQA_SHARED_DATA", str(empty))
    monkeypatch.chdir(elsewhere)
    assert devset.find_data_dir() == empty and not any(empty.iterdir())
    domain = _domain(tmp_path / "small", n=4, size=40)
    out = tmp_path / "o.safetensors"
    args = ["adapt", str(domain), "-o", str(out), "--base-weights", str(masked_weights), "--no-progress", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    expected = [f"{c.type_id}:{c.level}" for c in devset.load_condition_definitions()]
    assert len(expected) == 65 and report["masked"]["conditions"] == expected
    assert report["masked"]["n_fit"] == 2 and report["masked"]["n_fit_pairs"] == 2 * 65
    assert out.is_file()


def test_a_given_conditions_file_wins(domain: Path, masked_weights: Path, tmp_path: Path) -> None:
    """A user's CSV (definition columns only, no score) replaces the packaged conditions."""
    table = tmp_path / "mine.csv"
    table.write_text(
        "type_id,type_name,level,parameter\n"
        + "".join(f"{c.type_id},{c.type_name},{c.level},{c.parameter}\n" for c in CONDITIONS[:3])
    )
    report = adapt([domain], tmp_path / "o.safetensors", base=masked_weights, conditions=table)
    assert report.masked["conditions"] == ["1:2", "1:4", "11:3"]


def test_cli_prints_the_self_check_and_keeps_the_few_label_head(
    domain: Path, masked_weights: Path, tmp_path: Path
) -> None:
    from iqa_cli.cli import app

    table = tmp_path / "conditions.csv"
    table.write_text(
        "type_id,type_name,level,parameter,mean_score\n"
        + "".join(f"{c.type_id},{c.type_name},{c.level},{c.parameter},{c.mean_score}\n" for c in CONDITIONS)
    )
    out = tmp_path / "cli.safetensors"
    runner = CliRunner()
    args = ["adapt", str(domain), "-o", str(out), "--base-weights", str(masked_weights), "--conditions", str(table)]
    result = runner.invoke(app, [*args, "--no-progress", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["method"] == "masked-statistics" and report["default_head"] == "few_label"
    assert "masking re-estimated, calibrated head kept" in result.stderr and "default head few_label" in result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("iqa: self-check on 2 held-out image(s)")]
    assert len(lines) == 1 and "not agreement with human scores" in lines[0]
    assert report["self_check"] in lines[0]
    score = runner.invoke(app, ["score", str(domain / "img0.png"), str(domain / "img1.png"), "--weights", str(out)])
    assert score.exit_code == 0, score.stderr
    assert 0.0 <= float(score.stdout) <= 100.0


def test_head_can_be_switched_on_request(domain: Path, masked_weights: Path, tmp_path: Path) -> None:
    from iqa_cli.api import load_model

    out = tmp_path / "lf.safetensors"
    report = adapt([domain], out, base=masked_weights, conditions=CONDITIONS, head="label_free")
    assert report.default_head == "label_free"
    assert load_model(weights=out, device="cpu").module.config.head == "label_free"
    with pytest.raises(UsageError, match="head must be one of"):
        adapt([domain], tmp_path / "x.safetensors", base=masked_weights, conditions=CONDITIONS, head="other")


# ------------------------------------------------------------------------------------ anchored adaptation


@pytest.fixture(scope="module")
def anchored_weights(tmp_path_factory: pytest.TempPathFactory, masked_weights: Path) -> Path:
    """The masked base plus condition anchors in its metadata, as ``iqa train --masked`` writes them: the base's
    own mean calibrated feature per condition on other (generated) images."""
    from iqa_cli.api import load_model
    from iqa_cli.train.masked import condition_anchors
    from iqa_cli.weights import save_weights

    scorer = load_model(weights=masked_weights, device="cpu")
    refs = [textured(56, 56, 3, seed=100 + i) for i in range(3)]
    feats, keys = adapt_masked.block_features(
        scorer.module.masked_haar, refs, CONDITIONS, [adapt_masked.setting_of(scorer.module.masked_haar)], 0
    )
    anchors = condition_anchors(feats[:, 0, 1], keys)
    path = tmp_path_factory.mktemp("anchored") / "anchored.safetensors"
    meta = {"model": "causal-iqa", "config": scorer.module.config.to_dict(), "heads": {"condition_anchors": anchors}}
    save_weights(path, scorer.module.state_dict(), meta)
    return path


def test_star_changes_one_parameter_at_a_time() -> None:
    from iqa_cli.train.masked import CHROMA_GRID, LOSS_GRID, Setting

    center = Setting(1.5, 1.5, 0.5, 300.0)
    settings = adapt_masked.star(center, [300.0, 250.0])
    assert settings[0] == center
    assert len(settings) == 1 + (len(LOSS_GRID) - 1) + (len(CHROMA_GRID) - 1) + (len(GAIN_GRID) - 1) + 1
    fields = ("loss_weight", "chroma_visibility", "masking_gain", "content_energy")
    for s in settings[1:]:
        assert sum(getattr(s, f) != getattr(center, f) for f in fields) == 1
    assert len(set(settings)) == len(settings)


def test_anchors_are_read_from_the_heads_or_an_adapted_file() -> None:
    assert adapt_masked.anchors_of({"heads": {"condition_anchors": {"1:2": 0.1}}}) == {"1:2": 0.1}
    assert adapt_masked.anchors_of({"condition_anchors": {"1:2": 0.2}}) == {"1:2": 0.2}
    assert adapt_masked.anchors_of({"heads": {"content_energy": 3.0}}) is None
    assert adapt_masked.anchors_of({}) is None


def test_anchored_adapt_chooses_the_best_agreement_and_self_checks_it(
    anchored_weights: Path, domain: Path, tmp_path: Path
) -> None:
    """With anchors the four block parameters are searched by anchor agreement on the fit images (every value
    recomputed here from the block's features), the self-check compares base and chosen on the held-out images,
    the calibrated head and everything outside the block stay, and the output keeps the anchors."""
    from iqa_cli.api import load_model
    from iqa_cli.train.masked import Setting

    out = tmp_path / "anchored-out.safetensors"
    report = adapt([domain], out, base=anchored_weights, conditions=CONDITIONS)
    info = report.masked
    assert report.method == "masked-anchored" and info["criterion"] == "anchor agreement"
    base_scorer = load_model(weights=anchored_weights, device="cpu")
    anchors = adapt_masked.anchors_of(base_scorer.metadata)
    assert anchors is not None
    block = base_scorer.module.masked_haar
    fit, held = _split_images(domain)
    chosen = Setting(
        *(info[f]["chosen"] for f in ("loss_weight", "chroma_visibility", "masking_gain")),
        info["content_energy"]["chosen"],
    )
    base = adapt_masked.setting_of(block)
    feats, keys = adapt_masked.block_features(block, fit, CONDITIONS, [base, chosen], 0)
    assert info["search"][adapt_masked.label(base)] == adapt_masked.anchor_agreement(feats[:, 0, 1], keys, anchors)
    assert info["search"][adapt_masked.label(chosen)] == adapt_masked.anchor_agreement(feats[:, 1, 1], keys, anchors)
    assert info["search"][adapt_masked.label(chosen)] == max(info["search"].values())
    hf, hkeys = adapt_masked.block_features(block, held, CONDITIONS, [base, chosen], 0)
    check = info["self_check"]
    assert check["base"] == adapt_masked.anchor_agreement(hf[:, 0, 1], hkeys, anchors)
    assert check["adapted"] == adapt_masked.anchor_agreement(hf[:, 1, 1], hkeys, anchors)
    assert "anchor agreement" in report.self_check
    adapted = load_model(weights=out, device="cpu")
    final = chosen if check["gain"] else base
    assert adapt_masked.setting_of(adapted.module.masked_haar) == pytest.approx(final)
    assert adapt_masked.anchors_of(adapted.metadata) == anchors
    a, b = base_scorer.module.state_dict(), adapted.module.state_dict()
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed <= {
        f"masked_haar.{f}" for f in ("loss_weight", "chroma_visibility", "masking_gain", "content_energy")
    } | {"lf_tau"}


def test_anchored_search_moves_toward_anchors_it_can_reach(masked_weights: Path) -> None:
    """If the anchors are what a different loss weight gives on the same images, the search finds that weight."""
    from iqa_cli.api import load_model
    from iqa_cli.train.masked import condition_anchors

    block = load_model(weights=masked_weights, device="cpu").module.masked_haar
    images = [textured(48, 48, 3, seed=200 + i) for i in range(3)]
    base = adapt_masked.setting_of(block)
    target = adapt_masked.replace(base, loss_weight=1.0)
    feats, keys = adapt_masked.block_features(block, images, CONDITIONS, [target], 0)
    anchors = condition_anchors(feats[:, 0, 1], keys)
    chosen, table, label_free = adapt_masked.anchored_search(block, images, CONDITIONS, anchors, base.content_energy, 0)
    n = len(label_free[base])
    assert n == len(images) * len(CONDITIONS)
    assert table[adapt_masked.label(chosen)] >= table[adapt_masked.label(target)] >= table[adapt_masked.label(base)]

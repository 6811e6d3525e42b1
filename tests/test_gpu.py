"""The CUDA backend against the CPU one: every registered model, the batch command, batching, gradients.

Skipped where no CUDA GPU is available (CI has none); run on a lent GPU with ``bench/gpu_check.sh``. The tolerances
are float32 rounding on another device (other reduction orders), far below any score difference a user acts on.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import degrade, textured, write_png
from typer.testing import CliRunner

from iqa_cli.api import list_models, load_model
from iqa_cli.cli import app

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU available"),
]

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHIPPED = json.loads((GOLDEN / "scores.json").read_text())
MODELS = [m["name"] for m in list_models()]
DISTORTIONS = [k for k in SHIPPED["causal-iqa"] if k != "weights_sha256"]


def _tol(name: str) -> float:
    """Absolute tolerance between devices: 1e-3 on the 0-100 scales (the golden tests' own), 1e-4 on 0-1 ones.

    Measured on an H200 with full float32: SSIM 1.2e-5 off the CPU (reduction order); with cuDNN's default TF32
    convolutions, HaarPSI was 8.5e-4 and SSIM 1.5e-4 off, which this tolerance catches."""
    scale = next(m for m in list_models() if m["name"] == name)["scale"]
    return 1e-3 if scale is None or scale[1] > 1 else 1e-4


@pytest.mark.parametrize("name", MODELS)
def test_every_model_scores_the_examples_on_cuda_as_on_cpu(name: str) -> None:
    cpu, gpu = load_model(name, device="cpu"), load_model(name, device="cuda")
    assert gpu.device.type == "cuda" and gpu.weights_sha256 == cpu.weights_sha256
    for dist in sorted((EXAMPLES / "dist").glob("*.png")):
        ref = EXAMPLES / "ref" / f"{dist.stem.split('_')[0]}.png"
        a, b = cpu.score(ref, dist), gpu.score(ref, dist)
        assert b == pytest.approx(a, abs=_tol(name)), (name, dist.name, a, b)
        # identical images: the same value on both devices (100 for the causal models, by construction)
        assert gpu.score(ref, ref) == cpu.score(ref, ref), name


@pytest.mark.parametrize("name", list(SHIPPED))
def test_golden_scores_hold_on_cuda(name: str) -> None:
    gpu = load_model(name, device="cuda")
    assert gpu.weights_sha256 == SHIPPED[name]["weights_sha256"]
    for kind in DISTORTIONS:
        got = gpu.score(GOLDEN / "ref.png", GOLDEN / f"{kind}.png")
        assert got == pytest.approx(SHIPPED[name][kind], abs=_tol(name)), (name, kind)


def test_batched_forward_pass_on_cuda_matches_one_pair_at_a_time() -> None:
    scorer = load_model(device="cuda")
    refs = [textured(96, 128, seed=s) for s in range(6)]
    dists = [degrade(r, 0.03 + 0.02 * i, seed=i) for i, r in enumerate(refs)]

    def stack(images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()

    with torch.inference_mode():
        batched = scorer.score_tensors(stack(refs), stack(dists)).cpu()
        single = torch.cat([scorer.score_tensors(stack([r]), stack([d])).cpu() for r, d in zip(refs, dists)])
    assert batched.shape == (6,)
    assert torch.allclose(batched, single, rtol=0, atol=1e-3), (batched, single)


def test_gradients_on_cuda_match_cpu() -> None:
    """The attack and training paths differentiate the score: the gradient must not depend on the device."""
    ref = torch.from_numpy(textured(64, 64, seed=1)).permute(2, 0, 1)[None]
    dist = (ref + 0.04 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    grads = []
    for device in ("cpu", "cuda"):
        scorer = load_model(device=device)
        d = dist.clone().to(device).requires_grad_(True)
        scorer.score_tensors(ref.to(device), d).sum().backward()
        assert d.grad is not None and torch.isfinite(d.grad).all()
        grads.append(d.grad.cpu())
    rel = (grads[1] - grads[0]).norm() / grads[0].norm()
    assert float(rel) < 1e-3, float(rel)


def test_large_image_scores_on_cuda_as_on_cpu() -> None:
    """A 12-megapixel pair (a phone photo) fits and agrees."""
    ref = cv2.resize(textured(300, 400, seed=5), (4000, 3000), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    dist = degrade(ref, 0.05)
    a = load_model(device="cpu").score(ref, dist)
    b = load_model(device="cuda").score(ref, dist)
    assert b == pytest.approx(a, abs=1e-3)


def _folder_pairs(tmp_path: Path) -> tuple[Path, Path]:
    """Two sizes interleaved (so batches break at shape changes), one unreadable file, one size mismatch."""
    ref_dir, dist_dir = tmp_path / "ref", tmp_path / "dist"
    for i in range(10):
        h, w = (64, 80) if i % 3 else (72, 96)
        ref = textured(h, w, seed=i)
        write_png(ref_dir / f"p{i:02d}.png", ref)
        write_png(dist_dir / f"p{i:02d}.png", degrade(ref, 0.02 + 0.01 * i, seed=i))
    (dist_dir / "p04.png").write_bytes(b"not a png")
    write_png(dist_dir / "p07.png", textured(40, 40, seed=99))
    return ref_dir, dist_dir


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_command_on_cuda_gives_the_cpu_rows(tmp_path: Path) -> None:
    ref_dir, dist_dir = _folder_pairs(tmp_path)
    runs = {}
    for label, extra in {
        "cpu": ["--device", "cpu"],
        "cuda": ["--device", "cuda"],
        "cuda-batched": ["--device", "cuda", "--batch-size", "4", "--workers", "3"],
    }.items():
        out = tmp_path / f"{label}.jsonl"
        result = CliRunner().invoke(app, ["batch", str(ref_dir), str(dist_dir), "-o", str(out), "-f", "jsonl", *extra])
        assert result.exit_code == 1, result.stderr  # the two bad pairs: exit 1, every other row written
        runs[label] = _rows(out)
    cpu = runs["cpu"]
    assert [r["error"] is None for r in cpu].count(False) == 2
    for label in ("cuda", "cuda-batched"):
        rows = runs[label]
        assert [(r["ref"], r["dist"]) for r in rows] == [(r["ref"], r["dist"]) for r in cpu], label
        for a, b in zip(cpu, rows):
            assert (a["error"] is None) == (b["error"] is None), (label, a, b)
            assert a["weights"] == b["weights"]
            if a["score"] is not None:
                assert b["score"] == pytest.approx(a["score"], abs=1e-3), (label, a, b)


def test_quality_map_on_cuda_matches_cpu() -> None:
    ref, dist = EXAMPLES / "ref" / "parrots.png", EXAMPLES / "dist" / "parrots_gaussian_blur.png"
    a = load_model(device="cpu").quality_map(ref, dist)
    b = load_model(device="cuda").quality_map(ref, dist)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(a).max()))


def test_attack_command_runs_on_cuda_from_the_cpu_clean_score(tmp_path: Path) -> None:
    """PGD follows gradient signs, so the attacked score may differ between devices; the clean score may not, and the
    perturbation must respect the budget on both."""
    ref, dist = EXAMPLES / "ref" / "bikes.png", EXAMPLES / "dist" / "bikes_white_noise.png"
    rows = {}
    for device in ("cpu", "cuda"):
        args = ["attack", str(ref), str(dist), "-d", device, "--steps", "3", "--no-progress"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.stderr
        header, line = result.stdout.strip().splitlines()
        rows[device] = dict(zip(header.split(","), line.split(",")))
    cpu, gpu = rows["cpu"], rows["cuda"]
    assert gpu["error"] == "" and float(gpu["clean_score"]) == pytest.approx(float(cpu["clean_score"]), abs=1e-3)
    for row in (cpu, gpu):
        assert float(row["linf"]) <= float(row["eps"]) + 1e-6
        assert abs(float(row["attacked_score"]) - float(row["clean_score"])) > 0.1  # the attack moved the score

"""Train the KADID "denoise" stand-in (:mod:`iqa_cli.synth.denoiser`) on the training split of the pristine images.

Each step: random 48x48 crops of training images, white noise with sigma ~ U(0, 100/255) per crop, clipped and
rounded to 8 bits (as the KADID re-creation makes its noisy input), MSE between the denoised and the clean crop;
Adam with a cosine schedule. Kodak (the benchmark) is never used.

Usage: python -m iqa_cli.train.denoiser [--steps 3000] [--out weights] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from iqa_cli.synth.denoiser import NAME, WEIGHTS, SmallDnCNN
from iqa_cli.train.schedule import cosine_lr, set_lr

log = logging.getLogger(__name__)
MAX_SIGMA = 100.0 / 255.0


def noisy_batch(
    images: Sequence[np.ndarray], batch: int, patch: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) crops (B, 3, patch, patch): noise sigma ~ U(0, MAX_SIGMA), clipped, 8-bit."""
    clean = []
    for _ in range(batch):
        im = images[int(rng.integers(len(images)))]
        h, w = im.shape[:2]
        y, x = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
        crop = im[y : y + patch, x : x + patch].astype(np.float32) / 255.0
        clean.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    c = np.stack(clean)
    sigma = rng.uniform(0.0, MAX_SIGMA, size=(batch, 1, 1, 1))
    noisy = np.round(np.clip(c + rng.normal(size=c.shape) * sigma, 0.0, 1.0) * 255.0) / 255.0
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2)  # noqa: E731
    return to_t(noisy), to_t(c)


def train_denoiser(
    images: Sequence[np.ndarray],
    steps: int = 3000,
    batch: int = 32,
    patch: int = 48,
    lr: float = 1e-3,
    seed: int = 0,
    depth: int = 7,
    width: int = 32,
) -> SmallDnCNN:
    """Train a :class:`SmallDnCNN` on uint8 RGB images; returns it in eval mode."""
    torch.manual_seed(seed)
    model = SmallDnCNN(depth, width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for step in range(steps):
        set_lr(opt, cosine_lr(lr, step, steps))
        noisy, clean = noisy_batch(images, batch, patch, rng)
        loss = F.mse_loss(model(noisy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step + 1 == steps:
            value = float(loss.detach())
            psnr = -10.0 * math.log10(max(value, 1e-12))
            log.info("step %d/%d %.0fs loss %.6f (%.2f dB)", step + 1, steps, time.perf_counter() - t0, value, psnr)
    return model.eval()


def main(argv: Sequence[str] | None = None) -> None:
    from iqa_cli.synth.devset import pristine_paths
    from iqa_cli.train.data import load_images
    from iqa_cli.weights import save_weights

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--out", type=Path, default=Path("runs/denoiser"), help="folder (the shipped weights/ needs --force)"
    )
    ap.add_argument("--force", action="store_true", help="allow the shipped weights folder and overwriting")
    args = ap.parse_args(argv)
    from iqa_cli.errors import UsageError
    from iqa_cli.train.publish import check_out_dir

    try:
        check_out_dir(args.out, WEIGHTS, args.force)
    except UsageError as exc:
        ap.exit(2, f"iqa: error: {exc}\n")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    images = [im for im in load_images(pristine_paths("train"), max_side=512) if im.dtype == np.uint8]
    model = train_denoiser(images, steps=args.steps, seed=args.seed)
    config = {"depth": model.depth, "width": model.width}
    recipe = {
        "command": f"python -m iqa_cli.train.denoiser --steps {args.steps} --seed {args.seed}",
        "steps": args.steps,
        "batch": 32,
        "patch": 48,
        "max_sigma_8bit": 100,
        "seed": args.seed,
    }
    data = {"train": "pristine train split (BSDS500 + Urban100), longer side <= 512; Kodak never used"}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / WEIGHTS
    sha = save_weights(path, model.state_dict(), {"model": NAME, "config": config, "recipe": recipe, "data": data})
    from iqa_cli.train.publish import update_manifest

    update_manifest(args.out, WEIGHTS, sha, NAME, config, recipe, data, arch="SmallDnCNN")
    print(f"{path} sha256 {sha}")


if __name__ == "__main__":
    main()

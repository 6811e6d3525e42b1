"""Energy-weighted pooling of the pixel maps."""
import sys
import numpy as np
import torch
sys.path.insert(0, ".")
from iqa_cli.models.causal import fixed_colour, half_mean, PixelDegradation

torch.set_num_threads(1)
pix = PixelDegradation()


def extra(r, d):
    f = []
    half = fixed_colour(torch.cat([r, d]))
    maps = pix(r, d, half)
    o = half[:, :1]
    for i, m in enumerate(maps):
        if i:
            o = half_mean(o)
        g = pix._grad_mag(o)
        wmax = torch.maximum(g[:1], g[1:])
        wref = g[:1]
        for w in (wmax, wref):
            f.append(((m * w).sum(dim=(2, 3)) / (w.sum() + 1e-8))[0])
    return torch.cat(f).numpy()


if __name__ == "__main__":
    which = sys.argv[1]
    z = np.load(f"runs/exp/{which}.npz", allow_pickle=True)
    out = []
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        for i, dd in enumerate(z["dists"]):
            out.append(extra(t(z["refs"][z["ref_idx"][i]]), t(dd)))
    np.save(f"runs/exp/extra2_{which}.npy", np.array(out))
    print("done", len(out), out[0].shape)

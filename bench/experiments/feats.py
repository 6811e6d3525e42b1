"""Shipped model's pooled features for the cached pairs."""
import sys
import numpy as np
import torch
sys.path.insert(0, ".")
from iqa_cli.api import load_model

which = sys.argv[1]
torch.set_num_threads(1)
z = np.load(f"runs/exp/{which}.npz", allow_pickle=True)
model = load_model("causal-iqa", device="cpu").module.eval()
out = []
with torch.inference_mode():
    for i, d in enumerate(z["dists"]):
        r = z["refs"][z["ref_idx"][i]]
        t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0
        out.append(model.pooled_features(t(r), t(d)).numpy()[0])
np.save(f"runs/exp/feat_{which}.npy", np.array(out))
print("done", len(out))

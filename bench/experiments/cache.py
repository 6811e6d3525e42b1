"""Cache the dev pairs (uint8) of the training dev images and of Kodak at 512 px."""
import sys
import numpy as np
import torch
sys.path.insert(0, ".")
from iqa_cli.devset import load_refs, pristine_paths, load_conditions, make_dev_pairs
from iqa_cli.train import run

which = sys.argv[1]
torch.set_num_threads(1)
if which == "train":
    refs = load_refs(run.dev_train_refs()); max_side = None
else:
    refs = load_refs(pristine_paths("holdout")); max_side = 512
conds = load_conditions()
R, D, meta = {}, [], []
for p in make_dev_pairs(refs, conds, seed=0, max_side=max_side):
    R.setdefault(p.ref_name, (p.ref * 255).round().astype(np.uint8))
    D.append((p.dist * 255).round().astype(np.uint8))
    meta.append((p.condition.mean_score, p.condition.type_id, p.condition.level, list(R).index(p.ref_name)))
m = np.array(meta)
shapes = sorted({d.shape for d in D})
np.savez(f"runs/exp/{which}.npz", dists=np.array(D, dtype=object), refs=np.array(list(R.values()), dtype=object),
         mos=m[:, 0], type_ids=m[:, 1].astype(int), levels=m[:, 2].astype(int), ref_idx=m[:, 3].astype(int))
print(which, len(D), shapes[:3])

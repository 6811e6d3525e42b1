"""Few-label head on the "all" and "pixel" feature groups over softness {1, 3, 10} x ridge {0.03 .. 1}: the grid that
`iqa train` now searches by training-image LOTO (shown in brackets), with Kodak LOTO beside it."""

from common import compare, labels, shipped_features

from iqa_cli.train import heads

m, F0tr, F0te, scale = shipped_features(None)
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
for g in ("all", "pixel"):
    cols = heads.feature_groups(m)[g]
    for c in (1.0, 3.0, 10.0):
        for ridge in (0.03, 0.1, 0.3, 1.0):
            compare(f"{g} c{c} r{ridge}", F0tr[:, cols], ytr, ttr, F0te[:, cols], yte, tte, scale[cols] * c, ridge)

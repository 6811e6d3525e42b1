"""``iqa models``: the registered models as an aligned table, or JSON."""

from __future__ import annotations

import json

from iqa_cli.cli.options import JsonOpt


def models(as_json: JsonOpt = False) -> None:
    """List the registered models: direction, scale, input constraints, weights sha256."""
    from iqa_cli.api import list_models
    from iqa_cli.output import render_table

    rows = list_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = [
        {
            "name": r["name"] + (" (default)" if r["default"] else ""),
            "direction": "higher=better" if r["higher_is_better"] else "lower=better",
            "scale": "-".join(f"{v:g}" for v in r["scale"]) if r["scale"] else "unbounded",
            "unit": r["unit"],
            "min_side": r["min_size"],
            "sha256": (r["weights_sha256"] or "-")[:12],
        }
        for r in rows
    ]
    print(render_table(table, ["name", "direction", "scale", "unit", "min_side", "sha256"]))

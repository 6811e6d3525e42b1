"""``iqa batch --engine ray`` against the local engine (same rows, bit-identical scores, bad files, resume), the
missing-extra error, and Parquet manifests and outputs. One local Ray instance (2 CPUs) serves every Ray test."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import degrade, textured, write_png
from typer.testing import CliRunner

from iqa_cli.cli import app

REPO = Path(__file__).resolve().parents[1]
CPU = ["--device", "cpu", "--no-progress"]


def iqa(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray instance with 2 CPUs for the whole session (started once: about 10 s)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


def _dataset(root: Path) -> tuple[Path, Path]:
    """Folders with good pairs, a grey pair, a corrupt file, a size mismatch and a pair of another size."""
    for i in range(6):
        ref = textured(48, 56, seed=i)
        write_png(root / "ref" / f"p{i}.png", ref)
        write_png(root / "dist" / f"p{i}.png", degrade(ref, 0.02 + 0.01 * i, seed=i))
    grey = textured(48, 56, channels=1, seed=9)
    write_png(root / "ref" / "grey.png", grey)
    write_png(root / "dist" / "grey.png", degrade(grey, 0.05, seed=9))
    write_png(root / "ref" / "other.png", textured(64, 40, seed=11))
    write_png(root / "dist" / "other.png", degrade(textured(64, 40, seed=11), 0.04, seed=11))
    write_png(root / "ref" / "corrupt.png", textured(48, 56, seed=7))
    (root / "dist" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    write_png(root / "ref" / "mismatch.png", textured(48, 56, seed=8))
    write_png(root / "dist" / "mismatch.png", textured(40, 56, seed=8))
    return root / "ref", root / "dist"


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(rows, key=lambda r: (r["ref"], r["dist"]))


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    root = tmp_path_factory.mktemp("pairs")
    ref_dir, dist_dir = _dataset(root)
    out = root / "local.jsonl"
    result = iqa("batch", ref_dir, dist_dir, "-f", "jsonl", "-o", out, *CPU)
    assert result.exit_code == 1, result.stderr  # two bad pairs
    return ref_dir, dist_dir, _rows(out)


def test_ray_engine_gives_the_local_rows_bit_for_bit(
    ray_cluster: None, local_rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref_dir, dist_dir, expected = local_rows
    out = tmp_path / "ray.jsonl"
    result = iqa("batch", ref_dir, dist_dir, "-f", "jsonl", "-o", out, *CPU, "--engine", "ray")
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert "8 scored, 2 failed" in result.stderr and "on Ray" in result.stderr
    got = _rows(out)
    assert got == expected  # every column; scores as JSON floats, so bit for bit
    errors = {Path(r["dist"]).name: r["error"] for r in got if r["error"]}
    assert set(errors) == {"corrupt.png", "mismatch.png"}
    assert "differ in size" in errors["mismatch.png"]
    # relative folders: the actors resolve them from the driver's folder, rows (and error texts) as locally
    monkeypatch.chdir(ref_dir.parent)
    for engine in ("local", "ray"):
        rel = iqa("batch", "ref", "dist", "-f", "jsonl", "-o", tmp_path / f"{engine}.rel", *CPU, "--engine", engine)
        assert rel.exit_code == 1, rel.stderr
    rel_local, rel_ray = _rows(tmp_path / "local.rel"), _rows(tmp_path / "ray.rel")
    assert rel_ray == rel_local and rel_local[0]["ref"] == "ref/corrupt.png"
    assert [r["score"] for r in rel_ray] == [r["score"] for r in expected]


def test_ray_resume_skips_done_pairs_and_parquet_round_trip(ray_cluster: None, local_rows, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref_dir, dist_dir, expected = local_rows
    manifest = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"ref": [r["ref"] for r in expected], "dist": [r["dist"] for r in expected]}), manifest)
    # a Parquet output holding the first four rows (as a killed run would have left them)
    out = tmp_path / "out.parquet"
    pq.write_table(pa.Table.from_pylist(expected[:4], schema=_schema(pa)), out)
    args = ["batch", "--pairs", manifest, "-f", "parquet", "-o", out, *CPU, "--engine", "ray", "--resume"]
    result = iqa(*args)
    assert result.exit_code == 0, result.stderr  # the two bad pairs sort first: already in the file
    assert "4 pair(s) already in" in result.stderr and "6 to go" in result.stderr
    assert "6 scored, 0 failed, 4 skipped (resume)" in result.stderr
    assert _rows(out) == expected
    again = iqa(*args)
    assert again.exit_code == 0 and "0 to go" in again.stderr
    assert _rows(out) == expected


def _schema(pa):  # the columns of iqa's Parquet output
    return pa.schema(
        [(c, pa.float64() if c == "score" else pa.string()) for c in ("ref", "dist", "model", "score", "error")]
    )


def test_local_parquet_output_and_manifest_match_jsonl(local_rows, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref_dir, dist_dir, expected = local_rows
    manifest = tmp_path / "pairs.parquet"
    pq.write_table(
        pa.table({"Reference": [r["ref"] for r in expected], "Distorted": [r["dist"] for r in expected]}), manifest
    )
    out = tmp_path / "out.parquet"
    result = iqa("batch", "--pairs", manifest, "-f", "parquet", "-o", out, *CPU)
    assert result.exit_code == 1, result.stderr
    assert pq.read_table(out).schema == _schema(pa)
    assert _rows(out) == expected
    assert not list(tmp_path.glob(".*.partial"))
    no_out = iqa("batch", "--pairs", manifest, "-f", "parquet", *CPU)
    assert no_out.exit_code == 2 and "--format parquet needs --output" in no_out.stderr


def test_bad_manifest_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"a": ["x"], "b": ["y"]}), manifest)
    result = iqa("batch", "--pairs", manifest, *CPU)
    assert result.exit_code == 1
    assert "needs columns 'ref' and 'dist'" in result.stderr and "found: a, b" in result.stderr


def test_missing_ray_names_the_extra(make_image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_image("ref/a.png")
    make_image("dist/a.png", noise=0.05)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    out = tmp_path / "out.csv"
    result = iqa("batch", tmp_path / "ref", tmp_path / "dist", "-o", out, *CPU, "--engine", "ray")
    assert result.exit_code == 1
    assert 'pip install "iqa-cli[ray]"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # reported before any output is opened


def test_address_needs_the_ray_engine(tmp_path: Path) -> None:
    result = iqa("batch", tmp_path, tmp_path, "--address", "auto", *CPU)
    assert result.exit_code == 2 and "--address needs --engine ray" in result.stderr

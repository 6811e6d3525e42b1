"""``iqa batch --engine ray`` against the local engine (same rows, weights column included, bit-identical scores,
bad files, resume, retry of failed rows, the weights check), the missing-extra error, and Parquet manifests and
outputs. One local Ray instance (2 CPUs) serves every Ray test."""

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
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        rows = pq.read_table(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(rows, key=lambda r: (r["ref"], r["dist"]))


def _jsonl(text: str) -> list[dict]:
    return sorted((json.loads(line) for line in text.splitlines() if line.strip()), key=lambda r: (r["ref"], r["dist"]))


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The dataset's folder and the local engine's rows for it. Tests write their outputs into that folder, so
    rows (paths relative to the output's folder) compare directly."""
    root = tmp_path_factory.mktemp("pairs")
    ref_dir, dist_dir = _dataset(root)
    out = root / "local.jsonl"
    result = iqa("batch", ref_dir, dist_dir, "-f", "jsonl", "-o", out, *CPU)
    assert result.exit_code == 1, result.stderr  # two bad pairs
    rows = _rows(out)
    from iqa_cli.api import load_model

    weights_id = load_model(device="cpu").weights_id
    assert weights_id != "none" and {r["weights"] for r in rows} == {weights_id}  # the shipped weights' sha256
    return root, rows


def test_ray_engine_gives_the_local_rows_bit_for_bit(
    ray_cluster: None, local_rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = local_rows
    out = root / "ray.jsonl"
    result = iqa("batch", root / "ref", root / "dist", "-f", "jsonl", "-o", out, *CPU, "--engine", "ray")
    assert result.exit_code == 1, result.stderr  # the final file holds error rows
    assert result.stdout == ""
    assert "8 scored, 2 failed" in result.stderr and "on Ray" in result.stderr
    got = _rows(out)
    assert got == expected  # every column, weights included; scores as JSON floats, so bit for bit
    errors = {Path(r["dist"]).name: r["error"] for r in got if r["error"]}
    assert set(errors) == {"corrupt.png", "mismatch.png"}
    assert "differ in size" in errors["mismatch.png"]
    # the other layout: two one-CPU actors (one thread each) instead of one actor with the node's two CPUs
    two = root / "ray-two-actors.jsonl"
    args = ["batch", root / "ref", root / "dist", "-f", "jsonl", "-o", two, *CPU, "--engine", "ray"]
    result = iqa(*args, "--actor-cpus", "1")
    assert result.exit_code == 1, result.stderr
    assert _rows(two) == expected
    too_big = iqa(*args, "--actor-cpus", "3")
    assert too_big.exit_code == 1 and "no node of the Ray cluster has that many (largest: 2)" in too_big.stderr
    # relative folders, rows on stdout: the actors resolve paths from the driver's folder; rows name files as given
    monkeypatch.chdir(root)
    stdout = {}
    for engine in ("local", "ray"):
        rel = iqa("batch", "ref", "dist", "-f", "jsonl", *CPU, "--engine", engine)
        assert rel.exit_code == 1, rel.stderr
        stdout[engine] = _jsonl(rel.stdout)
    assert stdout["ray"] == stdout["local"]  # error texts name the files as given, too
    drop = ("error",)  # the -o file's rows are relative to root, as these; only the error texts name other paths
    assert [{k: v for k, v in r.items() if k not in drop} for r in stdout["ray"]] == [
        {k: v for k, v in r.items() if k not in drop} for r in expected
    ]


def test_ray_resume_retry_failed_and_weights_check(ray_cluster: None, local_rows) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from iqa_cli.output import COLUMNS

    root, expected = local_rows
    manifest = root / "resume-pairs.parquet"
    pq.write_table(pa.table({"ref": [r["ref"] for r in expected], "dist": [r["dist"] for r in expected]}), manifest)
    # a Parquet output as an earlier run left it: four rows, one of a good pair an error (a transient failure)
    seeded = [dict(r) for r in expected[:4]]
    good = next(i for i, r in enumerate(seeded) if r["error"] is None)
    seeded[good] = {**seeded[good], "score": None, "error": "earlier failure"}
    out = root / "resume.parquet"
    schema = pa.schema([(c, pa.float64() if c == "score" else pa.string()) for c in COLUMNS])
    pq.write_table(pa.Table.from_pylist(seeded, schema=schema), out)
    args = ["batch", "--pairs", manifest, "-f", "parquet", "-o", out, *CPU, "--engine", "ray", "--resume"]
    result = iqa(*args)
    assert result.exit_code == 1, result.stderr  # error rows in the final file (the two bad pairs sort first)
    assert "4 pair(s) already in" in result.stderr and "6 to go" in result.stderr
    assert "6 scored, 0 failed, 4 skipped (resume)" in result.stderr
    assert "3 of 10 pair(s)" in result.stderr and "--retry-failed" in result.stderr
    assert _rows(out) == sorted(seeded + expected[4:], key=lambda r: (r["ref"], r["dist"]))
    retry = iqa(*args, "--retry-failed")
    assert retry.exit_code == 1, retry.stderr  # the two bad pairs fail again
    assert "3 to go (3 failed one(s) again)" in retry.stderr
    assert "1 scored, 2 failed, 7 skipped (resume)" in retry.stderr
    assert _rows(out) == expected  # one row per pair, the retried one now scored, bit for bit
    assert not list(root.glob(".*.tmp"))
    # rows of other weights in the -o file: refused before any scoring, file untouched
    other = root / "other-weights.jsonl"
    other.write_text("".join(json.dumps({**r, "weights": "0" * 12}) + "\n" for r in expected[:2]), encoding="utf-8")
    before = other.read_bytes()
    refused = iqa("batch", "--pairs", manifest, "-f", "jsonl", "-o", other, *CPU, "--engine", "ray", "--resume")
    assert refused.exit_code == 2, refused.stderr
    assert "weights 000000000000" in refused.stderr and "pass the same --model/--weights" in refused.stderr
    assert other.read_bytes() == before


def test_local_parquet_output_and_manifest_match_jsonl(local_rows) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from iqa_cli.output import COLUMNS

    root, expected = local_rows
    manifest = root / "local-pairs.parquet"
    pq.write_table(
        pa.table({"Reference": [r["ref"] for r in expected], "Distorted": [r["dist"] for r in expected]}), manifest
    )
    out = root / "local-out.parquet"
    result = iqa("batch", "--pairs", manifest, "-f", "parquet", "-o", out, *CPU)
    assert result.exit_code == 1, result.stderr
    assert pq.read_table(out).schema.names == list(COLUMNS)
    assert _rows(out) == expected
    assert not list(root.glob(".*.tmp"))
    # resume by file identity: the same pairs as absolute folders are all done
    again = iqa(
        "batch", (root / "ref").resolve(), (root / "dist").resolve(), "-f", "parquet", "-o", out, *CPU, "--resume"
    )
    assert again.exit_code == 1 and "10 pair(s) already in" in again.stderr and "0 to go" in again.stderr
    assert _rows(out) == expected
    no_out = iqa("batch", "--pairs", manifest, "-f", "parquet", *CPU)
    assert no_out.exit_code == 2 and "--format parquet needs --output" in no_out.stderr


def test_bad_manifest_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    manifest = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"a": ["x"], "b": ["y"]}), manifest)
    result = iqa("batch", "--pairs", manifest, *CPU)
    assert result.exit_code == 1
    assert "pairs Parquet" in result.stderr and "needs a header with columns ref,dist" in result.stderr
    assert "found: a, b" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    pq.write_table(pa.table({"ref": ["x", None], "dist": ["y", "z"]}), manifest)
    empty = iqa("batch", "--pairs", manifest, *CPU)
    assert empty.exit_code == 1 and "line 3: empty 'ref' or 'dist' cell" in empty.stderr


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
    result = iqa("batch", tmp_path, tmp_path, "--actor-cpus", "2", *CPU)
    assert result.exit_code == 2 and "--actor-cpus needs --engine ray" in result.stderr


class FakeCluster:
    """What :func:`iqa_cli.ray_engine.plan_layout` asks of ``ray``: live nodes' resources and the totals."""

    def __init__(self, cpus: list[int], gpus: int = 0, dead: int = 0) -> None:
        self.cpus, self.gpus, self.dead = cpus, gpus, dead

    def nodes(self) -> list[dict]:
        live = [{"Alive": True, "Resources": {"CPU": float(c)}} for c in self.cpus]
        return live + [{"Alive": False, "Resources": {"CPU": 64.0}}] * self.dead

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": float(sum(self.cpus)), **({"GPU": float(self.gpus)} if self.gpus else {})}


def test_actor_layout_one_actor_per_node_using_its_cpus() -> None:
    from iqa_cli.errors import IQAError
    from iqa_cli.ray_engine import Layout, plan_layout

    assert plan_layout(FakeCluster([2]), "cpu") == Layout(1, 2, gpu=False)  # this VM: one actor, two threads
    assert plan_layout(FakeCluster([4, 4, 4], dead=1), "auto") == Layout(3, 4, gpu=False)  # dead nodes ignored
    assert plan_layout(FakeCluster([2, 8]), "cpu") == Layout(5, 2, gpu=False)  # the smallest node sets the size
    assert plan_layout(FakeCluster([2, 8]), "cpu", actor_cpus=4) == Layout(2, 4, gpu=False)  # fits the big node
    assert plan_layout(FakeCluster([2]), "cpu", actor_cpus=1) == Layout(2, 1, gpu=False)  # one-CPU actors
    assert plan_layout(FakeCluster([4, 4]), "cpu", actors=1) == Layout(1, 4, gpu=False)
    with pytest.raises(IQAError, match="no node of the Ray cluster has that many .largest: 8"):
        plan_layout(FakeCluster([2, 8]), "cpu", actor_cpus=16)
    # GPUs: one actor per GPU with its share of the CPUs (at most 8) as decode threads; --device cpu ignores them
    assert plan_layout(FakeCluster([16, 16], gpus=2), "auto") == Layout(2, 8, gpu=True)
    assert plan_layout(FakeCluster([6], gpus=2), "cuda") == Layout(2, 3, gpu=True)
    assert plan_layout(FakeCluster([16], gpus=2), "cpu") == Layout(1, 16, gpu=False)
    with pytest.raises(IQAError, match="has no GPU"):
        plan_layout(FakeCluster([4]), "cuda")


def test_parquet_sink_keeps_the_rows_of_an_interrupted_run(local_rows) -> None:
    """Parquet cannot be appended to: an error (or Ctrl-C) inside the run still writes the rows scored so far."""
    pytest.importorskip("pyarrow")
    from iqa_cli.api import PairResult
    from iqa_cli.results import ResultSink

    root, expected = local_rows
    out = root / "interrupted.parquet"
    sink = ResultSink(out, "parquet")
    sink.check_identity(expected[0]["model"], expected[0]["weights"])
    with pytest.raises(KeyboardInterrupt), sink:
        for row in expected[:3]:
            sink.write(PairResult(**{**row, "ref": str(root / row["ref"]), "dist": str(root / row["dist"])}))
        raise KeyboardInterrupt
    assert _rows(out) == expected[:3]
    assert not list(root.glob(".*.tmp"))


def test_prints_on_stdout_during_the_ray_engine_go_to_stderr(
    local_rows, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ray's driver prints raylet errors ("A worker died ...") on sys.stdout: while the engine runs they must go to
    stderr, and stdout carry the rows alone. The engine is stood in for by the local one plus such a print."""
    from iqa_cli import ray_engine
    from iqa_cli.api import load_model, score_pairs
    from iqa_cli.batch import discover, run_batch
    from iqa_cli.results import ResultSink

    root, _ = local_rows
    scorer = load_model(device="cpu")

    def fake(pairs, **_kwargs):
        print("(raylet) A worker died or was killed while executing a task")
        yield from score_pairs(scorer, pairs)

    monkeypatch.setattr(ray_engine, "score_pairs_ray", fake)
    todo = discover(root / "ref", root / "dist", None, "path").pairs[:3]
    sink = ResultSink(None, "jsonl")
    run_batch(scorer, sink.plan(todo), sink, ray=ray_engine.RayOptions())
    out, err = capsys.readouterr()
    assert len(_jsonl(out)) == 3 and "(raylet) A worker died" in err and "raylet" not in out
    print("after the engine: stdout again")
    assert capsys.readouterr().out == "after the engine: stdout again\n"

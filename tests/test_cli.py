"""End-to-end tests of the ``iqa`` command line: stdout carries data only, stderr the rest, exit codes 0/1/2."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from conftest import degrade, textured, write_png
from typer.testing import CliRunner

from iqa_cli.cli import app
from iqa_cli.output import COLUMNS
from iqa_cli.weights import file_sha256

REPO = Path(__file__).resolve().parents[1]
CPU = ("--device", "cpu")
runner = CliRunner()


def iqa(*args: object, env: dict[str, str | None] | None = None):
    """Run ``iqa ARGS`` in-process; stdout and stderr stay separate."""
    return runner.invoke(app, [str(a) for a in args], env=env)


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# ------------------------------------------------------------------------------------------------ iqa / score


def test_version_and_help() -> None:
    from iqa_cli import __version__

    for flag in ("--version", "-V"):
        version = iqa(flag)
        assert version.exit_code == 0 and version.stdout == f"iqa {__version__}\n", flag
    help_ = iqa("--help")
    assert help_.exit_code == 0
    assert all(cmd in help_.stdout for cmd in ("score", "batch", "models", "evaluate"))


def test_score_prints_a_bare_number(image_pair: tuple[Path, Path]) -> None:
    ref, dist = image_pair
    result = iqa("score", ref, dist, "--model", "psnr", *CPU)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert 10.0 < float(lines[0]) < 40.0


def test_score_json_has_exactly_the_documented_keys(image_pair: tuple[Path, Path]) -> None:
    ref, dist = image_pair
    result = iqa("score", ref, dist, "--model", "ssim", *CPU, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert list(out) == [
        "ref",
        "dist",
        "model",
        "score",
        "scale",
        "higher_is_better",
        "device",
        "weights_sha256",
        "weights_shipped",
        "elapsed",
    ]
    assert out["ref"] == str(ref) and out["dist"] == str(dist)
    assert out["model"] == "ssim"
    assert 0.0 < out["score"] < 1.0
    assert out["scale"] == [0.0, 1.0]
    assert out["higher_is_better"] is True
    assert out["device"] == "cpu"
    assert out["weights_sha256"] is None and out["weights_shipped"] is True  # training-free
    assert out["elapsed"] >= 0.0


@pytest.mark.parametrize(("model", "best", "size"), [("psnr", 100.0, 32), ("ssim", 1.0, 32), ("ms-ssim", 1.0, 176)])
def test_identical_images_get_the_best_score(make_image, model: str, best: float, size: int) -> None:
    ref = make_image("ref.png", size=(size, size))
    copy = make_image("copy.png", size=(size, size))
    result = iqa("score", ref, copy, "--model", model, *CPU, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["score"] == pytest.approx(best, abs=1e-6)


def test_identical_images_score_100_with_the_causal_model(make_image, random_weights: Path) -> None:
    ref, copy = make_image("ref.png"), make_image("copy.png")
    result = iqa("score", ref, copy, "--weights", random_weights, *CPU, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["model"] == "causal-iqa"
    assert out["score"] == pytest.approx(100.0, abs=1e-4)
    worse = iqa("score", ref, make_image("dist.png", noise=0.2), "--weights", random_weights, *CPU)
    assert float(worse.stdout) < out["score"]


@pytest.mark.skipif(_cuda(), reason="a CUDA GPU is available here")
def test_score_on_missing_cuda_is_an_error_not_a_fallback(image_pair: tuple[Path, Path]) -> None:
    result = iqa("score", *image_pair, "--model", "psnr", "--device", "cuda")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("iqa: error: device 'cuda' was requested but no CUDA GPU is available")


def test_unknown_model_is_a_usage_error(image_pair: tuple[Path, Path]) -> None:
    result = iqa("score", *image_pair, "--model", "nope", *CPU)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "unknown model 'nope': choose one of" in result.stderr
    assert "psnr" in result.stderr


def test_unknown_device_is_a_usage_error(image_pair: tuple[Path, Path]) -> None:
    result = iqa("score", *image_pair, "--model", "psnr", "--device", "foo")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "iqa: error: unknown device 'foo'" in result.stderr


def test_size_mismatch_fails_with_a_hint_and_resize_dist_fixes_it(make_image) -> None:
    ref = make_image("ref.png", size=(32, 32))
    dist = make_image("dist.png", size=(30, 40), noise=0.05)
    result = iqa("score", ref, dist, "--model", "psnr", *CPU)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "ref and dist differ in size: 32x32 vs 40x30" in result.stderr
    assert "--resize dist" in result.stderr
    ok = iqa("score", ref, dist, "--model", "psnr", *CPU, "--resize", "dist")
    assert ok.exit_code == 0, ok.stderr
    assert float(ok.stdout) > 0


@pytest.mark.parametrize("dist_size", [(40, 48), (36, 52)])
def test_map_writes_a_png_of_the_dist_size(make_image, random_weights: Path, tmp_path: Path, dist_size) -> None:
    ref = make_image("ref.png", size=(40, 48))
    dist = make_image("dist.png", size=dist_size, noise=0.1)
    out = tmp_path / "map.png"
    result = iqa("score", ref, dist, "--weights", random_weights, *CPU, "--resize", "dist", "--map", out)
    assert result.exit_code == 0, result.stderr
    float(result.stdout)  # stdout still carries only the score
    assert f"quality map written to {out}" in result.stderr
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written is not None and written.dtype == "uint8"
    assert written.shape == (*dist_size, 3)


def test_map_with_a_model_without_maps_is_a_usage_error(image_pair, tmp_path: Path) -> None:
    result = iqa("score", *image_pair, "--model", "psnr", *CPU, "--map", tmp_path / "m.png")
    assert result.exit_code == 2
    assert "gives no quality map" in result.stderr
    assert not (tmp_path / "m.png").exists()


# ------------------------------------------------------------------------------------------------ errors


def test_error_is_one_line_without_debug(tmp_path: Path, make_image, monkeypatch) -> None:
    monkeypatch.delenv("IQA_DEBUG", raising=False)
    result = iqa("score", make_image("ref.png"), tmp_path / "missing.png", "--model", "psnr", *CPU)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("iqa: error: cannot read image")
    assert "file not found" in lines[0]


def test_iqa_debug_shows_the_traceback(tmp_path: Path, make_image) -> None:
    result = iqa(
        "score", make_image("ref.png"), tmp_path / "missing.png", "--model", "psnr", *CPU, env={"IQA_DEBUG": "1"}
    )
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ImageError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("iqa: error: cannot read image")


def test_main_turns_an_unexpected_exception_into_one_line(monkeypatch, capsys, image_pair) -> None:
    import iqa_cli.api
    from iqa_cli.cli import main

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.delenv("IQA_DEBUG", raising=False)
    monkeypatch.setattr(iqa_cli.api, "load_model", boom)
    monkeypatch.setattr(sys, "argv", ["iqa", "score", *map(str, image_pair), "--model", "psnr"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "iqa: error: RuntimeError: CUDA out of memory\n"


# ------------------------------------------------------------------------------------------------ iqa batch


def _folders(make_image, refs: list[str], dists: dict[str, int]) -> tuple[Path, Path]:
    """Reference folder with ``refs`` and distorted folder with ``dists`` (name -> seed of its content)."""
    for i, name in enumerate(refs):
        make_image(f"ref/{name}", seed=i)
    for name, seed in dists.items():
        make_image(f"dist/{name}", seed=seed, noise=0.05)
    root = Path(make_image("scratch.png")).parent
    return root / "ref", root / "dist"


def test_batch_pairs_by_path_and_reports_unmatched_on_stderr(make_image) -> None:
    ref_dir, dist_dir = _folders(make_image, ["a.png", "b.png", "c.png"], {"a.png": 0, "b.bmp": 1, "z.png": 9})
    result = iqa("batch", ref_dir, dist_dir, "--match", "path", "--model", "psnr", *CPU)
    assert result.exit_code == 0, result.stderr
    rows = csv_rows(result.stdout)
    assert rows[0] == list(COLUMNS)
    assert [(Path(r[0]).name, Path(r[1]).name) for r in rows[1:]] == [("a.png", "a.png"), ("b.png", "b.bmp")]
    assert all(r[2] == "psnr" and r[3] == "none" and float(r[4]) > 0 and r[5] == "" for r in rows[1:])
    assert f"1 reference image(s) without a partner: {ref_dir / 'c.png'}" in result.stderr
    assert f"1 distorted image(s) without a partner: {dist_dir / 'z.png'}" in result.stderr
    assert "2 scored, 0 failed" in result.stderr
    assert "iqa" not in result.stdout.replace("psnr", "")  # no diagnostics on stdout


@pytest.mark.parametrize("match", ["prefix", "auto"])
def test_batch_pairs_by_prefix(make_image, match: str) -> None:
    dists = {"I01_01_1.png": 0, "I01_02_3.png": 0, "i02_01_1.png": 1, "X9_01_1.png": 5}
    ref_dir, dist_dir = _folders(make_image, ["I01.png", "I02.png", "I03.png"], dists)
    result = iqa("batch", ref_dir, dist_dir, "--match", match, "--model", "psnr", *CPU)
    assert result.exit_code == 0, result.stderr
    pairs = [(Path(r[0]).name, Path(r[1]).name) for r in csv_rows(result.stdout)[1:]]
    assert pairs == [("I01.png", "I01_01_1.png"), ("I01.png", "I01_02_3.png"), ("I02.png", "i02_01_1.png")]
    assert "1 reference image(s) without a partner" in result.stderr and "I03.png" in result.stderr
    assert "1 distorted image(s) without a partner" in result.stderr and "X9_01_1.png" in result.stderr


def test_batch_pairs_csv_keeps_row_order_and_writes_jsonl(make_image, tmp_path: Path) -> None:
    make_image("r1.png", seed=1)
    make_image("r2.png", seed=2)
    make_image("d/two.png", seed=2, noise=0.1)
    make_image("d/one.png", seed=1, noise=0.1)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("ref,dist\nr2.png,d/two.png\nr1.png,d/one.png\n")
    result = iqa("batch", "--pairs", pairs, "--model", "ssim", *CPU, "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    objs = [json.loads(line) for line in lines]
    assert all(list(o) == list(COLUMNS) for o in objs)
    assert [(o["ref"], o["dist"]) for o in objs] == [
        (str(tmp_path / "r2.png"), str(tmp_path / "d/two.png")),
        (str(tmp_path / "r1.png"), str(tmp_path / "d/one.png")),
    ]
    assert all(o["model"] == "ssim" and 0 < o["score"] < 1 and o["error"] is None for o in objs)
    assert "2 scored, 0 failed" in result.stderr


def test_batch_needs_folders_or_pairs(tmp_path: Path) -> None:
    result = iqa("batch", tmp_path, "--model", "psnr")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_batch_turns_every_bad_input_into_a_row(make_image, tmp_path: Path) -> None:
    make_image("ref.png")  # 32x32
    make_image("good.png", noise=0.1)
    make_image("small.png", size=(30, 32))
    make_image("big_ref.png", size=(40, 40))
    make_image("big.png", size=(40, 40), noise=0.1)
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not an image\n")
    corrupt = (tmp_path / "good.png").read_bytes()
    (tmp_path / "corrupt.png").write_bytes(corrupt[: len(corrupt) // 2])
    (tmp_path / "folder.png").mkdir()
    cases = {
        "good.png": None,
        "corrupt.png": "truncated or corrupt",
        "zero.png": "empty (0 bytes)",
        "text.png": "not a recognised image format",
        "missing.png": "file not found",
        "folder.png": "it is a folder",
        "small.png": "differ in size",
        "big.png": "more than the limit of 1,500",
    }
    rows = ["ref,dist"] + [f"{'big_ref.png' if d == 'big.png' else 'ref.png'},{d}" for d in cases]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    result = iqa("batch", "--pairs", tmp_path / "pairs.csv", "--model", "psnr", *CPU, "--max-pixels", 1500)
    assert result.exit_code == 1
    out = csv_rows(result.stdout)
    assert out[0] == list(COLUMNS)
    by_dist = {Path(r[1]).name: r for r in out[1:]}
    assert list(by_dist) == list(cases)
    for name, error in cases.items():
        row = by_dist[name]
        if error is None:
            assert float(row[4]) > 0 and row[5] == ""
        else:
            assert row[4] == "" and error in row[5], (name, row)
    assert "1 scored, 7 failed" in result.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_batch_unreadable_file_is_a_row(make_image, tmp_path: Path) -> None:
    make_image("ref.png")
    locked = make_image("locked.png", noise=0.1)
    locked.chmod(0)
    (tmp_path / "pairs.csv").write_text("ref,dist\nref.png,locked.png\n")
    try:
        result = iqa("batch", "--pairs", tmp_path / "pairs.csv", "--model", "psnr", *CPU)
    finally:
        locked.chmod(0o644)
    assert result.exit_code == 1
    assert "permission denied" in csv_rows(result.stdout)[1][5]


# ------------------------------------------------------------------------------------------------ resume


def _read_output(path: Path) -> list[list[str]]:
    return csv_rows(path.read_text(encoding="utf-8"))


def test_batch_resume_after_sigkill(tmp_path: Path, random_weights: Path) -> None:
    n = 40
    for i in range(n):
        pixels = textured(256, 256, seed=i)
        write_png(tmp_path / "ref" / f"p{i:02d}.png", pixels)
        write_png(tmp_path / "dist" / f"p{i:02d}.png", degrade(pixels, 0.05, seed=i))
    out = tmp_path / "out.csv"
    args = ["batch", tmp_path / "ref", tmp_path / "dist", "-o", out, "--weights", random_weights, *CPU]
    args += ["--workers", "1", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("IQA_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iqa_cli", *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:  # header + 2 rows
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    proc.stderr.close()
    before = _read_output(out)
    assert before[0] == list(COLUMNS)
    assert 2 <= len(before) - 1 < n

    result = iqa(*args, "--resume")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "resuming:" in result.stderr and "already in" in result.stderr
    rows = _read_output(out)
    assert rows[0] == list(COLUMNS)
    assert sum(r == list(COLUMNS) for r in rows) == 1
    keys = [(Path(r[0]).name, Path(r[1]).name) for r in rows[1:]]
    assert sorted(keys) == [(f"p{i:02d}.png", f"p{i:02d}.png") for i in range(n)]
    wid = file_sha256(random_weights)[:12]
    assert all(r[2] == "causal-iqa" and r[3] == wid and 0 < float(r[4]) <= 100 and r[5] == "" for r in rows[1:])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_repairs_a_half_written_last_line(make_image, tmp_path: Path, fmt: str) -> None:
    for i, name in enumerate(["a.png", "b.png", "c.png"]):
        make_image(f"ref/{name}", seed=i)
        make_image(f"dist/{name}", seed=i, noise=0.05)
    out = tmp_path / f"out.{fmt}"
    args = ["batch", tmp_path / "ref", tmp_path / "dist", "-o", out, "-f", fmt, "--model", "psnr", *CPU]
    assert iqa(*args).exit_code == 0
    full = out.read_bytes()
    last_start = full.rstrip(b"\n").rfind(b"\n") + 1
    out.write_bytes(full[: last_start + 7])  # the run died while writing the last row
    result = iqa(*args, "--resume")
    assert result.exit_code == 0, result.stderr
    assert "2 pair(s) already in" in result.stderr
    assert out.read_bytes() == full


def test_read_rows_drops_a_partial_line(tmp_path: Path) -> None:
    from iqa_cli.output import read_rows

    path = tmp_path / "out.csv"
    path.write_text(
        "ref,dist,model,weights,score,error\n/r/a.png,/d/a.png,psnr,none,30.1,\n/r/b.png,/d/b.png,psnr,none,,bad\n"
        "/r/c.png,/d/c"
    )
    rows = read_rows(path, "csv")
    assert [(r["ref"], r["dist"], r["score"], r["error"]) for r in rows] == [
        ("/r/a.png", "/d/a.png", 30.1, None),
        ("/r/b.png", "/d/b.png", None, "bad"),
    ]
    assert path.read_text().endswith("psnr,none,,bad\n")
    jsonl = tmp_path / "out.jsonl"
    first = '{"ref": "a", "dist": "b", "model": "psnr", "weights": "none", "score": 1.0, "error": null}'
    jsonl.write_text(first + '\n{"ref": "c", "di')
    assert [(r["ref"], r["dist"]) for r in read_rows(jsonl, "jsonl")] == [("a", "b")]
    assert jsonl.read_text().count("\n") == 1


def test_resume_needs_output_and_refuses_a_foreign_file(make_image, tmp_path: Path) -> None:
    ref_dir, dist_dir = _folders(make_image, ["a.png"], {"a.png": 0})
    no_output = iqa("batch", ref_dir, dist_dir, "--model", "psnr", "--resume")
    assert no_output.exit_code == 2
    foreign = tmp_path / "other.csv"
    foreign.write_text("name,value\nx,1\n")
    result = iqa("batch", ref_dir, dist_dir, "--model", "psnr", *CPU, "-o", foreign, "--resume")
    assert result.exit_code == 2
    assert "is not an iqa CSV" in result.stderr
    assert foreign.read_text() == "name,value\nx,1\n"


# ------------------------------------------------------------------------------------------------ iqa models

MODEL_FIELDS = {"name", "default", "higher_is_better", "scale", "unit", "min_size", "weights_sha256"}


def test_models_json_lists_every_registered_model() -> None:
    from iqa_cli.models.registry import list_specs

    result = iqa("models", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [s.name for s in list_specs()]
    assert all(set(r) >= MODEL_FIELDS for r in rows)
    assert [r["name"] for r in rows if r["default"]] == ["causal-iqa"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["psnr"]["scale"] is None and by_name["psnr"]["unit"].startswith("dB")
    assert by_name["ssim"]["scale"] == [0.0, 1.0] and by_name["ssim"]["min_size"] == 11
    assert by_name["ms-ssim"]["min_size"] == 176
    assert by_name["causal-iqa"]["scale"] == [0.0, 100.0]
    assert all(by_name[b]["weights_sha256"] is None for b in ("psnr", "ssim", "ms-ssim"))


def test_models_text_table() -> None:
    result = iqa("models")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "direction", "scale", "unit", "min_side", "sha256"]
    assert lines[1].startswith("causal-iqa (default)")
    assert any(line.startswith("psnr ") and "unbounded" in line for line in lines)
    assert result.stdout.count("(default)") == 1


@pytest.mark.skipif(not (REPO / "weights" / "manifest.json").is_file(), reason="no shipped weights yet")
def test_shipped_weights_are_listed_and_load(image_pair: tuple[Path, Path]) -> None:
    manifest = json.loads((REPO / "weights" / "manifest.json").read_text())
    rows = {r["name"]: r for r in json.loads(iqa("models", "--json").stdout)}
    assert rows["causal-iqa"]["weights_sha256"] == manifest["files"]["causal-iqa.safetensors"]["sha256"]
    result = iqa("score", *image_pair, *CPU)
    assert result.exit_code == 0, result.stderr
    assert 0.0 <= float(result.stdout) <= 100.0


# ------------------------------------------------------------------------------------------------ iqa evaluate

LEVELS = (0.01, 0.03, 0.06, 0.1, 0.15, 0.25)


def _eval_csv(tmp_path: Path, extra: list[str] | None = None) -> Path:
    pixels = textured(32, 32, seed=3)
    write_png(tmp_path / "ref.png", pixels)
    lines = ["ref,dist,score"]
    for i, level in enumerate(LEVELS):
        write_png(tmp_path / f"d{i}.png", degrade(pixels, level, seed=7))
        lines.append(f"ref.png,d{i}.png,{5.0 - 15.0 * level:.3f}")  # MOS falls as noise grows
    path = tmp_path / "scores.csv"
    path.write_text("\n".join(lines + (extra or [])) + "\n")
    return path


def test_evaluate_csv_reports_correlations(tmp_path: Path) -> None:
    result = iqa("evaluate", _eval_csv(tmp_path), "--model", "psnr", *CPU, "--json", "--no-progress")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dataset"] == "csv" and report["model"] == "psnr"
    assert report["n"] == len(LEVELS) and report["failed"] == 0
    corr = report["correlations"]
    assert {"srcc", "plcc", "krcc", "rmse"} <= set(corr)
    assert corr["srcc"] == pytest.approx(1.0) and corr["krcc"] == pytest.approx(1.0)
    assert corr["plcc"] > 0.95


def test_evaluate_lower_better_flips_the_direction(tmp_path: Path) -> None:
    scores = _eval_csv(tmp_path)
    text = scores.read_text().splitlines()
    dmos = [text[0]] + [f"{r},{d},{-float(s):.3f}" for r, d, s in (line.split(",") for line in text[1:])]
    scores.write_text("\n".join(dmos) + "\n")
    result = iqa("evaluate", scores, "--model", "psnr", *CPU, "--json", "--lower-better")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["correlations"]["srcc"] == pytest.approx(1.0)


def test_evaluate_exits_1_when_some_pairs_fail(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = iqa("evaluate", _eval_csv(tmp_path, ["ref.png,broken.png,1.0"]), "--model", "psnr", *CPU, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["failed"] == 1 and report["n"] == len(LEVELS)
    assert "broken.png" in result.stderr and "truncated or corrupt" in result.stderr


def test_evaluate_text_output(tmp_path: Path) -> None:
    result = iqa("evaluate", _eval_csv(tmp_path), "--model", "psnr", *CPU)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dataset csv (6 pairs, 0 failed), model psnr")
    assert lines[1].startswith("SRCC 1.0000")


def test_batch_with_no_pairs_is_an_error(tmp_path: Path) -> None:
    refs, dists = tmp_path / "refs", tmp_path / "dists"
    refs.mkdir()
    dists.mkdir()
    (refs / "a.png").write_bytes(b"")
    (dists / "zzz.png").write_bytes(b"")
    result = CliRunner().invoke(app, ["batch", str(refs), str(dists), "--model", "psnr", "--match", "path"])
    assert result.exit_code == 1
    assert "no (ref, dist) pairs found" in result.stderr
    assert result.stdout == ""

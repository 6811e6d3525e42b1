"""Issue 12: outputs a user can trust — resume by file identity and model/weights, provenance of every score,
terminal output that never glues progress into rows, one-line errors checked before any work, help and version."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import degrade, random_causal_model, textured, write_png
from typer.testing import CliRunner

from iqa_cli.cli import app
from iqa_cli.output import COLUMNS
from iqa_cli.weights import file_sha256

REPO = Path(__file__).resolve().parents[1]
CPU = ("--device", "cpu")
runner = CliRunner()


def iqa(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _pairs(root: Path, n: int, size: int = 32) -> None:
    for i in range(n):
        pixels = textured(size, size, seed=i)
        write_png(root / "ref" / f"p{i}.png", pixels)
        write_png(root / "dist" / f"p{i}.png", degrade(pixels, 0.05, seed=i))


def _drop_last_rows(path: Path, k: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-k]), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ resume (2)


@pytest.mark.parametrize("how", ["absolute", "parent", "symlink"])
def test_resume_matches_pairs_by_file_identity(tmp_path: Path, monkeypatch, how: str) -> None:
    work = tmp_path / "work"
    _pairs(work, 8)
    out = tmp_path / "out.csv"
    monkeypatch.chdir(work)
    first = iqa("batch", "ref", "dist", "-o", out, "--model", "psnr", *CPU)
    assert first.exit_code == 0, first.stderr
    _drop_last_rows(out, 3)  # an interrupted run: 5 of 8 pairs written
    if how == "absolute":
        args = (work / "ref", work / "dist")
    elif how == "parent":
        monkeypatch.chdir(tmp_path)
        args = (Path("work/ref"), Path("work/dist"))
    else:
        (tmp_path / "link").symlink_to(work)
        args = (tmp_path / "link" / "ref", tmp_path / "link" / "dist")
    result = iqa("batch", *args, "-o", out, "--model", "psnr", *CPU, "--resume")
    assert result.exit_code == 0, result.stderr
    assert "resuming: 5 pair(s) already in" in result.stderr and "3 to go" in result.stderr
    assert "3 scored, 0 failed, 5 skipped" in result.stderr
    rows = rows_of(out)
    assert len(rows) == 8
    assert sorted(Path(r["dist"]).name for r in rows) == [f"p{i}.png" for i in range(8)]
    for r in rows:  # named relative to the file's folder, however the run that wrote the row named them
        name = Path(r["dist"]).name
        assert not Path(r["ref"]).is_absolute() and not Path(r["dist"]).is_absolute()
        assert (tmp_path / r["ref"]).resolve() == (work / "ref" / name).resolve()
        assert (tmp_path / r["dist"]).resolve() == (work / "dist" / name).resolve()


# ------------------------------------------------------------------------------------------------ paths in rows


def test_headline_command_prints_paths_as_given(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = iqa("batch", "examples/ref", "examples/dist", "--match", "prefix")  # README's headline command
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 8
    for r in rows:
        assert r["ref"].startswith("examples/ref/") and r["dist"].startswith("examples/dist/"), r
    assert str(REPO) not in result.stdout


def test_rows_in_a_file_are_relative_to_its_folder_and_feed_back_as_pairs(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    _pairs(project / "data", 4)
    (project / "results").mkdir()
    monkeypatch.chdir(project / "data")
    first = iqa("batch", "ref", "dist", "-o", "../results/out.csv", "-m", "psnr", *CPU)
    assert first.exit_code == 0, first.stderr
    out = project / "results" / "out.csv"
    rows = rows_of(out)
    assert [(r["ref"], r["dist"]) for r in rows] == [
        (f"../data/ref/p{i}.png", f"../data/dist/p{i}.png") for i in range(4)
    ]
    scores = [r["score"] for r in rows]
    before = out.read_bytes()

    # the file fed back as --pairs, resumed into itself from other folders and with $PWD-style paths: nothing to do
    monkeypatch.chdir(tmp_path)
    for pairs in (Path("project/results/out.csv"), out):
        again = iqa("batch", "--pairs", pairs, "-o", pairs, "-m", "psnr", *CPU, "--resume")
        assert again.exit_code == 0, again.stderr
        assert "4 pair(s) already in" in again.stderr and "0 to go" in again.stderr
        assert out.read_bytes() == before
    # ... or scored into another file elsewhere: the same pairs and scores, named from that file's folder
    (tmp_path / "other").mkdir()
    copy = iqa("batch", "--pairs", out, "-o", tmp_path / "other" / "out.csv", "-m", "psnr", *CPU)
    assert copy.exit_code == 0, copy.stderr
    rows = rows_of(tmp_path / "other" / "out.csv")
    assert [r["dist"] for r in rows] == [f"../project/data/dist/p{i}.png" for i in range(4)]
    assert [r["score"] for r in rows] == scores

    # a results folder moved together with its images still resumes (and feeds back as --pairs)
    moved = tmp_path / "moved"
    project.rename(moved)
    monkeypatch.chdir(moved)
    again = iqa("batch", "data/ref", "data/dist", "-o", "results/out.csv", "-m", "psnr", *CPU, "--resume")
    assert again.exit_code == 0, again.stderr
    assert "4 pair(s) already in" in again.stderr and "0 to go" in again.stderr
    assert (moved / "results" / "out.csv").read_bytes() == before
    fed = iqa("batch", "--pairs", "results/out.csv", "-m", "psnr", *CPU)
    assert fed.exit_code == 0, fed.stderr
    assert [r["score"] for r in csv.DictReader(io.StringIO(fed.stdout))] == scores


def test_rows_in_a_file_under_a_symlinked_folder_still_lead_to_the_images(tmp_path: Path, monkeypatch) -> None:
    # -o in a/results, a symlink to b/c: "../ref/p0.png" from a/results would leave the link's target (b/c), not
    # a/results, and reach b/ref; the row must lead to a/ref/p0.png when read back from the file's folder
    _pairs(tmp_path / "a", 2)
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "results").symlink_to(tmp_path / "b" / "c")
    monkeypatch.chdir(tmp_path / "a")
    out = Path("results/out.csv")
    first = iqa("batch", "ref", "dist", "-o", out, "-m", "psnr", *CPU)
    assert first.exit_code == 0, first.stderr
    for r in rows_of(out):
        name = Path(r["dist"]).name
        assert not Path(r["ref"]).is_absolute()
        assert (out.parent / r["ref"]).resolve() == (tmp_path / "a" / "ref" / name).resolve()
        assert (out.parent / r["dist"]).resolve() == (tmp_path / "a" / "dist" / name).resolve()
    again = iqa("batch", "--pairs", out, "-o", out, "-m", "psnr", *CPU, "--resume")
    assert again.exit_code == 0, again.stderr
    assert "2 pair(s) already in" in again.stderr and "0 to go" in again.stderr


def test_path_in_file_is_absolute_where_no_relative_path_exists(tmp_path: Path, monkeypatch) -> None:
    from iqa_cli import results

    image = tmp_path / "img" / "a.png"
    assert results.path_in_file(image, tmp_path / "out") == os.path.join("..", "img", "a.png")

    def other_drive(path: str, start: str | None = None) -> str:
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(results.os.path, "relpath", other_drive)
    assert results.path_in_file(image, tmp_path / "out") == str(image)
    assert results.path_from_file(str(image), tmp_path / "out") == str(image)  # read back as it is


def test_resume_refuses_another_model(tmp_path: Path, random_weights: Path) -> None:
    _pairs(tmp_path, 3)
    out = tmp_path / "out.csv"
    assert iqa("batch", tmp_path / "ref", tmp_path / "dist", "-o", out, "-m", "ssim", *CPU).exit_code == 0
    _drop_last_rows(out, 1)
    before = out.read_text()
    result = iqa("batch", tmp_path / "ref", tmp_path / "dist", "-o", out, "--weights", random_weights, *CPU, "--resume")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("iqa: error: ")
    assert "model ssim (weights none)" in lines[0]
    assert f"causal-iqa (weights {file_sha256(random_weights)[:12]})" in lines[0]
    assert out.read_text() == before


def test_resume_refuses_other_weights_of_the_same_model(tmp_path: Path, random_weights: Path) -> None:
    from iqa_cli.weights import save_weights

    other = tmp_path / "other.safetensors"
    model = random_causal_model(1)
    save_weights(other, model.state_dict(), {"model": "causal-iqa", "config": model.config.to_dict()})
    _pairs(tmp_path, 2)
    out = tmp_path / "out.csv"
    args = ["batch", tmp_path / "ref", tmp_path / "dist", "-o", out, *CPU]
    assert iqa(*args, "--weights", random_weights).exit_code == 0
    _drop_last_rows(out, 1)
    result = iqa(*args, "--weights", other, "--resume")
    assert result.exit_code == 2
    assert f"weights {file_sha256(random_weights)[:12]}" in result.stderr
    assert f"weights {file_sha256(other)[:12]}" in result.stderr
    assert len(rows_of(out)) == 1


def test_retry_failed_rescores_error_rows_and_exit_code_reflects_the_file(tmp_path: Path) -> None:
    _pairs(tmp_path, 3)
    missing = tmp_path / "dist" / "p1.png"
    saved = missing.read_bytes()
    missing.unlink()
    (tmp_path / "pairs.csv").write_text("ref,dist\n" + "".join(f"ref/p{i}.png,dist/p{i}.png\n" for i in range(3)))
    out = tmp_path / "out.csv"
    args = ["batch", "--pairs", tmp_path / "pairs.csv", "-o", out, "-m", "psnr", *CPU]
    first = iqa(*args)
    assert first.exit_code == 1
    assert [r["error"] != "" for r in rows_of(out)] == [False, True, False]

    again = iqa(*args, "--resume")  # nothing to do, but the file still holds a failed row
    assert again.exit_code == 1
    assert "0 scored, 0 failed, 3 skipped" in again.stderr
    assert "1 of 3 pair(s)" in again.stderr and "--retry-failed" in again.stderr

    still = iqa(*args, "--resume", "--retry-failed")  # the file is still missing
    assert still.exit_code == 1
    assert len(rows_of(out)) == 3  # the new error row replaced the old one

    missing.write_bytes(saved)
    fixed = iqa(*args, "--resume", "--retry-failed")
    assert fixed.exit_code == 0, fixed.stderr
    assert "1 scored, 0 failed, 2 skipped" in fixed.stderr
    rows = rows_of(out)
    assert [Path(r["dist"]).name for r in rows] == ["p0.png", "p1.png", "p2.png"]  # one row per pair, in order
    assert all(r["error"] == "" and float(r["score"]) > 0 for r in rows)


def test_retry_failed_needs_resume(tmp_path: Path) -> None:
    _pairs(tmp_path, 1)
    result = iqa("batch", tmp_path / "ref", tmp_path / "dist", "-o", tmp_path / "o.csv", "--retry-failed")
    assert result.exit_code == 2


def test_a_file_of_the_old_column_set_is_refused(tmp_path: Path) -> None:
    _pairs(tmp_path, 1)
    out = tmp_path / "out.csv"
    old = f"ref,dist,model,score,error\n{tmp_path / 'ref/p0.png'},{tmp_path / 'dist/p0.png'},psnr,30.0,\n"
    out.write_text(old)
    result = iqa("batch", tmp_path / "ref", tmp_path / "dist", "-o", out, "-m", "psnr", *CPU, "--resume")
    assert result.exit_code == 2
    assert "is not an iqa CSV" in result.stderr
    assert out.read_text() == old


def test_an_interrupted_retry_lets_the_last_row_win(tmp_path: Path) -> None:
    from iqa_cli.results import ResultSink

    out = tmp_path / "out.jsonl"
    row = {"ref": "/r/a.png", "dist": "/d/a.png", "model": "psnr", "weights": "none"}
    out.write_text(
        json.dumps({**row, "score": None, "error": "bad"})
        + "\n"
        + json.dumps({**row, "score": 31.0, "error": None})
        + "\n"
    )
    sink = ResultSink(out, "jsonl", resume=True, retry_failed=True)
    sink.check_identity("psnr", "none")
    assert sink.summary().failed_in_output == 0 and sink.summary().rows_in_output == 1


# ------------------------------------------------------------------------------------------------ provenance (4)


def test_a_sink_bound_to_weights_refuses_rows_of_other_weights() -> None:
    from iqa_cli.api import PairResult
    from iqa_cli.results import ResultSink

    stream = io.StringIO()
    sink = ResultSink(None, "csv", stream=stream)
    sink.check_identity("causal-iqa", "0123456789ab")
    with sink:
        sink.write(PairResult("/r.png", "/d.png", "causal-iqa", 50.0, None, "0123456789ab"))
        with pytest.raises(RuntimeError, match="bound to causal-iqa"):
            sink.write(PairResult("/r.png", "/e.png", "causal-iqa", 50.0))  # no weights id: "none"
    assert stream.getvalue().splitlines()[1:] == ["/r.png,/d.png,causal-iqa,0123456789ab,50,"]


def test_scores_from_other_weights_name_them(tmp_path: Path, random_weights: Path, image_pair) -> None:
    sha = file_sha256(random_weights)
    ref, dist = image_pair
    batch = iqa("batch", "--pairs", _pairs_csv(tmp_path, ref, dist), "--weights", random_weights, *CPU)
    assert batch.exit_code == 0, batch.stderr
    (row,) = list(csv.DictReader(io.StringIO(batch.stdout)))
    assert row["model"] == "causal-iqa" and row["weights"] == sha[:12]
    assert f"weights {sha[:12]} from {random_weights}, NOT the shipped default" in batch.stderr

    jsonl = iqa("batch", "--pairs", tmp_path / "pairs.csv", "--weights", random_weights, *CPU, "-f", "jsonl")
    assert json.loads(jsonl.stdout)["weights"] == sha[:12]

    score = iqa("score", ref, dist, "--weights", random_weights, *CPU, "--json")
    assert score.exit_code == 0, score.stderr
    out = json.loads(score.stdout)
    assert out["weights_sha256"] == sha and out["weights_shipped"] is False
    assert "NOT the shipped default" in score.stderr

    pixels = textured(32, 32, seed=4)
    write_png(tmp_path / "r.png", pixels)
    for i in range(3):
        write_png(tmp_path / f"d{i}.png", degrade(pixels, 0.05 * (i + 1), seed=i))
    scores = tmp_path / "scores.csv"
    scores.write_text("ref,dist,score\n" + "".join(f"r.png,d{i}.png,{3 - i}\n" for i in range(3)))
    report = iqa("evaluate", scores, "--weights", random_weights, *CPU, "--json", "--no-progress")
    assert report.exit_code == 0, report.stderr
    assert json.loads(report.stdout)["weights_sha256"] == sha
    assert "NOT the shipped default" in report.stderr


def test_adapted_weights_name_their_kind_and_domain(tmp_path: Path, image_pair) -> None:
    from iqa_cli.weights import save_weights

    model = random_causal_model(2)
    path = tmp_path / "adapted.safetensors"
    meta = {"model": "causal-iqa", "config": model.config.to_dict(), "kind": "adapted", "domain": "microscopy"}
    save_weights(path, model.state_dict(), meta)
    result = iqa("batch", "--pairs", _pairs_csv(tmp_path, *image_pair), "--weights", path, *CPU)
    assert result.exit_code == 0, result.stderr
    assert "NOT the shipped default: kind adapted, domain microscopy) on cpu" in result.stderr


@pytest.mark.skipif(not (REPO / "weights" / "manifest.json").is_file(), reason="no shipped weights")
def test_shipped_weights_fill_the_column_too(tmp_path: Path, image_pair) -> None:
    manifest = json.loads((REPO / "weights" / "manifest.json").read_text())
    sha = manifest["files"]["causal-iqa.safetensors"]["sha256"]
    result = iqa("batch", "--pairs", _pairs_csv(tmp_path, *image_pair), *CPU)
    assert result.exit_code == 0, result.stderr
    assert next(csv.DictReader(io.StringIO(result.stdout)))["weights"] == sha[:12]
    assert f"with causal-iqa (weights {sha[:12]}, shipped) on cpu" in result.stderr
    assert "NOT the shipped" not in result.stderr


def _pairs_csv(tmp_path: Path, ref: Path, dist: Path) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(f"ref,dist\n{ref},{dist}\n")
    return path


# ------------------------------------------------------------------------------------------------ terminal (5)


def _run_on_pty(args: list[str], cwd: Path, timeout: float = 120.0) -> tuple[int, str]:
    """Run ``python -m iqa_cli ARGS`` with stdout and stderr on one pseudo-terminal; (exit code, all output)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "OMP_NUM_THREADS": "1"}
    env.pop("NO_COLOR", None)
    env.pop("IQA_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iqa_cli", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_progress_never_glues_into_rows_on_a_terminal(tmp_path: Path, random_weights: Path) -> None:
    n = 40
    _pairs(tmp_path, n, size=96)
    code, text = _run_on_pty(
        ["batch", "ref", "dist", "--weights", str(random_weights), *CPU, "--workers", "1"], cwd=tmp_path
    )
    assert code == 0, text
    lines = text.replace("\r\n", "\n").split("\n")
    row_lines = [line for line in lines if ".png" in line]
    assert len(row_lines) == n, text
    for line in row_lines:
        assert "\x1b" not in line and "\r" not in line, repr(line)
        fields = next(csv.reader([line]))
        assert len(fields) == len(COLUMNS), repr(line)
        assert fields[2] == "causal-iqa" and 0 < float(fields[4]) <= 100 and fields[5] == "", repr(line)
    assert lines[0] == ",".join(COLUMNS)
    assert any(line.startswith(f"iqa: {n} scored, 0 failed") for line in lines), text


def test_progress_bar_still_shows_when_rows_go_to_a_file(tmp_path: Path) -> None:
    _pairs(tmp_path, 2)
    code, text = _run_on_pty(["batch", "ref", "dist", "-m", "psnr", *CPU, "-o", "out.csv"], cwd=tmp_path)
    assert code == 0, text
    assert "scoring" in text  # the live bar (transient) was drawn on stderr
    assert len(rows_of(tmp_path / "out.csv")) == 2


# ------------------------------------------------------------------------------------------------ errors (6)


def _refuse_reading(monkeypatch, locked: Path) -> None:
    """Make ``locked`` unreadable as far as access checks go (tests run as root, where chmod 000 reads anyway)."""
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # type: ignore[no-untyped-def]
        if mode & os.R_OK and os.path.realpath(path) == str(locked.resolve()):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def _no_model_load(monkeypatch) -> None:
    import iqa_cli.api

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(iqa_cli.api, "load_model", refuse)


@pytest.mark.parametrize("which", ["ref", "dist"])
def test_unreadable_input_is_one_line_exit_1_before_loading(image_pair, monkeypatch, which: str) -> None:
    ref, dist = image_pair
    _refuse_reading(monkeypatch, ref if which == "ref" else dist)
    _no_model_load(monkeypatch)
    result = iqa("score", ref, dist, *CPU)
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("iqa: error: cannot read image"), result.stderr
    assert "permission denied" in lines[0]


def test_unreadable_weights_and_pairs_are_one_line(tmp_path: Path, image_pair, random_weights, monkeypatch) -> None:
    pairs = _pairs_csv(tmp_path, *image_pair)
    _refuse_reading(monkeypatch, random_weights)
    result = iqa("score", *image_pair, "--weights", random_weights, *CPU)
    assert result.exit_code == 1
    assert result.stderr == f"iqa: error: cannot read weights file {random_weights}: permission denied\n"
    monkeypatch.undo()
    _refuse_reading(monkeypatch, pairs)
    result = iqa("batch", "--pairs", pairs, "-m", "psnr", *CPU)
    assert result.exit_code == 1
    assert result.stderr == f"iqa: error: cannot read pairs file {pairs}: permission denied\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_input_is_one_line_exit_1(image_pair) -> None:
    ref, dist = image_pair
    dist.chmod(0)
    try:
        result = iqa("score", ref, dist, "-m", "psnr", *CPU)
    finally:
        dist.chmod(0o644)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and "permission denied" in result.stderr


@pytest.mark.parametrize("where", ["missing-folder", "is-a-folder"])
def test_bad_output_path_is_refused_before_any_work(tmp_path: Path, image_pair, monkeypatch, where: str) -> None:
    _no_model_load(monkeypatch)
    out = tmp_path / "missing" / "x.csv" if where == "missing-folder" else tmp_path
    result = iqa("batch", "--pairs", _pairs_csv(tmp_path, *image_pair), "-o", out, *CPU)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"iqa: error: -o {out}"), result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("name", "message"), [("m.jpg", "give a .png file name"), ("no/m.png", "does not exist")])
def test_bad_map_path_is_refused_before_scoring(tmp_path: Path, image_pair, monkeypatch, name, message) -> None:
    _no_model_load(monkeypatch)
    result = iqa("score", *image_pair, *CPU, "--map", tmp_path / name)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert result.stdout == ""


def test_map_with_a_model_without_maps_is_refused_before_scoring(image_pair, tmp_path: Path, monkeypatch) -> None:
    from iqa_cli.api import Scorer

    def refuse(*args: object, **kwargs: object) -> float:
        raise AssertionError("scored before the --map check")

    monkeypatch.setattr(Scorer, "score", refuse)
    result = iqa("score", *image_pair, "-m", "psnr", *CPU, "--map", tmp_path / "m.png")
    assert result.exit_code == 2
    assert "gives no quality map" in result.stderr


# ------------------------------------------------------------------------------------------------ help / version (7)


def _commands() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands)  # type: ignore[union-attr]


def test_help_shows_flags_without_a_type() -> None:
    assert len(_commands()) >= 8
    for command in [None, *_commands()]:
        result = runner.invoke(app, [command, "--help"] if command else ["--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "<bool>" not in result.output, command
        assert "--help" in result.output
    batch_help = runner.invoke(app, ["batch", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--resume\s+Skip pairs", batch_help), batch_help
    assert re.search(r"--progress\s+--no-progress\s+Progress bar", batch_help), batch_help
    assert "<int range>" in batch_help  # options with values keep their type


def test_version_via_console_script_style() -> None:
    from iqa_cli import __version__

    for flag in ("--version", "-V"):
        proc = subprocess.run([sys.executable, "-m", "iqa_cli", flag], capture_output=True, text=True, cwd=REPO)
        assert proc.returncode == 0 and proc.stdout == f"iqa {__version__}\n" and proc.stderr == ""


# ------------------------------------------------------------------------------------------------ closed stdout


def _iqa_with_stdout_closed(args: list[object], cwd: Path, read_first_line: bool) -> tuple[int, bytes, bytes]:
    """Run ``python -m iqa_cli ARGS`` into a pipe whose reader closes early (after one line, or at once)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("IQA_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iqa_cli", *map(str, args)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline() if read_first_line else b""
    proc.stdout.close()  # like `| head -1`
    try:
        err = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc.stderr.close()
    return proc.returncode, first, err


def test_batch_into_a_closed_pipe_stops_quietly_with_141(tmp_path: Path) -> None:
    _pairs(tmp_path, 1)
    # 3000 rows of ~100 bytes: far more than a pipe holds, so the run must write after the reader has gone
    (tmp_path / "pairs.csv").write_text("ref,dist\n" + "ref/p0.png,dist/p0.png\n" * 3000)
    code, first, err = _iqa_with_stdout_closed(["batch", "--pairs", "pairs.csv", "-m", "psnr", *CPU], tmp_path, True)
    assert first == b"ref,dist,model,weights,score,error\n"
    assert err == b""  # no traceback, no error line, no summary of a run that did not finish
    assert code == 141


@pytest.mark.parametrize("args", [["models"], ["score", "ref/p0.png", "dist/p0.png", "-m", "psnr", *CPU]])
def test_any_command_into_a_closed_pipe_exits_141(tmp_path: Path, args: list[str]) -> None:
    _pairs(tmp_path, 1)
    code, _, err = _iqa_with_stdout_closed(args, tmp_path, False)
    assert (code, err) == (141, b"")


def test_no_stdout_at_all_is_one_line_before_loading(tmp_path: Path) -> None:
    # started with stdout closed (`iqa batch ... >&-`): rows have nowhere to go; `iqa models` has nothing to report
    _pairs(tmp_path, 1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("IQA_DEBUG", None)
    batch = ["batch", "ref", "dist", "-m", "psnr", *CPU]
    for args, code, err in ((batch, 1, "iqa: error: stdout is closed: "), (["models"], 0, "")):
        proc = subprocess.run(
            [sys.executable, "-m", "iqa_cli", *args],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.close(1),  # noqa: PLW1509
        )
        assert proc.returncode == code, proc.stderr
        assert proc.stderr.startswith(err) and len(proc.stderr.splitlines()) == (1 if err else 0), proc.stderr


# ------------------------------------------------------------------------------------------------ library (STYLE)


def test_run_batch_prints_nothing_and_returns_a_summary(tmp_path: Path, capfd) -> None:
    from iqa_cli.api import load_model
    from iqa_cli.batch import discover, run_batch
    from iqa_cli.results import ResultSink

    _pairs(tmp_path, 3)
    (tmp_path / "dist" / "p2.png").write_bytes(b"")
    stream = io.StringIO()
    sink = ResultSink(None, "csv", stream=stream)
    scorer = load_model("psnr", device="cpu")
    todo = sink.plan(discover(tmp_path / "ref", tmp_path / "dist", None, "path").pairs)
    summary = run_batch(scorer, todo, sink)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (summary.rows.scored, summary.rows.failed, summary.rows.failed_in_output) == (2, 1, 1)
    assert summary.model == "psnr" and summary.weights_id == "none"
    assert len(stream.getvalue().splitlines()) == 4

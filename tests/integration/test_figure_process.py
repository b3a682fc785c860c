"""Figures drawn in a second process (`evalaction.report.drawing`): the same PNG bytes as drawn inline, a failure
raised in the parent, an error that stops the child at once, and the console script's whole run equal to an
in-process one (figures, results.json), with readiness timing nothing beside the drawing process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evalaction.explain.visuals import Panel, feature_bars_figure
from evalaction.report import drawing, plots
from tests.conftest import DEMO, ROOT


def _figures(out: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = {"baseline": rng.dirichlet([1, 1], 300), "candidate": rng.dirichlet([2, 1], 300)}
    drawing.draw(plots.roc_curves, out / "roc.png", y, scores, ["no", "yes"])
    drawing.draw(
        plots.confusion_matrices, out / "confusion.png", {"candidate": np.array([[5, 2], [1, 7]])}, ["a", "b"]
    )
    rows = [[Panel(title="candidate → yes\nfeature ablation", values=rng.normal(size=12), signed=True)]]
    drawing.draw(
        feature_bars_figure, out / "bars.png", feature_names=[f"f{i}" for i in range(12)], rows=rows, title="t1"
    )


def _fail(path: Path) -> Path:
    raise ValueError(f"cannot draw {path.name}: the data has no rows")


def _slow(path: Path) -> Path:
    time.sleep(30)
    path.write_bytes(b"late")
    return path


def test_background_figures_are_the_bytes_drawn_inline(tmp_path: Path) -> None:
    inline, background = tmp_path / "inline", tmp_path / "background"
    _figures(inline)
    with drawing.in_background():
        _figures(background)  # fewer than STEAL_FROM: the child draws them all
        assert drawing.exists(background / "roc.png")  # queued counts as there: the report will find it
        drawing.wait()
    names = sorted(p.name for p in inline.iterdir())
    assert names == ["bars.png", "confusion.png", "roc.png"]
    for name in names:
        assert (background / name).read_bytes() == (inline / name).read_bytes(), name


def _pid_figure(path: Path) -> Path:
    time.sleep(0.05)
    path.write_text(str(os.getpid()))
    return path


def test_waiting_with_many_figures_queued_draws_some_here(tmp_path: Path) -> None:
    """At `wait`, figures the child has not started are drawn here from the back of the queue."""
    with drawing.in_background():
        for k in range(12):
            drawing.draw(_pid_figure, tmp_path / f"{k:02d}.png")
        drawing.wait()
    drawn_by = [int((tmp_path / f"{k:02d}.png").read_text()) for k in range(12)]
    assert os.getpid() in drawn_by
    here = [k for k, pid in enumerate(drawn_by) if pid == os.getpid()]
    assert here == list(range(12 - len(here), 12))  # the back of the queue


def test_a_relative_path_means_this_process_s_working_folder_at_draw_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    with drawing.in_background():  # the child starts in a/
        monkeypatch.chdir(tmp_path / "b")
        drawing.draw(_pid_figure, Path("x.png"))
        drawing.wait()
    assert (tmp_path / "b" / "x.png").is_file() and not (tmp_path / "a" / "x.png").exists()


def test_a_figure_that_fails_in_the_child_is_raised_in_the_parent(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot draw x.png: the data has no rows"), drawing.in_background():
        drawing.draw(_fail, tmp_path / "x.png")
        drawing.wait()


def _dies_in_the_child(path: Path) -> Path:
    import multiprocessing

    if multiprocessing.parent_process() is not None:  # the figure process: killed, as by the OOM killer
        os._exit(9)
    path.write_bytes(b"drawn here")
    return path


def test_a_figure_process_that_dies_leaves_its_figures_to_this_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with drawing.in_background():
        drawing.draw(_dies_in_the_child, tmp_path / "a.png")
        drawing.wait()
        _figures(tmp_path)  # submitted to the stopped child: drawn here too
    assert (tmp_path / "a.png").read_bytes() == b"drawn here"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "bars.png", "confusion.png", "roc.png"]
    assert "the figure process stopped" in caplog.text


def test_no_process_to_be_had_draws_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_semaphores(*args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")  # what SemLock raises without /dev/shm

    monkeypatch.setattr(drawing, "ProcessPoolExecutor", no_semaphores)
    with drawing.in_background():
        _figures(tmp_path)
        assert (tmp_path / "roc.png").is_file()  # drawn at once
    assert "no figure process" in caplog.text


def test_an_error_in_the_block_stops_the_child_without_waiting_for_its_figures(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt), drawing.in_background():
        drawing.draw(_slow, tmp_path / "slow.png")
        time.sleep(1.0)  # the 30 s figure is queued or started: either way the block must not wait for it
        raise KeyboardInterrupt
    assert time.perf_counter() - t0 < 10
    time.sleep(0.5)
    assert not (tmp_path / "slow.png").exists()


@pytest.mark.slow
def test_the_console_script_run_equals_an_in_process_run(tmp_path: Path, demo_run: object) -> None:
    """The installed command (figures in a second process) against CliRunner's in-process run (inline)."""
    inline = demo_run.out  # type: ignore[attr-defined]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import evalaction.cli as c; c.console()"
    done = subprocess.run(
        [sys.executable, "-c", code, "run", "-c", str(DEMO / "evalaction.yml"), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == demo_run.exit_code, done.stderr  # type: ignore[attr-defined]
    pngs = sorted(p.relative_to(inline).as_posix() for p in inline.rglob("*.png"))
    assert pngs and pngs == sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    for rel in pngs:
        assert (out / rel).read_bytes() == (inline / rel).read_bytes(), rel
    same = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_results.py"), str(inline), str(out)],
        capture_output=True,
        text=True,
    )
    assert same.returncode == 0, same.stdout
    b = json.loads((out / "results.json").read_text())
    stages = [t["stage"] for t in b["timings"]]
    assert stages.index("readiness") < stages.index("figures")  # the figures wait comes after readiness

"""Runs the stages in order and persists each result as it completes; sequencing only."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction import __version__
from evalaction.artifacts import OverrideRequest, RunResult
from evalaction.hooks import PipelineHooks as PipelineHooks  # defined a floor down; callers import it here
from evalaction.plan import LoadedPlan

if TYPE_CHECKING:
    from evalaction.datasets.sources import DataSources
    from evalaction.stages.inference import InferenceOptions
    from evalaction.tasks.base import TaskStages

STAGES = ("plan", "inference", "metrics", "errors", "compare", "history", "readiness", "verdict", "report")


_UNSET = object()

# The output folder's run marker: written "in progress" before the first stage, "complete" after the report.
# It lists the files the run wrote, so the next run removes exactly those first: a failed or interrupted run
# never leaves this run's plan.json beside the previous run's verdict.json, and `evalaction report` refuses a
# folder whose run did not finish.
RUN_MARKER = ".evalaction-run.json"
# written by every run; removed even when an older run left no marker (or was killed before writing one)
_KNOWN_ARTIFACTS = (*(f"{s}.json" for s in STAGES), "results.json", "report.md", "report.html")


def _files_under(folder: Path) -> set[str]:
    """The run's files, less the marker and the history cache (kept across runs on purpose)."""
    from evalaction.history.cache import DEFAULT_CACHE

    return {
        rel
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink())
        and p.name != RUN_MARKER
        and (rel := p.relative_to(folder).as_posix()).split("/", 1)[0] != DEFAULT_CACHE
    }


def _write_marker(out_dir: Path, state: str, files: list[str]) -> None:
    import json

    tmp = out_dir / (RUN_MARKER + ".tmp")
    tmp.write_text(json.dumps({"state": state, "evalaction_version": __version__, "files": files}) + "\n")
    tmp.replace(out_dir / RUN_MARKER)


def _previous_files(out_dir: Path) -> list[str]:
    import json

    try:
        files = json.loads((out_dir / RUN_MARKER).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        files = []
    return [f for f in files if isinstance(f, str)] + list(_KNOWN_ARTIFACTS)


def _remove_previous_run(out_dir: Path, previous: list[str]) -> None:
    """Delete the files the previous run wrote (never anything outside the folder, never a folder's other files)."""
    root = out_dir.resolve()
    folders: set[Path] = set()
    for rel in previous:
        path = out_dir / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not path.parent.resolve().is_relative_to(root):
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
            folders.update(p for p in path.parents if p.resolve().is_relative_to(root) and p.resolve() != root)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def check_output_folder(out_dir: Path) -> None:
    """Refuse an output path that is a file, or a folder that cannot be created or written, before a run starts."""
    import os

    from evalaction.exceptions import BadInput

    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir}: expected an output folder, found a file; choose another `-o` folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(
            f"{out_dir}: cannot create the output folder ({exc.strerror or type(exc).__name__}); "
            "choose a writable `-o` folder"
        ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BadInput(f"{out_dir}: the output folder is not writable; choose a writable `-o` folder")


@contextmanager
def output_run(out_dir: Path) -> Iterator[None]:
    """Mark `out_dir` in progress, remove the previous run's files, and mark it complete only on success."""
    from evalaction.exceptions import BadInput

    check_output_folder(out_dir)
    try:
        previous = _previous_files(out_dir)
        _write_marker(out_dir, "in progress", [])
        _remove_previous_run(out_dir, previous)
    except OSError as exc:
        raise BadInput(
            f"{out_dir}: cannot write the output folder ({exc.strerror or type(exc).__name__}); "
            "choose a writable `-o` folder"
        ) from None
    before = _files_under(out_dir)
    try:
        yield
    except BaseException:
        # on a full disk the marker keeps saying "in progress", which `report` refuses just the same
        with contextlib.suppress(OSError):
            _write_marker(out_dir, "incomplete", sorted(_files_under(out_dir) - before))
        raise
    _write_marker(out_dir, "complete", sorted(_files_under(out_dir) - before))


def mark_incomplete(out_dir: Path) -> None:
    """Mark a finished run's folder incomplete (the CLI does when a signal arrived that a library swallowed)."""
    import json

    try:
        files = json.loads((out_dir / RUN_MARKER).read_text()).get("files", [])
        _write_marker(out_dir, "incomplete", list(files))
    except (OSError, ValueError, AttributeError):
        pass


def check_complete(out_dir: Path) -> None:
    """Refuse an output folder whose run did not finish (an old folder without a marker is accepted)."""
    import json

    from evalaction.exceptions import BadInput

    marker = out_dir / RUN_MARKER
    if not marker.exists():
        return
    try:
        state = json.loads(marker.read_text()).get("state")
    except (OSError, ValueError, AttributeError):
        state = None
    if state != "complete":
        raise BadInput(
            f"{out_dir}: the run that wrote this folder did not finish ({RUN_MARKER} says {state!r}); "
            "its files are a partial run, re-run `evalaction run`"
        )


def run_pipeline(
    *,
    loaded: LoadedPlan,
    out_dir: Path,
    candidate_path: Path | None = None,
    baseline_path: Path | None | object = _UNSET,
    hooks: PipelineHooks | None = None,
    run_url: str | None = None,
    sources: DataSources | None = None,
    pr_number: int | None = None,
    commit: str | None = None,
    override: OverrideRequest | None = None,
    inference_options: InferenceOptions | None = None,
    history_ref: str | None = None,
) -> RunResult:
    """plan -> inference -> metrics -> errors -> compare -> readiness -> verdict -> report, each persisted.

    `candidate_path`/`baseline_path` override the plan's model paths (the action passes the PR's file and the
    base branch's copy); `baseline_path=None` means there is no baseline (a model added by the PR).
    `sources` carries the Roboflow API key and the download cache (built from the environment by the CLI).
    With a `wandb:` section in the plan the run is also logged to W&B (with `pr_number` and `commit`) between
    the verdict and the report.
    `override` is a PR label or workflow_dispatch input read from the event by the caller; the verdict
    applies it only when the plan names it.
    `inference_options` carries what the caller decides for inference: fork PR (`untrusted`), progress, Modal.
    `history_ref` overrides the plan's `history.ref` (the action passes the base branch).
    Inside `report.drawing.in_background()` (the CLI and the action open it) figures are drawn in a second
    process while the stages go on; readiness waits for them before it times anything (while its memory probes
    run), and the pipeline before the report ("figures" in the timings), so the report embeds finished files.
    The output folder is marked in progress and cleared of the previous run's files first (`output_run`).
    """
    hooks = hooks or PipelineHooks()
    if loaded.plan.wandb is not None:
        from evalaction.integrations.wandb_log import require_wandb

        require_wandb()
    with output_run(out_dir):
        return _run_stages(
            loaded=loaded,
            out_dir=out_dir,
            candidate_path=candidate_path,
            baseline_path=baseline_path,
            hooks=hooks,
            run_url=run_url,
            sources=sources,
            pr_number=pr_number,
            commit=commit,
            override=override,
            inference_options=inference_options,
            history_ref=history_ref,
        )


def _task(
    *,
    loaded: LoadedPlan,
    out_dir: Path,
    candidate_path: Path,
    baseline_path: Path | None,
    sources: DataSources | None,
    inference_options: InferenceOptions | None,
    history_ref: str | None,
) -> TaskStages:
    """The plan's task, the one thing the sequencer asks about it."""
    if loaded.plan.task == "detection":
        from evalaction.tasks.detection import DetectionTask

        return DetectionTask(
            loaded=loaded,
            out_dir=out_dir,
            candidate_path=candidate_path,
            baseline_path=baseline_path,
            sources=sources,
        )
    from evalaction.tasks.classification import TabularTask

    return TabularTask(
        loaded=loaded,
        out_dir=out_dir,
        candidate_path=candidate_path,
        baseline_path=baseline_path,
        sources=sources,
        inference_kwargs=inference_options.as_kwargs() if inference_options is not None else {},
        history_ref=history_ref,
    )


def _run_stages(
    *,
    loaded: LoadedPlan,
    out_dir: Path,
    candidate_path: Path | None,
    baseline_path: Path | None | object,
    hooks: PipelineHooks,
    run_url: str | None,
    sources: DataSources | None,
    pr_number: int | None,
    commit: str | None,
    override: OverrideRequest | None,
    inference_options: InferenceOptions | None,
    history_ref: str | None,
) -> RunResult:
    from evalaction.report.render import write_reports
    from evalaction.stages.verdict import run_verdict

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    p = loaded.plan
    cand_path = candidate_path or loaded.resolve(p.models.candidate.path)
    if baseline_path is _UNSET:
        base_path = loaded.resolve(p.models.baseline.path) if p.models.baseline else None
    else:
        base_path = baseline_path  # type: ignore[assignment]
    task = _task(
        loaded=loaded,
        out_dir=out_dir,
        candidate_path=cand_path,
        baseline_path=base_path,
        sources=sources,
        inference_options=inference_options,
        history_ref=history_ref,
    )
    with hooks.stage("plan"):
        plan = task.plan()
        plan.write(out_dir / "plan.json")
    with hooks.stage("inference"):
        inference = task.inference()
        inference.write(out_dir / "inference.json")
    with hooks.stage("metrics"):
        metrics = task.metrics()
        metrics.write(out_dir / "metrics.json")
    with hooks.stage("errors"):
        errors = task.errors()
        errors.write(out_dir / "errors.json")
    with hooks.stage("compare"):
        compare = task.compare()
        if compare is not None:
            compare.write(out_dir / "compare.json")
    history = None
    if p.history is not None:
        with hooks.stage("history"):
            compare, history = task.history(compare)
            if history is not None:
                history.write(out_dir / "history.json")
            if compare is not None:
                compare.write(out_dir / "compare.json")
    from evalaction.report import drawing

    with hooks.stage("readiness"):  # it waits for the figures before it times anything (`profile_models`)
        readiness = task.readiness()
        readiness.write(out_dir / "readiness.json")
    with hooks.stage("figures"):
        drawing.wait()  # readiness off or skipped: the report embeds finished files
    with hooks.stage("verdict"):
        verdict = run_verdict(
            plan=plan, metrics=metrics, compare=compare, readiness=readiness, override=override, history=history
        )
        verdict.write(out_dir / "verdict.json")

    def assemble() -> RunResult:
        return RunResult(
            evalaction_version=__version__,
            started_at=started,
            plan=plan,
            inference=inference,
            metrics=metrics,
            errors=errors,
            compare=compare,
            readiness=readiness,
            verdict=verdict,
            timings=list(hooks.timings),
            history=history,
            **task.extras(),
        )

    wandb_run = None
    if p.wandb is not None:
        from evalaction.integrations.wandb_log import log_run

        with hooks.stage("wandb"):
            wandb_run = log_run(assemble(), out_dir=out_dir, spec=p.wandb, pr_number=pr_number, commit=commit)
    with hooks.stage("report"):
        result = assemble().model_copy(update={"wandb": wandb_run})
        write_reports(result, out_dir, run_url=run_url)
    return result

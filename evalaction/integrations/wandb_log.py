"""Weights & Biases logging, when the plan has a `wandb:` section.

One W&B run per evaluated model, shaped the way W&B users read runs:

- `group`: the pull request (`PR #42`), else the commit (`commit 0123abc`) of a dispatch; `name`: the candidate's
  path and short commit, so several changed models of one PR get distinct runs in one group; `job_type`
  `evaluation`; the plan, the PR, the commit, the models' sha256 and the dataset fingerprint as `config`;
- every scalar (both models' metrics, the comparison, the readiness numbers, the flips, the decision) in
  `run.summary`: one number per run, not a one-point history line;
- the history holds only what is a table or a picture: the gates, comparison, per-class and flip tables, the
  recall-delta bar chart, the metric plots and the attribution figures (detection: the worst images) as
  `wandb.Image`, and the prior versions' series when the plan has `history:`;
- each model file as an artifact (`type: model`, aliases `candidate`/`baseline` and `sha256-<12 hex>`) with its
  sha256, role and the dataset fingerprint in the metadata (lineage: which weights, on which test set).

Run files go under the output folder (`<out>/wandb/`). `wandb.init` is bounded by `wandb.timeout_s` (W&B's own
default is 90 s) and the final upload by `FINISH_TIMEOUT_S`. `wandb` is imported inside `log_run` only, so a
plan without the section never imports it. The API key is wandb's business (WANDB_API_KEY or `wandb login`); it
never passes through evalaction. A logging failure does not fail the evaluation: it comes back as one line in
`WandbRun.error`, is logged as a warning (stderr) and is shown in the report and the job summary, with anything
that looks like a key redacted.
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import WandbRun

if TYPE_CHECKING:
    from evalaction.artifacts import ModelRun, RunResult
    from evalaction.plan import WandbSpec

log = logging.getLogger("evalaction.wandb")

# W&B tables hold the flips sample by sample; beyond this many rows only the first ones are logged.
MAX_FLIP_ROWS = 10_000
# The final upload of an online run (files, artifacts): past this the run is marked crashed, the verdict stands.
FINISH_TIMEOUT_S = 120.0
_KEY_LIKE = re.compile(r"\b[0-9a-fA-F]{32,}\b|\b(?:local|wandb_v1)-[0-9A-Za-z_]{20,}\b")
_ARTIFACT_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def require_wandb() -> None:
    """Fail early (before inference) when the plan asks for W&B but the package is missing."""
    import importlib.util

    from evalaction.exceptions import InvalidPlan

    if importlib.util.find_spec("wandb") is None:
        raise InvalidPlan(
            "`wandb`: the plan asks for Weights & Biases logging, but the wandb package is not installed; "
            "pip install 'evalaction[wandb]' or remove the `wandb:` section"
        )


def log_run(
    run: RunResult,
    *,
    out_dir: Path,
    spec: WandbSpec,
    pr_number: int | None = None,
    commit: str | None = None,
    run_dir: Path | None = None,
) -> WandbRun:
    """Log one evaluation to W&B; run files go under `run_dir` (default: the output folder)."""
    import wandb

    wb_run = None
    try:
        root = (run_dir if run_dir is not None else out_dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        wb_run = wandb.init(
            project=spec.project,
            entity=spec.entity,
            mode=spec.mode,
            tags=[*spec.tags, *([group[:64]] if (group := history_group(run)) else [])],  # W&B: <= 64 chars
            job_type="evaluation",
            # one group per PR (or dispatched commit); without either, a history's runs share the model's group.
            # The versions of one model are also linked by the `model:<path>` tag and the commits in the config.
            group=run_group(pr_number, commit) or history_group(run),
            name=run_name(run, commit),
            dir=str(root),
            config=run_config(run, pr_number=pr_number, commit=commit),
            settings=wandb.Settings(
                silent=True,
                console="off",
                init_timeout=spec.timeout_s,
                finish_timeout=FINISH_TIMEOUT_S,
                x_disable_stats=True,  # an evaluation's CPU/GPU curves are not what the run is about
            ),
        )
        if spec.log_models:
            _log_models(wandb, wb_run, run)
        media = _tables(wandb, run, out_dir)
        if "per_class" in media:
            media["per_class_recall_delta"] = wandb.plot.bar(
                media["per_class"], "class", "recall_delta", title="Recall, candidate - baseline"
            )
        media.update(_images(wandb, run, out_dir))
        wb_run.log(media)  # tables and pictures: the only history besides the versions' series below
        wb_run.summary.update(summary_values(run))
        log_history(wandb, wb_run, run)
        mode = str(getattr(wb_run.settings, "mode", None) or spec.mode or "online")
        mode = "offline" if "offline" in mode else "disabled" if "disabled" in mode else "online"
        result = WandbRun(
            project=spec.project,
            mode=mode,
            run_id=wb_run.id,
            # Asking an offline run for its URL only prints a warning.
            url=wb_run.url if mode == "online" else None,
            run_dir=str(Path(wb_run.dir).parent) if mode != "disabled" and getattr(wb_run, "dir", None) else None,
        )
        wb_run.finish()
        return result
    except Exception as exc:  # W&B must never cost the verdict; the error is reported, not raised
        if wb_run is not None:
            # Already failing: the first error is the one to report.
            with contextlib.suppress(Exception):
                wb_run.finish(exit_code=1)
        first = (str(exc).splitlines() or [""])[0]
        hint = ""
        if "timed out" in first.lower() or "timeout" in type(exc).__name__.lower():
            hint = (
                f" (gave up after `wandb.timeout_s` = {spec.timeout_s:g} s; check WANDB_BASE_URL and the network)"
            )
        error = _KEY_LIKE.sub("***", f"W&B logging failed: {type(exc).__name__}: {first}")[:300] + hint
        log.warning("%s; the evaluation itself is unaffected", error)
        return WandbRun(project=spec.project, mode=spec.mode or "default", error=error)


def run_group(pr_number: int | None, commit: str | None) -> str | None:
    """The runs of one pull request (or of one dispatched commit) side by side."""
    if pr_number is not None:
        return f"PR #{pr_number}"
    if commit:
        return f"commit {commit[:7]}"
    return None


def run_name(run: RunResult, commit: str | None) -> str:
    """`models/candidate.onnx @ 0123abc`: which model, at which commit (distinct per changed model)."""
    path = Path(run.inference.candidate.path).resolve()
    name = path.name
    # relative to the working directory (the action's checkout), else to the plan's folder: the path in the repo
    for root in (Path.cwd(), Path(run.plan.plan_path).parent):
        with contextlib.suppress(ValueError, OSError):
            name = path.relative_to(root.resolve()).as_posix()
            break
    return f"{name} @ {commit[:7]}" if commit else name


def run_config(run: RunResult, *, pr_number: int | None, commit: str | None) -> dict[str, Any]:
    """The W&B run's config: what was evaluated, on what, under which plan."""
    inf = run.inference
    return {
        "pr_number": pr_number,
        "commit": commit,
        "evalaction_version": run.evalaction_version,
        "plan": run.plan.plan.model_dump(mode="json"),
        "plan_path": run.plan.plan_path,
        "dataset_fingerprint": run.plan.dataset.fingerprint,
        "n_samples": run.plan.dataset.n_samples,
        "candidate": {"path": inf.candidate.path, "sha256": inf.candidate.sha256},
        "baseline": None if inf.baseline is None else {"path": inf.baseline.path, "sha256": inf.baseline.sha256},
    }


def summary_values(run: RunResult) -> dict[str, Any]:
    """Every scalar of the evaluation: metrics, comparison, flips, readiness and the decision."""
    out: dict[str, Any] = {**metric_values(run), **_summary(run)}
    readiness = run.readiness
    for role, r in (("candidate", readiness.candidate), ("baseline", readiness.baseline)):
        if r is None:
            continue
        for key, value in r.model_dump().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"readiness/{role}/{key}"] = value
    for role, m in (("candidate", run.inference.candidate), ("baseline", run.inference.baseline)):
        if m is not None:
            out[f"inference/{role}/samples_per_s"] = m.samples_per_s
            out[f"inference/{role}/wall_s"] = m.wall_s
    if run.detection is not None:
        out.update(_detection_summary(run))
    return out


def _detection_summary(run: RunResult) -> dict[str, Any]:
    """task detection: the 12 COCO numbers, TIDE's error counts and the operating point, per model."""
    assert run.detection is not None
    out: dict[str, Any] = {}
    det = run.detection
    for role, metrics, errors in (
        ("candidate", det.metrics.candidate, det.errors.candidate),
        ("baseline", det.metrics.baseline, det.errors.baseline),
    ):
        if metrics is not None:
            out.update({f"detection/{role}/coco/{k}": v for k, v in metrics.stats.items() if v is not None})
        if errors is not None:
            out.update({f"detection/{role}/tide/{k}": v for k, v in errors.tide.counts.items()})
            op = errors.operating
            for key in ("tp", "fp", "fn", "precision", "recall"):
                if getattr(op, key) is not None:
                    out[f"detection/{role}/operating/{key}"] = getattr(op, key)
    return out


def metric_values(run: RunResult) -> dict[str, float]:
    """`candidate/accuracy`, `baseline/recall/7`, ...: every defined metric of both models."""
    out: dict[str, float] = {}
    models = [("candidate", run.metrics.candidate), ("baseline", run.metrics.baseline)]
    for role, m in models:
        if m is None:
            continue
        out.update({f"{role}/{name}": v for name, v in m.overall.items() if v is not None})
        for name, per in m.per_class.items():
            out.update({f"{role}/{name}/{cls}": v for cls, v in per.items() if v is not None})
    return out


def _summary(run: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "decision": run.verdict.decision,
        "gates/failed": sum(g.status == "fail" for g in run.verdict.gates),
        "gates/blocking_failed": sum(g.status == "fail" and g.blocking for g in run.verdict.gates),
    }
    if run.compare is not None:
        for c in run.compare.comparisons:
            out[f"compare/{c.metric}/delta"] = c.delta
            out[f"compare/{c.metric}/p_adjusted"] = c.p_adjusted
            out[f"compare/{c.metric}/outcome"] = c.outcome
        if run.compare.flips is not None:
            out["negative_flips"] = run.compare.flips.n_negative
            out["positive_flips"] = run.compare.flips.n_positive
    return out


def _log_models(wandb: Any, wb_run: Any, run: RunResult) -> None:
    """Each model file as a `model` artifact, with its sha256 and the test set's fingerprint in the metadata."""
    for model in (run.inference.baseline, run.inference.candidate):
        if model is None or not Path(model.path).is_file():
            continue
        artifact = wandb.Artifact(
            name=_artifact_name(model),
            type="model",
            description=f"The {model.role} evaluated by evalaction",
            metadata=model_metadata(run, model),
        )
        # "immutable": no staging copy of a possibly large weights file
        artifact.add_file(model.path, name=Path(model.path).name, policy="immutable")
        # Both logged by the run (`use_artifact` is refused offline, and an untested online-only path is worse):
        # the artifact graph links both files to this evaluation; the metadata says which was compared to which.
        wb_run.log_artifact(artifact, aliases=[model.role, f"sha256-{model.sha256[:12]}"])


def _artifact_name(model: ModelRun) -> str:
    stem = Path(model.path).name
    return _ARTIFACT_NAME.sub("-", stem).strip("-.")[:100] or model.role


def model_metadata(run: RunResult, model: ModelRun) -> dict[str, Any]:
    """What identifies a model file and the test set it was evaluated on (an artifact's metadata)."""
    return {
        "role": model.role,
        "sha256": model.sha256,
        "size_bytes": model.size_bytes,
        "format": model.format,
        "dataset_fingerprint": run.plan.dataset.fingerprint,
        "n_samples": run.plan.dataset.n_samples,
        "decision": run.verdict.decision,
        "evaluated_against": None
        if model.role == "baseline" or run.inference.baseline is None
        else {"role": "baseline", "sha256": run.inference.baseline.sha256},
    }


def _images(wandb: Any, run: RunResult, out_dir: Path) -> dict[str, Any]:
    """The metric plots and the attribution figures (PNG files the stages wrote) as `wandb.Image`."""
    out: dict[str, Any] = {}
    for name, rel in run.metrics.plots.items():
        if (out_dir / rel).is_file():
            out[f"plots/{name}"] = wandb.Image(str(out_dir / rel), caption=name)
    if run.detection is not None:
        for img in run.detection.errors.worst_images:
            if img.drawing and (out_dir / img.drawing).is_file():
                caption = f"{img.file_name}: {img.fp} false positives, {img.fn} missed of {img.n_gt}"
                out[f"worst_images/{img.image_id}"] = wandb.Image(str(out_dir / img.drawing), caption=caption)
    attributions = run.errors.attributions
    if attributions is not None:
        for sample in attributions.samples:
            if (out_dir / sample.figure).is_file():
                caption = f"{sample.category.replace('_', ' ')} {sample.id} (label {sample.label})"
                out[f"attributions/{sample.id}"] = wandb.Image(str(out_dir / sample.figure), caption=caption)
    return out


def _tables(wandb: Any, run: RunResult, out_dir: Path) -> dict[str, Any]:
    tables: dict[str, Any] = {
        "gates": wandb.Table(
            columns=["gate", "kind", "rule", "observed", "status", "blocking", "reason"],
            data=[[g.name, g.kind, g.rule, g.observed, g.status, g.blocking, g.reason] for g in run.verdict.gates],
        )
    }
    cmp = run.compare
    if cmp is None:
        return tables
    tables["comparison"] = wandb.Table(
        columns=[
            "metric",
            "baseline",
            "candidate",
            "delta",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "test",
            "outcome",
            "rule",
            "margin",
            "passed",
        ],
        data=[
            [
                c.metric,
                c.baseline,
                c.candidate,
                c.delta,
                c.ci_low,
                c.ci_high,
                c.p_value,
                c.p_adjusted,
                c.test,
                c.outcome,
                c.rule,
                c.margin,
                c.passed,
            ]
            for c in cmp.comparisons
        ],
    )
    if cmp.flips is None or run.metrics.baseline is None or run.detection is not None:
        return tables
    base_recall = run.metrics.baseline.per_class.get("recall", {})
    cand_recall = run.metrics.candidate.per_class.get("recall", {})
    rows = []
    for cls, f in cmp.flips.per_class.items():
        b, c = base_recall.get(cls), cand_recall.get(cls)
        rows.append([cls, f.n, b, c, None if b is None or c is None else c - b, f.negative, f.positive])
    tables["per_class"] = wandb.Table(
        columns=[
            "class",
            "n",
            "baseline_recall",
            "candidate_recall",
            "recall_delta",
            "negative_flips",
            "positive_flips",
        ],
        data=rows,
    )
    tables["flips"] = _flip_table(wandb, run, out_dir)
    return tables


def _flip_table(wandb: Any, run: RunResult, out_dir: Path) -> Any:
    """Every sample whose correctness changed, read back from the saved predictions."""
    import numpy as np

    from evalaction.predictions import read_predictions

    assert run.inference.baseline is not None
    cand = read_predictions(out_dir / run.inference.candidate.predictions_path)
    base = read_predictions(out_dir / run.inference.baseline.predictions_path)
    classes = cand.classes

    def name(k: int) -> str:
        return classes[k] if 0 <= k < len(classes) else "(outside class list)"

    base_right, cand_right = base.correct, cand.correct
    changed = np.flatnonzero(base_right != cand_right)[:MAX_FLIP_ROWS]
    data = [
        [
            str(cand.ids[i]),
            name(int(cand.y[i])),
            name(int(base.pred[i])),
            name(int(cand.pred[i])),
            float(base.confidence[i]),
            float(cand.confidence[i]),
            "negative" if base_right[i] else "positive",
        ]
        for i in changed
    ]
    return wandb.Table(
        columns=["id", "label", "baseline_pred", "candidate_pred", "baseline_conf", "candidate_conf", "flip"],
        data=data,
    )


def history_group(run: RunResult) -> str | None:
    """With `history:`, every evaluation of one model file shares a W&B group (`model:<path>`), so the runs of its
    versions sit together in the project; None otherwise (wandb's default)."""
    return None if run.history is None else f"model:{run.history.path}"


def log_history(wandb: Any, wb_run: Any, run: RunResult) -> None:
    """The prior versions re-scored on this test set (plan `history:`): a `history` table, its line plot, and
    `history/*` summary keys. Each row carries the version's commit, which is the `commit` in the config of
    that version's own W&B run (same project), so the runs can be found from the table."""
    h = run.history
    if h is None:
        return

    def row(
        order: int, label: str, commit: str, date: str, value: float | None, ci: Any, cmp: Any
    ) -> dict[str, Any]:
        return {
            "order": order,  # numeric x for the line plot, oldest first
            "version": label,
            "commit": commit,
            "date": date,
            h.primary: value,
            "ci_low": ci[0] if ci else None,
            "ci_high": ci[1] if ci else None,
            "delta_candidate": cmp.delta if cmp else None,
            "delta_ci_low": cmp.ci_low if cmp else None,
            "delta_ci_high": cmp.ci_high if cmp else None,
            "outcome": cmp.outcome if cmp else None,
        }

    rows = [
        {
            **row(i, v.label, v.commit, v.date, v.primary, v.primary_ci, v.comparison),
            "best": v.label == h.best,
            "cached": v.cached,
            "error": v.error,
        }
        for i, v in enumerate(h.versions)
    ]
    cand = row(
        len(rows),
        "candidate",
        run.inference.candidate.sha256[:12],
        run.started_at,
        h.candidate_primary,
        h.candidate_ci,
        None,
    )
    rows.append({**cand, "best": False, "cached": False, "error": None})
    columns = list(rows[0])
    table = wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows])
    trend = wandb.plot.line(table, "order", h.primary, title=f"{h.primary} by version (oldest first)")
    wb_run.log({"history": table, "history_trend": trend})
    summary = {
        "history/best": h.best,
        "history/candidate_is_best": h.candidate_is_best,
        "history/trails_best_by": h.trails_best_by,
        "history/cache_hits": h.cache_hits,
        "history/cache_misses": h.cache_misses,
    }
    for key, value in summary.items():
        wb_run.summary[key] = value

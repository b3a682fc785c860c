"""Weights & Biases logging, when the plan has a `wandb:` section.

One W&B run per evaluation: both models' metrics (overall and per class), the comparison table, the gates,
a per-class table with a bar chart of recall deltas, and every per-sample flip as `wandb.Table`s; the PR
number, the commit and the plan as the run's config. `wandb` is imported inside `log_run` only, so a plan
without the section never imports it. The API key is wandb's business (WANDB_API_KEY or `wandb login`); it never
passes through evalaction. A logging failure does not fail the evaluation: it comes back as one line in
`WandbRun.error` (and in the report), with anything that looks like a key redacted.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.artifacts import WandbRun

if TYPE_CHECKING:
    from evalaction.artifacts import RunResult
    from evalaction.config import WandbSpec

# W&B tables hold the flips sample by sample; beyond this many rows only the first ones are logged.
MAX_FLIP_ROWS = 10_000
_KEY_LIKE = re.compile(r"\b[0-9a-fA-F]{32,}\b|\b(?:local|wandb_v1)-[0-9A-Za-z_]{20,}\b")


def require_wandb() -> None:
    """Fail early (before inference) when the plan asks for W&B but the package is missing."""
    import importlib.util

    from evalaction.errors import InvalidPlan

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
    """Log one evaluation to W&B; `run_dir` defaults to wandb's own choice (WANDB_DIR, else the working dir)."""
    import wandb

    wb_run = None
    try:
        wb_run = wandb.init(
            project=spec.project,
            entity=spec.entity,
            mode=spec.mode,
            tags=list(spec.tags),
            job_type="evalaction",
            name=_run_name(run, pr_number, commit),
            dir=str(run_dir) if run_dir is not None else None,
            config=run_config(run, pr_number=pr_number, commit=commit),
            settings=wandb.Settings(silent=True, console="off"),
        )
        wb_run.log(metric_values(run))
        tables = _tables(wandb, run, out_dir)
        wb_run.log(tables)
        if "per_class" in tables:
            wb_run.log(
                {
                    "per_class_recall_delta": wandb.plot.bar(
                        tables["per_class"], "class", "recall_delta", title="Recall, candidate - baseline"
                    )
                }
            )
        for key, value in _summary(run).items():
            wb_run.summary[key] = value
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
        return WandbRun(
            project=spec.project,
            mode=spec.mode or "default",
            error=_KEY_LIKE.sub("***", f"W&B logging failed: {type(exc).__name__}: {first}")[:300],
        )


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
    out: dict[str, Any] = {"decision": run.verdict.decision}
    if run.compare is not None:
        for c in run.compare.comparisons:
            out[f"compare/{c.metric}/delta"] = c.delta
            out[f"compare/{c.metric}/p_adjusted"] = c.p_adjusted
            out[f"compare/{c.metric}/outcome"] = c.outcome
        if run.compare.flips is not None:
            out["negative_flips"] = run.compare.flips.n_negative
            out["positive_flips"] = run.compare.flips.n_positive
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
    if cmp.flips is None or run.metrics.baseline is None:
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


def log_history(wandb: Any, wb_run: Any, run: RunResult) -> None:
    """The prior versions re-scored on this test set (plan `history:`): a `history` table, its line plot, and
    `history/*` summary keys. Each row carries the version's commit, which is the `commit` in the config of
    that version's own W&B run (same project), so the runs can be found from the table."""
    h = run.history
    if h is None:
        return
    rows = []
    for v in h.versions:
        c = v.comparison
        ci = v.primary_ci or (None, None)
        rows.append(
            [
                v.label,
                v.commit,
                v.date,
                v.primary,
                ci[0],
                ci[1],
                None if c is None else c.delta,
                None if c is None else c.ci_low,
                None if c is None else c.ci_high,
                None if c is None else c.outcome,
                v.label == h.best,
                v.cached,
                v.error,
            ]
        )
    ci = h.candidate_ci or (None, None)
    rows.append(
        [
            "candidate",
            run.inference.candidate.sha256[:12],
            run.started_at,
            h.candidate_primary,
            ci[0],
            ci[1],
            None,
            None,
            None,
            None,
            False,
            False,
            None,
        ]
    )
    columns = [
        "version",
        "commit",
        "date",
        h.primary,
        "ci_low",
        "ci_high",
        "delta_candidate",
        "delta_ci_low",
        "delta_ci_high",
        "outcome",
        "best",
        "cached",
        "error",
    ]
    table = wandb.Table(columns=columns, data=rows)
    wb_run.log(
        {
            "history": table,
            "history_trend": wandb.plot.line(table, "version", h.primary, title=f"{h.primary} by version"),
        }
    )
    summary = {
        "history/best": h.best,
        "history/candidate_is_best": h.candidate_is_best,
        "history/trails_best_by": h.trails_best_by,
        "history/cache_hits": h.cache_hits,
        "history/cache_misses": h.cache_misses,
    }
    for key, value in summary.items():
        wb_run.summary[key] = value


def _run_name(run: RunResult, pr_number: int | None, commit: str | None) -> str:
    title = run.plan.plan.name or Path(run.plan.plan_path).name
    parts = [title]
    if pr_number is not None:
        parts.append(f"PR #{pr_number}")
    if commit:
        parts.append(commit[:7])
    return " · ".join(parts)

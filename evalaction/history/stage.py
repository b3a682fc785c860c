"""The history stage: the candidate against the model's prior versions, each re-scored on today's test set.

Re-scoring every prior version on today's test set with today's plan is the only fair comparison: metrics that
each run computed on whatever test set it had are not comparable. Each prior version runs through the same
runner as the candidate (`stages.inference`), its metrics come from the same registry (`stages.metrics`), and
every number is paired with the candidate by the compare stage's own machinery (`compare_predictions`), so the
delta to each version has the same test and interval as the delta to the baseline.

Scores are cached per (model sha256, test-set fingerprint, scoring hash) in `history.cache_dir`: the next run
(or the next PR) runs only the versions it has not seen. `vs_best_prior` gates are decided on the pairing with
the best prior version on the primary metric; Holm adjusts them together with the `vs_baseline` gates
(`holm_together`).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from evalaction.artifacts import GateResult, HistoryResult, MetricComparison, PriorVersion
from evalaction.history.cache import DEFAULT_CACHE
from evalaction.plan import parse_metric_ref

if TYPE_CHECKING:
    from collections.abc import Mapping

    from evalaction.artifacts import CompareResult, InferenceResult, MetricsResult, PlanResult
    from evalaction.datasets import Dataset
    from evalaction.plan import BaselineGate, Plan
    from evalaction.predictions import Predictions

HISTORY_DIR = "history"
# resamples for one version's own interval when the primary metric is not a proportion (percentile bootstrap)
_OWN_INTERVAL_RESAMPLES = 200


def run_history(
    *,
    plan: PlanResult,
    dataset: Dataset,
    inference: InferenceResult,
    metrics: MetricsResult,
    out_dir: Path,
    candidate_path: Path,
    ref: str | None = None,
    repo_dir: Path | None = None,
    untrusted: bool = False,
    code_root: Path | None = None,
    git_lfs: str | None = None,
) -> HistoryResult:
    """Prior versions from git, each scored (or read from the cache) and paired with the candidate.

    `ref` overrides `history.ref` (the action passes the base branch); `repo_dir` defaults to the git work tree
    holding the plan. `git_lfs` is the git-lfs executable, needed only for versions stored in LFS.
    """
    from evalaction.github.changes import is_shallow
    from evalaction.history import git
    from evalaction.metrics.catalog import higher_is_better
    from evalaction.predictions import read_predictions

    p = plan.plan
    spec = p.history
    assert spec is not None  # the pipeline runs this stage only with `history:`
    repo = (repo_dir or git.repo_root(Path(plan.base_dir))).resolve()
    path = spec.path or _path_in_repo(repo, candidate_path, Path(plan.base_dir) / p.models.candidate.path)
    cache_dir = _cache_dir(spec.cache_dir, Path(plan.base_dir), out_dir, repo)
    wanted_ref = ref or spec.ref or "HEAD"
    head, found = git.discover(
        repo,
        path=path,
        ref=wanted_ref,
        source=spec.source,
        tag_pattern=spec.tag_pattern,
        limit=spec.versions + 1,  # one more: the candidate itself may be among them
    )
    primary = p.metrics.primary
    hib = higher_is_better(parse_metric_ref(primary)[0])
    cand_preds = read_predictions(out_dir / inference.candidate.predictions_path)
    scorer = _Scorer(
        plan=plan,
        dataset=dataset,
        repo=repo,
        cache_dir=cache_dir,
        untrusted=untrusted,
        code_root=code_root or Path(plan.base_dir),
        git_lfs=git_lfs,
        scratch=out_dir / HISTORY_DIR,
    )
    notes: list[str] = []
    if is_shallow(repo):
        notes.append("shallow clone: only the fetched history was searched (actions/checkout `fetch-depth: 0`)")
    versions: list[PriorVersion] = []
    prior_preds: dict[str, Predictions] = {}
    for v in found:
        raw = git.read_raw(repo, v)
        sha = git.lfs_oid(raw) or hashlib.sha256(raw).hexdigest()
        if sha == inference.candidate.sha256:
            notes.append(f"{v.label} holds the candidate's own weights: left out of the history")
            continue
        if len(versions) == spec.versions:
            break
        base = PriorVersion(
            label=v.label, commit=v.commit, date=v.date, subject=v.subject, path=v.path, sha256=sha
        )
        try:
            preds, overall, cached = scorer.score(v, raw, sha)
        except Exception as exc:  # noqa: BLE001 - an old version that no longer loads is reported, not fatal
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            versions.append(base.model_copy(update={"error": first}))
            continue
        prior_preds[v.label] = preds
        paired = _pair(p, preds, cand_preds, {}).get(primary)
        # the compare machinery's value serves a per-class primary (`recall[7]`) too
        value = paired.baseline if paired is not None else overall.get(parse_metric_ref(primary)[0])
        versions.append(
            base.model_copy(
                update={
                    "cached": cached,
                    "overall": overall,
                    "primary": _finite(value),
                    "primary_ci": _own_interval(preds, p),
                    "comparison": paired,
                }
            )
        )
    versions.reverse()  # oldest first: the order of a trend
    if not versions:
        notes.append(f"no prior version of `{path}` on `{wanted_ref}` ({spec.source}): nothing to compare with")

    name, cls = parse_metric_ref(primary)
    cand_value = _finite(
        metrics.candidate.overall.get(name) if cls is None else metrics.candidate.per_class.get(name, {}).get(cls)
    )
    sign = 1.0 if hib else -1.0
    scored = [(i, v) for i, v in enumerate(versions) if v.primary is not None]
    best = max(scored, key=lambda iv: (sign * (iv[1].primary or 0.0), iv[0]))[1] if scored else None
    best_prior: list[MetricComparison] = []
    best_undefined: dict[str, str] = {}
    is_best = trails = None
    if best is not None and best.primary is not None and cand_value is not None:
        gap = sign * (best.primary - cand_value)
        is_best, trails = gap <= 0, max(0.0, gap)
        compared = _pair(p, prior_preds[best.label], cand_preds, p.gates.vs_best_prior)
        best_prior, best_undefined = compared.comparisons, dict(compared.undefined)
        notes += [
            f"vs best prior ({best.label}): {m} not compared: {why}" for m, why in compared.undefined.items()
        ]
    result = HistoryResult(
        ref=f"{wanted_ref} @ {head[:12]}",
        source=spec.source,
        path=path,
        primary=primary,
        higher_is_better=hib,
        candidate_primary=cand_value,
        candidate_ci=_own_interval(cand_preds, p),
        versions=versions,
        best=best.label if best is not None else None,
        candidate_is_best=is_best,
        trails_best_by=trails,
        best_prior=best_prior,
        best_prior_undefined=best_undefined,
        holm_family=[f"vs_best_prior:{c.metric}" for c in best_prior if c.gated],
        cache_dir=str(cache_dir),
        cache_hits=scorer.hits,
        cache_misses=scorer.misses,
        notes=notes,
    )
    if p.metrics.plots and result.scored:
        from evalaction.history.plot import draw_trend

        plot = draw_trend(result, out_dir / HISTORY_DIR / "trend.png")
        result = result.model_copy(update={"plot": plot.relative_to(out_dir).as_posix()})
    return result


class _Scorer:
    """Scores one prior version, or reads it from the cache; counts hits and misses."""

    def __init__(
        self,
        *,
        plan: PlanResult,
        dataset: Dataset,
        repo: Path,
        cache_dir: Path,
        untrusted: bool,
        code_root: Path,
        git_lfs: str | None,
        scratch: Path,
    ) -> None:
        from evalaction.history.cache import scoring_hash

        self.plan, self.dataset, self.repo, self.cache_dir = plan, dataset, repo, cache_dir
        self.untrusted, self.code_root, self.git_lfs, self.scratch = untrusted, code_root, git_lfs, scratch
        self.fingerprint = plan.dataset.fingerprint
        self.scoring = scoring_hash(plan.plan, dataset.classes)
        self.hits = self.misses = 0

    def score(self, version: object, raw: bytes, sha: str) -> tuple[Predictions, dict[str, float | None], bool]:
        from evalaction.history import cache, git
        from evalaction.predictions import read_predictions
        from evalaction.runners.progress import no_progress
        from evalaction.stages.inference import _run_one
        from evalaction.stages.metrics import metric_inputs, model_metrics

        assert isinstance(version, git.GitVersion)
        entry = cache.lookup(self.cache_dir, sha, self.fingerprint, self.scoring)
        if entry is not None:
            self.hits += 1
            return read_predictions(entry.predictions), entry.overall, True
        content = git.weights(self.repo, version, raw, git_lfs=self.git_lfs)
        # keep the suffix: runners pick a loader by extension
        model_file = self.scratch / "models" / f"{sha[:16]}{PurePosixPath(version.path).suffix}"
        model_file.parent.mkdir(parents=True, exist_ok=True)
        model_file.write_bytes(content)
        folder = cache.folder_for(self.cache_dir, sha, self.fingerprint, self.scoring)
        p = self.plan.plan
        try:
            run = _run_one(
                role="baseline",  # a prior version is read like the baseline: with the candidate's spec
                spec=p.models.candidate,
                path=model_file,
                plan=self.plan,
                dataset=self.dataset,
                out_dir=folder,
                untrusted=self.untrusted,
                progress=no_progress,
                code_root=self.code_root,
                executor=None,  # prior versions run locally, even when the plan shards the candidate on Modal
                torch_models=None,
            )
        finally:
            model_file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                model_file.parent.rmdir()  # only when empty
        (folder / run.predictions_path).replace(folder / cache.PREDICTIONS)
        preds = read_predictions(folder / cache.PREDICTIONS)
        overall = model_metrics(metric_inputs(preds, p.task), p.metric_list, {}, tune=False).overall
        cache.store(folder, sha, self.fingerprint, self.scoring, overall)
        self.misses += 1
        return preds, overall, False


def _path_in_repo(repo: Path, candidate: Path, planned: Path) -> str:
    """The candidate's path relative to the repository (the plan's path when the file is elsewhere)."""
    from evalaction.exceptions import BadInput

    for p in (candidate, planned):
        try:
            return p.resolve().relative_to(repo).as_posix()
        except ValueError:
            continue
    raise BadInput(
        f"`history`: expected the candidate model inside the git repository {repo}, found {candidate}; "
        "set `history.path` to the model's path in the repository"
    )


def _cache_dir(configured: str | None, base_dir: Path, out_dir: Path, repo: Path) -> Path:
    """`history.cache_dir` (relative to the plan) or `<out>/history_cache`; never outside the repository or
    the output folder (the plan may come from a pull request)."""
    from evalaction.exceptions import BadInput

    path = ((base_dir / configured) if configured else (out_dir / DEFAULT_CACHE)).resolve()
    if not any(path.is_relative_to(root) for root in (repo.resolve(), out_dir.resolve())):
        raise BadInput(
            f"`history.cache_dir`: expected a folder inside the repository or the output folder, found "
            f"{configured!r} ({path}); use a relative path such as `.evalaction/history`"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def _finite(value: float | None) -> float | None:
    import math

    return None if value is None or not math.isfinite(value) else float(value)


def _pair(
    plan: Plan, prior: Predictions, candidate: Predictions, rules: Mapping[str, BaselineGate]
) -> CompareResult:
    """The compare stage on (prior version, candidate), with `rules` as its gates."""
    from evalaction.stages.compare import compare_predictions

    variant = plan.model_copy(update={"gates": plan.gates.model_copy(update={"vs_baseline": rules})})
    return compare_predictions(plan=variant, baseline=prior, candidate=candidate, max_listed=0)


def _own_interval(p: Predictions, plan: Plan) -> tuple[float, float] | None:
    """One model's primary metric with its (1 - alpha) interval: Wilson for accuracy, else a percentile
    bootstrap over samples (the paired delta to the candidate is the number that decides; this is context)."""
    import numpy as np

    from evalaction.stages.compare import _subset
    from evalaction.stages.metrics import _classification_metric, _regression_metric
    from evalaction.stages.verdict import wilson_interval

    confidence = 1 - plan.compare.alpha
    name, cls = parse_metric_ref(plan.metrics.primary)
    n = len(p.y)
    if n == 0:
        return None
    if name == "accuracy" and plan.task != "regression":
        return wilson_interval(int(np.count_nonzero(p.pred == p.y)), n, confidence)

    def value(idx: np.ndarray) -> float:
        sub = _subset(p, idx)
        if plan.task == "regression":
            return _regression_metric(name, sub)
        v, per, _ = _classification_metric(name, sub, plan.task)
        v = (per or {}).get(cls) if cls is not None else v
        return float("nan") if v is None else float(v)

    rng = np.random.default_rng(plan.compare.seed)
    draws = np.array([value(rng.integers(0, n, n)) for _ in range(_OWN_INTERVAL_RESAMPLES)])
    draws = draws[np.isfinite(draws)]
    if len(draws) < _OWN_INTERVAL_RESAMPLES // 2:
        return None
    low, high = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


# ------------------------------------------------------------------------------- Holm across both families


def holm_together(
    compare: CompareResult | None, history: HistoryResult | None, alpha: float
) -> tuple[CompareResult | None, HistoryResult | None]:
    """Holm over the gated vs_baseline and vs_best_prior tests as one family; rules re-decided on it.

    Only `better` rules read the adjusted p (evalaction/stats/outcome.py), so the others keep their verdict.
    """
    from evalaction.stats.multitest import holm

    base = [c for c in compare.comparisons if c.gated] if compare is not None else []
    prior = [c for c in history.best_prior if c.gated] if history is not None else []
    if not prior:
        return compare, history
    adjusted = holm([c.p_value for c in [*base, *prior]]).tolist()
    by_base = dict(zip([c.metric for c in base], adjusted[: len(base)], strict=True))
    by_prior = dict(zip([c.metric for c in prior], adjusted[len(base) :], strict=True))
    family = [c.metric for c in base] + [f"vs_best_prior:{c.metric}" for c in prior]
    if compare is not None:
        compare = compare.model_copy(
            update={
                "comparisons": [
                    _redecide(c, by_base[c.metric], alpha) if c.metric in by_base else c
                    for c in compare.comparisons
                ],
                "holm_family": family,
            }
        )
    assert history is not None
    history = history.model_copy(
        update={
            "best_prior": [_redecide(c, by_prior[c.metric], alpha) if c.gated else c for c in history.best_prior],
            "holm_family": family,
        }
    )
    return compare, history


def _redecide(c: MetricComparison, p_adjusted: float, alpha: float) -> MetricComparison:
    from evalaction.stats.outcome import decide

    # oriented so that positive is an improvement, as the compare stage decides
    ci = (c.ci_low, c.ci_high) if c.higher_is_better else (-c.ci_high, -c.ci_low)
    tost = (c.tost_ci_low, c.tost_ci_high) if c.higher_is_better else (-c.tost_ci_high, -c.tost_ci_low)
    d = decide(
        ci=ci,
        ci_2alpha=tost,
        p_adjusted=p_adjusted,
        alpha=alpha,
        margin=c.margin or 0.0,
        rule=c.rule,
        p_margin=c.p_margin,  # the compare stage decided the rule on it where the test gives one
    )
    reason = d.reason if c.higher_is_better else f"{d.reason} (lower is better: signs flipped)"
    return c.model_copy(
        update={"p_adjusted": p_adjusted, "outcome": d.outcome, "passed": d.passed, "reason": reason}
    )


# ------------------------------------------------------------------------------------------------- gates


def best_prior_gates(plan: PlanResult, history: HistoryResult | None) -> list[GateResult]:
    """`gates.vs_best_prior`: `vs_baseline`'s gate logic (stages/verdict.py) on the pairing with the best prior
    version, relabelled; without a scored prior version the gates are skipped."""
    from evalaction.artifacts import CompareResult
    from evalaction.stages.verdict import baseline_gates

    rules = plan.plan.gates.vs_best_prior
    if not rules:
        return []
    gates = plan.plan.gates.model_copy(update={"vs_baseline": rules})
    variant = plan.model_copy(update={"plan": plan.plan.model_copy(update={"gates": gates})})
    best = history.best if history is not None else None
    compare = None
    if history is not None and best is not None:
        spec = plan.plan.compare
        compare = CompareResult(
            comparisons=history.best_prior,
            n_bootstrap=spec.n_bootstrap,
            alpha=spec.alpha,
            seed=spec.seed,
            n_samples=plan.dataset.n_samples,
            undefined=history.best_prior_undefined,
        )
    out = []
    for gate, g in zip(rules.values(), baseline_gates(variant, compare), strict=True):
        margin = f", margin {gate.margin:g}" if gate.margin else ""
        reason = (
            "no prior version could be scored; gate skipped" if best is None else f"best prior {best}: {g.reason}"
        )
        rule = f"{gate.rule.replace('_', ' ')} vs best prior{margin}"
        out.append(g.model_copy(update={"kind": "vs_best_prior", "rule": rule, "reason": reason}))
    return out

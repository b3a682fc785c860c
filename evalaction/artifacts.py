"""Typed results each stage hands to the next.

Every result is a frozen pydantic model, persisted by the pipeline as `<out>/<stage>.json` (per-sample predictions
as Parquet beside them, referenced by relative path), so any report can be re-rendered from the output folder
without re-running anything (`evalaction report out/`).

    PlanResult -> InferenceResult -> MetricsResult -> ErrorsResult -> CompareResult -> ReadinessResult
               -> VerdictResult, all gathered in RunResult (results.json)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalaction.detection.artifacts import DetectionResult
from evalaction.metrics.values import ThresholdTuning
from evalaction.plan import Plan
from evalaction.readiness.models import QuantizationReport, ReadinessProfile, TorchExport


class Artifact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def write(self, path: Path) -> Path:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Any:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------- plan stage


class Leakage(Artifact):
    """Test samples that also appear in the training data."""

    n: int = Field(description="Test samples found in the training data by content or by id.")
    by_content: int = Field(description="Matched by content hash (feature values, decoded pixels, file sha256).")
    by_id: int = Field(description="Matched by sample id (only when the test set has real ids).")
    near: int | None = Field(
        default=None, description="Images with a perceptual near-duplicate in the training images (not in `n`)."
    )
    sources: list[str] = Field(description="What the test set was checked against.")
    examples: list[str] = Field(default_factory=list, description="The first leaking test ids.")


class DatasetCard(Artifact):
    """What the plan stage learned about the test set."""

    source: str
    format: str
    n_samples: int
    n_features: int | None
    classes: list[str]
    class_counts: dict[str, int]
    duplicate_samples: int = Field(description="Samples whose features repeat an earlier sample exactly.")
    duplicate_ids: int
    labels_outside_classes: dict[str, int] = Field(
        description="Label value -> count, for labels not in the class list."
    )
    missing_values: int = Field(description="Missing (NaN/empty) feature or label cells.")
    slices: dict[str, dict[str, int]] = Field(default_factory=dict, description="Slice column -> value -> count.")
    classes_absent: list[str] = Field(default_factory=list, description="Classes with no test sample.")
    train_overlap: int | None = Field(default=None, description="Test samples also in the training set.")
    fingerprint: str = Field(description="sha256 over ids, labels and feature bytes.")
    warnings: list[str] = Field(default_factory=list)
    origin: str | None = Field(default=None, description="Where the data came from (e.g. a Roboflow version).")
    split: str | None = Field(default=None, description="The export's split evaluated on.")
    missing_labels: int = Field(default=0, description="Samples with no label.")
    invalid_values: int = Field(
        default=0, description="NaN, infinite or float32-overflowing feature cells (`dataset.invalid_values`)."
    )
    dropped_rows: int = Field(default=0, description="Rows dropped for invalid values (`invalid_values: drop`).")
    duplicate_groups: list[list[str]] = Field(
        default_factory=list, description="Ids of exactly equal samples, a group per content (first 10)."
    )
    near_duplicate_samples: int | None = Field(
        default=None, description="Images with a perceptual near-duplicate earlier in the test set (images only)."
    )
    near_duplicate_distance: int | None = Field(default=None, description="dHash Hamming distance used.")
    near_duplicate_groups: list[list[str]] = Field(default_factory=list, description="First 10 groups of ids.")
    leakage: Leakage | None = Field(default=None, description="None when no training data was given.")
    class_balance: float | None = Field(
        default=None, description="Smallest class count / largest class count over the class list."
    )
    smallest_class: tuple[str, int] | None = Field(default=None, description="(class, count) of the rarest class.")
    slice_coverage: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Slice column -> value -> count, for the values `dataset.slice_values` requires (0 if absent).",
    )


class PlanResult(Artifact):
    plan: Plan
    plan_path: str
    base_dir: str
    dataset: DatasetCard


# ----------------------------------------------------------------------------------------------- inference stage


class ModelRun(Artifact):
    """One model's pass over the test set."""

    role: Literal["candidate", "baseline"]
    path: str
    sha256: str
    size_bytes: int
    format: str
    runner: str
    provider: str
    threads: int
    batch_size: int
    n_samples: int
    n_batches: int
    wall_s: float
    samples_per_s: float
    predictions_path: str = Field(description="Parquet, relative to the output folder.")
    versions: dict[str, str] = Field(default_factory=dict)
    kind: str = Field(default="", description="What was loaded: onnx, torchscript, torch.export, state_dict, ...")
    device: str = Field(default="cpu", description="Where it ran: cpu, cuda, or modal:<gpu>.")
    seed: int = 0
    started_at: str = Field(default="", description="UTC time the pass started (ISO 8601).")
    warnings: list[str] = Field(default_factory=list, description="Caveats about this run's predictions.")


class InferenceResult(Artifact):
    candidate: ModelRun
    baseline: ModelRun | None
    classes: list[str]
    task: str


# ------------------------------------------------------------------------------------------------- metrics stage


class SliceGap(Artifact):
    """A slice whose metric falls short of the overall value (gap > 0 means worse, whatever the direction)."""

    column: str
    value: str
    n: int
    metric: str
    metric_value: float
    overall: float
    gap: float


class ModelMetrics(Artifact):
    overall: dict[str, float | None]
    per_class: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="Metric -> class -> value."
    )
    per_slice: dict[str, dict[str, dict[str, float | None]]] = Field(
        default_factory=dict, description="Slice column -> value -> metric -> value (`n` holds the count)."
    )
    undefined: dict[str, str] = Field(default_factory=dict, description="Metric -> why it is undefined here.")
    notes: dict[str, str] = Field(
        default_factory=dict, description="Metric -> caveat, e.g. a macro mean that left out a class."
    )
    worst_slices: list[SliceGap] = Field(
        default_factory=list, description="Slices furthest below the overall primary metric, worst first."
    )
    thresholds: dict[str, ThresholdTuning] = Field(
        default_factory=dict,
        description="Positive class -> threshold tuning (binary: the positive class; multiclass: one-vs-rest).",
    )
    threshold_findings: list[str] = Field(
        default_factory=list, description="One sentence per notable threshold trade-off, biggest F1 gain first."
    )


class MetricsResult(Artifact):
    candidate: ModelMetrics
    baseline: ModelMetrics | None
    classes: list[str]
    class_support: dict[str, int]
    requested: list[str] = Field(
        default_factory=list, description="The plan's metrics, primary first: the order reports show."
    )
    n_outside_labels: int = Field(default=0, description="Test samples whose label is not in the class list.")
    plots: dict[str, str] = Field(
        default_factory=dict, description="Plot name -> PNG path relative to the output folder."
    )


# -------------------------------------------------------------------------------------------------- errors stage


class ErrorSample(Artifact):
    """One test sample as an error listing shows it."""

    id: str
    label: str
    predicted: str
    confidence: float
    baseline_predicted: str | None = None
    baseline_confidence: float | None = None
    margin: float | None = Field(default=None, description="Candidate's top-1 minus top-2 probability.")
    correct: bool = False
    note: str | None = Field(default=None, description="Why it is listed, when the category needs a number.")


CategoryKey = Literal["negative_flips", "confidently_wrong", "ambiguous", "out_of_distribution", "weak_slices"]


class ErrorCategory(Artifact):
    """A kind of failure: how many samples, how many of them wrong, examples, and a one-line reading."""

    key: CategoryKey
    title: str
    count: int = Field(description="Samples in the category (slice values for weak slices).")
    n_wrong: int = Field(description="Of those samples, how many the candidate gets wrong.")
    reading: str
    examples: list[ErrorSample] = Field(default_factory=list)
    gallery: str | None = Field(default=None, description="Thumbnail PNG, relative to the output folder.")


class ConfusionPair(Artifact):
    true: str
    predicted: str
    count: int
    baseline_count: int | None = None

    @property
    def delta(self) -> int | None:
        return None if self.baseline_count is None else self.count - self.baseline_count


class SliceErrorRate(Artifact):
    """One slice value's error rate against the overall rate: one-sided binomial test, Holm-adjusted."""

    column: str
    value: str
    n: int
    n_errors: int
    error_rate: float
    overall_rate: float
    p_value: float
    p_adjusted: float = Field(description="Holm over every slice value tested.")
    weak: bool = Field(description="Error rate significantly above the overall rate after Holm.")


class Attribution(Artifact):
    """One model's attribution for one sample and one method."""

    role: Literal["candidate", "baseline"]
    method: str
    target: str = Field(description="The class attributed: the model's own prediction (regression: `prediction`).")
    target_probability: float = Field(
        description="The model's probability of `target` (regression: its prediction)."
    )
    convergence_delta: float | None = Field(
        default=None, description="Integrated Gradients: sum of attributions minus F(x) - F(baseline)."
    )
    total: float = Field(description="Sum of the attributions.")
    top_features: list[tuple[str, float]] = Field(
        default_factory=list, description="Tables: the features with the largest |attribution|, signed."
    )


class ExplainedSample(Artifact):
    id: str
    category: Literal[
        "negative_flip", "confidently_wrong", "most_confident_error", "regression_flip", "largest_residual"
    ] = Field(
        description="most_confident_error: among the most confident errors, but below `confident_threshold`."
    )
    label: str
    attributions: list[Attribution]
    figure: str = Field(description="PNG, relative to the output folder: input, baseline and candidate maps.")


class AttributionReport(Artifact):
    enabled: bool
    methods: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = Field(default=None, description="Why no attributions were computed.")
    samples: list[ExplainedSample] = Field(default_factory=list)

    @property
    def max_abs_convergence_delta(self) -> float | None:
        """Integrated Gradients' worst |convergence delta| over every sample and model (None without IG)."""
        deltas = [
            abs(a.convergence_delta)
            for s in self.samples
            for a in s.attributions
            if a.convergence_delta is not None
        ]
        return max(deltas) if deltas else None


class ResidualSample(Artifact):
    """One regression test sample: its target, both models' predictions and residuals (predicted - actual)."""

    id: str
    actual: float
    predicted: float
    residual: float
    baseline_predicted: float | None = None
    baseline_residual: float | None = None
    excess_error: float | None = Field(
        default=None,
        description="|candidate residual| - |baseline residual|: positive when the candidate is worse.",
    )


class SliceResiduals(Artifact):
    """A slice value's errors in the target's units, candidate (and baseline)."""

    column: str
    value: str
    n: int
    mae: float
    rmse: float
    bias: float = Field(description="Mean residual (predicted - actual): positive when the model over-predicts.")
    baseline_mae: float | None = None
    n_regression_flips: int = 0


class RegressionErrors(Artifact):
    """Regression's error analysis: largest residuals, regression flips, residuals by slice, plots."""

    mae: float
    rmse: float
    bias: float = Field(description="Mean residual (predicted - actual).")
    flip_threshold: float = Field(description="Excess absolute error that makes a sample a regression flip.")
    flip_threshold_source: str = Field(description="`plan` (errors.regression_flip_threshold) or the default.")
    n_regression_flips: int = Field(
        default=0,
        description="Samples whose |candidate error| exceeds |baseline error| by more than the threshold.",
    )
    n_improved: int = Field(default=0, description="The reverse: baseline error exceeds the candidate's.")
    largest_residuals: list[ResidualSample] = Field(default_factory=list)
    regression_flips: list[ResidualSample] = Field(default_factory=list)
    slices: list[SliceResiduals] = Field(default_factory=list)
    plots: dict[str, str] = Field(default_factory=dict, description="Plot name -> PNG relative to the output.")


class ErrorsResult(Artifact):
    n_errors: int
    error_rate: float
    most_confident_errors: list[ErrorSample]
    negative_flips: list[ErrorSample] = Field(description="Baseline right, candidate wrong.")
    n_negative_flips: int
    n_positive_flips: int
    negative_flips_by_class: dict[str, int] = Field(default_factory=dict, description="True class -> count.")
    positive_flips_by_class: dict[str, int] = Field(default_factory=dict, description="True class -> count.")
    confusion_pairs: list[ConfusionPair] = Field(
        default_factory=list, description="(true, predicted) pairs of the candidate, most frequent first."
    )
    categories: list[ErrorCategory] = Field(default_factory=list)
    slices: list[SliceErrorRate] = Field(default_factory=list, description="Every slice value tested.")
    attributions: AttributionReport | None = None
    regression: RegressionErrors | None = Field(default=None, description="Regression tasks only.")
    confident_threshold: float = 0.9
    ambiguous_margin: float = 0.1

    def category(self, key: str) -> ErrorCategory | None:
        return next((c for c in self.categories if c.key == key), None)


# ------------------------------------------------------------------------------------------------- compare stage


Outcome = Literal["better", "worse", "equivalent", "inconclusive"]


class McNemarReport(Artifact):
    """McNemar's test on the discordant pairs, reported beside the bootstrap for accuracy."""

    b: int = Field(description="Baseline right, candidate wrong (negative flips).")
    c: int = Field(description="Baseline wrong, candidate right (positive flips).")
    p_exact: float = Field(description="Two-sided exact binomial test of b in b + c at 1/2.")
    p_chi2: float = Field(description="Chi-square on 1 df without continuity correction.")
    p_chi2_corrected: float = Field(description="Chi-square on 1 df with Edwards' continuity correction.")


class MetricComparison(Artifact):
    """One metric, candidate against baseline on the same samples (delta = candidate - baseline)."""

    metric: str
    baseline: float
    candidate: float
    delta: float = Field(description="candidate - baseline, in the metric's units.")
    ci_low: float
    ci_high: float
    confidence: float = Field(description="Level of [ci_low, ci_high]: 1 - alpha.")
    tost_ci_low: float
    tost_ci_high: float
    tost_confidence: float = Field(
        description="Level of [tost_ci_low, tost_ci_high]: 1 - 2 alpha, the interval not_worse/equivalent use."
    )
    p_value: float = Field(description="Two-sided p for delta = 0, before adjustment.")
    p_adjusted: float = Field(description="Holm-adjusted across the gated metrics (= p_value if not gated).")
    test: str = Field(
        description="e.g. `contingency bootstrap (BCa)`, `paired bootstrap (BCa)`, `DeLong (paired)`."
    )
    higher_is_better: bool = True
    outcome: Outcome
    gated: bool = False
    rule: Literal["better", "not_worse", "equivalent"] | None = None
    margin: float | None = None
    passed: bool | None = Field(default=None, description="Whether the gate's rule holds; None when not gated.")
    reason: str = ""
    mcnemar: McNemarReport | None = None
    p_margin: float | None = Field(
        default=None,
        description="One-sided p of the gate's null at its margin, when the test gives one (decides the rule).",
    )
    rows_needed: int | None = Field(
        default=None, description="Rows a candidate equal to the baseline needs to pass the gate with 80% power."
    )
    detectable: float | None = Field(
        default=None, description="Smallest true delta the gate passes with 80% power on this test set."
    )
    undecidable: str | None = Field(
        default=None, description="Why this test set cannot decide the gate (too few rows), when it cannot."
    )

    @property
    def decisive_interval(self) -> tuple[float, float, float]:
        """(low, high, confidence) of the interval that decides the gate: 1 - 2 alpha for not_worse/equivalent."""
        if self.rule in ("not_worse", "equivalent"):
            return self.tost_ci_low, self.tost_ci_high, self.tost_confidence
        return self.ci_low, self.ci_high, self.confidence


class ClassFlips(Artifact):
    n: int = Field(description="Test samples of this (true) class.")
    negative: int = Field(description="Baseline right, candidate wrong.")
    positive: int = Field(description="Baseline wrong, candidate right.")


class Flips(Artifact):
    """Negative and positive flips between baseline and candidate: samples (classification) or ground-truth boxes
    (detection), built by `evalaction.flips.build_flips`."""

    n_negative: int
    n_positive: int
    per_class: dict[str, ClassFlips] = Field(description="By true class, in class order.")
    negative_ids: list[str] = Field(description="Ids of negative flips, dataset order, at most `listed_limit`.")
    positive_ids: list[str] = Field(description="Ids of positive flips, dataset order, at most `listed_limit`.")
    listed_limit: int


class CompareResult(Artifact):
    comparisons: list[MetricComparison]
    n_bootstrap: int
    alpha: float
    seed: int
    n_samples: int
    ci_method: str = "bca"
    stratified: bool = False
    holm_family: list[str] = Field(default_factory=list, description="The gated metrics Holm adjusts over.")
    flips: Flips | None = None
    undefined: dict[str, str] = Field(
        default_factory=dict, description="Metric -> why it could not be compared on this test set."
    )

    def get(self, metric: str) -> MetricComparison | None:
        return next((c for c in self.comparisons if c.metric == metric), None)


# ------------------------------------------------------------------------------------------------- history stage


class PriorVersion(Artifact):
    """One prior version of the model from git, re-scored on today's test set with today's plan."""

    label: str = Field(description="The tag, or the commit's short sha.")
    commit: str
    date: str = Field(description="Commit (or tag) date, ISO 8601.")
    subject: str = Field(default="", description="The commit's subject line.")
    path: str = Field(description="The model file's path at that commit.")
    sha256: str | None = Field(
        default=None, description="sha256 of the weights (None when they could not be read)."
    )
    cached: bool = Field(default=False, description="Scores came from the cache (not re-scored in this run).")
    primary: float | None = Field(default=None, description="The plan's primary metric on today's test set.")
    primary_ci: tuple[float, float] | None = Field(default=None, description="Its interval at 1 - alpha.")
    overall: dict[str, float | None] = Field(default_factory=dict, description="Every metric of the plan.")
    comparison: MetricComparison | None = Field(
        default=None,
        description="The primary metric paired with the candidate: baseline = this version, delta = candidate - it.",
    )
    error: str | None = Field(default=None, description="Why this version could not be scored.")


class HistoryResult(Artifact):
    """The candidate against the model's prior versions: the trend, the best so far, and `vs_best_prior`."""

    ref: str = Field(description="The ref whose history was read, and the commit it named.")
    source: Literal["commits", "tags"]
    path: str = Field(description="The model file's path in the repository.")
    primary: str
    higher_is_better: bool = True
    candidate_primary: float | None
    candidate_ci: tuple[float, float] | None = None
    versions: list[PriorVersion] = Field(default_factory=list, description="Oldest first.")
    best: str | None = Field(default=None, description="Label of the best prior version on the primary metric.")
    candidate_is_best: bool | None = Field(
        default=None, description="The candidate's primary metric is at least the best prior version's."
    )
    trails_best_by: float | None = Field(
        default=None, description="How far the candidate's primary metric is behind the best prior's (>= 0)."
    )
    best_prior: list[MetricComparison] = Field(
        default_factory=list,
        description="Candidate vs the best prior version: the primary and every gated metric.",
    )
    best_prior_undefined: dict[str, str] = Field(
        default_factory=dict, description="Metric -> why it could not be compared with the best prior version."
    )
    holm_family: list[str] = Field(
        default_factory=list,
        description="`vs_baseline:<metric>` and `vs_best_prior:<metric>` tests Holm adjusted over.",
    )
    cache_dir: str
    cache_hits: int = 0
    cache_misses: int = 0
    plot: str | None = Field(default=None, description="Trend PNG, relative to the output folder.")
    notes: list[str] = Field(default_factory=list)

    @property
    def scored(self) -> list[PriorVersion]:
        return [v for v in self.versions if v.primary is not None]

    def best_prior_get(self, metric: str) -> MetricComparison | None:
        return next((c for c in self.best_prior if c.metric == metric), None)


class WandbRun(Artifact):
    """Where the W&B logging went (or why it did not)."""

    project: str
    mode: str
    run_id: str | None = None
    url: str | None = Field(default=None, description="The run's page (online mode only).")
    run_dir: str | None = Field(default=None, description="Local run files (offline mode).")
    error: str | None = Field(default=None, description="One line when logging failed; the run itself did not.")


# ----------------------------------------------------------------------------------------------- readiness stage


class ModelReadiness(Artifact):
    size_mb: float
    load_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    repeats: int
    peak_memory_mb: float | None = None
    parameter_count: int | None = None
    throughput_per_s: float | None = None


class ReadinessResult(Artifact):
    """Batch-1 headline numbers per model, and the full profile, INT8 trial and torch exports behind them."""

    candidate: ModelReadiness | None
    baseline: ModelReadiness | None
    skipped: str | None = None
    profile: ReadinessProfile | None = None
    quantization: QuantizationReport | None = None
    torch_export: dict[str, TorchExport] = Field(default_factory=dict, description="Role -> ONNX export.")
    notes: list[str] = Field(default_factory=list, description="What was not measured, and why.")


# ------------------------------------------------------------------------------------------------- verdict stage


Decision = Literal["GO", "GO WITH CONDITIONS", "NO-GO"]


class GateResult(Artifact):
    name: str
    kind: Literal["threshold", "vs_baseline", "vs_best_prior", "budget", "errors", "plan", "curation"]
    rule: str
    observed: float | None
    interval: tuple[float, float] | None = None
    status: Literal["pass", "fail", "skipped"]
    blocking: bool
    reason: str
    undecidable: str | None = Field(
        default=None, description="vs_baseline: why the test set is too small to decide this gate, when it is."
    )


class OverrideRequest(Artifact):
    """An override as the GitHub event carried it; the action builds it from the event (evalaction.github.event)."""

    source: Literal["label", "workflow_dispatch"]
    name: str = Field(description="The PR label or workflow_dispatch input.")
    actor: str = Field(
        description="Who set it (GitHub login); empty when the event does not say (a label already on the PR)."
    )
    at: str = Field(
        description="When it was set (ISO 8601); for a label already on the PR, the PR's `updated_at`."
    )
    reason: str = Field(default="", description="Text given with it: the workflow_dispatch input's value.")

    @property
    def what(self) -> str:
        """`label `ship-it`` or `workflow_dispatch input `override``."""
        kind = "label" if self.source == "label" else "workflow_dispatch input"
        return f"{kind} `{self.name}`"

    @property
    def by(self) -> str:
        """`by @alice`, or what is known when the event names nobody."""
        return f"by @{self.actor}" if self.actor else "(who added it is not in the event)"

    def describe(self) -> str:
        """Who, what and when in one phrase: `by @alice with label `ship-it` at 2026-11-27T16:00:00Z`."""
        if self.actor:
            return f"by @{self.actor} with {self.what} at {self.at}"
        return f"with {self.what}, present on the PR as of {self.at} ({self.by.strip('()')})"

    def brief(self) -> str:
        """The same, short enough for a commit status (who and when first, so truncation keeps them)."""
        kind = "label" if self.source == "label" else "input"
        if self.actor:
            return f"@{self.actor} at {self.at} ({kind} {self.name})"
        return f"{kind} {self.name} on the PR as of {self.at}"


class VerdictResult(Artifact):
    decision: Decision
    gates: list[GateResult]
    summary: str
    conditions: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    override: OverrideRequest | None = Field(default=None, description="The override considered, if any.")
    decision_without_override: Decision | None = Field(
        default=None, description="The decision the gates gave, when an override changed it."
    )

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if g.status == "fail"]


# ----------------------------------------------------------------------------------------------------- the run


class StageTiming(Artifact):
    stage: str
    seconds: float


class RunResult(Artifact):
    """Everything a report needs; written as results.json."""

    evalaction_version: str
    started_at: str
    plan: PlanResult
    inference: InferenceResult
    metrics: MetricsResult
    errors: ErrorsResult
    compare: CompareResult | None
    readiness: ReadinessResult
    verdict: VerdictResult
    timings: list[StageTiming]
    wandb: WandbRun | None = None
    history: HistoryResult | None = Field(
        default=None, description="Prior versions re-scored on this test set (plan `history:`)."
    )
    detection: DetectionResult | None = Field(
        default=None,
        description="task detection: COCO numbers, TIDE errors, worst images (detection/artifacts.py).",
    )

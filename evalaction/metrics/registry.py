"""The metric registry: one small pure function per metric; its tasks, direction and unit come from the catalog.

Inputs are numpy arrays: `y_true` (int labels 0..K-1, or floats for regression), `y_pred` (labels or floats),
`y_score` (N x K probabilities; binary: K = 2 and column 1 is the positive class) and `classes` (K names).

    compute_metrics(task, names, y_true, y_pred, y_score, classes) -> {name: MetricValue}

Speed: the inputs are validated once into `MetricInputs`, which caches what several metrics share (the
confusion matrix, one sorted curve per class, the rank of the true class). Every confusion-derived metric
(accuracy, precision/recall/F1 in all averages, kappa, MCC, balanced accuracy) is arithmetic on a K x K
matrix built with one `np.bincount`, instead of one scikit-learn call per metric.

Undefined values: a metric that has no value on this data (ROC AUC with one class present, recall of a class
absent from the test set) returns `value=None` and says why in `undefined`; a mean that had to leave classes
out says so in `note`. Values are never NaN.

Conventions match scikit-learn with `zero_division=np.nan` (undefined per-class values are left out of the
macro and weighted means) except where noted: MCC and Cohen's kappa are undefined, not 0, when their
denominator is 0.

Labels outside the class list: with `outside_label=True`, `y_true == -1` marks a sample whose label is not one
of the classes. It counts as an error for every model (it lowers accuracy, and a prediction of class c on it
is a false positive of c), but it is no class of its own: per-class values and macro means cover the K
classes only. This is scikit-learn's behaviour with `labels=range(K)` and -1 left in `y_true`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from evalaction.exceptions import BadInput, InvalidDataset, ModelOutputInvalid
from evalaction.metrics.catalog import CATALOG
from evalaction.metrics.curves import SortedScores, calibration_bins
from evalaction.metrics.values import MetricValue

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
CLASSIFICATION: tuple[Task, ...] = ("binary", "multiclass")

ECE_BINS = 15
RESIDUAL_QUANTILES = (5, 25, 50, 75, 95)
# Probabilities from float32 softmax sum to 1 within ~1e-6; 1e-3 still catches logits and unnormalised scores.
ROW_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class _Out:
    value: float | None
    per_class: dict[str, float | None] | None = None
    undefined: str | None = None
    note: str | None = None


class MetricInputs:
    """Validated inputs with lazily cached shared quantities; build it with `prepare_inputs`."""

    def __init__(
        self,
        task: Task,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        y_score: np.ndarray | None,
        classes: list[str],
    ) -> None:
        self.task = task
        self.y_true = y_true
        self.y_pred = y_pred
        self.y_score = y_score
        self.classes = classes
        self.n = int(y_true.shape[0])
        self.k = len(classes)
        self._sorted: dict[int, SortedScores] = {}

    def subset(self, mask: np.ndarray) -> MetricInputs:
        """The same inputs restricted to `mask` (a slice), without validating again."""
        return MetricInputs(
            self.task,
            self.y_true[mask],
            self.y_pred[mask],
            None if self.y_score is None else self.y_score[mask],
            self.classes,
        )

    @cached_property
    def _counts(self) -> np.ndarray:
        # One bincount: K x K for the classes, plus a last row for labels outside the class list (-1).
        rows = np.where(self.y_true < 0, self.k, self.y_true)
        flat = rows * self.k + self.y_pred
        out: np.ndarray = np.bincount(flat, minlength=(self.k + 1) * self.k).reshape(self.k + 1, self.k)
        return out

    @property
    def confusion(self) -> np.ndarray:
        """K x K counts, rows = true class, columns = predicted class (outside-label samples excluded)."""
        return self._counts[: self.k]

    @property
    def n_outside(self) -> int:
        """Samples whose label is outside the class list (y_true == -1)."""
        return int(self._counts[self.k].sum())

    @cached_property
    def tp(self) -> np.ndarray:
        out: np.ndarray = np.diag(self.confusion).astype(np.float64)
        return out

    @cached_property
    def support(self) -> np.ndarray:
        out: np.ndarray = self.confusion.sum(axis=1).astype(np.float64)
        return out

    @cached_property
    def predicted(self) -> np.ndarray:
        # Predictions on outside-label samples are false positives of the predicted class.
        out: np.ndarray = self._counts.sum(axis=0).astype(np.float64)
        return out

    @cached_property
    def _score_columns(self) -> np.ndarray:
        # One contiguous copy, class-major: each class's column is then a fast contiguous read.
        assert self.y_score is not None  # callers check `needs_score` first
        out: np.ndarray = np.ascontiguousarray(self.y_score.T)
        return out

    def sorted_scores(self, c: int) -> SortedScores:
        """Class `c`'s scores split into positives (y_true == c) and the rest, each sorted (cached)."""
        if c not in self._sorted:
            self._sorted[c] = SortedScores.of(self.y_true == c, self._score_columns[c])
        return self._sorted[c]

    @cached_property
    def true_class_rank(self) -> np.ndarray:
        """0-based rank of the true class's score in each row, ties broken as scikit-learn's top_k does.

        scikit-learn sorts with a stable argsort and reverses it, so among tied scores the higher class index
        ranks first; rank = #(strictly higher) + #(tied with a higher index).
        """
        assert self.y_score is not None
        s = self.y_score
        own = s[np.arange(self.n), self.y_true][:, None]
        higher = (s > own).sum(axis=1)
        later = np.arange(self.k)[None, :] > self.y_true[:, None]
        tied_later = ((s == own) & later).sum(axis=1)
        out: np.ndarray = higher + tied_later
        # An outside label is never among the top k.
        out[self.y_true < 0] = self.k
        return out

    @cached_property
    def residuals(self) -> np.ndarray:
        """Observed minus predicted, y_true - y_pred."""
        out: np.ndarray = self.y_true - self.y_pred
        return out


MetricFn = Callable[[MetricInputs], _Out]


@dataclass(frozen=True)
class Metric:
    """A registered metric: its function and what it declares about itself."""

    name: str
    fn: MetricFn = field(repr=False)
    tasks: tuple[Task, ...]
    higher_is_better: bool | None  # None: descriptive, no better direction (support, residual quantiles)
    per_class: bool  # reports a value for every class
    needs_score: bool  # needs y_score (probabilities), not only labels
    unit_interval: bool  # value lies in [0, 1]; differences read as percentage points
    description: str

    def compute(self, inputs: MetricInputs) -> MetricValue:
        """Compute on validated inputs; never returns NaN."""
        if inputs.task not in self.tasks:
            raise BadInput(
                f"Metric `{self.name}` applies to {', '.join(self.tasks)}, not {inputs.task}; "
                f"pick one of: {', '.join(available_metrics(inputs.task))}"
            )
        if self.needs_score and inputs.y_score is None:
            return MetricValue(
                name=self.name,
                value=None,
                undefined="needs class probabilities (y_score) and the model gave labels only",
            )
        out = self.fn(inputs)
        value = out.value
        undefined = out.undefined
        if value is not None and not math.isfinite(value):
            undefined = undefined or f"computed a non-finite value ({value})"
            value = None
        per_class = None
        if out.per_class is not None:
            per_class = {k: (v if v is not None and math.isfinite(v) else None) for k, v in out.per_class.items()}
        return MetricValue(name=self.name, value=value, per_class=per_class, undefined=undefined, note=out.note)


_REGISTRY: dict[str, Metric] = {}


def _register(name: str) -> Callable[[MetricFn], MetricFn]:
    """Attach `fn` to the catalog's entry `name`: tasks, direction, unit and description come from there."""
    info = CATALOG[name]  # a KeyError at import: add the metric to evalaction/metrics/catalog.py first
    tasks = tuple(t for t in TASKS if t in info.tasks)
    if len(tasks) != len(info.tasks):
        raise ValueError(f"metric {name}: the registry computes {TASKS} tasks, the catalog lists {info.tasks}")

    def wrap(fn: MetricFn) -> MetricFn:
        _REGISTRY[name] = Metric(
            name=name,
            fn=fn,
            tasks=tasks,
            higher_is_better=info.higher_is_better,
            per_class=info.per_class,
            needs_score=info.needs_score,
            unit_interval=info.unit_interval,
            description=info.description,
        )
        return fn

    return wrap


# --------------------------------------------------------------------------------------------- helpers


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def _per_class(d: MetricInputs, values: np.ndarray) -> dict[str, float | None]:
    return {c: (None if np.isnan(v) else float(v)) for c, v in zip(d.classes, values, strict=True)}


def _names(d: MetricInputs, mask: np.ndarray) -> str:
    picked = [f"`{c}`" for c, m in zip(d.classes, mask, strict=True) if m]
    return ", ".join(picked[:5]) + (f" and {len(picked) - 5} more" if len(picked) > 5 else "")


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _precision_vec(d: MetricInputs) -> np.ndarray:
    return _safe_div(d.tp, d.predicted)


def _recall_vec(d: MetricInputs) -> np.ndarray:
    return _safe_div(d.tp, d.support)


def _f1_vec(d: MetricInputs) -> np.ndarray:
    # F1 = 2TP / (2TP + FP + FN): defined whenever the class is present or predicted (scikit-learn >= 1.3).
    return _safe_div(2 * d.tp, d.support + d.predicted)


_WHY = {
    "precision": "never predicted",
    "recall": "absent from the test set",
    "f1": "neither present in the test set nor predicted",
}


def _averaged(d: MetricInputs, kind: str, values: np.ndarray, average: str) -> _Out:
    """Macro or support-weighted mean over classes where the per-class value is defined."""
    undefined = np.isnan(values)
    if undefined.all():
        return _Out(None, undefined=f"{kind} is undefined for every class ({_WHY[kind]})")
    weights = np.ones(d.k) if average == "macro" else d.support
    keep = ~undefined
    if weights[keep].sum() == 0:
        return _Out(None, undefined=f"no samples in the classes where {kind} is defined")
    value = float(np.sum(values[keep] * weights[keep]) / weights[keep].sum())
    note = None
    if undefined.any():
        note = (
            f"{kind} undefined for {_names(d, undefined)} ({_WHY[kind]}); "
            f"{average} mean over {int(keep.sum())} of {d.k} classes"
        )
    return _Out(value, note=note)


def _headline(d: MetricInputs, kind: str, values: np.ndarray) -> _Out:
    """Binary: the positive class's value. Multiclass: the macro mean. Both carry every class's value."""
    per_class = _per_class(d, values)
    if d.task == "binary":
        v = values[1]
        if np.isnan(v):
            return _Out(None, per_class, undefined=f"{kind} of positive class `{d.classes[1]}`: {_WHY[kind]}")
        return _Out(float(v), per_class)
    out = _averaged(d, kind, values, "macro")
    return _Out(out.value, per_class, out.undefined, out.note)


# ------------------------------------------------------------------------------ confusion-matrix metrics


@_register("accuracy")
def _accuracy(d: MetricInputs) -> _Out:
    return _Out(float(d.tp.sum() / d.n))


@_register("balanced_accuracy")
def _balanced_accuracy(d: MetricInputs) -> _Out:
    out = _averaged(d, "recall", _recall_vec(d), "macro")
    return out


@_register("precision")
def _precision(d: MetricInputs) -> _Out:
    return _headline(d, "precision", _precision_vec(d))


@_register("recall")
def _recall(d: MetricInputs) -> _Out:
    return _headline(d, "recall", _recall_vec(d))


@_register("f1")
def _f1(d: MetricInputs) -> _Out:
    return _headline(d, "f1", _f1_vec(d))


@_register("support")
def _support(d: MetricInputs) -> _Out:
    return _Out(float(d.n), _per_class(d, d.support))


def _register_averages() -> None:
    vectors = {"precision": _precision_vec, "recall": _recall_vec, "f1": _f1_vec}
    for average in ("macro", "weighted"):
        for kind, vec in vectors.items():

            def fn(
                d: MetricInputs, kind: str = kind, vec: Callable[..., np.ndarray] = vec, a: str = average
            ) -> _Out:
                return _averaged(d, kind, vec(d), a)

            _register(f"{average}_{kind}")(fn)
        for kind in vectors:
            # Single-label: pooled TP / pooled (TP + FP) = pooled TP / pooled (TP + FN) = accuracy.
            _register(f"micro_{kind}")(_accuracy)


_register_averages()


@_register("specificity")
def _specificity(d: MetricInputs) -> _Out:
    v = _ratio(d.confusion[0, 0], d.support[0])
    if v is None:
        return _Out(None, undefined=f"no negative (`{d.classes[0]}`) samples in the test set")
    return _Out(v)


@_register("mcc")
def _mcc(d: MetricInputs) -> _Out:
    # R_K = (c s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)), Gorodkin 2004; floats: s^2 overflows int64 at s ~ 3e9.
    c = float(d.tp.sum())
    s = float(d.n)
    t = d.support
    p = d.predicted
    # Outside labels form one more true class that is never predicted: it adds to t.t only.
    tt = float(t @ t) + float(d.n_outside) ** 2
    den = math.sqrt((s * s - float(p @ p)) * (s * s - tt))
    if den == 0:
        return _Out(None, undefined="every sample has the same true class or the same predicted class")
    return _Out((c * s - float(t @ p)) / den)


@_register("cohen_kappa")
def _cohen_kappa(d: MetricInputs) -> _Out:
    po = float(d.tp.sum() / d.n)
    pe = float((d.support @ d.predicted) / (float(d.n) ** 2))
    if pe >= 1.0:
        return _Out(None, undefined="chance agreement is 1 (one class in both labels and predictions)")
    return _Out((po - pe) / (1.0 - pe))


# --------------------------------------------------------------------------------------- score metrics


def _ovr_areas(d: MetricInputs, area: Callable[[SortedScores], float], needs_negatives: bool) -> np.ndarray:
    values = np.full(d.k, np.nan)
    for c in range(d.k):
        pos = d.support[c]
        if pos == 0 or (needs_negatives and pos == d.n):
            continue
        values[c] = area(d.sorted_scores(c))
    return values


def _area_metric(d: MetricInputs, kind: str, area: Callable[[SortedScores], float], both: bool) -> _Out:
    need = "both classes" if both else "at least one positive"
    if d.task == "binary":
        for present, absent in ((0, 1), (1, 0)):
            if d.support[absent] == 0 and (both or absent == 1):
                return _Out(None, undefined=f"{kind} needs {need}; the test set has only `{d.classes[present]}`")
        return _Out(area(d.sorted_scores(1)))
    values = _ovr_areas(d, area, needs_negatives=both)
    per_class = _per_class(d, values)
    missing = np.isnan(values)
    if missing.all():
        return _Out(None, per_class, undefined=f"one-vs-rest {kind} needs {need} for some class")
    value = float(np.mean(values[~missing]))
    note = None
    if missing.any():
        note = (
            f"one-vs-rest {kind} undefined for {_names(d, missing)} (needs {need}); "
            f"macro mean over {int((~missing).sum())} of {d.k} classes"
        )
    return _Out(value, per_class, note=note)


@_register("roc_auc")
def _roc_auc(d: MetricInputs) -> _Out:
    return _area_metric(d, "ROC AUC", SortedScores.roc_auc, both=True)


@_register("average_precision")
def _average_precision(d: MetricInputs) -> _Out:
    return _area_metric(d, "average precision", SortedScores.average_precision, both=False)


@_register("log_loss")
def _log_loss(d: MetricInputs) -> _Out:
    assert d.y_score is not None
    eps = np.finfo(d.y_score.dtype).eps
    # An outside label had probability 0 under every model: clipped to eps, the largest loss there is.
    own = np.where(d.y_true >= 0, d.y_score[np.arange(d.n), d.y_true], 0.0)
    p = np.clip(own, eps, 1 - eps)
    return _Out(float(-np.mean(np.log(p))))


@_register("brier")
def _brier(d: MetricInputs) -> _Out:
    assert d.y_score is not None
    return _Out(float(np.mean((d.y_score[:, 1] - (d.y_true == 1)) ** 2)))


@_register("ece")
def _ece(d: MetricInputs) -> _Out:
    confidence, outcome = calibration_inputs(d.task, d.y_true, d.y_score)  # type: ignore[arg-type]
    return _Out(calibration_bins(confidence, outcome, ECE_BINS).ece())


def calibration_inputs(task: Task, y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ECE and the reliability diagram bin: (confidence, outcome).

    Binary follows torchmetrics' BinaryCalibrationError (positive-class probability vs the label); multiclass
    is top-label calibration (Guo et al. 2017, "On Calibration of Modern Neural Networks"): the largest
    probability vs whether its class is the true one.
    """
    if task == "binary":
        return y_score[:, 1], (y_true == 1).astype(np.float64)
    top = np.argmax(y_score, axis=1)
    return y_score[np.arange(y_score.shape[0]), top], (top == y_true).astype(np.float64)


def _top_k(k: int) -> MetricFn:
    def fn(d: MetricInputs) -> _Out:
        if d.k <= k:
            return _Out(None, undefined=f"top-{k} accuracy needs more than {k} classes, found {d.k}")
        return _Out(float(np.mean(d.true_class_rank < k)))

    return fn


for _k in (2, 3):
    _register(f"top{_k}_accuracy")(_top_k(_k))


# ----------------------------------------------------------------------------------------- regression


@_register("mae")
def _mae(d: MetricInputs) -> _Out:
    return _Out(float(np.mean(np.abs(d.residuals))))


@_register("rmse")
def _rmse(d: MetricInputs) -> _Out:
    return _Out(float(np.sqrt(np.mean(d.residuals**2))))


@_register("r2")
def _r2(d: MetricInputs) -> _Out:
    ss_tot = float(np.sum((d.y_true - d.y_true.mean()) ** 2))
    if ss_tot == 0:
        return _Out(None, undefined="R² is undefined when every true value is the same")
    return _Out(1.0 - float(np.sum(d.residuals**2)) / ss_tot)


@_register("mape")
def _mape(d: MetricInputs) -> _Out:
    zeros = int(np.count_nonzero(d.y_true == 0))
    if zeros:
        return _Out(None, undefined=f"MAPE divides by |y_true| and {zeros} true values are 0; use mae instead")
    return _Out(float(np.mean(np.abs(d.residuals) / np.abs(d.y_true))))


@_register("median_absolute_error")
def _median_absolute_error(d: MetricInputs) -> _Out:
    return _Out(float(np.median(np.abs(d.residuals))))


@_register("max_error")
def _max_error(d: MetricInputs) -> _Out:
    return _Out(float(np.max(np.abs(d.residuals))))


def _residual_quantile(q: int) -> MetricFn:
    def fn(d: MetricInputs) -> _Out:
        return _Out(float(np.percentile(d.residuals, q)))

    return fn


for _q in RESIDUAL_QUANTILES:
    _register(f"residual_p{_q:02d}")(_residual_quantile(_q))


# ------------------------------------------------------------------------------------------ public API


def available_metrics(task: str) -> list[str]:
    """Names of the metrics that apply to `task`, in registry order."""
    _check_task(task)
    return [m.name for m in _REGISTRY.values() if task in m.tasks]


def get_metric(name: str) -> Metric:
    """The registered metric called `name`; unknown names raise BadInput with the closest matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(f'`{c}`' for c in close)}?"
            if close
            else (f"known metrics: {', '.join(_REGISTRY)}")
        )
        raise BadInput(f"Unknown metric `{name}`; {hint}") from None


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise BadInput(f"Expected task to be one of {', '.join(TASKS)}, got `{task}`")


def _as_labels(
    name: str, values: np.ndarray, k: int, error: type[BadInput], *, outside_ok: bool = False
) -> np.ndarray:
    if values.dtype.kind == "b":
        values = values.astype(np.int64)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            bad = int(np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))[0])
            raise error(f"Expected integer class indices in `{name}`, found {values[bad]!r} at sample {bad}")
        values = values.astype(np.int64)
    if values.dtype.kind not in "iu":
        raise error(
            f"Expected integer class indices 0..{k - 1} in `{name}`, found dtype {values.dtype}; "
            "map class names to indices first"
        )
    values = values.astype(np.int64, copy=False)
    out = (values < (-1 if outside_ok else 0)) | (values >= k)
    if out.any():
        bad = int(np.flatnonzero(out)[0])
        raise error(
            f"Expected class indices 0..{k - 1} in `{name}` ({k} classes), found {values[bad]} at "
            f"sample {bad}; check that the plan's class list matches the labels"
        )
    return values


def prepare_inputs(
    task: str,
    y_true: np.ndarray | Sequence[float],
    y_pred: np.ndarray | Sequence[float],
    y_score: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    *,
    outside_label: bool = False,
) -> MetricInputs:
    """Validate the arrays once; raise BadInput (or a subclass) naming the array, sample and fix.

    `outside_label`: allow `y_true == -1` for labels outside the class list (see the module docstring).
    """
    _check_task(task)
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.ndim != 1 or yp.ndim != 1:
        raise BadInput(f"Expected 1-D y_true and y_pred, got shapes {yt.shape} and {yp.shape}")
    if yt.shape[0] != yp.shape[0]:
        raise ModelOutputInvalid(
            f"Expected one prediction per test sample ({yt.shape[0]}), got {yp.shape[0]} predictions"
        )
    if yt.shape[0] == 0:
        raise InvalidDataset("Expected at least one test sample, got an empty test set")
    n = yt.shape[0]
    if task == "regression":
        yt = yt.astype(np.float64)
        yp = yp.astype(np.float64)
        for name, arr, err in (("y_true", yt, InvalidDataset), ("y_pred", yp, ModelOutputInvalid)):
            finite = np.isfinite(arr)
            if not finite.all():
                bad = int(np.flatnonzero(~finite)[0])
                raise err(f"Expected finite numbers in `{name}`, found {arr[bad]} at sample {bad}")
        return MetricInputs("regression", yt, yp, None, list(classes or []))
    names = [str(c) for c in (classes or [])]
    if len(names) < 2:
        raise BadInput(f"Expected at least 2 class names for a {task} task, got {len(names)}")
    if task == "binary" and len(names) != 2:
        raise BadInput(f"Expected exactly 2 classes for a binary task, got {len(names)}; use task: multiclass")
    if len(set(names)) != len(names):
        raise BadInput(f"Expected distinct class names, got duplicates in {names}")
    k = len(names)
    yt = _as_labels("y_true", yt, k, InvalidDataset, outside_ok=outside_label)
    yp = _as_labels("y_pred", yp, k, ModelOutputInvalid)
    score = None
    if y_score is not None:
        score = np.asarray(y_score)
        # float32 stays float32 (half the memory traffic for the sorts, and scikit-learn also clips log loss
        # at the input dtype's eps); anything else becomes float64.
        if score.dtype not in (np.float32, np.float64):
            score = score.astype(np.float64)
        if task == "binary" and score.ndim == 1:
            score = np.column_stack([1.0 - score, score])
        if score.shape != (n, k):
            raise ModelOutputInvalid(
                f"Expected y_score of shape ({n}, {k}) (samples x classes), got {score.shape}"
            )
        row_sums = score.sum(axis=1)
        # min/max/sum propagate NaN, so these three reductions catch every bad value without temporaries;
        # only a failure pays for the per-row diagnosis.
        lo, hi = float(score.min()), float(score.max())
        ok = lo >= 0.0 and hi <= 1.0 and bool(np.all(np.abs(row_sums - 1.0) <= ROW_SUM_TOLERANCE))
        if not ok:
            bad_rows = ~np.isfinite(score).all(axis=1) | (score < 0).any(axis=1) | (score > 1).any(axis=1)
            bad_rows |= ~(np.abs(row_sums - 1.0) <= ROW_SUM_TOLERANCE)
            i = int(np.flatnonzero(bad_rows)[0])
            raise ModelOutputInvalid(
                f"Expected probabilities in [0, 1] summing to 1 in y_score, found {score[i].tolist()} at "
                f"sample {i} ({int(bad_rows.sum())} such rows); apply softmax to logits first"
            )
    return MetricInputs(task, yt, yp, score, names)  # type: ignore[arg-type]


def compute_metrics(
    task: str,
    names: Sequence[str] | None,
    y_true: np.ndarray | Sequence[float],
    y_pred: np.ndarray | Sequence[float],
    y_score: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    *,
    outside_label: bool = False,
) -> dict[str, MetricValue]:
    """Compute `names` (all metrics of the task when None) on one set of predictions."""
    metrics = [get_metric(n) for n in (available_metrics(task) if names is None else names)]
    inputs = prepare_inputs(task, y_true, y_pred, y_score, classes, outside_label=outside_label)
    return compute_on(inputs, [m.name for m in metrics])


def compute_on(inputs: MetricInputs, names: Sequence[str]) -> dict[str, MetricValue]:
    """Compute `names` on already validated inputs (slices reuse the validation of the whole set)."""
    return {n: get_metric(n).compute(inputs) for n in names}

"""Stage 1: the plan and the test set's card (size, classes, balance, duplicates, leakage, slices, fingerprint).

`curation_gates` turns the card into the gates of `gates.curation`, which the verdict applies first: a verdict
on a leaky or broken test set is a confident wrong verdict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evalaction.artifacts import DatasetCard, GateResult, PlanResult

if TYPE_CHECKING:
    from evalaction.datasets import Dataset
    from evalaction.datasets.curation import Manifest
    from evalaction.plan import CountGate, LoadedPlan, MinCountGate, RatioGate

DEFAULT_NEAR_DISTANCE = 4
_SHOWN_GROUPS = 10


def dataset_fingerprint(ds: Dataset) -> str:
    """sha256(sha256(ids) || sha256(labels) || content digest): equal fingerprints, the same test set.

    ids and label texts are joined with U+001F; the content digest is the sha256 over every sample's feature
    values as float64 (tables, arrays) or over the sha256 of every image file (images), in order.
    """
    from evalaction.datasets.base import label_texts

    ids = hashlib.sha256("\x1f".join(map(str, ds.ids)).encode()).digest()
    labels = hashlib.sha256("\x1f".join(label_texts(ds.raw_labels)).encode()).digest()
    return hashlib.sha256(ids + labels + bytes.fromhex(ds.digest())).hexdigest()


def dataset_card(
    ds: Dataset,
    task: str,
    train: Dataset | None = None,
    *,
    manifest: Manifest | None = None,
    slice_values: dict[str, list[str]] | None = None,
    near_distance: int = DEFAULT_NEAR_DISTANCE,
) -> DatasetCard:
    """Facts about the test set that decide whether a verdict on it can be trusted."""
    from evalaction.datasets import curation

    groups = curation.duplicate_groups(ds)
    duplicates = curation.extra_members(groups)
    duplicate_ids = len(ds.ids) - len(set(map(str, ds.ids)))
    warnings: list[str] = []
    class_counts: dict[str, int] = {}
    outside: dict[str, int] = {}
    absent: list[str] = []
    balance, smallest = None, None
    if task != "regression":
        class_counts = curation.class_counts(ds)
        absent = [c for c, n in class_counts.items() if n == 0]
        balance, smallest = curation.class_balance(class_counts)
        from evalaction.datasets.base import label_texts

        for text, code in zip(label_texts(ds.raw_labels), ds.y, strict=True):
            if code < 0 and text != "":
                outside[text] = outside.get(text, 0) + 1
        if outside:
            warnings.append(
                f"{sum(outside.values())} samples have labels outside the class list "
                f"({', '.join(list(outside)[:5])}); they count as errors for every model"
            )
        if ds.missing_labels:
            warnings.append(f"{ds.missing_labels} samples have no label; they count as errors for every model")
        if absent:
            warnings.append(
                f"classes with no test sample: {', '.join(absent)}; their per-class metrics are undefined"
            )
    if duplicates:
        warnings.append(
            f"{duplicates} samples repeat an earlier sample exactly (e.g. "
            f"{', '.join(map(str, ds.ids[groups[0]][:3]))}); they weigh twice in every metric"
        )
    if duplicate_ids:
        warnings.append(f"{duplicate_ids} ids repeat; ids should identify one sample each")
    missing_features = ds.missing_values - ds.missing_labels
    if missing_features:
        warnings.append(f"{missing_features} missing feature values")
    near_groups = curation.near_duplicates(ds, near_distance)
    near_n = None if near_groups is None else curation.extra_members(near_groups)
    if near_n:
        assert near_groups is not None
        warnings.append(
            f"{_count(near_n, 'image has', 'images have')} a near-duplicate earlier in the test set "
            f"(dHash distance <= {near_distance}, "
            f"e.g. {', '.join(map(str, ds.ids[near_groups[0]][:3]))})"
        )
    leakage = curation.find_leakage(ds, train, manifest, near_distance)
    if leakage is not None and leakage.n:
        warnings.append(
            f"leakage: {_count(leakage.n, 'test sample also appears', 'test samples also appear')} in the training data (e.g. "
            f"{', '.join(leakage.examples[:3])})"
        )
    if leakage is not None and leakage.near:
        warnings.append(
            f"{_count(leakage.near, 'test image has', 'test images have')} a near-duplicate in the training images "
            f"(dHash distance <= {near_distance})"
        )
    for note in _unchecked_leakage(ds, train, manifest):
        warnings.append(note)
    coverage = curation.slice_coverage(ds, slice_values or {})
    for col, counts in coverage.items():
        gone = [v for v, n in counts.items() if n == 0]
        if gone:
            warnings.append(f"slice `{col}` has no sample of {', '.join(gone)}")
    return DatasetCard(
        source=ds.origin or str(ds.source),
        format=ds.format,
        n_samples=len(ds),
        n_features=int(ds.features.shape[1]) if ds.features.ndim == 2 else None,
        classes=list(ds.classes),
        class_counts=class_counts,
        duplicate_samples=duplicates,
        duplicate_ids=duplicate_ids,
        labels_outside_classes=outside,
        missing_values=ds.missing_values,
        slices=curation.slice_counts(ds),
        classes_absent=absent,
        train_overlap=None if leakage is None else leakage.n,
        fingerprint=dataset_fingerprint(ds),
        warnings=warnings,
        origin=ds.origin,
        split=ds.split,
        missing_labels=ds.missing_labels,
        invalid_values=ds.invalid_values,
        dropped_rows=ds.dropped_rows,
        duplicate_groups=[[str(ds.ids[i]) for i in g] for g in groups[:_SHOWN_GROUPS]],
        near_duplicate_samples=near_n,
        near_duplicate_distance=None if near_groups is None else near_distance,
        near_duplicate_groups=[[str(ds.ids[i]) for i in g] for g in (near_groups or [])[:_SHOWN_GROUPS]],
        leakage=leakage,
        class_balance=balance,
        smallest_class=smallest,
        slice_coverage=coverage,
    )


def _count(n: int, one: str, many: str) -> str:
    """`1 test image has`, `3 test images have`."""
    return f"{n} {one if n == 1 else many}"


def _unchecked_leakage(ds: Dataset, train: Dataset | None, manifest: Manifest | None) -> list[str]:
    """Say so when part of the leakage check could not run (ids that are row numbers, hashes without files)."""
    notes = []
    if manifest is not None and manifest.ids and not ds.has_ids:
        notes.append(
            f"the manifest {manifest.path.name} lists ids, but the test set has none (set `dataset.id_column`): "
            "those ids were not checked"
        )
    if manifest is not None and manifest.sha256 and ds.content_sha256 is None:
        notes.append(
            f"the manifest {manifest.path.name} lists file hashes, but the test set is a table: "
            "those hashes were not checked (list ids instead)"
        )
    return notes


def run_plan(*, loaded: LoadedPlan, dataset: Dataset, train: Dataset | None = None) -> PlanResult:
    """Validate the test set against the plan and describe it (reading the training manifest if the plan names one)."""
    from evalaction.datasets.curation import read_manifest

    p = loaded.plan
    manifest = read_manifest(loaded.resolve(p.dataset.train_manifest)) if p.dataset.train_manifest else None
    near_gate = p.gates.curation.near_duplicates
    return PlanResult(
        plan=p,
        plan_path=str(loaded.path),
        base_dir=str(loaded.base_dir),
        dataset=dataset_card(
            dataset,
            p.task,
            train,
            manifest=manifest,
            slice_values=p.dataset.slice_values,
            near_distance=near_gate.distance if near_gate else DEFAULT_NEAR_DISTANCE,
        ),
    )


# ------------------------------------------------------------------------------------------------ curation gates


def _count_gate(name: str, gate: CountGate, observed: int | None, what: str, detail: str = "") -> GateResult:
    rule = f"<= {gate.max}"
    if observed is None:
        return GateResult(
            name=name,
            kind="curation",
            rule=rule,
            observed=None,
            status="skipped",
            blocking=gate.blocking,
            reason=f"{name}: {what}",
        )
    ok = observed <= gate.max
    return GateResult(
        name=name,
        kind="curation",
        rule=rule,
        observed=float(observed),
        status="pass" if ok else "fail",
        blocking=gate.blocking,
        reason=f"{name}: {observed} {what}{detail} ({'within' if ok else 'over'} the maximum {gate.max})",
    )


def _min_gate(name: str, gate: MinCountGate | RatioGate, observed: float | None, reason: str) -> GateResult:
    rule = f">= {gate.min:g}"
    if observed is None:
        return GateResult(
            name=name,
            kind="curation",
            rule=rule,
            observed=None,
            status="skipped",
            blocking=gate.blocking,
            reason=f"{name}: {reason}",
        )
    ok = observed >= gate.min
    return GateResult(
        name=name,
        kind="curation",
        rule=rule,
        observed=float(observed),
        status="pass" if ok else "fail",
        blocking=gate.blocking,
        reason=f"{name}: {reason} ({'meets' if ok else 'below'} the minimum {gate.min:g})",
    )


def _examples(ids: list[str]) -> str:
    return f", e.g. {', '.join(ids[:3])}" if ids else ""


def curation_gates(plan: PlanResult) -> list[GateResult]:
    """The `gates.curation` rules applied to the dataset card, in the plan's order."""
    d, cur = plan.dataset, plan.plan.gates.curation
    out: dict[str, GateResult] = {}
    if cur.leakage:
        lk = d.leakage
        detail = "" if lk is None else f" (by content {lk.by_content}, by id {lk.by_id}{_examples(lk.examples)})"
        what = "no training data to check against" if lk is None else "test samples also in the training data"
        out["leakage"] = _count_gate("leakage", cur.leakage, None if lk is None else lk.n, what, detail)
    if cur.duplicates:
        ex = _examples([g[1] for g in d.duplicate_groups])
        out["duplicates"] = _count_gate(
            "duplicates", cur.duplicates, d.duplicate_samples, "samples repeat an earlier one", ex
        )
    if cur.duplicate_ids:
        out["duplicate_ids"] = _count_gate("duplicate_ids", cur.duplicate_ids, d.duplicate_ids, "ids repeat")
    if cur.near_duplicates:
        what = (
            "not an image test set"
            if d.near_duplicate_samples is None
            else f"images have a near-duplicate (dHash distance <= {d.near_duplicate_distance})"
        )
        ex = _examples([g[1] for g in d.near_duplicate_groups])
        out["near_duplicates"] = _count_gate(
            "near_duplicates", cur.near_duplicates, d.near_duplicate_samples, what, ex
        )
    if cur.labels_outside_classes:
        seen = list(d.labels_outside_classes)
        out["labels_outside_classes"] = _count_gate(
            "labels_outside_classes",
            cur.labels_outside_classes,
            sum(d.labels_outside_classes.values()),
            "labels are outside the class list",
            f" ({', '.join(seen[:5])})" if seen else "",
        )
    if cur.missing_labels:
        out["missing_labels"] = _count_gate(
            "missing_labels", cur.missing_labels, d.missing_labels, "samples have no label"
        )
    if cur.min_class_samples:
        if d.smallest_class is None:
            out["min_class_samples"] = _min_gate("min_class_samples", cur.min_class_samples, None, "no classes")
        else:
            cls, n = d.smallest_class
            out["min_class_samples"] = _min_gate(
                "min_class_samples", cur.min_class_samples, n, f"the smallest class `{cls}` has {n} samples"
            )
    if cur.class_balance:
        if d.class_balance is None or d.smallest_class is None:
            out["class_balance"] = _min_gate("class_balance", cur.class_balance, None, "no classes")
        else:
            largest = max(d.class_counts.values())
            why = f"smallest/largest class = {d.smallest_class[1]}/{largest} = {d.class_balance:.3g}"
            out["class_balance"] = _min_gate("class_balance", cur.class_balance, d.class_balance, why)
    if cur.slice_coverage:
        gate = cur.slice_coverage
        cells = [(col, v, n) for col, counts in d.slice_coverage.items() for v, n in counts.items()]
        if not cells:
            out["slice_coverage"] = _min_gate(
                "slice_coverage", gate, None, "no slices (set `dataset.slice_columns`)"
            )
        else:
            col, v, n = min(cells, key=lambda c: c[2])
            short = [f"{c}={val} ({k})" for c, val, k in cells if k < gate.min]
            tail = f"; under the minimum: {', '.join(short[:5])}" if short else ""
            why = f"the thinnest slice value {col}={v} has {n} samples{tail}"
            out["slice_coverage"] = _min_gate("slice_coverage", gate, n, why)
    return [out[name] for name, _ in cur.items()]


def curation_next_step(gate: GateResult) -> str:
    """What to do about a failing curation gate."""
    steps = {
        "leakage": "remove the leaking samples from the test set (or from training) and re-run; a model scored "
        "on samples it trained on looks better than it is",
        "duplicates": "deduplicate the test set (each repeat weighs twice in every metric)",
        "duplicate_ids": "give every sample its own id",
        "near_duplicates": "review the near-duplicate images and keep one of each group",
        "labels_outside_classes": "fix those labels or add the classes to `dataset.class_names`",
        "missing_labels": "label the unlabeled samples or drop them from the test set",
        "min_class_samples": "collect more test samples of the rarest classes",
        "class_balance": "rebalance the test set or gate on balanced metrics (balanced_accuracy, macro_f1)",
        "slice_coverage": "add test samples for the thin slice values",
    }
    return steps.get(gate.name, f"fix the test set for {gate.name}")


# ------------------------------------------------------------------------------------------------------ power

# accuracy-like metrics whose per-row delta variance follows from the models' error rates (stats/power.py)
_ACCURACY_LIKE = ("accuracy", "micro_precision", "micro_recall", "micro_f1")
DEFAULT_ASSUMED_ERROR = 0.05


@dataclass(frozen=True)
class PlannedPower:
    """One vs_baseline gate's power before the run: a sentence, and the numbers when they can be estimated."""

    metric: str
    rule: str
    margin: float
    n: int
    rows_needed: int | None
    detectable: float | None
    decidable: bool | None  # None: estimated only after the run
    sentence: str


def plan_power(plan: PlanResult, baseline_error: float | None = None) -> list[PlannedPower]:
    """For each vs_baseline gate: can this test set decide it? (stats/power.py; evaluated again after the run.)

    For accuracy the variance per row is the share of rows the models disagree on, taken as twice the
    baseline's error rate: `baseline_error` when known, else 1 - the plan's accuracy threshold, else 5 %.
    """
    from evalaction.plan import parse_metric_ref
    from evalaction.stats.power import gate_margin, gate_power

    p = plan.plan
    n = plan.dataset.n_samples
    error, source = _assumed_error(plan, baseline_error)
    out = []
    for ref, gate in p.gates.vs_baseline.items():
        name = parse_metric_ref(ref)[0]
        label = f"`{ref} {gate.rule} {gate_margin(ref, gate.margin)}`"
        if name not in _ACCURACY_LIKE or p.task not in ("binary", "multiclass") or n == 0:
            out.append(
                PlannedPower(
                    ref,
                    gate.rule,
                    gate.margin,
                    n,
                    None,
                    None,
                    None,
                    f"{label}: power is estimated after the run, from the comparison's interval",
                )
            )
            continue
        gp = gate_power(
            rule=gate.rule, margin=gate.margin, alpha=p.compare.alpha, n=n, variance_per_row=min(1.0, 2 * error)
        )
        assumed = f"assuming the models disagree on {200 * error:.3g} % of rows ({source})"
        if not gp.decidable:
            sentence = f"{gp.sentence(ref)}; {assumed}"
        elif gate.rule == "better":
            sentence = (
                f"{label}: detects a true gain of {100 * gp.detectable:.2g} pt or more with 80 % power; {assumed}"
            )
        else:
            need = f"~{gp.rows_needed:,} rows needed" if gp.rows_needed else ""
            sentence = f"{label}: decidable on {n:,} rows ({need}); {assumed}"
        out.append(
            PlannedPower(ref, gate.rule, gate.margin, n, gp.rows_needed, gp.detectable, gp.decidable, sentence)
        )
    return out


def _assumed_error(plan: PlanResult, baseline_error: float | None) -> tuple[float, str]:
    if baseline_error is not None:
        return max(baseline_error, 1e-4), f"the baseline's error rate {100 * baseline_error:.3g} %, doubled"
    gate = plan.plan.gates.thresholds.get("accuracy")
    if gate is not None and gate.op in (">=", ">") and gate.value < 1:
        return 1 - gate.value, f"twice the error rate the `accuracy {gate.rule}` threshold allows"
    return DEFAULT_ASSUMED_ERROR, f"twice an assumed baseline error rate of {100 * DEFAULT_ASSUMED_ERROR:g} %"

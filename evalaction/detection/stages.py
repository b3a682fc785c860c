"""The detection stages (`plan.task == "detection"`), sequenced by `evalaction.pipeline` like every task
through `evalaction.tasks.detection.DetectionTask`; the comparison is assembled by `stages.compare`.

    plan       the COCO test set's card                        PlanResult (+ DetectionCard)
    inference  read each COCO results file, or run the ONNX    InferenceResult, detections_<role>.json
               detector and decode its outputs
    metrics    pycocotools: 12 COCO numbers, per-class AP, PR  MetricsResult (+ DetectionMetrics)
    errors     TIDE error types and their dAP; errors, flips   ErrorsResult (+ DetectionErrors), worst images drawn
               and confusions at the operating score
    compare    paired image-level bootstrap of each delta      CompareResult
    readiness  latency and size, ONNX detectors only           ReadinessResult
    verdict    the same gates as every task (stages/verdict)   VerdictResult

How the shared artifacts read for boxes: `MetricsResult.candidate.overall` holds map, map_50, ..., ar_100 and
`per_class` holds ap / ap_50 / ap_75 / ar_100 by class name, so `map: ">= 0.5"` and `ap[person]: ">= 0.4"`
gate as any metric; `class_support` counts ground-truth boxes. `ErrorsResult` is taken at the operating score
(`detection.operating_score`) and IoU 0.5: an error is a false positive or a missed box, the error rate is
(FP + FN) / (TP + FP + FN), a negative flip is a box the baseline found and the candidate did not, and
confusion pairs are (true class, predicted class) for classification errors, (background, class) for
background errors and (class, missed) for missed boxes. `CompareResult.flips` counts the same flips per class,
so `gates.errors` (`negative_flips: {max: 3}`, `negative_flips[person]`) limit the boxes a candidate loses.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction import __version__
from evalaction.artifacts import (
    CompareResult,
    ConfusionPair,
    DatasetCard,
    ErrorSample,
    ErrorsResult,
    Flips,
    InferenceResult,
    MetricsResult,
    ModelMetrics,
    ModelReadiness,
    ModelRun,
    PlanResult,
    ReadinessResult,
)
from evalaction.detection.artifacts import (
    DetectionCard,
    DetectionErrors,
    DetectionMetrics,
    ModelDetectionErrors,
    ModelDetectionMetrics,
    OperatingPoint,
    TideResult,
    WorstImage,
)
from evalaction.exceptions import InvalidPlan
from evalaction.flips import UnitCorrectness, build_flips
from evalaction.plan import parse_metric_ref

if TYPE_CHECKING:
    from pycocotools.cocoeval import COCOeval

    from evalaction.datasets.sources import DataSources
    from evalaction.detection.coco import GroundTruth
    from evalaction.detection.tide import Analysis
    from evalaction.plan import LoadedPlan, ModelSpec

Detections = list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------------------- plan


def load_plan_ground_truth(loaded: LoadedPlan, sources: DataSources | None = None) -> GroundTruth:
    """The plan's COCO ground truth (a local file or export, or a Roboflow COCO export), with its images folder."""
    from evalaction.detection.coco import load_ground_truth

    ds = loaded.plan.dataset
    images_dir = loaded.resolve(ds.images_dir) if ds.images_dir else None
    if ds.roboflow is not None:
        from evalaction.datasets.roboflow import fetch_roboflow
        from evalaction.datasets.sources import DataSources

        fetched = fetch_roboflow(ds.roboflow, sources or DataSources())
        return load_ground_truth(fetched.path, images_dir, ds.roboflow.split)
    assert ds.path is not None  # DatasetSpec guarantees path or roboflow
    return load_ground_truth(loaded.resolve(ds.path), images_dir, ds.split)


def _check_class_gates(loaded: LoadedPlan, gt: GroundTruth) -> None:
    """`ap[cls]` gates must name a class of the COCO file (caught here, not as an undefined metric later)."""
    import difflib

    names = gt.class_names
    gates = loaded.plan.gates
    for where, refs in (("gates.thresholds", gates.thresholds), ("gates.vs_baseline", gates.vs_baseline)):
        for ref in refs:
            cls = parse_metric_ref(ref)[1]
            if cls is not None and cls not in names:
                hint = difflib.get_close_matches(cls, names, n=1)
                fix = f"did you mean `{hint[0]}`?" if hint else f"use one of: {', '.join(names)}"
                raise InvalidPlan(
                    f"{loaded.path.name}: `{where}.{ref}`: expected a class of {gt.path.name}, found {cls!r}; {fix}"
                )


def detection_card(gt: GroundTruth) -> tuple[DetectionCard, DatasetCard]:
    """Facts about the COCO test set, as the detection card and as the shared dataset card."""
    from evalaction.datasets.curation import class_balance
    from evalaction.detection.metrics import size_buckets
    from evalaction.detection.onnx import image_path

    names = gt.category_names
    boxes = Counter(names[a["category_id"]] for a in gt.annotations if not a["iscrowd"])
    per_class = {c: boxes.get(c, 0) for c in gt.class_names}
    with_boxes = {a["image_id"] for a in gt.annotations}
    missing: int | None = None
    duplicates = 0
    if gt.images_dir.is_dir():
        hashes: Counter[str] = Counter()
        missing = 0
        for im in gt.images:
            path = image_path(gt, im)
            if not path.is_file():
                missing += 1
                continue
            hashes[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
        duplicates = sum(n - 1 for n in hashes.values())
    repeated_names = len(gt.images) - len({im["file_name"] for im in gt.images})
    warnings = list(gt.warnings)
    absent = [c for c, n in per_class.items() if n == 0]
    if absent:
        warnings.append(f"classes with no ground-truth box: {', '.join(absent)}; their AP is undefined")
    if missing:
        warnings.append(
            f"{missing} images listed in {gt.path.name} are not in {gt.images_dir}; they are not drawn"
        )
    elif missing is None:
        warnings.append(f"images folder {gt.images_dir} not found: worst images are not drawn")
    if duplicates:
        warnings.append(f"{duplicates} images repeat an earlier image byte for byte; they weigh twice")
    if repeated_names:
        warnings.append(f"{repeated_names} file names repeat; a file name should identify one image")
    n_crowd = sum(1 for a in gt.annotations if a["iscrowd"])
    balance, smallest = class_balance(per_class)
    card = DetectionCard(
        annotations=str(gt.path),
        images_dir=str(gt.images_dir),
        n_images=len(gt.images),
        n_boxes=sum(per_class.values()),
        n_crowd=n_crowd,
        boxes_per_class=per_class,
        size_buckets=size_buckets(gt),
        images_without_boxes=len(gt.images) - len(with_boxes),
        images_missing=missing,
        categories={str(k): v for k, v in names.items()},
    )
    dataset = DatasetCard(
        source=str(gt.path),
        format="coco",
        n_samples=len(gt.images),
        n_features=None,
        classes=gt.class_names,
        class_counts=per_class,
        duplicate_samples=duplicates,
        duplicate_ids=repeated_names,
        labels_outside_classes={},
        missing_values=0,
        classes_absent=absent,
        fingerprint=gt.fingerprint(),
        warnings=warnings,
        class_balance=balance,
        smallest_class=smallest,
    )
    return card, dataset


def run_detection_plan(*, loaded: LoadedPlan, gt: GroundTruth) -> tuple[PlanResult, DetectionCard]:
    """The plan and the COCO test set's card."""
    _check_class_gates(loaded, gt)
    card, dataset = detection_card(gt)
    rf = loaded.plan.dataset.roboflow
    if rf is not None:
        dataset = dataset.model_copy(update={"origin": f"roboflow {rf.key}", "split": rf.split})
    plan = PlanResult(plan=loaded.plan, plan_path=str(loaded.path), base_dir=str(loaded.base_dir), dataset=dataset)
    return plan, card


# ----------------------------------------------------------------------------------------------------- inference


def _versions() -> dict[str, str]:
    import numpy
    import pycocotools

    versions = {
        "evalaction": __version__,
        "numpy": numpy.__version__,
        "pycocotools": getattr(pycocotools, "__version__", "unknown"),
        "python": platform.python_version(),
    }
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # only ONNX detectors need it
        pass
    return versions


def _infer_one(
    *, role: str, spec: ModelSpec, path: Path, gt: GroundTruth, out_dir: Path, threads: int
) -> tuple[ModelRun, Detections]:
    import time

    from evalaction.detection.coco import load_results
    from evalaction.runners.base import check_model_file, sha256_file

    if spec.resolved_format == "coco_results":
        check_model_file(path, role)
        t0 = time.perf_counter()
        detections = load_results(path, gt, role)
        wall, runner, provider, n_batches = time.perf_counter() - t0, "coco_results", "file", 1
    else:
        from evalaction.detection.onnx import run_detector

        run = run_detector(spec=spec, path=path, gt=gt, role=role, threads=threads)
        detections, wall, runner, provider = run.detections, run.wall_s, "onnxruntime", run.provider
        n_batches = len(run.latency_ms)
    out = out_dir / f"detections_{role}.json"
    out.write_text(json.dumps(detections, separators=(",", ":")) + "\n", encoding="utf-8")
    return (
        ModelRun(
            role=role,  # type: ignore[arg-type]
            path=str(path),
            sha256=sha256_file(path),
            size_bytes=path.stat().st_size,
            format=spec.resolved_format,
            runner=runner,
            provider=provider,
            threads=threads,
            batch_size=1,
            n_samples=len(gt.images),
            n_batches=n_batches,
            wall_s=round(wall, 6),
            samples_per_s=round(len(gt.images) / wall, 1) if wall > 0 else 0.0,
            predictions_path=out.name,
            versions=_versions(),
        ),
        detections,
    )


def run_detection_inference(
    *, plan: PlanResult, gt: GroundTruth, candidate_path: Path, baseline_path: Path | None, out_dir: Path
) -> tuple[InferenceResult, dict[str, Detections]]:
    """Each model's detections as a checked COCO results list (detections_<role>.json)."""
    p = plan.plan
    runs: dict[str, ModelRun] = {}
    dets: dict[str, Detections] = {}
    roles = [("candidate", p.models.candidate, candidate_path)]
    if baseline_path is not None:
        # a baseline taken from the base branch has no spec of its own: it is read like the candidate
        roles.append(("baseline", p.models.baseline or p.models.candidate, baseline_path))
    for role, spec, path in roles:
        runs[role], dets[role] = _infer_one(
            role=role, spec=spec, path=path, gt=gt, out_dir=out_dir, threads=p.inference.threads
        )
    result = InferenceResult(
        candidate=runs["candidate"], baseline=runs.get("baseline"), classes=gt.class_names, task="detection"
    )
    return result, dets


# ------------------------------------------------------------------------------------------------------- metrics


def run_detection_metrics(
    *, plan: PlanResult, gt: GroundTruth, detections: dict[str, Detections]
) -> tuple[MetricsResult, DetectionMetrics, dict[str, COCOeval]]:
    """pycocotools' numbers for each model (the COCOeval objects feed the bootstrap)."""
    from evalaction.detection.coco import count_over_max_dets
    from evalaction.detection.metrics import OVERALL, counts_by_class, evaluate, per_class, pr_curves, summary
    from evalaction.detection.metrics import undefined_reasons as why_undefined

    evals = {role: evaluate(gt, dets) for role, dets in detections.items()}
    shared: dict[str, ModelMetrics] = {}
    detailed: dict[str, ModelDetectionMetrics] = {}
    for role, E in evals.items():
        stats = summary(E)
        classes = per_class(E, gt)
        undefined = {k: v for k, v in why_undefined(stats).items() if k in OVERALL}
        for metric in ("ap", "ap_50"):
            empty = [c for c, v in classes[metric].items() if v is None]
            if empty:
                undefined.setdefault(metric, f"no ground-truth box of {', '.join(empty)}")
        shared[role] = ModelMetrics(
            overall={k: stats[k] for k in OVERALL},
            per_class={k: classes[k] for k in ("ap", "ap_50", "ap_75")},
            undefined=undefined,
        )
        detailed[role] = ModelDetectionMetrics(
            stats=stats,
            per_class=classes,
            counts=counts_by_class(gt, detections[role]),
            pr_curves=pr_curves(E, gt),
            n_detections=len(detections[role]),
            over_max_dets=count_over_max_dets(detections[role]),
        )
    support = {c: n["gt"] for c, n in detailed["candidate"].counts.items()}
    metrics = MetricsResult(
        candidate=shared["candidate"],
        baseline=shared.get("baseline"),
        classes=gt.class_names,
        class_support=support,
        requested=plan.plan.metric_list,
    )
    return metrics, DetectionMetrics(candidate=detailed["candidate"], baseline=detailed.get("baseline")), evals


# -------------------------------------------------------------------------------------------------------- errors


def _describe(gt: GroundTruth, detections: Detections, a: Analysis, i: int) -> str:
    from evalaction.detection.tide import ERROR_LABELS

    name = gt.category_names[detections[i]["category_id"]]
    status = a.det_status[i]
    return name if status == "tp" else f"{name} ({ERROR_LABELS.get(status, status)})"


def _operating(
    gt: GroundTruth, detections: Detections, score: float
) -> tuple[Detections, Analysis, OperatingPoint]:
    from evalaction.detection.tide import ERROR_TYPES, analyze

    kept = [d for d in detections if d["score"] >= score]
    a = analyze(gt, kept)
    tp = a.det_status.count("tp")
    fp = sum(1 for s in a.det_status if s in ERROR_TYPES)
    fn = sum(1 for s in a.gt_status if s in ("miss", "covered"))
    point = OperatingPoint(
        score=score,
        tp=tp,
        fp=fp,
        fn=fn,
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
    )
    return kept, a, point


def _negative_flips(
    gt: GroundTruth, base: tuple[Detections, Analysis], cand: tuple[Detections, Analysis], units: UnitCorrectness
) -> list[ErrorSample]:
    """The boxes the baseline found and the candidate did not (`units.negative`), described, the baseline's most
    confident first."""
    (bd, ba), (cd, ca) = base, cand
    names = gt.category_names
    pointing: dict[int, int] = {}
    for i, j in enumerate(ca.det_target):
        if j >= 0 and (j not in pointing or cd[i]["score"] > cd[pointing[j]]["score"]):
            pointing[j] = i
    negative: list[ErrorSample] = []
    for j in units.negative.tolist():
        ann = gt.annotations[j]
        i = pointing.get(j, -1)
        negative.append(
            ErrorSample(
                id=_box_id(gt, j),
                label=names[ann["category_id"]],
                predicted="missed" if i < 0 else _describe(gt, cd, ca, i),
                confidence=0.0 if i < 0 else float(cd[i]["score"]),
                baseline_predicted=names[ann["category_id"]],
                baseline_confidence=float(bd[ba.gt_det[j]]["score"]),
            )
        )
    negative.sort(key=lambda e: -(e.baseline_confidence or 0.0))
    return negative


def _box_id(gt: GroundTruth, j: int) -> str:
    ann = gt.annotations[j]
    source = gt.source_ids[j]
    return f"{gt.image(ann['image_id'])['file_name']} #{source if source is not None else j}"


def box_correctness(gt: GroundTruth, base: Analysis, cand: Analysis) -> UnitCorrectness:
    """Detection's units for the shared flips (`evalaction.flips`): every ground-truth box, found by a model when
    matched at the operating score (`gt_status == "tp"`), grouped by class; crowd boxes and boxes of classes
    not evaluated are left out (group -1)."""
    import numpy as np

    names = gt.category_names
    index = {c: k for k, c in enumerate(gt.class_names)}
    group = [-1 if ann["iscrowd"] else index.get(names[ann["category_id"]], -1) for ann in gt.annotations]
    return UnitCorrectness(
        baseline_right=np.array([s == "tp" for s in base.gt_status], dtype=bool),
        candidate_right=np.array([s == "tp" for s in cand.gt_status], dtype=bool),
        group=np.array(group, dtype=np.int64),
        ids=[_box_id(gt, j) for j in range(len(gt.annotations))],
        groups=gt.class_names,
    )


def _confusions(gt: GroundTruth, dets: Detections, a: Analysis) -> Counter[tuple[str, str]]:
    """(true, predicted) counts: class confusions, (background, class) and (class, missed)."""
    names = gt.category_names
    pairs: Counter[tuple[str, str]] = Counter()
    for i, status in enumerate(a.det_status):
        if status == "cls":
            pairs[names[gt.annotations[a.det_target[i]]["category_id"]], names[dets[i]["category_id"]]] += 1
        elif status == "bkg":
            pairs["background", names[dets[i]["category_id"]]] += 1
    for j in a.errors("miss"):
        pairs[names[gt.annotations[j]["category_id"]], "missed"] += 1
    return pairs


def _errors_result(
    gt: GroundTruth,
    cand: tuple[Detections, Analysis, OperatingPoint],
    base: tuple[Detections, Analysis, OperatingPoint] | None,
    flips: tuple[Flips, UnitCorrectness] | None,
) -> ErrorsResult:
    from evalaction.detection.tide import ERROR_TYPES

    dets, a, point = cand
    names = gt.category_names
    errors = [i for i, s in enumerate(a.det_status) if s in ERROR_TYPES]
    errors.sort(key=lambda i: -dets[i]["score"])
    confident = []
    for i in errors[:20]:
        target = a.det_target[i]
        truth = "background" if target < 0 else names[gt.annotations[target]["category_id"]]
        confident.append(
            ErrorSample(
                id=str(gt.image(dets[i]["image_id"])["file_name"]),
                label=truth,
                predicted=_describe(gt, dets, a, i),
                confidence=float(dets[i]["score"]),
            )
        )
    pairs = _confusions(gt, dets, a)
    base_pairs = None if base is None else _confusions(gt, base[0], base[1])
    seen: Counter[tuple[str, str]] = base_pairs or Counter()
    keys = sorted(set(pairs) | set(seen), key=lambda k: (-pairs[k], -seen[k], k))
    confusions = [
        ConfusionPair(
            true=t,
            predicted=p,
            count=pairs.get((t, p), 0),
            baseline_count=None if base_pairs is None else base_pairs.get((t, p), 0),
        )
        for t, p in keys
    ]
    n_errors = point.fp + point.fn
    total = point.tp + point.fp + point.fn
    negative: list[ErrorSample] = []
    n_neg = n_pos = 0
    if base is not None and flips is not None:
        negative = _negative_flips(gt, (base[0], base[1]), (dets, a), flips[1])
        n_neg, n_pos = flips[0].n_negative, flips[0].n_positive
    return ErrorsResult(
        n_errors=n_errors,
        error_rate=n_errors / total if total else 0.0,
        most_confident_errors=confident,
        negative_flips=negative[:20],
        n_negative_flips=n_neg,
        n_positive_flips=n_pos,
        negative_flips_by_class={} if flips is None else {c: f.negative for c, f in flips[0].per_class.items()},
        positive_flips_by_class={} if flips is None else {c: f.positive for c, f in flips[0].per_class.items()},
        confusion_pairs=confusions,
    )


def _per_image(gt: GroundTruth, dets: Detections, a: Analysis) -> dict[Any, dict[str, Any]]:
    from evalaction.detection.tide import ERROR_TYPES

    out: dict[Any, dict[str, Any]] = {
        im["id"]: {"tp": 0, "fp": 0, "fn": 0, "n_gt": 0, "errors": Counter(), "top_fp": 0.0} for im in gt.images
    }
    for i, d in enumerate(dets):
        row, status = out[d["image_id"]], a.det_status[i]
        if status == "tp":
            row["tp"] += 1
        elif status in ERROR_TYPES:
            row["fp"] += 1
            row["errors"][status] += 1
            row["top_fp"] = max(row["top_fp"], d["score"])
    for j, ann in enumerate(gt.annotations):
        if ann["iscrowd"]:
            continue
        row = out[ann["image_id"]]
        row["n_gt"] += 1
        if a.gt_status[j] in ("miss", "covered"):
            row["fn"] += 1
            if a.gt_status[j] == "miss":
                row["errors"]["miss"] += 1
    return out


def _draw(gt: GroundTruth, image: dict[str, Any], dets: Detections, a: Analysis, out: Path) -> bool:
    from evalaction.detection.draw import DET_ERROR, DET_TP, GT_MISSED, GT_OK, DrawnBox, draw_boxes
    from evalaction.detection.onnx import image_path

    path = image_path(gt, image)
    if not path.is_file():
        return False
    names = gt.category_names
    boxes = []
    for j, ann in enumerate(gt.annotations):
        if ann["image_id"] != image["id"]:
            continue
        missed = a.gt_status[j] in ("miss", "covered")
        boxes.append(DrawnBox(ann["bbox"], "", GT_MISSED if missed else GT_OK, 3 if missed else 2))
    for i, d in enumerate(dets):
        if d["image_id"] != image["id"] or a.det_status[i] in ("dropped", "ignored"):
            continue
        ok = a.det_status[i] == "tp"
        tag = "" if ok else f" {a.det_status[i]}"
        boxes.append(
            DrawnBox(d["bbox"], f"{names[d['category_id']]} {d['score']:.2f}{tag}", DET_TP if ok else DET_ERROR)
        )
    try:
        draw_boxes(path, boxes, out, title=str(image["file_name"]))
    except OSError:
        return False  # an unreadable image costs its drawing, not the run
    return True


def run_detection_errors(
    *, plan: PlanResult, gt: GroundTruth, detections: dict[str, Detections], out_dir: Path
) -> tuple[ErrorsResult, DetectionErrors, Flips | None]:
    """TIDE on every detection (what AP sees), errors and flips at the operating score, the worst images drawn."""
    from evalaction.detection.tide import tide

    spec = plan.plan.detection
    score = spec.operating_score
    per_model: dict[str, ModelDetectionErrors] = {}
    operating: dict[str, tuple[Detections, Analysis, OperatingPoint]] = {}
    for role, dets in detections.items():
        t = tide(gt, dets, fg_iou=spec.tide.fg_iou, bg_iou=spec.tide.bg_iou)
        operating[role] = _operating(gt, dets, score)
        per_model[role] = ModelDetectionErrors(
            tide=TideResult(
                fg_iou=spec.tide.fg_iou,
                bg_iou=spec.tide.bg_iou,
                ap=None if t.ap < 0 else t.ap,
                counts=t.counts,
                delta_ap=t.delta_ap,
            ),
            operating=operating[role][2],
        )
    flips: tuple[Flips, UnitCorrectness] | None = None
    if "baseline" in operating:
        units = box_correctness(gt, operating["baseline"][1], operating["candidate"][1])
        flips = build_flips(units), units
    errors = _errors_result(gt, operating["candidate"], operating.get("baseline"), flips)

    cand_rows = _per_image(gt, operating["candidate"][0], operating["candidate"][1])
    base_rows = (
        _per_image(gt, operating["baseline"][0], operating["baseline"][1]) if "baseline" in operating else None
    )
    order = {im["id"]: k for k, im in enumerate(gt.images)}
    ranked = sorted(
        (iid for iid, r in cand_rows.items() if r["fp"] + r["fn"] > 0),
        key=lambda iid: (-(cand_rows[iid]["fp"] + cand_rows[iid]["fn"]), -cand_rows[iid]["top_fp"], order[iid]),
    )[: spec.worst_images]
    worst = []
    for rank, iid in enumerate(ranked, start=1):
        r, image = cand_rows[iid], gt.image(iid)
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(image["file_name"]).stem)[:40]
        rel = Path("detection") / f"worst_{rank:02d}_{stem}.png"
        drawn = _draw(gt, image, operating["candidate"][0], operating["candidate"][1], out_dir / rel)
        worst.append(
            WorstImage(
                image_id=iid,
                file_name=image["file_name"],
                n_gt=r["n_gt"],
                tp=r["tp"],
                fp=r["fp"],
                fn=r["fn"],
                errors=dict(r["errors"]),
                baseline_errors=None if base_rows is None else base_rows[iid]["fp"] + base_rows[iid]["fn"],
                drawing=rel.as_posix() if drawn else None,
            )
        )
    detailed = DetectionErrors(
        candidate=per_model["candidate"], baseline=per_model.get("baseline"), worst_images=worst
    )
    return errors, detailed, None if flips is None else flips[0]


# ------------------------------------------------------------------------------------------------------- compare


_CI_LABEL = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}


def run_detection_compare(
    *, plan: PlanResult, gt: GroundTruth, evals: dict[str, COCOeval], flips: Flips | None = None
) -> CompareResult | None:
    """The primary metric and every metric gated against the baseline, by the paired image-level bootstrap
    (detection/bootstrap.py), summarised and decided as the classification compare stage does: the interval
    (`compare.ci`: BCa with a leave-one-image-out jackknife, percentile or basic) and p-value from
    evalaction.stats, Holm across the gated metrics, the rule from evalaction.stats.outcome.decide."""
    import numpy as np

    from evalaction.detection.bootstrap import ImageBootstrap, cells_for, jackknife_deltas, paired_image_bootstrap
    from evalaction.exceptions import InvalidStatisticInput
    from evalaction.stages.compare import MeasuredDelta, assemble_comparisons
    from evalaction.stats._common import bca_acceleration, summarise

    if "baseline" not in evals:
        return None
    p = plan.plan
    spec = p.compare
    refs = [p.metrics.primary, *[r for r in p.gates.vs_baseline if r != p.metrics.primary]]
    names = gt.category_names
    class_index = {names[int(c)]: k for k, c in enumerate(evals["candidate"].params.catIds)}
    cells = cells_for(refs)
    boots = {role: ImageBootstrap(evals[role], cells) for role in ("candidate", "baseline")}
    ones = np.ones(boots["candidate"].n_images, dtype=np.int64)
    full = {
        role: {ref: boot.value(ref, *boot.arrays(ones), class_index) for ref in refs}
        for role, boot in boots.items()
    }
    undefined: dict[str, str] = {}
    defined = []
    for ref in refs:
        if all(np.isfinite(full[role][ref]) for role in full):
            defined.append(ref)
        else:
            undefined[ref] = f"{ref} is undefined on this test set (no ground-truth box it could measure)"
    base, cand = boots["baseline"], boots["candidate"]
    deltas = paired_image_bootstrap(
        base, cand, defined, class_index=class_index, n_resamples=spec.n_bootstrap, seed=spec.seed
    )
    bca = spec.ci == "bca"
    jack = jackknife_deltas(base, cand, defined, class_index=class_index, seed=spec.seed) if bca else {}
    test = f"paired image bootstrap ({_CI_LABEL[spec.ci]})"
    measured: dict[str, MeasuredDelta] = {}
    for ref in defined:
        try:
            est = summarise(
                deltas[ref],
                full["candidate"][ref] - full["baseline"][ref],
                confidence_level=1 - spec.alpha,
                method=spec.ci,
                acceleration=bca_acceleration([jack[ref]]) if ref in jack else 0.0,
                test=test,
            )
        except InvalidStatisticInput as exc:
            undefined[ref] = str(exc)
            continue
        measured[ref] = MeasuredDelta(
            baseline=full["baseline"][ref],
            candidate=full["candidate"][ref],
            delta=est.estimate,
            ci=(est.ci_low, est.ci_high),
            tost_ci=est.interval(1 - 2 * spec.alpha),
            p_value=est.p_value,
            test=test,
        )
    # the classification compare stage's assembler: Holm across the gated metrics, the rule, the comparison
    comparisons, gated = assemble_comparisons(
        refs=refs, measured=measured, plan=p, n_rows=len(gt.images), undefined=undefined
    )
    return CompareResult(
        comparisons=comparisons,
        n_bootstrap=spec.n_bootstrap,
        alpha=spec.alpha,
        seed=spec.seed,
        n_samples=len(gt.images),
        ci_method=spec.ci,
        stratified=False,
        holm_family=gated,
        flips=flips,
        undefined=undefined,
    )


# ----------------------------------------------------------------------------------------------------- readiness


def run_detection_readiness(
    *, plan: PlanResult, gt: GroundTruth, candidate_path: Path, baseline_path: Path | None
) -> ReadinessResult:
    """Size, load time and batch-1 latency of ONNX detectors on the first image, both interleaved A B A B."""
    import time

    import numpy as np

    from evalaction.detection.onnx import image_path, input_size, prepare
    from evalaction.runners.onnx_session import open_onnx_session

    p = plan.plan
    if not p.readiness.enabled:
        return ReadinessResult(candidate=None, baseline=None, skipped="readiness disabled in the plan")
    models = p.models
    entries = [("candidate", candidate_path, models.candidate)]
    if baseline_path is not None:
        entries.append(("baseline", baseline_path, models.baseline or models.candidate))
    entries = [e for e in entries if e[2].resolved_format == "onnx"]
    if not entries or entries[0][0] != "candidate":
        return ReadinessResult(
            candidate=None,
            baseline=None,
            skipped="the candidate is a COCO results file (detections, not a model): there is nothing to time",
        )
    sessions, loads = {}, {}
    for role, path, spec in entries:
        t0 = time.perf_counter()
        sess = open_onnx_session(path, role=role, threads=1)
        loads[role] = time.perf_counter() - t0
        x, _ = prepare(image_path(gt, gt.images[0]), spec, *input_size(sess, spec, role))
        sessions[role] = (sess, {spec.input_name or sess.get_inputs()[0].name: x})
    times: dict[str, list[float]] = {role: [] for role in sessions}
    for _ in range(p.readiness.warmup):
        for sess, feed in sessions.values():
            sess.run(None, feed)
    for _ in range(p.readiness.latency_repeats):
        for role, (sess, feed) in sessions.items():
            t0 = time.perf_counter()
            sess.run(None, feed)
            times[role].append((time.perf_counter() - t0) * 1000.0)

    def profile(role: str, path: Path) -> ModelReadiness:
        p50, p95, p99 = np.percentile(np.asarray(times[role]), [50, 95, 99])
        return ModelReadiness(
            size_mb=round(path.stat().st_size / 1e6, 6),
            load_s=round(loads[role], 6),
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            latency_p99_ms=float(p99),
            repeats=len(times[role]),
        )

    paths = {role: path for role, path, _ in entries}
    return ReadinessResult(
        candidate=profile("candidate", paths["candidate"]),
        baseline=profile("baseline", paths["baseline"]) if "baseline" in paths else None,
    )


# ------------------------------------------------------------------------------------------------------ pipeline

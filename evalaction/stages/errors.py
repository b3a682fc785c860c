"""Stage 4: what the candidate gets wrong: confident errors, confusion pairs, and negative flips vs the baseline."""

from __future__ import annotations

from pathlib import Path

from evalaction.artifacts import ErrorSample, ErrorsResult, InferenceResult
from evalaction.predictions import read_predictions


def run_errors(*, inference: InferenceResult, out_dir: Path, max_listed: int = 20) -> ErrorsResult:
    """The candidate's misclassified samples with their confidence, and its regressions against the baseline."""
    import numpy as np

    cand = read_predictions(out_dir / inference.candidate.predictions_path)
    base = read_predictions(out_dir / inference.baseline.predictions_path) if inference.baseline else None
    if inference.task == "regression" or cand.scores is None:
        return ErrorsResult(
            n_errors=0,
            error_rate=0.0,
            most_confident_errors=[],
            negative_flips=[],
            n_negative_flips=0,
            n_positive_flips=0,
            confusion_pairs=[],
        )
    classes = cand.classes

    def name(k: int) -> str:
        return classes[k] if 0 <= k < len(classes) else "(outside class list)"

    wrong = ~cand.correct
    conf = cand.confidence

    def sample(i: int) -> ErrorSample:
        return ErrorSample(
            id=str(cand.ids[i]),
            label=name(int(cand.y[i])),
            predicted=name(int(cand.pred[i])),
            confidence=round(float(conf[i]), 6),
            baseline_predicted=name(int(base.pred[i])) if base is not None else None,
            baseline_confidence=round(float(base.confidence[i]), 6) if base is not None else None,
        )

    # stable sort: ties keep dataset order, so the listing is deterministic
    wrong_idx = np.flatnonzero(wrong)
    by_conf = wrong_idx[np.argsort(-conf[wrong_idx], kind="stable")]
    neg_flips: list[ErrorSample] = []
    n_neg = n_pos = 0
    if base is not None:
        neg = np.flatnonzero(base.correct & wrong)
        pos = np.flatnonzero(~base.correct & cand.correct)
        n_neg, n_pos = len(neg), len(pos)
        neg_sorted = neg[np.argsort(-conf[neg], kind="stable")]
        neg_flips = [sample(int(i)) for i in neg_sorted[:max_listed]]
    pairs: dict[tuple[str, str], int] = {}
    for i in wrong_idx:
        key = (name(int(cand.y[i])), name(int(cand.pred[i])))
        pairs[key] = pairs.get(key, 0) + 1
    top_pairs = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return ErrorsResult(
        n_errors=int(wrong.sum()),
        error_rate=float(wrong.mean()),
        most_confident_errors=[sample(int(i)) for i in by_conf[:max_listed]],
        negative_flips=neg_flips,
        n_negative_flips=n_neg,
        n_positive_flips=n_pos,
        confusion_pairs=[(t, p, n) for (t, p), n in top_pairs],
    )

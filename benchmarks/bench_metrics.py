"""Benchmark: every multiclass metric on 1e6 samples x 10 classes vs scikit-learn called metric by metric.

    python benchmarks/bench_metrics.py [--n 1000000] [--k 10] [--repeat 3] [--skip-reference]

Prints the registry's best time of `--repeat` runs, scikit-learn's time for the same metrics called one by one
on the same data (one run), the ratio, and PASS/FAIL against the 5 s budget. Exit code 1 on FAIL.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalaction.metrics.registry import available_metrics, compute_metrics  # noqa: E402

BUDGET_S = 5.0


def make_data(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)).astype(np.float32)
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return y, p.argmax(axis=1), p


def sklearn_reference(y: np.ndarray, pred: np.ndarray, p: np.ndarray, k: int) -> dict[str, Callable[[], float]]:
    """The same metrics, each a separate scikit-learn call (what a straightforward implementation does)."""
    from sklearn import metrics as m

    labels = list(range(k))
    calls: dict[str, Callable[[], object]] = {
        "accuracy": lambda: m.accuracy_score(y, pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y, pred),
        "precision": lambda: m.precision_score(y, pred, labels=labels, average=None),
        "recall": lambda: m.recall_score(y, pred, labels=labels, average=None),
        "f1": lambda: m.f1_score(y, pred, labels=labels, average=None),
        "support": lambda: np.bincount(y, minlength=k),
        "mcc": lambda: m.matthews_corrcoef(y, pred),
        "cohen_kappa": lambda: m.cohen_kappa_score(y, pred),
        "roc_auc": lambda: m.roc_auc_score(y, p, multi_class="ovr", labels=labels),
        "average_precision": lambda: [m.average_precision_score(y == c, p[:, c]) for c in labels],
        "log_loss": lambda: m.log_loss(y, p, labels=labels),
        "top2_accuracy": lambda: m.top_k_accuracy_score(y, p, k=2, labels=labels),
        "top3_accuracy": lambda: m.top_k_accuracy_score(y, p, k=3, labels=labels),
    }
    for avg in ("macro", "weighted", "micro"):
        calls[f"{avg}_precision"] = lambda a=avg: m.precision_score(y, pred, average=a)
        calls[f"{avg}_recall"] = lambda a=avg: m.recall_score(y, pred, average=a)
        calls[f"{avg}_f1"] = lambda a=avg: m.f1_score(y, pred, average=a)
    return calls  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-reference", action="store_true", help="only time the registry")
    args = parser.parse_args()

    y, pred, p = make_data(args.n, args.k)
    classes = [f"class_{i}" for i in range(args.k)]
    names = available_metrics("multiclass")
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        results = compute_metrics("multiclass", names, y, pred, p, classes)
        times.append(time.perf_counter() - start)
    ours = min(times)
    print(
        f"registry: {len(names)} multiclass metrics on {args.n:,} x {args.k}: {ours:.2f} s "
        f"(best of {args.repeat}; runs {', '.join(f'{t:.2f}' for t in times)})"
    )
    undefined = [n for n, v in results.items() if v.value is None]
    if undefined:
        print(f"undefined: {undefined}")

    if not args.skip_reference:
        reference = sklearn_reference(y, pred, p, args.k)
        missing = [n for n in names if n not in reference]  # ece has no scikit-learn counterpart
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in names:
                if name in reference:
                    reference[name]()
        theirs = time.perf_counter() - start
        print(
            f"scikit-learn, one call per metric ({len(names) - len(missing)} metrics; no counterpart: "
            f"{', '.join(missing) or 'none'}): {theirs:.2f} s"
        )
        print(f"ratio: {theirs / ours:.1f}x faster than scikit-learn metric by metric")

    verdict = "PASS" if ours < BUDGET_S else "FAIL"
    print(f"{verdict}: {ours:.2f} s vs budget {BUDGET_S:.1f} s")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

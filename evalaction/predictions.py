"""Per-sample predictions: written as Parquet by the inference stage, read back by every later stage."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SCORE_PREFIX = "score:"
SLICE_PREFIX = "slice:"


@dataclass
class Predictions:
    """One model's predictions, in dataset order."""

    ids: np.ndarray
    y: np.ndarray  # class index (-1: label outside the class list) or regression target
    pred: np.ndarray  # predicted class index, or regression prediction
    scores: np.ndarray | None  # (N, K) probabilities; None for regression
    slices: dict[str, np.ndarray]
    classes: list[str]

    # computed once per object: the errors stage reads `confidence[i]` once per listed example, and recomputing
    # the row maxima over 1e6 rows each time cost 9 s (issue #16); the arrays are not modified after reading
    @cached_property
    def correct(self) -> np.ndarray:
        import numpy as np

        return np.asarray(self.y == self.pred)

    @cached_property
    def confidence(self) -> np.ndarray:
        import numpy as np

        assert self.scores is not None
        return np.asarray(self.scores.max(axis=1))


def write_predictions(
    path: Path,
    *,
    ids: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    classes: list[str],
    slices: dict[str, np.ndarray],
    batch_index: np.ndarray,
    batch_latency_ms: np.ndarray,
    task: str,
    batch_finished_at: np.ndarray | None = None,
) -> Path:
    """Parquet with id, label, prediction, per-class scores, confidence, top-2 margin, batch, its latency and
    the time it finished (`timestamp`, UTC)."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, object] = {"id": pa.array([str(i) for i in ids], pa.string())}
    if task == "regression":
        cols["label"] = pa.array(y.astype(np.float64))
        cols["pred"] = pa.array(scores.astype(np.float64))
    else:
        cols["label"] = pa.array(y.astype(np.int64))
        cols["pred"] = pa.array(scores.argmax(axis=1).astype(np.int64))
        for k, name in enumerate(classes):
            cols[f"{SCORE_PREFIX}{name}"] = pa.array(scores[:, k].astype(np.float64))
        # the two largest scores per row without a full sort (K can be large)
        top2 = np.partition(scores, -2, axis=1)[:, -2:] if scores.shape[1] > 1 else np.c_[scores, scores]
        cols["confidence"] = pa.array(top2[:, -1])
        cols["margin"] = pa.array(top2[:, -1] - top2[:, 0])
    for name, vals in slices.items():
        cols[f"{SLICE_PREFIX}{name}"] = pa.array([str(v) for v in vals], pa.string())
    cols["batch"] = pa.array(batch_index.astype(np.int32))
    cols["batch_latency_ms"] = pa.array(batch_latency_ms[batch_index].astype(np.float64))
    if batch_finished_at is not None:
        micros = (np.asarray(batch_finished_at, dtype=np.float64)[batch_index] * 1e6).astype(np.int64)
        cols["timestamp"] = pa.array(micros, pa.timestamp("us", tz="UTC"))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    table = pa.table(cols).replace_schema_metadata({"classes": "\x1f".join(classes), "task": task, "written": now})
    pq.write_table(table, path)
    return path


# The last few files read, by (path, size, mtime): metrics, errors and compare each read both models' predictions,
# which at 1e6 rows cost 2.6 s a read (the string columns); a rewritten file has a new mtime and is read again.
_READ_CACHE: dict[tuple[str, int, int], Predictions] = {}
_READ_CACHE_SIZE = 2


def read_predictions(path: Path) -> Predictions:
    """The predictions saved at `path`; the same object for a file read before and unchanged since (callers only
    read it)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _READ_CACHE:
        while len(_READ_CACHE) >= _READ_CACHE_SIZE:
            del _READ_CACHE[next(iter(_READ_CACHE))]
        _READ_CACHE[key] = _read_predictions(path)
    return _READ_CACHE[key]


def _read_predictions(path: Path) -> Predictions:
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    classes_text = meta.get(b"classes", b"").decode()
    classes = classes_text.split("\x1f") if classes_text else []
    names = table.column_names
    score_cols = [c for c in names if c.startswith(SCORE_PREFIX)]
    scores = np.column_stack([table[c].to_numpy() for c in score_cols]) if score_cols else None
    return Predictions(
        # to_numpy on a string column gives the same Python str objects as to_pylist, without the list
        ids=table["id"].to_numpy(zero_copy_only=False).astype(object, copy=False),
        y=table["label"].to_numpy(),
        pred=table["pred"].to_numpy(),
        scores=scores,
        slices={
            c[len(SLICE_PREFIX) :]: table[c].to_numpy(zero_copy_only=False).astype(object, copy=False)
            for c in names
            if c.startswith(SLICE_PREFIX)
        },
        classes=classes,
    )


def with_positive_class(p: Predictions, positive: str | None) -> Predictions:
    """Binary predictions with `positive` as class index 1, the class every binary metric, threshold tuning,
    curve and reliability diagram reads as positive (`dataset.positive_class`; default: the second class)."""
    import numpy as np

    if positive is None or len(p.classes) != 2 or p.scores is None or p.classes[1] == positive:
        return p
    if positive != p.classes[0]:
        from evalaction.exceptions import BadInput

        raise BadInput(
            f"`dataset.positive_class`: expected one of the classes {p.classes}, found {positive!r}; name one of them"
        )
    return Predictions(
        ids=p.ids,
        y=np.where(p.y >= 0, 1 - p.y, p.y),
        pred=1 - p.pred,
        scores=p.scores[:, ::-1].copy(),
        slices=p.slices,
        classes=[p.classes[1], p.classes[0]],
    )

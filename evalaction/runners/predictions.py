"""Bring your own predictions: a CSV/Parquet of per-sample outputs from any framework, joined to the test set by id.

The file has an `id` column (or the dataset's `id_column` name) and one of:

- `score:<class>` columns, one per class of the plan (probabilities, or logits with `outputs: logits`);
- a `scores` column holding a list per row, in the plan's class order (Parquet);
- a `pred` (or `label`) column with the predicted class name (one-hot scores: probability metrics are then
  degenerate, and the run says so) or, for regression, the predicted value.

Every test id must appear exactly once and no other id may appear; all three kinds of mismatch are reported
together, in one line, with counts and the first few ids.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.exceptions import CannotLoadModel
from evalaction.runners.base import ModelOutput, first_line

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from evalaction.plan import ModelSpec
    from evalaction.runners.base import BatchSource, OutputCheck
    from evalaction.runners.progress import ProgressHook

SCORE_PREFIX = "score:"
_SHOWN = 3


def _few(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN])
    return f"{shown}, ..." if len(ids) > _SHOWN else shown


class PredictionsRunner:
    name = "predictions-file"
    kind = "predictions"
    provider = "file"
    device = "none"
    threads = 0

    def __init__(
        self,
        path: Path,
        spec: ModelSpec,
        *,
        role: str,
        classes: list[str],
        task: str,
        id_column: str | None = None,
    ) -> None:
        self.path, self.spec, self.role, self.classes, self.task = path, spec, role, classes, task
        self.id_column = id_column
        self.model_name = f"{role} predictions {path.name}"
        self.frame = self._read()

    def versions(self) -> dict[str, str]:
        import pandas
        import pyarrow

        return {"pandas": pandas.__version__, "pyarrow": pyarrow.__version__}

    def _read(self) -> pd.DataFrame:
        import pandas as pd

        suffix = self.path.suffix.lower()
        try:
            if suffix == ".csv":
                # ids stay text: `007` must not become 7
                id_types = {name: str for name in ("id", self.id_column) if name}
                frame = pd.read_csv(self.path, dtype=id_types)
            else:
                frame = pd.read_parquet(self.path)
        except Exception as exc:
            raise CannotLoadModel(
                f"{self.model_name}: cannot read as {'CSV' if suffix == '.csv' else 'Parquet'} "
                f"({first_line(exc)}); write a .csv or .parquet with an `id` column and scores or `pred`"
            ) from None
        frame.columns = [str(c) for c in frame.columns]
        return frame

    # ------------------------------------------------------------------------------------------------- joining

    def _id_column(self, columns: list[str]) -> str:
        for name in ("id", self.id_column):
            if name and name in columns:
                return name
        raise CannotLoadModel(
            f"{self.model_name}: no id column (expected `id`); found {columns[:8]}; add the test set's ids as "
            "`id` (row numbers 0..N-1 when the plan has no `dataset.id_column`)"
        )

    def align(self, test_ids: np.ndarray) -> np.ndarray:
        """Row positions in the file for each test id; every missing, duplicate or unknown id in one error."""
        import numpy as np
        import pandas as pd

        ids = self.frame[self._id_column(list(self.frame.columns))].astype(str)
        test = pd.Index(np.asarray(test_ids).astype(str))
        dup_mask = ids.duplicated(keep=False)
        duplicates = list(dict.fromkeys(ids[dup_mask]))
        known = ids.isin(test)
        unknown = list(ids[~known])
        missing = list(test[~test.isin(ids)])
        if duplicates or unknown or missing:
            parts = []
            if missing:
                parts.append(f"{len(missing)} test ids have no prediction ({_few(missing)})")
            if duplicates:
                parts.append(f"{len(duplicates)} ids appear more than once ({_few(duplicates)})")
            if unknown:
                parts.append(f"{len(unknown)} ids are not in the test set ({_few(unknown)})")
            raise CannotLoadModel(
                f"{self.model_name}: {'; '.join(parts)}; write exactly one row per test id "
                f"({len(test)} ids, e.g. {_few(list(test))})"
            )
        return np.asarray(pd.Index(ids).get_indexer(test))

    # ------------------------------------------------------------------------------------------------ decoding

    def _scores(self) -> tuple[np.ndarray, str | None, list[str]]:
        """(outputs in file row order, 'probabilities' when one-hot was built, warnings)."""
        import numpy as np

        columns = list(self.frame.columns)
        score_cols = [c for c in columns if c.startswith(SCORE_PREFIX)]
        if self.task == "regression":
            col = next((c for c in (self.spec.output_name, "pred", "prediction") if c and c in columns), None)
            if col is None:
                raise CannotLoadModel(
                    f"{self.model_name}: no `pred` column for regression predictions; found {columns[:8]}"
                )
            return self._numeric(col), None, []
        if score_cols:
            names = [c[len(SCORE_PREFIX) :] for c in score_cols]
            if set(names) != set(self.classes):
                missing = [c for c in self.classes if c not in names]
                extra = [c for c in names if c not in self.classes]
                raise CannotLoadModel(
                    f"{self.model_name}: score columns do not match the plan's classes: missing "
                    f"{[SCORE_PREFIX + c for c in missing][:5]}, unknown {[SCORE_PREFIX + c for c in extra][:5]}; "
                    "write one `score:<class>` column per class of `dataset.class_names`"
                )
            return np.column_stack([self._numeric(SCORE_PREFIX + c) for c in self.classes]), None, []
        if "scores" in columns:
            rows = self.frame["scores"].to_list()
            try:
                arr = np.asarray([np.asarray(r, dtype=np.float64) for r in rows], dtype=np.float64)
            except (TypeError, ValueError):
                raise CannotLoadModel(
                    f"{self.model_name}: `scores` must hold one list of {len(self.classes)} numbers per row; "
                    "write it as a Parquet list column"
                ) from None
            return arr, None, []
        col = next((c for c in (self.spec.output_name, "pred", "label") if c and c in columns), None)
        if col is None:
            raise CannotLoadModel(
                f"{self.model_name}: no scores (`score:<class>` columns or a `scores` list) and no `pred` "
                f"column; found {columns[:8]}"
            )
        return (
            self._one_hot(col),
            "probabilities",
            [
                f"{self.role} predictions hold labels only: scores are one-hot, so probability metrics "
                "(roc_auc, log_loss, ece) and confidence are degenerate"
            ],
        )

    def _numeric(self, col: str) -> np.ndarray:
        import numpy as np
        import pandas as pd

        values = pd.to_numeric(self.frame[col], errors="coerce")
        bad = self.frame[col][values.isna() & self.frame[col].notna()]
        if len(bad):
            raise CannotLoadModel(
                f"{self.model_name}: column {col!r} holds non-numbers (e.g. {bad.iloc[0]!r}); write numbers"
            )
        return np.asarray(values.to_numpy(dtype=np.float64))

    def _one_hot(self, col: str) -> np.ndarray:
        import numpy as np

        from evalaction.datasets.base import _label_text

        index = {c: i for i, c in enumerate(self.classes)}
        labels = [_label_text(v) for v in self.frame[col].to_list()]
        unknown = sorted({v for v in labels if v not in index})
        if unknown:
            raise CannotLoadModel(
                f"{self.model_name}: column {col!r} has labels outside the plan's classes ({_few(unknown)}); "
                f"use one of {self.classes[:10]}"
            )
        out = np.zeros((len(labels), len(self.classes)))
        out[np.arange(len(labels)), [index[v] for v in labels]] = 1.0
        return out

    def run(
        self,
        source: BatchSource,
        *,
        batch_size: int,
        progress: ProgressHook | None = None,
        check: OutputCheck | None = None,
    ) -> ModelOutput:
        import numpy as np

        started = time.perf_counter()
        order = self.align(source.ids)
        raw, outputs, warnings = self._scores()
        scores: Any = raw[order]  # `check` is not called: the stage checks the whole file once, with `outputs`
        if progress is not None:
            progress.update(len(scores))
            progress.close()
        return ModelOutput(
            scores=scores,
            batch_index=np.zeros(len(scores), dtype=np.int32),
            batch_latency_ms=np.zeros(1),
            batch_finished_at=np.asarray([time.time()]),
            wall_s=time.perf_counter() - started,
            outputs=outputs,  # type: ignore[arg-type]
            warnings=warnings,
        )

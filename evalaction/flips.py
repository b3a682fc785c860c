"""Flips, built in one place for every task: units the baseline got right and the candidate got wrong (negative
flips, the regressions) and the reverse (positive flips).

A task says, per unit, whether each model got it right, the unit's group (its true class) and its id
(`UnitCorrectness`):

    | task                   | unit              | right                        | group       | left out           |
    |------------------------|-------------------|------------------------------|-------------|--------------------|
    | binary, multiclass     | test sample       | prediction == label          | true class  | labels outside the |
    |                        | (`sample_correctness`)                           |             | class list         |
    | detection              | ground-truth box  | matched (`gt_status == tp`)  | box's class | crowd boxes, boxes |
    |                        | at the operating score (`detection.stages.box_correctness`)   |  | of unevaluated classes|

`build_flips` turns that into the shared `Flips` artifact (counts per group, listed ids) that the compare stage
stores and `gates.errors` (`negative_flips`, `negative_flips[class]`) counts; the errors stages list and sort
the same units (`UnitCorrectness.negative`). A unit outside the groups is no unit: it counts nowhere (for
classification it never flips anyway, as no prediction equals a label outside the class list).

Regression has no such units: a row is not right or wrong for one model alone, only worse or better for the
candidate against the baseline by more than a threshold (`stages.errors_regression.regression_flips`), and it
has no true class to group by; forcing it into two "right" masks would encode a comparison as two fake
verdicts, so it keeps its own rows (`RegressionErrors.regression_flips`) and fills no `Flips`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from evalaction.artifacts import ClassFlips, Flips

if TYPE_CHECKING:
    import numpy as np

# Each comparison lists at most this many flipped unit ids per direction (counts are always complete).
MAX_LISTED_FLIPS = 200


@dataclass(frozen=True)
class UnitCorrectness:
    """Per unit (sample or ground-truth box): did the baseline and the candidate get it right, its group and id."""

    baseline_right: np.ndarray  # bool, one per unit
    candidate_right: np.ndarray  # bool, one per unit
    group: np.ndarray  # int index into `groups`; any other value (-1) leaves the unit out
    ids: Sequence[Any] | np.ndarray  # the unit's id, listed as str
    groups: Sequence[str]  # group names, in order (the classes)

    @property
    def counted(self) -> np.ndarray:
        """Units inside a group (the others count nowhere)."""
        import numpy as np

        group = np.asarray(self.group)
        return np.asarray((group >= 0) & (group < len(self.groups)))

    @property
    def negative(self) -> np.ndarray:
        """Indices of negative flips (baseline right, candidate wrong), in unit order."""
        import numpy as np

        base, cand = np.asarray(self.baseline_right, dtype=bool), np.asarray(self.candidate_right, dtype=bool)
        return np.flatnonzero(base & ~cand & self.counted)

    @property
    def positive(self) -> np.ndarray:
        """Indices of positive flips (baseline wrong, candidate right), in unit order."""
        import numpy as np

        base, cand = np.asarray(self.baseline_right, dtype=bool), np.asarray(self.candidate_right, dtype=bool)
        return np.flatnonzero(~base & cand & self.counted)


def sample_correctness(
    *,
    y: np.ndarray,
    baseline_pred: np.ndarray,
    candidate_pred: np.ndarray,
    ids: Sequence[Any] | np.ndarray,
    classes: Sequence[str],
) -> UnitCorrectness:
    """Classification's units: test samples, right when the predicted class is the label, grouped by label."""
    import numpy as np

    y = np.asarray(y)
    return UnitCorrectness(
        baseline_right=np.asarray(baseline_pred == y),
        candidate_right=np.asarray(candidate_pred == y),
        group=y.astype(np.int64),
        ids=ids,
        groups=list(classes),
    )


def build_flips(units: UnitCorrectness, max_listed: int = MAX_LISTED_FLIPS) -> Flips:
    """The shared `Flips`: negative and positive flips overall and per group (every group, in order), and the
    first `max_listed` ids of each direction in unit order."""
    import numpy as np

    k = len(units.groups)
    counted = units.counted
    group = np.asarray(units.group)[counted].astype(np.int64)
    neg, pos = units.negative, units.positive
    n = np.bincount(group, minlength=k)
    n_neg = np.bincount(np.asarray(units.group)[neg].astype(np.int64), minlength=k)
    n_pos = np.bincount(np.asarray(units.group)[pos].astype(np.int64), minlength=k)
    return Flips(
        n_negative=len(neg),
        n_positive=len(pos),
        per_class={
            name: ClassFlips(n=int(n[g]), negative=int(n_neg[g]), positive=int(n_pos[g]))
            for g, name in enumerate(units.groups)
        },
        negative_ids=[str(units.ids[int(i)]) for i in neg[:max_listed]],
        positive_ids=[str(units.ids[int(i)]) for i in pos[:max_listed]],
        listed_limit=max_listed,
    )


def by_count(flips: Flips, direction: Literal["negative", "positive"]) -> dict[str, int]:
    """Group -> flips in one direction, groups with none left out, largest first (ties: group order)."""
    counts = [(name, getattr(c, direction)) for name, c in flips.per_class.items()]
    order = {name: k for k, name in enumerate(flips.per_class)}
    return dict(sorted(((c, n) for c, n in counts if n), key=lambda kv: (-kv[1], order[kv[0]])))

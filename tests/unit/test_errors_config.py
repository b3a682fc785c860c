"""The plan's `errors:` section: defaults, values, and one-line messages for bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalaction.exceptions import InvalidPlan
from evalaction.plan import load_plan
from tests.conftest import VALID_PLAN


def _load(plan_dir: Path, extra: str):
    (plan_dir / "evalaction.yml").write_text(VALID_PLAN + extra)
    return load_plan(plan_dir / "evalaction.yml").plan


def test_defaults_when_the_section_is_absent(plan_dir: Path) -> None:
    errors = _load(plan_dir, "").errors
    assert errors.confident_threshold == 0.9 and errors.ambiguous_margin == 0.1
    assert errors.attributions.on and errors.attributions.max_samples == 6
    assert errors.attributions.method == "auto"


def test_values_are_read(plan_dir: Path) -> None:
    extra = (
        "errors:\n  confident_threshold: 0.8\n  ambiguous_margin: 0.05\n"
        "  attributions: {enabled: false, max_samples: 2, method: shapley_value_sampling}\n"
    )
    errors = _load(plan_dir, extra).errors
    assert errors.confident_threshold == 0.8 and errors.ambiguous_margin == 0.05
    assert not errors.attributions.enabled and errors.attributions.max_samples == 2
    assert errors.attributions.method == "shapley_value_sampling"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "errors:\n  attributions: {method: integrated_gradients}\n",
            "evalaction.yml line 20: `errors.attributions.method`: expected a method that works on this model, "
            "found 'integrated_gradients' for the candidate model 'models/candidate.onnx' (not a torch model); "
            "use auto, occlusion, feature_ablation or shapley_value_sampling",
        ),
        (
            "errors:\n  attributions: {method: occlusoin}\n",
            "evalaction.yml line 20: `errors.attributions.method`: expected one of 'auto', 'integrated_gradients', "
            "'saliency', 'occlusion', 'feature_ablation' or 'shapley_value_sampling', found 'occlusoin'; "
            "did you mean `occlusion`?",
        ),
        (
            "errors:\n  confident_threshold: 1.5\n",
            "evalaction.yml line 20: `errors.confident_threshold`: expected input should be less than or equal "
            "to 1, found 1.5; fix the value",
        ),
        (
            "errors:\n  attributions: {max_sample: 3}\n",
            "evalaction.yml line 20: `errors.attributions.max_sample`: unknown key; did you mean `max_samples`?",
        ),
    ],
)
def test_bad_errors_settings_get_one_line(plan_dir: Path, extra: str, message: str) -> None:
    with pytest.raises(InvalidPlan) as exc:
        _load(plan_dir, extra)
    assert str(exc.value) == message

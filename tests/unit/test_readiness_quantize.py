"""INT8 trial: smaller files, accuracy delta against labels, skipped trials, the 'does it pay' sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.metrics import accuracy_score

from evalaction.exceptions import BadInput
from evalaction.readiness.models import SlownessTest
from evalaction.readiness.profile import Timing
from evalaction.readiness.quantize import _verdict_sentence, calibration_split, quantization_trial
from tests.unit.onnx_builders import digits_like, fp16_mlp, mlp

TIMING = Timing(batch_sizes=(16,), repeats=30, warmup=2)


def _predict(path: str | Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0].argmax(axis=1)


def test_calibration_split_is_disjoint_and_keeps_half_for_evaluation() -> None:
    calibration, evaluation = calibration_split(100, 128, seed=0)
    assert len(calibration) == 50 and len(evaluation) == 50
    assert sorted([*calibration, *evaluation]) == list(range(100))
    calibration, evaluation = calibration_split(1000, 128, seed=0)
    assert len(calibration) == 128 and len(evaluation) == 872
    assert not np.array_equal(calibration_split(1000, 128, seed=1)[0], calibration)


def test_trial_gives_smaller_files_and_accuracy_delta_against_labels(tmp_path: Path) -> None:
    model = mlp(tmp_path / "cand.onnx", hidden=256)
    x = digits_like(400)
    # labels: the fp32 model's own predictions with a fifth of them replaced, so accuracy is not 1
    rng = np.random.default_rng(1)
    y = _predict(model, x)
    flip = rng.random(400) < 0.2
    y[flip] = rng.integers(0, 10, flip.sum())

    report = quantization_trial(model, inputs=x, labels=y, workdir=tmp_path / "q", timing=TIMING)

    _, evaluation = calibration_split(400, 128, seed=TIMING.seed)
    assert report.n_eval == len(evaluation) == 272 and report.calibration_size == 128
    fp32_reference = accuracy_score(y[evaluation], _predict(model, x[evaluation]))
    assert [t.method for t in report.trials] == ["dynamic", "static"]
    for trial in report.trials:
        assert trial.status == "ok", trial.reason
        assert trial.model_path is not None and trial.file_size_bytes == Path(trial.model_path).stat().st_size
        assert trial.file_size_bytes < 0.5 * model.stat().st_size
        int8_pred = _predict(trial.model_path, x[evaluation])
        reference = accuracy_score(y[evaluation], int8_pred)
        assert trial.fp32_accuracy == pytest.approx(fp32_reference)
        assert trial.accuracy == pytest.approx(reference)
        assert trial.accuracy_delta == pytest.approx(reference - fp32_reference)
        assert trial.agreement == pytest.approx(np.mean(int8_pred == _predict(model, x[evaluation])))
        assert [s.batch_size for s in trial.slowness] == [1, 16]
        assert [s.batch_size for s in trial.latency] == [1, 16] == [s.batch_size for s in trial.fp32_latency]
        assert trial.pays is not None and trial.note.startswith(trial.method.capitalize() + " INT8")


@pytest.mark.parametrize(
    ("preprocess", "why"),
    [
        # pre-processed, the quantizers see fp16 weights and leave them alone: nothing to gain
        (True, "no weight was quantized to INT8"),
        # raw, they insert int8 ops on fp16 tensors and ONNX Runtime refuses the graph
        (False, "float16"),
    ],
)
def test_a_model_the_quantizers_cannot_handle_gives_skipped_trials(
    tmp_path: Path, preprocess: bool, why: str
) -> None:
    model = fp16_mlp(tmp_path / "half.onnx")
    x = digits_like(40)
    report = quantization_trial(
        model,
        inputs=x,
        labels=_predict(model, x),
        workdir=tmp_path / "q",
        timing=TIMING,
        preprocess=preprocess,
    )
    assert report.preprocessed is preprocess
    assert [t.status for t in report.trials] == ["skipped", "skipped"]
    for trial in report.trials:
        assert trial.reason is not None and why in trial.reason
        assert trial.note.startswith(f"{trial.method.capitalize()} INT8 skipped:")
        assert trial.accuracy is None and trial.pays is None


def test_labels_must_match_inputs(tmp_path: Path) -> None:
    model = mlp(tmp_path / "m.onnx", hidden=8)
    with pytest.raises(BadInput, match="one integer class label per input row"):
        quantization_trial(model, inputs=digits_like(10), labels=np.zeros(9, int), workdir=tmp_path)
    with pytest.raises(BadInput, match="one integer class label per input row"):
        quantization_trial(model, inputs=digits_like(10), labels=np.zeros(10), workdir=tmp_path)


def _slowness(ratio: float, low: float, high: float, slower: bool) -> SlownessTest:
    return SlownessTest(
        batch_size=1,
        n_pairs=100,
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        margin=0.05,
        significantly_slower=slower,
        method="test",
    )


def test_the_sentence_says_why_quantization_does_not_pay() -> None:
    fast = [_slowness(0.8, 0.75, 0.85, False)]
    pays, note = _verdict_sentence("dynamic", 0.3, fast, -0.002, 0.01)
    assert pays and note.startswith("Dynamic INT8 pays: 30% of the fp32 size, 0.80x")

    pays, note = _verdict_sentence("static", 0.3, [_slowness(1.8, 1.7, 1.9, True)], 0.0, 0.01)
    assert not pays and "slower than fp32: 1.80x at batch 1 (95% CI 1.70-1.90)" in note

    pays, note = _verdict_sentence("static", 1.2, fast, -0.03, 0.01)
    assert not pays
    assert "not smaller (120% of the fp32 size)" in note and "accuracy drops 3.0 pt (tolerance 1.0 pt)" in note


def test_a_scikit_learn_export_is_skipped_as_nothing_to_quantize_without_importing_the_quantizer(
    tmp_path: Path,
) -> None:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype(np.float32)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    model = tmp_path / "tree.onnx"
    model.write_bytes(to_onnx(tree, x[:1], options={"zipmap": False}, target_opset=17).SerializeToString())
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    predicted = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: x})[0]

    report = quantization_trial(model, inputs=x, labels=y, workdir=tmp_path / "q", timing=TIMING)

    assert [t.status for t in report.trials] == ["skipped", "skipped"]
    assert report.preprocessed is False and not list((tmp_path / "q").glob("*.onnx"))
    _, evaluation = calibration_split(len(y), 128, seed=TIMING.seed)
    for trial in report.trials:
        assert trial.reason is not None and "ai.onnx.ml: TreeEnsembleClassifier" in trial.reason
        assert trial.fp32_accuracy == pytest.approx(accuracy_score(y[evaluation], predicted[evaluation]))


def _skipped_report(reasons: list[str]) -> object:
    from evalaction.readiness.models import QuantizationReport, QuantizationTrial

    return QuantizationReport(
        candidate_path="m.onnx",
        fp32_file_size_bytes=100,
        preprocessed=False,
        preprocess_note="not run: nothing to quantize",
        calibration_size=64,
        n_eval=64,
        accuracy_tolerance=0.01,
        trials=tuple(
            QuantizationTrial(
                method=m, status="skipped", reason=r, fp32_accuracy=0.9, note=f"{m} INT8 skipped: {r}."
            )
            for m, r in zip(("dynamic", "static"), reasons, strict=True)
        ),
    )


def test_the_report_says_once_why_no_int8_trial_ran_and_never_claims_a_calibration() -> None:
    from evalaction.report.readiness_view import ReadinessView, _int8

    view = ReadinessView()
    _int8(view, _skipped_report(["nothing to quantize: every operator is ai.onnx.ml"] * 2))  # type: ignore[arg-type]
    assert (
        view.int8_caption
        == "INT8 trial of the candidate: not run, nothing to quantize: every operator is ai.onnx.ml."
    )
    assert view.int8_notes == [] and "calibrated" not in view.int8_caption

    view = ReadinessView()
    _int8(view, _skipped_report(["float16 weights", "ONNX Runtime refused the QDQ graph"]))  # type: ignore[arg-type]
    assert view.int8_notes == [
        "dynamic INT8 skipped: float16 weights.",
        "static INT8 skipped: ONNX Runtime refused the QDQ graph.",
    ]

"""The embedded demo's committed data and models: reproducible from the seed, with a story, well-formed.

References are independent of `make_demo.py`: scikit-learn's own digits and metrics, pandas quantiles,
the `onnx` graph, and torch running the safetensors weights.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

DEMO = Path(__file__).resolve().parents[2] / "examples" / "digits"
MODELS = ("baseline", "candidate")
PIXELS = [f"p{i:02d}" for i in range(64)]
MODULES = {"baseline": "DigitMLP", "candidate": "DigitCNN"}


def _file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every CSV under root/data and every file under root/models, keyed by relative path."""
    files = sorted([*(root / "data").glob("*.csv"), *(p for p in (root / "models").rglob("*") if p.is_file())])
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _model_input(frame: pd.DataFrame) -> np.ndarray:
    return (frame[PIXELS].to_numpy(np.float32) / 16).reshape(-1, 1, 8, 8)


@pytest.fixture(scope="module")
def test_frame() -> pd.DataFrame:
    return pd.read_csv(DEMO / "data" / "test.csv")


@pytest.fixture(scope="module")
def ort_logits(test_frame: pd.DataFrame) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    logits = {}
    for name in MODELS:
        session = ort.InferenceSession(str(DEMO / "models" / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        logits[name] = np.asarray(session.run(["logits"], {"input": _model_input(test_frame)})[0])
    return logits


# What regeneration must reproduce, and how closely. The CSVs hold ints drawn by scikit-learn's seeded split: equal
# bytes everywhere. The models are trained in float32; make_demo pins the kernels (ATen's portable ones, MKL's
# CBWR, one thread), and on the AMD EPYC that made them the bytes come back equal, but an Intel Xeon's AVX-512/AMX
# paths in MKL and ONNX export still round some sums apart in the last ulp, and 20 epochs of Adam grow that into
# weights that differ. What the demo promises is its story and its numbers, so that is what is pinned: the same
# graph (ops, names, shapes), the same test-set predictions for all but a few samples, and accuracy and per-class
# recall within two test samples' worth (2/360 overall; 2 of the ~36 samples of a class).
# Measured here by regenerating with ATen's AVX2 kernels instead of the portable ones (a different rounding, as on
# another CPU): the baseline came back with the same predictions, the candidate disagreed on 1 of 360 samples
# (accuracy 1/360 and recall of one class 1/36 apart). Two different models (the committed baseline against the
# candidate) disagree on far more, so these bounds still catch a changed recipe.
MIN_AGREEMENT = 0.98  # share of the 360 test samples on which the regenerated model predicts the committed class
ACCURACY_TOLERANCE = 2 / 360
RECALL_TOLERANCE = 2 / 36


def _graph_signature(path: Path) -> tuple[Any, ...]:
    """Everything of an ONNX file except the weights' values: ops in order, tensor names, shapes, opset."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    return (
        [(n.op_type, list(n.input), list(n.output)) for n in graph.node],
        [(t.name, list(t.dims), t.data_type) for t in graph.initializer],
        [i.name for i in graph.input],
        [o.name for o in graph.output],
        [(o.domain, o.version) for o in model.opset_import],
    )


def _predict(path: Path, frame: pd.DataFrame) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["logits"], {"input": _model_input(frame)})[0]).argmax(axis=1)


@pytest.mark.slow
@pytest.mark.skipif(
    platform.machine().lower() not in {"x86_64", "amd64"},
    reason="training is pinned to x86-64 kernels (MKL_CBWR, ATen default); elsewhere MKL is absent",
)
def test_regenerating_from_the_seed_reproduces_every_committed_file(tmp_path: Path) -> None:
    from safetensors.numpy import load_file
    from sklearn.metrics import accuracy_score, recall_score

    from examples.digits.make_demo import build_demo

    committed = _file_hashes(DEMO)
    assert sorted(committed) == [
        "data/test.csv",
        "data/train.csv",
        "models/baseline.onnx",
        "models/baseline.safetensors",
        "models/candidate.onnx",
        "models/candidate.safetensors",
    ]
    summary = build_demo(tmp_path, seed=0)
    regenerated = _file_hashes(tmp_path)
    assert summary["sha256"] == regenerated  # the script reports what it wrote
    for name in ("data/train.csv", "data/test.csv"):
        assert regenerated[name] == committed[name], name  # ints from a seeded split: equal bytes on any CPU

    test = pd.read_csv(DEMO / "data" / "test.csv")
    y = test["label"].to_numpy()
    for model in MODELS:
        new, old = tmp_path / "models" / f"{model}.onnx", DEMO / "models" / f"{model}.onnx"
        assert _graph_signature(new) == _graph_signature(old), model
        new_weights = load_file(tmp_path / "models" / f"{model}.safetensors")
        old_weights = load_file(DEMO / "models" / f"{model}.safetensors")
        assert {k: v.shape for k, v in new_weights.items()} == {k: v.shape for k, v in old_weights.items()}
        predicted, reference = _predict(new, test), _predict(old, test)
        assert np.mean(predicted == reference) >= MIN_AGREEMENT, (model, np.mean(predicted == reference))
        assert accuracy_score(y, predicted) == pytest.approx(accuracy_score(y, reference), abs=ACCURACY_TOLERANCE)
        np.testing.assert_allclose(
            recall_score(y, predicted, labels=list(range(10)), average=None),
            recall_score(y, reference, labels=list(range(10)), average=None),
            atol=RECALL_TOLERANCE,
            rtol=0,
        )


def test_csvs_hold_sklearn_digits_split_stratified_with_train_tertile_ink_slices() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    train = pd.read_csv(DEMO / "data" / "train.csv")
    test = pd.read_csv(DEMO / "data" / "test.csv")
    assert list(test.columns) == ["id", "label", "ink", *PIXELS] == list(train.columns)
    assert len(train) + len(test) == len(digits.target) and len(test) == 360
    ids = pd.concat([train["id"], test["id"]])
    assert ids.is_unique and ids.str.fullmatch(r"digit-\d{4}").all()
    for frame in (train, test):
        index = frame["id"].str.removeprefix("digit-").astype(int).to_numpy()
        np.testing.assert_array_equal(frame[PIXELS].to_numpy(), digits.data[index].astype(int))
        np.testing.assert_array_equal(frame["label"].to_numpy(), digits.target[index])
    # Stratified 20%: each class's test count is its total count * 0.2, give or take one.
    per_class = np.bincount(digits.target, minlength=10)
    assert np.all(np.abs(test["label"].value_counts().sort_index().to_numpy() - 0.2 * per_class) <= 1)
    low, high = train[PIXELS].sum(axis=1).quantile([1 / 3, 2 / 3])
    for frame in (train, test):
        expected = pd.cut(frame[PIXELS].sum(axis=1), [-np.inf, low, high, np.inf], labels=["low", "mid", "high"])
        assert (frame["ink"] == expected.astype(str)).all()


def test_candidate_wins_overall_but_loses_a_class(test_frame: pd.DataFrame, ort_logits: dict) -> None:
    from sklearn.metrics import accuracy_score, recall_score

    y = test_frame["label"].to_numpy()
    accuracy = {name: accuracy_score(y, ort_logits[name].argmax(axis=1)) for name in MODELS}
    recall = {
        name: recall_score(y, ort_logits[name].argmax(axis=1), labels=list(range(10)), average=None)
        for name in MODELS
    }
    assert all(0.90 <= a <= 0.99 for a in accuracy.values()), accuracy
    assert accuracy["candidate"] - accuracy["baseline"] >= 0.01, accuracy
    worst_drop = np.max(recall["baseline"] - recall["candidate"])
    assert worst_drop >= 0.05, recall


@pytest.mark.parametrize("name", MODELS)
def test_onnx_file_is_small_single_file_with_dynamic_batch(name: str, test_frame: pd.DataFrame) -> None:
    import onnx
    import onnxruntime as ort

    path = DEMO / "models" / f"{name}.onnx"
    assert path.stat().st_size < 1_000_000
    model = onnx.load(str(path), load_external_data=False)
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in model.graph.initializer)

    def dims(value: Any) -> list[Any]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    (graph_input,) = model.graph.input
    (graph_output,) = model.graph.output
    assert graph_input.name == "input" and graph_output.name == "logits"
    assert isinstance(dims(graph_input)[0], str) and dims(graph_input)[1:] == [1, 8, 8]
    assert isinstance(dims(graph_output)[0], str) and dims(graph_output)[1:] == [10]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        (logits,) = session.run(["logits"], {"input": _model_input(test_frame.head(batch))})
        assert logits.shape == (batch, 10)


@pytest.mark.parametrize("name", MODELS)
def test_safetensors_weights_in_the_module_match_onnx_runtime(
    name: str, test_frame: pd.DataFrame, ort_logits: dict
) -> None:
    import torch
    from safetensors.torch import load_file

    import examples.digits.model as demo_model

    module = getattr(demo_model, MODULES[name])()
    module.load_state_dict(load_file(str(DEMO / "models" / f"{name}.safetensors")), strict=True)
    with torch.no_grad():
        logits = module.eval()(torch.from_numpy(_model_input(test_frame))).numpy()
    # 1e-5 absolute plus 1e-5 relative: the candidate's logits reach 25, where one float32 ulp is 1.9e-6
    # and torch and ONNX Runtime sum in different orders (measured: up to 9.5e-6 apart, 5 ulps).
    np.testing.assert_allclose(logits, ort_logits[name], rtol=1e-5, atol=1e-5)

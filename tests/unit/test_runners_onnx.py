"""The ONNX Runtime runner: the demo CNN, scikit-learn via skl2onnx, multi-output graphs, and every bad model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalaction.exceptions import CannotLoadModel, ModelOutputInvalid
from evalaction.plan import ModelSpec, Preprocessing
from evalaction.runners.base import preprocess, to_scores
from evalaction.runners.factory import open_runner
from evalaction.runners.onnx import OnnxRunner
from evalaction.runners.onnx_session import choose_providers
from tests.conftest import DEMO
from tests.runner_models import DIGITS_PRE, digits_dataset, digits_inputs

CANDIDATE = DEMO / "models" / "candidate.onnx"


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return digits_dataset()


def _linear_graph(
    path: Path, *, n_in: int = 4, n_out: int = 3, fn: str | None = None, batch: object = "N"
) -> Path:
    """x (N, n_in) float -> logits = x @ W + b, probs = Softmax(logits) [, extra = fn(logits)]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(n_in, n_out)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(n_out,)).astype(np.float32), "B")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, n_out]),
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, n_out]),
    ]
    if fn is not None:
        nodes.append(helper.make_node(fn, ["logits"], ["extra"]))
        outputs.insert(0, helper.make_tensor_value_info("extra", TensorProto.FLOAT, [batch, n_out]))
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, n_in])], outputs, [w, b]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


class _Lazy:
    """A source with no feature array at all: rows are made batch by batch, so a runner can only stream."""

    def __init__(self, n: int, width: int, seed: int = 0) -> None:
        self.n = n
        self._rows = np.random.default_rng(seed).normal(size=(n, width))
        self.ids = np.arange(n)
        self.largest_batch = 0

    def __len__(self) -> int:
        return self.n

    def batches(self, batch_size: int):  # type: ignore[no-untyped-def]
        for start in range(0, self.n, batch_size):
            rows = self._rows[start : start + batch_size].copy()
            self.largest_batch = max(self.largest_batch, len(rows))
            yield start, rows

    def all_rows(self) -> np.ndarray:
        return self._rows


# ------------------------------------------------------------------------------------------------ real models


def test_demo_cnn_equals_plain_onnxruntime(digits) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    spec = ModelSpec(path=CANDIDATE.name, outputs="logits", preprocessing=Preprocessing(**DIGITS_PRE))
    runner = open_runner(spec, CANDIDATE, "candidate", threads=1, device="cpu")
    out = runner.run(digits, batch_size=64)
    session = ort.InferenceSession(str(CANDIDATE), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": digits_inputs(digits)})[0]
    np.testing.assert_allclose(out.scores, want, atol=1e-5, rtol=0)
    assert out.scores.shape == (360, 10)
    assert out.batch_index.tolist() == [i // 64 for i in range(360)]
    assert len(out.batch_latency_ms) == 6
    assert runner.provider == "CPUExecutionProvider" and runner.threads == 1
    assert runner.input_name == "input" and runner.output_name == "logits"


def test_sklearn_model_via_skl2onnx_equals_predict_proba(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    train = pd.read_csv(DEMO / "data" / "train.csv")
    x_train = train.filter(like="p").to_numpy(dtype=np.float32) / 16
    with threadpool_limits(1):  # BLAS threads on 2 cores make this 20x slower
        clf = LogisticRegression(max_iter=300).fit(x_train.astype(np.float64), train["label"].to_numpy())
    onx = to_onnx(clf, x_train[:1], options={id(clf): {"zipmap": False}}, target_opset=17)
    path = tmp_path / "logreg.onnx"
    path.write_bytes(onx.SerializeToString())
    spec = ModelSpec(
        path=path.name, preprocessing=Preprocessing(scale=0.0625)
    )  # output: `probabilities` (default)
    runner = open_runner(spec, path, "candidate", threads=1)
    assert isinstance(runner, OnnxRunner) and runner.output_name == "probabilities"
    out = runner.run(digits, batch_size=100)
    want = clf.predict_proba((digits.features / 16).astype(np.float32))
    np.testing.assert_allclose(out.scores, want, atol=1e-5)
    scores = to_scores(out.scores, spec, "multiclass", 10, "m")
    assert (scores.argmax(axis=1) == clf.predict((digits.features / 16).astype(np.float32))).mean() > 0.99


def test_sklearn_zipmap_output_is_refused_with_the_fix(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.tree import DecisionTreeClassifier

    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    clf = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, (x[:, 0] > 0).astype(int))
    path = tmp_path / "tree.onnx"
    path.write_bytes(to_onnx(clf, x[:1], target_opset=17).SerializeToString())  # zipmap on by default
    with pytest.raises(CannotLoadModel) as err:
        open_runner(ModelSpec(path=path.name, output_name="output_probability"), path, "candidate")
    assert str(err.value).startswith("candidate model tree.onnx: output 'output_probability' is a seq(map(int64")
    assert str(err.value).endswith(
        "(scikit-learn's ZipMap); re-export with skl2onnx `options={'zipmap': False}`, or set `output_name` to a "
        "tensor output"
    )


def test_multi_output_model_by_name(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = _linear_graph(tmp_path / "two.onnx")
    source = _Lazy(50, 4)
    feeds = {"x": source.all_rows().astype(np.float32)}
    want_logits, want_probs = ort.InferenceSession(str(path)).run(["logits", "probs"], feeds)
    default = open_runner(ModelSpec(path=path.name), path, "candidate").run(source, batch_size=16)
    np.testing.assert_allclose(default.scores, want_logits, atol=1e-6)  # the first float output
    named = open_runner(ModelSpec(path=path.name, output_name="probs"), path, "candidate").run(
        source, batch_size=16
    )
    np.testing.assert_allclose(named.scores, want_probs, atol=1e-6)
    assert source.largest_batch == 16  # streamed: never more than one batch of rows made at a time
    with pytest.raises(CannotLoadModel) as err:
        open_runner(ModelSpec(path=path.name, output_name="prob"), path, "candidate")
    assert str(err.value) == (
        "candidate model two.onnx: `output_name` 'prob' is not an output; found ['logits', 'probs']"
    )


# ------------------------------------------------------------------------------------------------ bad models


def test_truncated_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.onnx"
    path.write_bytes(CANDIDATE.read_bytes()[: CANDIDATE.stat().st_size // 2])
    with pytest.raises(CannotLoadModel) as err:
        open_runner(ModelSpec(path=path.name), path, "candidate")
    msg = str(err.value)
    assert msg.startswith("candidate model cut.onnx: ONNX Runtime cannot load it (")
    assert msg.endswith("check that it is a complete ONNX file (not truncated, not another format)")
    assert "\n" not in msg


def test_non_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("this is a README, not a model\n")
    with pytest.raises(CannotLoadModel, match=r"^candidate model model.onnx: ONNX Runtime cannot load it \("):
        open_runner(ModelSpec(path=path.name), path, "candidate")


def test_input_shape_mismatch(digits) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    runner = open_runner(ModelSpec(path=CANDIDATE.name), CANDIDATE, "candidate")  # no input_shape: (N, 64)
    want = ort.InferenceSession(str(CANDIDATE)).get_inputs()[0].shape  # the batch axis's name is the exporter's
    with pytest.raises(CannotLoadModel) as err:
        runner.run(digits, batch_size=64)
    assert str(err.value) == (
        f"candidate model candidate.onnx: input 'input' wants shape {want}, the data gives [64, 64]; "
        "set `preprocessing.input_shape`, or check `dataset.feature_columns` when a feature column is missing "
        "from the test set"
    )
    assert want[1:] == [1, 8, 8]


def test_wrong_input_shape_names_the_model(digits) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(path=CANDIDATE.name, preprocessing=Preprocessing(input_shape=[1, 7, 7]))
    with pytest.raises(CannotLoadModel, match=r"^candidate model candidate.onnx: preprocessing: `input_shape`"):
        open_runner(spec, CANDIDATE, "candidate").run(digits, batch_size=64)


def test_input_dtype_mismatch() -> None:
    spec = ModelSpec(path=CANDIDATE.name, preprocessing=Preprocessing(input_shape=[1, 8, 8], dtype="float64"))
    with pytest.raises(CannotLoadModel) as err:
        open_runner(spec, CANDIDATE, "baseline")
    assert str(err.value) == (
        "baseline model candidate.onnx: input 'input' wants tensor(float) (float32), the plan feeds float64; "
        "set `preprocessing.dtype: float32`"
    )


def test_fixed_batch_size_model(tmp_path: Path) -> None:
    path = _linear_graph(tmp_path / "fixed.onnx", batch=1)
    with pytest.raises(
        CannotLoadModel, match=r"has a fixed batch size of 1, the plan feeds batches of 8; re-export"
    ):
        open_runner(ModelSpec(path=path.name), path, "candidate").run(_Lazy(20, 4), batch_size=8)


def test_nan_outputs_fail_on_the_first_batch(tmp_path: Path) -> None:
    path = _linear_graph(tmp_path / "nan.onnx", fn="Log")  # log of negative logits is NaN
    spec = ModelSpec(path=path.name, outputs="logits")
    seen: list[int] = []

    def check(raw: np.ndarray) -> None:
        seen.append(len(raw))
        to_scores(raw, spec, "multiclass", 3, "candidate model nan.onnx")

    with pytest.raises(ModelOutputInvalid, match=r"^candidate model nan.onnx: \d+ samples have NaN or infinite"):
        open_runner(spec, path, "candidate").run(_Lazy(100, 4), batch_size=10, check=check)
    assert seen == [10]


def test_logits_declared_as_probabilities(tmp_path: Path) -> None:
    path = _linear_graph(tmp_path / "lin.onnx")
    spec = ModelSpec(path=path.name)  # outputs: probabilities (the default), but `logits` comes first
    out = open_runner(spec, path, "candidate").run(_Lazy(30, 4), batch_size=10)
    with pytest.raises(ModelOutputInvalid, match=r"outputs are not probabilities .*; set `outputs: logits`"):
        to_scores(out.scores, spec, "multiclass", 3, "candidate model lin.onnx")


def test_class_count_differs_from_plan(tmp_path: Path) -> None:
    path = _linear_graph(tmp_path / "lin.onnx")
    out = open_runner(ModelSpec(path=path.name), path, "candidate").run(_Lazy(30, 4), batch_size=10)
    with pytest.raises(ModelOutputInvalid) as err:
        to_scores(
            out.scores, ModelSpec(path="lin.onnx", outputs="logits"), "multiclass", 10, "candidate model lin.onnx"
        )
    assert str(err.value) == (
        "candidate model lin.onnx: outputs 3 classes but the plan has 10; fix `dataset.class_names` or the model"
    )


# --------------------------------------------------------------------------------------------------- devices


def test_providers_follow_the_device() -> None:
    cpu_only = ["AzureExecutionProvider", "CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("auto", cpu_only, "candidate", "m.onnx") == ["CPUExecutionProvider"]
    assert choose_providers("auto", with_cuda, "candidate", "m.onnx") == with_cuda
    assert choose_providers("cpu", with_cuda, "candidate", "m.onnx") == ["CPUExecutionProvider"]
    with pytest.raises(CannotLoadModel) as err:
        choose_providers("cuda", cpu_only, "candidate", "m.onnx")
    assert str(err.value) == (
        "candidate model m.onnx: `inference.device: cuda` but ONNX Runtime has no CUDA provider (available: "
        "AzureExecutionProvider, CPUExecutionProvider); install onnxruntime-gpu or set `inference.device: cpu`"
    )


def test_predict_one_batch_equals_the_batched_run(digits) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(path=CANDIDATE.name, preprocessing=Preprocessing(**DIGITS_PRE))
    runner = open_runner(spec, CANDIDATE, "candidate", threads=1)
    assert isinstance(runner, OnnxRunner)
    one = runner.predict(preprocess(digits.features[:64], spec.preprocessing))
    np.testing.assert_array_equal(one, runner.run(digits, batch_size=64).scores[:64])

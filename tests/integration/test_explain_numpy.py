"""Feature ablation and occlusion on ONNX models run on numpy alone and give Captum's numbers to the bit,
without importing torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalaction.explain.forward import open_explainable
from evalaction.explain.methods import attribute, feature_ablation
from evalaction.plan import ModelSpec, Preprocessing


@pytest.fixture(scope="module")
def tabular_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], np.ndarray]:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 7))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int) + (x[:, 3] > 1).astype(int)  # three classes
    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name, model in (
        ("logreg", LogisticRegression(max_iter=500)),
        ("tree", DecisionTreeClassifier(max_depth=5)),
    ):
        model.fit(x, y)
        onx = to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
        paths[name] = folder / f"{name}.onnx"
        paths[name].write_bytes(onx.SerializeToString())
    return paths, x


@pytest.mark.parametrize("name", ["logreg", "tree"])
@pytest.mark.parametrize("n_samples", [3, 20])  # one batch of perturbations, and several (512 rows per eval)
def test_numpy_feature_ablation_equals_captum_through_the_onnx_wrapper(tabular_models, name, n_samples) -> None:
    import torch

    paths, x = tabular_models
    spec = ModelSpec(path="m", output_name="probabilities", preprocessing=Preprocessing(dtype="float32"))
    model = open_explainable(paths[name], spec, role="candidate", task="multiclass", n_classes=3, batch_size=64)
    rows = x[:n_samples] * 1.5
    baseline = x.mean(axis=0)
    targets = [int(t) for t in np.arange(n_samples) % 3]
    got = attribute(model.forward, rows, targets, "feature_ablation", baseline=baseline)
    want = feature_ablation(
        model.forward,
        torch.from_numpy(rows),
        targets,
        torch.from_numpy(np.ascontiguousarray(np.broadcast_to(baseline, rows.shape))),
    )
    assert np.abs(got.values).max() > 1e-3  # a real signal
    np.testing.assert_array_equal(got.values, want.detach().numpy())


def test_numpy_feature_ablation_imports_neither_torch_nor_captum(tabular_models) -> None:
    paths, x = tabular_models
    code = (
        "import sys, numpy as np\n"
        "from evalaction.plan import ModelSpec, Preprocessing\n"
        "from evalaction.explain.forward import open_explainable\n"
        "from evalaction.explain.methods import attribute\n"
        "spec = ModelSpec(path='m', output_name='probabilities', preprocessing=Preprocessing(dtype='float32'))\n"
        f"m = open_explainable(__import__('pathlib').Path({str(paths['tree'])!r}), spec, role='c', task='multiclass',"
        " n_classes=3)\n"
        "out = attribute(m.forward, np.ones((2, 7)), [0, 1], 'feature_ablation', baseline=np.zeros(7))\n"
        "assert out.values.shape == (2, 7)\n"
        "out = attribute(m.forward, np.ones((2, 7)), [0, 1], 'occlusion', baseline=np.zeros(7))\n"
        "assert out.values.shape == (2, 7)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'captum')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("role", ["candidate", "baseline"])
@pytest.mark.parametrize("n_samples", [2, 9])  # one perturbation batch, and several
def test_numpy_occlusion_equals_captum_through_the_onnx_wrapper(role: str, n_samples: int) -> None:
    """The demo's ONNX image models (8x8 digits): the same attribution maps as Captum's Occlusion, to the bit."""
    import torch

    from evalaction.explain.methods import occlusion, occlusion_window

    root = Path(__file__).resolve().parents[2] / "examples" / "digits"
    spec = ModelSpec(path="m", outputs="logits", preprocessing=Preprocessing(scale=0.0625, input_shape=[1, 8, 8]))
    model = open_explainable(
        root / "models" / f"{role}.onnx", spec, role=role, task="multiclass", n_classes=10, batch_size=64
    )
    raw = np.random.default_rng(1).integers(0, 17, size=(n_samples, 1, 8, 8)).astype(np.float64)
    reference = np.full((1, 8, 8), 4.0)
    targets = [int(t) for t in np.arange(n_samples) % 10]
    got = attribute(model.forward, raw, targets, "occlusion", baseline=reference)
    window, strides = occlusion_window((1, 8, 8))
    want = occlusion(
        model.forward,
        torch.from_numpy(raw),
        targets,
        torch.from_numpy(np.ascontiguousarray(np.broadcast_to(reference, raw.shape))),
        window,
        strides,
    )
    assert np.abs(got.values).max() > 1e-3
    np.testing.assert_array_equal(got.values, want.detach().numpy().astype(np.float64))


def test_numpy_occlusion_with_windows_cut_at_the_edge_equals_captum() -> None:
    """A 3x11x13 input: window 2x2 stride 1 (occlusion_window) and a 4x4 window with stride 3 whose last
    positions run past the edge; a synthetic linear-softmax model stands in for ONNX."""
    import torch

    from evalaction.explain.forward import OnnxForward
    from evalaction.explain.methods import occlusion, occlusion_numpy, occlusion_window

    rng = np.random.default_rng(2)
    w = rng.normal(size=(3 * 11 * 13, 4)).astype(np.float32)

    class Session:
        def run(self, _names: object, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
            return [feed["x"] @ w]

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    forward = OnnxForward(
        Session(),
        input_name="x",
        output_name="y",
        prepare=lambda rows: rows.astype(np.float32),
        to_probabilities=softmax,
        batch_size=50,
    )
    from evalaction.explain.methods import _numpy_rows

    run = _numpy_rows(forward)
    assert run is not None
    x = rng.normal(size=(5, 3, 11, 13))
    base = np.zeros((5, 3, 11, 13))
    targets = [0, 1, 2, 3, 1]
    for window, strides in (occlusion_window((3, 11, 13)), ((3, 4, 4), (3, 3, 3))):
        got = occlusion_numpy(run, x, targets, base[0], window, strides)
        want = occlusion(forward, torch.from_numpy(x), targets, torch.from_numpy(base), window, strides)
        np.testing.assert_array_equal(got, want.detach().numpy().astype(np.float64))

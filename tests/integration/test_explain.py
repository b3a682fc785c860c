"""Attributions on small real models: the ONNX wrapper against torch, IG completeness, exact Shapley values on an
additive model, and a tabular scikit-learn model through skl2onnx getting feature bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from evalaction.explain.forward import OnnxForward, open_explainable
from evalaction.explain.methods import attribute, occlusion, occlusion_window
from evalaction.plan import ModelSpec, Preprocessing

SCALE = 0.0625
SPEC = ModelSpec(path="m", outputs="logits", preprocessing=Preprocessing(scale=SCALE, input_shape=[1, 8, 8]))


def _cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 3),
    ).eval()


def _raw_images(n: int = 4) -> np.ndarray:
    """Digit-like raw rows: integers 0..16, 64 pixels."""
    return np.random.default_rng(0).integers(0, 17, size=(n, 64)).astype(np.float64)


@pytest.fixture(scope="module")
def cnn_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    model = _cnn()
    path = tmp_path_factory.mktemp("cnn") / "cnn.onnx"
    with pytest.warns(DeprecationWarning):  # the TorchScript exporter: 1 s here against 15 s for dynamo
        torch.onnx.export(
            model,
            (torch.zeros(2, 1, 8, 8),),
            str(path),
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
            external_data=False,
            dynamo=False,
        )
    return model, path


def test_occlusion_through_the_onnx_wrapper_equals_occlusion_on_the_torch_model(cnn_onnx) -> None:
    import onnxruntime as ort
    from captum.attr import Occlusion

    model, path = cnn_onnx
    x = torch.from_numpy(_raw_images().reshape(4, 1, 8, 8) * SCALE).float()
    targets = [0, 1, 2, 0]
    window, strides = occlusion_window((1, 8, 8))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wrapped = OnnxForward(
        session,
        input_name="x",
        output_name="logits",
        prepare=lambda rows: rows.reshape(len(rows), 1, 8, 8).astype(np.float32),
        to_probabilities=lambda raw: raw,
        batch_size=7,  # odd chunking on purpose: results must not depend on it
    )
    through_onnx = occlusion(wrapped, x, targets, torch.zeros_like(x), window, strides)
    on_torch = Occlusion(model).attribute(
        x, sliding_window_shapes=window, strides=strides, baselines=0.0, target=targets
    )
    assert float(on_torch.abs().max()) > 1e-2  # a real signal, not two zero maps
    np.testing.assert_allclose(through_onnx.numpy(), on_torch.detach().numpy(), atol=1e-4)


def test_occlusion_through_the_plan_spec_equals_torch_with_preprocessing_and_softmax(cnn_onnx) -> None:
    from captum.attr import Occlusion

    model, path = cnn_onnx
    raw = _raw_images()
    explainable = open_explainable(path, SPEC, role="candidate", task="multiclass", n_classes=3)
    assert not explainable.differentiable
    targets = [2, 2, 1, 0]
    got = attribute(
        explainable.forward, raw.reshape(4, 1, 8, 8), targets, "occlusion", baseline=np.zeros((1, 8, 8))
    )
    window, strides = occlusion_window((1, 8, 8))

    def reference(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model((t * SCALE).float()), dim=1)

    want = Occlusion(reference).attribute(
        torch.from_numpy(raw.reshape(4, 1, 8, 8)), sliding_window_shapes=window, strides=strides, target=targets
    )
    np.testing.assert_allclose(got.values, want.detach().numpy(), atol=1e-4)


@pytest.fixture(scope="module")
def cnn_torchscript(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    model = _cnn()
    path = tmp_path_factory.mktemp("ts") / "cnn.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 1, 8, 8), check_trace=False), str(path))
    return model, path


def _reference_probability(model: torch.nn.Module, raw: np.ndarray, target: int) -> float:
    with torch.no_grad():
        x = torch.from_numpy(raw.reshape(1, 1, 8, 8) * SCALE).float()
        return float(torch.softmax(model(x), dim=1)[0, target])


def test_integrated_gradients_completeness_within_its_reported_delta(cnn_torchscript) -> None:
    model, path = cnn_torchscript
    explainable = open_explainable(path, SPEC, role="candidate", task="multiclass", n_classes=3)
    assert explainable.differentiable and explainable.kind == "torch"
    raw = _raw_images()
    targets = [0, 1, 2, 1]
    out = attribute(
        explainable.forward, raw.reshape(4, 1, 8, 8), targets, "integrated_gradients", baseline=np.zeros((1, 8, 8))
    )
    assert out.delta is not None and out.values.shape == (4, 1, 8, 8)
    zero = np.zeros(64)
    for j, t in enumerate(targets):
        # F(x) - F(baseline), computed on the original module, not through the explained forward function
        gap = _reference_probability(model, raw[j], t) - _reference_probability(model, zero, t)
        total = float(out.values[j].sum())
        assert abs(total - gap) <= abs(float(out.delta[j])) + 1e-6
        assert abs(float(out.delta[j])) < 1e-2 * max(abs(gap), 1e-2)  # and the integral has converged


def test_saliency_is_the_gradient_magnitude(cnn_torchscript) -> None:
    model, path = cnn_torchscript
    explainable = open_explainable(path, SPEC, role="candidate", task="multiclass", n_classes=3)
    raw = _raw_images(2)
    out = attribute(explainable.forward, raw.reshape(2, 1, 8, 8), [1, 2], "saliency", baseline=np.zeros((1, 8, 8)))
    for j, t in enumerate([1, 2]):
        x = torch.from_numpy(raw[j].reshape(1, 1, 8, 8)).requires_grad_()
        torch.softmax(model((x * SCALE).float()), dim=1)[0, t].backward()
        np.testing.assert_allclose(out.values[j], x.grad.abs().numpy()[0], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", ["shapley_value_sampling", "feature_ablation"])
def test_perturbation_methods_are_exact_on_an_additive_model(method: str) -> None:
    """For f(x) = W x each feature's Shapley value (and ablation effect) is W[t, i] (x_i - b_i), whatever the
    sampled orderings."""
    rng = np.random.default_rng(4)
    w = torch.from_numpy(rng.normal(size=(3, 6)))
    x = rng.normal(size=(5, 6))
    b = rng.normal(size=6)
    targets = [0, 1, 2, 1, 0]
    out = attribute(lambda t: t @ w.T, x, targets, method, baseline=b, seed=3)
    want = w.numpy()[targets] * (x - b)
    np.testing.assert_allclose(out.values, want, atol=1e-6)  # Captum sums Shapley terms in float32


def test_shapley_sampling_is_reproducible_and_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)

    def forward(t: torch.Tensor) -> torch.Tensor:
        return torch.stack([t[:, 0] * t[:, 1], t[:, 2]], dim=1)  # an interaction: orderings matter

    x = np.array([[1.0, 2.0, 3.0]])
    a = attribute(forward, x, [0], "shapley_value_sampling", baseline=np.zeros(3), seed=7)
    b = attribute(forward, x, [0], "shapley_value_sampling", baseline=np.zeros(3), seed=7)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_allclose(a.values.sum(), 2.0)  # efficiency: the values sum to f(x) - f(b)
    assert torch.rand(1) == before


# ------------------------------------------------------------------------------------ tabular, end to end

TABULAR_PLAN = """\
version: 1
task: binary
dataset:
  path: data/test.csv
  label_column: label
  id_column: id
  train_path: data/train.csv
models:
  baseline:
    path: models/baseline.onnx
    output_name: probabilities
    preprocessing: {dtype: float32}
  candidate:
    path: models/candidate.onnx
    output_name: probabilities
    preprocessing: {dtype: float32}
metrics:
  primary: accuracy
readiness: {enabled: false}
errors:
  attributions: {max_samples: 4}
"""


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory: pytest.TempPathFactory):
    """breast_cancer (ships with scikit-learn): two logistic regressions via skl2onnx, zipmap off."""
    import pandas as pd
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from evalaction.pipeline import run_pipeline
    from evalaction.plan import load_plan

    root = tmp_path_factory.mktemp("tabular")
    (root / "data").mkdir()
    (root / "models").mkdir()
    data = load_breast_cancer()
    x, y = data.data, data.target
    names = [str(n) for n in data.feature_names]
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:400], order[400:]
    models = {
        "candidate": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
        "baseline": make_pipeline(StandardScaler(), LogisticRegression(C=0.002, max_iter=2000)),
    }
    for role, pipe in models.items():
        pipe.fit(x[train], y[train])
        onx = to_onnx(pipe, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
        (root / "models" / f"{role}.onnx").write_bytes(onx.SerializeToString())
    for part, rows in (("train", train), ("test", test)):
        frame = pd.DataFrame(x[rows], columns=names)
        frame.insert(0, "label", y[rows])
        frame.insert(0, "id", [f"bc-{i:03d}" for i in rows])
        frame.to_csv(root / "data" / f"{part}.csv", index=False)
    (root / "evalaction.yml").write_text(TABULAR_PLAN)
    out = root / "out"
    result = run_pipeline(loaded=load_plan(root / "evalaction.yml"), out_dir=out)
    return result, out, models["candidate"], models["baseline"], x[train].mean(axis=0), names


def test_tabular_model_gets_feature_bars(tabular_run) -> None:
    result, out, _, _, _, names = tabular_run
    report = result.errors.attributions
    assert report is not None and report.methods == ["feature_ablation"] and report.seconds > 0
    assert 1 <= len(report.samples) <= 4
    html = (out / "report.html").read_text()
    for sample in report.samples:
        assert (out / sample.figure).is_file()
        assert sample.figure.endswith(".png")
        roles = [a.role for a in sample.attributions]
        assert roles == ["baseline", "candidate"]
        for a in sample.attributions:
            assert len(a.top_features) == 5 and all(name in names for name, _ in a.top_features)
        assert f"attributions for {sample.id}" in html
    assert html.count('src="data:image/png;base64,') >= len(report.samples)


def test_tabular_feature_ablation_equals_scikit_learn(tabular_run) -> None:
    """Each listed feature contribution is P(target | x) - P(target | x with that feature at the training mean),
    recomputed here with scikit-learn's own predict_proba."""
    import pandas as pd

    result, out, candidate, baseline, train_mean, names = tabular_run
    test = pd.read_csv(out.parent / "data" / "test.csv").set_index("id")
    pipes = {"candidate": candidate, "baseline": baseline}
    checked = 0
    for sample in result.errors.attributions.samples:
        row = test.loc[sample.id, names].to_numpy(dtype=np.float64)
        for a in sample.attributions:
            pipe = pipes[a.role]
            t = list(pipe.classes_).index(int(a.target))
            p = pipe.predict_proba(row[None])[0, t]
            assert a.target_probability == pytest.approx(p, abs=1e-5)
            for name, value in a.top_features:
                k = names.index(name)
                ablated = row.copy()
                ablated[k] = train_mean[k]
                assert value == pytest.approx(p - pipe.predict_proba(ablated[None])[0, t], abs=1e-4)
                checked += 1
    assert checked >= 10


# ------------------------------------------------------------------------------- torch models, through the stage


def test_torch_models_get_integrated_gradients_and_saliency_through_the_stage(
    demo_dir: Path, tmp_path: Path
) -> None:
    """Two TorchScript CNNs on the demo's digits: the stage picks Integrated Gradients and Saliency, reports the
    convergence deltas, and draws both models side by side."""
    from evalaction.artifacts import InferenceResult, ModelRun
    from evalaction.datasets import load_dataset
    from evalaction.plan import load_plan
    from evalaction.predictions import write_predictions
    from evalaction.stages.errors import run_errors
    from evalaction.stages.plan import run_plan

    paths = {}
    for seed, role in ((1, "baseline"), (2, "candidate")):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(256, 10)
        ).eval()
        paths[role] = demo_dir / "models" / f"{role}.pt"
        torch.jit.save(torch.jit.trace(model, torch.zeros(1, 1, 8, 8), check_trace=False), str(paths[role]))
    text = (demo_dir / "evalaction.yml").read_text().replace("baseline.onnx", "baseline.pt")
    text = text.replace("candidate.onnx", "candidate.pt") + "errors:\n  attributions: {max_samples: 3}\n"
    (demo_dir / "evalaction.yml").write_text(text)
    loaded = load_plan(demo_dir / "evalaction.yml")
    dataset = load_dataset(loaded.plan.dataset, loaded.base_dir, "multiclass")
    plan = run_plan(loaded=loaded, dataset=dataset, train=None)
    runs = {}
    for role, path in paths.items():
        module = torch.jit.load(str(path))
        with torch.no_grad():
            x = torch.from_numpy(dataset.features * SCALE).float().reshape(-1, 1, 8, 8)
            scores = torch.softmax(module(x), dim=1).double().numpy()
        write_predictions(
            tmp_path / f"predictions_{role}.parquet",
            ids=dataset.ids,
            y=dataset.y,
            scores=scores,
            classes=dataset.classes,
            slices=dataset.slices,
            batch_index=np.zeros(len(dataset), dtype=np.int32),
            batch_latency_ms=np.array([1.0]),
            task="multiclass",
        )
        runs[role] = ModelRun(
            role=role,
            path=str(path),
            sha256="0" * 64,
            size_bytes=1,
            format="torch",
            runner="test",
            provider="cpu",
            threads=1,
            batch_size=len(dataset),
            n_samples=len(dataset),
            n_batches=1,
            wall_s=0.1,
            samples_per_s=1.0,
            predictions_path=f"predictions_{role}.parquet",
        )
    inference = InferenceResult(
        candidate=runs["candidate"], baseline=runs["baseline"], classes=dataset.classes, task="multiclass"
    )
    result = run_errors(
        plan=plan,
        inference=inference,
        dataset=dataset,
        candidate_path=paths["candidate"],
        baseline_path=paths["baseline"],
        out_dir=tmp_path,
    )
    report = result.attributions
    assert report is not None and report.methods == ["integrated_gradients", "saliency"]
    assert len(report.samples) == 3 and result.n_negative_flips > 0
    assert report.samples[0].category == "negative_flip"
    for sample in report.samples:
        ig = [a for a in sample.attributions if a.method == "integrated_gradients"]
        assert [a.role for a in ig] == ["baseline", "candidate"]
        assert all(a.convergence_delta is not None for a in ig)
        assert all(a.convergence_delta is None for a in sample.attributions if a.method == "saliency")
        assert (tmp_path / sample.figure).is_file()
    assert report.max_abs_convergence_delta is not None and report.max_abs_convergence_delta < 1e-2

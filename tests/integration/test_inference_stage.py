"""The inference stage on real models and the demo's test set: artifacts, metadata, Modal via .local(), safety."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from evalaction.artifacts import ModelRun, PlanResult
from evalaction.datasets import load_dataset
from evalaction.exceptions import ModalUnavailable, UnsafeModelFormat
from evalaction.plan import load_plan
from evalaction.runners.modal import LocalShardExecutor
from evalaction.stages.inference import InferenceOptions, run_inference
from evalaction.stages.plan import run_plan
from tests.conftest import DEMO
from tests.runner_models import build_torch_models, digits_inputs, torch_reference

PLAN = """\
version: 1
task: multiclass
dataset:
  path: data/test.csv
  label_column: label
  id_column: id
  feature_columns: ["p*"]
  class_names: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
  slice_columns: [ink]
models:
  candidate:
{candidate}
  baseline:
    path: models/baseline.onnx
    outputs: logits
    preprocessing: {{scale: 0.0625, input_shape: [1, 8, 8]}}
inference:
  batch_size: 50
  threads: 1
  seed: 7
{inference}
metrics:
  primary: accuracy
gates:
  thresholds:
    accuracy: ">= 0.5"
"""

TORCH_CANDIDATE = """\
    path: cnn.safetensors
    module: nets.digits:DigitCNN
    module_kwargs: {channels: 4}
    outputs: logits
    preprocessing: {scale: 0.0625, input_shape: [1, 8, 8]}"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo folder plus a repo module and a safetensors CNN, as a user's repository would hold them."""
    root = tmp_path_factory.mktemp("repo") / "digits"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("__pycache__", "out"))
    built = build_torch_models(root, export=False)
    return {"root": root, **built}


def _plan(root: Path, candidate: str = TORCH_CANDIDATE, inference: str = "") -> tuple[PlanResult, Any]:
    (root / "evalaction.yml").write_text(PLAN.format(candidate=candidate, inference=inference))
    loaded = load_plan(root / "evalaction.yml")
    dataset = load_dataset(loaded.plan.dataset, loaded.base_dir, loaded.plan.task)
    return run_plan(loaded=loaded, dataset=dataset, train=None), dataset


def _run(repo: dict[str, Any], out: Path, **kw: Any) -> tuple[Any, Any]:
    plan, dataset = _plan(repo["root"], **{k: kw.pop(k) for k in ("candidate", "inference") if k in kw})
    out.mkdir(exist_ok=True)
    result = run_inference(
        plan=plan,
        dataset=dataset,
        candidate_path=repo["root"] / plan.plan.models.candidate.path,
        baseline_path=repo["root"] / "models/baseline.onnx",
        out_dir=out,
        **kw,
    )
    return result, dataset


def test_torch_candidate_and_onnx_baseline_write_complete_predictions(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort
    from scipy.special import softmax

    result, dataset = _run(repo, tmp_path)
    frame = pd.read_parquet(tmp_path / result.candidate.predictions_path)
    test = pd.read_csv(DEMO / "data/test.csv")
    assert list(frame.id) == list(test.id)
    assert list(frame.label) == list(test.label)
    scores = frame[[f"score:{k}" for k in range(10)]].to_numpy()
    want = softmax(torch_reference(repo["model"], digits_inputs(dataset)).astype(np.float64), axis=1)
    np.testing.assert_allclose(scores, want, atol=1e-5)
    np.testing.assert_array_equal(frame.pred, scores.argmax(axis=1))
    top2 = np.sort(scores, axis=1)[:, -2:]
    np.testing.assert_allclose(frame.confidence, top2[:, 1])
    np.testing.assert_allclose(frame.margin, top2[:, 1] - top2[:, 0])
    assert list(frame.batch) == [i // 50 for i in range(360)]
    assert frame.groupby("batch").batch_latency_ms.nunique().eq(1).all()
    assert str(frame.timestamp.dtype) == "datetime64[us, UTC]" and frame.timestamp.is_monotonic_increasing
    assert list(frame["slice:ink"]) == list(test.ink)

    base = pd.read_parquet(tmp_path / result.baseline.predictions_path)
    session = ort.InferenceSession(str(DEMO / "models/baseline.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"input": digits_inputs(dataset)})[0].astype(np.float64)
    np.testing.assert_allclose(
        base[[f"score:{k}" for k in range(10)]].to_numpy(), softmax(onnx_logits, axis=1), atol=1e-5
    )


def test_run_metadata(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    loaded: dict[str, Any] = {}
    result, _ = _run(repo, tmp_path, torch_models=loaded)
    assert list(loaded) == ["candidate"] and isinstance(loaded["candidate"], torch.nn.Module)  # for readiness
    cand: ModelRun = result.candidate
    path = repo["root"] / "cnn.safetensors"
    assert cand.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cand.size_bytes == path.stat().st_size
    assert (cand.format, cand.kind, cand.runner, cand.provider, cand.device) == (
        "torch",
        "state_dict",
        "torch",
        "torch:cpu",
        "cpu",
    )
    assert (cand.threads, cand.batch_size, cand.n_samples, cand.n_batches, cand.seed) == (1, 50, 360, 8, 7)
    assert cand.versions["torch"] == torch.__version__ and "safetensors" in cand.versions
    assert {"evalaction", "numpy", "python"} <= set(cand.versions)
    assert cand.started_at.endswith("+00:00") and cand.warnings == []
    base: ModelRun = result.baseline
    assert (base.format, base.kind, base.runner, base.provider) == (
        "onnx",
        "onnx",
        "onnxruntime",
        "CPUExecutionProvider",
    )
    assert "onnxruntime" in base.versions
    assert ModelRun.model_validate_json(cand.model_dump_json()) == cand


def test_modal_through_local_equals_the_local_stage_exactly(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local, _ = _run(repo, tmp_path / "local")
    sharded, _ = _run(
        repo,
        tmp_path / "modal",
        inference="  modal: {shard_size: 120, timeout_s: 300}",  # no gpu: the function body checks it gets one
        shard_executor=LocalShardExecutor(),
    )
    for role in ("candidate", "baseline"):
        a = pd.read_parquet(tmp_path / "local" / f"predictions_{role}.parquet")
        b = pd.read_parquet(tmp_path / "modal" / f"predictions_{role}.parquet")
        score_cols = [c for c in a.columns if c.startswith("score:")] + ["pred", "confidence", "margin", "batch"]
        pd.testing.assert_frame_equal(
            a[["id", "label", *score_cols]], b[["id", "label", *score_cols]], check_exact=True
        )
    assert sharded.candidate.runner == "modal" and sharded.candidate.provider.startswith("modal:cpu:")
    assert "modal" in sharded.candidate.versions


def test_modal_without_credentials_fails_before_any_model_runs(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import time

    t0 = time.monotonic()
    with pytest.raises(ModalUnavailable, match="no Modal token was found"):
        _run(repo, tmp_path, inference="  modal: {shard_size: 100}")
    assert time.monotonic() - t0 < 5
    assert not list(tmp_path.glob("*.parquet"))


def test_own_predictions_file_as_the_candidate(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    test = pd.read_csv(DEMO / "data/test.csv")
    labels = test.label.to_numpy().copy()
    labels[:36] = (labels[:36] + 1) % 10  # 10 % wrong
    pd.DataFrame({"id": test.id[::-1], "pred": labels[::-1]}).to_csv(repo["root"] / "mine.csv", index=False)
    result, _ = _run(repo, tmp_path, candidate="    path: mine.csv")
    frame = pd.read_parquet(tmp_path / "predictions_candidate.parquet")
    assert (frame.pred == frame.label).mean() == pytest.approx(0.9)
    assert result.candidate.runner == "predictions-file" and result.candidate.format == "predictions"
    assert result.candidate.warnings and "one-hot" in result.candidate.warnings[0]


def test_progress_is_reported_through_the_hook(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, list[int]] = {}

    class Hook:
        def __init__(self, label: str, total: int) -> None:
            self.label = label
            seen[label] = [total]

        def update(self, n: int) -> None:
            seen[self.label].append(n)

        def close(self) -> None:
            seen[self.label].append(-1)

    _run(repo, tmp_path, progress=Hook)
    for role in ("candidate", "baseline"):
        total, *steps, closed = seen[role]
        assert total == 360 and sum(steps) == 360 and len(steps) == 8 and closed == -1


def test_untrusted_refuses_allowed_pickle(repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    candidate = "    path: cnn.ts\n    allow_pickle: true\n    outputs: logits\n    preprocessing: {scale: 0.0625, input_shape: [1, 8, 8]}"
    result, _ = _run(repo, tmp_path / "trusted", candidate=candidate)
    assert result.candidate.kind == "torchscript"
    with pytest.raises(UnsafeModelFormat, match="comes from a fork"):
        _run(repo, tmp_path / "fork", candidate=candidate, untrusted=True)


def test_cli_untrusted_flag_exits_2_with_one_line(repo) -> None:  # type: ignore[no-untyped-def]
    from evalaction.cli import main

    candidate = "    path: cnn.ts\n    allow_pickle: true\n    outputs: logits\n    preprocessing: {scale: 0.0625, input_shape: [1, 8, 8]}"
    _plan(repo["root"], candidate=candidate)
    out = repo["root"] / "out-cli"
    result = CliRunner().invoke(
        main, ["run", "-c", str(repo["root"] / "evalaction.yml"), "-o", str(out), "--untrusted"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: candidate model cnn.ts: a TorchScript archive is pickle-based and this pull request comes from a "
        "fork, so it is never unpickled (`allow_pickle` is ignored for forks); export the model to ONNX or save its "
        "state_dict as safetensors"
    )


def test_options_map_onto_the_stage_arguments() -> None:
    import inspect

    params = set(inspect.signature(run_inference).parameters)
    assert set(InferenceOptions().as_kwargs()) <= params


@pytest.mark.parametrize(("role", "cls"), [("candidate", "DigitCNN"), ("baseline", "DigitMLP")])
def test_demo_safetensors_equal_the_demo_onnx(role: str, cls: str) -> None:
    """The demo ships each model twice, from the same weights: torch (state_dict) and ONNX agree within 1e-5."""
    import sys
    import types

    from evalaction.plan import ModelSpec, Preprocessing
    from evalaction.runners.factory import open_runner
    from tests.runner_models import digits_dataset

    digits = digits_dataset()
    pre = Preprocessing(scale=0.0625, input_shape=[1, 8, 8])
    onnx_spec = ModelSpec(path=f"models/{role}.onnx", outputs="logits", preprocessing=pre)
    st_spec = ModelSpec(
        path=f"models/{role}.safetensors", outputs="logits", preprocessing=pre, module=f"model:{cls}"
    )
    decoy = sys.modules.setdefault(
        "model", types.ModuleType("model")
    )  # another `model` must not shadow the demo's
    try:
        st = open_runner(st_spec, DEMO / st_spec.path, role, threads=1, code_root=DEMO).run(digits, batch_size=64)
    finally:
        if sys.modules.get("model") is decoy:
            del sys.modules["model"]
    onnx = open_runner(onnx_spec, DEMO / onnx_spec.path, role, threads=1).run(digits, batch_size=64)
    # torch and ONNX Runtime sum in different orders (and differently per CPU's vector width): logits near 20 may
    # differ by a few float32 ulps (1.9e-6 each there), so the tolerance is relative as well as absolute
    np.testing.assert_allclose(st.scores, onnx.scores, atol=1e-5, rtol=1e-5)

"""Shared runner pieces: safe-file checks, the pickle gate, preprocessing, output checks, progress."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from evalaction.exceptions import (
    CannotLoadModel,
    LfsPointerInsteadOfWeights,
    ModelOutputInvalid,
    UnsafeModelFormat,
)
from evalaction.plan import ModelSpec, Preprocessing
from evalaction.runners.base import check_model_file, preprocess, run_batches, to_scores
from evalaction.runners.factory import open_runner
from evalaction.runners.progress import LineProgress, NoProgress, TqdmProgress, terminal_progress
from tests.runner_models import write_evil_pickle

# ------------------------------------------------------------------------------------------ safe-file checks


def test_lfs_pointer_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    with pytest.raises(LfsPointerInsteadOfWeights) as err:
        check_model_file(path, "candidate")
    assert str(err.value) == (
        "candidate model m.onnx: found a Git LFS pointer (64 bytes), not the weights; fetch them with "
        "`git lfs pull`, or set `lfs: true` on actions/checkout"
    )


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(CannotLoadModel, match=r"^baseline model e.onnx: the file is empty \(0 bytes\); commit"):
        check_model_file(tmp_path / "e.onnx", "baseline")
    with pytest.raises(CannotLoadModel, match=r"no such file; fix the model's `path`"):
        check_model_file(tmp_path / "gone.onnx", "baseline")


@pytest.mark.parametrize("suffix", [".pkl", ".joblib"])
def test_pickle_files_are_never_loaded(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / "pwned.txt"
    path = write_evil_pickle(tmp_path / f"model{suffix}", target)
    spec = ModelSpec(path=path.name, allow_pickle=True)
    with pytest.raises(UnsafeModelFormat) as err:
        open_runner(spec, path, "candidate")
    assert str(err.value).startswith(f"candidate model model{suffix}: pickled models are never loaded")
    assert "skl2onnx" in str(err.value)
    assert not target.exists()


def test_the_evil_pickle_really_runs_code(tmp_path: Path) -> None:
    """Control for the refusal tests: unpickling the fixture does create the file."""
    import pickle

    target = tmp_path / "pwned.txt"
    pickle.loads(write_evil_pickle(tmp_path / "m.pkl", target).read_bytes())
    assert target.read_text() == "pwned"


# ------------------------------------------------------------------------------------------------ preprocess


def test_preprocess_matches_the_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(5, 2 * 3 * 3)).astype(np.float64)
    pre = Preprocessing(scale=0.5, shift=1.0, mean=[1.0, 2.0], std=[2.0, 4.0], input_shape=[2, 3, 3])
    got = preprocess(x, pre)
    want = (x * 0.5 + 1.0).reshape(5, 2, 3, 3)
    want = (want - np.array([1.0, 2.0]).reshape(1, 2, 1, 1)) / np.array([2.0, 4.0]).reshape(1, 2, 1, 1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_preprocess_wrong_input_shape_is_one_line() -> None:
    with pytest.raises(CannotLoadModel) as err:
        preprocess(np.zeros((2, 64)), Preprocessing(input_shape=[1, 7, 7]))
    assert str(err.value) == (
        "preprocessing: `input_shape` [1, 7, 7] holds 49 values but each sample has 64; fix "
        "`preprocessing.input_shape`, or `dataset.feature_columns` if a feature column is missing"
    )


# ---------------------------------------------------------------------------------------------- output check

SPEC_LOGITS = ModelSpec(path="m.onnx", outputs="logits")
SPEC_PROBS = ModelSpec(path="m.onnx", outputs="probabilities")


def test_softmax_of_logits_matches_scipy() -> None:
    from scipy.special import softmax

    raw = np.random.default_rng(1).normal(size=(7, 4)) * 5
    np.testing.assert_allclose(to_scores(raw, SPEC_LOGITS, "multiclass", 4, "m"), softmax(raw, axis=1), rtol=1e-12)


def test_binary_single_logit_becomes_two_columns() -> None:
    from scipy.special import expit

    raw = np.array([[-2.0], [0.0], [3.0]])
    got = to_scores(raw, SPEC_LOGITS, "binary", 2, "m")
    np.testing.assert_allclose(got[:, 1], expit(raw[:, 0]))
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("raw", "spec", "n_classes", "message"),
    [
        (
            np.array([[0.5, np.nan], [0.5, 0.5], [np.inf, 0.0]]),
            SPEC_PROBS,
            2,
            "candidate model m.onnx: 2 samples have NaN or infinite outputs; check the model and its preprocessing",
        ),
        (
            np.array([[0.5, 0.6], [0.2, 0.2]]),
            SPEC_PROBS,
            2,
            "candidate model m.onnx: outputs are not probabilities (row sums range 0.4..1.1); set `outputs: logits` "
            "for this model",
        ),
        (
            np.zeros((2, 3)),
            SPEC_LOGITS,
            10,
            "candidate model m.onnx: outputs 3 classes but the plan has 10; fix `dataset.class_names` or the model",
        ),
        (
            np.zeros((2, 1)),
            SPEC_LOGITS,
            3,
            "candidate model m.onnx: one output column for a multiclass task with 3 classes; export per-class outputs",
        ),
    ],
    ids=["nan-inf", "not-probabilities", "class-count", "one-column-multiclass"],
)
def test_bad_outputs_are_one_line(raw: np.ndarray, spec: ModelSpec, n_classes: int, message: str) -> None:
    task = "multiclass" if n_classes != 2 else "binary"
    with pytest.raises(ModelOutputInvalid) as err:
        to_scores(raw, spec, task, n_classes, "candidate model m.onnx")
    assert str(err.value) == message


# ------------------------------------------------------------------------------------------------ batch loop


class _Rows:
    def __init__(self, x: np.ndarray) -> None:
        self.x, self.ids = x, np.arange(len(x))

    def __len__(self) -> int:
        return len(self.x)

    def batches(self, batch_size: int):  # type: ignore[no-untyped-def]
        for s in range(0, len(self.x), batch_size):
            yield s, self.x[s : s + batch_size]


def test_run_batches_fills_outputs_in_order_with_batch_indices() -> None:
    x = np.arange(23, dtype=np.float64).reshape(23, 1)
    out = run_batches(
        _Rows(x),
        batch_size=5,
        preprocessing=Preprocessing(dtype="float64"),
        predict=lambda xb, b: np.c_[xb, -xb],
        model_name="m",
    )
    np.testing.assert_array_equal(out.scores, np.c_[x, -x])
    np.testing.assert_array_equal(out.batch_index, np.repeat(np.arange(5), 5)[:23])
    assert out.batch_latency_ms.shape == (5,) and out.batch_finished_at.shape == (5,)
    assert (np.diff(out.batch_finished_at) >= 0).all()


def test_run_batches_checks_the_first_batch_before_the_rest() -> None:
    calls: list[int] = []

    def predict(xb: np.ndarray, b: int) -> np.ndarray:
        calls.append(b)
        return np.full((len(xb), 2), np.nan)

    def check(raw: np.ndarray) -> None:
        to_scores(raw, SPEC_PROBS, "binary", 2, "m")

    with pytest.raises(ModelOutputInvalid, match="NaN"):
        run_batches(
            _Rows(np.zeros((50, 1))),
            batch_size=10,
            preprocessing=Preprocessing(),
            predict=predict,
            model_name="m",
            check=check,
        )
    assert calls == [0]


def test_run_batches_refuses_outputs_without_a_batch_axis() -> None:
    with pytest.raises(ModelOutputInvalid) as err:
        run_batches(
            _Rows(np.zeros((4, 1))),
            batch_size=4,
            preprocessing=Preprocessing(),
            predict=lambda xb, b: np.zeros(10),
            model_name="candidate model m.onnx",
        )
    assert str(err.value) == (
        "candidate model m.onnx: batch 0 has 4 samples but the output has shape [10]; export the model with "
        "the batch as the first output axis"
    )


# -------------------------------------------------------------------------------------------------- progress


def test_line_progress_writes_one_line_per_tenth() -> None:
    stream = io.StringIO()
    ticks = iter(float(t) for t in range(100))
    hook = LineProgress("candidate", 1000, stream, clock=lambda: next(ticks))
    for _ in range(40):
        hook.update(25)  # 40 updates of 2.5 % each
    hook.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[1].split("%")[0].strip() for line in lines] == [str(p) for p in range(10, 101, 10)]
    assert lines[0] == "candidate: 10% (100/1000 samples, 100 samples/s)"  # clock: 0 at start, 1 at the line


def test_line_progress_reports_the_step_reached_when_a_batch_jumps_several() -> None:
    stream = io.StringIO()
    hook = LineProgress("baseline", 10, stream)
    hook.update(7)
    hook.update(3)
    assert [line.split("%")[0] for line in stream.getvalue().splitlines()] == ["baseline: 70", "baseline: 100"]


def test_terminal_progress_picks_a_bar_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = terminal_progress(tty)("candidate", 100)
    assert isinstance(bar, TqdmProgress)
    bar.update(100)
    bar.close()
    assert "samples/s" in tty.getvalue() and "100/100" in tty.getvalue()
    assert isinstance(terminal_progress(io.StringIO())("candidate", 100), LineProgress)
    assert isinstance(NoProgress(), NoProgress)


@pytest.mark.parametrize(
    "pre",
    [
        Preprocessing(scale=0.0625, input_shape=[1, 8, 8]),
        Preprocessing(scale=0.37, shift=-1.3),
        Preprocessing(shift=2.5, input_shape=[64]),
        Preprocessing(),
        Preprocessing(dtype="float64"),
        Preprocessing(scale=3.0, dtype="float64"),
        Preprocessing(mean=[0.5], std=[0.25], input_shape=[1, 8, 8]),
        Preprocessing(dtype="int64"),
    ],
    ids=["scale-reshape", "scale-shift", "shift", "cast-only", "identity", "float64", "mean-std", "int64"],
)
def test_streamed_preprocessor_is_bit_identical_to_the_reference(pre: Preprocessing) -> None:
    from evalaction.runners.base import Preprocessor

    rng = np.random.default_rng(3)
    prepare = Preprocessor(pre)
    for n, dtype in ((17, np.float64), (17, np.float64), (5, np.float64), (9, np.float32), (9, np.int64)):
        # the buffer is reused, then a short batch; float32 and integer rows as some readers store them
        x = (rng.normal(size=(n, 64)) * 7).astype(dtype)
        got, want = prepare(x), preprocess(x, pre)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)

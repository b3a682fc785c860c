"""Regenerate the embedded demo (data/*.csv, models/*.onnx, models/*.safetensors) from a seed.

    python examples/digits/make_demo.py [--out DIR] [--seed 0]

The story the demo tells: the candidate (a small CNN) beats the baseline (a briefly trained MLP) on the
whole test set, but it was trained on a set that lost most of its sevens (`WEAKENED_CLASS`), so its recall
on that class is clearly worse. A per-class look, not the headline accuracy, is what catches it.

The CSVs come back byte for byte on any machine (ints from a seeded split). The models come back byte for byte
on the AMD EPYC that made them; on an Intel Xeon (AVX-512/AMX) some float32 sums still round apart and training
grows that, so `tests/integration/test_demo_models.py` pins what the demo promises instead of the bytes: the
same ONNX graph, the same predictions on all but a few test samples, accuracy and per-class recall within two
samples. Why the weights are this close across machines (each switch below was tried here, on an AMD EPYC
with AVX2: flipping it changed the trained weights):
- ATen compiles its CPU kernels once per instruction set and picks one at run time; AVX2 and the portable
  kernels even round the float32 weight initialisation differently (176 of 2410 MLP weights, by one ulp),
  and minibatch Adam grows that into differences of 0.1 in the CNN's weights.
  `ATEN_CPU_CAPABILITY=default` picks the portable kernels everywhere.
- MKL's SGEMM picks a code path per CPU; `MKL_CBWR=COMPATIBLE,STRICT` (MKL's "conditional numerical
  reproducibility") fixes one that does not depend on the CPU's vendor or features, nor on alignment.
- oneDNN (mkldnn) JIT-compiles convolutions per CPU (capping its ISA at SSE4.1 changed the weights), so it
  is switched off, and NNPACK with it; convolutions then run as im2col + the SGEMM above.
- One thread, `torch.use_deterministic_algorithms(True)`, a seeded generator for the minibatch order.
On ARM, MKL is absent and the test skips the comparison.
These are process-wide and must be set before torch starts, so `build_demo` runs the work in a child
process with `REPRODUCIBLE_ENV`; running this file as a script sets them before importing torch.
The ONNX files come from the TorchScript exporter (`dynamo=False`). The dynamo exporter was
byte-deterministic too when tried, but it took 5-15 s per model against well under a second, and its bytes
also depend on the installed onnxscript (which rewrites the graph), while these depend on torch alone,
pinned at 2.13.0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPRODUCIBLE_ENV = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE,STRICT",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
TEST_FRACTION = 0.2
PIXEL_MAX = 16  # load_digits pixels are ints in 0..16
N_CLASSES = 10
INK_LEVELS = ("low", "mid", "high")
# The candidate's training set keeps one seven in KEEP_ONE_IN (5 of 143), as if a data pipeline had lost
# the rest. Tried on seeds 0-3: the candidate then wins overall by 1.1-2.5 points and loses 11-33 points
# of recall on sevens; every seed tried, not only seed 0, tells the same story.
WEAKENED_CLASS = 7
KEEP_ONE_IN = 30
BATCH_SIZE = 64
LEARNING_RATE = 0.01
# The baseline is trained briefly on purpose: a plausible "last release" that the candidate improves on.
BASELINE_EPOCHS = 5
CANDIDATE_EPOCHS = 20
OPSET = 17
DEFAULT_OUT = Path(__file__).resolve().parent
OUTPUTS = (
    "data/train.csv",
    "data/test.csv",
    "models/baseline.onnx",
    "models/baseline.safetensors",
    "models/candidate.onnx",
    "models/candidate.safetensors",
)


@dataclass(frozen=True)
class Split:
    """One side of the train/test split: original indices, labels, int pixels (N, 64), ink levels."""

    index: np.ndarray
    label: np.ndarray
    pixels: np.ndarray
    ink: list[str]


def split_digits(seed: int) -> tuple[Split, Split, tuple[float, float]]:
    """Stratified 80/20 split of scikit-learn's digits, rows in original order, and the ink cut points."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = digits.data.astype(np.int64)
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=seed
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    ink = pixels.sum(axis=1)
    # Tertiles of the TRAIN set only, applied to both sides, so the slice definition does not peek at test.
    low_cut, high_cut = (float(q) for q in np.quantile(ink[train_idx], [1 / 3, 2 / 3]))

    def side(idx: np.ndarray) -> Split:
        levels = [INK_LEVELS[int(v > low_cut) + int(v > high_cut)] for v in ink[idx]]
        return Split(index=idx, label=labels[idx], pixels=pixels[idx], ink=levels)

    return side(train_idx), side(test_idx), (low_cut, high_cut)


def write_csv(split: Split, path: Path) -> None:
    """Write id,label,ink,p00..p63 with ints only, so the bytes cannot carry float noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["id", "label", "ink"] + [f"p{i:02d}" for i in range(split.pixels.shape[1])]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for idx, label, level, row in zip(split.index, split.label, split.ink, split.pixels, strict=True):
            writer.writerow([f"digit-{idx:04d}", int(label), level, *(int(p) for p in row)])


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """Int pixels (N, 64) in 0..16 -> float32 (N, 1, 8, 8) in [0, 1], the models' input."""
    return (pixels.astype(np.float32) / PIXEL_MAX).reshape(-1, 1, 8, 8)


def candidate_rows(labels: np.ndarray) -> np.ndarray:
    """Row mask of the candidate's training set: every row except most of WEAKENED_CLASS."""
    weakened = labels == WEAKENED_CLASS
    kept = np.zeros_like(weakened)
    kept[np.flatnonzero(weakened)[::KEEP_ONE_IN]] = True
    return ~weakened | kept


def train(model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int) -> Any:
    """Adam on cross-entropy, minibatches in an order drawn from a generator seeded with `seed`."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
    return model.eval()


def export(model: Any, stem: Path) -> None:
    """Write `<stem>.onnx` (single file, `input` -> `logits`, dynamic batch) and `<stem>.safetensors`."""
    import torch
    from safetensors.torch import save_file

    stem.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, 1, 8, 8)
    with warnings.catch_warnings():
        # torch >= 2.9 warns that the TorchScript exporter is legacy; it is chosen on purpose (docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(stem.with_suffix(".onnx")),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,  # see the module docstring: bytes depend on torch alone
            external_data=False,
        )
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(stem.with_suffix(".safetensors")))


def evaluate_onnx(path: Path, test: Split) -> dict[str, Any]:
    """Accuracy and per-class recall of one ONNX file on the test split, with ONNX Runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": to_model_input(test.pixels)})
    predicted = np.asarray(logits).argmax(axis=1)
    correct = predicted == test.label
    recall = [float(correct[test.label == k].mean()) for k in range(N_CLASSES)]
    return {"accuracy": float(correct.mean()), "recall": recall, "onnx_bytes": path.stat().st_size}


def sha256_of_outputs(root: Path) -> dict[str, str]:
    """sha256 of every file this script writes, keyed by path relative to `root`."""
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in OUTPUTS}


def _pin_kernels() -> None:
    """Switch torch to the reproducible kernels; refuse if the process started without REPRODUCIBLE_ENV."""
    import torch

    found = {k: os.environ.get(k) for k in REPRODUCIBLE_ENV}
    if found != REPRODUCIBLE_ENV or torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        raise RuntimeError(
            f"make_demo needs {REPRODUCIBLE_ENV} set before torch is imported, found {found} and CPU "
            f"capability {torch.backends.cpu.get_cpu_capability()}; call build_demo() or run the script"
        )
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)


def _build_here(out_dir: Path, seed: int) -> dict[str, Any]:
    """Everything, in this process (which must have REPRODUCIBLE_ENV from its start)."""
    import torch

    from examples.digits.model import DigitCNN, DigitMLP

    _pin_kernels()
    train_split, test_split, cuts = split_digits(seed)
    write_csv(train_split, out_dir / "data" / "train.csv")
    write_csv(test_split, out_dir / "data" / "test.csv")

    x_train, y_train = to_model_input(train_split.pixels), train_split.label
    started, started_cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    baseline = train(DigitMLP(), x_train, y_train, epochs=BASELINE_EPOCHS, seed=seed)
    keep = candidate_rows(y_train)
    torch.manual_seed(seed)
    candidate = train(DigitCNN(), x_train[keep], y_train[keep], epochs=CANDIDATE_EPOCHS, seed=seed)
    train_seconds, train_cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu

    export(baseline, out_dir / "models" / "baseline")
    export(candidate, out_dir / "models" / "candidate")
    return {
        "seed": seed,
        "n_train": len(y_train),
        "n_test": len(test_split.label),
        "ink_cut_points": list(cuts),
        "weakened_class": WEAKENED_CLASS,
        "candidate_n_train": int(keep.sum()),
        "train_seconds": round(train_seconds, 2),
        "train_cpu_seconds": round(train_cpu_seconds, 2),
        "baseline": evaluate_onnx(out_dir / "models" / "baseline.onnx", test_split),
        "candidate": evaluate_onnx(out_dir / "models" / "candidate.onnx", test_split),
        "sha256": sha256_of_outputs(out_dir),
    }


def build_demo(out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Regenerate data/ and models/ under `out_dir` from `seed`; return the summary (ONNX Runtime metrics).

    The work runs in a child Python with REPRODUCIBLE_ENV, because those settings only take effect
    before torch is imported and this process may have imported it already.
    """
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = Path(tmp) / "summary.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--out", str(out_dir), "--seed", str(seed)]
        subprocess.run(
            [*command, "--summary-json", str(summary_path), "--quiet"],
            env={**os.environ, **REPRODUCIBLE_ENV},
            check=True,
        )
        summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """A few human lines: accuracy and per-class recall of both models."""
    lines = [
        f"trained both models in {summary['train_seconds']:.1f} s wall,"
        f" {summary['train_cpu_seconds']:.1f} s CPU (seed {summary['seed']})"
    ]
    lines.append("class      " + " ".join(f"{k:>5d}" for k in range(N_CLASSES)) + "   accuracy")
    for name in ("baseline", "candidate"):
        m = summary[name]
        recall = " ".join(f"{r:5.3f}" for r in m["recall"])
        lines.append(f"{name:<10s} {recall}   {m['accuracy']:.4f}  ({m['onnx_bytes']} bytes)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate into --out (default: this folder)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for data/ and models/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summary-json", type=Path, help="also write the summary here (used by build_demo)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if "torch" not in sys.modules:
        os.environ.update(REPRODUCIBLE_ENV)  # read by torch and MKL when they load, which is after this line
    summary = _build_here(args.out, args.seed)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if not args.quiet:
        print(format_summary(summary))
    return 0


if __name__ == "__main__":
    # Run as a file, the repository root is not on sys.path; `examples.digits.model` needs it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())

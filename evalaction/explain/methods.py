"""Captum attribution methods behind one small interface, on raw features shaped (N, *sample_shape).

Gradient methods need a differentiable torch forward function; perturbation methods need only a function
from a batch of inputs to class probabilities, so they run on ONNX models through `forward.OnnxForward`.
Feature ablation and occlusion on an ONNX model run on numpy alone (`feature_ablation_numpy`, `occlusion_numpy`:
the same numbers as Captum's), so a plan with ONNX models never imports torch or Captum for its attributions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    Forward = Callable[[torch.Tensor], torch.Tensor]

GRADIENT = ("integrated_gradients", "saliency")
PERTURBATION = ("occlusion", "feature_ablation", "shapley_value_sampling")
IG_STEPS = 64
SHAPLEY_PERMUTATIONS = 25


@dataclass
class AttributionValues:
    method: str
    values: np.ndarray  # (N, *sample_shape), one map per input
    delta: np.ndarray | None = None  # (N,) Integrated Gradients' convergence delta


def integrated_gradients(
    forward: Forward, x: torch.Tensor, targets: Sequence[int], baseline: torch.Tensor, n_steps: int = IG_STEPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients along the straight path from `baseline` to `x`, with its convergence delta.

    attr_i = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x'))/dx_i da, approximated by Gauss-Legendre
    quadrature; completeness says sum_i attr_i = F(x) - F(x'), and Captum's delta is the difference
    sum_i attr_i - (F(x) - F(x')) (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks").
    """
    from captum.attr import IntegratedGradients

    attr, delta = IntegratedGradients(forward).attribute(
        x,
        baselines=baseline,
        target=list(targets),
        n_steps=n_steps,
        internal_batch_size=max(len(x), 1) * n_steps,
        return_convergence_delta=True,
    )
    return attr, delta


def saliency(forward: Forward, x: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
    """|dF_target/dx| at the input (Simonyan et al. 2014, "Deep Inside Convolutional Networks")."""
    from captum.attr import Saliency

    grads: torch.Tensor = Saliency(forward).attribute(x, target=list(targets), abs=True)
    return grads


def occlusion_window(sample_shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A sliding window about 1/8 of the image side (at least 2 pixels), half-overlapping, over every channel."""
    if len(sample_shape) < 2:
        return (1,), (1,)
    h, w = sample_shape[-2], sample_shape[-1]
    side = max(2, min(h, w) // 8)
    stride = max(1, side // 2)
    lead = tuple(sample_shape[:-2])
    return (*lead, side, side), (*lead, stride, stride)


def _per_eval(n_inputs: int, n_perturbations: int, budget: int = 512) -> int:
    """How many perturbations go in one forward call: as many as fit in `budget` rows."""
    return max(1, min(n_perturbations, budget // max(n_inputs, 1)))


def occlusion(
    forward: Forward,
    x: torch.Tensor,
    targets: Sequence[int],
    baseline: torch.Tensor,
    window: Sequence[int],
    strides: Sequence[int],
) -> torch.Tensor:
    """Drop in the target probability when a window is replaced by the baseline, averaged over the windows
    covering each input (Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks")."""
    import math

    from captum.attr import Occlusion

    shape = x.shape[1:]
    n_windows = math.prod((s - w) // st + 1 for s, w, st in zip(shape, window, strides, strict=True))
    attr: torch.Tensor = Occlusion(forward).attribute(
        x,
        sliding_window_shapes=tuple(window),
        strides=tuple(strides),
        baselines=baseline,
        target=list(targets),
        perturbations_per_eval=_per_eval(len(x), n_windows),
    )
    return attr


def feature_ablation(
    forward: Forward, x: torch.Tensor, targets: Sequence[int], baseline: torch.Tensor
) -> torch.Tensor:
    """F(x) - F(x with feature i set to its baseline value), for each feature on its own."""
    from captum.attr import FeatureAblation

    n_features = int(x[0].numel())
    attr: torch.Tensor = FeatureAblation(forward).attribute(
        x, baselines=baseline, target=list(targets), perturbations_per_eval=_per_eval(len(x), n_features)
    )
    return attr


def shapley_value_sampling(
    forward: Forward,
    x: torch.Tensor,
    targets: Sequence[int],
    baseline: torch.Tensor,
    n_samples: int = SHAPLEY_PERMUTATIONS,
    seed: int = 0,
) -> torch.Tensor:
    """Shapley values estimated from `n_samples` random feature orderings, each feature added to the baseline
    in turn (Castro et al. 2009, "Polynomial calculation of the Shapley value based on sampling").

    Captum draws the orderings from torch's global generator; it is forked and seeded here, so the result is
    reproducible and the caller's random state is left as it was.
    """
    import torch
    from captum.attr import ShapleyValueSampling

    n_features = int(x[0].numel())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        attr: torch.Tensor = ShapleyValueSampling(forward).attribute(
            x,
            baselines=baseline,
            target=list(targets),
            n_samples=n_samples,
            perturbations_per_eval=_per_eval(len(x), n_features),
        )
    return attr


def _numpy_rows(forward: Forward) -> Callable[[np.ndarray], np.ndarray] | None:
    """An ONNX forward function as numpy rows in, float64 probabilities out (what `OnnxForward.__call__` does
    around its torch tensors, in the same chunks), so perturbation methods on ONNX models need no torch; None
    for any other forward function."""
    import numpy as np

    from evalaction.explain.forward import OnnxForward

    if not isinstance(forward, OnnxForward):
        return None
    onnx = forward

    def run(rows: np.ndarray) -> np.ndarray:
        chunks = []
        for start in range(0, len(rows), onnx.batch_size):
            feed = onnx.prepare(rows[start : start + onnx.batch_size])
            (out,) = onnx.session.run([onnx.output_name], {onnx.input_name: feed})
            chunks.append(onnx.to_probabilities(np.asarray(out)))
        return np.concatenate(chunks, axis=0).astype(np.float64)

    return run


def feature_ablation_numpy(
    run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, targets: Sequence[int], baseline: np.ndarray
) -> np.ndarray:
    """`feature_ablation` on numpy: F(x) - F(x with feature i set to its baseline value).

    The same numbers as Captum's FeatureAblation through `OnnxForward`: the perturbed rows are built and batched
    as Captum does (`_per_eval` features at a time, feature-major, every input per feature) and each value is
    one float64 difference, so the model sees the same batches and the result is the same to the bit, without
    importing torch and Captum (~5 s of CPU, against milliseconds of work on a tabular model).
    """
    import numpy as np

    n = len(x)
    rows = np.ascontiguousarray(x, dtype=np.float64).reshape(n, -1)
    base = np.ascontiguousarray(np.broadcast_to(baseline, x.shape), dtype=np.float64).reshape(n, -1)
    n_features = rows.shape[1]
    t = np.asarray(list(targets), dtype=np.int64)
    initial = run(rows)[np.arange(n), t]
    values = np.zeros((n, n_features))
    per_eval = _per_eval(n, n_features)
    for start in range(0, n_features, per_eval):
        features = range(start, min(start + per_eval, n_features))
        batch = np.tile(rows, (len(features), 1))
        for j, f in enumerate(features):
            batch[j * n : (j + 1) * n, f] = base[:, f]
        out = run(batch)[np.arange(len(batch)), np.tile(t, len(features))]
        for j, f in enumerate(features):
            values[:, f] = initial - out[j * n : (j + 1) * n]
    return values.reshape(x.shape)


def occlusion_numpy(
    run: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    targets: Sequence[int],
    baseline: np.ndarray,
    window: Sequence[int],
    strides: Sequence[int],
) -> np.ndarray:
    """`occlusion` on numpy, Captum's Occlusion step for step, so an ONNX image model needs no torch.

    As Captum does: ceil((side - window) / stride) + 1 window positions per dimension, cut at the far edge,
    numbered with the first dimension varying fastest; `_per_eval(N, n)` positions per model call (n the
    floor-count `occlusion` hands Captum), position-major; each call's differences F(x) - F(x with the window
    at the baseline) summed over its positions in order, then added to the running total in float64; the
    total divided by how many windows cover each element, in float32.
    """
    import itertools
    import math

    import numpy as np

    n = len(x)
    shape = tuple(x.shape[1:])
    rows = np.ascontiguousarray(x, dtype=np.float64)
    base = np.ascontiguousarray(np.broadcast_to(baseline, x.shape), dtype=np.float64)
    t = np.asarray(list(targets), dtype=np.int64)
    initial = run(rows.reshape(n, -1))[np.arange(n), t]
    counts = [math.ceil((s - w) / st) + 1 for s, w, st in zip(shape, window, strides, strict=True)]
    # position number p -> per-dimension offsets, the first dimension the fastest (Captum's _occlusion_mask)
    offsets = [
        tuple(st * i for st, i in zip(strides, reversed(idx), strict=True))
        for idx in itertools.product(*(range(c) for c in reversed(counts)))
    ]
    regions = [
        tuple(slice(o, min(o + w, s)) for o, w, s in zip(off, window, shape, strict=True)) for off in offsets
    ]
    total = np.zeros((n, *shape))
    weights = np.zeros(shape, dtype=np.float32)
    per_eval = _per_eval(n, math.prod((s - w) // st + 1 for s, w, st in zip(shape, window, strides, strict=True)))
    for start in range(0, len(regions), per_eval):
        chosen = regions[start : start + per_eval]
        batch = np.tile(rows, (len(chosen),) + (1,) * len(shape))
        for j, region in enumerate(chosen):
            batch[(slice(j * n, (j + 1) * n), *region)] = base[(slice(None), *region)]
        out = run(batch.reshape(len(batch), -1))[np.arange(len(batch)), np.tile(t, len(chosen))]
        step = np.zeros((n, *shape))
        for j, region in enumerate(chosen):
            diff = (initial - out[j * n : (j + 1) * n]).reshape((n,) + (1,) * len(shape))
            step[(slice(None), *region)] += diff
            weights[region] += 1
        total += step
    values: np.ndarray = (total.astype(np.float32) / weights).astype(np.float64)
    return values


def attribute(
    forward: Forward,
    x: np.ndarray,
    targets: Sequence[int],
    method: str,
    *,
    baseline: np.ndarray,
    seed: int = 0,
) -> AttributionValues:
    """Run one method on a batch of raw inputs shaped (N, *sample_shape); `baseline` is one sample's shape."""
    import numpy as np

    run = _numpy_rows(forward) if method in ("feature_ablation", "occlusion") else None
    if run is not None:
        if method == "occlusion":
            window, strides = occlusion_window(x.shape[1:])
            values_np = occlusion_numpy(run, x, targets, baseline, window, strides)
        else:
            values_np = feature_ablation_numpy(run, x, targets, baseline)
        return AttributionValues(method=method, values=values_np)

    import torch

    # gradients and perturbation differences of probabilities are small: float64 keeps them exact
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    # a writable copy: broadcast_to gives a read-only view, which torch warns about sharing
    bt = torch.from_numpy(np.array(np.broadcast_to(baseline, x.shape), dtype=np.float64))
    delta = None
    if method == "integrated_gradients":
        values, d = integrated_gradients(forward, xt, targets, bt)
        delta = d.detach().numpy().astype(np.float64)
    elif method == "saliency":
        values = saliency(forward, xt.requires_grad_(), targets)
    elif method == "occlusion":
        window, strides = occlusion_window(x.shape[1:])
        values = occlusion(forward, xt, targets, bt, window, strides)
    elif method == "feature_ablation":
        values = feature_ablation(forward, xt, targets, bt)
    elif method == "shapley_value_sampling":
        values = shapley_value_sampling(forward, xt, targets, bt, seed=seed)
    else:  # pragma: no cover - the plan's Literal admits only the names above
        raise ValueError(f"unknown attribution method {method!r}")
    return AttributionValues(method=method, values=values.detach().numpy().astype(np.float64), delta=delta)


def mid_grey(features: np.ndarray) -> float:
    """The image reference for occlusion and integrated gradients: halfway through the pixel range of the test
    set (127.5 for 0-255 images), so an occluded patch reads as "no information" rather than as black, which
    on bright subjects makes every region look like evidence (Sturmfels, Lundberg & Lee 2020, Distill,
    "Visualizing the Impact of Feature Attribution Baselines")."""
    import numpy as np

    finite = np.asarray(features, dtype=np.float64)
    lo, hi = float(np.nanmin(finite)), float(np.nanmax(finite))
    return (lo + hi) / 2.0

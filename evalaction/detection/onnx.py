"""Run an ONNX detector over the test set's images: load, resize, normalise, run, decode (decode.py).

Images run one per call: most exported detectors have a fixed batch of 1, and the decode is per image anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalaction.detection.decode import Resize, decode
from evalaction.exceptions import CannotLoadModel, InvalidDataset
from evalaction.runners.onnx_session import open_onnx_session

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime as ort

    from evalaction.detection.coco import GroundTruth
    from evalaction.plan import ModelSpec


@dataclass
class DetectorRun:
    detections: list[dict[str, Any]]
    latency_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    provider: str = "CPUExecutionProvider"
    threads: int = 0


def image_path(gt: GroundTruth, image: dict[str, Any]) -> Path:
    """The image's file, refusing names that leave images_dir (a COCO file is data, not a path to trust)."""
    folder = gt.images_dir.resolve()
    path = (folder / str(image["file_name"])).resolve()
    if folder != path and folder not in path.parents:
        raise InvalidDataset(
            f"{gt.path.name}: image {image['id']!r} file_name {image['file_name']!r} leaves images_dir; "
            "use a path inside it"
        )
    return path


def input_size(session: ort.InferenceSession, spec: ModelSpec, role: str) -> tuple[int, int]:
    """(height, width) of the network input: `preprocessing.image_size`, else the model's fixed dims."""
    if spec.preprocessing.image_size:
        h, w = spec.preprocessing.image_size
        return int(h), int(w)
    shape = session.get_inputs()[0].shape
    assert spec.detector is not None
    dims = shape[1:3] if spec.detector.channels == "last" else shape[2:4]
    if len(dims) == 2 and all(isinstance(d, int) and d > 0 for d in dims):
        return int(dims[0]), int(dims[1])
    raise CannotLoadModel(
        f"{role} model: input shape {shape} has no fixed height and width; set `preprocessing.image_size: [h, w]`"
    )


def prepare(path: Path, spec: ModelSpec, in_h: int, in_w: int) -> tuple[np.ndarray, Resize]:
    """One image -> the network's input batch of 1, and how it was resized."""
    import numpy as np
    from PIL import Image

    assert spec.detector is not None
    pre = spec.preprocessing
    try:
        with Image.open(path) as im:
            img = im.convert("L" if pre.grayscale else "RGB")
    except OSError as exc:
        raise InvalidDataset(f"{path.name}: cannot read the image ({exc}); fix or remove it") from None
    width, height = img.size
    if spec.detector.resize == "letterbox":
        r = Resize.letterbox(height, width, in_h, in_w)
        new = img.resize((round(width * r.scale_x), round(height * r.scale_y)), Image.Resampling.BILINEAR)
        canvas = Image.new(img.mode, (in_w, in_h), 114 if img.mode == "L" else (114, 114, 114))
        canvas.paste(new, (int(r.pad_x), int(r.pad_y)))
        img = canvas
    else:
        r = Resize.stretch(height, width, in_h, in_w)
        img = img.resize((in_w, in_h), Image.Resampling.BILINEAR)
    x = np.asarray(img, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    x = x * pre.scale + pre.shift
    if pre.mean is not None and pre.std is not None:
        x = (x - np.asarray(pre.mean)) / np.asarray(pre.std)
    if spec.detector.channels == "first":
        x = x.transpose(2, 0, 1)
    return x[None].astype(pre.dtype), r


def run_detector(*, spec: ModelSpec, path: Path, gt: GroundTruth, role: str, threads: int = 0) -> DetectorRun:
    """Detections of the model on every image of the ground truth, with per-image latency."""
    assert spec.detector is not None
    session = open_onnx_session(path, role=role, threads=threads)
    in_h, in_w = input_size(session, spec, role)
    input_name = spec.input_name or session.get_inputs()[0].name
    names = spec.detector.outputs or [o.name for o in session.get_outputs()]
    known = {o.name for o in session.get_outputs()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CannotLoadModel(
            f"{role} model {path.name}: `detector.outputs` names {unknown[0]!r}, not an output of the model "
            f"({', '.join(sorted(known))}); fix the name"
        )
    class_ids = spec.detector.class_ids or gt.class_ids
    label = f"{role} model {path.name}"
    run = DetectorRun(detections=[], threads=threads)
    t_all = time.perf_counter()
    for image in gt.images:
        file = image_path(gt, image)
        if not file.is_file():
            raise InvalidDataset(
                f"{gt.path.name}: image {image['file_name']!r} is not in {gt.images_dir}; "
                "fix `dataset.images_dir` (ONNX detectors need the images)"
            )
        x, resize = prepare(file, spec, in_h, in_w)
        t0 = time.perf_counter()
        outputs = session.run(names, {input_name: x})
        run.latency_ms.append((time.perf_counter() - t0) * 1000.0)
        run.detections += decode(outputs, spec.detector, resize, class_ids, image_id=image["id"], label=label)
    run.wall_s = time.perf_counter() - t_all
    return run

"""The demo's attributions must stay within a few seconds, and the ONNX wrapper must add little to ONNX Runtime.

Target: the demo's attribution time at most 1.5x the cost of importing torch and Captum in a fresh process
(the floor any Captum attribution pays, measured in the same run), so the attributions themselves, figures
included, cost less than half that floor; a ratio holds on a busy machine where wall times stretch. The absolute
time is printed against 5 s too.

1. The errors stage on the embedded demo, each run in a fresh process (so torch and Captum are imported as in a
   real run): the attribution time it reports, against `import torch, captum.attr` in a fresh process (the floor
   any Captum attribution pays), median of 3 each, interleaved.
2. Occlusion through `OnnxForward` (plan preprocessing, probabilities, numpy <-> torch, chunking) on the demo
   candidate, against the same Occlusion with a bare forward that only calls `session.run` on ready inputs (the
   reference), median of 7, interleaved: the ratio is what the wrapper adds. Plain `session.run` over the same
   rows is printed too, to show that Captum's own mask building dominates at this model size.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's evalaction, installed or not
PLAN = ROOT / "examples" / "digits" / "evalaction.yml"
TARGET_S = 5.0
TARGET_RATIO = 1.5
RUNS = 3

STAGE = """
import json, sys, time
from pathlib import Path
from evalaction.artifacts import InferenceResult, PlanResult
from evalaction.plan import load_plan
from evalaction.datasets import load_dataset
from evalaction.stages.errors import run_errors
out = Path(sys.argv[1])
loaded = load_plan(Path(sys.argv[2]))
p = loaded.plan
ds = load_dataset(p.dataset, loaded.base_dir, p.task)
tr = load_dataset(p.dataset.model_copy(update={"path": p.dataset.train_path}), loaded.base_dir, p.task)
import sklearn.neighbors, scipy.stats  # imported by earlier stages in a real run
t, c = time.perf_counter(), time.process_time()
r = run_errors(plan=PlanResult.read(out / "plan.json"), inference=InferenceResult.read(out / "inference.json"),
               dataset=ds, train=tr, candidate_path=loaded.resolve(p.models.candidate.path),
               baseline_path=loaded.resolve(p.models.baseline.path), out_dir=out)
print(json.dumps({"stage": time.perf_counter() - t, "stage_cpu": time.process_time() - c,
                  "attributions": r.attributions.seconds,
                  "n": len(r.attributions.samples)}))
"""


def _fresh(code: str, *args: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and stdout of `code` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def _wrapper_overhead() -> tuple[float, float, float, int]:
    import numpy as np
    import torch

    from evalaction.datasets import load_dataset
    from evalaction.explain.forward import open_explainable
    from evalaction.explain.methods import occlusion, occlusion_window
    from evalaction.plan import load_plan
    from evalaction.runners.base import preprocess

    loaded = load_plan(PLAN)
    p = loaded.plan
    spec = p.models.candidate
    ds = load_dataset(p.dataset, loaded.base_dir, p.task)
    model = open_explainable(
        loaded.resolve(spec.path), spec, role="candidate", task=p.task, n_classes=len(ds.classes), batch_size=64
    )
    session = model.forward.session  # type: ignore[attr-defined]
    name = model.forward.input_name  # type: ignore[attr-defined]

    def bare(t: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: t.numpy().astype(np.float32)})[0])

    raw = ds.features[:6].reshape(6, 1, 8, 8)
    x = torch.from_numpy(raw)
    x_ready = torch.from_numpy(raw * spec.preprocessing.scale)
    window, strides = occlusion_window((1, 8, 8))
    rows = 6 * (49 + 1)  # 7x7 window positions plus the unperturbed pass, per sample
    feed = ds.features[np.arange(rows) % len(ds)]
    ours, ref, plain = [], [], []
    for _ in range(7):
        t0 = time.perf_counter()
        occlusion(model.forward, x, [0] * 6, torch.zeros_like(x), window, strides)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        occlusion(bare, x_ready, [0] * 6, torch.zeros_like(x), window, strides)
        ref.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for start in range(0, rows, 64):
            session.run(None, {name: preprocess(feed[start : start + 64], spec.preprocessing)})
        plain.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(ref), statistics.median(plain), rows


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        from evalaction.pipeline import run_pipeline
        from evalaction.plan import load_plan

        run_pipeline(loaded=load_plan(PLAN), out_dir=out)  # predictions for the errors stage to read
        imports, import_cpu, stages = [], [], []
        for _ in range(RUNS):
            wall, cpu, _ = _fresh("import torch, captum.attr")
            imports.append(wall)
            import_cpu.append(cpu)
            stages.append(json.loads(_fresh(STAGE, str(out), str(PLAN))[2].strip().splitlines()[-1]))
    floor = statistics.median(imports)
    attr = statistics.median(s["attributions"] for s in stages)
    stage = statistics.median(s["stage"] for s in stages)
    print(f"import torch, captum.attr (fresh process)  {floor:6.2f} s (reference)")
    print(f"demo attributions, {stages[0]['n']} samples x 2 models    {attr:6.2f} s  ratio {attr / floor:.2f}x")
    print(f"demo errors stage, all categories + visuals  {stage:6.2f} s")
    stage_cpu = statistics.median(s["stage_cpu"] for s in stages)
    print(f"  CPU time: import {statistics.median(import_cpu):.2f} s, errors stage {stage_cpu:.2f} s")
    print(
        f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall times stretch on a busy machine"
    )
    ours, ref, plain = _wrapper_overhead()[:3]
    print(f"Occlusion, bare session.run forward         {ref * 1000:7.1f} ms (reference)")
    print(f"Occlusion through OnnxForward               {ours * 1000:7.1f} ms  ratio {ours / ref:.2f}x")
    print(f"  (session.run alone over the same rows     {plain * 1000:7.1f} ms)")
    ok = attr / floor <= TARGET_RATIO
    print(
        f"{'PASS' if ok else 'FAIL'}: demo attributions {attr / floor:.2f}x the import floor vs target {TARGET_RATIO}x"
    )
    print(
        f"{'under' if attr < TARGET_S else 'OVER'} {TARGET_S} s in absolute terms ({attr:.2f} s) on this machine"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

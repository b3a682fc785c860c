"""W&B logging on the embedded demo in offline mode: real run files, read back record by record; and online
against a closed and a silent port on 127.0.0.1 (bounded by `wandb.timeout_s`)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from evalaction.artifacts import RunResult
from evalaction.pipeline import run_pipeline
from evalaction.plan import load_plan
from tests.conftest import ROOT
from tests.conftest import DemoRun as SessionDemoRun


def wandb_records(path: Path) -> Iterator[bytes]:
    """The protobuf records of a `.wandb` file (W&B's LevelDB-style log: a 7-byte `:W&B` header, then 32 KiB
    blocks of chunks with a 7-byte header: crc32, length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4)."""
    buf = path.read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", buf[:7])
    assert (ident, magic) == (b":W&B", 0xBEE1)
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(buf):
        if block - pos % block < 7:  # the tail of a block too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", buf[pos : pos + 7])
        data = buf[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            break
        if kind == 1:
            yield data
        elif kind == 2:
            pending = data
        elif kind == 3:
            pending += data
        elif kind == 4:
            yield pending + data
            pending = b""


def _isolate_wandb(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    for var, sub in (("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_DATA_DIR", "data")):
        (tmp / sub).mkdir(exist_ok=True)
        mp.setenv(var, str(tmp / sub))
    mp.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_DIR", "WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE"):
        mp.delenv(var, raising=False)


@dataclass
class DemoRun:
    demo: Path
    out: Path
    result: RunResult


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory, demo_run: SessionDemoRun) -> Iterator[DemoRun]:
    """The session's run of the embedded demo (tests/conftest.py), logged once to W&B in offline mode as the
    pipeline logs it (`log_run` with the plan's `wandb:` section), into a copy of its output folder; shared by
    this module's tests. The pipeline's own call of `log_run` is run by the detection test below."""
    from evalaction.integrations.wandb_log import log_run
    from evalaction.plan import WandbSpec

    assert demo_run.exit_code in (0, 1), demo_run.output
    tmp = tmp_path_factory.mktemp("wandb")
    out = tmp / "out"
    shutil.copytree(demo_run.out, out)
    with pytest.MonkeyPatch.context() as mp:
        _isolate_wandb(tmp, mp)
        mp.setenv("WANDB_MODE", "offline")
        mp.chdir(tmp)  # not the repository: the run is named by the model's path in the plan's folder
        import wandb

        wandb.teardown()  # a fresh wandb setup for this environment
        run = RunResult.read(out / "results.json")
        spec = WandbSpec(project="evalaction-demo", tags=["demo", "ci"])
        wb = log_run(run, out_dir=out, spec=spec, pr_number=42, commit="0123456789abcdef")
        # W&B's service process may still be writing the run file when the run has finished; ending the service,
        # as the end of `evalaction run` does, waits for it
        wandb.teardown()
        yield DemoRun(ROOT / "examples/digits", out, run.model_copy(update={"wandb": wb}))


def _decode(run_file: Path) -> dict[str, Any]:
    """The run's records, gathered: run (group, name, tags), config, summary, history items, artifacts."""
    from wandb.proto import wandb_internal_pb2

    found: dict[str, Any] = {"config": {}, "summary": {}, "history": {}, "artifacts": []}
    for data in wandb_records(run_file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found["run"] = record.run
            found["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            found["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            found["summary"].update(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.summary.update}
            )
        elif kind == "history":
            found["history"].update(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            )
        elif kind == "artifact":
            found["artifacts"].append(record.artifact)
    return found


@pytest.mark.slow
def test_demo_logs_an_idiomatic_offline_run(offline_run: DemoRun) -> None:
    result, out = offline_run.result, offline_run.out
    wb = result.wandb
    assert wb is not None and wb.error is None, wb
    assert wb.mode == "offline" and wb.url is None
    run_dir = Path(str(wb.run_dir))
    assert run_dir.parent == out.resolve() / "wandb" and run_dir.name.startswith("offline-run-")
    (run_file,) = run_dir.glob("run-*.wandb")
    found = _decode(run_file)

    run = found["run"]
    assert run.run_group == "PR #42" and run.job_type == "evaluation"
    assert run.display_name == "models/candidate.onnx @ 0123456" and list(run.tags) == ["demo", "ci"]
    config = found["config"]
    assert config["pr_number"] == 42 and config["commit"] == "0123456789abcdef"
    assert config["plan"]["models"]["candidate"]["path"] == "models/candidate.onnx"

    # every scalar in the summary, with the values the stages computed; none of them as a one-point history
    summary, history = found["summary"], found["history"]
    assert summary["candidate/accuracy"] == result.metrics.candidate.overall["accuracy"]
    assert result.metrics.baseline is not None
    assert summary["baseline/recall/8"] == result.metrics.baseline.per_class["recall"]["8"]
    assert summary["decision"] == result.verdict.decision
    assert result.readiness.candidate is not None
    assert summary["readiness/candidate/latency_p50_ms"] == result.readiness.candidate.latency_p50_ms
    assert summary["readiness/candidate/size_mb"] == result.readiness.candidate.size_mb
    assert result.compare is not None and result.compare.flips is not None
    assert summary["negative_flips"] == result.compare.flips.n_negative
    assert not any(k.startswith(("candidate/", "baseline/", "readiness/")) for k in history)
    for table in ("gates", "comparison", "per_class", "flips"):
        assert history[f"{table}/_type"] == "table-file", table

    # the model files as artifacts: sha256 and dataset fingerprint in the metadata, the file's md5 in the manifest
    models = {a.name: a for a in found["artifacts"] if a.type == "model"}
    assert set(models) == {"candidate.onnx", "baseline.onnx"}
    for role in ("candidate", "baseline"):
        artifact, file = models[f"{role}.onnx"], offline_run.demo / "models" / f"{role}.onnx"
        meta = json.loads(artifact.metadata)
        assert meta["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest() and meta["role"] == role
        assert meta["dataset_fingerprint"] == result.plan.dataset.fingerprint
        (entry,) = artifact.manifest.contents
        assert entry.path == file.name and entry.size == file.stat().st_size
        assert entry.digest == base64.b64encode(hashlib.md5(file.read_bytes()).digest()).decode()
        assert role in artifact.aliases

    # plots and attribution figures as images: the stored pictures have the stages' pixels
    assert result.metrics.plots and result.errors.attributions and result.errors.attributions.samples
    for name, rel in result.metrics.plots.items():
        assert history[f"plots/{name}/_type"] == "image-file"
        stored = run_dir / "files" / history[f"plots/{name}/path"]
        assert np.array_equal(
            np.asarray(Image.open(stored).convert("RGB")), np.asarray(Image.open(out / rel).convert("RGB"))
        )
    sample = result.errors.attributions.samples[0]
    assert history[f"attributions/{sample.id}/_type"] == "image-file"
    assert sample.id in history[f"attributions/{sample.id}/caption"]

    # The per-sample flips table, as W&B wrote it: one row per sample whose correctness changed.
    flips = result.compare.flips
    (table_file,) = (run_dir / "files" / "media" / "table").glob("flips_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"][:4] == ["id", "label", "baseline_pred", "candidate_pred"]
    kinds = [row[-1] for row in table["data"]]
    assert kinds.count("negative") == flips.n_negative and kinds.count("positive") == flips.n_positive
    assert {row[0] for row in table["data"] if row[-1] == "negative"} == set(flips.negative_ids)


def _hanging_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.parametrize("server", ["closed", "hanging"])
def test_unreachable_wandb_is_bounded_and_shown(
    offline_run: DemoRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    server: str,
) -> None:
    from evalaction.integrations.wandb_log import log_run
    from evalaction.plan import WandbSpec
    from evalaction.report.render import render_html, render_markdown

    _isolate_wandb(tmp_path, monkeypatch)
    ports = _hanging_port()
    if server == "hanging":
        port = next(ports)
    else:
        with socket.socket() as s:  # bound, then closed: nothing listens
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef0123456789abcdef01234567")  # a well-formed fake key
    spec = WandbSpec(project="p", mode="online", timeout_s=2)
    import wandb

    wandb.teardown()  # the process-wide wandb setup read the environment of the run before; start it afresh
    t0 = time.monotonic()
    wb = log_run(offline_run.result, out_dir=offline_run.out, spec=spec, pr_number=42, run_dir=tmp_path / "wb")
    elapsed = time.monotonic() - t0
    ports.close()
    assert elapsed < 12, elapsed  # wandb's own default would wait 90 s
    assert wb.error is not None and wb.error.startswith("W&B logging failed:") and "\n" not in wb.error
    assert "0123456789abcdef0123456789abcdef01234567" not in wb.error
    assert "gave up after `wandb.timeout_s` = 2 s" in wb.error and "127.0.0.1" in wb.error
    assert any(r.levelname == "WARNING" and "W&B logging failed" in r.getMessage() for r in caplog.records)

    # the report (and so the job summary, which is report.md) says so
    failed = offline_run.result.model_copy(update={"wandb": wb})
    md = render_markdown(failed, run_url=None, out_dir=offline_run.out)
    html = render_html(failed, run_url=None, out_dir=offline_run.out)
    assert f"> ⚠️ {wb.error} (the verdict is unaffected)" in md
    assert "W&amp;B logging failed" in html or "W&B logging failed" in html


def test_no_wandb_section_imports_no_wandb() -> None:
    code = (
        "import sys, evalaction.pipeline, evalaction.stages.compare, evalaction.integrations.wandb_log;"
        "print('wandb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_wandb_is_a_plan_error_before_any_stage(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from evalaction.exceptions import InvalidPlan

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    plan_file = demo_dir / "evalaction.yml"
    plan_file.write_text(plan_file.read_text() + "\nwandb: {project: p}\n")
    with pytest.raises(InvalidPlan, match="evalaction\\[wandb\\]"):
        run_pipeline(loaded=load_plan(plan_file), out_dir=demo_dir / "out")
    assert not (demo_dir / "out" / "plan.json").exists()


@pytest.mark.slow
def test_detection_logs_coco_numbers_and_worst_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _isolate_wandb(tmp_path, monkeypatch)
    monkeypatch.setenv("WANDB_MODE", "offline")
    import wandb

    wandb.teardown()  # a fresh wandb setup for this environment
    shapes = tmp_path / "shapes"
    shutil.copytree(ROOT / "examples/shapes", shapes, ignore=shutil.ignore_patterns("__pycache__", "out*"))
    plan_file = shapes / "evalaction.yml"
    plan = plan_file.read_text()
    assert "n_bootstrap: 1000" in plan
    plan_file.write_text(plan.replace("n_bootstrap: 1000", "n_bootstrap: 200") + "\nwandb: {project: boxes}\n")
    result = run_pipeline(loaded=load_plan(plan_file), out_dir=tmp_path / "out", commit="fedcba9876543210")
    wb = result.wandb
    assert wb is not None and wb.error is None, wb
    (run_file,) = Path(str(wb.run_dir)).glob("run-*.wandb")
    found = _decode(run_file)
    assert (
        found["run"].run_group == "commit fedcba9"
        and found["run"].display_name == "models/candidate.json @ fedcba9"
    )
    det = result.detection
    assert det is not None
    summary = found["summary"]
    for key, value in det.metrics.candidate.stats.items():
        if value is not None:
            assert summary[f"detection/candidate/coco/{key}"] == value, key
    assert summary["detection/candidate/tide/miss"] == det.errors.candidate.tide.counts["miss"]
    assert summary["detection/candidate/operating/fp"] == det.errors.candidate.operating.fp
    drawn = [w for w in det.errors.worst_images if w.drawing]
    assert drawn and all(found["history"][f"worst_images/{w.image_id}/_type"] == "image-file" for w in drawn)
    assert {a.name for a in found["artifacts"] if a.type == "model"} == {"candidate.json", "baseline.json"}

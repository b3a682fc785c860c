"""W&B logging on the embedded demo in offline mode: real run files, read back record by record."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalaction.config import load_plan
from evalaction.pipeline import run_pipeline
from tests.conftest import ROOT


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


@pytest.mark.slow
def test_demo_logs_an_offline_run(demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wandb.proto import wandb_internal_pb2

    for var, sub in (
        ("WANDB_DIR", "wb"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_DATA_DIR", "data"),
    ):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    plan_file = demo_dir / "evalaction.yml"
    plan_file.write_text(plan_file.read_text() + "\nwandb:\n  project: evalaction-demo\n  tags: [demo, ci]\n")
    out = tmp_path / "out"
    result = run_pipeline(loaded=load_plan(plan_file), out_dir=out, pr_number=42, commit="0123456789abcdef")

    wb = result.wandb
    assert wb is not None and wb.error is None, wb
    assert wb.mode == "offline" and wb.url is None
    run_dir = Path(str(wb.run_dir))
    assert run_dir.parent == tmp_path / "wb" / "wandb" and run_dir.name.startswith("offline-run-")
    files = list(run_dir.glob("run-*.wandb"))
    assert len(files) == 1 and files[0].stat().st_size > 0

    config: dict[str, object] = {}
    history_keys: set[str] = set()
    tags: list[str] = []
    for data in wandb_records(files[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            tags = list(record.run.tags)
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            history_keys |= {i.key or "/".join(i.nested_key) for i in record.history.item}
    assert tags == ["demo", "ci"]
    assert config["pr_number"] == 42 and config["commit"] == "0123456789abcdef"
    assert config["plan"]["models"]["candidate"]["path"] == "models/candidate.onnx"  # type: ignore[index]
    for key in (
        "candidate/accuracy",
        "baseline/accuracy",
        "candidate/recall/8",
        "comparison",
        "flips",
        "gates",
        "per_class",
    ):
        assert any(k == key or k.startswith(key + "/") for k in history_keys), key

    # The per-sample flips table, as W&B wrote it: one row per sample whose correctness changed.
    assert result.compare is not None and result.compare.flips is not None
    flips = result.compare.flips
    (table_file,) = (run_dir / "files" / "media" / "table").glob("flips_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"][:4] == ["id", "label", "baseline_pred", "candidate_pred"]
    kinds = [row[-1] for row in table["data"]]
    assert kinds.count("negative") == flips.n_negative and kinds.count("positive") == flips.n_positive
    assert {row[0] for row in table["data"] if row[-1] == "negative"} == set(flips.negative_ids)


def test_no_wandb_section_imports_no_wandb() -> None:
    code = (
        "import sys, evalaction.pipeline, evalaction.stages.compare, evalaction.integrations.wandb_log;"
        "print('wandb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_wandb_is_a_plan_error_before_any_stage(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from evalaction.errors import InvalidPlan

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    plan_file = demo_dir / "evalaction.yml"
    plan_file.write_text(plan_file.read_text() + "\nwandb: {project: p}\n")
    with pytest.raises(InvalidPlan, match="evalaction\\[wandb\\]"):
        run_pipeline(loaded=load_plan(plan_file), out_dir=demo_dir / "out")
    assert not (demo_dir / "out" / "plan.json").exists()

"""The Modal runner up to the SDK boundary: sharding, merging, the function body through `.local()`, preflight.

What needs Modal's servers (image build, `Function.map` in the cloud) is not run here; README.md says so.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalaction.exceptions import ModalUnavailable, ModelOutputInvalid, UnsafeModelFormat
from evalaction.plan import ModalSpec, ModelSpec, Preprocessing
from evalaction.runners.factory import open_runner
from evalaction.runners.modal import (
    LocalShardExecutor,
    ModalCredentials,
    ModalRunner,
    plan_shards,
    preflight,
    verify_in_subprocess,
)
from tests.conftest import DEMO
from tests.runner_models import DIGITS_PRE, digits_dataset

pytest.importorskip("modal")

CANDIDATE = DEMO / "models" / "candidate.onnx"
SPEC = ModelSpec(path=CANDIDATE.name, outputs="logits", preprocessing=Preprocessing(**DIGITS_PRE))


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return digits_dataset()


# ------------------------------------------------------------------------------------------------- sharding


@pytest.mark.parametrize(
    ("n", "batch", "shard"), [(360, 64, 100), (360, 64, 64), (10, 3, 1), (5, 8, 100), (1, 1, 1)]
)
def test_shards_cover_every_sample_once_on_batch_boundaries(n: int, batch: int, shard: int) -> None:
    shards = plan_shards(n, batch, shard)
    covered = np.concatenate([np.arange(s.start, s.stop) for s in shards])
    np.testing.assert_array_equal(covered, np.arange(n))
    for s in shards:
        assert s.start % batch == 0 and s.first_batch == s.start // batch
        assert (s.stop - s.start) % batch == 0 or s.stop == n


def test_shard_size_rounds_up_to_whole_batches() -> None:
    assert [(s.start, s.stop, s.first_batch) for s in plan_shards(360, 64, 100)] == [
        (0, 128, 0),
        (128, 256, 2),
        (256, 360, 4),
    ]


# ------------------------------------------------------------------------------------ .local() == local runner


@pytest.mark.parametrize("shard_size", [100, 64, 1000])
def test_local_function_body_equals_the_local_runner_exactly(digits, shard_size: int) -> None:  # type: ignore[no-untyped-def]
    local = open_runner(SPEC, CANDIDATE, "candidate", threads=1, device="cpu").run(digits, batch_size=64)
    runner = ModalRunner(
        CANDIDATE,
        SPEC,
        role="candidate",
        modal=ModalSpec(shard_size=shard_size),
        executor=LocalShardExecutor(),
        threads=1,
    )
    remote = runner.run(digits, batch_size=64)
    np.testing.assert_array_equal(remote.scores, local.scores)
    np.testing.assert_array_equal(remote.batch_index, local.batch_index)
    assert remote.batch_latency_ms.shape == local.batch_latency_ms.shape == (6,)
    assert remote.batch_finished_at.shape == (6,)
    assert runner.kind == "onnx" and runner.provider == "modal:cpu:CPUExecutionProvider"
    assert runner.versions()["onnxruntime"]


def test_local_function_body_runs_a_torch_state_dict_from_the_repo(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    from tests.runner_models import build_torch_models

    built = build_torch_models(tmp_path, export=False)
    path = built["paths"]["safetensors"]
    spec = SPEC.model_copy(
        update={"path": path.name, "module": "nets.digits:DigitCNN", "module_kwargs": {"channels": 4}}
    )
    local = open_runner(spec, path, "candidate", threads=1, code_root=tmp_path).run(digits, batch_size=50)
    runner = ModalRunner(
        path,
        spec,
        role="candidate",
        modal=ModalSpec(shard_size=120),
        executor=LocalShardExecutor(),
        threads=1,
        device="cpu",
        code_root=tmp_path,
    )
    np.testing.assert_array_equal(runner.run(digits, batch_size=50).scores, local.scores)


def test_a_requested_gpu_that_is_not_used_fails_the_run_in_one_line(digits) -> None:  # type: ignore[no-untyped-def]
    """The function body checks the provider it got: here (no GPU) ONNX Runtime runs on the CPU."""
    runner = ModalRunner(
        CANDIDATE, SPEC, role="candidate", modal=ModalSpec(gpu="T4"), executor=_Counting(), threads=1
    )
    with pytest.raises(ModalUnavailable) as err:
        runner.run(digits, batch_size=64)
    msg = str(err.value)
    assert "\n" not in msg and runner.executor.calls == 1  # type: ignore[attr-defined]
    assert msg.startswith("modal: `inference.modal.gpu: T4` was requested, but the onnx runner in the container")
    assert "runs on CPUExecutionProvider" in msg and "offers" in msg and "CPUExecutionProvider" in msg


def test_uses_gpu_reads_onnx_providers_and_torch_devices() -> None:
    from evalaction.runners.modal import uses_gpu

    assert uses_gpu("CUDAExecutionProvider", "cuda:0") and uses_gpu("TensorrtExecutionProvider", "")
    assert uses_gpu("torch:cuda", "cuda:0")
    assert not uses_gpu("CPUExecutionProvider", "cpu") and not uses_gpu("torch:cpu", "cpu")


def test_shards_are_sized_by_bytes(digits) -> None:  # type: ignore[no-untyped-def]
    """`shard_mb`: as many rows per shard as fit, rounded up to whole batches; outputs unchanged."""
    local = open_runner(SPEC, CANDIDATE, "candidate", threads=1, device="cpu").run(digits, batch_size=16)
    sizes: list[int] = []

    class Recording(LocalShardExecutor):
        def map(self, app: Any, fn: Any, payloads: Any) -> Any:
            for p in payloads:
                sizes.append(len(p["rows"]))
                yield fn.local(p)

    row_bytes = next(digits.batches(1))[1].nbytes
    spec = ModalSpec(shard_mb=0.05)  # 52,428.8 bytes
    runner = ModalRunner(CANDIDATE, SPEC, role="candidate", modal=spec, executor=Recording(), threads=1)
    out = runner.run(digits, batch_size=16)
    per_shard = -(-int(0.05 * 2**20 // row_bytes) // 16) * 16  # whole batches, rounded up
    assert sizes == [per_shard] * (len(digits) // per_shard) + (
        [len(digits) % per_shard] if len(digits) % per_shard else []
    )
    assert len(sizes) > 1 and all(n * row_bytes <= 0.05 * 2**20 + 16 * row_bytes for n in sizes)
    np.testing.assert_array_equal(out.scores, local.scores)
    assert ModalSpec().shard_mb == 32 and ModalSpec().shard_size is None


def test_a_bad_model_fails_in_the_first_shard_with_its_own_message(digits) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(
        path=CANDIDATE.name, preprocessing=Preprocessing(**DIGITS_PRE)
    )  # logits read as probabilities
    runner = ModalRunner(CANDIDATE, spec, role="candidate", modal=ModalSpec(shard_size=64), executor=_Counting())

    def check(raw: np.ndarray) -> None:
        from evalaction.runners.base import to_scores

        to_scores(raw, spec, "multiclass", 10, "candidate model candidate.onnx")

    with pytest.raises(ModelOutputInvalid, match="outputs are not probabilities"):
        runner.run(digits, batch_size=64, check=check)
    assert runner.executor.calls == 1  # type: ignore[attr-defined]


class _Counting(LocalShardExecutor):
    def __init__(self) -> None:
        self.calls = 0

    def map(self, app: Any, fn: Any, payloads: Any) -> Any:
        for p in payloads:
            self.calls += 1
            yield fn.local(p)


def test_the_remote_side_keeps_the_pickle_gate(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    """Even if a payload says so, the function body refuses what the local side would refuse."""
    from evalaction.runners.modal import run_shard
    from tests.runner_models import write_evil_pickle

    target = tmp_path / "pwned.txt"
    path = write_evil_pickle(tmp_path / "m.ts", target)
    payload = {
        "model_path": str(path),
        "code_root": None,
        "spec": ModelSpec(path="m.ts", allow_pickle=True).model_dump_json(),
        "role": "candidate",
        "threads": 1,
        "device": "cpu",
        "untrusted": True,
        "batch_size": 4,
        "start": 0,
        "first_batch": 0,
        "rows": np.zeros((4, 64)),
    }
    with pytest.raises(UnsafeModelFormat, match="comes from a fork"):
        run_shard(payload)
    assert not target.exists()


def test_remote_image_pins_the_local_versions() -> None:
    from importlib.metadata import version

    from evalaction.runners.modal import _requirements

    onnx_cpu = _requirements("onnx", None)
    assert f"onnxruntime=={version('onnxruntime')}" in onnx_cpu and f"numpy=={version('numpy')}" in onnx_cpu
    assert any(r.startswith("onnxruntime-gpu==") for r in _requirements("onnx", "T4"))
    torch_req = _requirements("torch", "T4")
    assert f"torch=={version('torch').split('+')[0]}" in torch_req and all("+" not in r for r in torch_req)


# ------------------------------------------------------------------------------------------------- preflight

CREDS = ModalCredentials("ak-test-id", "as-very-secret")


def test_preflight_without_credentials_names_the_secrets() -> None:
    for creds in (None, ModalCredentials("", "")):
        with pytest.raises(ModalUnavailable) as err:
            preflight(creds)
        assert str(err.value) == (
            "modal: `inference.modal` is set but no Modal token was found (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET, "
            "or a profile in ~/.modal.toml); add them as repository secrets (create a token with `modal token "
            "new`), or remove `inference.modal`"
        )


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_preflight_fails_fast_when_unreachable() -> None:
    port = _closed_port()
    t0 = time.monotonic()
    with pytest.raises(ModalUnavailable) as err:
        preflight(CREDS, server_url=f"http://127.0.0.1:{port}", verify=_never_called)
    assert time.monotonic() - t0 < 2
    assert str(err.value) == (
        f"modal: cannot reach 127.0.0.1:{port} within 5 s (Connection refused); check the runner's network or "
        "proxy, or remove `inference.modal` to run locally"
    )


def _never_called(url: str, creds: ModalCredentials, timeout: float) -> dict[str, Any]:
    raise AssertionError("no authentication without a connection")


def test_preflight_bounds_a_server_that_never_answers() -> None:
    """Modal's real client (`from_credentials().hello()`) against a socket that accepts and stays silent: bounded."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(ModalUnavailable) as err:
            preflight(CREDS, server_url=f"http://127.0.0.1:{port}", timeout_s=2)
    finally:
        server.close()
        for conn in accepted:
            conn.close()
    elapsed = time.monotonic() - t0
    assert elapsed < 4
    assert str(err.value).startswith(
        "modal: 127.0.0.1 accepted a connection but did not answer the authentication"
    )
    assert "as-very-secret" not in str(err.value)


def test_preflight_rejected_token_never_shows_the_secret() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    url = f"http://127.0.0.1:{server.getsockname()[1]}"

    def rejects(u: str, creds: ModalCredentials, timeout: float) -> dict[str, Any]:
        assert (u, creds, timeout) == (url, CREDS, 15.0)
        return {"ok": False, "kind": "auth", "message": f"Token {creds.token_id}/{creds.token_secret} is invalid"}

    try:
        with pytest.raises(ModalUnavailable) as err:
            preflight(CREDS, server_url=url, verify=rejects)
    finally:
        server.close()
    assert str(err.value) == (
        "modal: 127.0.0.1 rejected the token from MODAL_TOKEN_ID / MODAL_TOKEN_SECRET (Token ***/*** is invalid); "
        "create a new one with `modal token new` and update the secrets or the profile"
    )


def test_verify_subprocess_reports_a_timeout() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        answer = verify_in_subprocess(f"http://127.0.0.1:{server.getsockname()[1]}", CREDS, 0.5)
    finally:
        server.close()
    assert answer == {"ok": False, "kind": "timeout", "message": "no answer within 0.5 s"}


def test_credentials_repr_hides_the_secret() -> None:
    assert "as-very-secret" not in repr(CREDS) and "as-very-secret" not in str(CREDS)


def test_an_onnx_model_on_a_gpu_gets_the_cuda_base_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which base image the function is built on (the image itself is built by Modal, not here)."""
    import sys

    import modal

    from evalaction.runners.modal import CUDA_BASE_IMAGE, build_function

    calls: list[tuple[str, object]] = []
    real_slim = modal.Image.debian_slim

    def from_registry(tag: str, **kw: object) -> object:
        calls.append(("registry", (tag, kw.get("add_python"))))
        return real_slim()

    def debian_slim(**kw: object) -> object:
        calls.append(("debian_slim", kw.get("python_version")))
        return real_slim()

    monkeypatch.setattr(modal.Image, "from_registry", from_registry)
    monkeypatch.setattr(modal.Image, "debian_slim", debian_slim)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for kind, gpu in (("onnx", "T4"), ("onnx", None), ("torch", "A10G")):
        build_function(model_path=CANDIDATE, kind=kind, modal=ModalSpec(gpu=gpu), code_root=None, module=None)
    assert calls == [
        ("registry", (CUDA_BASE_IMAGE, python)),
        ("debian_slim", python),
        ("debian_slim", python),  # PyPI's torch wheels bring their CUDA libraries
    ]
    assert CUDA_BASE_IMAGE.startswith("nvidia/cuda:12.") and "cudnn" in CUDA_BASE_IMAGE
